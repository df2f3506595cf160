//! Notifications as stored: a tenant's rules, the outbox of things that happened, and the
//! deliveries made from it (`vigie_govern::notify` decides what concerns whom, where a
//! notification may go and when a failed one is tried again).
//!
//! The outbox (`notify_events`) is written in the transaction of what happened, so that a
//! crash never loses a notification nor sends one for something rolled back; the notifier
//! empties it with `DELETE … RETURNING`, which two nodes sharing a PostgreSQL state cannot
//! both do for one row. Deliveries are claimed by moving their `next_at` forward under a
//! compare-and-set, so that one node sends each attempt.

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};
use vigie_event::TenantId;
use vigie_event::time::Timestamp;
use vigie_govern::grant::UserId;
use vigie_govern::notify::{MAX_RULES, RuleSpec, Trigger, level_rank, retry_after};

use crate::{State, StateError, new_id};

/// Deliveries a tenant may have waiting; beyond, new ones are recorded as dropped (and
/// listed as such), never silently lost.
pub const MAX_PENDING: u64 = 1000;

/// How long delivered, failed and dropped notifications are kept for the tenant's list.
pub const RETENTION_DAYS: i64 = 30;

/// A notification rule's id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct NotifyRuleId(#[serde(serialize_with = "as_text")] pub i64);

/// A delivery's id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct DeliveryId(#[serde(serialize_with = "as_text")] pub i64);

fn as_text<S: serde::Serializer>(id: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&id.to_string())
}

/// A stored rule.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct StoredRule {
    /// Its id.
    pub id: NotifyRuleId,
    /// Its tenant.
    #[serde(skip)]
    pub tenant: String,
    /// What it says.
    #[serde(flatten)]
    pub spec: RuleSpec,
    /// Whether it is in force.
    pub enabled: bool,
    /// Who wrote it.
    pub created_by: Option<u64>,
    /// When (nanoseconds).
    pub created_at: i64,
}

/// Something that happened, waiting for the notifier.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct NotifyEvent {
    /// `alert`, `escalation` or `approval`.
    pub kind: String,
    /// What it is about (an alert id, `alert:seq`, `grant:id`, `elevation:id`).
    pub reference: String,
    /// When it happened (nanoseconds).
    pub at: i64,
    /// What a notification tells of it (no event values).
    pub detail: serde_json::Value,
}

/// Where a delivery stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for its (next) attempt.
    Pending,
    /// Accepted by the receiver.
    Delivered,
    /// Out of attempts.
    Failed,
    /// Not queued: the tenant had [`MAX_PENDING`] waiting.
    Dropped,
}

impl DeliveryStatus {
    fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Dropped => "dropped",
        }
    }

    fn parse(text: &str) -> Result<DeliveryStatus, StateError> {
        Ok(match text {
            "pending" => DeliveryStatus::Pending,
            "delivered" => DeliveryStatus::Delivered,
            "failed" => DeliveryStatus::Failed,
            "dropped" => DeliveryStatus::Dropped,
            _ => return Err(StateError::Corrupt(format!("delivery status {text:?}"))),
        })
    }
}

/// A delivery to make.
#[derive(Clone, Debug, PartialEq)]
pub struct NewDelivery {
    /// The rule it comes from.
    pub rule: NotifyRuleId,
    /// `webhook` or `email`.
    pub channel: &'static str,
    /// What is sent (JSON).
    pub payload: serde_json::Value,
}

/// A delivery.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Delivery {
    /// Its id.
    pub id: DeliveryId,
    /// Its tenant.
    #[serde(skip)]
    pub tenant: String,
    /// Its rule.
    pub rule_id: NotifyRuleId,
    /// `webhook` or `email`.
    pub channel: String,
    /// What is sent (JSON text).
    pub payload: String,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts made.
    pub attempts: u32,
    /// When the next attempt is due (nanoseconds).
    pub next_at: i64,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When it was made.
    pub created_at: i64,
    /// When it was delivered, failed for good or dropped.
    pub done_at: Option<i64>,
}

/// What a routing round did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Routed {
    /// Outbox rows taken.
    pub taken: u64,
    /// Deliveries queued.
    pub queued: u64,
    /// Deliveries dropped for the tenant's bound.
    pub dropped: u64,
}

