//! The HTTP API (axum): ingest, events, alerts, rules, health and metrics. Documented in
//! `openapi.json` (served at `/api/v1/openapi.json`).
//!
//! Every route but health, readiness and the OpenAPI document needs a bearer token. A
//! tenant's token scopes the request to that tenant (naming another one is refused); an
//! administrator's token names the tenant in the `Vigie-Tenant` header. Store and state
//! calls that may take a while run on the blocking pool.
//!
//! Every error is JSON, `{"error": {"code": "<stable code>", "message": "<why>"}}`, whatever
//! produced it:
//! a handler, a bad query parameter, an unknown route or method, a body too large. Ingest
//! authenticates before it reads the body, and reads it within `http.body_timeout_ms`.

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, post};
use vigie_detect::Rules;
use vigie_govern::permission::Action;
use vigie_journal::committer::Appender;
use vigie_store::Store;

use crate::config::Config;
use crate::limits::Quotas;
use crate::metrics::Metrics;
use crate::quarantine::Quarantine;

pub mod access;
pub(crate) mod alerts;
pub(crate) mod assets;
pub(crate) mod audit;
pub(crate) mod auth;
pub(crate) mod buffers;
pub(crate) mod bulk;
pub(crate) mod error;
pub(crate) mod events;
pub(crate) mod groups;
pub(crate) mod health;
pub(crate) mod hunts;
pub(crate) mod ingest;
pub(crate) mod login;
pub(crate) mod me;
pub(crate) mod metrics;
pub(crate) mod notifications;
pub(crate) mod people;
pub(crate) mod quarantine;
pub(crate) mod rules;
pub(crate) mod sensitive;
pub(crate) mod sources;
pub(crate) mod suppressions;

pub use access::{AuditNote, Authorized, Need};
pub use buffers::Buffers;
use error::{ApiError, ApiResult};
pub use login::Hashing;

/// The OpenAPI document.
pub const OPENAPI: &str = include_str!("openapi.json");

/// What handlers share.
#[derive(Clone, Debug)]
pub struct App {
    /// The state database.
    pub state: vigie_state::State,
    /// The event store.
    pub store: Arc<Store>,
    /// The journal's front door.
    pub appender: Appender,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// The rules.
    pub rules: Arc<Rules>,
    /// The tenants' suppressions (the pipeline applies them; the API changes them).
    pub suppressions: Arc<vigie_detect::suppress::Suppressions>,
    /// The retro-hunts running.
    pub hunts: Arc<crate::hunts::Hunts>,
    /// The configuration.
    pub config: Arc<Config>,
    /// Set when the pipeline stopped on an error.
    pub pipeline_failure: Arc<std::sync::Mutex<Option<String>>>,
    /// Per-tenant bounds and budgets.
    pub quotas: Arc<Quotas>,
    /// Records the pipeline set aside.
    pub quarantine: Quarantine,
    /// The memory ingest bodies may hold (`http.max_buffered_mib`).
    pub buffers: Arc<Buffers>,
    /// The audit trail's writer.
    pub auditor: crate::auditor::Auditor,
    /// The instance's secrets (TOTP seeds' key, pseudonym keys, checkpoint key).
    pub secrets: Arc<crate::secrets::Secrets>,
    /// The bound on password hashes at once.
    pub hashing: Arc<login::Hashing>,
    /// The URL browsers reach this server at (`access.public_url`, else the bound
    /// address): identity providers send them back to its `/api/v1/oidc/callback`.
    pub public_url: Arc<String>,
    /// The console's live queues open, per tenant.
    pub live: Arc<crate::limits::LiveStreams>,
    /// The notifier's allow-list, mail relay and webhook secrets.
    pub notifier: Arc<crate::notify::Notifier>,
}

