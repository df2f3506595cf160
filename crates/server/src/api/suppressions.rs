//! `/suppressions`: a tenant's Sigma filter documents that keep shared rules' matches from
//! becoming alerts there (`vigie_detect::suppress`), with a preview over the last 30 days
//! before one is created.

use std::sync::Arc;

use axum::Extension;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use vigie_detect::suppress::{Active, MAX_PER_TENANT, TenantSuppressions, parse};
use vigie_event::EventId;
use vigie_event::time::Timestamp;
use vigie_state::AlertFilter;
use vigie_state::suppressions::NewSuppression;

use super::App;
use super::access::{AuditNote, Authorized};
use super::alerts::triager;
use super::buffers::held;
use super::error::{ApiError, ApiResult};
use super::events::{query_slot, store_error};

/// The default life of a suppression, in days (issue 27: 90).
pub(crate) const DEFAULT_DAYS: u32 = 90;

/// The longest.
pub(crate) const MAX_DAYS: u32 = 365;

/// Alerts a preview checks at most (the newest of the last 30 days).
pub(crate) const PREVIEW_ALERTS: usize = 10_000;

/// Samples a preview shows.
pub(crate) const PREVIEW_SAMPLES: usize = 10;

const DAY: i64 = 86_400_000_000_000;

/// `GET /api/v1/suppressions`: every suppression of the tenant (removed and expired ones
/// too, with their state), newest first, with how many alerts each kept back.
pub(crate) async fn list(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
) -> ApiResult<Response> {
    let tenant = auth.tenant_id()?;
    let all = app
        .state
        .suppressions(&tenant)
        .await
        .map_err(ApiError::internal)?;
    let now = Timestamp::now().as_nanos();
    let list: Vec<_> = all
        .iter()
        .map(|s| {
            let mut v = serde_json::to_value(s).unwrap_or_default();
            v["state"] = json!(if s.removed_at.is_some() {
                "removed"
            } else if s.expires_at <= now {
                "expired"
            } else {
                "active"
            });
            v
        })
        .collect();
    let note = AuditNote {
        count: Some(list.len() as u64),
        ..AuditNote::default()
    };
    Ok((Extension(note), Json(json!({ "suppressions": list }))).into_response())
}

/// A document to preview.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PreviewBody {
    /// The Sigma filter document (YAML).
    pub(crate) document: String,
}

/// What a preview found.
pub(crate) struct Preview {
    pub(crate) rules: Vec<String>,
    pub(crate) checked: u64,
    pub(crate) suppressed: u64,
    pub(crate) missing: u64,
    pub(crate) samples: Vec<serde_json::Value>,
}

/// Runs `document` over the stored events of the tenant's alerts of its rules in the last
/// 30 days (at most [`PREVIEW_ALERTS`], newest first).
pub(crate) async fn run_preview(
    app: &App,
    auth: &Authorized,
    document: &str,
) -> ApiResult<Preview> {
    let tenant = auth.tenant_id()?;
    let parsed = parse(document)
        .map_err(|why| ApiError::coded(StatusCode::BAD_REQUEST, "bad_suppression", why))?;
    let now = Timestamp::now();
    let mut alerts = Vec::new();
    for rule in &parsed.rules {
        let mut filter = AlertFilter {
            rule: Some(rule.clone()),
            from: Some(Timestamp::from_nanos(now.as_nanos() - 30 * DAY)),
            limit: Some(AlertFilter::MAX_LIMIT),
            ..AlertFilter::default()
        };
        while alerts.len() < PREVIEW_ALERTS {
            let page = app
                .state
                .alerts(&tenant, &filter)
                .await
                .map_err(ApiError::internal)?;
            alerts.extend(page.alerts);
            match page.next {
                Some(next) => filter.after = Some(next),
                None => break,
            }
        }
    }
    alerts.truncate(PREVIEW_ALERTS);
    let rules = parsed.rules.clone();
    let compiled = TenantSuppressions::new(vec![Active {
        id: "preview".to_owned(),
        expires: Timestamp::from_nanos(i64::MAX),
        parsed,
    }]);
    let slot = query_slot(app, &tenant)?;
    let store = Arc::clone(&app.store);
    let checked = alerts.len() as u64;
    let (suppressed, missing, samples) = held(slot, move || {
        let mut matcher = compiled.matcher();
        let (mut suppressed, mut missing, mut samples) = (0u64, 0u64, Vec::new());
        for a in &alerts {
            let Ok(id) = a.event_id.parse::<EventId>() else {
                missing += 1;
                continue;
            };
            let Some(event) = store.get(&tenant, id).map_err(|e| store_error(&e))? else {
                missing += 1;
                continue;
            };
            if compiled
                .suppressing(&mut matcher, &a.rule_id, &event, now)
                .is_some()
            {
                suppressed += 1;
                if samples.len() < PREVIEW_SAMPLES {
                    samples.push(json!({
                        "alert": a.id, "rule_id": a.rule_id, "rule_title": a.rule_title,
                        "host": a.host, "event_time": a.event_time,
                    }));
                }
            }
        }
        Ok((suppressed, missing, samples))
    })
    .await?;
    Ok(Preview {
        rules,
        checked,
        suppressed,
        missing,
        samples,
    })
}

