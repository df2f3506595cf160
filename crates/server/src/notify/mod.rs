//! The notifier (issue 27): reads the outbox the state writes with what happened (new
//! alerts over a tenant's floor, escalations, approvals waiting), makes one notification
//! per concerned rule and round ([`route`]), and sends them — webhooks signed
//! ([`webhook`]), e-mail through the relay with STARTTLS ([`email`]) — retrying with the
//! schedule of `vigie_govern::notify::retry_after`.
//!
//! Bounds: at most [`MAX_IN_FLIGHT`] attempts at once on the instance and one per tenant,
//! each bounded by `notify.timeout_s`, so that a tenant whose receiver hangs holds one slot
//! and never another tenant's notifications; the outbox is read [`ROUND`] rows per tenant
//! at a time; a tenant has at most `vigie_state::notify::MAX_PENDING` deliveries waiting.

pub mod email;
pub mod webhook;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::task::JoinSet;
use vigie_event::TenantId;
use vigie_event::time::Timestamp;
use vigie_govern::Tier;
use vigie_govern::notify::{Allowlist, Channel, Happening, MAX_LISTED};
use vigie_govern::seal::derive;
use vigie_state::State;
use vigie_state::notify::{Delivery, DeliveryStatus, NewDelivery, NotifyEvent, StoredRule};

use crate::ServerError;
use crate::config::Notify as NotifyConfig;

/// Attempts running at once on the instance.
pub const MAX_IN_FLIGHT: usize = 8;

/// Outbox rows read per tenant and round.
pub const ROUND: usize = 1000;

/// What the notifier needs, shared with the API (which checks rules against the same
/// allow-list and shows webhook secrets).
#[derive(Debug)]
pub struct Notifier {
    allow: Allowlist,
    mailer: Option<email::Mailer>,
    agent: ureq::Agent,
    timeout: Duration,
    instance: [u8; 32],
    public_url: String,
}

impl Notifier {
    /// Reads `[notify]` (the relay's password and CA files included).
    pub fn new(
        config: &NotifyConfig,
        instance: &[u8; 32],
        public_url: &str,
    ) -> Result<Notifier, ServerError> {
        let allow = Allowlist::new(&config.webhook_allow, &config.email_domains)
            .map_err(|e| ServerError::Notify(format!("[notify]: {e}")))?;
        let timeout = Duration::from_secs(config.timeout_s.max(1));
        let mailer = config
            .smtp
            .as_ref()
            .map(|smtp| email::Mailer::new(smtp, timeout))
            .transpose()?;
        Ok(Notifier {
            allow,
            mailer,
            agent: webhook::agent(timeout),
            timeout,
            instance: *instance,
            public_url: public_url.trim_end_matches('/').to_owned(),
        })
    }

    /// The operator's allow-list.
    pub fn allow(&self) -> &Allowlist {
        &self.allow
    }

    /// Whether a mail relay is configured (e-mail rules are refused without one).
    pub fn has_mail(&self) -> bool {
        self.mailer.is_some()
    }

    /// The secret webhooks of rule `rule` are signed with: derived from the instance
    /// secret and the rule's id, so nothing more is stored, and a new rule has a new one.
    /// The HMAC key is this text's bytes, as receivers keep it.
    pub fn webhook_secret(&self, rule: i64) -> String {
        use base64::Engine as _;
        let raw = derive(
            &self.instance,
            &format!("notification webhook of rule {rule}"),
        );
        format!(
            "whsec_{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
        )
    }

    /// Why `delivery` can never be made (no retry mends it): its rule is gone, its
    /// destination left the allow-list, the relay is gone.
    fn hopeless(&self, rule: Option<&StoredRule>) -> Option<String> {
        let Some(rule) = rule else {
            return Some("its rule was deleted".to_owned());
        };
        match &rule.spec.channel {
            Channel::Webhook { url } => self.allow.webhook(url).err(),
            Channel::Email { to } => {
                to.iter()
                    .find_map(|a| self.allow.email(a).err())
                    .or_else(|| {
                        self.mailer
                            .is_none()
                            .then(|| "no mail relay is configured ([notify.smtp])".to_owned())
                    })
            }
        }
    }