/// Every route: method, path, and what it needs of its caller ([`Need`]). The router is
/// built from this table and nothing else, so a route cannot exist without declaring its
/// need; the route × role × tenant test walks the same table.
pub const ROUTES: &[(&str, &str, Need)] = &[
    ("GET", "/api/v1/health", Need::Public),
    ("GET", "/api/v1/ready", Need::Public),
    ("GET", "/api/v1/openapi.json", Need::Public),
    ("POST", "/api/v1/ingest", Need::Ingest),
    ("GET", "/api/v1/events", Need::Tenant(Action::SearchEvents)),
    (
        "GET",
        "/api/v1/events/histogram",
        Need::Tenant(Action::SearchEvents),
    ),
    (
        "GET",
        "/api/v1/events/terms",
        Need::Tenant(Action::SearchEvents),
    ),
    (
        "GET",
        "/api/v1/events/{id}",
        Need::Tenant(Action::SearchEvents),
    ),
    ("GET", "/api/v1/alerts", Need::Tenant(Action::ReadAlerts)),
    (
        "GET",
        "/api/v1/alerts/{id}",
        Need::Tenant(Action::ReadAlerts),
    ),
    (
        "POST",
        "/api/v1/alerts/{id}/transitions",
        Need::Tenant(Action::TriageAlerts),
    ),
    (
        "POST",
        "/api/v1/alerts/bulk",
        Need::Tenant(Action::TriageAlerts),
    ),
    (
        "POST",
        "/api/v1/alerts/{id}/assign",
        Need::Tenant(Action::TriageAlerts),
    ),
    (
        "POST",
        "/api/v1/alerts/{id}/comments",
        Need::Tenant(Action::TriageAlerts),
    ),
    (
        "GET",
        "/api/v1/alert-groups",
        Need::Tenant(Action::ReadAlerts),
    ),
    (
        "GET",
        "/api/v1/alert-groups/{id}",
        Need::Tenant(Action::ReadAlerts),
    ),
    (
        "POST",
        "/api/v1/alert-groups/{id}/transitions",
        Need::Tenant(Action::TriageAlerts),
    ),
    ("GET", "/api/v1/assets", Need::Tenant(Action::ReadAlerts)),
    ("GET", "/api/v1/sources", Need::Tenant(Action::ReadAlerts)),
    ("PUT", "/api/v1/sources", Need::Tenant(Action::ManageRules)),
    ("GET", "/api/v1/hunts", Need::Tenant(Action::SearchEvents)),
    ("POST", "/api/v1/hunts", Need::Tenant(Action::SearchEvents)),
    (
        "GET",
        "/api/v1/hunts/{id}",
        Need::Tenant(Action::SearchEvents),
    ),
    (
        "POST",
        "/api/v1/hunts/{id}/cancel",
        Need::Tenant(Action::SearchEvents),
    ),
    (
        "POST",
        "/api/v1/hunts/{id}/alerts",
        Need::Tenant(Action::SearchEvents),
    ),
    (
        "GET",
        "/api/v1/suppressions",
        Need::Tenant(Action::ReadAlerts),
    ),
    (
        "POST",
        "/api/v1/suppressions",
        Need::Tenant(Action::ManageRules),
    ),
    (
        "POST",
        "/api/v1/suppressions/preview",
        Need::Tenant(Action::ManageRules),
    ),
    (
        "DELETE",
        "/api/v1/suppressions/{id}",
        Need::Tenant(Action::ManageRules),
    ),
    ("PUT", "/api/v1/assets", Need::Tenant(Action::ApproveGrants)),
    (
        "GET",
        "/api/v1/notification-rules",
        Need::Tenant(Action::ManageNotifications),
    ),
    (
        "POST",
        "/api/v1/notification-rules",
        Need::Tenant(Action::ManageNotifications),
    ),
    (
        "GET",
        "/api/v1/notification-rules/{id}",
        Need::Tenant(Action::ManageNotifications),
    ),
    (
        "POST",
        "/api/v1/notification-rules/{id}/enabled",
        Need::Tenant(Action::ManageNotifications),
    ),
    (
        "DELETE",
        "/api/v1/notification-rules/{id}",
        Need::Tenant(Action::ManageNotifications),
    ),
    (
        "GET",
        "/api/v1/notification-deliveries",
        Need::Tenant(Action::ManageNotifications),
    ),
    (
        "GET",
        "/api/v1/alerts/{id}/history",
        Need::Tenant(Action::ReadAlerts),
    ),
    ("GET", "/api/v1/rules", Need::Tenant(Action::ReadAlerts)),
    ("POST", "/api/v1/rules/reload", Need::Instance),
    (
        "GET",
        "/api/v1/quarantine",
        Need::TenantOrInstance(Action::ReadAlerts),
    ),
    (
        "GET",
        "/api/v1/quarantine/{id}",
        Need::TenantOrInstance(Action::ReadAlerts),
    ),
    ("DELETE", "/api/v1/quarantine/{id}", Need::Instance),
    ("POST", "/api/v1/quarantine/{id}/retry", Need::Instance),
    ("GET", "/metrics", Need::Instance),
    ("POST", "/api/v1/login", Need::Public),
    ("POST", "/api/v1/logout", Need::Own),
    ("POST", "/api/v1/enrol", Need::Public),
    ("GET", "/api/v1/me", Need::Own),
    ("POST", "/api/v1/me/totp", Need::Own),
    ("POST", "/api/v1/me/totp/confirm", Need::Own),
    ("GET", "/api/v1/me/tokens", Need::Own),
    ("POST", "/api/v1/me/tokens", Need::Own),
    ("DELETE", "/api/v1/me/tokens/{id}", Need::Own),
    ("GET", "/api/v1/me/sessions", Need::Own),
    ("GET", "/api/v1/orgs", Need::Instance),
    ("POST", "/api/v1/orgs", Need::Instance),
    ("GET", "/api/v1/users", Need::Org(Action::ManageUsers)),
    ("POST", "/api/v1/users", Need::Org(Action::ManageUsers)),
    (
        "POST",
        "/api/v1/users/{id}/suspend",
        Need::Org(Action::ManageUsers),
    ),
    (
        "POST",
        "/api/v1/users/{id}/activate",
        Need::Org(Action::ManageUsers),
    ),
    (
        "DELETE",
        "/api/v1/users/{id}/sessions",
        Need::Org(Action::ManageUsers),
    ),
    (
        "POST",
        "/api/v1/users/{id}/mfa/reset",
        Need::Org(Action::ManageUsers),
    ),
    ("GET", "/api/v1/grants", Need::Own),
    ("POST", "/api/v1/grants", Need::Org(Action::RequestGrants)),
    (
        "POST",
        "/api/v1/grants/{id}/approve",
        Need::Org(Action::ApproveGrants),
    ),
    (
        "POST",
        "/api/v1/grants/{id}/refuse",
        Need::Org(Action::ApproveGrants),
    ),
    (
        "POST",
        "/api/v1/grants/{id}/revoke",
        Need::Org(Action::RevokeGrants),
    ),
    (
        "POST",
        "/api/v1/elevations",
        Need::Tenant(Action::RequestElevation),
    ),
    (
        "POST",
        "/api/v1/elevations/{id}/approve",
        Need::Org(Action::ApproveGrants),
    ),
    (
        "POST",
        "/api/v1/elevations/{id}/refuse",
        Need::Org(Action::ApproveGrants),
    ),
    (
        "GET",
        "/api/v1/audit",
        Need::TenantOrInstance(Action::ReadAudit),
    ),
    ("GET", "/api/v1/oidc/{org}/start", Need::Public),
    ("GET", "/api/v1/oidc/callback", Need::Public),
    ("POST", "/api/v1/me/step-up", Need::Own),
    ("GET", "/api/v1/reviews", Need::Tenant(Action::ReadAudit)),
    ("GET", "/api/v1/settings", Need::Tenant(Action::ReadAudit)),
    (
        "POST",
        "/api/v1/settings",
        Need::Tenant(Action::ApproveGrants),
    ),
    (
        "POST",
        "/api/v1/reviews",
        Need::Tenant(Action::ApproveGrants),
    ),
    (
        "POST",
        "/api/v1/reviews/{id}/grants/{grant}/confirm",
        Need::Tenant(Action::ApproveGrants),
    ),
    (
        "POST",
        "/api/v1/reviews/{id}/grants/{grant}/remove",
        Need::Tenant(Action::ApproveGrants),
    ),
];

