//! The HTTP API (axum): ingest, events, alerts, rules, health and metrics. Documented in
//! `openapi.json` (served at `/api/v1/openapi.json`).
//!
//! Every route but health, readiness and the OpenAPI document needs a bearer token. A
//! tenant's token scopes the request to that tenant (naming another one is refused); an
//! administrator's token names the tenant in the `Vigie-Tenant` header. Store and state
//! calls that may take a while run on the blocking pool.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use vigie_event::time::Timestamp;
use vigie_event::{Decoder, EventId, Origin, Source, SourceKind, TenantId};
use vigie_state::{AlertCursor, AlertFilter, AlertId, AlertStatus, Principal};
use vigie_store::{Aggregation, AggregationResult, Cursor, Order, Search, Store, TimeRange};

use crate::config::Config;
use crate::journal::committer::{Appender, Refused};
use crate::metrics::Metrics;
use crate::record::{Batch, Framing, MAX_MESSAGES};
use crate::rules::{RuleBook, Rules};
use crate::{ingest, render};

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
}

/// The router of every route.
pub fn router(app: App) -> Router {
    let limit = app.config.http.max_body_bytes;
    Router::new()
        .route("/api/v1/health", get(health))
        .route("/api/v1/ready", get(ready))
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/ingest", post(ingest_batch))
        .route("/api/v1/events", get(events))
        .route("/api/v1/events/histogram", get(histogram))
        .route("/api/v1/events/{id}", get(event))
        .route("/api/v1/alerts", get(alerts))
        .route("/api/v1/alerts/{id}", get(alert))
        .route("/api/v1/rules", get(rules))
        .route("/api/v1/rules/reload", post(reload))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(limit))
        .with_state(app)
}

/// An error answer: a status and a message, as `{"error": …}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    retry_after: Option<u32>,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            retry_after: None,
        }
    }
    fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }
    fn internal(message: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %message, "request failed");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message.to_string())
    }
    fn busy(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            retry_after: Some(1),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(json!({ "error": self.message }))).into_response();
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
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
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

