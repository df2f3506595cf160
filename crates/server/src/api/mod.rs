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
use axum::routing::{get, post};
use vigie_detect::Rules;
use vigie_journal::committer::Appender;
use vigie_store::Store;

use crate::config::Config;
use crate::limits::Quotas;
use crate::metrics::Metrics;
use crate::quarantine::Quarantine;

mod alerts;
mod auth;
mod buffers;
mod error;
mod events;
mod health;
mod ingest;
mod metrics;
mod quarantine;
mod rules;

pub use buffers::Buffers;
use error::{ApiError, ApiResult};

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
}

/// The router of every route.
pub fn router(app: App) -> Router {
    Router::new()
        .route("/api/v1/health", get(health::health))
        .route("/api/v1/ready", get(health::ready))
        .route("/api/v1/openapi.json", get(health::openapi))
        .route(
            "/api/v1/ingest",
            post(ingest::ingest_batch).layer(axum::middleware::map_response(close_on_error)),
        )
        .route("/api/v1/events", get(events::events))
        .route("/api/v1/events/histogram", get(events::histogram))
        .route("/api/v1/events/{id}", get(events::event))
        .route("/api/v1/alerts", get(alerts::alerts))
        .route("/api/v1/alerts/{id}", get(alerts::alert))
        .route("/api/v1/rules", get(rules::rules))
        .route("/api/v1/rules/reload", post(rules::reload))
        .route("/api/v1/quarantine", get(quarantine::quarantine_list))
        .route(
            "/api/v1/quarantine/{id}",
            get(quarantine::quarantine_show).delete(quarantine::quarantine_drop),
        )
        .route(
            "/api/v1/quarantine/{id}/retry",
            post(quarantine::quarantine_retry),
        )
        .route("/metrics", get(metrics::metrics))
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
    if target > MAX_URI_BYTES {
        return ApiError::coded(
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
            format!("the request target is {target} bytes; at most {MAX_URI_BYTES}"),
        )
        .into_response();
    }
    let response = next.run(request).await;
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
