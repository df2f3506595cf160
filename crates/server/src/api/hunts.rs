//! `/hunts`: retro-hunts (a Sigma rule over a tenant's stored events for a time range, as
//! a job: `crate::hunts`), their progress, cancel, results, and alerts from the results.

use axum::Extension;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use vigie_event::time::Timestamp;
use vigie_event::{EventId, TenantId};
use vigie_sigma::rule::Detection;
use vigie_sigma::{Loaded, Rule, parse_rules};
use vigie_state::hunts::{Hunt, NewHunt};
use vigie_state::{AlertKind, NewAlert};

use super::App;
use super::access::{AuditNote, Authorized};
use super::alerts::triager;
use super::error::{ApiError, ApiResult};
use super::events::range;
use super::sensitive::mask;
use crate::hunts::{Busy, Job};

/// The largest pasted rule, in bytes.
pub(crate) const MAX_DOCUMENT: usize = 64 * 1024;

/// Results an answer lists at most (all are kept, up to the job's bound).
const LISTED: usize = 100;

/// A hunt to start.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StartBody {
    /// A loaded rule's id (or title when it has none).
    pub(crate) rule: Option<String>,
    /// A pasted rule (YAML), instead.
    pub(crate) document: Option<String>,
    /// The range (RFC 3339 or relative, as searches take them; default the last 30 days).
    pub(crate) from: Option<String>,
    pub(crate) to: Option<String>,
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::coded(StatusCode::BAD_REQUEST, "bad_rule", message)
}

/// The rule to run and its document.
fn rule_of(app: &App, body: &StartBody) -> ApiResult<(Rule, String)> {
    match (&body.rule, &body.document) {
        (Some(id), None) => {
            let book = app.rules.current();
            let rule = book
                .set
                .rules()
                .iter()
                .find(|r| {
                    r.id.as_deref() == Some(id.as_str()) || (r.id.is_none() && r.title == *id)
                })
                .cloned()
                .ok_or_else(|| bad(format!("no loaded rule {id:?}")))?;
            let document = format!("# the loaded rule {id} ({}:{})", rule.file, rule.line);
            Ok((rule, document))
        }
        (None, Some(text)) => {
            if text.len() > MAX_DOCUMENT {
                return Err(bad(format!(
                    "the rule has {} bytes: at most {MAX_DOCUMENT}",
                    text.len()
                )));
            }
            let mut loaded = Loaded::default();
            parse_rules(text, "hunt", &mut loaded);
            if let Some(d) = loaded.rejected.first() {
                return Err(bad(format!("line {}: {}", d.line, d.message)));
            }
            if !loaded.filters.is_empty()
                || !loaded.correlations.is_empty()
                || loaded.rules.len() != 1
            {
                return Err(bad(
                    "a hunt runs exactly one detection rule (no filter, no correlation)",
                ));
            }
            Ok((loaded.rules.remove(0), text.clone()))
        }
        _ => Err(bad(
            "name a loaded rule (rule) or paste one (document), not both",
        )),
    }
}

/// The fields a rule reads (`None` among them: keywords, which read every field).
fn fields_of(rule: &Rule) -> Vec<Option<String>> {
    fn walk(d: &Detection, out: &mut Vec<Option<String>>) {
        match d {
            Detection::AllOf(items) => out.extend(items.iter().map(|i| i.field.clone())),
            Detection::AnyOf(maps) => maps.iter().for_each(|m| walk(m, out)),
            Detection::Keywords(item) => out.push(item.field.clone()),
        }
    }
    let mut out = Vec::new();
    for (_, d) in &rule.detections {
        walk(d, &mut out);
    }
    out
}

fn id_of(text: &str) -> ApiResult<i64> {
    text.parse()
        .map_err(|_| ApiError::bad_request(format!("invalid hunt id {text:?}")))
}

