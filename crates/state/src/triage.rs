//! Triage persisted: an alert's transitions (`vigie_govern::triage` decides them) and its
//! history, one row per transition, never rewritten.

use sqlx::Row;
use vigie_event::TenantId;
use vigie_event::time::Timestamp;
use vigie_govern::grant::UserId;
use vigie_govern::role::{Role, Tier};
use vigie_govern::triage::{AlertState, Qualification, Refusal, Status, Transition, apply};

use crate::alerts::AlertId;
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
    /// The note given.
    pub note: Option<String>,
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

impl State {
    /// Applies `transition` to alert `id` of `tenant`, by `actor` acting with `role`, with
    /// `note`, at `now`: the lifecycle decides; the alert's row changes only if it still is
    /// as read (a concurrent transition makes this one refused, never lost), and the history
    /// gets its row in the same transaction.
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
            .pool
            .begin()
            .await
            .map_err(StateError::sql("begin a transition"))?;
        let row = sqlx::query(
            "SELECT status, queue, qualification FROM alerts WHERE tenant = $1 AND id = $2",
        )
        .bind(tenant.as_str())
        .bind(id.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(StateError::sql("read an alert's state"))?;
        let Some(row) = row else {
            return Ok(Outcome::NoAlert);
        };
        let status: String = row.get(0);
        let queue: String = row.get(1);
        let qualification: Option<String> = row.get(2);
        let from = AlertState {
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
        };
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
        .execute(&mut *tx)
        .await
        .map_err(StateError::sql("change an alert's state"))?;
        if changed.rows_affected() != 1 {
            return Ok(Outcome::Refused(Refusal::Status(
                "the alert changed meanwhile: reload it",
            )));
        }
        let seq: i64 =
            sqlx::query("SELECT COALESCE(MAX(seq), 0) + 1 FROM alert_history WHERE alert = $1")
                .bind(id.as_str())
                .fetch_one(&mut *tx)
                .await
                .map_err(StateError::sql("number a history row"))?
                .get(0);
        let note = note.map(str::trim).filter(|n| !n.is_empty());
        sqlx::query(
            "INSERT INTO alert_history (alert, seq, at, actor, action, from_status, to_status, \
             queue, qualification, note) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(id.as_str())
        .bind(seq)
        .bind(now.as_nanos())
        .bind(actor.map(|a| a.0 as i64))
        .bind(transition.as_str())
        .bind(from.status.as_str())
        .bind(to.status.as_str())
        .bind(to.queue.as_str())
        .bind(to.qualification.map(Qualification::as_str))
        .bind(note)
        .execute(&mut *tx)
        .await
        .map_err(StateError::sql("write a history row"))?;
        tx.commit()
            .await
            .map_err(StateError::sql("commit a transition"))?;
        Ok(Outcome::Done {
            from,
            to,
            seq: u64::try_from(seq).unwrap_or(0),
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
             h.qualification, h.note FROM alert_history h JOIN alerts a ON a.id = h.alert \
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
            })
            .collect())
    }
}
