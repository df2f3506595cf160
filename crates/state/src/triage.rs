//! Triage persisted: an alert's transitions (`vigie_govern::triage` decides them) and its
//! history, one row per transition, never rewritten.

use sqlx::{Any, Row, Transaction};
use vigie_event::TenantId;
use vigie_event::time::Timestamp;
use vigie_govern::grant::UserId;
use vigie_govern::role::{Role, Tier};
use vigie_govern::triage::{
    AlertState, Qualification, Refusal, Status, Transition, apply, assign, comment,
};

use crate::alerts::AlertId;
use crate::enrich::DAY;
use crate::{State, StateError};

/// A row of an alert's history.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct HistoryRow {
    /// Its place in the alert's history (1, 2, …).
    pub seq: u64,
    /// When (nanoseconds since the epoch).
    pub at: i64,
    /// Who (`None`: the platform itself, e.g. grouping or a returning source).
    pub actor: Option<u64>,
    /// The transition's name.
    pub action: String,
    /// The status before.
    pub from: String,
    /// The status after.
    pub to: String,
    /// The queue after.
    pub queue: String,
    /// The qualification after.
    pub qualification: Option<String>,
    /// The note given (a comment's text).
    pub note: Option<String>,
    /// For an assignment: who it went to (`None`: back to the queue).
    pub assignee: Option<u64>,
}

/// What a transition did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Done: the state before and after, and the history row's place.
    Done {
        /// Before.
        from: AlertState,
        /// After.
        to: AlertState,
        /// The row's `seq`.
        seq: u64,
    },
    /// The lifecycle refused it (nothing written).
    Refused(Refusal),
    /// No such alert in this tenant.
    NoAlert,
}

fn tier_of(text: &str) -> Result<Tier, StateError> {
    text.parse()
        .map_err(|_| StateError::Corrupt(format!("alert queue {text:?}")))
}

/// What an alert's row holds that a transition reads.
struct Row0 {
    state: AlertState,
    group: Option<String>,
    rule: String,
    created: i64,
    /// What an escalation's notification tells: title, level, priority, host.
    title: String,
    level: String,
    priority: i64,
    host: Option<String>,
}

async fn read_state(
    tx: &mut Transaction<'_, Any>,
    tenant: &TenantId,
    id: &AlertId,
) -> Result<Option<Row0>, StateError> {
    let row = sqlx::query(
        "SELECT status, queue, qualification, group_id, rule_id, created_at, rule_title, level, \
         priority, host FROM alerts WHERE tenant = $1 AND id = $2",
    )
    .bind(tenant.as_str())
    .bind(id.as_str())
    .fetch_optional(&mut **tx)
    .await
    .map_err(StateError::sql("read an alert's state"))?;
    let Some(row) = row else {
        return Ok(None);
    };
    let status: String = row.get(0);
    let queue: String = row.get(1);
    let qualification: Option<String> = row.get(2);
    Ok(Some(Row0 {
        state: AlertState {
            status: Status::parse(&status)
                .ok_or_else(|| StateError::Corrupt(format!("alert status {status:?}")))?,
            queue: tier_of(&queue)?,
            qualification: qualification
                .as_deref()
                .map(|q| {
                    Qualification::parse(q)
                        .ok_or_else(|| StateError::Corrupt(format!("qualification {q:?}")))
                })
                .transpose()?,
        },
        group: row.get(3),
        rule: row.get(4),
        created: row.get(5),
        title: row.get(6),
        level: row.get(7),
        priority: row.get(8),
        host: row.get(9),
    }))
}

/// A history row to append.
struct Entry<'a> {
    action: &'a str,
    from: AlertState,
    to: AlertState,
    actor: Option<UserId>,
    note: Option<&'a str>,
    assignee: Option<UserId>,
    now: Timestamp,
}

