//! Administration pages, per the permission table: grants and elevations (request,
//! approve, refuse, revoke — with who decided and when), the organisation's users
//! (create with an enrolment token shown once, suspend, activate). Through the API's
//! `/grants`, `/elevations` and `/users` handlers.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form, Json};
use serde::Deserialize;
use serde_json::Value;
use vigie_govern::grant::UserId;
use vigie_govern::permission::{Action, Cell, allows};
use vigie_govern::{OrgKind, Role};

use super::chrome::Chrome;
use super::view::{Access, ElevationRow, GrantRow, Page, UserRow, Users};
use super::{DoneParams, after, text, through};
use crate::api::App;
use crate::api::access::Authorized;
use crate::api::error::ApiError;
use crate::api::people as api;

fn may(auth: &Authorized, action: Action) -> bool {
    auth.caller
        .user()
        .is_some_and(|u| allows(u.role, action) != Cell::Deny)
}

/// What a form's redirect says was done, as a catalog key.
fn done_key(done: Option<&str>) -> Option<&'static str> {
    Some(match done? {
        "approved" => "done.grant.approved",
        "refused" => "done.grant.refused",
        "revoked" => "done.grant.revoked",
        "requested" => "done.grant.requested",
        "elevation-approved" => "done.elevation.approved",
        "elevation-refused" => "done.elevation.refused",
        "suspended" => "done.user.suspended",
        "activated" => "done.user.activated",
        "mfa-reset" => "done.user.mfareset",
        _ => return None,
    })
}

/// The display names of users by id, looked up once each.
async fn names(app: &App, ids: impl IntoIterator<Item = String>) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for id in ids {
        if out.contains_key(&id) {
            continue;
        }
        let Ok(n) = id.parse::<u64>() else { continue };
        if let Ok(Some(user)) = app.state.user(UserId(n)).await {
            out.insert(id, format!("{} ({})", user.name, user.login));
        }
    }
    out
}

/// `GET /console/access`.
pub(crate) async fn access(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    headers: HeaderMap,
    Query(p): Query<DoneParams>,
) -> Response {
    let api = api::grants(State(app.clone()), Extension(auth.clone())).await;
    let (json, carry) = match through(api).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let chrome = match Chrome::of(&app, &auth, &headers, "access.title", "/console/access").await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let grants = json["grants"].as_array().cloned().unwrap_or_default();
    let ids: Vec<String> = grants
        .iter()
        .flat_map(|g: &Value| [text(&g["analyst"]), text(&g["decided_by"])])
        .collect();
    let people = names(&app, ids).await;
    let name = |id: &str| people.get(id).cloned().unwrap_or_else(|| id.to_owned());
    let rows: Vec<GrantRow> = grants
        .iter()
        .map(|g| {
            let decided_by = text(&g["decided_by"]);
            GrantRow {
                id: text(&g["id"]),
                tenant: text(&g["tenant"]),
                analyst: name(&text(&g["analyst"])),
                tier: text(&g["tier"]),
                from: text(&g["from"]),
                until: text(&g["until"]),
                justification: text(&g["justification"]),
                status: text(&g["status"]),
                decided: if decided_by.is_empty() {
                    String::new()
                } else {
                    format!("{}, {}", name(&decided_by), text(&g["decided_at"]))
                },
            }
        })
        .collect();
    // The elevations asked on these grants (what a client admin decides).
    let tenants: HashMap<u64, String> = grants
        .iter()
        .filter_map(|g| Some((text(&g["id"]).parse().ok()?, text(&g["tenant"]))))
        .collect();
    let ids: Vec<vigie_state::GrantId> =
        tenants.keys().map(|id| vigie_state::GrantId(*id)).collect();
    let elevations = match app.state.elevations_of(&ids).await {
        Ok(e) => e,
        Err(e) => return ApiError::internal(e).into_response(),
    };
    let elevations = elevations
        .into_iter()
        .map(|e| ElevationRow {
            id: e.id.0.to_string(),
            tenant: tenants.get(&e.grant.0).cloned().unwrap_or_default(),
            alert: e.alert,
            hours: e.hours,
            justification: e.justification,
            status: e.status,
        })
        .collect();
    let page = Access {
        chrome,
        done: done_key(p.done.as_deref()),
        grants: rows,
        elevations,
        may_approve: may(&auth, Action::ApproveGrants),
        may_revoke: may(&auth, Action::RevokeGrants),
        may_request: may(&auth, Action::RequestGrants),
    };
    carry.onto(page.page())
}

