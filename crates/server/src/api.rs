//! The HTTP API (axum): ingest, events, alerts, rules, health and metrics. Documented in
//! `openapi.json` (served at `/api/v1/openapi.json`).
//!
//! Every route but health, readiness and the OpenAPI document needs a bearer token. A
//! tenant's token scopes the request to that tenant (naming another one is refused); an
//! administrator's token names the tenant in the `Vigie-Tenant` header. Store and state
//! calls that may take a while run on the blocking pool.
//!
//! Every error is JSON, `{"error": "<why>", "code": "<stable code>"}`, whatever produced it:
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
use crate::ingest;
use crate::limits::Quotas;
use crate::metrics::Metrics;
use crate::quarantine::Quarantine;
use vigie_detect::{RuleBook, Rules};
use vigie_event::render;
use vigie_journal::committer::{Appender, Refused};
use vigie_journal::record::{Batch, Framing};

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

/// The memory ingest bodies hold at once, in KiB permits: a global budget, and a quarter of it
/// per tenant, so that one tenant's large or slow bodies cannot take the memory the others'
/// need. A request that does not fit is refused at once with 429 (never queued: a queue would
/// let a slow tenant delay the others).
#[derive(Debug)]
pub struct Buffers {
    global: Arc<Semaphore>,
    share: usize,
    tenants: std::sync::Mutex<std::collections::HashMap<TenantId, Arc<Semaphore>>>,
}

/// What a request holds of [`Buffers`] until it is dropped.
#[derive(Debug)]
pub struct Held {
    global: tokio::sync::OwnedSemaphorePermit,
    tenant: tokio::sync::OwnedSemaphorePermit,
    global_pool: Arc<Semaphore>,
    tenant_pool: Arc<Semaphore>,
}

impl Held {
    /// Takes `bytes` more (an inflating body growing), or says no.
    pub fn grow(&mut self, bytes: usize) -> bool {
        let Ok(kib) = u32::try_from(bytes.div_ceil(1024).max(1)) else {
            return false;
        };
        let Ok(tenant) = Arc::clone(&self.tenant_pool).try_acquire_many_owned(kib) else {
            return false;
        };
        let Ok(global) = Arc::clone(&self.global_pool).try_acquire_many_owned(kib) else {
            return false;
        };
        self.tenant.merge(tenant);
        self.global.merge(global);
        true
    }
}

impl Buffers {
    /// A budget of `mib` MiB.
    pub fn new(mib: usize) -> Buffers {
        let kib = mib.saturating_mul(1024).min(Semaphore::MAX_PERMITS);
        Buffers {
            global: Arc::new(Semaphore::new(kib)),
            share: (kib / 4).max(1),
            tenants: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// Takes `bytes` of the budget for `tenant`, or says no.
    pub fn take(&self, tenant: &TenantId, bytes: usize) -> Option<Held> {
        let kib = u32::try_from(bytes.div_ceil(1024).max(1)).ok()?;
        let own = {
            let mut map = self.tenants.lock().unwrap_or_else(|p| p.into_inner());
            Arc::clone(
                map.entry(tenant.clone())
                    .or_insert_with(|| Arc::new(Semaphore::new(self.share))),
            )
        };
        let tenant = Arc::clone(&own).try_acquire_many_owned(kib).ok()?;
        let global = Arc::clone(&self.global).try_acquire_many_owned(kib).ok()?;
        Some(Held {
            global,
            tenant,
            global_pool: Arc::clone(&self.global),
            tenant_pool: own,
        })
    }
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

/// An error answer: a status, a stable code and a message, as `{"error": …, "code": …}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after: Option<u32>,
}

/// The stable code of a status, for errors that have no more specific one.
fn default_code(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "body_too_large",
        StatusCode::URI_TOO_LONG => "uri_too_long",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "quota_exceeded",
        StatusCode::REQUEST_TIMEOUT => "timeout",
        StatusCode::TOO_MANY_REQUESTS => "overloaded",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        _ => "internal",
    }
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError::coded(status, default_code(status), message)
    }
    fn coded(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }
    /// A bad query parameter or path segment.
    fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::coded(StatusCode::BAD_REQUEST, "bad_parameter", message)
    }
    fn internal(message: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %message, "request failed");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message.to_string())
    }
    fn busy(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError::new(status, message).retry_later()
    }
    /// The same error, telling the client to retry after a second.
    fn retry_later(self) -> ApiError {
        ApiError {
            retry_after: Some(1),
            ..self
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(e: QueryRejection) -> ApiError {
        ApiError::coded(
            StatusCode::BAD_REQUEST,
            "bad_parameter",
            format!("query parameters: {}", e.body_text()),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(json!({ "error": self.message, "code": self.code })),
        )
            .into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

type ApiResult<T> = Result<T, ApiError>;

async fn principal(app: &App, headers: &HeaderMap) -> ApiResult<Principal> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer);
    let Some(token) = token else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing bearer token (Authorization: Bearer <token>)",
        ));
    };
    match app.state.authenticate(token).await {
        Ok(Some(p)) => Ok(p),
        Ok(None) => Err(ApiError::new(StatusCode::UNAUTHORIZED, "unknown token")),
        Err(e) => Err(ApiError::internal(e)),
    }
}