    /// One attempt of `delivery` (blocking: run it on a blocking thread), whose rule
    /// [`Notifier::hopeless`] has just passed — the allow-list is read before every attempt.
    fn attempt(&self, delivery: &Delivery, rule: &StoredRule) -> Result<(), String> {
        match &rule.spec.channel {
            Channel::Webhook { url } => {
                let secret = self.webhook_secret(rule.id.0);
                webhook::send(&self.agent, url, &secret, delivery)
            }
            Channel::Email { to } => {
                let mailer = self
                    .mailer
                    .as_ref()
                    .ok_or("no mail relay is configured ([notify.smtp])")?;
                let payload: Value = serde_json::from_str(&delivery.payload)
                    .map_err(|e| format!("unreadable payload: {e}"))?;
                mailer.send(to, &payload)
            }
        }
    }
}

/// What happened, as the rules see it (an outbox row of a kind this version does not know
/// concerns no rule).
fn happening(event: &NotifyEvent) -> Option<Happening<'_>> {
    match event.kind.as_str() {
        "alert" => Some(Happening::Alert {
            level: event.detail["level"].as_str().unwrap_or(""),
        }),
        "escalation" => event.detail["queue"]
            .as_str()
            .and_then(|q| q.parse::<Tier>().ok())
            .map(|tier| Happening::Escalation { tier }),
        "approval" => Some(Happening::Approval),
        _ => None,
    }
}

/// The console link of an outbox row.
fn link(public_url: &str, tenant: &TenantId, event: &NotifyEvent) -> String {
    match event.kind.as_str() {
        "alert" | "escalation" => format!(
            "{public_url}/console/t/{tenant}/alerts/{}",
            event.detail["alert"].as_str().unwrap_or("")
        ),
        _ => format!("{public_url}/console/access"),
    }
}

/// The notifications `events` of `tenant` make with `rules`: one per rule they concern,
/// listing the first [`MAX_LISTED`] and counting the rest. What a webhook receives is
/// exactly this JSON; an e-mail says the same in text.
pub fn route(
    public_url: &str,
    tenant: &TenantId,
    events: &[NotifyEvent],
    rules: &[StoredRule],
) -> Vec<NewDelivery> {
    let mut out = Vec::new();
    for rule in rules {
        let concerned: Vec<&NotifyEvent> = events
            .iter()
            .filter(|e| happening(e).is_some_and(|h| rule.spec.trigger.concerns(h)))
            .collect();
        if concerned.is_empty() {
            continue;
        }
        let items: Vec<Value> = concerned
            .iter()
            .take(MAX_LISTED)
            .map(|e| {
                let mut item = e.detail.clone();
                if let Value::Object(map) = &mut item {
                    map.insert("url".into(), json!(link(public_url, tenant, e)));
                    map.insert("at".into(), json!(Timestamp::from_nanos(e.at).to_string()));
                }
                item
            })
            .collect();
        let payload = json!({
            "type": "vigie.notification",
            "tenant": tenant.as_str(),
            "rule": {"id": rule.id.0.to_string(), "name": rule.spec.name},
            "on": rule.spec.trigger.kind(),
            "trigger": rule.spec.trigger,
            "total": concerned.len(),
            "more": concerned.len().saturating_sub(MAX_LISTED),
            "items": items,
        });
        out.push(NewDelivery {
            rule: rule.id,
            channel: match rule.spec.channel {
                Channel::Webhook { .. } => "webhook",
                Channel::Email { .. } => "email",
            },
            payload,
        });
    }
    out
}

