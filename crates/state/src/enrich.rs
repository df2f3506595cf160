//! What an alert gets as it is written (issue 27): its priority (`vigie_govern::priority`,
//! from the rule's recent qualifications and the host's criticality) and its group
//! (`vigie_govern::grouping`). Both are read in a few statements per batch, never per
//! alert, so that the pipeline's commit stays cheap (measured by `vigie bench ingest`).
//!
//! Decisions: a group is created only when an alert of it is actually inserted (a
//! replayed batch, all conflicts, creates nothing); two writers racing on the same new key
//! may create two groups, which only splits a group, never loses an alert.

use std::collections::{BTreeSet, HashMap};

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};
use vigie_event::time::Timestamp;
use vigie_event::{EventIdGenerator, TenantId};
use vigie_govern::grouping::{self, Entity, GroupSpan, Grouping};
use vigie_govern::priority::{Criticality, RuleRecord, priority};

use crate::alerts::{AlertStatus, INSERT_ROWS, NewAlert, insert_sql};
use crate::{Backend, State, StateError};

/// Values per `IN (…)` list.
const IN_CHUNK: usize = 500;

/// One day in nanoseconds (the unit of `rule_quality.day`).
pub(crate) const DAY: i64 = 86_400_000_000_000;

/// The window of a rule's false-positive rate.
pub(crate) const QUALITY_DAYS: i64 = 30;

/// A group as the batch sees it.
#[derive(Debug)]
pub(crate) struct Group {
    pub(crate) id: String,
    tenant: TenantId,
    key: String,
    entity: Entity,
    value: String,
    /// Its span with this batch's alerts that chose it.
    span: GroupSpan,
    rule: usize,
    /// What this batch's inserted alerts add.
    added: i64,
    first: i64,
    last: i64,
    priority: u8,
}

/// Each alert's group (an index into `groups`) and priority.
#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) groups: Vec<Group>,
    pub(crate) of_alert: Vec<(usize, u8)>,
}

/// The value of `entity` in `alert` (empty when it has none).
fn value_of(alert: &NewAlert, entity: Entity) -> String {
    let v = match entity {
        Entity::Host => alert.host.as_deref(),
        Entity::User => alert.user.as_deref(),
        Entity::Source => alert.source.as_deref(),
    };
    v.unwrap_or("").to_owned()
}

/// The names a host is listed under: its name in lower case, and its first label (a list
/// names `dc01`, events say `DC01.corp.example`).
pub(crate) fn host_names(host: &str) -> (String, Option<String>) {
    let full = host.trim().to_lowercase();
    let short = full
        .split_once('.')
        .map(|(s, _)| s.to_owned())
        .filter(|s| !s.is_empty() && full.parse::<std::net::IpAddr>().is_err());
    (full, short)
}

fn placeholders(backend: Backend, from: usize, n: usize) -> String {
    (0..n)
        .map(|i| backend.placeholder(from + i))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn grouping_of(
    tx: &mut Transaction<'_, Any>,
    tenant: &TenantId,
) -> Result<Grouping, StateError> {
    let text: Option<String> = sqlx::query("SELECT grouping FROM tenants WHERE id = $1")
        .bind(tenant.as_str())
        .fetch_optional(&mut **tx)
        .await
        .map_err(StateError::sql("read a tenant's grouping"))?
        .map(|r| r.get(0));
    // A tenant not (yet) in the table, or settings from a newer binary: the defaults.
    Ok(text
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default())
}

async fn records_of(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    tenant: &TenantId,
    rules: &BTreeSet<&str>,
    now: Timestamp,
) -> Result<HashMap<String, RuleRecord>, StateError> {
    let since = now.as_nanos().div_euclid(DAY) - QUALITY_DAYS;
    let mut records: HashMap<String, RuleRecord> = HashMap::new();
    let rules: Vec<&str> = rules.iter().copied().collect();
    for chunk in rules.chunks(IN_CHUNK) {
        let sql = format!(
            "SELECT rule_id, qualified, false_positives FROM rule_quality \
             WHERE tenant = {} AND day >= {} AND rule_id IN ({})",
            backend.placeholder(1),
            backend.placeholder(2),
            placeholders(backend, 3, chunk.len())
        );
        // Built from placeholders only; every value is bound.
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.as_str())
            .bind(since);
        for r in chunk {
            q = q.bind(*r);
        }
        for row in q
            .fetch_all(&mut **tx)
            .await
            .map_err(StateError::sql("read rules' qualifications"))?
        {
            let r = records.entry(row.get(0)).or_default();
            r.qualified += u64::try_from(row.get::<i64, _>(1)).unwrap_or(0);
            r.false_positives += u64::try_from(row.get::<i64, _>(2)).unwrap_or(0);
        }
    }
    Ok(records)
}