/// The token of an `Authorization` value: the scheme is case-insensitive (RFC 9110 §11.1).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim_start().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// The tenant a request acts for.
async fn tenant(app: &App, headers: &HeaderMap) -> ApiResult<TenantId> {
    let named = headers
        .get("vigie-tenant")
        .map(|v| {
            v.to_str()
                .ok()
                .and_then(|t| TenantId::new(t).ok())
                .ok_or_else(|| {
                    ApiError::coded(
                        StatusCode::BAD_REQUEST,
                        "bad_tenant",
                        "Vigie-Tenant: not a valid tenant name",
                    )
                })
        })
        .transpose()?;
    match principal(app, headers).await? {
        Principal::Tenant(own) => match named {
            Some(other) if other != own => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "this token belongs to another tenant",
            )),
            _ => Ok(own),
        },
        Principal::Admin => {
            let Some(tenant) = named else {
                return Err(ApiError::coded(
                    StatusCode::BAD_REQUEST,
                    "bad_tenant",
                    "an administrator token must name the tenant in the Vigie-Tenant header",
                ));
            };
            match app.state.tenant_exists(&tenant).await {
                Ok(true) => Ok(tenant),
                Ok(false) => Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    format!("no tenant {:?}", tenant.as_str()),
                )),
                Err(e) => Err(ApiError::internal(e)),
            }
        }
    }
}

async fn admin(app: &App, headers: &HeaderMap) -> ApiResult<()> {
    match principal(app, headers).await? {
        Principal::Admin => Ok(()),
        Principal::Tenant(_) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "this route needs an administrator token",
        )),
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(ApiError::internal)?
}

/// [`blocking`] holding a query slot until the work is done (not until the request ends: a
/// client that goes away does not free a slot its query still occupies).
async fn held<T: Send + 'static>(
    slot: tokio::sync::OwnedSemaphorePermit,
    f: impl FnOnce() -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    blocking(move || {
        let _slot = slot;
        f()
    })
    .await
}