async fn append(
    tx: &mut Transaction<'_, Any>,
    id: &AlertId,
    e: Entry<'_>,
) -> Result<u64, StateError> {
    let seq: i64 =
        sqlx::query("SELECT COALESCE(MAX(seq), 0) + 1 FROM alert_history WHERE alert = $1")
            .bind(id.as_str())
            .fetch_one(&mut **tx)
            .await
            .map_err(StateError::sql("number a history row"))?
            .get(0);
    let note = e.note.map(str::trim).filter(|n| !n.is_empty());
    sqlx::query(
        "INSERT INTO alert_history (alert, seq, at, actor, action, from_status, to_status, \
         queue, qualification, note, assignee) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(id.as_str())
    .bind(seq)
    .bind(e.now.as_nanos())
    .bind(e.actor.map(|a| a.0 as i64))
    .bind(e.action)
    .bind(e.from.status.as_str())
    .bind(e.to.status.as_str())
    .bind(e.to.queue.as_str())
    .bind(e.to.qualification.map(Qualification::as_str))
    .bind(note)
    .bind(e.assignee.map(|a| a.0 as i64))
    .execute(&mut **tx)
    .await
    .map_err(StateError::sql("write a history row"))?;
    Ok(u64::try_from(seq).unwrap_or(0))
}

/// Keeps what other rows derive from an alert's state: its group's open count and its
/// rule's qualification counts (`rule_quality`, by the day the alert was recorded).
async fn derive(
    tx: &mut Transaction<'_, Any>,
    tenant: &TenantId,
    row: &Row0,
    to: AlertState,
) -> Result<(), StateError> {
    let from = row.state;
    let opened = i64::from(to.status.is_open()) - i64::from(from.status.is_open());
    if opened != 0
        && let Some(group) = &row.group
    {
        sqlx::query("UPDATE alert_groups SET open_count = open_count + $1 WHERE id = $2")
            .bind(opened)
            .bind(group)
            .execute(&mut **tx)
            .await
            .map_err(StateError::sql("count a group's open alerts"))?;
    }
    if from.qualification != to.qualification {
        let fp = |q: Option<Qualification>| i64::from(q == Some(Qualification::FalsePositive));
        let qualified =
            i64::from(to.qualification.is_some()) - i64::from(from.qualification.is_some());
        let false_positives = fp(to.qualification) - fp(from.qualification);
        sqlx::query(
            "INSERT INTO rule_quality (tenant, rule_id, day, qualified, false_positives) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant, rule_id, day) DO UPDATE SET \
             qualified = rule_quality.qualified + excluded.qualified, \
             false_positives = rule_quality.false_positives + excluded.false_positives",
        )
        .bind(tenant.as_str())
        .bind(&row.rule)
        .bind(row.created.div_euclid(DAY))
        .bind(qualified)
        .bind(false_positives)
        .execute(&mut **tx)
        .await
        .map_err(StateError::sql("count a rule's qualifications"))?;
    }
    Ok(())
}

/// One transition inside `tx` (see [`State::transition_alert`]).
#[allow(clippy::too_many_arguments)]
async fn transition_in(
    tx: &mut Transaction<'_, Any>,
    tenant: &TenantId,
    id: &AlertId,
    transition: Transition,
    role: Role,
    actor: Option<UserId>,
    note: Option<&str>,
    now: Timestamp,
) -> Result<Outcome, StateError> {
    let Some(row) = read_state(tx, tenant, id).await? else {
        return Ok(Outcome::NoAlert);
    };
    let from = row.state;
    let to = match apply(from, transition, role, note) {
        Ok(to) => to,
        Err(refusal) => return Ok(Outcome::Refused(refusal)),
    };
    let changed = sqlx::query(
        "UPDATE alerts SET status = $1, queue = $2, qualification = $3 \
         WHERE id = $4 AND status = $5 AND queue = $6",
    )
    .bind(to.status.as_str())
    .bind(to.queue.as_str())
    .bind(to.qualification.map(Qualification::as_str))
    .bind(id.as_str())
    .bind(from.status.as_str())
    .bind(from.queue.as_str())
    .execute(&mut **tx)
    .await
    .map_err(StateError::sql("change an alert's state"))?;
    if changed.rows_affected() != 1 {
        return Ok(Outcome::Refused(Refusal::Status(
            "the alert changed meanwhile: reload it",
        )));
    }
    derive(tx, tenant, &row, to).await?;
    let entry = Entry {
        action: transition.as_str(),
        from,
        to,
        actor,
        note,
        assignee: None,
        now,
    };
    let seq = append(tx, id, entry).await?;
    if matches!(
        transition,
        Transition::Escalate(_) | Transition::Deescalate(_)
    ) {
        let detail = serde_json::json!({
            "alert": id.as_str(),
            "title": row.title,
            "level": row.level,
            "priority": row.priority,
            "host": row.host,
            "from": from.queue.as_str(),
            "queue": to.queue.as_str(),
            "escalated": matches!(transition, Transition::Escalate(_)),
        });
        let reference = format!("{}:{seq}", id.as_str());
        crate::notify::enqueue(tx, tenant.as_str(), "escalation", &reference, now, &detail).await?;
    }
    Ok(Outcome::Done { from, to, seq })
}

/// The largest bulk action: alerts acted on in one request and one transaction.
pub const MAX_BULK: usize = 10_000;

/// Counts of a bulk action's outcomes.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct BulkOutcome {
    /// Alerts changed.
    pub done: u64,
    /// Alerts the lifecycle refused (their state, the role or the queue), by reason.
    pub refused: std::collections::BTreeMap<String, u64>,
    /// Ids that named no alert of the tenant.
    pub missing: u64,
    /// The changed alerts' ids.
    #[serde(skip)]
    pub changed: Vec<AlertId>,
}

