//! The permission table: what each role may do on a tenant it can reach.
//!
//! One table, as data ([`TABLE`]), asked once per request ([`allows`]). Reaching the tenant
//! is a separate question: a client role reaches the tenants its organisation owns, a
//! provider role only those of an active grant ([`crate::grant`]), whose tier replaces the
//! analyst's. `docs/permissions.md` is this table rendered ([`markdown`]); a test fails when
//! the file and the table differ.
//!
//! Decisions worth knowing (the table's reasons):
//! - the auditor and the CISO see no event data (alerts hold event values); the auditor reads
//!   the audit trail, SLAs and reports;
//! - provider L1 triages from the alert and its context, and does not search events freely;
//!   L2 and L3 search;
//! - nobody at the provider sees sensitive fields in clear but through an elevation;
//! - response actions are approved by the client (four eyes across the contract);
//! - provider users read only their own audit records ([`Cell::Own`]);
//! - the operator administers the instance and its organisations, and nothing in a tenant;
//! - who is told what (notification rules) is kept by the client's admin and CISO, and by
//!   the provider's admin for its analysts; destinations are bounded by the operator's
//!   allow-list, not by this table.

use std::fmt::Write as _;
use std::str::FromStr;

use crate::{GovernError, Role};

/// Something a caller asks to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// List and read alerts (with the events around them).
    ReadAlerts,
    /// Acknowledge, qualify, comment, assign.
    TriageAlerts,
    /// Escalate an alert to a higher tier.
    Escalate,
    /// Search, aggregate and fetch events.
    SearchEvents,
    /// See the values of the tenant's sensitive fields in clear.
    SeeSensitiveFields,
    /// Create and work cases.
    ManageCases,
    /// Approve a response action (the second pair of eyes).
    ApproveResponse,
    /// Change rules and suppressions.
    ManageRules,
    /// Create, change, suspend users (of the own organisation).
    ManageUsers,
    /// Request a grant for a provider analyst.
    RequestGrants,
    /// Approve, refuse or revoke grants and elevations on the own tenants.
    ApproveGrants,
    /// Revoke a grant at once: the tenant owner's admin, or the provider's admin giving
    /// access back.
    RevokeGrants,
    /// Ask for a just-in-time elevation on one alert (a provider analyst on a tenant of an
    /// active grant).
    RequestElevation,
    /// Keep the tenant's notification rules (who is told what, where).
    ManageNotifications,
    /// Read the audit trail.
    ReadAudit,
    /// Read SLA measurements and reports.
    ReadSla,
    /// Manage SLA contracts and controls.
    ManageSla,
    /// Export the tenant's data.
    ExportTenant,
    /// Administer the instance: organisations, the first users, settings.
    AdministerInstance,
}

impl Action {
    /// Every action, in table order.
    pub const ALL: [Action; 19] = [
        Action::ReadAlerts,
        Action::TriageAlerts,
        Action::Escalate,
        Action::SearchEvents,
        Action::SeeSensitiveFields,
        Action::ManageCases,
        Action::ApproveResponse,
        Action::ManageRules,
        Action::ManageUsers,
        Action::RequestGrants,
        Action::ApproveGrants,
        Action::RevokeGrants,
        Action::RequestElevation,
        Action::ManageNotifications,
        Action::ReadAudit,
        Action::ReadSla,
        Action::ManageSla,
        Action::ExportTenant,
        Action::AdministerInstance,
    ];

    /// Its stable name (audit records, API errors, the documentation).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::ReadAlerts => "read-alerts",
            Action::TriageAlerts => "triage-alerts",
            Action::Escalate => "escalate",
            Action::SearchEvents => "search-events",
            Action::SeeSensitiveFields => "see-sensitive-fields",
            Action::ManageCases => "manage-cases",
            Action::ApproveResponse => "approve-response",
            Action::ManageRules => "manage-rules",
            Action::ManageUsers => "manage-users",
            Action::RequestGrants => "request-grants",
            Action::ApproveGrants => "approve-grants",
            Action::RevokeGrants => "revoke-grants",
            Action::RequestElevation => "request-elevation",
            Action::ManageNotifications => "manage-notifications",
            Action::ReadAudit => "read-audit",
            Action::ReadSla => "read-sla",
            Action::ManageSla => "manage-sla",
            Action::ExportTenant => "export-tenant",
            Action::AdministerInstance => "administer-instance",
        }
    }
}

impl FromStr for Action {
    type Err = GovernError;

    fn from_str(s: &str) -> Result<Action, GovernError> {
        Action::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| GovernError::Unknown {
                what: "action",
                name: s.to_owned(),
            })
    }
}

/// One cell of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cell {
    /// Refused.
    Deny,
    /// Allowed on the caller's own records only (their own audit trail).
    Own,
    /// Allowed.
    Allow,
}

use Cell::{Allow as A, Deny as D, Own as O};