async fn criticality_of(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    tenant: &TenantId,
    hosts: &BTreeSet<String>,
) -> Result<HashMap<String, Criticality>, StateError> {
    let mut found = HashMap::new();
    let hosts: Vec<&String> = hosts.iter().collect();
    for chunk in hosts.chunks(IN_CHUNK) {
        let sql = format!(
            "SELECT host, criticality FROM assets WHERE tenant = {} AND host IN ({})",
            backend.placeholder(1),
            placeholders(backend, 2, chunk.len())
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant.as_str());
        for h in chunk {
            q = q.bind(h.as_str());
        }
        for row in q
            .fetch_all(&mut **tx)
            .await
            .map_err(StateError::sql("read assets"))?
        {
            let text: String = row.get(1);
            if let Ok(c) = text.parse() {
                found.insert(row.get::<String, _>(0), c);
            }
        }
    }
    Ok(found)
}

fn span_of(row: &AnyRow) -> GroupSpan {
    GroupSpan {
        first: row.get(2),
        last: row.get(3),
        open: row.get::<i64, _>(4) > 0,
    }
}

/// The latest stored group of each key.
async fn latest_groups(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    tenant: &TenantId,
    keys: &BTreeSet<String>,
) -> Result<HashMap<String, (String, GroupSpan)>, StateError> {
    let mut latest: HashMap<String, (String, GroupSpan)> = HashMap::new();
    let keys: Vec<&String> = keys.iter().collect();
    for chunk in keys.chunks(IN_CHUNK) {
        let sql = format!(
            "SELECT id, key, first_at, last_at, open_count FROM alert_groups \
             WHERE tenant = {} AND key IN ({})",
            backend.placeholder(1),
            placeholders(backend, 2, chunk.len())
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant.as_str());
        for k in chunk {
            q = q.bind(k.as_str());
        }
        for row in q
            .fetch_all(&mut **tx)
            .await
            .map_err(StateError::sql("read alert groups"))?
        {
            let span = span_of(&row);
            let key: String = row.get(1);
            let newer = latest.get(&key).is_none_or(|(_, s)| s.last < span.last);
            if newer {
                latest.insert(key, (row.get(0), span));
            }
        }
    }
    Ok(latest)
}

