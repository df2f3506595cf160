//! `/quarantine…`: journal records set aside, shown, retried, dropped.

use axum::Extension;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use vigie_event::TenantId;

use super::access::Authorized;
use super::error::{ApiError, ApiResult};
use super::{App, blocking};

#[derive(Debug, Deserialize)]
pub(crate) struct QuarantineParams {
    /// An administrator's listing of every tenant (`all=true`, no `Vigie-Tenant`).
    all: Option<bool>,
}

pub(crate) fn quarantine_error(e: crate::ServerError) -> ApiError {
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
pub(crate) async fn quarantine_list(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    headers: HeaderMap,
    p: Result<Query<QuarantineParams>, QueryRejection>,
) -> ApiResult<Json<Value>> {
    let Query(p) = p?;
    let scope = if p.all == Some(true) && !headers.contains_key("vigie-tenant") {
        if !auth.instance {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "all=true is the instance operator's",
            ));
        }
        None
    } else {
        Some(auth.tenant_id()?)
    };
    let q = app.quarantine.clone();
    let entries = blocking(move || {
        q.list(scope.as_ref().map(TenantId::as_str))
            .map_err(quarantine_error)
    })
    .await?;
    Ok(Json(json!({ "records": entries })))
}

pub(crate) async fn quarantine_show(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let tenant = auth.tenant_id()?;
    let q = app.quarantine.clone();
    let entry = blocking(move || q.get(tenant.as_str(), &id).map_err(quarantine_error)).await?;
    Ok(Json(json!(entry)))
}

/// Asks the pipeline to process a record again (administrator; after a limit was raised or
/// a fix deployed). The answer comes before the retry runs: the entry leaves the list when it
/// succeeds, or stays with its new reason.
pub(crate) async fn quarantine_retry(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let tenant = auth.tenant_id()?;
    let q = app.quarantine.clone();
    let entry = blocking(move || {
        q.request_retry(tenant.as_str(), &id)
            .map_err(quarantine_error)
    })
    .await?;
    Ok((StatusCode::ACCEPTED, Json(json!(entry))))
}

/// Removes a record for good: its events are lost (administrator).
pub(crate) async fn quarantine_drop(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let tenant = auth.tenant_id()?;
    let q = app.quarantine.clone();
    let entry =
        blocking(move || q.drop_entry(tenant.as_str(), &id).map_err(quarantine_error)).await?;
    Ok(Json(json!({ "dropped": entry })))
}