impl BulkOutcome {
    fn count(&mut self, id: &AlertId, outcome: Outcome) {
        match outcome {
            Outcome::Done { .. } => {
                self.done += 1;
                self.changed.push(id.clone());
            }
            Outcome::Refused(why) => *self.refused.entry(why.to_string()).or_default() += 1,
            Outcome::NoAlert => self.missing += 1,
        }
    }
}

fn bulk_size(ids: &[AlertId]) -> Result<(), StateError> {
    if ids.len() > MAX_BULK {
        return Err(StateError::Invalid(format!(
            "{} alerts: a bulk action takes at most {MAX_BULK}",
            ids.len()
        )));
    }
    Ok(())
}

/// One assignment inside `tx` (see [`State::assign_alert`]).
#[allow(clippy::too_many_arguments)]
async fn assign_in(
    tx: &mut Transaction<'_, Any>,
    tenant: &TenantId,
    id: &AlertId,
    role: Role,
    actor: Option<UserId>,
    assignee: Option<(UserId, Role)>,
    note: Option<&str>,
    now: Timestamp,
) -> Result<Outcome, StateError> {
    let Some(row) = read_state(tx, tenant, id).await? else {
        return Ok(Outcome::NoAlert);
    };
    let state = row.state;
    if let Err(why) = assign(state, role, assignee.map(|(_, r)| r)) {
        return Ok(Outcome::Refused(why));
    }
    if note.is_some_and(|n| n.chars().count() > vigie_govern::triage::MAX_NOTE) {
        return Ok(Outcome::Refused(Refusal::Note(
            "a note has at most 4000 characters",
        )));
    }
    let changed =
        sqlx::query("UPDATE alerts SET assignee = $1 WHERE id = $2 AND status = $3 AND queue = $4")
            .bind(assignee.map(|(u, _)| u.0 as i64))
            .bind(id.as_str())
            .bind(state.status.as_str())
            .bind(state.queue.as_str())
            .execute(&mut **tx)
            .await
            .map_err(StateError::sql("assign an alert"))?;
    if changed.rows_affected() != 1 {
        return Ok(Outcome::Refused(Refusal::Status(
            "the alert changed meanwhile: reload it",
        )));
    }
    let entry = Entry {
        action: "assign",
        from: state,
        to: state,
        actor,
        note,
        assignee: assignee.map(|(u, _)| u),
        now,
    };
    let seq = append(tx, id, entry).await?;
    Ok(Outcome::Done {
        from: state,
        to: state,
        seq,
    })
}

impl State {
    /// Applies `transition` to alert `id` of `tenant`, by `actor` acting with `role`, with
    /// `note`, at `now`: the lifecycle decides; the alert's row changes only if it still is
    /// as read (a concurrent transition makes this one refused, never lost), and the history
    /// gets its row in the same transaction, as do the alert's group (its open count) and
    /// its rule's qualification counts.
    #[allow(clippy::too_many_arguments)]
    pub async fn transition_alert(
        &self,
        tenant: &TenantId,
        id: &AlertId,
        transition: Transition,
        role: Role,
        actor: Option<UserId>,
        note: Option<&str>,
        now: Timestamp,
    ) -> Result<Outcome, StateError> {
        let mut tx = self
            .begin_write()
            .await
            .map_err(StateError::sql("begin a transition"))?;
        let outcome =
            transition_in(&mut tx, tenant, id, transition, role, actor, note, now).await?;
        if matches!(outcome, Outcome::Done { .. }) {
            tx.commit()
                .await
                .map_err(StateError::sql("commit a transition"))?;
        }
        Ok(outcome)
    }

    /// Applies `transition` to each of `ids` (at most [`MAX_BULK`]), in one transaction:
    /// each alert as [`State::transition_alert`] would, the refused ones left as they are
    /// and counted by reason (a bulk close of a selection closes what may be closed).
    #[allow(clippy::too_many_arguments)]
    pub async fn transition_alerts(
        &self,
        tenant: &TenantId,
        ids: &[AlertId],
        transition: Transition,
        role: Role,
        actor: Option<UserId>,
        note: Option<&str>,
        now: Timestamp,
    ) -> Result<BulkOutcome, StateError> {
        bulk_size(ids)?;
        let mut tx = self
            .begin_write()
            .await
            .map_err(StateError::sql("begin a bulk transition"))?;
        let mut out = BulkOutcome::default();
        for id in ids {
            let outcome =
                transition_in(&mut tx, tenant, id, transition, role, actor, note, now).await?;
            out.count(id, outcome);
        }
        tx.commit()
            .await
            .map_err(StateError::sql("commit a bulk transition"))?;
        Ok(out)
    }

