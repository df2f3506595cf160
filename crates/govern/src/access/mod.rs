//! The authorisation decision: may this caller do this action on this tenant, now?
//!
//! Two questions, in order: does the caller **reach** the tenant, and with which role
//! ([`role_on_tenant`]); then what does the table say of that role and the action
//! ([`crate::permission::allows`]). A client user reaches the tenants of their own
//! organisation; a provider analyst only those of an active grant, with the grant's tier;
//! a provider admin those where an analyst of theirs holds a pending or active grant (to
//! manage them), never more; the operator no tenant. Instance-wide actions
//! ([`Action::AdministerInstance`]) take no tenant.

use vigie_event::Timestamp;

use crate::grant::{Actor, Grant, GrantStatus, OrgId, is_active};
use crate::permission::{Action, Cell, allows};
use crate::{OrgKind, Role};

/// The answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Allowed, acting with this role on the tenant.
    Allow(Role),
    /// Allowed on the caller's own records only.
    Own(Role),
    /// Refused, and why (for the audit record and the error message).
    Deny(&'static str),
}

/// The role `actor` acts with on the tenant owned by `owner`, given the grants of that
/// tenant, at `now`; `None` when they do not reach it.
pub fn role_on_tenant(
    actor: &Actor,
    owner: OrgId,
    grants: &[Grant],
    now: Timestamp,
) -> Option<Role> {
    match actor.role.org_kind() {
        OrgKind::Client => (actor.org == owner).then_some(actor.role),
        OrgKind::Operator => None,
        OrgKind::Provider => match actor.role {
            Role::ProviderAnalyst(_) => grants
                .iter()
                .filter(|g| g.tenant_owner == owner && g.analyst.user == actor.user)
                .filter(|g| is_active(g, now))
                .map(|g| g.tier)
                .max()
                .map(Role::ProviderAnalyst),
            _ => grants
                .iter()
                .any(|g| {
                    g.tenant_owner == owner
                        && g.analyst.org == actor.org
                        && (g.status == GrantStatus::Pending || is_active(g, now))
                })
                .then_some(actor.role),
        },
    }
}

/// The decision on `action` by `actor` on the tenant owned by `owner` (`None` for an
/// instance-wide action).
pub fn decide(
    actor: &Actor,
    owner: Option<OrgId>,
    grants: &[Grant],
    action: Action,
    now: Timestamp,
) -> Decision {
    let role = match owner {
        None => {
            if action != Action::AdministerInstance {
                return Decision::Deny("this action is on a tenant: name one");
            }
            actor.role
        }
        Some(owner) => {
            if action == Action::AdministerInstance {
                return Decision::Deny("instance administration names no tenant");
            }
            match role_on_tenant(actor, owner, grants, now) {
                Some(role) => role,
                None => return Decision::Deny("no access to this tenant (no active grant)"),
            }
        }
    };
    match allows(role, action) {
        Cell::Allow => Decision::Allow(role),
        Cell::Own => Decision::Own(role),
        Cell::Deny => Decision::Deny("the role does not allow this action"),
    }
}

#[cfg(test)]
mod tests;
