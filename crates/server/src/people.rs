//! The operations on people and access, shared by the JSON API, the CLI (`vigie admin …`)
//! and the console to come: organisations, users, grants and elevations. Each checks who
//! may do it (`vigie_govern`), changes the state, and returns what the audit record of the
//! change says (before and after).

use serde_json::{Value, json};
use vigie_event::TenantId;
use vigie_event::time::Timestamp;
use vigie_govern::grant::{
    self, Actor, Grant, GrantStatus, OrgId, UserId, Widening, check_decision, check_elevation,
    check_request, check_revocation, is_active,
};
use vigie_govern::permission::{Action, Cell, allows};
use vigie_govern::{OrgKind, Role, Tier};
use vigie_state::grants::{status_name, widening_name};
use vigie_state::{
    ElevationId, GrantId, NewGrant, NewUser, State, StoredGrant, Token, User, UserStatus,
};

use crate::ServerError;

/// Why an operation was refused, as an HTTP status family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The caller may not (403).
    Forbidden,
    /// The object does not exist, or the caller may not know it does (404).
    NotFound,
    /// The input is not acceptable (400).
    Invalid,
    /// The object changed in between, or exists already (409).
    Conflict,
}

fn refuse(kind: Refusal, message: impl Into<String>) -> ServerError {
    ServerError::Refused(kind, message.into())
}

/// How long an enrolment token lives.
pub const ENROLMENT_HOURS: i64 = 72;

const HOUR: i64 = 3_600_000_000_000;

/// The actor of a user.
pub fn actor(user: &User) -> Actor {
    Actor {
        user: user.id,
        org: user.org,
        role: user.role,
    }
}

fn user_json(user: &User) -> Value {
    json!({
        "id": user.id.0.to_string(), "login": user.login, "name": user.name,
        "role": user.role.as_str(), "org": user.org.0.to_string(),
        "status": user.status.as_str(),
    })
}

/// A grant as the API shows it.
pub fn grant_json(g: &StoredGrant) -> Value {
    json!({
        "id": g.id.0.to_string(),
        "tenant": g.tenant.as_str(),
        "analyst": g.grant.analyst.user.0.to_string(),
        "requester": g.grant.requester.user.0.to_string(),
        "tier": g.grant.tier.as_str(),
        "from": g.grant.from.to_rfc3339(vigie_event::UtcOffset::UTC),
        "until": g.grant.until.to_rfc3339(vigie_event::UtcOffset::UTC),
        "justification": g.grant.justification,
        "status": status_name(g.grant.status),
        "active": is_active(&g.grant, Timestamp::now()),
        "decided_by": g.decided_by.map(|u| u.0.to_string()),
        "decided_at": g.decided_at.map(|t| t.to_rfc3339(vigie_event::UtcOffset::UTC)),
        "requested_at": g.created_at.to_rfc3339(vigie_event::UtcOffset::UTC),
    })
}

/// Parses the RFC 3339 time `text` of field `name` (UTC when it names no offset).
fn rfc3339(name: &str, text: &str) -> Result<Timestamp, ServerError> {
    vigie_event::time::parse_rfc3339(text, vigie_event::UtcOffset::UTC)
        .map(|(t, _)| t)
        .map_err(|e| {
            refuse(
                Refusal::Invalid,
                format!(
                    "{name} {text:?}: expected {} at byte {}",
                    e.expected, e.offset
                ),
            )
        })
}

/// A change's before and after, for its audit record.
#[derive(Debug, Clone, Default)]
pub struct Change {
    /// The objects changed.
    pub objects: Vec<String>,
    /// Before.
    pub before: Option<Value>,
    /// After.
    pub after: Option<Value>,
    /// The tenant it concerns (its chain gets the record).
    pub tenant: Option<TenantId>,
}

/// Creates an organisation (the operator's).
pub async fn create_org(
    state: &State,
    by: &Actor,
    name: &str,
    kind: OrgKind,
) -> Result<(OrgId, Change), ServerError> {
    if allows(by.role, Action::AdministerInstance) != Cell::Allow {
        return Err(refuse(
            Refusal::Forbidden,
            "only the operator creates organisations",
        ));
    }
    if kind == OrgKind::Operator {
        return Err(refuse(
            Refusal::Invalid,
            "the instance has one operator organisation",
        ));
    }
    let id = state.create_org(name, kind).await.map_err(state_refusal)?;
    Ok((
        id,
        Change {
            objects: vec![format!("org:{}", id.0)],
            before: None,
            after: Some(json!({"name": name, "kind": kind.as_str()})),
            tenant: None,
        },
    ))
}

