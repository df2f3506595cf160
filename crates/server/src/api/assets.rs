//! `/assets`: the tenant's host list with a criticality and an owner, which an alert's
//! priority weighs (`vigie_govern::priority`); replaced whole by a CSV import.

use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use vigie_govern::assets::{MAX_ASSETS, parse_csv};

use super::App;
use super::access::{AuditNote, Authorized};
use super::error::{ApiError, ApiResult};

/// The largest import: 100,000 hosts of a CMDB export with a few columns.
pub(crate) const MAX_IMPORT_BYTES: usize = 16 << 20;

/// `GET /api/v1/assets`.
pub(crate) async fn assets(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
) -> ApiResult<Response> {
    let tenant = auth.tenant_id()?;
    let assets = app
        .state
        .assets(&tenant)
        .await
        .map_err(ApiError::internal)?;
    let note = AuditNote {
        count: Some(assets.len() as u64),
        ..AuditNote::default()
    };
    Ok((Extension(note), Json(json!({ "assets": assets }))).into_response())
}

/// `PUT /api/v1/assets` with a CSV body (`text/csv`): replaces the list. An error names
/// its line, and nothing is imported.
pub(crate) async fn import(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let tenant = auth.tenant_id()?;
    let csv = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("text/csv"));
    if !csv {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the asset list as text/csv",
        ));
    }
    let list = parse_csv(&body).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let before = app
        .state
        .assets(&tenant)
        .await
        .map_err(ApiError::internal)?
        .len();
    app.state
        .replace_assets(&tenant, &list)
        .await
        .map_err(ApiError::internal)?;
    let note = AuditNote {
        action: Some("assets-import"),
        objects: vec![format!("tenant:{}", tenant.as_str())],
        before: Some(json!({ "hosts": before })),
        after: Some(json!({ "hosts": list.len() })),
        count: Some(list.len() as u64),
        ..AuditNote::default()
    };
    Ok((
        Extension(note),
        Json(json!({ "hosts": list.len(), "max": MAX_ASSETS })),
    )
        .into_response())
}