/// The handler of a route of [`ROUTES`].
fn handler(method: &str, path: &str) -> Option<MethodRouter<App>> {
    Some(match (method, path) {
        ("GET", "/api/v1/health") => get(health::health),
        ("GET", "/api/v1/ready") => get(health::ready),
        ("GET", "/api/v1/openapi.json") => get(health::openapi),
        ("POST", "/api/v1/ingest") => {
            post(ingest::ingest_batch).layer(axum::middleware::map_response(close_on_error))
        }
        ("GET", "/api/v1/events") => get(events::events),
        ("GET", "/api/v1/events/histogram") => get(events::histogram),
        ("GET", "/api/v1/events/terms") => get(events::terms),
        ("GET", "/api/v1/events/{id}") => get(events::event),
        ("GET", "/api/v1/alerts") => get(alerts::alerts),
        ("GET", "/api/v1/alerts/{id}") => get(alerts::alert),
        ("POST", "/api/v1/alerts/{id}/transitions") => post(alerts::transition),
        ("GET", "/api/v1/alerts/{id}/history") => get(alerts::history),
        ("POST", "/api/v1/alerts/bulk") => post(bulk::bulk),
        ("POST", "/api/v1/alerts/{id}/assign") => post(alerts::assign),
        ("POST", "/api/v1/alerts/{id}/comments") => post(alerts::comment),
        ("GET", "/api/v1/alert-groups") => get(groups::groups),
        ("GET", "/api/v1/alert-groups/{id}") => get(groups::group),
        ("POST", "/api/v1/alert-groups/{id}/transitions") => post(groups::transition),
        ("GET", "/api/v1/assets") => get(assets::assets),
        ("GET", "/api/v1/sources") => get(sources::list),
        ("PUT", "/api/v1/sources") => axum::routing::put(sources::set),
        ("GET", "/api/v1/hunts") => get(hunts::list),
        ("POST", "/api/v1/hunts") => post(hunts::start),
        ("GET", "/api/v1/hunts/{id}") => get(hunts::show),
        ("POST", "/api/v1/hunts/{id}/cancel") => post(hunts::cancel),
        ("POST", "/api/v1/hunts/{id}/alerts") => post(hunts::alerts),
        ("GET", "/api/v1/notification-rules") => get(notifications::list),
        ("POST", "/api/v1/notification-rules") => post(notifications::create),
        ("GET", "/api/v1/notification-rules/{id}") => get(notifications::show),
        ("POST", "/api/v1/notification-rules/{id}/enabled") => post(notifications::set_enabled),
        ("DELETE", "/api/v1/notification-rules/{id}") => {
            axum::routing::delete(notifications::remove)
        }
        ("GET", "/api/v1/notification-deliveries") => get(notifications::deliveries),
        ("GET", "/api/v1/suppressions") => get(suppressions::list),
        ("POST", "/api/v1/suppressions") => post(suppressions::create),
        ("POST", "/api/v1/suppressions/preview") => post(suppressions::preview),
        ("DELETE", "/api/v1/suppressions/{id}") => axum::routing::delete(suppressions::remove),
        ("PUT", "/api/v1/assets") => axum::routing::put(assets::import).layer(
            axum::extract::DefaultBodyLimit::max(assets::MAX_IMPORT_BYTES),
        ),
        ("GET", "/api/v1/rules") => get(rules::rules),
        ("POST", "/api/v1/rules/reload") => post(rules::reload),
        ("GET", "/api/v1/quarantine") => get(quarantine::quarantine_list),
        ("GET", "/api/v1/quarantine/{id}") => get(quarantine::quarantine_show),
        ("DELETE", "/api/v1/quarantine/{id}") => delete(quarantine::quarantine_drop),
        ("POST", "/api/v1/quarantine/{id}/retry") => post(quarantine::quarantine_retry),
        ("GET", "/metrics") => get(metrics::metrics),
        ("POST", "/api/v1/login") => post(login::login),
        ("POST", "/api/v1/logout") => post(login::logout),
        ("POST", "/api/v1/enrol") => post(login::enrol),
        ("GET", "/api/v1/me") => get(me::me),
        ("POST", "/api/v1/me/totp") => post(me::totp_start),
        ("POST", "/api/v1/me/totp/confirm") => post(me::totp_confirm),
        ("GET", "/api/v1/me/tokens") => get(me::tokens),
        ("POST", "/api/v1/me/tokens") => post(me::create_token),
        ("DELETE", "/api/v1/me/tokens/{id}") => delete(me::revoke_token),
        ("GET", "/api/v1/me/sessions") => get(me::sessions),
        ("GET", "/api/v1/orgs") => get(people::orgs),
        ("POST", "/api/v1/orgs") => post(people::create_org),
        ("GET", "/api/v1/users") => get(people::users),
        ("POST", "/api/v1/users") => post(people::create_user),
        ("POST", "/api/v1/users/{id}/suspend") => post(people::suspend),
        ("POST", "/api/v1/users/{id}/activate") => post(people::activate),
        ("DELETE", "/api/v1/users/{id}/sessions") => delete(people::end_sessions),
        ("POST", "/api/v1/users/{id}/mfa/reset") => post(people::reset_mfa),
        ("GET", "/api/v1/grants") => get(people::grants),
        ("POST", "/api/v1/grants") => post(people::request_grant),
        ("POST", "/api/v1/grants/{id}/approve") => post(people::approve_grant),
        ("POST", "/api/v1/grants/{id}/refuse") => post(people::refuse_grant),
        ("POST", "/api/v1/grants/{id}/revoke") => post(people::revoke_grant),
        ("POST", "/api/v1/elevations") => post(people::request_elevation),
        ("POST", "/api/v1/elevations/{id}/approve") => post(people::approve_elevation),
        ("POST", "/api/v1/elevations/{id}/refuse") => post(people::refuse_elevation),
        ("GET", "/api/v1/audit") => get(audit::audit),
        ("GET", "/api/v1/oidc/{org}/start") => get(login::oidc_start),
        ("GET", "/api/v1/oidc/callback") => get(login::oidc_callback),
        ("POST", "/api/v1/me/step-up") => post(me::step_up),
        ("GET", "/api/v1/reviews") => get(people::reviews),
        ("GET", "/api/v1/settings") => get(people::settings),
        ("POST", "/api/v1/settings") => post(people::set_settings),
        ("POST", "/api/v1/reviews") => post(people::open_review),
        ("POST", "/api/v1/reviews/{id}/grants/{grant}/confirm") => post(people::confirm_item),
        ("POST", "/api/v1/reviews/{id}/grants/{grant}/remove") => post(people::remove_item),
        _ => return None,
    })
}

