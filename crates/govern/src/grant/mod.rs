//! Provider access to a tenant: grants (who, which tenant, which tier, from when until when,
//! why), their approval by the tenant's owner, and just-in-time elevations on one alert.
//!
//! Every rule is a function of its inputs and the time given, so the server enforces the
//! same rules on every request (a revoked or expired grant ends access at the next request,
//! whatever sessions or tokens exist) and the tests can walk every case.

use vigie_event::Timestamp;

use crate::{GovernError, Role, Tier};

/// An organisation's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OrgId(pub u64);

/// A user's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UserId(pub u64);

/// A person acting: who, in which organisation, with which role there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    /// The user.
    pub user: UserId,
    /// Their organisation.
    pub org: OrgId,
    /// Their role in it.
    pub role: Role,
}

/// The longest a grant may run: a year; longer access is a new grant, approved again.
pub const MAX_GRANT_NANOS: i64 = 366 * 24 * 3600 * 1_000_000_000;

/// The shortest justification accepted, in characters: a reason, not a placeholder.
pub const MIN_JUSTIFICATION: usize = 10;

/// Where a grant stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantStatus {
    /// Requested, not yet decided.
    Pending,
    /// Approved: active within its window.
    Approved,
    /// Refused by the tenant's owner.
    Refused,
    /// Revoked after approval.
    Revoked,
    /// Suspended by an access review that was not answered in time.
    Suspended,
}

/// A grant: provider analyst × tenant × tier × window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The analyst.
    pub analyst: Actor,
    /// Who asked (a provider admin of the analyst's organisation).
    pub requester: Actor,
    /// The organisation that owns the tenant.
    pub tenant_owner: OrgId,
    /// The tier the analyst works at on the tenant.
    pub tier: Tier,
    /// Start of validity (inclusive).
    pub from: Timestamp,
    /// End of validity (exclusive).
    pub until: Timestamp,
    /// Why.
    pub justification: String,
    /// Where it stands.
    pub status: GrantStatus,
}

fn refuse(message: impl Into<String>) -> GovernError {
    GovernError::Grant(message.into())
}

/// Checks a new grant request at `now`: the requester is a provider admin of the analyst's
/// organisation, the analyst a provider analyst, the tenant's owner another organisation,
/// the window ends in the future and lasts at most [`MAX_GRANT_NANOS`], and the
/// justification says something.
pub fn check_request(grant: &Grant, now: Timestamp) -> Result<(), GovernError> {
    if grant.requester.role != Role::ProviderAdmin {
        return Err(refuse("only a provider admin requests grants"));
    }
    if !matches!(grant.analyst.role, Role::ProviderAnalyst(_)) {
        return Err(refuse("a grant is for a provider analyst"));
    }
    if grant.requester.org != grant.analyst.org {
        return Err(refuse(
            "the requester and the analyst are not of the same organisation",
        ));
    }
    if grant.tenant_owner == grant.analyst.org {
        return Err(refuse("a provider cannot own the tenant it is granted"));
    }
    if grant.until <= grant.from {
        return Err(refuse("the grant ends before it starts"));
    }
    if grant.until <= now {
        return Err(refuse("the grant would already have ended"));
    }
    if grant.until.as_nanos().saturating_sub(grant.from.as_nanos()) > MAX_GRANT_NANOS {
        return Err(refuse("a grant lasts at most 366 days"));
    }
    if grant.justification.trim().chars().count() < MIN_JUSTIFICATION {
        return Err(refuse(format!(
            "the justification must say why (at least {MIN_JUSTIFICATION} characters)"
        )));
    }
    if grant.status != GrantStatus::Pending {
        return Err(refuse("a new grant is pending"));
    }
    Ok(())
}

/// Checks that `approver` may decide (approve or refuse) `grant`: a client admin of the
/// organisation that owns the tenant, not the requester, on a pending grant.
pub fn check_decision(grant: &Grant, approver: &Actor) -> Result<(), GovernError> {
    if approver.role != Role::ClientAdmin {
        return Err(refuse("only a client admin decides grants"));
    }
    if approver.org != grant.tenant_owner {
        return Err(refuse(
            "the approver's organisation does not own the tenant",
        ));
    }
    if approver.user == grant.requester.user || approver.user == grant.analyst.user {
        return Err(refuse("the requester cannot approve their own request"));
    }
    if grant.status != GrantStatus::Pending {
        return Err(refuse("the grant is no longer pending"));
    }
    Ok(())
}

/// Checks that `actor` may revoke `grant`: a client admin of the owner, or the provider
/// admin of the analyst's organisation (a provider may always give access back). Revoking
/// an ended grant is refused (nothing to end).
pub fn check_revocation(grant: &Grant, actor: &Actor) -> Result<(), GovernError> {
    let owner = actor.role == Role::ClientAdmin && actor.org == grant.tenant_owner;
    let provider = actor.role == Role::ProviderAdmin && actor.org == grant.analyst.org;
    if !owner && !provider {
        return Err(refuse(
            "only the tenant owner's admin or the provider's admin revokes a grant",
        ));
    }
    if !matches!(grant.status, GrantStatus::Approved | GrantStatus::Pending) {
        return Err(refuse("the grant has already ended"));
    }
    Ok(())
}

/// Whether `grant` gives access at `now`: approved, and `from <= now < until`.
pub fn is_active(grant: &Grant, now: Timestamp) -> bool {
    grant.status == GrantStatus::Approved && grant.from <= now && now < grant.until
}

/// What an elevation widens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Widening {
    /// A higher tier than the grant's.
    Tier(Tier),
    /// Sensitive fields in clear.
    ClearFields,
}

/// A just-in-time elevation on one alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Elevation {
    /// The analyst's grant it widens.
    pub grant_tier: Tier,
    /// What it widens.
    pub widening: Widening,
    /// Start (approval time).
    pub from: Timestamp,
    /// End (exclusive).
    pub until: Timestamp,
    /// Approved by a client admin of the owner.
    pub approved: bool,
}

/// Checks an elevation request: on an active grant, for a tier above the grant's (or clear
/// fields), for at most `max_hours` (the tenant's setting).
pub fn check_elevation(
    grant_active: bool,
    grant_tier: Tier,
    widening: Widening,
    hours: u32,
    max_hours: u32,
) -> Result<(), GovernError> {
    let refuse = |m: &str| GovernError::Elevation(m.to_owned());
    if !grant_active {
        return Err(refuse("no active grant to widen"));
    }
    if let Widening::Tier(tier) = widening
        && tier <= grant_tier
    {
        return Err(refuse("the tier asked is not above the grant's"));
    }
    if hours == 0 {
        return Err(refuse("an elevation lasts at least an hour"));
    }
    if hours > max_hours {
        return Err(GovernError::Elevation(format!(
            "an elevation lasts at most {max_hours} hours on this tenant"
        )));
    }
    Ok(())
}

/// Whether `elevation` is in force at `now`.
pub fn elevation_active(elevation: &Elevation, now: Timestamp) -> bool {
    elevation.approved && elevation.from <= now && now < elevation.until
}

/// The role a provider analyst acts with on one alert: the grant's tier, or the elevated
/// tier while an elevation to it is in force.
pub fn effective_tier(grant_tier: Tier, elevation: Option<&Elevation>, now: Timestamp) -> Tier {
    match elevation {
        // Never below the grant's tier, whatever the elevation says.
        Some(e) if elevation_active(e, now) => match e.widening {
            Widening::Tier(t) => t.max(grant_tier),
            Widening::ClearFields => grant_tier,
        },
        _ => grant_tier,
    }
}

#[cfg(test)]
mod tests;
