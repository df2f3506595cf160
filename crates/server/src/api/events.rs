//! `/events`, `/events/{id}`, `/events/histogram`: searching a tenant's events.

use std::sync::Arc;

use axum::Extension;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use vigie_event::time::Timestamp;
use vigie_event::{EventId, TenantId, render};
use vigie_store::{Aggregation, AggregationResult, Cursor, Order, Search, TimeRange};

use super::App;
use super::access::{AuditNote, Authorized};
use super::buffers::held;
use super::error::{ApiError, ApiResult};
use super::sensitive::mask;

#[derive(Debug, Deserialize, Default)]
pub(crate) struct EventsParams {
    pub(crate) q: Option<String>,
    pub(crate) from: Option<String>,
    pub(crate) to: Option<String>,
    pub(crate) cursor: Option<String>,
    pub(crate) limit: Option<usize>,
    pub(crate) order: Option<String>,
    pub(crate) fields: Option<String>,
}

pub(crate) fn range(from: Option<&str>, to: Option<&str>) -> ApiResult<TimeRange> {
    TimeRange::parse(from.unwrap_or(""), to.unwrap_or(""), Timestamp::now())
        .map_err(|e| ApiError::coded(StatusCode::BAD_REQUEST, "bad_parameter", e.to_string()))
}

pub(crate) fn query(q: Option<&str>) -> ApiResult<vigie_store::Query> {
    vigie_store::parse(q.unwrap_or(""))
        .map_err(|e| ApiError::coded(StatusCode::BAD_REQUEST, "bad_query", e.to_string()))
}

pub(crate) async fn events(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    p: Result<Query<EventsParams>, QueryRejection>,
) -> ApiResult<Response> {
    let tenant = auth.tenant_id()?;
    let Query(p) = p?;
    let mask = mask(&app, &auth, None).await?;
    let parsed = query(p.q.as_deref())?;
    if let Some(mask) = &mask {
        mask.check(&parsed)?;
    }
    let mut search = Search::new(
        parsed,
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
    let note = AuditNote {
        query: Some(p.q.clone().unwrap_or_default()),
        count: Some(page.total),
        ..AuditNote::default()
    };
    let mut body = json!({
        "total": page.total,
        "events": page.events.iter().map(render::event).collect::<Vec<_>>(),
        "next": page.next.map(|c| c.to_string()),
    });
    if let Some(mask) = &mask {
        mask.apply(&mut body);
    }
    Ok((Extension(note), Json(body)).into_response())
}

/// One of the tenant's `max_concurrent_queries` slots, held while its store query runs, or a
/// 429: the queries of one tenant cannot take every core and blocking thread from the others.
pub(crate) fn query_slot(
    app: &App,
    tenant: &TenantId,
) -> ApiResult<tokio::sync::OwnedSemaphorePermit> {
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

pub(crate) fn store_error(e: &vigie_store::StoreError) -> ApiError {
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

pub(crate) async fn event(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let tenant = auth.tenant_id()?;
    let id: EventId = id
        .parse()
        .map_err(|e: vigie_event::EventError| ApiError::bad_request(e.to_string()))?;
    let mask = mask(&app, &auth, None).await?;
    let slot = query_slot(&app, &tenant)?;
    let store = Arc::clone(&app.store);
    let found = held(slot, move || {
        store.get(&tenant, id).map_err(|e| store_error(&e))
    })
    .await?;
    match found {
        Some(e) => {
            let mut body = render::event(&e);
            if let Some(mask) = &mask {
                mask.apply(&mut body);
            }
            let note = AuditNote {
                objects: vec![format!("event:{id}")],
                count: Some(1),
                ..AuditNote::default()
            };
            Ok((Extension(note), Json(body)).into_response())
        }
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no event {id}"),
        )),
    }
}

#[derive(Debug, Deserialize, Default)]
pub(crate) struct HistogramParams {
    pub(crate) q: Option<String>,
    pub(crate) from: Option<String>,
    pub(crate) to: Option<String>,
    /// Bucket width in seconds (automatic when absent).
    pub(crate) interval: Option<i64>,
}

pub(crate) async fn histogram(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    p: Result<Query<HistogramParams>, QueryRejection>,
) -> ApiResult<Response> {
    let tenant = auth.tenant_id()?;
    let Query(p) = p?;
    let q = query(p.q.as_deref())?;
    if let Some(mask) = mask(&app, &auth, None).await? {
        mask.check(&q)?;
    }
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
    let note = AuditNote {
        query: Some(p.q.clone().unwrap_or_default()),
        count: Some(buckets.iter().map(|b| b.count).sum()),
        ..AuditNote::default()
    };
    Ok((
        Extension(note),
        Json(json!({
            "interval_seconds": interval / 1_000_000_000,
            "buckets": buckets.iter().map(|b| json!({
                "start": b.start.to_rfc3339(vigie_event::UtcOffset::UTC),
                "count": b.count,
            })).collect::<Vec<_>>(),
        })),
    )
        .into_response())
}

#[derive(Debug, Deserialize, Default)]
pub(crate) struct TermsParams {
    pub(crate) q: Option<String>,
    pub(crate) from: Option<String>,
    pub(crate) to: Option<String>,
    /// The field whose values are counted.
    pub(crate) field: String,
    /// How many values (1 to [`MAX_TERMS`], default 10).
    pub(crate) size: Option<usize>,
}

/// The most values a terms answer lists.
pub(crate) const MAX_TERMS: usize = 50;

/// `GET /api/v1/events/terms`: the most frequent values of a field among the events a
/// query matches (the console's facets). A sensitive field is refused to a caller who sees
/// pseudonyms: its counts would tell the values' distribution.
pub(crate) async fn terms(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    p: Result<Query<TermsParams>, QueryRejection>,
) -> ApiResult<Response> {
    let tenant = auth.tenant_id()?;
    let Query(p) = p?;
    let q = query(p.q.as_deref())?;
    let field = p.field.trim().to_owned();
    if field.is_empty() || field.len() > 256 {
        return Err(ApiError::bad_request("field: 1 to 256 bytes"));
    }
    if let Some(mask) = mask(&app, &auth, None).await? {
        mask.check(&q)?;
        if mask.hides(&field) {
            return Err(ApiError::coded(
                StatusCode::FORBIDDEN,
                "sensitive_field",
                format!("{field} is a sensitive field of this tenant"),
            ));
        }
    }
    let size = p.size.unwrap_or(10).clamp(1, MAX_TERMS);
    let range = range(p.from.as_deref(), p.to.as_deref())?;
    let aggregation = Aggregation::Terms {
        field: field.clone(),
        size,
        then: None,
    };
    let slot = query_slot(&app, &tenant)?;
    let store = Arc::clone(&app.store);
    let result = held(slot, move || {
        store
            .aggregate(&tenant, &q, range, &aggregation)
            .map_err(|e| store_error(&e))
    })
    .await?;
    let AggregationResult::Terms { buckets, other } = result else {
        return Err(ApiError::internal("the store answered another aggregation"));
    };
    let note = AuditNote {
        query: Some(format!(
            "{} | terms {field}",
            p.q.clone().unwrap_or_default()
        )),
        count: Some(buckets.iter().map(|b| b.count).sum()),
        ..AuditNote::default()
    };
    Ok((
        Extension(note),
        Json(json!({
            "field": field,
            "buckets": buckets.iter().map(|b| json!({"value": b.key, "count": b.count})).collect::<Vec<_>>(),
            "other": other,
        })),
    )
        .into_response())
}