/// The tenant a request acts for.
async fn tenant(app: &App, headers: &HeaderMap) -> ApiResult<TenantId> {
    let named = headers
        .get("vigie-tenant")
        .map(|v| {
            v.to_str()
                .ok()
                .and_then(|t| TenantId::new(t).ok())
                .ok_or_else(|| ApiError::bad_request("Vigie-Tenant: not a valid tenant name"))
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
                return Err(ApiError::bad_request(
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

async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

async fn ready(State(app): State<App>) -> Response {
    let failure = app
        .pipeline_failure
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let journal = app.appender.shared();
    let body = json!({
        "journal": { "durable_end": journal.durable_end(), "checkpoint": journal.checkpoint(), "lag_bytes": journal.lag() },
        "store": { "partitions": app.store.partitions().len() },
        "pipeline": failure.as_deref().unwrap_or("running"),
    });
    let status = if failure.is_some() {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (status, Json(body)).into_response()
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
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

/// Errors listed per response at most; the counts stay exact.
const MAX_LISTED_ERRORS: usize = 1000;

async fn ingest_batch(
    State(app): State<App>,
    headers: HeaderMap,
    Query(params): Query<IngestParams>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let tenant = tenant(&app, &headers).await?;
    let source = params.source.unwrap_or_else(|| "http".to_owned());
    if source.is_empty() || source.len() > 128 {
        return Err(ApiError::bad_request("source: 1 to 128 characters"));
    }
    let logsource_text = params.logsource.unwrap_or_default();
    let logsource = ingest::parse_logsource(&logsource_text).map_err(ApiError::bad_request)?;
    let journal = app.appender.shared();
    let max_lag = app.config.journal.max_lag_mib << 20;
    if journal.lag() > max_lag {
        return Err(ApiError::busy(
            StatusCode::TOO_MANY_REQUESTS,
            "the pipeline is behind the journal; retry later",
        ));
    }
    let counters = app.metrics.source(tenant.as_str(), &source);
    counters
        .bytes
        .fetch_add(body.len() as u64, Ordering::Relaxed);
    let gzip = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
    let max_decoded = app.config.http.max_decoded_bytes;
    let origin_tenant = tenant.clone();
    let origin_source = source.clone();
    let split = blocking(move || {
        let body = if gzip {
            ingest::gunzip(&body, max_decoded).map_err(|e| match e {
                ingest::BodyError::TooLarge(_) => {
                    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, e.to_string())
                }
                ingest::BodyError::Gzip(_) => ApiError::bad_request(e.to_string()),
            })?
        } else {
            body
        };
        let mut origin = Origin::new(origin_tenant, Source::new(SourceKind::Http, &origin_source));
        origin.logsource = logsource;
        let mut decoder = Decoder::new(origin);
        Ok(ingest::split_json(&body, &mut decoder))
    })
    .await?;
    let accepted = split.accepted.len();
    let rejected = split.rejected.len();
    counters
        .received
        .fetch_add((accepted + rejected) as u64, Ordering::Relaxed);
    counters
        .rejected
        .fetch_add(rejected as u64, Ordering::Relaxed);
    if accepted > MAX_MESSAGES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("{accepted} events in one request; at most {MAX_MESSAGES}"),
        ));
    }
    if accepted > 0 {
        let batch = Batch {
            tenant,
            kind: SourceKind::Http,
            source,
            logsource: logsource_text,
            framing: Framing::Json,
            received: Timestamp::now(),
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
    let listed: Vec<_> = split.rejected.iter().take(MAX_LISTED_ERRORS).collect();
    Ok(Json(json!({
        "accepted": accepted,
        "rejected": rejected,
        "errors": listed,
        "errors_truncated": rejected > MAX_LISTED_ERRORS,
    })))
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
        .map_err(|e| ApiError::bad_request(e.to_string()))
}

fn query(q: Option<&str>) -> ApiResult<vigie_store::Query> {
    vigie_store::parse(q.unwrap_or("")).map_err(|e| ApiError::bad_request(e.to_string()))
}

async fn events(
    State(app): State<App>,
    headers: HeaderMap,
    Query(p): Query<EventsParams>,
) -> ApiResult<Json<Value>> {
    let tenant = tenant(&app, &headers).await?;
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
    let store = Arc::clone(&app.store);
    let page =
        blocking(move || store.search(&tenant, &search).map_err(|e| store_error(&e))).await?;
    Ok(Json(json!({
        "total": page.total,
        "events": page.events.iter().map(render::event).collect::<Vec<_>>(),
        "next": page.next.map(|c| c.to_string()),
    })))
}

fn store_error(e: &vigie_store::StoreError) -> ApiError {
    match e {
        vigie_store::StoreError::InvalidQuery { .. }
        | vigie_store::StoreError::Parse(_)
        | vigie_store::StoreError::InvalidAggregation { .. } => {
            ApiError::bad_request(e.to_string())
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
    let store = Arc::clone(&app.store);
    let found = blocking(move || store.get(&tenant, id).map_err(|e| store_error(&e))).await?;
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
    Query(p): Query<HistogramParams>,
) -> ApiResult<Json<Value>> {
    let tenant = tenant(&app, &headers).await?;
    let q = query(p.q.as_deref())?;
    let range = range(p.from.as_deref(), p.to.as_deref())?;
    if p.interval.is_some_and(|s| s <= 0) {
        return Err(ApiError::bad_request("interval: seconds > 0"));
    }
    let aggregation = Aggregation::DateHistogram {
        interval: p.interval.map(|s| s.saturating_mul(1_000_000_000)),
    };
    let store = Arc::clone(&app.store);
    let result = blocking(move || {
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
    Query(p): Query<AlertsParams>,
) -> ApiResult<Json<Value>> {
    let tenant = tenant(&app, &headers).await?;
    let range = range(p.from.as_deref(), p.to.as_deref())?;
    let filter = AlertFilter {
        levels: p
            .level
            .map(|l| {
                l.split(',')
                    .map(|s| s.trim().to_ascii_lowercase())
                    .collect()
            })
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
    let store = Arc::clone(&app.store);
    let (event, context) = blocking(move || {
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
            .map_err(|e| ApiError::bad_request(e.to_string()))
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