async fn found(app: &App, tenant: &TenantId, id: i64) -> ApiResult<Hunt> {
    app.state
        .hunt(tenant, id)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no hunt {id}")))
}

fn with_rate(h: &Hunt) -> serde_json::Value {
    let mut v = serde_json::to_value(h).unwrap_or_default();
    if let Some(ms) = h.elapsed_ms.filter(|ms| *ms > 0) {
        v["events_per_second"] = json!((h.in_range as f64 * 1000.0 / ms as f64).round());
    }
    v
}

/// `POST /api/v1/hunts`: starts a job (202 with its id).
pub(crate) async fn start(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    body: Result<Json<StartBody>, JsonRejection>,
) -> ApiResult<Response> {
    let Json(body) = body?;
    let tenant = auth.tenant_id()?;
    let (_, by) = triager(&auth)?;
    let (rule, document) = rule_of(&app, &body)?;
    // A provider's hunt may not read what it may not search.
    if let Some(mask) = mask(&app, &auth, None).await? {
        for f in fields_of(&rule) {
            match f {
                None => {
                    return Err(ApiError::coded(
                        StatusCode::FORBIDDEN,
                        "sensitive_field",
                        "keywords read every field, sensitive ones included: name the fields",
                    ));
                }
                Some(f) if mask.hides(&f) => {
                    return Err(ApiError::coded(
                        StatusCode::FORBIDDEN,
                        "sensitive_field",
                        format!("{f} is a sensitive field of this tenant"),
                    ));
                }
                Some(_) => {}
            }
        }
    }
    let mut range = range(body.from.as_deref().or(Some("-30d")), body.to.as_deref())?;
    if range.to.is_none() {
        range.to = Some(Timestamp::now());
    }
    let query = vigie_sigma::narrow::store_query(&rule).unwrap_or_else(|| "*".to_owned());
    let new = NewHunt {
        rule_id: rule.id.clone().unwrap_or_else(|| rule.title.clone()),
        rule_title: rule.title.clone(),
        rule_level: vigie_detect::Level::of(rule.level.as_deref())
            .as_str()
            .to_owned(),
        rule_tags: rule.tags.clone(),
        document,
        query: query.clone(),
        from: range.from.unwrap_or(Timestamp::from_nanos(0)),
        to: range.to.unwrap_or_else(Timestamp::now),
        by,
    };
    // The row first (its id names the job), then the place; a refused start is recorded
    // as failed, with why.
    let id = app
        .state
        .create_hunt(&tenant, &new, Timestamp::now())
        .await
        .map_err(ApiError::internal)?;
    let cancel = match app.hunts.reserve(&tenant, id) {
        Ok(flag) => flag,
        Err(busy) => {
            let message = match busy {
                Busy::Tenant => "this tenant already runs a hunt: wait for it or cancel it",
                Busy::Instance => "the instance runs its maximum of hunts: retry later",
            };
            let _ = app
                .state
                .finish_hunt(
                    id,
                    Default::default(),
                    "failed",
                    Some(message),
                    &[],
                    0,
                    Timestamp::now(),
                )
                .await;
            return Err(ApiError::busy(StatusCode::TOO_MANY_REQUESTS, message));
        }
    };
    app.hunts.spawn(
        Job {
            id,
            tenant: tenant.clone(),
            rule,
            query: query.clone(),
            range,
        },
        cancel,
        std::sync::Arc::clone(&app.store),
        app.state.clone(),
        tokio::runtime::Handle::current(),
    );
    let note = AuditNote {
        action: Some("hunt-start"),
        objects: vec![format!("hunt:{id}")],
        query: Some(query.clone()),
        after: Some(
            json!({"rule": new.rule_id, "from": new.from.as_nanos(), "to": new.to.as_nanos()}),
        ),
        ..AuditNote::default()
    };
    Ok((
        Extension(note),
        (
            StatusCode::ACCEPTED,
            Json(json!({"id": id.to_string(), "query": query})),
        ),
    )
        .into_response())
}