async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Ready or not, to anyone (a load balancer's probe); the journal, store and pipeline
/// details only to an administrator, as they tell how much every tenant sends.
async fn ready(State(app): State<App>, headers: HeaderMap) -> Response {
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
    if !matches!(principal(&app, &headers).await, Ok(Principal::Admin)) {
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

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
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

#[derive(Debug, Deserialize)]
struct IngestParams {
    source: Option<String>,
    logsource: Option<String>,
}

/// Reads `body` within `timeout`, refusing it past `limit` bytes.
async fn read_body(body: Body, limit: usize, timeout: std::time::Duration) -> ApiResult<Bytes> {
    match tokio::time::timeout(timeout, axum::body::to_bytes(body, limit)).await {
        Err(_) => Err(ApiError::coded(
            StatusCode::REQUEST_TIMEOUT,
            "body_timeout",
            format!(
                "the body did not arrive within {} ms (http.body_timeout_ms)",
                timeout.as_millis()
            ),
        )),
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(e)) => {
            // axum wraps http-body's `LengthLimitError`, whose text is stable.
            let too_large =
                format!("{e:?}").contains("LengthLimit") || e.to_string().contains("length limit");
            if too_large {
                Err(ApiError::coded(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    format!("the body is over {limit} bytes (http.max_body_bytes)"),
                ))
            } else {
                Err(ApiError::coded(
                    StatusCode::BAD_REQUEST,
                    "bad_body",
                    format!("cannot read the body: {e}"),
                ))
            }
        }
    }
}

/// Whether the body is gzip (`Content-Encoding: gzip`), plain (none, `identity`), or
/// something this server does not inflate (415).
fn encoding(headers: &HeaderMap) -> ApiResult<bool> {
    let Some(value) = headers.get(header::CONTENT_ENCODING) else {
        return Ok(false);
    };
    // A value that is not text is no encoding this server knows (not "none").
    let text = value.to_str().unwrap_or("\u{fffd}").trim();
    if text.eq_ignore_ascii_case("gzip") || text.eq_ignore_ascii_case("x-gzip") {
        Ok(true)
    } else if text.is_empty() || text.eq_ignore_ascii_case("identity") {
        Ok(false)
    } else {
        Err(ApiError::coded(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_encoding",
            format!("Content-Encoding {text:?}: only gzip or identity"),
        ))
    }
}

async fn ingest_batch(
    State(app): State<App>,
    params: Result<Query<IngestParams>, QueryRejection>,
    request: Request,
) -> ApiResult<Response> {
    let (head, body) = request.into_parts();
    let headers = head.headers;
    // Who, before a byte of the body is read: an unknown caller costs no memory.
    let tenant = tenant(&app, &headers).await?;
    let Query(params) = params?;
    let quota = app.quotas.tenant(&tenant);
    let source = params.source.unwrap_or_else(|| "http".to_owned());
    if source.is_empty() || source.len() > 128 {
        return Err(ApiError::coded(
            StatusCode::BAD_REQUEST,
            "bad_parameter",
            "source: 1 to 128 characters",
        ));
    }
    if !quota.admit_source(&source) {
        return Err(ApiError::coded(
            StatusCode::UNPROCESSABLE_ENTITY,
            "source_quota",
            format!(
                "source {source:?} would pass this tenant's limit of {} sources (limits.max_sources)",
                quota.limits.max_sources
            ),
        ));
    }
    let logsource_text = params.logsource.unwrap_or_default();
    let logsource = vigie_event::LogSource::parse_path(&logsource_text)
        .map_err(|m| ApiError::coded(StatusCode::BAD_REQUEST, "bad_parameter", m))?;
    let gzip = encoding(&headers)?;
    let idempotency_key = idempotency_key(&headers)?;
    let mut received = Timestamp::now();
    if let Some(key) = &idempotency_key {
        match app
            .state
            .idempotency_begin(&tenant, key, received, quota.limits.max_idempotency_keys)
            .await
            .map_err(ApiError::internal)?
        {
            Idempotent::Answered(answer) => {
                let value: Value = serde_json::from_str(&answer).map_err(ApiError::internal)?;
                return Ok(([(REPLAYED, "true")], Json(value)).into_response());
            }
            Idempotent::Process(first) => received = first,
            Idempotent::OverQuota => {
                return Err(ApiError::coded(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "idempotency_quota",
                    format!(
                        "this tenant holds {} idempotency keys from the last day (limits.max_idempotency_keys); retry without a new key or later",
                        quota.limits.max_idempotency_keys
                    ),
                ));
            }
        }
    }
    let journal = app.appender.shared();
    let max_lag = app.config.journal.max_lag_mib << 20;
    if journal.lag() > max_lag {
        return Err(ApiError::busy(
            StatusCode::TOO_MANY_REQUESTS,
            "the pipeline is behind the journal; retry later",
        ));
    }
    let http = &app.config.http;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > http.max_body_bytes) {
        return Err(ApiError::coded(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!(
                "the body is over {} bytes (http.max_body_bytes)",
                http.max_body_bytes
            ),
        ));
    }
    // The body as announced (or the most it may be); an inflating body takes more as it
    // grows.
    let hold = declared.unwrap_or(http.max_body_bytes);
    let Some(mut held) = app.buffers.take(&tenant, hold) else {
        return Err(ApiError::busy(
            StatusCode::TOO_MANY_REQUESTS,
            "too many ingest bodies in memory for this tenant or the server (http.max_buffered_mib); retry later",
        ));
    };
    let body = read_body(
        body,
        http.max_body_bytes,
        std::time::Duration::from_millis(http.body_timeout_ms),
    )
    .await?;
    let counters = app.metrics.source(tenant.as_str(), &source);
    counters
        .bytes
        .fetch_add(body.len() as u64, Ordering::Relaxed);
    let max_decoded = http.max_decoded_bytes;
    let origin_tenant = tenant.clone();
    let origin_source = source.clone();
    let checks = ingest::Checks {
        limits: quota.limits.clone(),
        received,
    };
    let names = Arc::clone(&quota.names);
    let split = blocking(move || {
        let body = if gzip {
            let grown = ingest::gunzip(&body, max_decoded, &mut |n| held.grow(n));
            grown.map_err(|e| match e {
                ingest::BodyError::TooLarge(_) => ApiError::coded(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    e.to_string(),
                ),
                ingest::BodyError::Gzip(_) => {
                    ApiError::coded(StatusCode::BAD_REQUEST, "bad_gzip", e.to_string())
                }
                ingest::BodyError::NoMemory => {
                    ApiError::busy(StatusCode::TOO_MANY_REQUESTS, e.to_string())
                }
            })?
        } else {
            body
        };
        let mut origin = Origin::new(origin_tenant, Source::new(SourceKind::Http, &origin_source));
        origin.logsource = logsource.map(Arc::new);
        let mut decoder = Decoder::new(origin);
        decoder.set_name_budget(Some(names));
        Ok(ingest::split_json(&body, &mut decoder, &checks))
    })
    .await?;
    if split.over_limit {
        return Err(ApiError::coded(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_many_events",
            format!(
                "more than {} events in one request (limits.max_events_per_batch); send smaller batches",
                quota.limits.max_events_per_batch
            ),
        ));
    }
    let accepted = split.accepted.len();
    let rejected = split.rejected_count;
    counters
        .received
        .fetch_add((accepted + rejected) as u64, Ordering::Relaxed);
    counters
        .rejected
        .fetch_add(rejected as u64, Ordering::Relaxed);
    let tenant_name = tenant.clone();
    if accepted > 0 {
        let batch = Batch {
            tenant,
            kind: SourceKind::Http,
            source,
            logsource: logsource_text,
            framing: Framing::Json,
            received,
            idempotency_key: idempotency_key.clone().unwrap_or_default(),
            messages: split.accepted,
        };
        let durable = match app.appender.try_append(batch.encode()) {
            Ok(rx) => rx,
            Err((Refused::Full, _)) => {
                return Err(ApiError::busy(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the journal queue is full; retry later",
                ));
            }
            Err((Refused::Closed, _)) => {
                return Err(ApiError::busy(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the server is shutting down",
                ));
            }
        };
        match durable.await {
            Ok(Ok(_)) => {
                counters
                    .journaled
                    .fetch_add(accepted as u64, Ordering::Relaxed);
            }
            Ok(Err(e)) => return Err(ApiError::internal(e)),
            Err(_) => return Err(ApiError::internal("the journal writer stopped")),
        }
    }
    let answer = json!({
        "accepted": accepted,
        "rejected": rejected,
        "errors": split.rejected,
        "errors_truncated": rejected > split.rejected.len(),
    });
    if let Some(key) = &idempotency_key
        && let Err(e) = app
            .state
            .idempotency_finish(&tenant_name, key, &answer.to_string())
            .await
    {
        // The batch is durable; a retry journals it again with the same ids, and the store
        // keeps each event once.
        tracing::warn!(error = %e, "cannot record an idempotent answer");
    }
    Ok(Json(answer).into_response())
}

/// The header a replayed answer carries.
const REPLAYED: &str = "idempotency-replayed";

/// The `Idempotency-Key` of a request: 1 to 255 visible ASCII characters.
fn idempotency_key(headers: &HeaderMap) -> ApiResult<Option<String>> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let bytes = value.as_bytes();
    if bytes.is_empty() || bytes.len() > 255 || !bytes.iter().all(|b| (0x21..=0x7e).contains(b)) {
        return Err(ApiError::coded(
            StatusCode::BAD_REQUEST,
            "bad_idempotency_key",
            "Idempotency-Key: 1 to 255 visible ASCII characters",
        ));
    }
    Ok(Some(String::from_utf8_lossy(bytes).into_owned()))
}

