//! `/rules`, `/rules/reload`: the rule book in force, and reloading it.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};
use vigie_detect::RuleBook;

use super::error::{ApiError, ApiResult};
use super::{App, blocking};

pub(crate) async fn rules(State(app): State<App>) -> ApiResult<Json<Value>> {
    Ok(Json(summary(&app.rules.current())))
}

/// What `/rules` and `/rules/reload` say about a rule book.
pub(crate) fn summary(book: &RuleBook) -> Value {
    json!({
        "generation": book.generation,
        "rules": book.rules.len(),
        "correlations": book.correlation_rules.len(),
        "rejected": book.rejected.len(),
        "load_ms": book.load_ms,
    })
}

pub(crate) async fn reload(State(app): State<App>) -> ApiResult<Json<Value>> {
    let rules = Arc::clone(&app.rules);
    let book = blocking(move || {
        rules
            .reload()
            .map_err(|e| ApiError::coded(StatusCode::BAD_REQUEST, "bad_rules", e.to_string()))
    })
    .await?;
    app.metrics.pipeline.reloads.fetch_add(1, Ordering::Relaxed);
    tracing::info!(
        generation = book.generation,
        rules = book.rules.len(),
        "rules reloaded on request"
    );
    Ok(Json(summary(&book)))
}