fn rule_of(row: &AnyRow) -> Result<StoredRule, StateError> {
    let spec: String = row.get("spec");
    Ok(StoredRule {
        id: NotifyRuleId(row.get("id")),
        tenant: row.get("tenant"),
        spec: serde_json::from_str(&spec)
            .map_err(|e| StateError::Corrupt(format!("notification rule: {e}")))?,
        enabled: row.get::<i64, _>("enabled") != 0,
        created_by: row.get::<Option<i64>, _>("created_by").map(|u| u as u64),
        created_at: row.get("created_at"),
    })
}

fn delivery_of(row: &AnyRow) -> Result<Delivery, StateError> {
    let status: String = row.get("status");
    Ok(Delivery {
        id: DeliveryId(row.get("id")),
        tenant: row.get("tenant"),
        rule_id: NotifyRuleId(row.get("rule_id")),
        channel: row.get("channel"),
        payload: row.get("payload"),
        status: DeliveryStatus::parse(&status)?,
        attempts: u32::try_from(row.get::<i64, _>("attempts")).unwrap_or(u32::MAX),
        next_at: row.get("next_at"),
        last_error: row.get("last_error"),
        created_at: row.get("created_at"),
        done_at: row.get("done_at"),
    })
}

const RULE_COLUMNS: &str = "id, tenant, name, spec, enabled, created_by, created_at";
const DELIVERY_COLUMNS: &str = "id, tenant, rule_id, channel, payload, status, attempts, \
     next_at, last_error, created_at, done_at";

/// Writes one outbox row inside `tx` (a second row for the same thing is ignored).
pub(crate) async fn enqueue(
    tx: &mut Transaction<'_, Any>,
    tenant: &str,
    kind: &str,
    reference: &str,
    at: Timestamp,
    detail: &serde_json::Value,
) -> Result<(), StateError> {
    sqlx::query(
        "INSERT INTO notify_events (tenant, kind, reference, at, detail) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant, kind, reference) DO NOTHING",
    )
    .bind(tenant)
    .bind(kind)
    .bind(reference)
    .bind(at.as_nanos())
    .bind(detail.to_string())
    .execute(&mut **tx)
    .await
    .map_err(StateError::sql("queue a notification"))?;
    Ok(())
}

/// The lowest level rank any enabled alert rule of `tenant` asks for (`None`: no such rule,
/// and the alert batch writes no outbox rows for it).
pub(crate) async fn alert_floor(
    tx: &mut Transaction<'_, Any>,
    tenant: &TenantId,
) -> Result<Option<u8>, StateError> {
    let row = sqlx::query(
        "SELECT MIN(min_rank) FROM notify_rules \
         WHERE tenant = $1 AND trigger_kind = 'alert' AND enabled = 1",
    )
    .bind(tenant.as_str())
    .fetch_one(&mut **tx)
    .await
    .map_err(StateError::sql("read a tenant's alert notification floor"))?;
    Ok(row
        .get::<Option<i64>, _>(0)
        .map(|r| u8::try_from(r).unwrap_or(0)))
}

impl State {
    /// Stores a rule the caller checked (`RuleSpec::check`); refused past
    /// [`MAX_RULES`] per tenant.
    pub async fn insert_notify_rule(
        &self,
        tenant: &TenantId,
        spec: &RuleSpec,
        by: Option<UserId>,
    ) -> Result<NotifyRuleId, StateError> {
        let id = new_id()?;
        let mut tx = self
            .begin_write()
            .await
            .map_err(StateError::sql("begin a notification rule"))?;
        let count: i64 = sqlx::query("SELECT COUNT(*) FROM notify_rules WHERE tenant = $1")
            .bind(tenant.as_str())
            .fetch_one(&mut *tx)
            .await
            .map_err(StateError::sql("count notification rules"))?
            .get(0);
        if count >= MAX_RULES as i64 {
            return Err(StateError::Invalid(format!(
                "a tenant keeps at most {MAX_RULES} notification rules"
            )));
        }
        let min_rank = match &spec.trigger {
            Trigger::Alert { min_level } => level_rank(min_level).map(i64::from),
            _ => None,
        };
        let text = serde_json::to_string(spec)
            .map_err(|e| StateError::Corrupt(format!("notification rule: {e}")))?;
        sqlx::query(
            "INSERT INTO notify_rules (id, tenant, name, trigger_kind, min_rank, spec, enabled, \
             created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $8)",
        )
        .bind(id)
        .bind(tenant.as_str())
        .bind(spec.name.trim())
        .bind(spec.trigger.kind())
        .bind(min_rank)
        .bind(text)
        .bind(by.map(|u| u.0 as i64))
        .bind(Timestamp::now().as_nanos())
        .execute(&mut *tx)
        .await
        .map_err(StateError::sql("store a notification rule"))?;
        tx.commit()
            .await
            .map_err(StateError::sql("commit a notification rule"))?;
        Ok(NotifyRuleId(id))
    }