/// Decides each alert's group and priority, reading what it needs inside `tx`.
pub(crate) async fn plan(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    alerts: &[NewAlert],
    ids: &mut EventIdGenerator,
    now: Timestamp,
) -> Result<Plan, StateError> {
    let mut by_tenant: HashMap<&TenantId, Vec<usize>> = HashMap::new();
    for (i, a) in alerts.iter().enumerate() {
        by_tenant.entry(&a.tenant).or_default().push(i);
    }
    let mut of_alert = vec![(0, 0); alerts.len()];
    let mut groups: Vec<Group> = Vec::new();
    for (tenant, members) in by_tenant {
        let settings = grouping_of(tx, tenant).await?;
        let rules: BTreeSet<&str> = members
            .iter()
            .map(|&i| alerts[i].rule_id.as_str())
            .collect();
        let records = records_of(tx, backend, tenant, &rules, now).await?;
        let mut hosts = BTreeSet::new();
        for &i in &members {
            if let Some(h) = alerts[i].host.as_deref() {
                let (full, short) = host_names(h);
                hosts.insert(full);
                hosts.extend(short);
            }
        }
        let assets = if hosts.is_empty() {
            HashMap::new()
        } else {
            criticality_of(tx, backend, tenant, &hosts).await?
        };
        let keyed: Vec<(usize, Entity, String, String)> = members
            .iter()
            .map(|&i| {
                let a = &alerts[i];
                let entity = settings.entity_of(&a.rule_id);
                let value = value_of(a, entity);
                let key = grouping::key(&a.rule_id, entity, &value);
                (i, entity, value, key)
            })
            .collect();
        let keys: BTreeSet<String> = keyed.iter().map(|(_, _, _, k)| k.clone()).collect();
        let stored = latest_groups(tx, backend, tenant, &keys).await?;
        // The group each key's next alert is measured against: the stored one, then the
        // latest one this batch made.
        let mut current: HashMap<String, usize> = HashMap::new();
        let mut crit_of: HashMap<&str, Option<Criticality>> = HashMap::new();
        for (i, entity, value, key) in keyed {
            let a = &alerts[i];
            // Once per distinct host of the batch, and not at all for a tenant with no list.
            let crit = match a.host.as_deref() {
                Some(h) if !assets.is_empty() => *crit_of.entry(h).or_insert_with(|| {
                    let (full, short) = host_names(h);
                    assets
                        .get(&full)
                        .or_else(|| short.and_then(|s| assets.get(&s)))
                        .copied()
                }),
                _ => None,
            };
            let prio = priority(
                &a.level,
                records.get(&a.rule_id).copied().unwrap_or_default(),
                crit,
            );
            let time = a.event_time.as_nanos();
            let candidate = match current.get(&key) {
                Some(&g) => Some(g),
                None => stored.get(&key).map(|(id, span)| {
                    groups.push(Group {
                        id: id.clone(),
                        tenant: a.tenant.clone(),
                        key: key.clone(),
                        entity,
                        value: value.clone(),
                        span: *span,
                        rule: i,
                        added: 0,
                        first: i64::MAX,
                        last: i64::MIN,
                        priority: 0,
                    });
                    current.insert(key.clone(), groups.len() - 1);
                    groups.len() - 1
                }),
            };
            let g = match candidate {
                Some(g) if grouping::joins(&settings, groups[g].span, time) => g,
                _ => {
                    groups.push(Group {
                        id: ids.next_at(now).to_string(),
                        tenant: a.tenant.clone(),
                        key: key.clone(),
                        entity,
                        value,
                        span: GroupSpan {
                            first: time,
                            last: time,
                            open: true,
                        },
                        rule: i,
                        added: 0,
                        first: i64::MAX,
                        last: i64::MIN,
                        priority: 0,
                    });
                    current.insert(key, groups.len() - 1);
                    groups.len() - 1
                }
            };
            let span = &mut groups[g].span;
            span.first = span.first.min(time);
            span.last = span.last.max(time);
            span.open = true;
            of_alert[i] = (g, prio);
        }
    }
    Ok(Plan { groups, of_alert })
}

impl Plan {
    /// Counts alert `i` as inserted.
    pub(crate) fn inserted(&mut self, i: usize, alerts: &[NewAlert]) {
        let (g, prio) = self.of_alert[i];
        let time = alerts[i].event_time.as_nanos();
        let group = &mut self.groups[g];
        group.added += 1;
        group.first = group.first.min(time);
        group.last = group.last.max(time);
        group.priority = group.priority.max(prio);
    }

