//! The audit trail's storage: one hash chain per tenant (`tenant:<id>`) and the platform's
//! (`platform`), each row the record's canonical bytes (RFC 8785), its leaf hash and its
//! chain hash, numbered from 1; and the signed checkpoints of each chain.
//!
//! Appending reads each chain's head and writes the next rows in one transaction; two
//! writers on one chain (two nodes on PostgreSQL) collide on the `(chain, seq)` key and the
//! loser retries from the new head, so the chain never forks. Nothing here updates or
//! deletes a row: no route can change the trail, and `vigie audit verify` finds whoever
//! changed it in the database (`vigie_govern::audit::verify`).

use std::collections::HashMap;

use serde_json::Value;
use sqlx::Row;
use vigie_event::time::Timestamp;
use vigie_govern::audit::record::{Record, append};
use vigie_govern::audit::{GENESIS, Hash, Stored};

use crate::tokens::hex;
use crate::{State, StateError};

/// The platform chain's name (records of no tenant: sign-ins, organisations, users).
pub const PLATFORM_CHAIN: &str = "platform";

/// The chain of `tenant`'s records.
pub fn tenant_chain(tenant: &str) -> String {
    format!("tenant:{tenant}")
}

/// A record to append, with the columns it is searched by.
#[derive(Clone, Debug)]
pub struct AuditEntry {
    /// The chain.
    pub chain: String,
    /// The record.
    pub record: Record,
    /// When (the record's `time`, in nanoseconds).
    pub time: Timestamp,
}

/// What an append wrote: the record's number, leaf hash and the chain's new head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Appended {
    /// Its number in the chain.
    pub seq: u64,
    /// Its leaf hash.
    pub leaf: Hash,
    /// The chain hash after it.
    pub head: Hash,
}

/// A record read back for `GET /api/v1/audit`.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditRow {
    /// The chain.
    pub chain: String,
    /// Its number in the chain.
    pub seq: u64,
    /// The record (its canonical JSON, parsed).
    pub record: Value,
}

/// What `GET /api/v1/audit` may filter on.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    /// Only this user's records.
    pub actor: Option<u64>,
    /// Only this organisation's.
    pub org: Option<u64>,
    /// Only this action.
    pub action: Option<String>,
    /// From (inclusive).
    pub from: Option<Timestamp>,
    /// To (exclusive).
    pub to: Option<Timestamp>,
    /// Records before this sequence number (the next page).
    pub before: Option<u64>,
    /// At most this many (capped at [`AuditFilter::MAX_LIMIT`]).
    pub limit: Option<usize>,
}

impl AuditFilter {
    /// The largest page.
    pub const MAX_LIMIT: usize = 1000;
}

