//! Organisations, users, grants and elevations over HTTP: thin wrappers of
//! [`crate::people`], which the CLI and the console share; each answer carries the
//! change's before and after for its audit record.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{Value, json};
use vigie_govern::OrgKind;
use vigie_govern::grant::{Actor, UserId};
use vigie_state::{ElevationId, GrantId, UserStatus};

use super::App;
use super::access::{AuditNote, Authorized};
use super::error::{ApiError, ApiResult};
use crate::people::{
    self, Change, ElevationInput, GrantDecision, GrantInput, UserInput, grant_json,
};

fn actor(auth: &Authorized) -> ApiResult<Actor> {
    auth.caller
        .actor()
        .ok_or_else(|| ApiError::new(StatusCode::FORBIDDEN, "only a person may do this"))
}

fn note(action: &'static str, change: Change) -> AuditNote {
    AuditNote {
        action: Some(action),
        objects: change.objects,
        before: change.before,
        after: change.after,
        tenant: change.tenant,
        ..AuditNote::default()
    }
}

fn id(text: &str, what: &str) -> ApiResult<u64> {
    text.parse()
        .map_err(|_| ApiError::bad_request(format!("{what} {text:?}: not an id")))
}

/// `GET /api/v1/orgs`.
pub(crate) async fn orgs(State(app): State<App>) -> ApiResult<Json<Value>> {
    let orgs = app.state.orgs().await.map_err(ApiError::internal)?;
    Ok(Json(json!({ "organisations": orgs })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OrgBody {
    pub(crate) name: String,
    pub(crate) kind: String,
}

/// `POST /api/v1/orgs`.
pub(crate) async fn create_org(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    body: Result<Json<OrgBody>, JsonRejection>,
) -> ApiResult<Response> {
    let Json(body) = body?;
    let kind: OrgKind = body
        .kind
        .parse()
        .map_err(|e: vigie_govern::GovernError| ApiError::bad_request(e.to_string()))?;
    let (org, change) = people::create_org(&app.state, &actor(&auth)?, &body.name, kind).await?;
    Ok((
        StatusCode::CREATED,
        Extension(note("org-create", change)),
        Json(json!({"id": org.0.to_string()})),
    )
        .into_response())
}

/// `GET /api/v1/users`: the users of the caller's organisation.
pub(crate) async fn users(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
) -> ApiResult<Json<Value>> {
    let by = actor(&auth)?;
    let users = app
        .state
        .users_of(by.org)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(json!({ "users": users })))
}

/// `POST /api/v1/users`: answers the user and their enrolment token (shown once).
pub(crate) async fn create_user(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    body: Result<Json<UserInput>, JsonRejection>,
) -> ApiResult<Response> {
    let Json(body) = body?;
    let (user, token, change) = people::create_user(&app.state, &actor(&auth)?, &body).await?;
    Ok((
        StatusCode::CREATED,
        Extension(note("user-create", change)),
        Json(json!({"user": user, "enrolment_token": token.as_str()})),
    )
        .into_response())
}

async fn set_status(
    app: &App,
    auth: &Authorized,
    user: &str,
    status: UserStatus,
) -> ApiResult<Response> {
    let target = UserId(id(user, "user")?);
    let change = people::set_status(&app.state, &actor(auth)?, target, status).await?;
    let action = if status == UserStatus::Active {
        "user-activate"
    } else {
        "user-suspend"
    };
    Ok((
        Extension(note(action, change)),
        Json(json!({"status": status.as_str()})),
    )
        .into_response())
}

/// `POST /api/v1/users/{id}/suspend`.
pub(crate) async fn suspend(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    Path(user): Path<String>,
) -> ApiResult<Response> {
    set_status(&app, &auth, &user, UserStatus::Suspended).await
}

/// `POST /api/v1/users/{id}/activate`.
pub(crate) async fn activate(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    Path(user): Path<String>,
) -> ApiResult<Response> {
    set_status(&app, &auth, &user, UserStatus::Active).await
}

/// `POST /api/v1/users/{id}/mfa/reset`: removes a user's second factor (a lost device).
pub(crate) async fn reset_mfa(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    Path(user): Path<String>,
) -> ApiResult<Response> {
    let target = UserId(id(&user, "user")?);
    let change = people::reset_mfa(&app.state, &actor(&auth)?, target).await?;
    Ok((
        Extension(note("mfa-reset", change)),
        Json(json!({"mfa_enrolled": false})),
    )
        .into_response())
}

/// `DELETE /api/v1/users/{id}/sessions`: ends every session of a user of the admin's
/// organisation.
pub(crate) async fn end_sessions(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    Path(user): Path<String>,
) -> ApiResult<Response> {
    let target = UserId(id(&user, "user")?);
    let (ended, change) = people::end_sessions(&app.state, &actor(&auth)?, target).await?;
    Ok((
        Extension(note("sessions-end", change)),
        Json(json!({"ended": ended})),
    )
        .into_response())
}

/// `GET /api/v1/grants`: the grants the caller may see.
pub(crate) async fn grants(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
) -> ApiResult<Response> {
    let grants = people::visible_grants(&app.state, &actor(&auth)?).await?;
    let note = AuditNote {
        count: Some(grants.len() as u64),
        ..AuditNote::default()
    };
    let list: Vec<Value> = grants.iter().map(grant_json).collect();
    Ok((Extension(note), Json(json!({ "grants": list }))).into_response())
}

/// `POST /api/v1/grants`: a provider admin requests a grant.
pub(crate) async fn request_grant(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    body: Result<Json<GrantInput>, JsonRejection>,
) -> ApiResult<Response> {
    let Json(body) = body?;
    let (grant, change) = people::request_grant(&app.state, &actor(&auth)?, &body).await?;
    Ok((
        StatusCode::CREATED,
        Extension(note("grant-request", change)),
        Json(json!({"id": grant.0.to_string(), "status": "pending"})),
    )
        .into_response())
}

async fn decide(
    app: &App,
    auth: &Authorized,
    grant: &str,
    decision: GrantDecision,
) -> ApiResult<Response> {
    let grant = GrantId(id(grant, "grant")?);
    let change = people::decide_grant(&app.state, &actor(auth)?, grant, decision).await?;
    let action = match decision {
        GrantDecision::Approve => "grant-approve",
        GrantDecision::Refuse => "grant-refuse",
        GrantDecision::Revoke => "grant-revoke",
    };
    let after = change.after.clone().unwrap_or(Value::Null);
    Ok((Extension(note(action, change)), Json(after)).into_response())
}

/// `POST /api/v1/grants/{id}/approve`.
pub(crate) async fn approve_grant(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    Path(grant): Path<String>,
) -> ApiResult<Response> {
    decide(&app, &auth, &grant, GrantDecision::Approve).await
}

/// `POST /api/v1/grants/{id}/refuse`.
pub(crate) async fn refuse_grant(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    Path(grant): Path<String>,
) -> ApiResult<Response> {
    decide(&app, &auth, &grant, GrantDecision::Refuse).await
}

/// `POST /api/v1/grants/{id}/revoke`.
pub(crate) async fn revoke_grant(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    Path(grant): Path<String>,
) -> ApiResult<Response> {
    decide(&app, &auth, &grant, GrantDecision::Revoke).await
}

/// `POST /api/v1/elevations` (on the tenant of `Vigie-Tenant`).
pub(crate) async fn request_elevation(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    body: Result<Json<ElevationInput>, JsonRejection>,
) -> ApiResult<Response> {
    let Json(body) = body?;
    let tenant = auth.tenant_id()?;
    let (elevation, change) =
        people::request_elevation(&app.state, &actor(&auth)?, &tenant, &body).await?;
    Ok((
        StatusCode::CREATED,
        Extension(note("elevation-request", change)),
        Json(json!({"id": elevation.0.to_string(), "status": "pending"})),
    )
        .into_response())
}

async fn decide_elevation(
    app: &App,
    auth: &Authorized,
    elevation: &str,
    approve: bool,
) -> ApiResult<Response> {
    let elevation = ElevationId(id(elevation, "elevation")?);
    let change = people::decide_elevation(&app.state, &actor(auth)?, elevation, approve).await?;
    let after = change.after.clone().unwrap_or(Value::Null);
    let action = if approve {
        "elevation-approve"
    } else {
        "elevation-refuse"
    };
    Ok((Extension(note(action, change)), Json(after)).into_response())
}

/// `POST /api/v1/elevations/{id}/approve`.
pub(crate) async fn approve_elevation(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    Path(elevation): Path<String>,
) -> ApiResult<Response> {
    decide_elevation(&app, &auth, &elevation, true).await
}

/// `POST /api/v1/elevations/{id}/refuse`.
pub(crate) async fn refuse_elevation(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    Path(elevation): Path<String>,
) -> ApiResult<Response> {
    decide_elevation(&app, &auth, &elevation, false).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReviewBody {
    deadline: String,
}

/// `POST /api/v1/reviews` (on the tenant of `Vigie-Tenant`).
pub(crate) async fn open_review(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    body: Result<Json<ReviewBody>, JsonRejection>,
) -> ApiResult<Response> {
    let Json(body) = body?;
    let tenant = auth.tenant_id()?;
    let (review, change) =
        people::open_review(&app.state, &actor(&auth)?, &tenant, &body.deadline).await?;
    Ok((
        StatusCode::CREATED,
        Extension(note("review-open", change)),
        Json(json!({"id": review.0.to_string()})),
    )
        .into_response())
}

/// `GET /api/v1/reviews`: the tenant's campaigns and their items (a provider user sees the
/// items of their organisation's grants).
pub(crate) async fn reviews(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
) -> ApiResult<Json<Value>> {
    let tenant = auth.tenant_id()?;
    let by = actor(&auth)?;
    let grants: std::collections::BTreeMap<GrantId, vigie_state::StoredGrant> = app
        .state
        .grants_on(&tenant)
        .await
        .map_err(ApiError::internal)?
        .into_iter()
        .map(|g| (g.id, g))
        .collect();
    let reviews: Vec<Value> = app
        .state
        .reviews_of(&tenant)
        .await
        .map_err(ApiError::internal)?
        .iter()
        .map(|r| {
            let items: Vec<Value> = r
                .items
                .iter()
                .filter(|(g, _)| {
                    !auth.own_only || grants.get(g).is_some_and(|g| g.grant.analyst.org == by.org)
                })
                .map(|(g, d)| {
                    json!({
                        "grant": grants.get(g).map(grant_json),
                        "decision": vigie_state::reviews::item_name(*d),
                    })
                })
                .collect();
            json!({
                "id": r.id.0.to_string(),
                "deadline": r.deadline.to_rfc3339(vigie_event::UtcOffset::UTC),
                "closed_at": r.closed_at.map(|t| t.to_rfc3339(vigie_event::UtcOffset::UTC)),
                "items": items,
            })
        })
        .collect();
    Ok(Json(json!({ "reviews": reviews })))
}

async fn answer(
    app: &App,
    auth: &Authorized,
    review: &str,
    grant: &str,
    keep: bool,
) -> ApiResult<Response> {
    let tenant = auth.tenant_id()?;
    let review = vigie_state::ReviewId(id(review, "review")?);
    let grant = GrantId(id(grant, "grant")?);
    let change =
        people::decide_review_item(&app.state, &actor(auth)?, &tenant, review, grant, keep).await?;
    let after = change.after.clone().unwrap_or(Value::Null);
    let action = if keep {
        "review-confirm"
    } else {
        "review-remove"
    };
    Ok((Extension(note(action, change)), Json(after)).into_response())
}

/// `POST /api/v1/reviews/{id}/grants/{grant}/confirm`.
pub(crate) async fn confirm_item(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    Path((review, grant)): Path<(String, String)>,
) -> ApiResult<Response> {
    answer(&app, &auth, &review, &grant, true).await
}

/// `POST /api/v1/reviews/{id}/grants/{grant}/remove`.
pub(crate) async fn remove_item(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    Path((review, grant)): Path<(String, String)>,
) -> ApiResult<Response> {
    answer(&app, &auth, &review, &grant, false).await
}

/// `GET /api/v1/settings` (on the tenant of `Vigie-Tenant`): its sensitive fields and the
/// longest elevation it allows.
pub(crate) async fn settings(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
) -> ApiResult<Json<Value>> {
    let tenant = auth.tenant_id()?;
    let settings = app
        .state
        .tenant_settings(&tenant)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "no such tenant"))?;
    Ok(Json(people::settings_json(&settings)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SettingsBody {
    /// The sensitive fields, replacing the current list.
    pub(crate) sensitive_fields: Option<Vec<String>>,
    /// The longest elevation, in hours.
    pub(crate) max_elevation_hours: Option<u32>,
    /// How alerts are grouped (replacing the current settings).
    pub(crate) grouping: Option<vigie_govern::grouping::Grouping>,
}

/// `POST /api/v1/settings` (on the tenant of `Vigie-Tenant`): the client admin sets the
/// tenant's sensitive fields and longest elevation.
pub(crate) async fn set_settings(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    body: Result<Json<SettingsBody>, JsonRejection>,
) -> ApiResult<Response> {
    let Json(body) = body?;
    let tenant = auth.tenant_id()?;
    if body
        .sensitive_fields
        .as_ref()
        .is_some_and(|f| f.iter().any(|f| f.contains(',')))
    {
        return Err(ApiError::bad_request("a sensitive field name has no comma"));
    }
    let list = body.sensitive_fields.map(|f| f.join(","));
    let (after, change) = people::update_tenant_settings(
        &app.state,
        &tenant,
        list.as_deref(),
        body.max_elevation_hours,
        body.grouping,
    )
    .await?;
    let answer = Json(people::settings_json(&after));
    Ok(match change {
        Some(change) => (Extension(note("tenant-settings", change)), answer).into_response(),
        None => answer.into_response(),
    })
}