/// The table: per action, one cell per role, in [`Role::ALL`] order (client admin, CISO,
/// client analyst, auditor, provider admin, provider L1, L2, L3, operator).
pub const TABLE: [(Action, [Cell; 9]); 19] = [
    //                                 cadm ciso cana audi padm  L1   L2   L3   oper
    (Action::ReadAlerts, [D, D, A, D, D, A, A, A, D]),
    (Action::TriageAlerts, [D, D, A, D, D, A, A, A, D]),
    (Action::Escalate, [D, D, A, D, D, A, A, A, D]),
    (Action::SearchEvents, [D, D, A, D, D, D, A, A, D]),
    (Action::SeeSensitiveFields, [D, D, A, D, D, D, D, D, D]),
    (Action::ManageCases, [D, D, A, D, D, D, A, A, D]),
    (Action::ApproveResponse, [A, A, D, D, D, D, D, D, D]),
    (Action::ManageRules, [D, D, A, D, D, D, A, A, D]),
    (Action::ManageUsers, [A, D, D, D, A, D, D, D, A]),
    (Action::RequestGrants, [D, D, D, D, A, D, D, D, D]),
    (Action::ApproveGrants, [A, D, D, D, D, D, D, D, D]),
    (Action::RevokeGrants, [A, D, D, D, A, D, D, D, D]),
    (Action::RequestElevation, [D, D, D, D, D, A, A, A, D]),
    (Action::ManageNotifications, [A, A, D, D, A, D, D, D, D]),
    (Action::ReadAudit, [A, A, D, A, O, O, O, O, A]),
    (Action::ReadSla, [A, A, D, A, A, D, D, D, D]),
    (Action::ManageSla, [A, A, D, D, D, D, D, D, D]),
    (Action::ExportTenant, [A, D, D, D, D, D, D, D, D]),
    (Action::AdministerInstance, [D, D, D, D, D, D, D, D, A]),
];

/// What the table says of `role` doing `action`.
pub fn allows(role: Role, action: Action) -> Cell {
    let column = Role::ALL
        .iter()
        .position(|r| *r == role)
        .unwrap_or(Role::ALL.len());
    TABLE
        .iter()
        .find(|(a, _)| *a == action)
        .and_then(|(_, cells)| cells.get(column).copied())
        .unwrap_or(Cell::Deny)
}

/// The table as the Markdown of `docs/permissions.md`.
pub fn markdown() -> String {
    let mut out = String::from(
        "# Permissions\n\n\
         What each role may do on a tenant it reaches (a client role: the tenants its \
         organisation owns; a provider role: those of an active grant, whose tier is the \
         analyst's tier there). Generated from `crates/govern/src/permission.rs`; a test \
         fails when they differ (`VIGIE_BLESS=1 cargo test -p vigie-govern` rewrites this \
         file).\n\n\
         `yes`: allowed; `own`: on the caller's own records only; `—`: refused.\n\n| action |",
    );
    for role in Role::ALL {
        let _ = write!(out, " {role} |");
    }
    out.push_str("\n|---|");
    for _ in Role::ALL {
        out.push_str(":-:|");
    }
    out.push('\n');
    for action in Action::ALL {
        let _ = write!(out, "| {} |", action.as_str());
        for role in Role::ALL {
            out.push_str(match allows(role, action) {
                Cell::Allow => " yes |",
                Cell::Own => " own |",
                Cell::Deny => " — |",
            });
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Tier;

    #[test]
    fn every_action_has_one_row_in_order() {
        assert_eq!(TABLE.len(), Action::ALL.len());
        for (row, action) in TABLE.iter().zip(Action::ALL) {
            assert_eq!(row.0, action);
        }
        for action in Action::ALL {
            assert_eq!(action.as_str().parse::<Action>().unwrap(), action);
        }
        assert!("sudo".parse::<Action>().is_err());
    }

    #[test]
    fn the_rules_the_table_must_keep() {
        let l1 = Role::ProviderAnalyst(Tier::L1);
        let l2 = Role::ProviderAnalyst(Tier::L2);
        // No event data for the auditor, the CISO, the provider admin, the operator.
        for role in [
            Role::Auditor,
            Role::Ciso,
            Role::ProviderAdmin,
            Role::Operator,
        ] {
            for action in [
                Action::ReadAlerts,
                Action::SearchEvents,
                Action::SeeSensitiveFields,
                Action::ExportTenant,
            ] {
                assert_eq!(allows(role, action), Cell::Deny, "{role} {action:?}");
            }
        }
        // No provider user sees sensitive fields without an elevation.
        for role in Role::ALL {
            if role.org_kind() == crate::OrgKind::Provider {
                assert_eq!(allows(role, Action::SeeSensitiveFields), Cell::Deny);
                assert_ne!(allows(role, Action::ReadAudit), Cell::Allow);
                assert_eq!(allows(role, Action::ApproveGrants), Cell::Deny);
                assert_eq!(allows(role, Action::ApproveResponse), Cell::Deny);
            }
        }
        assert_eq!(allows(l1, Action::SearchEvents), Cell::Deny);
        assert_eq!(allows(l2, Action::SearchEvents), Cell::Allow);
        assert_eq!(allows(l1, Action::ReadAudit), Cell::Own);
        assert_eq!(
            allows(Role::ProviderAdmin, Action::RequestGrants),
            Cell::Allow
        );
        assert_eq!(allows(Role::ClientAdmin, Action::RequestGrants), Cell::Deny);
        assert_eq!(
            allows(Role::ClientAdmin, Action::ApproveGrants),
            Cell::Allow
        );
        // Only the operator administers the instance.
        for role in Role::ALL {
            let expected = if role == Role::Operator {
                Cell::Allow
            } else {
                Cell::Deny
            };
            assert_eq!(allows(role, Action::AdministerInstance), expected);
        }
    }

    #[test]
    fn the_documentation_is_the_table() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/permissions.md");
        let rendered = markdown();
        if std::env::var_os("VIGIE_BLESS").is_some() {
            std::fs::write(&path, &rendered).unwrap();
        }
        let written = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(
            written, rendered,
            "docs/permissions.md differs from the table: VIGIE_BLESS=1 cargo test -p vigie-govern"
        );
        // Every cell is in the document: 19 rows of 9 cells.
        assert_eq!(
            rendered
                .lines()
                .filter(|l| l.starts_with("| ") && !l.starts_with("| action"))
                .count(),
            19
        );
    }
}