#[derive(Debug, Deserialize)]
struct EventsParams {
    q: Option<String>,
    from: Option<String>,
    to: Option<String>,
    cursor: Option<String>,
    limit: Option<usize>,
    order: Option<String>,
    fields: Option<String>,
}

fn range(from: Option<&str>, to: Option<&str>) -> ApiResult<TimeRange> {
    TimeRange::parse(from.unwrap_or(""), to.unwrap_or(""), Timestamp::now())
        .map_err(|e| ApiError::coded(StatusCode::BAD_REQUEST, "bad_parameter", e.to_string()))
}

fn query(q: Option<&str>) -> ApiResult<vigie_store::Query> {
    vigie_store::parse(q.unwrap_or(""))
        .map_err(|e| ApiError::coded(StatusCode::BAD_REQUEST, "bad_query", e.to_string()))
}

async fn events(
    State(app): State<App>,
    headers: HeaderMap,
    p: Result<Query<EventsParams>, QueryRejection>,
) -> ApiResult<Json<Value>> {
    let tenant = tenant(&app, &headers).await?;
    let Query(p) = p?;
    let mut search = Search::new(
        query(p.q.as_deref())?,
        p.limit.unwrap_or(100).clamp(1, vigie_store::MAX_PAGE),
    );
    search.range = range(p.from.as_deref(), p.to.as_deref())?;
    search.order = match p.order.as_deref() {
        None | Some("desc") => Order::Desc,
        Some("asc") => Order::Asc,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "order {other:?}: expected asc or desc"
            )));
        }
    };
    search.cursor = p
        .cursor
        .as_deref()
        .map(|c| c.parse::<Cursor>())
        .transpose()
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    search.fields = p.fields.map(|f| {
        f.split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    });
    let slot = query_slot(&app, &tenant)?;
    let store = Arc::clone(&app.store);
    let page = held(slot, move || {
        store.search(&tenant, &search).map_err(|e| store_error(&e))
    })
    .await?;
    Ok(Json(json!({
        "total": page.total,
        "events": page.events.iter().map(render::event).collect::<Vec<_>>(),
        "next": page.next.map(|c| c.to_string()),
    })))
}

