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
use std::sync::atomic::Ordering;

use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use vigie_event::time::Timestamp;
use vigie_event::{Decoder, EventId, Origin, Source, SourceKind, TenantId};
use vigie_state::{AlertCursor, AlertFilter, AlertId, AlertStatus, Idempotent, Principal};
use vigie_store::{Aggregation, AggregationResult, Cursor, Order, Search, Store, TimeRange};

use crate::config::Config;
use crate::intake::body;
use crate::limits::Quotas;
use crate::metrics::Metrics;
use crate::quarantine::Quarantine;
use vigie_detect::{RuleBook, Rules};
use vigie_event::render;
use vigie_journal::committer::{Appender, Refused};
use vigie_journal::record::{Batch, Framing};

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

use alerts::*;
use auth::*;
pub use buffers::Buffers;
use buffers::*;
use error::*;
use events::*;
use health::*;
use ingest::*;
use metrics::*;
use quarantine::*;
use rules::*;

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
        .route("/api/v1/health", get(health))
        .route("/api/v1/ready", get(ready))
        .route("/api/v1/openapi.json", get(openapi))
        .route(
            "/api/v1/ingest",
            post(ingest_batch).layer(axum::middleware::map_response(close_on_error)),
        )
        .route("/api/v1/events", get(events))
        .route("/api/v1/events/histogram", get(histogram))
        .route("/api/v1/events/{id}", get(event))
        .route("/api/v1/alerts", get(alerts))
        .route("/api/v1/alerts/{id}", get(alert))
        .route("/api/v1/rules", get(rules))
        .route("/api/v1/rules/reload", post(reload))
        .route("/api/v1/quarantine", get(quarantine_list))
        .route(
            "/api/v1/quarantine/{id}",
            get(quarantine_show).delete(quarantine_drop),
        )
        .route("/api/v1/quarantine/{id}/retry", post(quarantine_retry))
        .route("/metrics", get(metrics))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_scheme_is_case_insensitive_and_the_token_required() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer abc"), Some("abc"));
        assert_eq!(bearer("BEARER   abc  "), Some("abc"));
        assert_eq!(bearer("  Bearer abc"), Some("abc"));
        assert_eq!(bearer("Bearer "), None);
        assert_eq!(bearer("Bearer"), None);
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearerabc"), None);
    }

    fn headers(pairs: &[(&'static str, &[u8])]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_bytes(v).expect("header"));
        }
        h
    }

    #[test]
    fn only_gzip_and_identity_bodies_are_taken() {
        assert!(!encoding(&headers(&[])).expect("none"));
        for gz in [&b"gzip"[..], b"GZip", b" x-gzip "] {
            assert!(encoding(&headers(&[("content-encoding", gz)])).expect("gzip"));
        }
        assert!(!encoding(&headers(&[("content-encoding", b"identity")])).expect("identity"));
        for other in [&b"br"[..], b"deflate", b"gzip, br", b"\xff"] {
            let err = encoding(&headers(&[("content-encoding", other)])).expect_err("refused");
            assert_eq!(
                (err.status, err.code),
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_encoding")
            );
        }
    }

    #[test]
    fn idempotency_keys_are_visible_ascii_up_to_255() {
        assert_eq!(idempotency_key(&headers(&[])).expect("none"), None);
        let k = "a".repeat(255);
        assert_eq!(
            idempotency_key(&headers(&[("idempotency-key", k.as_bytes())])).expect("255"),
            Some(k.clone())
        );
        for bad in [
            "a".repeat(256).into_bytes(),
            b"a b".to_vec(),
            b"caf\xc3\xa9".to_vec(),
            b"\t".to_vec(),
        ] {
            let err = idempotency_key(&headers(&[("idempotency-key", &bad)])).expect_err("bad");
            assert_eq!(err.code, "bad_idempotency_key");
        }
        assert!(idempotency_key(&headers(&[("idempotency-key", b"!~")])).is_ok());
    }

    #[test]
    fn levels_are_checked_and_folded() {
        assert_eq!(
            levels("High, critical").expect("ok"),
            vec!["high", "critical"]
        );
        assert_eq!(levels("informational,low,medium").expect("ok").len(), 3);
        let err = levels("high,hgih").expect_err("typo");
        assert_eq!(err.code, "bad_parameter");
        assert!(err.message.contains("hgih"), "{}", err.message);
    }

    #[test]
    fn ingest_memory_is_shared_by_quarters_and_given_back() {
        let buffers = Buffers::new(4); // 4 MiB: a tenant may hold 1 MiB.
        let a = TenantId::new("a").expect("tenant");
        let b = TenantId::new("b").expect("tenant");
        let mut held = buffers.take(&a, 512 << 10).expect("half of a's quarter");
        assert!(buffers.take(&a, 600 << 10).is_none(), "over a's quarter");
        assert!(held.grow(512 << 10), "a's quarter, exactly");
        assert!(!held.grow(1), "nothing left for a");
        let others: Vec<Held> = ["b", "c", "d"]
            .iter()
            .map(|t| {
                buffers
                    .take(&TenantId::new(t).expect("tenant"), 1 << 20)
                    .expect("a quarter")
            })
            .collect();
        // Every quarter is taken: even a tenant with room left finds none globally.
        let e = TenantId::new("e").expect("tenant");
        assert!(buffers.take(&e, 1024).is_none());
        drop(held);
        assert!(buffers.take(&e, 1 << 20).is_some(), "a's memory came back");
        drop(others);
        assert!(buffers.take(&b, 1 << 20).is_some());
        // Sizes round up to whole KiB; a zero-byte body still takes one.
        let tiny = Buffers::new(4);
        let one: Vec<Held> = (0..1024)
            .map(|_| tiny.take(&a, 0).expect("1 KiB"))
            .collect();
        assert!(tiny.take(&a, 1).is_none());
        drop(one);
    }

    #[test]
    fn errors_render_as_json_with_their_code_and_retry_after() {
        let response = ApiError::busy(StatusCode::TOO_MANY_REQUESTS, "later").into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        let response = ApiError::new(StatusCode::NOT_FOUND, "x").into_response();
        assert!(response.headers().get(header::RETRY_AFTER).is_none());
        for (status, code) in [
            (StatusCode::BAD_REQUEST, "bad_request"),
            (StatusCode::UNAUTHORIZED, "unauthorized"),
            (StatusCode::FORBIDDEN, "forbidden"),
            (StatusCode::NOT_FOUND, "not_found"),
            (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"),
            (StatusCode::URI_TOO_LONG, "uri_too_long"),
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
            (StatusCode::UNPROCESSABLE_ENTITY, "quota_exceeded"),
            (StatusCode::REQUEST_TIMEOUT, "timeout"),
            (StatusCode::TOO_MANY_REQUESTS, "overloaded"),
            (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        ] {
            assert_eq!(default_code(status), code);
        }
    }
}
