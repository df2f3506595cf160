//! `/alerts`, `/alerts/{id}`: a tenant's alerts, with the events around one.

use std::sync::Arc;

use axum::Extension;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use vigie_event::{EventId, render};
use vigie_govern::triage::{Qualification, Refusal, Transition};
use vigie_state::triage::Outcome as TransitionOutcome;
use vigie_state::{AlertCursor, AlertFilter, AlertId, AlertStatus};

use super::App;
use super::access::{AuditNote, Authorized};
use super::buffers::held;
use super::error::{ApiError, ApiResult};
use super::events::{query_slot, range, store_error};
use super::sensitive::mask;

#[derive(Debug, Deserialize, Default)]
pub(crate) struct AlertsParams {
    pub(crate) level: Option<String>,
    pub(crate) rule: Option<String>,
    pub(crate) status: Option<String>,
    pub(crate) host: Option<String>,
    /// Text in the rule's title or id or the host (any case).
    pub(crate) q: Option<String>,
    pub(crate) from: Option<String>,
    pub(crate) to: Option<String>,
    pub(crate) limit: Option<usize>,
    pub(crate) cursor: Option<String>,
    /// Only alerts recorded after this alert id (a live view's last).
    pub(crate) after_id: Option<String>,
}

pub(crate) async fn alerts(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    p: Result<Query<AlertsParams>, QueryRejection>,
) -> ApiResult<Response> {
    let tenant = auth.tenant_id()?;
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
                        "status {s:?}: expected new, acknowledged, qualified, escalated, closed or linked"
                    ))
                })
            })
            .transpose()?,
        host: p.host.filter(|h| !h.is_empty()),
        text: p.q.filter(|q| !q.trim().is_empty()),
        recorded_after: p
            .after_id
            .map(|id| {
                id.parse::<AlertId>().map_err(|_| {
                    ApiError::bad_request(format!("after_id: invalid alert id {id:?}"))
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
    let note = AuditNote {
        count: Some(page.alerts.len() as u64),
        objects: page
            .alerts
            .iter()
            .map(|a| format!("alert:{}", a.id))
            .collect(),
        ..AuditNote::default()
    };
    let mut body = json!({
        "alerts": page.alerts,
        "next": page.next.map(|c| c.to_string()),
    });
    if let Some(mask) = mask(&app, &auth, None).await? {
        mask.apply(&mut body);
    }
    Ok((Extension(note), Json(body)).into_response())
}

/// An alert id from a path; a malformed one is a 400.
fn alert_id(text: &str) -> ApiResult<AlertId> {
    text.parse()
        .map_err(|_| ApiError::bad_request(format!("invalid alert id {text:?}")))
}

/// A comma-separated list of levels; an unknown one is a 400 (it could never match).
pub(crate) fn levels(text: &str) -> ApiResult<Vec<String>> {
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
pub(crate) const CONTEXT_EVENTS: usize = 5;

pub(crate) async fn alert(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let tenant = auth.tenant_id()?;
    let id = alert_id(&id)?;
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
    let mut body = json!({
        "alert": alert,
        "event": event.as_ref().map(render::event),
        "context": context.iter().map(render::event).collect::<Vec<_>>(),
    });
    // An elevation to clear fields on this alert lifts the mask for it.
    let masked = match mask(&app, &auth, Some(id.as_str())).await? {
        Some(mask) => {
            mask.apply(&mut body);
            true
        }
        None => false,
    };
    let mut objects = vec![format!("alert:{id}")];
    objects.extend(body["event"]["id"].as_str().map(|e| format!("event:{e}")));
    let note = AuditNote {
        objects,
        count: Some(1 + body["context"].as_array().map_or(0, Vec::len) as u64),
        // Who saw sensitive values in clear is what a DPO asks first.
        query: (!masked
            && auth
                .caller
                .user()
                .is_some_and(|u| u.role.org_kind() == vigie_govern::OrgKind::Provider))
        .then(|| "sensitive fields shown in clear".to_owned()),
        ..AuditNote::default()
    };
    Ok((Extension(note), Json(body)).into_response())
}

/// A transition as the API takes it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TransitionBody {
    /// `acknowledge`, `qualify`, `escalate`, `deescalate`, `close`, `reopen`.
    pub(crate) action: String,
    /// For `qualify`: `true-positive`, `false-positive`, `benign`, `duplicate`.
    pub(crate) qualification: Option<String>,
    /// For `escalate` and `deescalate`: `l1`, `l2`, `l3`.
    pub(crate) tier: Option<String>,
    /// The reason or handover note (required by qualify, escalate, deescalate, reopen).
    pub(crate) note: Option<String>,
}

fn transition_of(body: &TransitionBody) -> ApiResult<Transition> {
    let tier = || {
        let t = body.tier.as_deref().unwrap_or("");
        t.parse::<vigie_govern::Tier>()
            .map_err(|_| ApiError::bad_request(format!("tier {t:?}: l1, l2 or l3")))
    };
    Ok(match body.action.as_str() {
        "acknowledge" => Transition::Acknowledge,
        "qualify" => {
            let q = body.qualification.as_deref().unwrap_or("");
            Transition::Qualify(Qualification::parse(q).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "qualification {q:?}: true-positive, false-positive, benign or duplicate"
                ))
            })?)
        }
        "escalate" => Transition::Escalate(tier()?),
        "deescalate" => Transition::Deescalate(tier()?),
        "close" => Transition::Close,
        "reopen" => Transition::Reopen,
        other => {
            return Err(ApiError::bad_request(format!(
                "action {other:?}: acknowledge, qualify, escalate, deescalate, close or reopen"
            )));
        }
    })
}

