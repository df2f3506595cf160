//! Retro-hunt jobs as stored: the rule, the range, the progress as the job runs, the
//! results (the server's `hunts` module runs them).

use sqlx::Row;
use sqlx::any::AnyRow;
use vigie_event::TenantId;
use vigie_event::time::Timestamp;
use vigie_govern::grant::UserId;

use crate::{State, StateError, new_id};

/// Results a job stores at most (its `matched` counts them all).
pub const MAX_RESULTS: usize = 10_000;

/// A job to record.
#[derive(Clone, Debug)]
pub struct NewHunt {
    /// The rule's id (or title).
    pub rule_id: String,
    /// Its title.
    pub rule_title: String,
    /// Its level.
    pub rule_level: String,
    /// Its tags.
    pub rule_tags: Vec<String>,
    /// The rule's document (YAML), as run.
    pub document: String,
    /// The store query that narrowed the candidates (`*`: none).
    pub query: String,
    /// The range: from (inclusive).
    pub from: Timestamp,
    /// To (exclusive).
    pub to: Timestamp,
    /// Who started it.
    pub by: UserId,
}

/// A recorded job.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Hunt {
    /// Its id.
    #[serde(serialize_with = "as_text")]
    pub id: i64,
    /// The rule's id.
    pub rule_id: String,
    /// Its title.
    pub rule_title: String,
    /// Its level.
    pub rule_level: String,
    /// Its tags.
    pub rule_tags: Vec<String>,
    /// The document.
    pub document: String,
    /// The narrowing query.
    pub query: String,
    /// From (nanoseconds).
    pub from: i64,
    /// To.
    pub to: i64,
    /// `running`, `done`, `cancelled`, `failed`.
    pub status: String,
    /// Events of the tenant in the range.
    pub in_range: u64,
    /// Of which candidates (the narrowing query's matches).
    pub candidates: u64,
    /// Candidates evaluated so far.
    pub checked: u64,
    /// Of which the rule matched.
    pub matched: u64,
    /// Alerts raised from its results.
    pub alerts_raised: u64,
    /// Why it failed.
    pub error: Option<String>,
    /// Who started it.
    pub created_by: u64,
    /// When.
    pub created_at: i64,
    /// When it ended.
    pub finished_at: Option<i64>,
    /// How long it ran, in milliseconds.
    pub elapsed_ms: Option<u64>,
}

/// A result: an event the rule matched.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct HuntResult {
    /// The event's id.
    pub event_id: String,
    /// Its time (nanoseconds).
    pub event_time: i64,
    /// Its host.
    pub host: Option<String>,
    /// The fields that made the rule match (a JSON object).
    pub matched: serde_json::Value,
}

/// Progress of a running job.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Events in the range.
    pub in_range: u64,
    /// Candidates.
    pub candidates: u64,
    /// Evaluated.
    pub checked: u64,
    /// Matched.
    pub matched: u64,
}

fn as_text<S: serde::Serializer>(id: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&id.to_string())
}

const COLUMNS: &str = "id, rule_id, rule_title, rule_level, rule_tags, document, query, from_at, \
                       to_at, status, in_range, candidates, checked, matched, alerts_raised, \
                       error, created_by, created_at, finished_at, elapsed_ms";

fn count(r: &AnyRow, i: usize) -> u64 {
    u64::try_from(r.get::<i64, _>(i)).unwrap_or(0)
}

fn of_row(r: &AnyRow) -> Result<Hunt, StateError> {
    let tags: String = r.get(4);
    Ok(Hunt {
        id: r.get(0),
        rule_id: r.get(1),
        rule_title: r.get(2),
        rule_level: r.get(3),
        rule_tags: serde_json::from_str(&tags)
            .map_err(|_| StateError::Corrupt("hunt tags".into()))?,
        document: r.get(5),
        query: r.get(6),
        from: r.get(7),
        to: r.get(8),
        status: r.get(9),
        in_range: count(r, 10),
        candidates: count(r, 11),
        checked: count(r, 12),
        matched: count(r, 13),
        alerts_raised: count(r, 14),
        error: r.get(15),
        created_by: r.get::<i64, _>(16) as u64,
        created_at: r.get(17),
        finished_at: r.get(18),
        elapsed_ms: r.get::<Option<i64>, _>(19).map(|m| m as u64),
    })
}

impl State {
    /// Records a job of `tenant`, running; gives its id.
    pub async fn create_hunt(
        &self,
        tenant: &TenantId,
        h: &NewHunt,
        now: Timestamp,
    ) -> Result<i64, StateError> {
        let id = new_id()?;
        let tags =
            serde_json::to_string(&h.rule_tags).map_err(|e| StateError::Invalid(e.to_string()))?;
        sqlx::query(
            "INSERT INTO hunts (id, tenant, rule_id, rule_title, rule_level, rule_tags, document, \
             query, from_at, to_at, status, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'running', $11, $12)",
        )
        .bind(id)
        .bind(tenant.as_str())
        .bind(&h.rule_id)
        .bind(&h.rule_title)
        .bind(&h.rule_level)
        .bind(tags)
        .bind(&h.document)
        .bind(&h.query)
        .bind(h.from.as_nanos())
        .bind(h.to.as_nanos())
        .bind(h.by.0 as i64)
        .bind(now.as_nanos())
        .execute(&self.pool)
        .await
        .map_err(StateError::sql("record a hunt"))?;
        Ok(id)
    }