/// One of the tenant's `max_concurrent_queries` slots, held while its store query runs, or a
/// 429: the queries of one tenant cannot take every core and blocking thread from the others.
fn query_slot(app: &App, tenant: &TenantId) -> ApiResult<tokio::sync::OwnedSemaphorePermit> {
    let quota = app.quotas.tenant(tenant);
    Arc::clone(&quota.queries)
        .try_acquire_owned()
        .map_err(|_| {
            ApiError::coded(
                StatusCode::TOO_MANY_REQUESTS,
                "query_quota",
                format!(
                    "this tenant already runs {} queries (limits.max_concurrent_queries); retry when one ends",
                    quota.limits.max_concurrent_queries
                ),
            )
            .retry_later()
        })
}

fn store_error(e: &vigie_store::StoreError) -> ApiError {
    match e {
        vigie_store::StoreError::InvalidQuery { .. } | vigie_store::StoreError::Parse(_) => {
            ApiError::coded(StatusCode::BAD_REQUEST, "bad_query", e.to_string())
        }
        vigie_store::StoreError::InvalidAggregation { .. } => {
            ApiError::coded(StatusCode::BAD_REQUEST, "bad_aggregation", e.to_string())
        }
        _ => ApiError::internal(e),
    }
}

async fn event(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let tenant = tenant(&app, &headers).await?;
    let id: EventId = id
        .parse()
        .map_err(|e: vigie_event::id::EventIdError| ApiError::bad_request(e.to_string()))?;
    let slot = query_slot(&app, &tenant)?;
    let store = Arc::clone(&app.store);
    let found = held(slot, move || {
        store.get(&tenant, id).map_err(|e| store_error(&e))
    })
    .await?;
    match found {
        Some(e) => Ok(Json(render::event(&e))),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no event {id}"),
        )),
    }
}

#[derive(Debug, Deserialize)]
struct HistogramParams {
    q: Option<String>,
    from: Option<String>,
    to: Option<String>,
    /// Bucket width in seconds (automatic when absent).
    interval: Option<i64>,
}