    /// The rules of `tenant`, oldest first.
    pub async fn notify_rules(&self, tenant: &TenantId) -> Result<Vec<StoredRule>, StateError> {
        let sql = format!(
            "SELECT {RULE_COLUMNS} FROM notify_rules WHERE tenant = $1 ORDER BY created_at, id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(StateError::sql("list notification rules"))?;
        rows.iter().map(rule_of).collect()
    }

    /// Rule `id` of `tenant` (`None` for another tenant's).
    pub async fn notify_rule(
        &self,
        tenant: &TenantId,
        id: NotifyRuleId,
    ) -> Result<Option<StoredRule>, StateError> {
        let sql = format!("SELECT {RULE_COLUMNS} FROM notify_rules WHERE tenant = $1 AND id = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.as_str())
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(StateError::sql("read a notification rule"))?;
        row.as_ref().map(rule_of).transpose()
    }

    /// Turns rule `id` of `tenant` on or off: `false` when there is no such rule.
    pub async fn set_notify_rule_enabled(
        &self,
        tenant: &TenantId,
        id: NotifyRuleId,
        enabled: bool,
    ) -> Result<bool, StateError> {
        let done =
            sqlx::query("UPDATE notify_rules SET enabled = $1 WHERE tenant = $2 AND id = $3")
                .bind(i64::from(enabled))
                .bind(tenant.as_str())
                .bind(id.0)
                .execute(&self.pool)
                .await
                .map_err(StateError::sql("change a notification rule"))?;
        Ok(done.rows_affected() == 1)
    }

    /// Deletes rule `id` of `tenant` (its deliveries stay listed): `false` when there is
    /// no such rule.
    pub async fn delete_notify_rule(
        &self,
        tenant: &TenantId,
        id: NotifyRuleId,
    ) -> Result<bool, StateError> {
        let done = sqlx::query("DELETE FROM notify_rules WHERE tenant = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(id.0)
            .execute(&self.pool)
            .await
            .map_err(StateError::sql("delete a notification rule"))?;
        Ok(done.rows_affected() == 1)
    }

    /// Tenants with outbox rows waiting.
    pub async fn tenants_with_notify_events(&self) -> Result<Vec<TenantId>, StateError> {
        let rows = sqlx::query("SELECT DISTINCT tenant FROM notify_events")
            .fetch_all(&self.pool)
            .await
            .map_err(StateError::sql("list tenants with notifications"))?;
        rows.iter()
            .map(|r| {
                let t: String = r.get(0);
                TenantId::new(&t).map_err(|e| StateError::Corrupt(format!("tenant {t:?}: {e}")))
            })
            .collect()
    }

    /// Takes up to `limit` outbox rows of `tenant` and, in the same transaction, queues the
    /// deliveries `route` makes of them with the tenant's enabled rules. A tenant with
    /// [`MAX_PENDING`] deliveries waiting gets the new ones recorded as dropped.
    pub async fn route_notify_events<F>(
        &self,
        tenant: &TenantId,
        limit: usize,
        route: F,
    ) -> Result<Routed, StateError>
    where
        F: FnOnce(&[NotifyEvent], &[StoredRule]) -> Vec<NewDelivery>,
    {
        let mut tx = self
            .begin_write()
            .await
            .map_err(StateError::sql("begin routing notifications"))?;
        let rows = sqlx::query(
            "DELETE FROM notify_events WHERE tenant = $1 AND (kind, reference) IN \
             (SELECT kind, reference FROM notify_events WHERE tenant = $1 ORDER BY at LIMIT $2) \
             RETURNING kind, reference, at, detail",
        )
        .bind(tenant.as_str())
        .bind(limit as i64)
        .fetch_all(&mut *tx)
        .await
        .map_err(StateError::sql("take queued notifications"))?;
        let mut events: Vec<NotifyEvent> = rows
            .iter()
            .map(|r| {
                let detail: String = r.get(3);
                NotifyEvent {
                    kind: r.get(0),
                    reference: r.get(1),
                    at: r.get(2),
                    detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
                }
            })
            .collect();
        events.sort_by(|a, b| (a.at, &a.reference).cmp(&(b.at, &b.reference)));
        let sql = format!(
            "SELECT {RULE_COLUMNS} FROM notify_rules WHERE tenant = $1 AND enabled = 1 \
             ORDER BY created_at, id"
        );
        let rules = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.as_str())
            .fetch_all(&mut *tx)
            .await
            .map_err(StateError::sql("read notification rules"))?
            .iter()
            .map(rule_of)
            .collect::<Result<Vec<_>, _>>()?;
        let mut routed = Routed {
            taken: events.len() as u64,
            ..Routed::default()
        };
        let made = if events.is_empty() {
            Vec::new()
        } else {
            route(&events, &rules)
        };
        let mut pending: u64 = if made.is_empty() {
            0
        } else {
            let n: i64 = sqlx::query(
                "SELECT COUNT(*) FROM notify_deliveries WHERE tenant = $1 AND status = 'pending'",
            )
            .bind(tenant.as_str())
            .fetch_one(&mut *tx)
            .await
            .map_err(StateError::sql("count waiting notifications"))?
            .get(0);
            n as u64
        };
        let now = Timestamp::now().as_nanos();
        for d in made {
            let (status, done_at, error) = if pending < MAX_PENDING {
                pending += 1;
                routed.queued += 1;
                (DeliveryStatus::Pending, None, None)
            } else {
                routed.dropped += 1;
                (
                    DeliveryStatus::Dropped,
                    Some(now),
                    Some(format!(
                        "not queued: {MAX_PENDING} notifications of this tenant were waiting"
                    )),
                )
            };
            sqlx::query(
                "INSERT INTO notify_deliveries (id, tenant, rule_id, channel, payload, status, \
                 attempts, next_at, last_error, created_at, done_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8, $7, $9)",
            )
            .bind(new_id()?)
            .bind(tenant.as_str())
            .bind(d.rule.0)
            .bind(d.channel)
            .bind(d.payload.to_string())
            .bind(status.as_str())
            .bind(now)
            .bind(error)
            .bind(done_at)
            .execute(&mut *tx)
            .await
            .map_err(StateError::sql("queue a delivery"))?;
        }
        tx.commit()
            .await
            .map_err(StateError::sql("commit routed notifications"))?;
        Ok(routed)
    }

    /// Claims up to `max` deliveries due at `now`, at most one per tenant (a slow receiver
    /// of one tenant never holds up another's), by moving their next attempt `lease_ns`
    /// ahead: a node that stops mid-attempt leaves it to be tried again then.
    /// Tenants in `busy` (an attempt of theirs still running) are passed over.
    pub async fn claim_due_deliveries(
        &self,
        now: Timestamp,
        lease_ns: i64,
        max: usize,
        busy: &std::collections::HashSet<String>,
    ) -> Result<Vec<Delivery>, StateError> {
        // The tenants with something due, most overdue first (each tenant's earliest: a
        // tenant with a thousand waiting never hides another's one).
        let tenants = sqlx::query(
            "SELECT tenant, MIN(next_at) AS due FROM notify_deliveries \
             WHERE status = 'pending' AND next_at <= $1 GROUP BY tenant ORDER BY due, tenant",
        )
        .bind(now.as_nanos())
        .fetch_all(&self.pool)
        .await
        .map_err(StateError::sql("list tenants with due deliveries"))?;
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM notify_deliveries \
             WHERE tenant = $1 AND status = 'pending' AND next_at <= $2 ORDER BY next_at, id \
             LIMIT 1"
        );
        let mut claimed: Vec<Delivery> = Vec::new();
        for t in &tenants {
            if claimed.len() >= max {
                break;
            }
            let tenant: String = t.get(0);
            if busy.contains(&tenant) {
                continue;
            }
            let row = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .bind(&tenant)
                .bind(now.as_nanos())
                .fetch_optional(&self.pool)
                .await
                .map_err(StateError::sql("read a due delivery"))?;
            let Some(row) = row else { continue };
            let mut d = delivery_of(&row)?;
            let lease = now.as_nanos().saturating_add(lease_ns);
            let done = sqlx::query(
                "UPDATE notify_deliveries SET next_at = $1 \
                 WHERE id = $2 AND status = 'pending' AND next_at = $3",
            )
            .bind(lease)
            .bind(d.id.0)
            .bind(d.next_at)
            .execute(&self.pool)
            .await
            .map_err(StateError::sql("claim a delivery"))?;
            if done.rows_affected() == 1 {
                d.next_at = lease;
                claimed.push(d);
            }
        }
        Ok(claimed)
    }

    /// Records the outcome of an attempt of `delivery` (as claimed): delivered, or failed
    /// with why — then tried again later ([`retry_after`]) or, out of attempts, failed.
    pub async fn finish_delivery(
        &self,
        delivery: &Delivery,
        outcome: Result<(), String>,
        now: Timestamp,
    ) -> Result<DeliveryStatus, StateError> {
        let attempts = delivery.attempts.saturating_add(1);
        let (status, next_at, done_at, error) = match outcome {
            Ok(()) => (
                DeliveryStatus::Delivered,
                delivery.next_at,
                Some(now.as_nanos()),
                None,
            ),
            Err(why) => match retry_after(attempts) {
                Some(wait) => (
                    DeliveryStatus::Pending,
                    now.as_nanos()
                        .saturating_add(i64::try_from(wait.as_nanos()).unwrap_or(i64::MAX)),
                    None,
                    Some(why),
                ),
                None => (
                    DeliveryStatus::Failed,
                    delivery.next_at,
                    Some(now.as_nanos()),
                    Some(why),
                ),
            },
        };
        let error: Option<String> = error.map(|e| e.chars().take(500).collect());
        sqlx::query(
            "UPDATE notify_deliveries SET status = $1, attempts = $2, next_at = $3, \
             done_at = $4, last_error = COALESCE($5, last_error) WHERE id = $6",
        )
        .bind(status.as_str())
        .bind(i64::from(attempts))
        .bind(next_at)
        .bind(done_at)
        .bind(error)
        .bind(delivery.id.0)
        .execute(&self.pool)
        .await
        .map_err(StateError::sql("record a delivery attempt"))?;
        Ok(status)
    }

    /// Marks a claimed `delivery` failed at once, with why: what no retry can mend (its
    /// rule deleted, its destination no longer allowed).
    pub async fn abandon_delivery(
        &self,
        delivery: &Delivery,
        why: &str,
        now: Timestamp,
    ) -> Result<(), StateError> {
        sqlx::query(
            "UPDATE notify_deliveries SET status = 'failed', done_at = $1, last_error = $2 \
             WHERE id = $3 AND status = 'pending'",
        )
        .bind(now.as_nanos())
        .bind(why)
        .bind(delivery.id.0)
        .execute(&self.pool)
        .await
        .map_err(StateError::sql("abandon a delivery"))?;
        Ok(())
    }

    /// The latest `limit` deliveries of `tenant`, newest first.
    pub async fn notify_deliveries(
        &self,
        tenant: &TenantId,
        limit: usize,
    ) -> Result<Vec<Delivery>, StateError> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM notify_deliveries WHERE tenant = $1 \
             ORDER BY created_at DESC, id DESC LIMIT $2"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.as_str())
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await
            .map_err(StateError::sql("list deliveries"))?;
        rows.iter().map(delivery_of).collect()
    }

    /// Forgets deliveries finished before `now` minus [`RETENTION_DAYS`]; returns how many.
    pub async fn purge_deliveries(&self, now: Timestamp) -> Result<u64, StateError> {
        let before = now
            .as_nanos()
            .saturating_sub(RETENTION_DAYS * 86_400 * 1_000_000_000);
        let done =
            sqlx::query("DELETE FROM notify_deliveries WHERE status <> 'pending' AND done_at < $1")
                .bind(before)
                .execute(&self.pool)
                .await
                .map_err(StateError::sql("purge deliveries"))?;
        Ok(done.rows_affected())
    }
}