/// `GET /api/v1/hunts`.
pub(crate) async fn list(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
) -> ApiResult<Response> {
    let tenant = auth.tenant_id()?;
    let hunts = app.state.hunts(&tenant).await.map_err(ApiError::internal)?;
    let note = AuditNote {
        count: Some(hunts.len() as u64),
        ..AuditNote::default()
    };
    let list: Vec<_> = hunts.iter().map(with_rate).collect();
    Ok((Extension(note), Json(json!({ "hunts": list }))).into_response())
}

/// `GET /api/v1/hunts/{id}`: the job, its progress and its first results.
pub(crate) async fn show(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let tenant = auth.tenant_id()?;
    let id = id_of(&id)?;
    let hunt = found(&app, &tenant, id).await?;
    let results = app
        .state
        .hunt_results(id, LISTED)
        .await
        .map_err(ApiError::internal)?;
    let note = AuditNote {
        objects: std::iter::once(format!("hunt:{id}"))
            .chain(results.iter().map(|r| format!("event:{}", r.event_id)))
            .collect(),
        count: Some(results.len() as u64),
        ..AuditNote::default()
    };
    let mut body = json!({ "hunt": with_rate(&hunt), "results": results });
    if let Some(mask) = mask(&app, &auth, None).await? {
        mask.apply(&mut body);
    }
    Ok((Extension(note), Json(body)).into_response())
}

/// `POST /api/v1/hunts/{id}/cancel`.
pub(crate) async fn cancel(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let tenant = auth.tenant_id()?;
    let id = id_of(&id)?;
    found(&app, &tenant, id).await?;
    if !app.hunts.cancel(&tenant, id) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("hunt {id} is not running"),
        ));
    }
    let note = AuditNote {
        action: Some("hunt-cancel"),
        objects: vec![format!("hunt:{id}")],
        ..AuditNote::default()
    };
    Ok((Extension(note), Json(json!({"cancelling": id.to_string()}))).into_response())
}

/// `POST /api/v1/hunts/{id}/alerts`: an alert for each result of a finished job (tagged
/// `retro-hunt`; one the pipeline already raised for the same rule and event is not
/// repeated).
pub(crate) async fn alerts(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let tenant = auth.tenant_id()?;
    let id = id_of(&id)?;
    let hunt = found(&app, &tenant, id).await?;
    if hunt.status == "running" {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("hunt {id} is still running"),
        ));
    }
    let results = app
        .state
        .hunt_results(id, vigie_state::hunts::MAX_RESULTS)
        .await
        .map_err(ApiError::internal)?;
    let mut tags = hunt.rule_tags.clone();
    tags.push("retro-hunt".to_owned());
    let alerts: Vec<NewAlert> = results
        .iter()
        .filter_map(|r| {
            Some(NewAlert {
                tenant: tenant.clone(),
                kind: AlertKind::Rule,
                rule_id: hunt.rule_id.clone(),
                rule_title: hunt.rule_title.clone(),
                level: hunt.rule_level.clone(),
                tags: tags.clone(),
                event_id: r.event_id.parse::<EventId>().ok()?,
                event_time: Timestamp::from_nanos(r.event_time),
                host: r.host.clone(),
                user: None,
                source: None,
                matched: r.matched.clone(),
            })
        })
        .collect();
    let mut raised = 0;
    for chunk in alerts.chunks(1000) {
        raised += app
            .state
            .insert_alerts(chunk)
            .await
            .map_err(ApiError::internal)?;
    }
    app.state
        .hunt_raised(id, raised)
        .await
        .map_err(ApiError::internal)?;
    let note = AuditNote {
        action: Some("hunt-alerts"),
        objects: vec![format!("hunt:{id}")],
        count: Some(raised),
        ..AuditNote::default()
    };
    Ok((
        Extension(note),
        Json(json!({"results": results.len(), "raised": raised})),
    )
        .into_response())
}