    /// Writes the groups the inserted alerts made or grew.
    pub(crate) async fn record(
        &self,
        tx: &mut Transaction<'_, Any>,
        backend: Backend,
        alerts: &[NewAlert],
        now: Timestamp,
    ) -> Result<(), StateError> {
        // New and grown groups alike, in multi-row upserts: a grown group's row conflicts
        // on its id and adds to its counts (one statement per 50 groups, where one per
        // group cost a tenth of the pipeline's time with 2,400 rules).
        let touched: Vec<&Group> = self.groups.iter().filter(|g| g.added > 0).collect();
        for chunk in touched.chunks(GROUP_ROWS) {
            let mut sql = String::from(
                "INSERT INTO alert_groups (id, tenant, key, rule_id, rule_title, level, entity, \
                 entity_value, first_at, last_at, count, open_count, priority, created_at) VALUES ",
            );
            for row in 0..chunk.len() {
                sql.push_str(if row == 0 { "(" } else { ", (" });
                sql.push_str(&placeholders(
                    backend,
                    row * GROUP_COLUMNS + 1,
                    GROUP_COLUMNS,
                ));
                sql.push(')');
            }
            sql.push_str(
                " ON CONFLICT (id) DO UPDATE SET \
                 count = alert_groups.count + excluded.count, \
                 open_count = alert_groups.open_count + excluded.open_count, \
                 first_at = CASE WHEN alert_groups.first_at > excluded.first_at \
                     THEN excluded.first_at ELSE alert_groups.first_at END, \
                 last_at = CASE WHEN alert_groups.last_at < excluded.last_at \
                     THEN excluded.last_at ELSE alert_groups.last_at END, \
                 priority = CASE WHEN alert_groups.priority < excluded.priority \
                     THEN excluded.priority ELSE alert_groups.priority END",
            );
            // Built from constants and placeholders only; every value is bound.
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for g in chunk {
                let a = &alerts[g.rule];
                q = q
                    .bind(&g.id)
                    .bind(g.tenant.as_str())
                    .bind(&g.key)
                    .bind(&a.rule_id)
                    .bind(&a.rule_title)
                    .bind(&a.level)
                    .bind(g.entity.as_str())
                    .bind(&g.value)
                    .bind(g.first)
                    .bind(g.last)
                    .bind(g.added)
                    .bind(g.added)
                    .bind(i64::from(g.priority))
                    .bind(now.as_nanos());
            }
            q.execute(&mut **tx)
                .await
                .map_err(StateError::sql("record alert groups"))?;
        }
        Ok(())
    }
}

/// Outbox rows per statement.
const NOTIFY_ROWS: usize = 100;

/// Writes the outbox rows of the new alerts `fresh` (id, index in `alerts`) that some
/// notification rule of their tenant asks for: one indexed question per tenant of the
/// batch, and nothing more for a tenant without alert rules.
async fn notify_new(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    alerts: &[NewAlert],
    plan: &Plan,
    fresh: &[(String, usize)],
    now: Timestamp,
) -> Result<(), StateError> {
    let mut floors: HashMap<&TenantId, Option<u8>> = HashMap::new();
    let mut rows = Vec::new();
    for (id, i) in fresh {
        let a = &alerts[*i];
        let floor = match floors.get(&a.tenant) {
            Some(f) => *f,
            None => {
                let f = crate::notify::alert_floor(tx, &a.tenant).await?;
                floors.insert(&a.tenant, f);
                f
            }
        };
        if !floor.is_some_and(|f| vigie_govern::notify::reaches(&a.level, f)) {
            continue;
        }
        let detail = serde_json::json!({
            "alert": id,
            "title": a.rule_title,
            "level": a.level,
            "priority": plan.of_alert[*i].1,
            "host": a.host,
            "event_time": a.event_time.to_string(),
            "queue": "l1",
        });
        rows.push((a.tenant.as_str(), id.as_str(), detail.to_string()));
    }
    for chunk in rows.chunks(NOTIFY_ROWS) {
        let mut sql =
            String::from("INSERT INTO notify_events (tenant, kind, reference, at, detail) VALUES ");
        for row in 0..chunk.len() {
            sql.push_str(if row == 0 { "(" } else { ", (" });
            sql.push_str(&placeholders(backend, row * 4 + 1, 1));
            sql.push_str(", 'alert', ");
            sql.push_str(&placeholders(backend, row * 4 + 2, 3));
            sql.push(')');
        }
        sql.push_str(" ON CONFLICT (tenant, kind, reference) DO NOTHING");
        // Built from constants and placeholders only; every value is bound.
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (tenant, id, detail) in chunk {
            q = q
                .bind(*tenant)
                .bind(*id)
                .bind(now.as_nanos())
                .bind(detail.as_str());
        }
        q.execute(&mut **tx)
            .await
            .map_err(StateError::sql("queue alert notifications"))?;
    }
    Ok(())
}

