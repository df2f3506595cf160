//! `/notification-rules` and `/notification-deliveries`: who of a tenant is told what, where
//! (`vigie_govern::notify`), and what was sent. Destinations are bounded by the operator's
//! allow-list (`[notify]`); a rule outside it is refused with the field and the reason.

use axum::Extension;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use vigie_govern::notify::{Channel, MAX_RULES, RuleSpec};
use vigie_state::notify::{NotifyRuleId, StoredRule};

use super::App;
use super::access::{AuditNote, Authorized};
use super::error::{ApiError, ApiResult};

/// Deliveries listed at most.
pub(crate) const MAX_LISTED_DELIVERIES: usize = 500;

/// A rule as shown; `secret` (the webhook signing secret) only when asked for one rule.
pub(crate) fn rule_json(app: &App, rule: &StoredRule, with_secret: bool) -> Value {
    let mut v = serde_json::to_value(rule).unwrap_or_default();
    if with_secret && matches!(rule.spec.channel, Channel::Webhook { .. }) {
        v["secret"] = json!(app.notifier.webhook_secret(rule.id.0));
    }
    v
}

fn rule_id(id: &str) -> ApiResult<NotifyRuleId> {
    id.parse()
        .map(NotifyRuleId)
        .map_err(|_| ApiError::bad_request(format!("invalid notification rule id {id:?}")))
}

fn not_found(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("no notification rule {id} in this tenant"),
    )
}

/// Checks `spec` as the API and the console both must: the bounds, the allow-list, and a
/// mail relay for e-mail rules.
pub(crate) fn check(app: &App, spec: &RuleSpec) -> ApiResult<()> {
    spec.check(app.notifier.allow())
        .map_err(|e| ApiError::coded(StatusCode::BAD_REQUEST, "bad_rule", e.to_string()))?;
    if matches!(spec.channel, Channel::Email { .. }) && !app.notifier.has_mail() {
        return Err(ApiError::coded(
            StatusCode::BAD_REQUEST,
            "bad_rule",
            "channel: this instance has no mail relay ([notify.smtp]); use a webhook",
        ));
    }
    Ok(())
}

/// Stores a checked rule, with the audit note of its creation.
pub(crate) async fn create_rule(
    app: &App,
    auth: &Authorized,
    spec: &RuleSpec,
) -> ApiResult<(StoredRule, AuditNote)> {
    let tenant = auth.tenant_id()?;
    check(app, spec)?;
    let by = auth.caller.user().map(|u| u.id);
    // The state counts the tenant's rules in the same transaction as the insert.
    let id = app
        .state
        .insert_notify_rule(&tenant, spec, by)
        .await
        .map_err(|e| match e {
            vigie_state::StateError::Invalid(_) => ApiError::coded(
                StatusCode::CONFLICT,
                "too_many",
                format!("this tenant has {MAX_RULES} notification rules: delete one first"),
            ),
            other => ApiError::internal(other),
        })?;
    let rule = app
        .state
        .notify_rule(&tenant, id)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::internal("a rule just stored is missing"))?;
    let note = AuditNote {
        action: Some("notification-rule-create"),
        objects: vec![format!("notification-rule:{}", id.0)],
        after: Some(serde_json::to_value(spec).unwrap_or_default()),
        ..AuditNote::default()
    };
    Ok((rule, note))
}

/// `GET /api/v1/notification-rules`.
pub(crate) async fn list(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
) -> ApiResult<Response> {
    let tenant = auth.tenant_id()?;
    let rules = app
        .state
        .notify_rules(&tenant)
        .await
        .map_err(ApiError::internal)?;
    let list: Vec<Value> = rules.iter().map(|r| rule_json(&app, r, false)).collect();
    let note = AuditNote {
        count: Some(list.len() as u64),
        ..AuditNote::default()
    };
    Ok((Extension(note), Json(json!({ "rules": list }))).into_response())
}

