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
    /// Only alerts in this tier's queue (`l1`, `l2`, `l3`).
    pub(crate) queue: Option<String>,
    /// `true`: only open alerts (not closed, not linked).
    pub(crate) open: Option<bool>,
    /// Only alerts assigned to this user id (`me`: the caller).
    pub(crate) assignee: Option<String>,
    /// Only alerts of this group.
    pub(crate) group: Option<String>,
}

/// The filter of a list or bulk request.
pub(crate) fn filter_of(p: AlertsParams, auth: &Authorized) -> ApiResult<AlertFilter> {
    let range = range(p.from.as_deref(), p.to.as_deref())?;
    Ok(AlertFilter {
        levels: p
            .level
            .as_deref()
            .filter(|l| !l.is_empty())
            .map(levels)
            .transpose()?
            .unwrap_or_default(),
        rule: p.rule.filter(|r| !r.is_empty()),
        status: p
            .status
            .filter(|s| !s.is_empty())
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
        queue: p
            .queue
            .filter(|q| !q.is_empty())
            .map(|q| {
                q.parse::<vigie_govern::Tier>()
                    .map(|t| t.as_str().to_owned())
                    .map_err(|_| ApiError::bad_request(format!("queue {q:?}: l1, l2 or l3")))
            })
            .transpose()?,
        open: p.open.unwrap_or(false),
        assignee: p
            .assignee
            .filter(|a| !a.is_empty())
            .map(|a| {
                if a == "me" {
                    return auth.caller.user().map(|u| u.id.0).ok_or_else(|| {
                        ApiError::bad_request("assignee=me: the caller is not a person")
                    });
                }
                a.parse::<u64>()
                    .map_err(|_| ApiError::bad_request(format!("assignee {a:?}: a user id or me")))
            })
            .transpose()?,
        group: p
            .group
            .filter(|g| !g.is_empty())
            .map(|g| {
                g.parse::<vigie_state::GroupId>()
                    .map(|g| g.to_string())
                    .map_err(|e| ApiError::bad_request(e.to_string()))
            })
            .transpose()?,
        from: range.from,
        to: range.to,
        limit: p.limit,
        after: p
            .cursor
            .map(|c| c.parse::<AlertCursor>().map_err(ApiError::bad_request))
            .transpose()?,
    })
}

pub(crate) async fn alerts(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    p: Result<Query<AlertsParams>, QueryRejection>,
) -> ApiResult<Response> {
    let tenant = auth.tenant_id()?;
    let Query(p) = p?;
    let filter = filter_of(p, &auth)?;
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

/// What an alert's transition, assignment or comment did: the states before and after and
/// the history row's number, or the API's error (404 for no such alert in this tenant,
/// the lifecycle's refusal otherwise).
fn settled(
    outcome: TransitionOutcome,
    id: &AlertId,
) -> ApiResult<(
    vigie_govern::triage::AlertState,
    vigie_govern::triage::AlertState,
    u64,
)> {
    match outcome {
        TransitionOutcome::NoAlert => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no alert {id}"),
        )),
        TransitionOutcome::Refused(why) => Err(refused(why)),
        TransitionOutcome::Done { from, to, seq } => Ok((from, to, seq)),
    }
}

/// A lifecycle refusal as an API error: 403 for the role or the queue, 409 for the alert's
/// state, 400 for what the request said.
pub(crate) fn refused(why: Refusal) -> ApiError {
    let status = match why {
        Refusal::Role | Refusal::Queue => StatusCode::FORBIDDEN,
        Refusal::Status(_) => StatusCode::CONFLICT,
        Refusal::Note(_) | Refusal::Tier(_) | Refusal::Assignee => StatusCode::BAD_REQUEST,
    };
    ApiError::coded(status, "transition_refused", why.to_string())
}

/// The role the caller triages with on this tenant (a provider analyst's: their grant's
/// tier), and their id; only a person triages.
pub(crate) fn triager(
    auth: &Authorized,
) -> ApiResult<(vigie_govern::Role, vigie_govern::grant::UserId)> {
    let user = auth
        .caller
        .user()
        .ok_or_else(|| ApiError::new(StatusCode::FORBIDDEN, "only a person triages"))?;
    Ok((auth.role.unwrap_or(user.role), user.id))
}