fn unhex(text: &str) -> Option<Hash> {
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

impl State {
    /// Appends `entries` to their chains (in the order given within each chain) in one
    /// transaction, retried from the new heads when another writer got there first.
    /// Returns what was written for each entry, in order.
    pub async fn append_audit(&self, entries: &[AuditEntry]) -> Result<Vec<Appended>, StateError> {
        let mut attempt = 0;
        loop {
            match self.try_append_audit(entries).await {
                Ok(seqs) => return Ok(seqs),
                Err(e) if attempt < 8 && is_conflict(&e) => attempt += 1,
                Err(e) => return Err(e),
            }
        }
    }

    async fn try_append_audit(&self, entries: &[AuditEntry]) -> Result<Vec<Appended>, StateError> {
        let mut tx = self
            .begin_write()
            .await
            .map_err(StateError::sql("begin an audit append"))?;
        let mut heads: HashMap<&str, (u64, Hash)> = HashMap::new();
        let mut seqs = Vec::with_capacity(entries.len());
        for entry in entries {
            if !heads.contains_key(entry.chain.as_str()) {
                let row = sqlx::query(
                    "SELECT seq, hash FROM audit WHERE chain = $1 ORDER BY seq DESC LIMIT 1",
                )
                .bind(&entry.chain)
                .fetch_optional(&mut *tx)
                .await
                .map_err(StateError::sql("read an audit chain's head"))?;
                let head = match row {
                    Some(r) => {
                        let hash: String = r.get(1);
                        (
                            r.get::<i64, _>(0) as u64,
                            unhex(&hash)
                                .ok_or_else(|| StateError::Corrupt("audit chain hash".into()))?,
                        )
                    }
                    None => (0, GENESIS),
                };
                heads.insert(&entry.chain, head);
            }
            let (seq, previous) = heads[entry.chain.as_str()];
            let stored = append(&previous, seq + 1, &entry.record)
                .map_err(|e| StateError::Invalid(e.to_string()))?;
            let text = String::from_utf8(stored.canonical)
                .map_err(|_| StateError::Invalid("audit record is not UTF-8".into()))?;
            sqlx::query(
                "INSERT INTO audit (chain, seq, time, actor, org, action, record, leaf, hash) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(&entry.chain)
            .bind(stored.seq as i64)
            .bind(entry.time.as_nanos())
            .bind(entry.record.who.user.map(|u| u as i64))
            .bind(entry.record.who.org.map(|o| o as i64))
            .bind(&entry.record.action)
            .bind(text)
            .bind(hex(&stored.leaf))
            .bind(hex(&stored.chain))
            .execute(&mut *tx)
            .await
            .map_err(StateError::sql("append an audit record"))?;
            heads.insert(&entry.chain, (stored.seq, stored.chain));
            seqs.push(Appended {
                seq: stored.seq,
                leaf: stored.leaf,
                head: stored.chain,
            });
        }
        tx.commit()
            .await
            .map_err(StateError::sql("commit audit records"))?;
        Ok(seqs)
    }

    /// Every chain and its length.
    pub async fn audit_chains(&self) -> Result<Vec<(String, u64)>, StateError> {
        let rows = sqlx::query("SELECT chain, MAX(seq) FROM audit GROUP BY chain ORDER BY chain")
            .fetch_all(&self.pool)
            .await
            .map_err(StateError::sql("list audit chains"))?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), r.get::<i64, _>(1) as u64))
            .collect())
    }

    /// Up to `limit` rows of `chain` after sequence number `after`, as stored (for the
    /// verifier: nothing is checked here).
    pub async fn audit_stored(
        &self,
        chain: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Stored>, StateError> {
        let rows = sqlx::query(
            "SELECT seq, record, leaf, hash FROM audit WHERE chain = $1 AND seq > $2 \
             ORDER BY seq LIMIT $3",
        )
        .bind(chain)
        .bind(after as i64)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(StateError::sql("read an audit chain"))?;
        // A hash that is not 64 hex digits is kept as zeros: the verifier then reports the
        // record as edited rather than this read failing.
        Ok(rows
            .iter()
            .map(|r| {
                let record: String = r.get(1);
                let leaf: String = r.get(2);
                let hash: String = r.get(3);
                Stored {
                    seq: r.get::<i64, _>(0) as u64,
                    canonical: record.into_bytes(),
                    leaf: unhex(&leaf).unwrap_or([0; 32]),
                    chain: unhex(&hash).unwrap_or([0; 32]),
                }
            })
            .collect())
    }

    /// Records of `chain` matching `filter`, newest first.
    pub async fn audit_rows(
        &self,
        chain: &str,
        filter: &AuditFilter,
    ) -> Result<Vec<AuditRow>, StateError> {
        let limit = filter.limit.unwrap_or(100).clamp(1, AuditFilter::MAX_LIMIT);
        let mut sql = String::from("SELECT seq, record FROM audit WHERE chain = $1");
        let mut n = 1;
        let mut clause = |sql: &mut String, text: &str| {
            n += 1;
            sql.push_str(&text.replace('?', &format!("${n}")));
        };
        if filter.actor.is_some() {
            clause(&mut sql, " AND actor = ?");
        }
        if filter.org.is_some() {
            clause(&mut sql, " AND org = ?");
        }
        if filter.action.is_some() {
            clause(&mut sql, " AND action = ?");
        }
        if filter.from.is_some() {
            clause(&mut sql, " AND time >= ?");
        }
        if filter.to.is_some() {
            clause(&mut sql, " AND time < ?");
        }
        if filter.before.is_some() {
            clause(&mut sql, " AND seq < ?");
        }
        clause(&mut sql, " ORDER BY seq DESC LIMIT ?");
        // Built from the constant fragments above; every value is bound.
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(chain);
        if let Some(actor) = filter.actor {
            query = query.bind(actor as i64);
        }
        if let Some(org) = filter.org {
            query = query.bind(org as i64);
        }
        if let Some(action) = &filter.action {
            query = query.bind(action.as_str());
        }
        if let Some(from) = filter.from {
            query = query.bind(from.as_nanos());
        }
        if let Some(to) = filter.to {
            query = query.bind(to.as_nanos());
        }
        if let Some(before) = filter.before {
            query = query.bind(before as i64);
        }
        let rows = query
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await
            .map_err(StateError::sql("search the audit trail"))?;
        rows.iter()
            .map(|r| {
                let text: String = r.get(1);
                Ok(AuditRow {
                    chain: chain.to_owned(),
                    seq: r.get::<i64, _>(0) as u64,
                    record: serde_json::from_str(&text)
                        .map_err(|_| StateError::Corrupt("audit record JSON".into()))?,
                })
            })
            .collect()
    }

    /// Keeps a signed checkpoint of `chain` at `size` records.
    pub async fn insert_checkpoint(
        &self,
        chain: &str,
        size: u64,
        note: &str,
    ) -> Result<(), StateError> {
        sqlx::query(
            "INSERT INTO checkpoints (chain, size, note, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (chain, size) DO NOTHING",
        )
        .bind(chain)
        .bind(size as i64)
        .bind(note)
        .bind(Timestamp::now().as_nanos())
        .execute(&self.pool)
        .await
        .map_err(StateError::sql("keep a checkpoint"))?;
        Ok(())
    }

    /// The checkpoints of every chain, as their signed notes, oldest first.
    pub async fn checkpoints(&self) -> Result<Vec<(String, u64, String)>, StateError> {
        let rows = sqlx::query("SELECT chain, size, note FROM checkpoints ORDER BY chain, size")
            .fetch_all(&self.pool)
            .await
            .map_err(StateError::sql("read checkpoints"))?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), r.get::<i64, _>(1) as u64, r.get(2)))
            .collect())
    }
}

/// Whether `error` is a unique-key collision (another writer appended first) or SQLite's
/// busy answer to a lock upgrade: both are retried from the new head.
fn is_conflict(error: &StateError) -> bool {
    match error {
        StateError::Sql {
            source: sqlx::Error::Database(db),
            ..
        } => {
            matches!(db.kind(), sqlx::error::ErrorKind::UniqueViolation)
                || matches!(db.code().as_deref(), Some("5" | "517" | "40001"))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn hashes_round_trip_through_hex() {
        let hash: [u8; 32] = core::array::from_fn(|i| (i * 7) as u8);
        assert_eq!(super::unhex(&crate::tokens::hex(&hash)), Some(hash));
        assert_eq!(super::unhex("00"), None);
        assert_eq!(super::unhex(&"zz".repeat(32)), None);
    }
}
