//! Organisations, roles and tiers.
//!
//! A user belongs to one organisation and has one role in it. Client roles act on the
//! tenants their organisation owns; provider roles act on a tenant only through a grant
//! ([`crate::grant`]), and a provider analyst's tier on a tenant is the grant's, not a
//! property of the person; the operator administers the instance and sees no event data.

use std::fmt;
use std::str::FromStr;

use crate::GovernError;

/// What an organisation is to the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrgKind {
    /// Owns tenants: the monitored organisation.
    Client,
    /// Supplies analysts to clients (an MSSP).
    Provider,
    /// Runs the instance (one per instance).
    Operator,
}

/// A provider analyst's tier.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// Triage: removes false positives, escalates.
    L1,
    /// Investigation.
    L2,
    /// Experts, called on demand.
    L3,
}

/// A user's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Client: users, grants, approvals.
    ClientAdmin,
    /// Client: steering (SLA, reports, controls, audit).
    Ciso,
    /// Client: the internal SOC's analysts.
    ClientAnalyst,
    /// Client: audit and reports, no event data.
    Auditor,
    /// Provider: requests grants, names analysts.
    ProviderAdmin,
    /// Provider: an analyst, with the tier of the grant in force.
    ProviderAnalyst(Tier),
    /// The instance operator: platform administration only.
    Operator,
}

impl Role {
    /// Every role, in the order the permission table lists them.
    pub const ALL: [Role; 9] = [
        Role::ClientAdmin,
        Role::Ciso,
        Role::ClientAnalyst,
        Role::Auditor,
        Role::ProviderAdmin,
        Role::ProviderAnalyst(Tier::L1),
        Role::ProviderAnalyst(Tier::L2),
        Role::ProviderAnalyst(Tier::L3),
        Role::Operator,
    ];

    /// The kind of organisation a user with this role belongs to.
    pub fn org_kind(self) -> OrgKind {
        match self {
            Role::ClientAdmin | Role::Ciso | Role::ClientAnalyst | Role::Auditor => OrgKind::Client,
            Role::ProviderAdmin | Role::ProviderAnalyst(_) => OrgKind::Provider,
            Role::Operator => OrgKind::Operator,
        }
    }

    /// Its stable name (API, CLI, database).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::ClientAdmin => "client-admin",
            Role::Ciso => "ciso",
            Role::ClientAnalyst => "client-analyst",
            Role::Auditor => "auditor",
            Role::ProviderAdmin => "provider-admin",
            Role::ProviderAnalyst(Tier::L1) => "provider-l1",
            Role::ProviderAnalyst(Tier::L2) => "provider-l2",
            Role::ProviderAnalyst(Tier::L3) => "provider-l3",
            Role::Operator => "operator",
        }
    }

    /// Whether signing in requires a second factor: every provider user and every admin
    /// (the accounts whose theft costs the most).
    pub fn requires_mfa(self) -> bool {
        !matches!(self, Role::Ciso | Role::ClientAnalyst | Role::Auditor)
    }
}

impl OrgKind {
    /// Every kind.
    pub const ALL: [OrgKind; 3] = [OrgKind::Client, OrgKind::Provider, OrgKind::Operator];

    /// Its stable name (API, CLI, database).
    pub fn as_str(self) -> &'static str {
        match self {
            OrgKind::Client => "client",
            OrgKind::Provider => "provider",
            OrgKind::Operator => "operator",
        }
    }
}

impl FromStr for OrgKind {
    type Err = GovernError;

    fn from_str(s: &str) -> Result<OrgKind, GovernError> {
        OrgKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| GovernError::Unknown {
                what: "organisation kind",
                name: s.to_owned(),
            })
    }
}

impl Tier {
    /// Every tier, lowest first.
    pub const ALL: [Tier; 3] = [Tier::L1, Tier::L2, Tier::L3];

    /// Its stable name: `l1`, `l2`, `l3`.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::L1 => "l1",
            Tier::L2 => "l2",
            Tier::L3 => "l3",
        }
    }
}

impl FromStr for Tier {
    type Err = GovernError;

    fn from_str(s: &str) -> Result<Tier, GovernError> {
        Tier::ALL
            .into_iter()
            .find(|t| t.as_str() == s.to_ascii_lowercase())
            .ok_or_else(|| GovernError::Unknown {
                what: "tier",
                name: s.to_owned(),
            })
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = GovernError;

    fn from_str(s: &str) -> Result<Role, GovernError> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| GovernError::Unknown {
                what: "role",
                name: s.to_owned(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_distinct() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
        let mut names: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Role::ALL.len());
        assert!("root".parse::<Role>().is_err());
        for kind in OrgKind::ALL {
            assert_eq!(kind.as_str().parse::<OrgKind>().unwrap(), kind);
        }
        assert!("vendor".parse::<OrgKind>().is_err());
        for tier in Tier::ALL {
            assert_eq!(tier.as_str().parse::<Tier>().unwrap(), tier);
        }
        assert_eq!("L2".parse::<Tier>().unwrap(), Tier::L2);
        assert!("l4".parse::<Tier>().is_err());
    }

    #[test]
    fn organisations_and_mfa() {
        assert_eq!(Role::Ciso.org_kind(), OrgKind::Client);
        assert_eq!(Role::Auditor.org_kind(), OrgKind::Client);
        assert_eq!(Role::ClientAnalyst.org_kind(), OrgKind::Client);
        assert_eq!(Role::ClientAdmin.org_kind(), OrgKind::Client);
        assert_eq!(Role::ProviderAdmin.org_kind(), OrgKind::Provider);
        assert_eq!(
            Role::ProviderAnalyst(Tier::L2).org_kind(),
            OrgKind::Provider
        );
        assert_eq!(Role::Operator.org_kind(), OrgKind::Operator);
        let mfa: Vec<&str> = Role::ALL
            .iter()
            .filter(|r| r.requires_mfa())
            .map(|r| r.as_str())
            .collect();
        assert_eq!(
            mfa,
            [
                "client-admin",
                "provider-admin",
                "provider-l1",
                "provider-l2",
                "provider-l3",
                "operator"
            ]
        );
        assert!(Tier::L1 < Tier::L2 && Tier::L2 < Tier::L3);
    }
}