fn preview_json(p: &Preview) -> serde_json::Value {
    json!({
        "rules": p.rules,
        "alerts_checked": p.checked,
        "would_suppress": p.suppressed,
        "events_missing": p.missing,
        "samples": p.samples,
        "days": 30,
    })
}

/// `POST /api/v1/suppressions/preview`.
pub(crate) async fn preview(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    body: Result<Json<PreviewBody>, JsonRejection>,
) -> ApiResult<Response> {
    let Json(body) = body?;
    let p = run_preview(&app, &auth, &body.document).await?;
    let note = AuditNote {
        count: Some(p.checked),
        query: Some(format!("suppression preview over {}", p.rules.join(", "))),
        ..AuditNote::default()
    };
    Ok((Extension(note), Json(preview_json(&p))).into_response())
}

/// A suppression to create.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateBody {
    /// The Sigma filter document (YAML).
    pub(crate) document: String,
    /// Why (required).
    pub(crate) justification: String,
    /// Days it applies (default 90, at most 365).
    pub(crate) days: Option<u32>,
}

/// `POST /api/v1/suppressions`: records it and applies it to new alerts at once.
pub(crate) async fn create(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    body: Result<Json<CreateBody>, JsonRejection>,
) -> ApiResult<Response> {
    let Json(body) = body?;
    let tenant = auth.tenant_id()?;
    let (_, author) = triager(&auth)?;
    let parsed = parse(&body.document)
        .map_err(|why| ApiError::coded(StatusCode::BAD_REQUEST, "bad_suppression", why))?;
    let justification = body.justification.trim();
    if justification.is_empty() || justification.chars().count() > 2000 {
        return Err(ApiError::bad_request(
            "justification: say why, in 1 to 2000 characters",
        ));
    }
    let days = body.days.unwrap_or(DEFAULT_DAYS);
    if days == 0 || days > MAX_DAYS {
        return Err(ApiError::bad_request(format!(
            "days {days}: from 1 to {MAX_DAYS}"
        )));
    }
    let now = Timestamp::now();
    let in_force = app
        .state
        .suppressions(&tenant)
        .await
        .map_err(ApiError::internal)?
        .iter()
        .filter(|s| s.removed_at.is_none() && s.expires_at > now.as_nanos())
        .count();
    if in_force >= MAX_PER_TENANT {
        return Err(ApiError::coded(
            StatusCode::CONFLICT,
            "too_many",
            format!("this tenant has {MAX_PER_TENANT} suppressions in force: remove one first"),
        ));
    }
    let expires_at = Timestamp::from_nanos(now.as_nanos() + i64::from(days) * DAY);
    let id = app
        .state
        .create_suppression(
            &tenant,
            &NewSuppression {
                title: parsed.title.clone(),
                rules: parsed.rules.clone(),
                document: body.document.clone(),
                justification: justification.to_owned(),
                author,
                expires_at,
            },
            now,
        )
        .await
        .map_err(ApiError::internal)?;
    crate::suppressions::reload(&app.state, &app.suppressions, &tenant)
        .await
        .map_err(ApiError::internal)?;
    let expires = expires_at.to_rfc3339(vigie_event::UtcOffset::UTC);
    let note = AuditNote {
        action: Some("suppression-create"),
        objects: vec![format!("suppression:{id}")],
        after: Some(json!({
            "title": parsed.title, "rules": parsed.rules, "document": body.document,
            "justification": justification, "expires": expires,
        })),
        ..AuditNote::default()
    };
    Ok((
        Extension(note),
        (
            StatusCode::CREATED,
            Json(json!({"id": id.to_string(), "expires": expires})),
        ),
    )
        .into_response())
}

/// `DELETE /api/v1/suppressions/{id}`: it no longer applies (the record stays, marked).
pub(crate) async fn remove(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let tenant = auth.tenant_id()?;
    let (_, by) = triager(&auth)?;
    let number: i64 = id
        .parse()
        .map_err(|_| ApiError::bad_request(format!("invalid suppression id {id:?}")))?;
    let removed = app
        .state
        .remove_suppression(&tenant, number, by, Timestamp::now())
        .await
        .map_err(ApiError::internal)?;
    if !removed {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no suppression {id} in force"),
        ));
    }
    crate::suppressions::reload(&app.state, &app.suppressions, &tenant)
        .await
        .map_err(ApiError::internal)?;
    let note = AuditNote {
        action: Some("suppression-remove"),
        objects: vec![format!("suppression:{id}")],
        ..AuditNote::default()
    };
    Ok((Extension(note), Json(json!({"removed": id}))).into_response())
}