#[derive(Deserialize)]
pub(crate) struct GrantForm {
    analyst: String,
    tenant: String,
    tier: String,
    until: String,
    justification: String,
}

/// `POST /console/access/grants`.
pub(crate) async fn request_grant(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    Form(f): Form<GrantForm>,
) -> Response {
    let input = crate::people::GrantInput {
        analyst: f.analyst.trim().to_owned(),
        tenant: f.tenant.trim().to_owned(),
        tier: f.tier,
        from: None,
        until: f.until.trim().to_owned(),
        justification: f.justification,
    };
    let api = api::request_grant(State(app), Extension(auth), Ok(Json(input))).await;
    after(api, "/console/access?done=requested").await
}

/// `POST /console/access/grants/{id}/approve`.
pub(crate) async fn approve_grant(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    Path(id): Path<String>,
) -> Response {
    let api = api::approve_grant(State(app), Extension(auth), Path(id)).await;
    after(api, "/console/access?done=approved").await
}

/// `POST /console/access/grants/{id}/refuse`.
pub(crate) async fn refuse_grant(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    Path(id): Path<String>,
) -> Response {
    let api = api::refuse_grant(State(app), Extension(auth), Path(id)).await;
    after(api, "/console/access?done=refused").await
}

/// `POST /console/access/grants/{id}/revoke`.
pub(crate) async fn revoke_grant(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    Path(id): Path<String>,
) -> Response {
    let api = api::revoke_grant(State(app), Extension(auth), Path(id)).await;
    after(api, "/console/access?done=revoked").await
}

/// `POST /console/access/elevations/{id}/approve`.
pub(crate) async fn approve_elevation(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    Path(id): Path<String>,
) -> Response {
    let api = api::approve_elevation(State(app), Extension(auth), Path(id)).await;
    after(api, "/console/access?done=elevation-approved").await
}

/// `POST /console/access/elevations/{id}/refuse`.
pub(crate) async fn refuse_elevation(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    Path(id): Path<String>,
) -> Response {
    let api = api::refuse_elevation(State(app), Extension(auth), Path(id)).await;
    after(api, "/console/access?done=elevation-refused").await
}

/// The roles an administrator of `kind` may give.
fn roles_of(kind: OrgKind) -> Vec<&'static str> {
    let roles: &[Role] = match kind {
        OrgKind::Client => &[
            Role::ClientAdmin,
            Role::Ciso,
            Role::ClientAnalyst,
            Role::Auditor,
        ],
        OrgKind::Provider => &[
            Role::ProviderAdmin,
            Role::ProviderAnalyst(vigie_govern::role::Tier::L1),
        ],
        OrgKind::Operator => &[Role::Operator],
    };
    roles.iter().map(|r| r.as_str()).collect()
}

