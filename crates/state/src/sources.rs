//! The source inventory: what each (source, host) of a tenant sent, hour by hour, and its
//! `source_silent` alert (raised and closed by the platform, `vigie_govern::silence`
//! deciding when).

use std::collections::HashMap;

use sqlx::Row;
use vigie_event::time::Timestamp;
use vigie_event::{EventIdGenerator, TenantId};

use crate::{State, StateError};

/// Sources (source, host) a tenant's inventory holds at most; events of further hosts
/// are counted under the host [`OTHER`] of their source, so that random host names cannot
/// grow the inventory without bound.
pub const MAX_SOURCES: i64 = 10_000;

/// The host that stands for the hosts past [`MAX_SOURCES`].
pub const OTHER: &str = "(other hosts)";

/// Hours of counts read for a source (the last 7 days): what a threshold is learnt from.
pub const HOURS: i64 = 7 * 24;

/// Hours of counts kept (30 days).
pub const KEEP_HOURS: i64 = 30 * 24;

const HOUR: i64 = 3_600_000_000_000;

/// Sources per upsert statement.
const ROWS: usize = 50;

/// `n` placeholders from the `from`th.
fn numbered(backend: crate::Backend, from: usize, n: usize) -> String {
    (0..n)
        .map(|i| backend.placeholder(from + i))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What the pipeline saw of one (source, host) of a tenant in one hour.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    /// The tenant.
    pub tenant: TenantId,
    /// The source's name (listener, file, `?source=`).
    pub source: String,
    /// The host ("" when the events named none).
    pub host: String,
    /// Events.
    pub events: u64,
    /// First and last receive time (nanoseconds), within one hour.
    pub first: i64,
    /// See `first`.
    pub last: i64,
}

/// A source of the inventory.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SourceRow {
    /// Its tenant.
    #[serde(skip)]
    pub tenant: String,
    /// The source's name.
    pub source: String,
    /// The host.
    pub host: String,
    /// When first heard (nanoseconds).
    pub first_seen: i64,
    /// When last heard.
    pub last_seen: i64,
    /// Events in all.
    pub events: u64,
    /// Who answers for it.
    pub owner: Option<String>,
    /// The threshold set, in seconds (else it is learnt).
    pub threshold_s: Option<u64>,
    /// Its open `source_silent` alert.
    pub silent_alert: Option<String>,
    /// Events per hour over the last [`HOURS`] hours, oldest first, the current hour last.
    pub hours: Vec<u64>,
}

