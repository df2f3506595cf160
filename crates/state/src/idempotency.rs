//! Ingest requests retried with an `Idempotency-Key` (per tenant, kept a day).
//!
//! A client that sent a batch and lost the answer (a timeout, a reset) retries with the same
//! key. The first attempt records the receive time it chose; every attempt with that key
//! uses it, and the server mints the batch's event ids from the key and that time, so a retry
//! journals the same ids and the store keeps each event once — even when the first attempt
//! was made durable but never answered (the server died in between). Once an attempt is
//! acknowledged its answer is recorded, and later retries get it back without journaling
//! anything.

use sqlx::Row;
use vigie_event::TenantId;
use vigie_event::time::Timestamp;

use crate::{State, StateError};

/// How long a key is remembered.
pub const IDEMPOTENCY_RETENTION: std::time::Duration = std::time::Duration::from_secs(86_400);

/// What an `Idempotency-Key` says about a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Idempotent {
    /// An earlier attempt was acknowledged: give its answer again.
    Answered(String),
    /// Process the request with this receive time (the first attempt's, or now).
    Process(Timestamp),
    /// The key is new and the tenant already holds its limit of live keys.
    OverQuota,
}

async fn count_keys(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    tenant: &TenantId,
) -> Result<u64, StateError> {
    sqlx::query("SELECT COUNT(*) FROM idempotency WHERE tenant = $1")
        .bind(tenant.as_str())
        .fetch_one(&mut **tx)
        .await
        .map(|r| r.get::<i64, _>(0).max(0) as u64)
        .map_err(StateError::sql("count idempotency keys"))
}

impl State {
    /// Looks `key` up for `tenant`, recording `now` as its receive time when it is new (or
    /// older than [`IDEMPOTENCY_RETENTION`], which then counts as new) and the tenant holds
    /// fewer than `max_keys` live keys.
    pub async fn idempotency_begin(
        &self,
        tenant: &TenantId,
        key: &str,
        now: Timestamp,
        max_keys: u64,
    ) -> Result<Idempotent, StateError> {
        let oldest = now
            .as_nanos()
            .saturating_sub(IDEMPOTENCY_RETENTION.as_nanos() as i64);
        let mut tx = self
            .begin_write()
            .await
            .map_err(StateError::sql("begin an idempotency lookup"))?;
        let row = sqlx::query(
            "SELECT received, answer, created_at FROM idempotency WHERE tenant = $1 AND key = $2",
        )
        .bind(tenant.as_str())
        .bind(key)
        .fetch_optional(&mut *tx)
        .await
        .map_err(StateError::sql("read an idempotency key"))?;
        if let Some(row) = &row
            && row.get::<i64, _>(2) >= oldest
        {
            let answer: Option<String> = row.get(1);
            return Ok(match answer {
                Some(a) => Idempotent::Answered(a),
                None => Idempotent::Process(Timestamp::from_nanos(row.get(0))),
            });
        }
        if count_keys(&mut tx, tenant).await? >= max_keys {
            // Only at the limit are the tenant's expired keys swept: normal traffic does not
            // pay for it.
            sqlx::query("DELETE FROM idempotency WHERE tenant = $1 AND created_at < $2")
                .bind(tenant.as_str())
                .bind(oldest)
                .execute(&mut *tx)
                .await
                .map_err(StateError::sql("expire idempotency keys"))?;
            if count_keys(&mut tx, tenant).await? >= max_keys {
                return Ok(Idempotent::OverQuota);
            }
        }
        sqlx::query(
            "INSERT INTO idempotency (tenant, key, received, answer, created_at) \
             VALUES ($1, $2, $3, NULL, $3) \
             ON CONFLICT (tenant, key) DO UPDATE SET received = $3, answer = NULL, created_at = $3",
        )
        .bind(tenant.as_str())
        .bind(key)
        .bind(now.as_nanos())
        .execute(&mut *tx)
        .await
        .map_err(StateError::sql("record an idempotency key"))?;
        tx.commit()
            .await
            .map_err(StateError::sql("commit an idempotency lookup"))?;
        Ok(Idempotent::Process(now))
    }

    /// Records the answer given to the request with `key`.
    pub async fn idempotency_finish(
        &self,
        tenant: &TenantId,
        key: &str,
        answer: &str,
    ) -> Result<(), StateError> {
        sqlx::query("UPDATE idempotency SET answer = $3 WHERE tenant = $1 AND key = $2")
            .bind(tenant.as_str())
            .bind(key)
            .bind(answer)
            .execute(&self.pool)
            .await
            .map_err(StateError::sql("record an idempotent answer"))?;
        Ok(())
    }

    /// Keys `tenant` holds (its budget is checked against this).
    pub async fn idempotency_keys(&self, tenant: &TenantId) -> Result<u64, StateError> {
        let row = sqlx::query("SELECT COUNT(*) FROM idempotency WHERE tenant = $1")
            .bind(tenant.as_str())
            .fetch_one(&self.pool)
            .await
            .map_err(StateError::sql("count idempotency keys"))?;
        Ok(row.get::<i64, _>(0).max(0) as u64)
    }

    /// Forgets every key older than [`IDEMPOTENCY_RETENTION`] at `now`; returns how many.
    pub async fn idempotency_purge(&self, now: Timestamp) -> Result<u64, StateError> {
        let oldest = now
            .as_nanos()
            .saturating_sub(IDEMPOTENCY_RETENTION.as_nanos() as i64);
        let done = sqlx::query("DELETE FROM idempotency WHERE created_at < $1")
            .bind(oldest)
            .execute(&self.pool)
            .await
            .map_err(StateError::sql("purge idempotency keys"))?;
        Ok(done.rows_affected())
    }
}