/// Maps the state's refusals to [`Refusal`]s.
pub fn state_refusal(e: vigie_state::StateError) -> ServerError {
    match e {
        vigie_state::StateError::Invalid(m) => refuse(Refusal::Invalid, m),
        vigie_state::StateError::Exists(m) => {
            refuse(Refusal::Conflict, format!("{m} already exists"))
        }
        vigie_state::StateError::NoTenant(m) => {
            refuse(Refusal::NotFound, format!("no tenant {m:?}"))
        }
        e => ServerError::State(e),
    }
}

/// A user to create, as the API and the CLI take it.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct UserInput {
    /// The organisation's id (the operator names one; admins create in their own).
    pub org: Option<String>,
    /// The sign-in name.
    pub login: String,
    /// The display name.
    pub name: String,
    /// The role.
    pub role: String,
    /// A provider user's contract end (RFC 3339).
    pub contract_end: Option<String>,
}

/// Creates a user and mints their enrolment token (shown once). The operator creates in
/// any organisation; a client or provider admin in their own.
pub async fn create_user(
    state: &State,
    by: &Actor,
    input: &UserInput,
) -> Result<(User, Token, Change), ServerError> {
    let role: Role = input
        .role
        .parse()
        .map_err(|e: vigie_govern::GovernError| refuse(Refusal::Invalid, e.to_string()))?;
    let org = match (&input.org, by.role) {
        (Some(org), Role::Operator) => OrgId(
            org.parse()
                .map_err(|_| refuse(Refusal::Invalid, format!("org {org:?}: not an id")))?,
        ),
        (None, Role::Operator) => {
            return Err(refuse(Refusal::Invalid, "name the organisation (org)"));
        }
        (Some(org), _) if org != &by.org.0.to_string() => {
            return Err(refuse(
                Refusal::Forbidden,
                "admins create users of their own organisation",
            ));
        }
        _ => by.org,
    };
    if allows(by.role, Action::ManageUsers) != Cell::Allow {
        return Err(refuse(Refusal::Forbidden, "the role does not manage users"));
    }
    if role == Role::Operator && by.role != Role::Operator {
        return Err(refuse(
            Refusal::Forbidden,
            "only the operator creates operators",
        ));
    }
    let contract_end = match &input.contract_end {
        Some(text) => Some(rfc3339("contract_end", text)?),
        None => None,
    };
    let id = state
        .create_user(&NewUser {
            org,
            login: input.login.clone(),
            name: input.name.clone(),
            role,
            password: None,
            contract_end,
        })
        .await
        .map_err(state_refusal)?;
    let token = state
        .create_enrolment_token(
            id,
            Timestamp::from_nanos(Timestamp::now().as_nanos() + ENROLMENT_HOURS * HOUR),
        )
        .await?;
    let user = state
        .user(id)
        .await?
        .ok_or_else(|| refuse(Refusal::NotFound, "the user vanished"))?;
    let change = Change {
        objects: vec![format!("user:{}", id.0)],
        before: None,
        after: Some(user_json(&user)),
        tenant: None,
    };
    Ok((user, token, change))
}

/// The user `id` if `by` may manage them (same organisation, or the operator); not found
/// otherwise (no oracle of other organisations' users).
async fn managed_user(state: &State, by: &Actor, id: UserId) -> Result<User, ServerError> {
    if allows(by.role, Action::ManageUsers) != Cell::Allow {
        return Err(refuse(Refusal::Forbidden, "the role does not manage users"));
    }
    match state.user(id).await? {
        Some(u) if by.role == Role::Operator || u.org == by.org => Ok(u),
        _ => Err(refuse(Refusal::NotFound, format!("no user {}", id.0))),
    }
}

/// Suspends or reactivates a user; suspension ends their sessions at once.
pub async fn set_status(
    state: &State,
    by: &Actor,
    id: UserId,
    status: UserStatus,
) -> Result<Change, ServerError> {
    let user = managed_user(state, by, id).await?;
    if user.id == by.user {
        return Err(refuse(
            Refusal::Invalid,
            "an admin does not suspend themselves",
        ));
    }
    state.set_user_status(id, status).await?;
    Ok(Change {
        objects: vec![format!("user:{}", id.0)],
        before: Some(json!({"status": user.status.as_str()})),
        after: Some(json!({"status": status.as_str()})),
        tenant: None,
    })
}

