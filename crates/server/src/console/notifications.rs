//! The notification settings of a tenant: its rules (who is told what, where), the form
//! that adds one, and what was sent — through `api::notifications`. A webhook rule's
//! signing secret is shown once, on the page its creation answers with.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use vigie_govern::Tier;
use vigie_govern::notify::{Channel, RuleSpec, Trigger};

use super::chrome::Chrome;
use super::i18n::Tr;
use super::view::{DeliveryRow, NotificationsPage, NotifyRuleRow, Page};
use super::{DoneParams, after, text, through};
use crate::api::App;
use crate::api::access::Authorized;
use crate::api::error::ApiError;

fn utc(nanos: i64) -> String {
    vigie_event::Timestamp::from_nanos(nanos).to_rfc3339(vigie_event::UtcOffset::UTC)
}

/// What a rule is about, in words.
fn trigger_text(t: &Tr, trigger: &Value) -> String {
    match trigger["on"].as_str() {
        Some("alert") => t.f("notify.on.alert", text(&trigger["min_level"])),
        Some("escalation") => t.f(
            "notify.on.escalation",
            text(&trigger["tier"]).to_uppercase(),
        ),
        Some("approval") => t.t("notify.on.approval").to_owned(),
        _ => text(trigger),
    }
}

/// Where it goes, in words.
fn channel_text(channel: &Value) -> String {
    match channel["kind"].as_str() {
        Some("webhook") => format!("webhook {}", text(&channel["url"])),
        Some("email") => format!(
            "e-mail {}",
            channel["to"]
                .as_array()
                .map(|to| to.iter().map(text).collect::<Vec<_>>().join(", "))
                .unwrap_or_default()
        ),
        _ => text(channel),
    }
}

async fn render(
    app: &App,
    auth: &Authorized,
    headers: &HeaderMap,
    done: Option<&'static str>,
    secret: Option<(String, String)>,
) -> Response {
    let Some(tenant) = auth.tenant.clone() else {
        return ApiError::bad_request("no tenant").into_response();
    };
    let base = format!("/console/t/{}/notifications", tenant.as_str());
    let rules = crate::api::notifications::list(State(app.clone()), Extension(auth.clone())).await;
    let (rules, carry) = match through(rules).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let deliveries = crate::api::notifications::deliveries(
        State(app.clone()),
        Extension(auth.clone()),
        Ok(Query(crate::api::notifications::DeliveriesQuery {
            limit: Some(50),
        })),
    )
    .await;
    let (deliveries, _) = match through(deliveries).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let chrome = match Chrome::of(app, auth, headers, "notify.title", &base).await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let rules: Vec<Value> = rules["rules"].as_array().cloned().unwrap_or_default();
    let name_of = |id: &Value| {
        rules
            .iter()
            .find(|r| r["id"] == *id)
            .map(|r| text(&r["name"]))
            .unwrap_or_else(|| format!("#{}", text(id)))
    };
    let deliveries = deliveries["deliveries"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| DeliveryRow {
            created: d["created_at"].as_i64().map(utc).unwrap_or_default(),
            rule: name_of(&d["rule_id"]),
            channel: text(&d["channel"]),
            status: text(&d["status"]),
            attempts: d["attempts"].as_u64().unwrap_or(0),
            error: text(&d["last_error"]),
            total: d["payload"]["total"].as_u64().unwrap_or(0),
            what: trigger_text(&chrome.t, &d["payload"]["trigger"]),
        })
        .collect();
    let rows = rules
        .iter()
        .map(|r| NotifyRuleRow {
            id: text(&r["id"]),
            name: text(&r["name"]),
            trigger: trigger_text(&chrome.t, &r["trigger"]),
            channel: channel_text(&r["channel"]),
            enabled: r["enabled"].as_bool().unwrap_or(false),
        })
        .collect();
    let page = NotificationsPage {
        chrome,
        base,
        done,
        secret,
        rules: rows,
        deliveries,
        has_mail: app.notifier.has_mail(),
    };
    carry.onto(page.page())
}

/// `GET /console/t/{tenant}/notifications`.
pub(crate) async fn page(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    headers: HeaderMap,
    Query(p): Query<DoneParams>,
) -> Response {
    let done = match p.done.as_deref() {
        Some("enabled") => Some("done.notify.enabled"),
        Some("disabled") => Some("done.notify.disabled"),
        Some("deleted") => Some("done.notify.deleted"),
        _ => None,
    };
    render(&app, &auth, &headers, done, None).await
}