async fn users_page(
    app: &App,
    auth: &Authorized,
    headers: &HeaderMap,
    done: Option<&'static str>,
    enrolment: Option<String>,
) -> Response {
    let api = api::users(State(app.clone()), Extension(auth.clone())).await;
    let (json, carry) = match through(api).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let chrome = match Chrome::of(app, auth, headers, "users.title", "/console/users").await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let kind = auth
        .caller
        .user()
        .map_or(OrgKind::Client, |u| u.role.org_kind());
    let page = Users {
        chrome,
        done,
        enrolment,
        users: json["users"]
            .as_array()
            .map(|u| {
                u.iter()
                    .map(|u| UserRow {
                        id: text(&u["id"]),
                        login: text(&u["login"]),
                        name: text(&u["name"]),
                        role: text(&u["role"]),
                        status: text(&u["status"]),
                        mfa: u["mfa_enrolled"].as_bool().unwrap_or(false),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        roles: roles_of(kind),
        me: auth
            .caller
            .user()
            .map_or_else(String::new, |u| u.id.0.to_string()),
    };
    carry.onto(page.page())
}

/// `GET /console/users`.
pub(crate) async fn users(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    headers: HeaderMap,
    Query(p): Query<DoneParams>,
) -> Response {
    users_page(&app, &auth, &headers, done_key(p.done.as_deref()), None).await
}

#[derive(Deserialize)]
pub(crate) struct UserForm {
    login: String,
    name: String,
    role: String,
}

/// `POST /console/users`: the new user's enrolment token is shown once.
pub(crate) async fn create_user(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    headers: HeaderMap,
    Form(f): Form<UserForm>,
) -> Response {
    let input = crate::people::UserInput {
        org: None,
        login: f.login.trim().to_owned(),
        name: f.name.trim().to_owned(),
        role: f.role,
        contract_end: None,
    };
    let api = api::create_user(State(app.clone()), Extension(auth.clone()), Ok(Json(input))).await;
    let (json, carry) = match through(api).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let token = text(&json["enrolment_token"]);
    carry.onto(
        users_page(
            &app,
            &auth,
            &headers,
            Some("done.user.created"),
            Some(token),
        )
        .await,
    )
}

/// `POST /console/users/{id}/suspend`.
pub(crate) async fn suspend(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    Path(id): Path<String>,
) -> Response {
    let api = api::suspend(State(app), Extension(auth), Path(id)).await;
    after(api, "/console/users?done=suspended").await
}

/// `POST /console/users/{id}/activate`.
pub(crate) async fn activate(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    Path(id): Path<String>,
) -> Response {
    let api = api::activate(State(app), Extension(auth), Path(id)).await;
    after(api, "/console/users?done=activated").await
}

/// `POST /console/users/{id}/mfa/reset`.
pub(crate) async fn reset_mfa(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    Path(id): Path<String>,
) -> Response {
    let api = api::reset_mfa(State(app), Extension(auth), Path(id)).await;
    after(api, "/console/users?done=mfa-reset").await
}

/// `GET /console/orgs`: every organisation with its kind and tenants (the operator's).
pub(crate) async fn orgs(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    headers: HeaderMap,
    Query(p): Query<DoneParams>,
) -> Response {
    let (json, carry) = match through(api::orgs(State(app.clone())).await).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let chrome = match Chrome::of(&app, &auth, &headers, "orgs.title", "/console/orgs").await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let mut orgs = Vec::new();
    for o in json["organisations"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        let tenants = match text(&o["id"]).parse::<u64>() {
            Ok(id) => app
                .state
                .tenants_of(vigie_govern::grant::OrgId(id))
                .await
                .map(|t| {
                    t.iter()
                        .map(|t| t.as_str().to_owned())
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default(),
            Err(_) => String::new(),
        };
        orgs.push((text(&o["name"]), text(&o["kind"]), tenants));
    }
    let page = super::view::Orgs {
        chrome,
        done: (p.done.as_deref() == Some("created")).then_some("done.org.created"),
        orgs,
    };
    carry.onto(page.page())
}

#[derive(Deserialize)]
pub(crate) struct OrgForm {
    name: String,
    kind: String,
}

/// `POST /console/orgs`.
pub(crate) async fn create_org(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    Form(f): Form<OrgForm>,
) -> Response {
    let body = api::OrgBody {
        name: f.name.trim().to_owned(),
        kind: f.kind,
    };
    let api = api::create_org(State(app), Extension(auth), Ok(Json(body))).await;
    after(api, "/console/orgs?done=created").await
}