/// Removes the second factor of a user of the admin's organisation (a lost device): they
/// enrol again at their next sign-in; their sessions end. An admin does not reset their own
/// (they replace it from their account, with a code of the current one).
pub async fn reset_mfa(state: &State, by: &Actor, id: UserId) -> Result<Change, ServerError> {
    let user = managed_user(state, by, id).await?;
    if user.id == by.user {
        return Err(refuse(
            Refusal::Invalid,
            "an admin does not reset their own second factor (replace it from the account page)",
        ));
    }
    state.reset_mfa(id).await?;
    Ok(Change {
        objects: vec![format!("user:{}", id.0)],
        before: Some(json!({"mfa_enrolled": user.mfa_enrolled})),
        after: Some(json!({"mfa_enrolled": false, "sessions_ended": true})),
        tenant: None,
    })
}

/// Ends every session of a user of the admin's organisation.
pub async fn end_sessions(
    state: &State,
    by: &Actor,
    id: UserId,
) -> Result<(u64, Change), ServerError> {
    managed_user(state, by, id).await?;
    let ended = state.end_sessions_of(id, None).await?;
    Ok((
        ended,
        Change {
            objects: vec![format!("user:{}", id.0)],
            before: None,
            after: Some(json!({"sessions_ended": ended})),
            tenant: None,
        },
    ))
}

/// The grants `by` may see: a client admin's tenants', a provider admin's analysts', an
/// analyst's own, the operator's all.
pub async fn visible_grants(state: &State, by: &Actor) -> Result<Vec<StoredGrant>, ServerError> {
    let all = match by.role {
        Role::Operator => state.all_grants().await?,
        Role::ProviderAdmin => state.grants_of_provider(by.org).await?,
        Role::ProviderAnalyst(_) => state
            .grants_of_provider(by.org)
            .await?
            .into_iter()
            .filter(|g| g.grant.analyst.user == by.user)
            .collect(),
        Role::ClientAdmin | Role::Ciso | Role::Auditor => {
            let mut out = Vec::new();
            for tenant in state.tenants_of(by.org).await? {
                out.extend(state.grants_on(&tenant).await?);
            }
            out
        }
        Role::ClientAnalyst => Vec::new(),
    };
    Ok(all)
}

/// A grant request, as the API and the CLI take it.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct GrantInput {
    /// The analyst's login.
    pub analyst: String,
    /// The tenant.
    pub tenant: String,
    /// `l1`, `l2`, `l3`.
    pub tier: String,
    /// Start (RFC 3339; default now).
    pub from: Option<String>,
    /// End (RFC 3339).
    pub until: String,
    /// Why.
    pub justification: String,
}

/// Requests a grant (a provider admin, for an analyst of their organisation).
pub async fn request_grant(
    state: &State,
    by: &Actor,
    input: &GrantInput,
) -> Result<(GrantId, Change), ServerError> {
    let now = Timestamp::now();
    let tier: Tier = input
        .tier
        .parse()
        .map_err(|e: vigie_govern::GovernError| refuse(Refusal::Invalid, e.to_string()))?;
    let from = match &input.from {
        Some(t) => rfc3339("from", t)?,
        None => now,
    };
    let until = rfc3339("until", &input.until)?;
    let tenant =
        TenantId::new(&input.tenant).map_err(|e| refuse(Refusal::Invalid, e.to_string()))?;
    let analyst = match state.user_by_login(&input.analyst).await? {
        Some(u) if u.org == by.org => u,
        _ => {
            return Err(refuse(
                Refusal::NotFound,
                format!("no analyst {:?} in your organisation", input.analyst),
            ));
        }
    };
    let owner = state.tenant_owner(&tenant).await?.ok_or_else(|| {
        refuse(
            Refusal::NotFound,
            format!("no tenant {:?}", tenant.as_str()),
        )
    })?;
    let rule = Grant {
        analyst: actor(&analyst),
        requester: *by,
        tenant_owner: owner,
        tier,
        from,
        until,
        justification: input.justification.clone(),
        status: GrantStatus::Pending,
    };
    check_request(&rule, now).map_err(|e| refuse(Refusal::Forbidden, e.to_string()))?;
    let id = state
        .insert_grant(&NewGrant {
            analyst: analyst.id,
            requester: by.user,
            tenant: tenant.clone(),
            tier,
            from,
            until,
            justification: input.justification.clone(),
        })
        .await?;
    let stored = state
        .grant(id)
        .await?
        .ok_or_else(|| refuse(Refusal::NotFound, "the grant vanished"))?;
    Ok((
        id,
        Change {
            objects: vec![format!("grant:{}", id.0), format!("user:{}", analyst.id.0)],
            before: None,
            after: Some(grant_json(&stored)),
            tenant: Some(tenant),
        },
    ))
}