    /// Records a running job's progress.
    pub async fn hunt_progress(&self, id: i64, p: Progress) -> Result<(), StateError> {
        sqlx::query(
            "UPDATE hunts SET in_range = $1, candidates = $2, checked = $3, matched = $4 \
             WHERE id = $5 AND status = 'running'",
        )
        .bind(i64::try_from(p.in_range).unwrap_or(i64::MAX))
        .bind(i64::try_from(p.candidates).unwrap_or(i64::MAX))
        .bind(i64::try_from(p.checked).unwrap_or(i64::MAX))
        .bind(i64::try_from(p.matched).unwrap_or(i64::MAX))
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(StateError::sql("record a hunt's progress"))?;
        Ok(())
    }

    /// Ends a job: its final progress, status (`done`, `cancelled`, `failed`), error and
    /// results (at most [`MAX_RESULTS`]), in one transaction.
    #[allow(clippy::too_many_arguments)]
    pub async fn finish_hunt(
        &self,
        id: i64,
        p: Progress,
        status: &str,
        error: Option<&str>,
        results: &[HuntResult],
        elapsed_ms: u64,
        now: Timestamp,
    ) -> Result<(), StateError> {
        let mut tx = self
            .begin_write()
            .await
            .map_err(StateError::sql("begin ending a hunt"))?;
        for r in results.iter().take(MAX_RESULTS) {
            sqlx::query(
                "INSERT INTO hunt_results (hunt, event_id, event_time, host, matched) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (hunt, event_id) DO NOTHING",
            )
            .bind(id)
            .bind(&r.event_id)
            .bind(r.event_time)
            .bind(r.host.as_deref())
            .bind(r.matched.to_string())
            .execute(&mut *tx)
            .await
            .map_err(StateError::sql("record a hunt's result"))?;
        }
        sqlx::query(
            "UPDATE hunts SET in_range = $1, candidates = $2, checked = $3, matched = $4, \
             status = $5, error = $6, finished_at = $7, elapsed_ms = $8 WHERE id = $9",
        )
        .bind(i64::try_from(p.in_range).unwrap_or(i64::MAX))
        .bind(i64::try_from(p.candidates).unwrap_or(i64::MAX))
        .bind(i64::try_from(p.checked).unwrap_or(i64::MAX))
        .bind(i64::try_from(p.matched).unwrap_or(i64::MAX))
        .bind(status)
        .bind(error)
        .bind(now.as_nanos())
        .bind(i64::try_from(elapsed_ms).unwrap_or(i64::MAX))
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(StateError::sql("end a hunt"))?;
        tx.commit()
            .await
            .map_err(StateError::sql("commit the end of a hunt"))
    }

    /// Marks jobs left running by a stopped server as failed (at start).
    pub async fn fail_interrupted_hunts(&self, now: Timestamp) -> Result<u64, StateError> {
        let done = sqlx::query(
            "UPDATE hunts SET status = 'failed', error = 'interrupted: the server stopped', \
             finished_at = $1 WHERE status = 'running'",
        )
        .bind(now.as_nanos())
        .execute(&self.pool)
        .await
        .map_err(StateError::sql("fail interrupted hunts"))?;
        Ok(done.rows_affected())
    }

    /// `tenant`'s jobs, newest first (at most 200).
    pub async fn hunts(&self, tenant: &TenantId) -> Result<Vec<Hunt>, StateError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM hunts WHERE tenant = $1 ORDER BY created_at DESC, id LIMIT 200"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(StateError::sql("list hunts"))?;
        rows.iter().map(of_row).collect()
    }

    /// One of `tenant`'s jobs.
    pub async fn hunt(&self, tenant: &TenantId, id: i64) -> Result<Option<Hunt>, StateError> {
        let sql = format!("SELECT {COLUMNS} FROM hunts WHERE tenant = $1 AND id = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.as_str())
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(StateError::sql("read a hunt"))?;
        row.as_ref().map(of_row).transpose()
    }

    /// A job's results, oldest event first (at most `limit`).
    pub async fn hunt_results(&self, id: i64, limit: usize) -> Result<Vec<HuntResult>, StateError> {
        let rows = sqlx::query(
            "SELECT event_id, event_time, host, matched FROM hunt_results WHERE hunt = $1 \
             ORDER BY event_time, event_id LIMIT $2",
        )
        .bind(id)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(StateError::sql("read a hunt's results"))?;
        rows.iter()
            .map(|r| {
                let m: String = r.get(3);
                Ok(HuntResult {
                    event_id: r.get(0),
                    event_time: r.get(1),
                    host: r.get(2),
                    matched: serde_json::from_str(&m)
                        .map_err(|_| StateError::Corrupt("hunt result".into()))?,
                })
            })
            .collect()
    }

    /// Adds to the alerts a job's results raised.
    pub async fn hunt_raised(&self, id: i64, n: u64) -> Result<(), StateError> {
        sqlx::query("UPDATE hunts SET alerts_raised = alerts_raised + $1 WHERE id = $2")
            .bind(i64::try_from(n).unwrap_or(i64::MAX))
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(StateError::sql("count a hunt's alerts"))?;
        Ok(())
    }
}
