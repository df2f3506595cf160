//! `/health`, `/ready` and the OpenAPI document: the routes that need no token.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::access::{Caller, resolve};
use super::{App, OPENAPI};

pub(crate) async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Ready or not, to anyone (a load balancer's probe); the journal, store and pipeline
/// details only to an administrator, as they tell how much every tenant sends.
pub(crate) async fn ready(State(app): State<App>, headers: HeaderMap) -> Response {
    let failure = app
        .pipeline_failure
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let status = if failure.is_some() {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    let word = if failure.is_some() {
        "not ready"
    } else {
        "ready"
    };
    let operator = match resolve(&app, &headers).await {
        Ok(Some(Caller::Person { user, .. })) => user.role == vigie_govern::Role::Operator,
        _ => false,
    };
    if !operator {
        return (status, Json(json!({ "status": word }))).into_response();
    }
    let journal = app.appender.shared();
    let body = json!({
        "status": word,
        "journal": { "durable_end": journal.durable_end(), "checkpoint": journal.checkpoint(), "lag_bytes": journal.lag() },
        "store": { "partitions": app.store.partitions().len() },
        "pipeline": failure.as_deref().unwrap_or("running"),
    });
    (status, Json(body)).into_response()
}

pub(crate) async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}