/// The rule a form describes; what it lacks the API refuses, naming the field.
fn spec_of(body: &[u8]) -> Result<RuleSpec, ApiError> {
    let (mut name, mut on, mut level, mut tier) =
        (String::new(), String::new(), String::new(), String::new());
    let (mut kind, mut url, mut to) = (String::new(), String::new(), String::new());
    for (k, v) in form_urlencoded::parse(body) {
        let v = v.trim().to_owned();
        match k.as_ref() {
            "name" => name = v,
            "on" => on = v,
            "min_level" => level = v,
            "tier" => tier = v,
            "kind" => kind = v,
            "url" => url = v,
            "to" => to = v,
            _ => {}
        }
    }
    let trigger = match on.as_str() {
        "alert" => Trigger::Alert { min_level: level },
        "escalation" => Trigger::Escalation {
            tier: tier
                .parse::<Tier>()
                .map_err(|_| ApiError::bad_request(format!("tier {tier:?}: l1, l2 or l3")))?,
        },
        "approval" => Trigger::Approval,
        other => {
            return Err(ApiError::bad_request(format!(
                "trigger {other:?}: alert, escalation or approval"
            )));
        }
    };
    let channel = match kind.as_str() {
        "webhook" => Channel::Webhook { url },
        "email" => Channel::Email {
            to: to
                .split(|c: char| c == ',' || c == ';' || c.is_whitespace())
                .filter(|a| !a.is_empty())
                .map(str::to_owned)
                .collect(),
        },
        other => {
            return Err(ApiError::bad_request(format!(
                "channel {other:?}: webhook or email"
            )));
        }
    };
    Ok(RuleSpec {
        name,
        trigger,
        channel,
    })
}

/// `POST /console/t/{tenant}/notifications`: adds a rule and shows the page with its
/// signing secret (once) for a webhook.
pub(crate) async fn create(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let spec = match spec_of(&body) {
        Ok(spec) => spec,
        Err(e) => return e.into_response(),
    };
    let (rule, note) = match crate::api::notifications::create_rule(&app, &auth, &spec).await {
        Ok(made) => made,
        Err(e) => return e.into_response(),
    };
    let secret = crate::api::notifications::rule_json(&app, &rule, true)["secret"]
        .as_str()
        .map(|s| (rule.spec.name.clone(), s.to_owned()));
    let mut page = render(&app, &auth, &headers, Some("done.notify.created"), secret).await;
    page.extensions_mut().insert(note);
    page
}

/// `POST /console/t/{tenant}/notifications/{id}/enabled` (`enabled=1` or `0`).
pub(crate) async fn set_enabled(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    Path((tenant, id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let enabled = form_urlencoded::parse(&body).any(|(k, v)| k == "enabled" && v == "1");
    let api = crate::api::notifications::set_enabled(
        State(app),
        Extension(auth),
        Path(id),
        Ok(axum::Json(crate::api::notifications::EnabledBody {
            enabled,
        })),
    )
    .await;
    let done = if enabled { "enabled" } else { "disabled" };
    after(
        api,
        &format!("/console/t/{tenant}/notifications?done={done}"),
    )
    .await
}

/// `POST /console/t/{tenant}/notifications/{id}/delete`.
pub(crate) async fn delete(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    Path((tenant, id)): Path<(String, String)>,
) -> Response {
    let api = crate::api::notifications::remove(State(app), Extension(auth), Path(id)).await;
    after(
        api,
        &format!("/console/t/{tenant}/notifications?done=deleted"),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_become_rules() {
        let spec = spec_of(b"name=SOC&on=alert&min_level=high&kind=webhook&url=http%3A%2F%2Fh%2Fx")
            .expect("rule");
        assert_eq!(
            spec.trigger,
            Trigger::Alert {
                min_level: "high".into()
            }
        );
        assert_eq!(
            spec.channel,
            Channel::Webhook {
                url: "http://h/x".into()
            }
        );
        let mail = spec_of(b"name=n&on=escalation&tier=l2&kind=email&to=a%40x.example%2C+b%40x.example%0Ac%40x.example")
            .expect("rule");
        assert_eq!(mail.trigger, Trigger::Escalation { tier: Tier::L2 });
        assert_eq!(
            mail.channel,
            Channel::Email {
                to: vec![
                    "a@x.example".into(),
                    "b@x.example".into(),
                    "c@x.example".into()
                ]
            }
        );
        assert!(spec_of(b"name=n&on=escalation&tier=l9&kind=email").is_err());
        assert!(spec_of(b"name=n&on=never&kind=email").is_err());
        assert!(spec_of(b"name=n&on=approval&kind=pigeon").is_err());
    }
}