    /// Assigns alert `id` of `tenant` to `assignee` (a user and their role on the tenant),
    /// or back to its queue (`None`), as `vigie_govern::triage::assign` allows `role`; a
    /// history row records it. The status does not change.
    #[allow(clippy::too_many_arguments)]
    pub async fn assign_alert(
        &self,
        tenant: &TenantId,
        id: &AlertId,
        role: Role,
        actor: Option<UserId>,
        assignee: Option<(UserId, Role)>,
        note: Option<&str>,
        now: Timestamp,
    ) -> Result<Outcome, StateError> {
        let mut tx = self
            .begin_write()
            .await
            .map_err(StateError::sql("begin an assignment"))?;
        let outcome = assign_in(&mut tx, tenant, id, role, actor, assignee, note, now).await?;
        if matches!(outcome, Outcome::Done { .. }) {
            tx.commit()
                .await
                .map_err(StateError::sql("commit an assignment"))?;
        }
        Ok(outcome)
    }

    /// Assigns each of `ids` (at most [`MAX_BULK`]) as [`State::assign_alert`] would, in one
    /// transaction; refusals are counted by reason.
    #[allow(clippy::too_many_arguments)]
    pub async fn assign_alerts(
        &self,
        tenant: &TenantId,
        ids: &[AlertId],
        role: Role,
        actor: Option<UserId>,
        assignee: Option<(UserId, Role)>,
        note: Option<&str>,
        now: Timestamp,
    ) -> Result<BulkOutcome, StateError> {
        bulk_size(ids)?;
        let mut tx = self
            .begin_write()
            .await
            .map_err(StateError::sql("begin a bulk assignment"))?;
        let mut out = BulkOutcome::default();
        for id in ids {
            let outcome = assign_in(&mut tx, tenant, id, role, actor, assignee, note, now).await?;
            out.count(id, outcome);
        }
        tx.commit()
            .await
            .map_err(StateError::sql("commit a bulk assignment"))?;
        Ok(out)
    }

    /// Adds a comment to alert `id` of `tenant`: a history row (action `comment`) with the
    /// text as its note, as `vigie_govern::triage::comment` allows `role`.
    pub async fn comment_alert(
        &self,
        tenant: &TenantId,
        id: &AlertId,
        role: Role,
        actor: Option<UserId>,
        text: &str,
        now: Timestamp,
    ) -> Result<Outcome, StateError> {
        let mut tx = self
            .begin_write()
            .await
            .map_err(StateError::sql("begin a comment"))?;
        let Some(row) = read_state(&mut tx, tenant, id).await? else {
            return Ok(Outcome::NoAlert);
        };
        let state = row.state;
        if let Err(why) = comment(state.queue, role, Some(text)) {
            return Ok(Outcome::Refused(why));
        }
        let entry = Entry {
            action: "comment",
            from: state,
            to: state,
            actor,
            note: Some(text),
            assignee: None,
            now,
        };
        let seq = append(&mut tx, id, entry).await?;
        tx.commit()
            .await
            .map_err(StateError::sql("commit a comment"))?;
        Ok(Outcome::Done {
            from: state,
            to: state,
            seq,
        })
    }

    /// The history of alert `id` of `tenant`, oldest first (empty for an alert of another
    /// tenant).
    pub async fn alert_history(
        &self,
        tenant: &TenantId,
        id: &AlertId,
    ) -> Result<Vec<HistoryRow>, StateError> {
        let rows = sqlx::query(
            "SELECT h.seq, h.at, h.actor, h.action, h.from_status, h.to_status, h.queue, \
             h.qualification, h.note, h.assignee FROM alert_history h JOIN alerts a ON a.id = h.alert \
             WHERE a.tenant = $1 AND h.alert = $2 ORDER BY h.seq",
        )
        .bind(tenant.as_str())
        .bind(id.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(StateError::sql("read an alert's history"))?;
        Ok(rows
            .iter()
            .map(|r| HistoryRow {
                seq: u64::try_from(r.get::<i64, _>(0)).unwrap_or(0),
                at: r.get(1),
                actor: r.get::<Option<i64>, _>(2).map(|a| a as u64),
                action: r.get(3),
                from: r.get(4),
                to: r.get(5),
                queue: r.get(6),
                qualification: r.get(7),
                note: r.get(8),
                assignee: r.get::<Option<i64>, _>(9).map(|a| a as u64),
            })
            .collect())
    }
}
