//! A tenant's suppressions as stored (`vigie_detect::suppress` reads and applies them).

use sqlx::Row;
use sqlx::any::AnyRow;
use vigie_event::TenantId;
use vigie_event::time::Timestamp;
use vigie_govern::grant::UserId;

use crate::{State, StateError, new_id};

/// A suppression to record.
#[derive(Clone, Debug)]
pub struct NewSuppression {
    /// Its title (the filter's).
    pub title: String,
    /// The rule ids it applies to.
    pub rules: Vec<String>,
    /// The Sigma filter document, as written.
    pub document: String,
    /// Why.
    pub justification: String,
    /// Who wrote it.
    pub author: UserId,
    /// When it stops applying.
    pub expires_at: Timestamp,
}

/// A recorded suppression.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct StoredSuppression {
    /// Its id.
    #[serde(serialize_with = "as_text")]
    pub id: i64,
    /// Its tenant.
    #[serde(skip)]
    pub tenant: String,
    /// Its title.
    pub title: String,
    /// The rule ids it applies to.
    pub rules: Vec<String>,
    /// The document.
    pub document: String,
    /// Why.
    pub justification: String,
    /// Who wrote it (a user id).
    pub author: u64,
    /// When (nanoseconds).
    pub created_at: i64,
    /// Until when.
    pub expires_at: i64,
    /// When it was removed, if it was.
    pub removed_at: Option<i64>,
    /// By whom.
    pub removed_by: Option<u64>,
    /// Alerts it kept from being raised.
    pub hits: u64,
    /// The last time it did.
    pub last_hit: Option<i64>,
}

fn as_text<S: serde::Serializer>(id: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&id.to_string())
}

const COLUMNS: &str = "id, tenant, title, rules, document, justification, author, created_at, \
                       expires_at, removed_at, removed_by, hits, last_hit";

fn of_row(r: &AnyRow) -> Result<StoredSuppression, StateError> {
    let rules: String = r.get(3);
    Ok(StoredSuppression {
        id: r.get(0),
        tenant: r.get(1),
        title: r.get(2),
        rules: serde_json::from_str(&rules)
            .map_err(|_| StateError::Corrupt("suppression rules".into()))?,
        document: r.get(4),
        justification: r.get(5),
        author: r.get::<i64, _>(6) as u64,
        created_at: r.get(7),
        expires_at: r.get(8),
        removed_at: r.get(9),
        removed_by: r.get::<Option<i64>, _>(10).map(|u| u as u64),
        hits: u64::try_from(r.get::<i64, _>(11)).unwrap_or(0),
        last_hit: r.get(12),
    })
}

impl State {
    /// Records a suppression of `tenant`; gives its id.
    pub async fn create_suppression(
        &self,
        tenant: &TenantId,
        s: &NewSuppression,
        now: Timestamp,
    ) -> Result<i64, StateError> {
        let id = new_id()?;
        let rules =
            serde_json::to_string(&s.rules).map_err(|e| StateError::Invalid(e.to_string()))?;
        sqlx::query(
            "INSERT INTO suppressions (id, tenant, title, rules, document, justification, \
             author, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(id)
        .bind(tenant.as_str())
        .bind(&s.title)
        .bind(rules)
        .bind(&s.document)
        .bind(&s.justification)
        .bind(s.author.0 as i64)
        .bind(now.as_nanos())
        .bind(s.expires_at.as_nanos())
        .execute(&self.pool)
        .await
        .map_err(StateError::sql("record a suppression"))?;
        Ok(id)
    }

    /// `tenant`'s suppressions, newest first (removed ones too).
    pub async fn suppressions(
        &self,
        tenant: &TenantId,
    ) -> Result<Vec<StoredSuppression>, StateError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM suppressions WHERE tenant = $1 ORDER BY created_at DESC, id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(StateError::sql("list suppressions"))?;
        rows.iter().map(of_row).collect()
    }

    /// Every tenant's suppressions in force at `now` (not removed, not expired), oldest
    /// first: what the pipeline loads at start.
    pub async fn active_suppressions(
        &self,
        now: Timestamp,
    ) -> Result<Vec<StoredSuppression>, StateError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM suppressions WHERE removed_at IS NULL AND expires_at > $1 \
             ORDER BY created_at, id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now.as_nanos())
            .fetch_all(&self.pool)
            .await
            .map_err(StateError::sql("list active suppressions"))?;
        rows.iter().map(of_row).collect()
    }

    /// Removes suppression `id` of `tenant` (kept, marked removed); `false` when there is
    /// no such suppression in force.
    pub async fn remove_suppression(
        &self,
        tenant: &TenantId,
        id: i64,
        by: UserId,
        now: Timestamp,
    ) -> Result<bool, StateError> {
        let done = sqlx::query(
            "UPDATE suppressions SET removed_at = $1, removed_by = $2 \
             WHERE tenant = $3 AND id = $4 AND removed_at IS NULL",
        )
        .bind(now.as_nanos())
        .bind(by.0 as i64)
        .bind(tenant.as_str())
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(StateError::sql("remove a suppression"))?;
        Ok(done.rows_affected() == 1)
    }

    /// Adds to suppressions' hit counts: (id, alerts kept, last time).
    pub async fn count_suppressed(&self, hits: &[(i64, u64, i64)]) -> Result<(), StateError> {
        if hits.is_empty() {
            return Ok(());
        }
        let mut tx = self
            .begin_write()
            .await
            .map_err(StateError::sql("begin counting suppressions"))?;
        for (id, n, last) in hits {
            sqlx::query(
                "UPDATE suppressions SET hits = hits + $1, \
                 last_hit = CASE WHEN last_hit IS NULL OR last_hit < $2 THEN $2 ELSE last_hit END \
                 WHERE id = $3",
            )
            .bind(i64::try_from(*n).unwrap_or(i64::MAX))
            .bind(*last)
            .bind(*id)
            .execute(&mut *tx)
            .await
            .map_err(StateError::sql("count suppressed alerts"))?;
        }
        tx.commit()
            .await
            .map_err(StateError::sql("commit suppression counts"))
    }
}
