//! `POST /api/v1/alerts/bulk`: one transition or assignment on a selection of alerts (their
//! ids) or on every alert of a filter, after a confirmation of the count.
//!
//! Decisions: a filter is acted on only when the request carries `confirm`, the number of
//! alerts the filter matches now; without it, or with another number, the answer is a 409
//! `confirm_count` carrying the count (the console shows it in its confirmation), so that
//! nobody closes 9,000 alerts believing they close 90. At most
//! [`vigie_state::triage::MAX_BULK`] alerts an action, in one transaction; what the
//! lifecycle refuses for some alerts leaves them as they are and is counted by reason.

use axum::Extension;
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use vigie_event::time::Timestamp;
use vigie_state::AlertId;
use vigie_state::triage::{BulkOutcome, MAX_BULK};

use super::App;
use super::access::{AuditNote, Authorized};
use super::alerts::{AlertsParams, TransitionBody, assignee_of, filter_of, transition_of, triager};
use super::error::{ApiError, ApiResult};

/// A bulk request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BulkBody {
    /// The selection's alert ids (exclusive with `filter`).
    pub(crate) ids: Option<Vec<String>>,
    /// Every alert this filter matches (the list's parameters).
    pub(crate) filter: Option<AlertsParams>,
    /// The count of `filter`'s alerts the caller confirms.
    pub(crate) confirm: Option<u64>,
    /// A transition's `action` (see `/alerts/{id}/transitions`), or `assign`.
    pub(crate) action: String,
    /// For `qualify`.
    pub(crate) qualification: Option<String>,
    /// For `escalate` and `deescalate`.
    pub(crate) tier: Option<String>,
    /// The note (required where the single action requires it).
    pub(crate) note: Option<String>,
    /// For `assign`: the user id or `me`; absent: back to the queue.
    pub(crate) assignee: Option<String>,
}

/// The alerts a bulk request names, or the 409 that asks to confirm their count.
async fn targets(app: &App, auth: &Authorized, body: &mut BulkBody) -> ApiResult<Vec<AlertId>> {
    let tenant = auth.tenant_id()?;
    match (body.ids.take(), body.filter.take()) {
        (Some(ids), None) => {
            if ids.is_empty() {
                return Err(ApiError::bad_request("ids: select at least one alert"));
            }
            if ids.len() > MAX_BULK {
                return Err(ApiError::bad_request(format!(
                    "ids: {} alerts, at most {MAX_BULK} an action",
                    ids.len()
                )));
            }
            let mut parsed: Vec<AlertId> = ids
                .iter()
                .map(|i| {
                    i.parse()
                        .map_err(|_| ApiError::bad_request(format!("ids: invalid alert id {i:?}")))
                })
                .collect::<ApiResult<_>>()?;
            parsed.sort_by(|a, b| a.as_str().cmp(b.as_str()));
            parsed.dedup();
            Ok(parsed)
        }
        (None, Some(params)) => {
            let filter = filter_of(params, auth)?;
            let count = app
                .state
                .count_alerts(&tenant, &filter, MAX_BULK as u64)
                .await
                .map_err(ApiError::internal)?;
            if count > MAX_BULK as u64 {
                return Err(ApiError::coded(
                    StatusCode::BAD_REQUEST,
                    "too_many",
                    format!(
                        "the filter matches more than {MAX_BULK} alerts: narrow it (a bulk action \
                         takes at most {MAX_BULK})"
                    ),
                ));
            }
            if body.confirm != Some(count) {
                let mut err = ApiError::coded(
                    StatusCode::CONFLICT,
                    "confirm_count",
                    format!(
                        "the filter matches {count} alerts: send confirm = {count} to act on them"
                    ),
                );
                err.details = Some(Box::new(json!({ "count": count })));
                return Err(err);
            }
            let (ids, _) = app
                .state
                .alert_ids(&tenant, &filter, MAX_BULK)
                .await
                .map_err(ApiError::internal)?;
            Ok(ids)
        }
        _ => Err(ApiError::bad_request(
            "name the alerts: either ids or filter (with confirm)",
        )),
    }
}

/// `POST /api/v1/alerts/bulk`.
pub(crate) async fn bulk(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    body: Result<Json<BulkBody>, JsonRejection>,
) -> ApiResult<Response> {
    let Json(mut body) = body?;
    let tenant = auth.tenant_id()?;
    let (role, user) = triager(&auth)?;
    let now = Timestamp::now();
    // Decode the action before touching anything: a typo costs no count.
    let assign = body.action == "assign";
    let transition = if assign {
        None
    } else {
        Some(transition_of(&TransitionBody {
            action: body.action.clone(),
            qualification: body.qualification.clone(),
            tier: body.tier.clone(),
            note: None,
        })?)
    };
    let assignee = if assign {
        assignee_of(&app, &auth, &tenant, body.assignee.as_deref()).await?
    } else {
        None
    };
    let ids = targets(&app, &auth, &mut body).await?;
    let note = body.note.as_deref();
    let outcome: BulkOutcome = match transition {
        Some(t) => app
            .state
            .transition_alerts(&tenant, &ids, t, role, Some(user), note, now)
            .await
            .map_err(ApiError::internal)?,
        None => app
            .state
            .assign_alerts(&tenant, &ids, role, Some(user), assignee, note, now)
            .await
            .map_err(ApiError::internal)?,
    };
    let audit = AuditNote {
        action: Some("alert-bulk"),
        count: Some(outcome.done),
        objects: outcome
            .changed
            .iter()
            .map(|id| format!("alert:{id}"))
            .collect(),
        after: Some(json!({
            "action": body.action,
            "qualification": body.qualification,
            "tier": body.tier,
            "assignee": assignee.map(|(u, _)| u.0.to_string()),
            "done": outcome.done,
        })),
        ..AuditNote::default()
    };
    Ok((
        Extension(audit),
        Json(json!({
            "matched": ids.len(),
            "done": outcome.done,
            "refused": outcome.refused,
            "missing": outcome.missing,
        })),
    )
        .into_response())
}