impl State {
    /// Adds what the pipeline saw to the inventory, in one transaction: multi-row
    /// upserts; a source's host is looked up one by one only when its tenant is near
    /// [`MAX_SOURCES`].
    pub async fn record_sources(&self, seen: &[Seen]) -> Result<(), StateError> {
        if seen.is_empty() {
            return Ok(());
        }
        let mut tx = self
            .begin_write()
            .await
            .map_err(StateError::sql("begin recording sources"))?;
        let mut per_tenant: HashMap<&str, i64> = HashMap::new();
        for s in seen {
            *per_tenant.entry(s.tenant.as_str()).or_default() += 1;
        }
        // Tenants near the bound: (count now, whether each key is known is asked).
        let mut near: HashMap<&str, i64> = HashMap::new();
        for (tenant, entries) in &per_tenant {
            let n: i64 = sqlx::query("SELECT COUNT(*) FROM sources WHERE tenant = $1")
                .bind(*tenant)
                .fetch_one(&mut *tx)
                .await
                .map_err(StateError::sql("count sources"))?
                .get(0);
            if n + entries > MAX_SOURCES {
                near.insert(tenant, n);
            }
        }
        let mut rows: Vec<(&Seen, &str)> = Vec::with_capacity(seen.len());
        for s in seen {
            let tenant = s.tenant.as_str();
            let host = match near.get_mut(tenant) {
                None => s.host.as_str(),
                Some(size) => {
                    let known: i64 = sqlx::query(
                        "SELECT COUNT(*) FROM sources WHERE tenant = $1 AND source = $2 \
                         AND host = $3",
                    )
                    .bind(tenant)
                    .bind(&s.source)
                    .bind(&s.host)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(StateError::sql("look up a source"))?
                    .get(0);
                    if known > 0 {
                        s.host.as_str()
                    } else if *size < MAX_SOURCES {
                        *size += 1;
                        s.host.as_str()
                    } else {
                        OTHER
                    }
                }
            };
            rows.push((s, host));
        }
        // One row per key in a statement (PostgreSQL refuses to update a row twice in one
        // upsert): the same host in two hours, or several hosts past the bound.
        let mut totals: HashMap<(&str, &str, &str), (i64, i64, i64)> = HashMap::new();
        let mut hourly: HashMap<(&str, &str, &str, i64), i64> = HashMap::new();
        for (s, host) in &rows {
            let events = i64::try_from(s.events).unwrap_or(i64::MAX);
            let t = totals
                .entry((s.tenant.as_str(), s.source.as_str(), host))
                .or_insert((s.first, s.last, 0));
            t.0 = t.0.min(s.first);
            t.1 = t.1.max(s.last);
            t.2 = t.2.saturating_add(events);
            let h = hourly
                .entry((
                    s.tenant.as_str(),
                    s.source.as_str(),
                    host,
                    s.last.div_euclid(HOUR),
                ))
                .or_default();
            *h = h.saturating_add(events);
        }
        let totals: Vec<_> = totals.into_iter().collect();
        for chunk in totals.chunks(ROWS) {
            let mut sql = String::from(
                "INSERT INTO sources (tenant, source, host, first_seen, last_seen, events) VALUES ",
            );
            for i in 0..chunk.len() {
                sql.push_str(if i == 0 { "(" } else { ", (" });
                sql.push_str(&numbered(self.backend, i * 6 + 1, 6));
                sql.push(')');
            }
            sql.push_str(
                " ON CONFLICT (tenant, source, host) DO UPDATE SET \
                 first_seen = CASE WHEN sources.first_seen > excluded.first_seen \
                     THEN excluded.first_seen ELSE sources.first_seen END, \
                 last_seen = CASE WHEN sources.last_seen < excluded.last_seen \
                     THEN excluded.last_seen ELSE sources.last_seen END, \
                 events = sources.events + excluded.events",
            );
            // Built from constants and placeholders only; every value is bound.
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for ((tenant, source, host), (first, last, events)) in chunk {
                q = q
                    .bind(*tenant)
                    .bind(*source)
                    .bind(*host)
                    .bind(*first)
                    .bind(*last)
                    .bind(*events);
            }
            q.execute(&mut *tx)
                .await
                .map_err(StateError::sql("record sources"))?;
        }
        let hourly: Vec<_> = hourly.into_iter().collect();
        for chunk in hourly.chunks(ROWS) {
            let mut sql = String::from(
                "INSERT INTO source_hours (tenant, source, host, hour, events) VALUES ",
            );
            for i in 0..chunk.len() {
                sql.push_str(if i == 0 { "(" } else { ", (" });
                sql.push_str(&numbered(self.backend, i * 5 + 1, 5));
                sql.push(')');
            }
            sql.push_str(
                " ON CONFLICT (tenant, source, host, hour) DO UPDATE \
                 SET events = source_hours.events + excluded.events",
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for ((tenant, source, host, hour), events) in chunk {
                q = q
                    .bind(*tenant)
                    .bind(*source)
                    .bind(*host)
                    .bind(*hour)
                    .bind(*events);
            }
            q.execute(&mut *tx)
                .await
                .map_err(StateError::sql("record sources' hours"))?;
        }
        tx.commit().await.map_err(StateError::sql("commit sources"))
    }

    async fn source_rows(
        &self,
        tenant: Option<&TenantId>,
        now: Timestamp,
    ) -> Result<Vec<SourceRow>, StateError> {
        let base = "SELECT tenant, source, host, first_seen, last_seen, events, owner, \
                    threshold_s, silent_alert FROM sources";
        let rows = match tenant {
            Some(t) => {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "{base} WHERE tenant = $1 ORDER BY source, host"
                )))
                .bind(t.as_str())
                .fetch_all(&self.pool)
                .await
            }
            None => {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "{base} ORDER BY tenant, source, host"
                )))
                .fetch_all(&self.pool)
                .await
            }
        }
        .map_err(StateError::sql("list sources"))?;
        let current = now.as_nanos().div_euclid(HOUR);
        let since = current - HOURS + 1;
        let hour_rows =
            match tenant {
                Some(t) => {
                    sqlx::query(
                        "SELECT tenant, source, host, hour, events FROM source_hours \
                 WHERE tenant = $1 AND hour >= $2",
                    )
                    .bind(t.as_str())
                    .bind(since)
                    .fetch_all(&self.pool)
                    .await
                }
                None => sqlx::query(
                    "SELECT tenant, source, host, hour, events FROM source_hours WHERE hour >= $1",
                )
                .bind(since)
                .fetch_all(&self.pool)
                .await,
            }
            .map_err(StateError::sql("read sources' hours"))?;
        let mut hours: HashMap<(String, String, String), Vec<u64>> = HashMap::new();
        for r in &hour_rows {
            let hour: i64 = r.get(3);
            let Ok(slot) = usize::try_from(hour - since) else {
                continue;
            };
            if slot >= HOURS as usize {
                continue;
            }
            let v = hours
                .entry((r.get(0), r.get(1), r.get(2)))
                .or_insert_with(|| vec![0; HOURS as usize]);
            v[slot] += u64::try_from(r.get::<i64, _>(4)).unwrap_or(0);
        }
        Ok(rows
            .iter()
            .map(|r| {
                let key: (String, String, String) = (r.get(0), r.get(1), r.get(2));
                SourceRow {
                    hours: hours
                        .remove(&key)
                        .unwrap_or_else(|| vec![0; HOURS as usize]),
                    tenant: key.0,
                    source: key.1,
                    host: key.2,
                    first_seen: r.get(3),
                    last_seen: r.get(4),
                    events: u64::try_from(r.get::<i64, _>(5)).unwrap_or(0),
                    owner: r.get(6),
                    threshold_s: r.get::<Option<i64>, _>(7).map(|t| t.max(0) as u64),
                    silent_alert: r.get(8),
                }
            })
            .collect())
    }

    /// `tenant`'s inventory.
    pub async fn sources(
        &self,
        tenant: &TenantId,
        now: Timestamp,
    ) -> Result<Vec<SourceRow>, StateError> {
        self.source_rows(Some(tenant), now).await
    }

    /// Every tenant's inventory (the silence check's input), and the hours older than
    /// [`KEEP_HOURS`] pruned.
    pub async fn all_sources(&self, now: Timestamp) -> Result<Vec<SourceRow>, StateError> {
        sqlx::query("DELETE FROM source_hours WHERE hour < $1")
            .bind(now.as_nanos().div_euclid(HOUR) - KEEP_HOURS)
            .execute(&self.pool)
            .await
            .map_err(StateError::sql("prune sources' hours"))?;
        self.source_rows(None, now).await
    }

    /// Sets a source's owner and threshold (`None`: learnt); `false` when there is no
    /// such source.
    pub async fn set_source(
        &self,
        tenant: &TenantId,
        source: &str,
        host: &str,
        owner: Option<&str>,
        threshold_s: Option<u64>,
    ) -> Result<bool, StateError> {
        let done = sqlx::query(
            "UPDATE sources SET owner = $1, threshold_s = $2 \
             WHERE tenant = $3 AND source = $4 AND host = $5",
        )
        .bind(owner)
        .bind(threshold_s.map(|t| i64::try_from(t).unwrap_or(i64::MAX)))
        .bind(tenant.as_str())
        .bind(source)
        .bind(host)
        .execute(&self.pool)
        .await
        .map_err(StateError::sql("set a source"))?;
        Ok(done.rows_affected() == 1)
    }

    /// Raises the `source_silent` alert of a source (an alert of its own kind, in L1's
    /// queue; its "event" id is minted now) and notes it on the source, in one
    /// transaction; gives the alert's id.
    pub async fn raise_silent(
        &self,
        s: &SourceRow,
        threshold_s: u64,
        now: Timestamp,
    ) -> Result<String, StateError> {
        let mut ids = EventIdGenerator::new();
        let id = ids.next_at(now).to_string();
        let event = ids.next_at(now).to_string();
        let title = if s.host.is_empty() {
            format!("Source silent: {}", s.source)
        } else {
            format!("Source silent: {} on {}", s.source, s.host)
        };
        let matched = serde_json::json!({
            "source": s.source, "host": s.host,
            "last_seen": Timestamp::from_nanos(s.last_seen).to_rfc3339(vigie_event::UtcOffset::UTC),
            "threshold_s": threshold_s,
        });
        let mut tx = self
            .begin_write()
            .await
            .map_err(StateError::sql("begin raising a silence"))?;
        sqlx::query(
            "INSERT INTO alerts (id, tenant, kind, rule_id, rule_title, level, tags, status, \
             event_id, event_time, host, matched, created_at, priority) \
             VALUES ($1, $2, 'source_silent', 'source_silent', $3, 'high', '[]', 'new', $4, $5, \
             $6, $7, $8, $9)",
        )
        .bind(&id)
        .bind(&s.tenant)
        .bind(&title)
        .bind(&event)
        .bind(now.as_nanos())
        .bind((!s.host.is_empty()).then_some(s.host.as_str()))
        .bind(matched.to_string())
        .bind(now.as_nanos())
        .bind(i64::from(vigie_govern::priority::priority(
            "high",
            Default::default(),
            None,
        )))
        .execute(&mut *tx)
        .await
        .map_err(StateError::sql("raise a silence alert"))?;
        sqlx::query(
            "UPDATE sources SET silent_alert = $1 WHERE tenant = $2 AND source = $3 AND host = $4",
        )
        .bind(&id)
        .bind(&s.tenant)
        .bind(&s.source)
        .bind(&s.host)
        .execute(&mut *tx)
        .await
        .map_err(StateError::sql("note a silence"))?;
        tx.commit()
            .await
            .map_err(StateError::sql("commit a silence"))?;
        Ok(id)
    }

    /// The source is heard again: its `source_silent` alert, if still open, is closed by
    /// the platform (a history row `source-returned`, no actor, no qualification: nobody
    /// had to decide), and the source forgets it.
    pub async fn clear_silent(&self, s: &SourceRow, now: Timestamp) -> Result<(), StateError> {
        let Some(alert) = &s.silent_alert else {
            return Ok(());
        };
        let mut tx = self
            .begin_write()
            .await
            .map_err(StateError::sql("begin clearing a silence"))?;
        let row = sqlx::query("SELECT status, queue FROM alerts WHERE id = $1 AND tenant = $2")
            .bind(alert)
            .bind(&s.tenant)
            .fetch_optional(&mut *tx)
            .await
            .map_err(StateError::sql("read a silence alert"))?;
        if let Some(row) = row {
            let status: String = row.get(0);
            let queue: String = row.get(1);
            if status != "closed" && status != "linked" {
                sqlx::query("UPDATE alerts SET status = 'closed' WHERE id = $1")
                    .bind(alert)
                    .execute(&mut *tx)
                    .await
                    .map_err(StateError::sql("close a silence alert"))?;
                let seq: i64 = sqlx::query(
                    "SELECT COALESCE(MAX(seq), 0) + 1 FROM alert_history WHERE alert = $1",
                )
                .bind(alert)
                .fetch_one(&mut *tx)
                .await
                .map_err(StateError::sql("number a history row"))?
                .get(0);
                sqlx::query(
                    "INSERT INTO alert_history (alert, seq, at, actor, action, from_status, \
                     to_status, queue, qualification, note) \
                     VALUES ($1, $2, $3, NULL, 'source-returned', $4, 'closed', $5, NULL, $6)",
                )
                .bind(alert)
                .bind(seq)
                .bind(now.as_nanos())
                .bind(&status)
                .bind(&queue)
                .bind(format!(
                    "events arrived again at {}",
                    Timestamp::from_nanos(s.last_seen).to_rfc3339(vigie_event::UtcOffset::UTC)
                ))
                .execute(&mut *tx)
                .await
                .map_err(StateError::sql("write a history row"))?;
            }
        }
        sqlx::query(
            "UPDATE sources SET silent_alert = NULL WHERE tenant = $1 AND source = $2 AND host = $3",
        )
        .bind(&s.tenant)
        .bind(&s.source)
        .bind(&s.host)
        .execute(&mut *tx)
        .await
        .map_err(StateError::sql("forget a silence"))?;
        tx.commit()
            .await
            .map_err(StateError::sql("commit clearing a silence"))
    }
}