/// One routing pass: every tenant with outbox rows, [`ROUND`] rows at a time.
pub async fn route_all(notifier: &Notifier, state: &State) -> Result<u64, ServerError> {
    let mut queued = 0;
    for tenant in state.tenants_with_notify_events().await? {
        let public_url = notifier.public_url.clone();
        let t = tenant.clone();
        let routed = state
            .route_notify_events(&tenant, ROUND, move |events, rules| {
                route(&public_url, &t, events, rules)
            })
            .await?;
        if routed.dropped > 0 {
            tracing::warn!(%tenant, dropped = routed.dropped, "notifications dropped: too many waiting");
        }
        queued += routed.queued;
    }
    Ok(queued)
}

/// Runs the notifier every `every` until `shutdown` changes.
pub async fn run(
    notifier: Arc<Notifier>,
    state: State,
    every: Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut running: JoinSet<(Delivery, Result<(), String>)> = JoinSet::new();
    let mut busy: HashSet<String> = HashSet::new();
    let mut last_purge = Timestamp::from_nanos(0);
    let lease = i64::try_from(notifier.timeout.as_nanos())
        .unwrap_or(i64::MAX / 4)
        .saturating_mul(3);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            Some(done) = running.join_next(), if !running.is_empty() => {
                if let Ok((delivery, outcome)) = done {
                    busy.remove(&delivery.tenant);
                    finish(&state, &delivery, outcome).await;
                }
            }
            _ = shutdown.changed() => return,
        }
        if let Err(e) = route_all(&notifier, &state).await {
            tracing::warn!(error = %e, "notifications: routing failed");
        }
        let now = Timestamp::now();
        let room = MAX_IN_FLIGHT.saturating_sub(running.len());
        if room > 0 {
            match state.claim_due_deliveries(now, lease, room, &busy).await {
                Ok(claimed) => {
                    for delivery in claimed {
                        let rule = match TenantId::new(&delivery.tenant) {
                            Ok(t) => match state.notify_rule(&t, delivery.rule_id).await {
                                Ok(rule) => rule,
                                // The database is unwell: the lease runs out and the
                                // delivery is claimed again later.
                                Err(_) => continue,
                            },
                            Err(_) => None,
                        };
                        let rule = match (notifier.hopeless(rule.as_ref()), rule) {
                            (None, Some(rule)) => rule,
                            (why, _) => {
                                let why = why.unwrap_or_default();
                                if let Err(e) = state.abandon_delivery(&delivery, &why, now).await {
                                    tracing::warn!(error = %e, "notifications: cannot record a failure");
                                }
                                continue;
                            }
                        };
                        busy.insert(delivery.tenant.clone());
                        let n = Arc::clone(&notifier);
                        running.spawn(async move {
                            let outcome = tokio::task::spawn_blocking({
                                let delivery = delivery.clone();
                                move || n.attempt(&delivery, &rule)
                            })
                            .await
                            .unwrap_or_else(|e| Err(format!("the attempt stopped: {e}")));
                            (delivery, outcome)
                        });
                    }
                }
                Err(e) => tracing::warn!(error = %e, "notifications: cannot claim deliveries"),
            }
        }
        if now.as_nanos() - last_purge.as_nanos() > 3_600_000_000_000 {
            last_purge = now;
            if let Err(e) = state.purge_deliveries(now).await {
                tracing::warn!(error = %e, "notifications: purge failed");
            }
        }
    }
}

async fn finish(state: &State, delivery: &Delivery, outcome: Result<(), String>) {
    let failed = outcome.as_ref().err().cloned();
    match state
        .finish_delivery(delivery, outcome, Timestamp::now())
        .await
    {
        Ok(DeliveryStatus::Delivered) => {}
        Ok(status) => tracing::warn!(
            tenant = %delivery.tenant, id = delivery.id.0, ?status,
            error = failed.as_deref().unwrap_or(""),
            "notification not delivered"
        ),
        Err(e) => tracing::warn!(error = %e, "notifications: cannot record an attempt"),
    }
}