/// `POST /api/v1/alerts/{id}/transitions`: acknowledge, qualify, escalate, de-escalate,
/// close or reopen an alert, as the lifecycle allows the caller's role on this tenant
/// (`vigie_govern::triage`); a refusal is a 409 (the alert's state) or 403 (the role, the
/// queue) naming why. Every transition is a row of the alert's history.
pub(crate) async fn transition(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    Path(id): Path<String>,
    body: Result<Json<TransitionBody>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<Response> {
    let Json(body) = body?;
    let tenant = auth.tenant_id()?;
    let id = alert_id(&id)?;
    let transition = transition_of(&body)?;
    let user = auth
        .caller
        .user()
        .ok_or_else(|| ApiError::new(StatusCode::FORBIDDEN, "only a person triages"))?;
    let role = auth.role.unwrap_or(user.role);
    let outcome = app
        .state
        .transition_alert(
            &tenant,
            &id,
            transition,
            role,
            Some(user.id),
            body.note.as_deref(),
            vigie_event::time::Timestamp::now(),
        )
        .await
        .map_err(ApiError::internal)?;
    match outcome {
        TransitionOutcome::NoAlert => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no alert {id}"),
        )),
        TransitionOutcome::Refused(why) => {
            let status = match why {
                Refusal::Role | Refusal::Queue => StatusCode::FORBIDDEN,
                Refusal::Status(_) => StatusCode::CONFLICT,
                Refusal::Note(_) | Refusal::Tier(_) => StatusCode::BAD_REQUEST,
            };
            Err(ApiError::coded(
                status,
                "transition_refused",
                why.to_string(),
            ))
        }
        TransitionOutcome::Done { from, to, seq } => {
            let state = |s: vigie_govern::triage::AlertState| {
                json!({
                    "status": s.status.as_str(), "queue": s.queue.as_str(),
                    "qualification": s.qualification.map(Qualification::as_str),
                })
            };
            let note = AuditNote {
                action: Some("alert-transition"),
                objects: vec![format!("alert:{id}")],
                before: Some(state(from)),
                after: Some(
                    json!({"transition": transition.as_str(), "state": state(to), "history": seq}),
                ),
                ..AuditNote::default()
            };
            Ok((
                Extension(note),
                Json(json!({"from": state(from), "to": state(to), "history": seq})),
            )
                .into_response())
        }
    }
}

/// `GET /api/v1/alerts/{id}/history`: every transition of an alert, oldest first.
pub(crate) async fn history(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let tenant = auth.tenant_id()?;
    let id = alert_id(&id)?;
    if app
        .state
        .alert(&tenant, &id)
        .await
        .map_err(ApiError::internal)?
        .is_none()
    {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no alert {id}"),
        ));
    }
    let rows = app
        .state
        .alert_history(&tenant, &id)
        .await
        .map_err(ApiError::internal)?;
    let note = AuditNote {
        objects: vec![format!("alert:{id}")],
        count: Some(rows.len() as u64),
        ..AuditNote::default()
    };
    Ok((Extension(note), Json(json!({ "history": rows }))).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