/// What to do with a grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantDecision {
    /// Approve a pending grant (the owner's client admin).
    Approve,
    /// Refuse a pending grant (the owner's client admin).
    Refuse,
    /// Revoke a pending or approved grant (the owner's or the provider's admin).
    Revoke,
}

/// Decides or revokes grant `id`. A grant `by` may not see is not found.
pub async fn decide_grant(
    state: &State,
    by: &Actor,
    id: GrantId,
    decision: GrantDecision,
) -> Result<Change, ServerError> {
    let stored = match state.grant(id).await? {
        Some(g) if by.org == g.grant.tenant_owner || by.org == g.grant.analyst.org => g,
        _ => return Err(refuse(Refusal::NotFound, format!("no grant {}", id.0))),
    };
    let (from, to) = match decision {
        GrantDecision::Approve | GrantDecision::Refuse => {
            check_decision(&stored.grant, by)
                .map_err(|e| refuse(Refusal::Forbidden, e.to_string()))?;
            let to = if decision == GrantDecision::Approve {
                GrantStatus::Approved
            } else {
                GrantStatus::Refused
            };
            (GrantStatus::Pending, to)
        }
        GrantDecision::Revoke => {
            check_revocation(&stored.grant, by)
                .map_err(|e| refuse(Refusal::Forbidden, e.to_string()))?;
            (stored.grant.status, GrantStatus::Revoked)
        }
    };
    if !state
        .set_grant_status(id, from, to, by.user, Timestamp::now())
        .await?
    {
        return Err(refuse(
            Refusal::Conflict,
            "the grant changed in between; read it again",
        ));
    }
    Ok(Change {
        objects: vec![
            format!("grant:{}", id.0),
            format!("user:{}", stored.grant.analyst.user.0),
        ],
        before: Some(json!({"status": status_name(from)})),
        after: Some(json!({"status": status_name(to)})),
        tenant: Some(stored.tenant),
    })
}

/// An elevation request, as the API takes it.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct ElevationInput {
    /// The alert it is for.
    pub alert: String,
    /// `l2`, `l3` or `clear-fields`.
    pub widening: String,
    /// For how many hours once approved.
    pub hours: u32,
    /// Why.
    pub justification: String,
}

/// Requests an elevation on one alert of `tenant` (a provider analyst with an active grant
/// there).
pub async fn request_elevation(
    state: &State,
    by: &Actor,
    tenant: &TenantId,
    input: &ElevationInput,
) -> Result<(ElevationId, Change), ServerError> {
    let widening = vigie_state::grants::widening_of(&input.widening).ok_or_else(|| {
        refuse(
            Refusal::Invalid,
            format!("widening {:?}: l2, l3 or clear-fields", input.widening),
        )
    })?;
    if input.justification.trim().chars().count() < grant::MIN_JUSTIFICATION {
        return Err(refuse(Refusal::Invalid, "say why (at least 10 characters)"));
    }
    let now = Timestamp::now();
    let grant = state
        .grants_on(tenant)
        .await?
        .into_iter()
        .filter(|g| g.grant.analyst.user == by.user && is_active(&g.grant, now))
        .max_by_key(|g| g.grant.tier)
        .ok_or_else(|| {
            refuse(
                Refusal::Forbidden,
                "no active grant on this tenant to widen",
            )
        })?;
    let alert: vigie_state::AlertId = input.alert.parse().map_err(|_| {
        refuse(
            Refusal::Invalid,
            format!("alert {:?}: not an alert id", input.alert),
        )
    })?;
    if state.alert(tenant, &alert).await?.is_none() {
        return Err(refuse(
            Refusal::NotFound,
            format!("no alert {}", input.alert),
        ));
    }
    let max_hours = state
        .tenant_settings(tenant)
        .await?
        .map_or(4, |s| s.max_elevation_hours);
    check_elevation(true, grant.grant.tier, widening, input.hours, max_hours)
        .map_err(|e| refuse(Refusal::Invalid, e.to_string()))?;
    let id = state
        .insert_elevation(
            grant.id,
            &input.alert,
            widening,
            input.hours,
            &input.justification,
        )
        .await?;
    Ok((
        id,
        Change {
            objects: vec![
                format!("elevation:{}", id.0),
                format!("alert:{}", input.alert),
            ],
            before: None,
            after: Some(json!({
                "grant": grant.id.0.to_string(), "widening": widening_name(widening),
                "hours": input.hours, "status": "pending",
            })),
            tenant: Some(tenant.clone()),
        },
    ))
}