#[cfg(test)]
mod tests {
    use vigie_govern::notify::{RuleSpec, Trigger};
    use vigie_state::notify::NotifyRuleId;

    use super::*;

    fn rule(id: i64, trigger: Trigger) -> StoredRule {
        StoredRule {
            id: NotifyRuleId(id),
            tenant: "acme".into(),
            spec: RuleSpec {
                name: format!("rule {id}"),
                trigger,
                channel: Channel::Webhook {
                    url: "http://127.0.0.1:9/".into(),
                },
            },
            enabled: true,
            created_by: None,
            created_at: 0,
        }
    }

    fn event(kind: &str, reference: &str, detail: Value) -> NotifyEvent {
        NotifyEvent {
            kind: kind.into(),
            reference: reference.into(),
            at: 1_000_000_000,
            detail,
        }
    }

    #[test]
    fn each_rule_gets_what_concerns_it_once() {
        let tenant = TenantId::new("acme").expect("tenant");
        let mut events: Vec<NotifyEvent> = (0..60)
            .map(|i| {
                event(
                    "alert",
                    &format!("a{i}"),
                    json!({"alert": format!("a{i}"), "level": if i % 2 == 0 {"high"} else {"low"}}),
                )
            })
            .collect();
        events.push(event(
            "escalation",
            "a1:2",
            json!({"alert": "a1", "queue": "l2", "level": "low"}),
        ));
        events.push(event("approval", "grant:7", json!({"request": "grant"})));
        events.push(event("future-kind", "x", json!({})));
        let rules = [
            rule(
                1,
                Trigger::Alert {
                    min_level: "high".into(),
                },
            ),
            rule(
                2,
                Trigger::Alert {
                    min_level: "informational".into(),
                },
            ),
            rule(3, Trigger::Escalation { tier: Tier::L2 }),
            rule(4, Trigger::Escalation { tier: Tier::L3 }),
            rule(5, Trigger::Approval),
        ];
        let made = route("https://soc.example", &tenant, &events, &rules);
        let by_rule: Vec<(i64, u64, u64, usize)> = made
            .iter()
            .map(|d| {
                (
                    d.rule.0,
                    d.payload["total"].as_u64().unwrap_or(0),
                    d.payload["more"].as_u64().unwrap_or(0),
                    d.payload["items"].as_array().map_or(0, Vec::len),
                )
            })
            .collect();
        assert_eq!(
            by_rule,
            [(1, 30, 0, 30), (2, 60, 10, 50), (3, 1, 0, 1), (5, 1, 0, 1)]
        );
        let first = &made[0].payload;
        assert_eq!(first["tenant"], "acme");
        assert_eq!(first["on"], "alert");
        assert_eq!(first["rule"]["name"], "rule 1");
        assert_eq!(
            first["items"][0]["url"],
            "https://soc.example/console/t/acme/alerts/a0"
        );
        assert_eq!(first["items"][0]["at"], "1970-01-01T00:00:01Z");
        assert_eq!(
            made[3].payload["items"][0]["url"],
            "https://soc.example/console/access"
        );
        assert!(route("https://soc.example", &tenant, &[], &rules).is_empty());
    }

    #[test]
    fn webhook_secrets_differ_per_rule_and_instance() {
        let config = NotifyConfig::default();
        let a = Notifier::new(&config, &[1; 32], "http://x/").expect("notifier");
        let b = Notifier::new(&config, &[2; 32], "http://x").expect("notifier");
        assert!(a.webhook_secret(1).starts_with("whsec_"));
        assert_eq!(a.webhook_secret(1), a.webhook_secret(1));
        assert_ne!(a.webhook_secret(1), a.webhook_secret(2));
        assert_ne!(a.webhook_secret(1), b.webhook_secret(1));
        assert_eq!(a.public_url, "http://x");
        assert!(!a.has_mail());
    }
}