/// Groups per upsert statement.
const GROUP_ROWS: usize = 50;

/// Columns of an upserted group.
const GROUP_COLUMNS: usize = 14;

impl State {
    /// Records `alerts` in one transaction; an alert whose (tenant, rule, event) exists
    /// already is skipped, so a replayed journal never duplicates alerts. Returns how many
    /// were new. Each new alert gets its priority and its group ([`crate::enrich`]), in the
    /// same transaction.
    ///
    /// Rows go in multi-row `INSERT`s of up to [`INSERT_ROWS`] alerts, which halves the
    /// statement overhead of a replay (every row a conflict); new rows cost mostly B-tree
    /// work (see `State::open` and migration 2). Measured by `benches/alerts.rs`.
    pub async fn insert_alerts(&self, alerts: &[NewAlert]) -> Result<u64, StateError> {
        if alerts.is_empty() {
            return Ok(0);
        }
        let mut ids = EventIdGenerator::new();
        let now = Timestamp::now();
        let mut tx = self
            .begin_write()
            .await
            .map_err(StateError::sql("begin an alert batch"))?;
        let mut plan = plan(&mut tx, self.backend, alerts, &mut ids, now).await?;
        let mut inserted = 0;
        let mut fresh: Vec<(String, usize)> = Vec::new();
        let full = insert_sql(self.backend, INSERT_ROWS);
        for (c, chunk) in alerts.chunks(INSERT_ROWS).enumerate() {
            // The text is built from constants and row counts only, never from input.
            let sql = if chunk.len() == INSERT_ROWS {
                full.clone()
            } else {
                insert_sql(self.backend, chunk.len())
            };
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            let mut minted = HashMap::with_capacity(chunk.len());
            for (j, a) in chunk.iter().enumerate() {
                let i = c * INSERT_ROWS + j;
                let id = ids.next_at(now).to_string();
                let (g, priority) = plan.of_alert[i];
                let group = plan.groups[g].id.clone();
                minted.insert(id.clone(), i);
                query = query
                    .bind(id)
                    .bind(a.tenant.as_str())
                    .bind(a.kind.as_str())
                    .bind(&a.rule_id)
                    .bind(&a.rule_title)
                    .bind(&a.level)
                    .bind(serde_json::Value::from(a.tags.clone()).to_string())
                    .bind(AlertStatus::New.as_str())
                    .bind(a.event_id.to_string())
                    .bind(a.event_time.as_nanos())
                    .bind(a.host.as_deref())
                    .bind(a.matched.to_string())
                    .bind(now.as_nanos())
                    .bind(group)
                    .bind(i64::from(priority));
            }
            let rows = query
                .fetch_all(&mut *tx)
                .await
                .map_err(StateError::sql("insert alerts"))?;
            for row in rows {
                let id: String = row.get(0);
                if let Some(&i) = minted.get(&id) {
                    plan.inserted(i, alerts);
                    inserted += 1;
                    fresh.push((id, i));
                }
            }
        }
        plan.record(&mut tx, self.backend, alerts, now).await?;
        notify_new(&mut tx, self.backend, alerts, &plan, &fresh, now).await?;
        tx.commit()
            .await
            .map_err(StateError::sql("commit an alert batch"))?;
        Ok(inserted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_listed_by_name_and_short_name() {
        assert_eq!(
            host_names("DC01.corp.example"),
            ("dc01.corp.example".into(), Some("dc01".into()))
        );
        assert_eq!(host_names(" web "), ("web".into(), None));
        assert_eq!(host_names("10.0.0.1"), ("10.0.0.1".into(), None));
        assert_eq!(host_names(".x"), (".x".into(), None));
    }
}