/// Approves or refuses an elevation (a client admin of the tenant's owner, not the
/// analyst).
pub async fn decide_elevation(
    state: &State,
    by: &Actor,
    id: ElevationId,
    approve: bool,
) -> Result<Change, ServerError> {
    let elevation = state
        .elevation(id)
        .await?
        .ok_or_else(|| refuse(Refusal::NotFound, format!("no elevation {}", id.0)))?;
    let grant = state
        .grant(elevation.grant)
        .await?
        .ok_or_else(|| refuse(Refusal::NotFound, "the grant vanished"))?;
    if by.org != grant.grant.tenant_owner {
        return Err(refuse(Refusal::NotFound, format!("no elevation {}", id.0)));
    }
    if by.role != Role::ClientAdmin || by.user == grant.grant.analyst.user {
        return Err(refuse(
            Refusal::Forbidden,
            "only a client admin of the tenant's owner decides elevations",
        ));
    }
    if !state
        .decide_elevation(id, approve, by.user, Timestamp::now())
        .await?
    {
        return Err(refuse(
            Refusal::Conflict,
            "the elevation is no longer pending",
        ));
    }
    let status = if approve { "approved" } else { "refused" };
    Ok(Change {
        objects: vec![
            format!("elevation:{}", id.0),
            format!("alert:{}", elevation.alert),
        ],
        before: Some(json!({"status": "pending"})),
        after: Some(
            json!({"status": status, "hours": elevation.hours, "widening": widening_name(elevation.elevation.widening)}),
        ),
        tenant: Some(grant.tenant),
    })
}

/// Whether `widening` on `alert` is in force for analyst `user` on `tenant` now.
pub async fn elevated(
    state: &State,
    user: UserId,
    tenant: &TenantId,
    alert: Option<&str>,
    widening: fn(Widening) -> bool,
) -> Result<bool, ServerError> {
    let now = Timestamp::now();
    let grants: Vec<GrantId> = state
        .grants_on(tenant)
        .await?
        .into_iter()
        .filter(|g| g.grant.analyst.user == user && is_active(&g.grant, now))
        .map(|g| g.id)
        .collect();
    if grants.is_empty() {
        return Ok(false);
    }
    Ok(state.elevations_of(&grants).await?.iter().any(|e| {
        alert.is_none_or(|a| a == e.alert)
            && widening(e.elevation.widening)
            && grant::elevation_active(&e.elevation, now)
    }))
}

/// Opens an access review campaign on `tenant` (its owner's client admin).
pub async fn open_review(
    state: &State,
    by: &Actor,
    tenant: &TenantId,
    deadline: &str,
) -> Result<(vigie_state::ReviewId, Change), ServerError> {
    let owner = state.tenant_owner(tenant).await?;
    if by.role != Role::ClientAdmin || owner != Some(by.org) {
        return Err(refuse(
            Refusal::Forbidden,
            "only a client admin of the tenant's owner opens a review",
        ));
    }
    let deadline = rfc3339("deadline", deadline)?;
    vigie_govern::review::check_deadline(deadline, Timestamp::now())
        .map_err(|e| refuse(Refusal::Invalid, e.to_string()))?;
    let id = state.open_review(tenant, by.user, deadline).await?;
    let review = state
        .review(id)
        .await?
        .ok_or_else(|| refuse(Refusal::NotFound, "the review vanished"))?;
    Ok((
        id,
        Change {
            objects: vec![format!("review:{}", id.0)],
            before: None,
            after: Some(json!({
                "deadline": deadline.to_rfc3339(vigie_event::UtcOffset::UTC),
                "grants": review.items.len(),
            })),
            tenant: Some(tenant.clone()),
        },
    ))
}

