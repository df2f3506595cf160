//! `/alert-groups`: alerts of one rule on one entity within the tenant's window
//! (`vigie_govern::grouping`), listed for the queue's group view and acted on at once.

use axum::Extension;
use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use vigie_event::time::Timestamp;
use vigie_govern::triage::Transition;
use vigie_state::triage::{BulkOutcome, MAX_BULK};
use vigie_state::{AlertFilter, GroupFilter, GroupId};

use super::App;
use super::access::{AuditNote, Authorized};
use super::alerts::{TransitionBody, transition_of, triager};
use super::error::{ApiError, ApiResult};
use super::sensitive::mask;

/// The most alerts one request acts on through a group (in transactions of
/// [`MAX_BULK`]); a larger group is acted on by repeating the request.
pub(crate) const MAX_GROUP_ACTION: usize = 10 * MAX_BULK;

#[derive(Debug, Deserialize, Default)]
pub(crate) struct GroupsParams {
    /// `true`: only groups with an open alert.
    pub(crate) open: Option<bool>,
    /// Only groups with an open alert in this tier's queue.
    pub(crate) queue: Option<String>,
    /// Only this rule's.
    pub(crate) rule: Option<String>,
    pub(crate) limit: Option<usize>,
}

fn group_id(text: &str) -> ApiResult<GroupId> {
    text.parse()
        .map_err(|_| ApiError::bad_request(format!("invalid group id {text:?}")))
}

/// `GET /api/v1/alert-groups`.
pub(crate) async fn groups(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    p: Result<Query<GroupsParams>, QueryRejection>,
) -> ApiResult<Response> {
    let tenant = auth.tenant_id()?;
    let Query(p) = p?;
    let filter = GroupFilter {
        open: p.open.unwrap_or(false),
        queue: p
            .queue
            .filter(|q| !q.is_empty())
            .map(|q| {
                q.parse::<vigie_govern::Tier>()
                    .map(|t| t.as_str().to_owned())
                    .map_err(|_| ApiError::bad_request(format!("queue {q:?}: l1, l2 or l3")))
            })
            .transpose()?,
        rule: p.rule.filter(|r| !r.is_empty()),
        limit: p.limit,
    };
    let groups = app
        .state
        .alert_groups(&tenant, &filter)
        .await
        .map_err(ApiError::internal)?;
    let note = AuditNote {
        count: Some(groups.len() as u64),
        objects: groups.iter().map(|g| format!("group:{}", g.id)).collect(),
        ..AuditNote::default()
    };
    let mut body = json!({ "groups": groups });
    // A group's entity value is an event's host, user or address: masked like the field.
    if let Some(mask) = mask(&app, &auth, None).await? {
        mask.apply(&mut body);
    }
    Ok((Extension(note), Json(body)).into_response())
}

/// `GET /api/v1/alert-groups/{id}`: the group and its latest alerts (at most 100).
pub(crate) async fn group(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let tenant = auth.tenant_id()?;
    let id = group_id(&id)?;
    let Some(group) = app
        .state
        .alert_group(&tenant, &id)
        .await
        .map_err(ApiError::internal)?
    else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no group {id}"),
        ));
    };
    let filter = AlertFilter {
        group: Some(id.to_string()),
        limit: Some(100),
        ..AlertFilter::default()
    };
    let page = app
        .state
        .alerts(&tenant, &filter)
        .await
        .map_err(ApiError::internal)?;
    let mut objects = vec![format!("group:{id}")];
    objects.extend(page.alerts.iter().map(|a| format!("alert:{}", a.id)));
    let note = AuditNote {
        count: Some(page.alerts.len() as u64),
        objects,
        ..AuditNote::default()
    };
    let mut body = json!({ "group": group, "alerts": page.alerts });
    if let Some(mask) = mask(&app, &auth, None).await? {
        mask.apply(&mut body);
    }
    Ok((Extension(note), Json(body)).into_response())
}

/// Which of a group's alerts a transition is tried on: a reopening on its closed ones,
/// anything else on its open ones (the lifecycle then decides alert by alert).
fn candidates(id: &GroupId, transition: Transition) -> AlertFilter {
    AlertFilter {
        group: Some(id.to_string()),
        open: transition != Transition::Reopen,
        status: (transition == Transition::Reopen).then_some(vigie_state::AlertStatus::Closed),
        ..AlertFilter::default()
    }
}

/// `POST /api/v1/alert-groups/{id}/transitions`: qualifies (or acknowledges, escalates,
/// closes…) the group once: the transition is applied to each of its alerts the lifecycle
/// allows it on, at most [`MAX_GROUP_ACTION`] a request (`remaining` says more are left).
pub(crate) async fn transition(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    Path(id): Path<String>,
    body: Result<Json<TransitionBody>, JsonRejection>,
) -> ApiResult<Response> {
    let Json(body) = body?;
    let tenant = auth.tenant_id()?;
    let id = group_id(&id)?;
    let transition = transition_of(&body)?;
    let (role, user) = triager(&auth)?;
    if app
        .state
        .alert_group(&tenant, &id)
        .await
        .map_err(ApiError::internal)?
        .is_none()
    {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no group {id}"),
        ));
    }
    let now = Timestamp::now();
    let mut filter = candidates(&id, transition);
    let mut total = BulkOutcome::default();
    let mut seen = 0;
    let mut remaining = false;
    loop {
        let (ids, next) = app
            .state
            .alert_ids(&tenant, &filter, MAX_BULK)
            .await
            .map_err(ApiError::internal)?;
        seen += ids.len();
        let outcome = app
            .state
            .transition_alerts(
                &tenant,
                &ids,
                transition,
                role,
                Some(user),
                body.note.as_deref(),
                now,
            )
            .await
            .map_err(ApiError::internal)?;
        total.done += outcome.done;
        total.missing += outcome.missing;
        for (why, n) in outcome.refused {
            *total.refused.entry(why).or_default() += n;
        }
        total.changed.extend(outcome.changed);
        match next {
            Some(cursor) if seen < MAX_GROUP_ACTION => filter.after = Some(cursor),
            Some(_) => {
                remaining = true;
                break;
            }
            None => break,
        }
    }
    // Nothing changed: say why as for one alert, so that the analyst is not told "done: 0".
    if total.done == 0 {
        let why = if seen == 0 {
            "the group has no alert this applies to".to_owned()
        } else {
            total.refused.keys().cloned().collect::<Vec<_>>().join("; ")
        };
        return Err(ApiError::coded(
            StatusCode::CONFLICT,
            "transition_refused",
            format!("no alert of the group changed: {why}"),
        ));
    }
    let note = AuditNote {
        action: Some("group-transition"),
        count: Some(total.done),
        objects: std::iter::once(format!("group:{id}"))
            .chain(total.changed.iter().map(|a| format!("alert:{a}")))
            .collect(),
        after: Some(json!({
            "transition": transition.as_str(),
            "qualification": body.qualification,
            "tier": body.tier,
            "done": total.done,
        })),
        ..AuditNote::default()
    };
    Ok((
        Extension(note),
        Json(json!({
            "done": total.done,
            "refused": total.refused,
            "remaining": remaining,
        })),
    )
        .into_response())
}