async fn histogram(
    State(app): State<App>,
    headers: HeaderMap,
    p: Result<Query<HistogramParams>, QueryRejection>,
) -> ApiResult<Json<Value>> {
    let tenant = tenant(&app, &headers).await?;
    let Query(p) = p?;
    let q = query(p.q.as_deref())?;
    let range = range(p.from.as_deref(), p.to.as_deref())?;
    if p.interval.is_some_and(|s| s <= 0) {
        return Err(ApiError::bad_request("interval: seconds > 0"));
    }
    let aggregation = Aggregation::DateHistogram {
        interval: p.interval.map(|s| s.saturating_mul(1_000_000_000)),
    };
    let slot = query_slot(&app, &tenant)?;
    let store = Arc::clone(&app.store);
    let result = held(slot, move || {
        store
            .aggregate(&tenant, &q, range, &aggregation)
            .map_err(|e| store_error(&e))
    })
    .await?;
    let AggregationResult::DateHistogram { interval, buckets } = result else {
        return Err(ApiError::internal("the store answered another aggregation"));
    };
    Ok(Json(json!({
        "interval_seconds": interval / 1_000_000_000,
        "buckets": buckets.iter().map(|b| json!({
            "start": b.start.to_rfc3339(vigie_event::UtcOffset::UTC),
            "count": b.count,
        })).collect::<Vec<_>>(),
    })))
}

#[derive(Debug, Deserialize)]
struct AlertsParams {
    level: Option<String>,
    rule: Option<String>,
    status: Option<String>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

async fn alerts(
    State(app): State<App>,
    headers: HeaderMap,
    p: Result<Query<AlertsParams>, QueryRejection>,
) -> ApiResult<Json<Value>> {
    let tenant = tenant(&app, &headers).await?;
    let Query(p) = p?;
    let range = range(p.from.as_deref(), p.to.as_deref())?;
    let filter = AlertFilter {
        levels: p
            .level
            .as_deref()
            .map(levels)
            .transpose()?
            .unwrap_or_default(),
        rule: p.rule,
        status: p
            .status
            .map(|s| {
                AlertStatus::parse(&s).ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "status {s:?}: expected new, acknowledged or closed"
                    ))
                })
            })
            .transpose()?,
        from: range.from,
        to: range.to,
        limit: p.limit,
        after: p
            .cursor
            .map(|c| c.parse::<AlertCursor>().map_err(ApiError::bad_request))
            .transpose()?,
    };
    let page = app
        .state
        .alerts(&tenant, &filter)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(json!({
        "alerts": page.alerts,
        "next": page.next.map(|c| c.to_string()),
    })))
}

/// A comma-separated list of levels; an unknown one is a 400 (it could never match).
fn levels(text: &str) -> ApiResult<Vec<String>> {
    text.split(',')
        .map(|l| {
            vigie_detect::Level::parse(l)
                .map(|l| l.as_str().to_owned())
                .ok_or_else(|| {
                    let known: Vec<&str> = vigie_detect::Level::ALL
                        .iter()
                        .rev()
                        .map(|l| l.as_str())
                        .collect();
                    ApiError::coded(
                        StatusCode::BAD_REQUEST,
                        "bad_parameter",
                        format!(
                            "level {:?}: expected one of {}",
                            l.trim().to_ascii_lowercase(),
                            known.join(", ")
                        ),
                    )
                })
        })
        .collect()
}

/// Events shown before and after an alert's event on the same host.
const CONTEXT_EVENTS: usize = 5;

async fn alert(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let tenant = tenant(&app, &headers).await?;
    let id: AlertId = id
        .parse()
        .map_err(|_| ApiError::bad_request(format!("invalid alert id {id:?}")))?;
    let Some(alert) = app
        .state
        .alert(&tenant, &id)
        .await
        .map_err(ApiError::internal)?
    else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no alert {id}"),
        ));
    };
    let event_id: Option<EventId> = alert.event_id.parse().ok();
    let slot = query_slot(&app, &tenant)?;
    let store = Arc::clone(&app.store);
    let (event, context) = held(slot, move || {
        let Some(event_id) = event_id else {
            return Ok((None, Vec::new()));
        };
        let event = store.get(&tenant, event_id).map_err(|e| store_error(&e))?;
        let context = match &event {
            Some(e) => match e.host.as_deref() {
                Some(host) => store
                    .around(&tenant, host, e.time, CONTEXT_EVENTS, CONTEXT_EVENTS)
                    .map_err(|e| store_error(&e))?,
                None => Vec::new(),
            },
            None => Vec::new(),
        };
        Ok((event, context))
    })
    .await?;
    Ok(Json(json!({
        "alert": alert,
        "event": event.as_ref().map(render::event),
        "context": context.iter().map(render::event).collect::<Vec<_>>(),
    })))
}

async fn rules(State(app): State<App>, headers: HeaderMap) -> ApiResult<Json<Value>> {
    principal(&app, &headers).await?;
    Ok(Json(summary(&app.rules.current())))
}