/// The router of every route of [`ROUTES`], each behind [`access::authorize`] with its
/// need, and the routes of `pages` (the console's, which answer in HTML) before the
/// fallback.
pub fn router(app: App, pages: Router<App>) -> Router {
    let mut router = Router::new();
    for (method, path, need) in ROUTES {
        let Some(handler) = handler(method, path) else {
            // Caught by `every_route_of_the_table_has_a_handler`.
            continue;
        };
        router = router.route(
            path,
            handler.route_layer(axum::middleware::from_fn_with_state(
                (app.clone(), *need),
                access::authorize,
            )),
        );
    }
    router
        .merge(pages)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn(json_errors))
        .with_state(app)
}

/// An ingest error may come before the body was read (a bad token, a Content-Length over
/// the limit, a quota): the connection then holds unread bytes and cannot carry another
/// request, so the answer says `Connection: close` (RFC 9112 §9.6) and a client does not
/// send its next request into it.
async fn close_on_error(mut response: Response) -> Response {
    if !response.status().is_success() {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// The longest request target (path and query) served; longer ones get 414.
pub const MAX_URI_BYTES: usize = 8192;

/// Refuses over-long targets, and turns the plain-text answers axum's own layers give (a
/// body over the limit, for one) into the JSON error every client of the API reads.
async fn json_errors(request: Request, next: axum::middleware::Next) -> Response {
    let target = request
        .uri()
        .path_and_query()
        .map_or(0, |p| p.as_str().len());
    // The console answers in HTML, errors included.
    let console = request.uri().path() == "/" || request.uri().path().starts_with("/console");
    if target > MAX_URI_BYTES {
        return ApiError::coded(
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
            format!("the request target is {target} bytes; at most {MAX_URI_BYTES}"),
        )
        .into_response();
    }
    let response = next.run(request).await;
    if console {
        return response;
    }
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if status.is_success() || is_json || status.is_informational() || status.is_redirection() {
        return response;
    }
    let (code, message) = match status {
        StatusCode::PAYLOAD_TOO_LARGE => ("body_too_large", "the request body is too large"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported_media_type", "unsupported media type"),
        StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "method not allowed"),
        StatusCode::BAD_REQUEST => ("bad_request", "bad request"),
        _ => ("error", "the request failed"),
    };
    let bytes = axum::body::to_bytes(response.into_body(), 4096)
        .await
        .unwrap_or_default();
    let detail = String::from_utf8_lossy(&bytes);
    let message = if detail.trim().is_empty() {
        message.to_owned()
    } else {
        detail.trim().to_owned()
    };
    ApiError::coded(status, code, message).into_response()
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(ApiError::internal)?
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "this route does not take this method (see /api/v1/openapi.json)",
    )
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no such route (see /api/v1/openapi.json)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_of_the_table_has_a_handler_once() {
        let mut seen = std::collections::BTreeSet::new();
        for (method, path, _) in ROUTES {
            assert!(
                handler(method, path).is_some(),
                "{method} {path} has no handler"
            );
            assert!(
                seen.insert((method, path)),
                "{method} {path} is listed twice"
            );
        }
    }

    #[test]
    fn every_route_is_in_the_openapi_document() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).expect("openapi.json");
        for (method, path, _) in ROUTES {
            if *path == "/metrics" {
                continue;
            }
            let key = path.trim_start_matches("/api/v1");
            let entry = doc["paths"]
                .get(key)
                .or_else(|| doc["paths"].get(*path))
                .unwrap_or_else(|| panic!("{path} is not in openapi.json"));
            assert!(
                entry.get(method.to_ascii_lowercase()).is_some(),
                "{method} {path} is not in openapi.json"
            );
        }
    }
}