/// Confirms (`keep`) or removes (revokes) one grant of an open campaign on `tenant`.
pub async fn decide_review_item(
    state: &State,
    by: &Actor,
    tenant: &TenantId,
    review: vigie_state::ReviewId,
    grant: GrantId,
    keep: bool,
) -> Result<Change, ServerError> {
    use vigie_govern::review::ItemDecision;
    let found = state.review(review).await?;
    let Some(found) = found.filter(|r| &r.tenant == tenant) else {
        return Err(refuse(Refusal::NotFound, format!("no review {}", review.0)));
    };
    if by.role != Role::ClientAdmin || state.tenant_owner(tenant).await? != Some(by.org) {
        return Err(refuse(
            Refusal::Forbidden,
            "only a client admin of the tenant's owner answers a review",
        ));
    }
    if !found.items.iter().any(|(g, _)| *g == grant) {
        return Err(refuse(
            Refusal::NotFound,
            format!("grant {} is not in review {}", grant.0, review.0),
        ));
    }
    let decision = if keep {
        ItemDecision::Confirmed
    } else {
        ItemDecision::Removed
    };
    if !state
        .decide_review_item(review, grant, decision, by.user)
        .await?
    {
        return Err(refuse(
            Refusal::Conflict,
            "this grant was answered already, or the review closed",
        ));
    }
    let mut change = Change {
        objects: vec![format!("review:{}", review.0), format!("grant:{}", grant.0)],
        before: Some(json!({"decision": "open"})),
        after: Some(json!({"decision": vigie_state::reviews::item_name(decision)})),
        tenant: Some(tenant.clone()),
    };
    if !keep {
        let revoked = decide_grant(state, by, grant, GrantDecision::Revoke).await;
        if let Ok(r) = revoked {
            change.after = Some(json!({"decision": "removed", "grant": r.after}));
        }
    }
    Ok(change)
}

/// The longest elevation a tenant may allow, in hours.
pub const MAX_ELEVATION_HOURS: u32 = 72;

/// A tenant's settings as the API shows them and the audit trail records them.
pub fn settings_json(s: &vigie_state::TenantSettings) -> serde_json::Value {
    json!({
        "sensitive_fields": s.sensitive_fields,
        "max_elevation_hours": s.max_elevation_hours,
        "grouping": s.grouping,
    })
}

/// Changes a tenant's settings: its sensitive fields (a comma-separated list, replacing the
/// current one), the longest elevation (1 to [`MAX_ELEVATION_HOURS`]) and how alerts are
/// grouped (`vigie_govern::grouping::Grouping::check`). Gives the settings in force and,
/// when they changed, the change to audit. Who may is the caller's decision (the route's
/// need; the CLI is the operator's).
pub async fn update_tenant_settings(
    state: &State,
    tenant: &TenantId,
    sensitive: Option<&str>,
    max_elevation_hours: Option<u32>,
    grouping: Option<vigie_govern::grouping::Grouping>,
) -> Result<(vigie_state::TenantSettings, Option<Change>), ServerError> {
    let before = state.tenant_settings(tenant).await?.ok_or_else(|| {
        refuse(
            Refusal::NotFound,
            format!("no tenant {:?}", tenant.as_str()),
        )
    })?;
    let mut after = before.clone();
    if let Some(list) = sensitive {
        let fields: Vec<String> = list
            .split(',')
            .map(|f| f.trim().to_owned())
            .filter(|f| !f.is_empty())
            .collect();
        if let Some(bad) = fields
            .iter()
            .find(|f| f.len() > 128 || f.chars().any(char::is_control))
        {
            return Err(refuse(
                Refusal::Invalid,
                format!("sensitive field {bad:?}: a field name of at most 128 bytes"),
            ));
        }
        if fields.len() > 256 {
            return Err(refuse(Refusal::Invalid, "at most 256 sensitive fields"));
        }
        after.sensitive_fields = fields;
    }
    if let Some(hours) = max_elevation_hours {
        if hours == 0 || hours > MAX_ELEVATION_HOURS {
            return Err(refuse(
                Refusal::Invalid,
                format!("max_elevation_hours {hours}: from 1 to {MAX_ELEVATION_HOURS}"),
            ));
        }
        after.max_elevation_hours = hours;
    }
    if let Some(grouping) = grouping {
        grouping
            .check()
            .map_err(|why| refuse(Refusal::Invalid, why))?;
        after.grouping = grouping;
    }
    if after == before {
        return Ok((after, None));
    }
    state.set_tenant_settings(tenant, &after).await?;
    let change = Change {
        objects: vec![format!("tenant:{}", tenant.as_str())],
        before: Some(settings_json(&before)),
        after: Some(settings_json(&after)),
        tenant: Some(tenant.clone()),
    };
    Ok((after, Some(change)))
}