/// `POST /api/v1/notification-rules`: `{"name", "trigger": {"on": "alert", "min_level"} |
/// {"on": "escalation", "tier"} | {"on": "approval"}, "channel": {"kind": "webhook", "url"} |
/// {"kind": "email", "to": [...]}}`. The answer holds a webhook rule's signing secret.
pub(crate) async fn create(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    body: Result<Json<RuleSpec>, JsonRejection>,
) -> ApiResult<Response> {
    let Json(spec) = body?;
    let (rule, note) = create_rule(&app, &auth, &spec).await?;
    Ok((
        Extension(note),
        (StatusCode::CREATED, Json(rule_json(&app, &rule, true))),
    )
        .into_response())
}

/// `GET /api/v1/notification-rules/{id}`, with a webhook rule's signing secret.
pub(crate) async fn show(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let tenant = auth.tenant_id()?;
    let rule = app
        .state
        .notify_rule(&tenant, rule_id(&id)?)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| not_found(&id))?;
    let note = AuditNote {
        objects: vec![format!("notification-rule:{id}")],
        ..AuditNote::default()
    };
    Ok((Extension(note), Json(rule_json(&app, &rule, true))).into_response())
}

/// Whether a rule is in force.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EnabledBody {
    /// In force or not.
    pub(crate) enabled: bool,
}

/// `POST /api/v1/notification-rules/{id}/enabled`: `{"enabled": false}` stops it without
/// losing it.
pub(crate) async fn set_enabled(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    Path(id): Path<String>,
    body: Result<Json<EnabledBody>, JsonRejection>,
) -> ApiResult<Response> {
    let Json(body) = body?;
    let tenant = auth.tenant_id()?;
    let done = app
        .state
        .set_notify_rule_enabled(&tenant, rule_id(&id)?, body.enabled)
        .await
        .map_err(ApiError::internal)?;
    if !done {
        return Err(not_found(&id));
    }
    let note = AuditNote {
        action: Some("notification-rule-enable"),
        objects: vec![format!("notification-rule:{id}")],
        after: Some(json!({"enabled": body.enabled})),
        ..AuditNote::default()
    };
    Ok((
        Extension(note),
        Json(json!({"id": id, "enabled": body.enabled})),
    )
        .into_response())
}

/// `DELETE /api/v1/notification-rules/{id}` (its deliveries stay listed; its waiting ones
/// fail, naming why).
pub(crate) async fn remove(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let tenant = auth.tenant_id()?;
    let done = app
        .state
        .delete_notify_rule(&tenant, rule_id(&id)?)
        .await
        .map_err(ApiError::internal)?;
    if !done {
        return Err(not_found(&id));
    }
    let note = AuditNote {
        action: Some("notification-rule-delete"),
        objects: vec![format!("notification-rule:{id}")],
        ..AuditNote::default()
    };
    Ok((Extension(note), Json(json!({"deleted": id}))).into_response())
}

/// `?limit=` of the deliveries list.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeliveriesQuery {
    /// How many, newest first (default 100, at most 500).
    pub(crate) limit: Option<usize>,
}

/// `GET /api/v1/notification-deliveries`: what was sent, is waiting, failed or was
/// dropped, newest first, with the last error of each.
pub(crate) async fn deliveries(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    query: Result<Query<DeliveriesQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let Query(query) =
        query.map_err(|e| ApiError::bad_request(format!("query string: {}", e.body_text())))?;
    let tenant = auth.tenant_id()?;
    let limit = query.limit.unwrap_or(100).clamp(1, MAX_LISTED_DELIVERIES);
    let list = app
        .state
        .notify_deliveries(&tenant, limit)
        .await
        .map_err(ApiError::internal)?;
    let list: Vec<Value> = list
        .iter()
        .map(|d| {
            let mut v = serde_json::to_value(d).unwrap_or_default();
            v["payload"] = serde_json::from_str(&d.payload).unwrap_or(Value::Null);
            v
        })
        .collect();
    let note = AuditNote {
        count: Some(list.len() as u64),
        ..AuditNote::default()
    };
    Ok((Extension(note), Json(json!({ "deliveries": list }))).into_response())
}
