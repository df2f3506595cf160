//! `/sources`: the tenant's source inventory (every source and host that sends: first and
//! last heard, rates, owner, silence threshold learnt or set, and whether it is silent).

use axum::Extension;
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use vigie_event::time::Timestamp;
use vigie_govern::silence;
use vigie_state::sources::SourceRow;

use super::App;
use super::access::{AuditNote, Authorized};
use super::error::{ApiError, ApiResult};

/// The longest threshold a person sets: 30 days.
pub(crate) const MAX_THRESHOLD_S: u64 = 30 * 86_400;

fn utc(nanos: i64) -> String {
    Timestamp::from_nanos(nanos).to_rfc3339(vigie_event::UtcOffset::UTC)
}

/// A source as the API shows it.
pub(crate) fn source_json(s: &SourceRow, now: Timestamp) -> serde_json::Value {
    let learnt = silence::learnt(&s.hours);
    let limit = silence::threshold(s.threshold_s, &s.hours);
    let day: u64 = s.hours.iter().rev().take(24).sum();
    let week: u64 = s.hours.iter().sum();
    let state = match limit {
        None => "learning",
        Some(t) if silence::is_silent(s.last_seen, t, now.as_nanos()) => "silent",
        Some(_) => "ok",
    };
    json!({
        "source": s.source, "host": s.host,
        "first_seen": utc(s.first_seen), "last_seen": utc(s.last_seen),
        "events": s.events,
        "per_hour_24h": (day as f64 / 24.0 * 10.0).round() / 10.0,
        "per_day_7d": (week as f64 / 7.0).round(),
        "owner": s.owner,
        "threshold_set_s": s.threshold_s,
        "threshold_learnt_s": learnt,
        "threshold_s": limit,
        "state": state,
        "silent_alert": s.silent_alert,
        "hours": s.hours,
    })
}

/// `GET /api/v1/sources`.
pub(crate) async fn list(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
) -> ApiResult<Response> {
    let tenant = auth.tenant_id()?;
    let now = Timestamp::now();
    let rows = app
        .state
        .sources(&tenant, now)
        .await
        .map_err(ApiError::internal)?;
    let list: Vec<_> = rows.iter().map(|s| source_json(s, now)).collect();
    let note = AuditNote {
        count: Some(list.len() as u64),
        ..AuditNote::default()
    };
    Ok((Extension(note), Json(json!({ "sources": list }))).into_response())
}

/// A source's settings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SetBody {
    pub(crate) source: String,
    #[serde(default)]
    pub(crate) host: String,
    /// Who answers for it (absent or empty: nobody named).
    pub(crate) owner: Option<String>,
    /// Seconds of silence that raise its alert (absent: learnt from its rate).
    pub(crate) threshold_s: Option<u64>,
}

/// `PUT /api/v1/sources`: sets a source's owner and threshold.
pub(crate) async fn set(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    body: Result<Json<SetBody>, JsonRejection>,
) -> ApiResult<Response> {
    let Json(body) = body?;
    let tenant = auth.tenant_id()?;
    let owner = body
        .owner
        .as_deref()
        .map(str::trim)
        .filter(|o| !o.is_empty());
    if owner.is_some_and(|o| o.chars().count() > 255) {
        return Err(ApiError::bad_request("owner: at most 255 characters"));
    }
    if let Some(t) = body.threshold_s
        && (t == 0 || t > MAX_THRESHOLD_S)
    {
        return Err(ApiError::bad_request(format!(
            "threshold_s {t}: from 1 to {MAX_THRESHOLD_S} (30 days), or absent to learn it"
        )));
    }
    let done = app
        .state
        .set_source(&tenant, &body.source, &body.host, owner, body.threshold_s)
        .await
        .map_err(ApiError::internal)?;
    if !done {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no source {:?} on host {:?}", body.source, body.host),
        ));
    }
    let note = AuditNote {
        action: Some("source-settings"),
        objects: vec![format!("source:{}/{}", body.source, body.host)],
        after: Some(json!({"owner": owner, "threshold_s": body.threshold_s})),
        ..AuditNote::default()
    };
    Ok((
        Extension(note),
        Json(json!({"source": body.source, "host": body.host, "owner": owner, "threshold_s": body.threshold_s})),
    )
        .into_response())
}