/// What `/rules` and `/rules/reload` say about a rule book.
fn summary(book: &RuleBook) -> Value {
    json!({
        "generation": book.generation,
        "rules": book.rules.len(),
        "correlations": book.correlation_rules.len(),
        "rejected": book.rejected.len(),
        "load_ms": book.load_ms,
    })
}

async fn reload(State(app): State<App>, headers: HeaderMap) -> ApiResult<Json<Value>> {
    admin(&app, &headers).await?;
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

async fn metrics(State(app): State<App>, headers: HeaderMap) -> ApiResult<Response> {
    admin(&app, &headers).await?;
    let journal = app.appender.shared();
    let stats = &journal.stats;
    let extra = [
        (
            "vigie_journal_lag_bytes",
            "Durable bytes not yet processed.",
            journal.lag() as f64,
        ),
        (
            "vigie_journal_corrupt_records",
            "Journal records skipped for a bad CRC.",
            stats.corrupt_records.load(Ordering::Relaxed) as f64,
        ),
        (
            "vigie_journal_torn_tail_bytes",
            "Bytes of torn tail cut at the last start.",
            stats.torn_tail_bytes.load(Ordering::Relaxed) as f64,
        ),
        (
            "vigie_journal_records",
            "Records appended since start.",
            stats.appended_records.load(Ordering::Relaxed) as f64,
        ),
        (
            "vigie_journal_fsyncs",
            "fsyncs since start.",
            stats.syncs.load(Ordering::Relaxed) as f64,
        ),
        (
            "vigie_rules_loaded",
            "Rules in the current set.",
            app.rules.current().rules.len() as f64,
        ),
        (
            "vigie_store_disk_bytes",
            "Bytes of the event store on disk.",
            app.store.disk_bytes() as f64,
        ),
    ];
    let text = app.metrics.render(&extra);
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response())
}

#[derive(Debug, Deserialize)]
struct QuarantineParams {
    /// An administrator's listing of every tenant (`all=true`, no `Vigie-Tenant`).
    all: Option<bool>,
}

fn quarantine_error(e: crate::ServerError) -> ApiError {
    match e {
        crate::ServerError::NotQuarantined { .. } => {
            ApiError::new(StatusCode::NOT_FOUND, e.to_string())
        }
        crate::ServerError::QuarantineId(_) => ApiError::bad_request(e.to_string()),
        _ => ApiError::internal(e),
    }
}

/// The tenant's quarantined records (an administrator's token with `all=true` and no
/// `Vigie-Tenant`: every tenant's, unreadable records included).
async fn quarantine_list(
    State(app): State<App>,
    headers: HeaderMap,
    p: Result<Query<QuarantineParams>, QueryRejection>,
) -> ApiResult<Json<Value>> {
    let Query(p) = p?;
    let scope = if p.all == Some(true) && !headers.contains_key("vigie-tenant") {
        admin(&app, &headers).await?;
        None
    } else {
        Some(tenant(&app, &headers).await?)
    };
    let q = app.quarantine.clone();
    let entries = blocking(move || {
        q.list(scope.as_ref().map(TenantId::as_str))
            .map_err(quarantine_error)
    })
    .await?;
    Ok(Json(json!({ "records": entries })))
}

async fn quarantine_show(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let tenant = tenant(&app, &headers).await?;
    let q = app.quarantine.clone();
    let entry = blocking(move || q.get(tenant.as_str(), &id).map_err(quarantine_error)).await?;
    Ok(Json(json!(entry)))
}

/// Asks the pipeline to process a record again (administrator; after a limit was raised or
/// a fix deployed). The answer comes before the retry runs: the entry leaves the list when it
/// succeeds, or stays with its new reason.
async fn quarantine_retry(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    admin(&app, &headers).await?;
    let tenant = tenant(&app, &headers).await?;
    let q = app.quarantine.clone();
    let entry = blocking(move || {
        q.request_retry(tenant.as_str(), &id)
            .map_err(quarantine_error)
    })
    .await?;
    Ok((StatusCode::ACCEPTED, Json(json!(entry))))
}

/// Removes a record for good: its events are lost (administrator).
async fn quarantine_drop(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    admin(&app, &headers).await?;
    let tenant = tenant(&app, &headers).await?;
    let q = app.quarantine.clone();
    let entry =
        blocking(move || q.drop_entry(tenant.as_str(), &id).map_err(quarantine_error)).await?;
    Ok(Json(json!({ "dropped": entry })))
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