pub(crate) fn transition_of(body: &TransitionBody) -> ApiResult<Transition> {
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
    let (role, user) = triager(&auth)?;
    let outcome = app
        .state
        .transition_alert(
            &tenant,
            &id,
            transition,
            role,
            Some(user),
            body.note.as_deref(),
            vigie_event::time::Timestamp::now(),
        )
        .await
        .map_err(ApiError::internal)?;
    let (from, to, seq) = settled(outcome, &id)?;
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
        after: Some(json!({"transition": transition.as_str(), "state": state(to), "history": seq})),
        ..AuditNote::default()
    };
    Ok((
        Extension(note),
        Json(json!({"from": state(from), "to": state(to), "history": seq})),
    )
        .into_response())
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

/// An assignment as the API takes it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AssignBody {
    /// The user id to assign to (`me`: the caller); absent or null: back to the queue.
    pub(crate) assignee: Option<String>,
    /// Why (optional).
    pub(crate) note: Option<String>,
}

/// The person an alert of `tenant` is assigned to, and their role there (their grant's tier
/// for a provider analyst); a user that does not exist or is suspended is a 400, as is one
/// with no access to the tenant.
pub(crate) async fn assignee_of(
    app: &App,
    auth: &Authorized,
    tenant: &vigie_event::TenantId,
    text: Option<&str>,
) -> ApiResult<Option<(vigie_govern::grant::UserId, vigie_govern::Role)>> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let id =
        if text == "me" {
            triager(auth)?.1
        } else {
            vigie_govern::grant::UserId(text.parse().map_err(|_| {
                ApiError::bad_request(format!("assignee {text:?}: a user id or me"))
            })?)
        };
    let nobody = || ApiError::bad_request(format!("assignee {text:?}: no such active user"));
    let user = app
        .state
        .user(id)
        .await
        .map_err(ApiError::internal)?
        .filter(|u| u.status == vigie_state::UserStatus::Active)
        .ok_or_else(nobody)?;
    let role = super::access::role_on(app, &user, tenant)
        .await?
        .ok_or_else(|| {
            ApiError::coded(
                StatusCode::BAD_REQUEST,
                "transition_refused",
                format!("assignee {text:?} does not triage alerts on this tenant"),
            )
        })?;
    Ok(Some((id, role)))
}

/// `POST /api/v1/alerts/{id}/assign`: gives an open alert to a person who can work it, or
/// back to its queue (`vigie_govern::triage::assign`); a history row records it.
pub(crate) async fn assign(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    Path(id): Path<String>,
    body: Result<Json<AssignBody>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<Response> {
    let Json(body) = body?;
    let tenant = auth.tenant_id()?;
    let id = alert_id(&id)?;
    let (role, user) = triager(&auth)?;
    let assignee = assignee_of(&app, &auth, &tenant, body.assignee.as_deref()).await?;
    let outcome = app
        .state
        .assign_alert(
            &tenant,
            &id,
            role,
            Some(user),
            assignee,
            body.note.as_deref(),
            vigie_event::time::Timestamp::now(),
        )
        .await
        .map_err(ApiError::internal)?;
    let (_, _, seq) = settled(outcome, &id)?;
    let to = assignee.map(|(u, _)| u.0.to_string());
    let note = AuditNote {
        action: Some("alert-assign"),
        objects: vec![format!("alert:{id}")],
        after: Some(json!({"assignee": to, "history": seq})),
        ..AuditNote::default()
    };
    Ok((
        Extension(note),
        Json(json!({"assignee": to, "history": seq})),
    )
        .into_response())
}

/// A comment as the API takes it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CommentBody {
    /// The text (1 to 4,000 characters).
    pub(crate) text: String,
}

/// `POST /api/v1/alerts/{id}/comments`: a comment, as a row of the alert's history.
pub(crate) async fn comment(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    Path(id): Path<String>,
    body: Result<Json<CommentBody>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<Response> {
    let Json(body) = body?;
    let tenant = auth.tenant_id()?;
    let id = alert_id(&id)?;
    let (role, user) = triager(&auth)?;
    let outcome = app
        .state
        .comment_alert(
            &tenant,
            &id,
            role,
            Some(user),
            &body.text,
            vigie_event::time::Timestamp::now(),
        )
        .await
        .map_err(ApiError::internal)?;
    let (_, _, seq) = settled(outcome, &id)?;
    let note = AuditNote {
        action: Some("alert-comment"),
        objects: vec![format!("alert:{id}")],
        after: Some(json!({"history": seq})),
        ..AuditNote::default()
    };
    Ok((
        Extension(note),
        (StatusCode::CREATED, Json(json!({"history": seq}))),
    )
        .into_response())
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
