//! Alerts: one per (tenant, rule, event), written by the pipeline, read by the API.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;
use vigie_event::time::Timestamp;
use vigie_event::{EventId, TenantId};

use crate::{Backend, State, StateError};

/// An alert's id: a ULID minted when the alert is first written (sorts by creation time).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct AlertId(String);

impl AlertId {
    /// The id's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AlertId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for AlertId {
    type Err = StateError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // Same layout as event ids.
        s.parse::<EventId>()
            .map(|id| AlertId(id.to_string()))
            .map_err(|e| StateError::Corrupt(e.to_string()))
    }
}

/// What raised an alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// A detection rule matched one event.
    Rule,
    /// A correlation rule matched a group of events (the alert points at the last one).
    Correlation,
    /// A source of the tenant went silent (raised and closed by the platform).
    SourceSilent,
}

impl AlertKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            AlertKind::Rule => "rule",
            AlertKind::Correlation => "correlation",
            AlertKind::SourceSilent => "source_silent",
        }
    }
}

/// Where an alert is in triage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    /// Not looked at yet.
    New,
    /// Someone is on it.
    Acknowledged,
    /// Said what it is.
    Qualified,
    /// Handed to a higher tier.
    Escalated,
    /// Done with.
    Closed,
    /// Part of a case.
    Linked,
}

impl AlertStatus {
    /// The stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::New => "new",
            AlertStatus::Acknowledged => "acknowledged",
            AlertStatus::Qualified => "qualified",
            AlertStatus::Escalated => "escalated",
            AlertStatus::Closed => "closed",
            AlertStatus::Linked => "linked",
        }
    }

    /// From its name.
    pub fn parse(text: &str) -> Option<AlertStatus> {
        match text {
            "new" => Some(AlertStatus::New),
            "acknowledged" => Some(AlertStatus::Acknowledged),
            "qualified" => Some(AlertStatus::Qualified),
            "escalated" => Some(AlertStatus::Escalated),
            "closed" => Some(AlertStatus::Closed),
            "linked" => Some(AlertStatus::Linked),
            _ => None,
        }
    }
}

/// An alert to record.
#[derive(Clone, Debug)]
pub struct NewAlert {
    /// The tenant of the event.
    pub tenant: TenantId,
    /// Rule or correlation.
    pub kind: AlertKind,
    /// The rule's id (its title when it has none).
    pub rule_id: String,
    /// The rule's title.
    pub rule_title: String,
    /// The rule's level (`informational` … `critical`).
    pub level: String,
    /// The rule's tags (ATT&CK techniques and tactics).
    pub tags: Vec<String>,
    /// The event that matched (for a correlation: the last event of the group).
    pub event_id: EventId,
    /// That event's time.
    pub event_time: Timestamp,
    /// That event's host.
    pub host: Option<String>,
    /// The user the event names, when it names one (an alert may be grouped on it).
    pub user: Option<String>,
    /// The source address the event names, when it names one (likewise).
    pub source: Option<String>,
    /// The fields that made the rule match (a JSON object).
    pub matched: serde_json::Value,
}

/// A recorded alert.
#[derive(Clone, Debug, Serialize)]
pub struct Alert {
    /// Its id.
    pub id: AlertId,
    /// Its tenant.
    #[serde(serialize_with = "tenant_text")]
    pub tenant: TenantId,
    /// Rule or correlation.
    pub kind: AlertKind,
    /// The rule's id.
    pub rule_id: String,
    /// The rule's title.
    pub rule_title: String,
    /// The rule's level.
    pub level: String,
    /// The rule's tags.
    pub tags: Vec<String>,
    /// Triage status.
    pub status: AlertStatus,
    /// The event (its id, as text).
    pub event_id: String,
    /// The event's time, RFC 3339 UTC.
    pub event_time: String,
    /// The event's host.
    pub host: Option<String>,
    /// The fields that made the rule match.
    pub matched: serde_json::Value,
    /// When the alert was recorded, RFC 3339 UTC.
    pub created_at: String,
    /// The tier whose queue it is in (`l1` until escalated).
    pub queue: String,
    /// What it was qualified as, once it was.
    pub qualification: Option<String>,
    /// The person it is assigned to (a user id), if any.
    pub assignee: Option<String>,
    /// Its group (alerts of one rule on one entity within the tenant's window).
    pub group: Option<String>,
    /// Its priority, 0 to 100 (`vigie_govern::priority`).
    pub priority: u8,
}

fn tenant_text<S: serde::Serializer>(t: &TenantId, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(t.as_str())
}

/// Which alerts to list. Newest event first; `limit` at most [`AlertFilter::MAX_LIMIT`].
#[derive(Clone, Debug, Default)]
pub struct AlertFilter {
    /// Only these levels (any of them).
    pub levels: Vec<String>,
    /// Only this rule id.
    pub rule: Option<String>,
    /// Only this status.
    pub status: Option<AlertStatus>,
    /// Only alerts of this host.
    pub host: Option<String>,
    /// Only alerts in this tier's queue (`l1`, `l2`, `l3`).
    pub queue: Option<String>,
    /// Only open alerts (not closed, not linked to a case): a queue's work.
    pub open: bool,
    /// Only alerts assigned to this user.
    pub assignee: Option<u64>,
    /// Only alerts of this group.
    pub group: Option<String>,
    /// Only alerts whose rule title, rule id or host contains this text (any case).
    pub text: Option<String>,
    /// Only alerts recorded after this one (ids grow with the time of recording): what a
    /// live view has not shown yet.
    pub recorded_after: Option<AlertId>,
    /// Events at or after this time.
    pub from: Option<Timestamp>,
    /// Events before this time.
    pub to: Option<Timestamp>,
    /// Page size (default 100).
    pub limit: Option<usize>,
    /// Continue after this alert (the `next` of the previous page).
    pub after: Option<AlertCursor>,
}

/// Where a page of alerts ended: (event time, alert id) of its last alert.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlertCursor {
    time: i64,
    id: String,
}

impl fmt::Display for AlertCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.time, self.id)
    }
}

impl FromStr for AlertCursor {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || format!("invalid alert cursor {s:?}: expected <nanoseconds>.<alert id>");
        let (time, id) = s.split_once('.').ok_or_else(err)?;
        let time = time.parse().map_err(|_| err())?;
        id.parse::<EventId>().map_err(|_| err())?;
        Ok(AlertCursor {
            time,
            id: id.to_owned(),
        })
    }
}

/// `%text%` for `LIKE … ESCAPE '\\'`, lower case, with `%`, `_` and `\\` taken literally.
fn like_pattern(text: &str) -> String {
    let mut pattern = String::from("%");
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

impl AlertFilter {
    /// The largest page.
    pub const MAX_LIMIT: usize = 1000;
}

/// A bound value of a built statement.
enum Bind {
    Text(String),
    Int(i64),
}

/// The `WHERE` of a filter: constant fragments with numbered parameters, and their values.
struct Where {
    sql: String,
    binds: Vec<Bind>,
}

impl Where {
    fn of(tenant: &TenantId, filter: &AlertFilter) -> Where {
        let mut w = Where {
            sql: String::new(),
            binds: Vec::new(),
        };
        w.push("tenant = ?", Bind::Text(tenant.as_str().to_owned()));
        if !filter.levels.is_empty() {
            w.sql.push_str(" AND level IN (");
            for (i, level) in filter.levels.iter().enumerate() {
                w.push(if i == 0 { "?" } else { ", ?" }, Bind::Text(level.clone()));
            }
            w.sql.push(')');
        }
        let text = |v: &str| Bind::Text(v.to_owned());
        if let Some(rule) = &filter.rule {
            w.push(" AND rule_id = ?", text(rule));
        }
        if let Some(status) = filter.status {
            w.push(" AND status = ?", text(status.as_str()));
        }
        if let Some(host) = &filter.host {
            w.push(" AND host = ?", text(host));
        }
        if let Some(queue) = &filter.queue {
            w.push(" AND queue = ?", text(queue));
            // A higher tier's queue holds a few alerts in a hundred: the constant term
            // lets both planners use the partial index of escalated alerts (migration 12)
            // whatever they estimate of the bound value.
            if queue != "l1" {
                w.sql.push_str(" AND queue <> 'l1'");
            }
        }
        if filter.open {
            w.sql.push_str(" AND status NOT IN ('closed', 'linked')");
        }
        if let Some(assignee) = filter.assignee {
            w.push(" AND assignee = ?", Bind::Int(assignee as i64));
        }
        if let Some(group) = &filter.group {
            w.push(" AND group_id = ?", text(group));
        }
        if let Some(t) = &filter.text {
            let pattern = like_pattern(t);
            w.push(" AND (LOWER(rule_title) LIKE ? ESCAPE '\\'", text(&pattern));
            w.push(" OR LOWER(rule_id) LIKE ? ESCAPE '\\'", text(&pattern));
            w.push(
                " OR LOWER(COALESCE(host, '')) LIKE ? ESCAPE '\\')",
                text(&pattern),
            );
        }
        if let Some(after) = &filter.recorded_after {
            w.push(" AND id > ?", text(after.as_str()));
        }
        if let Some(from) = filter.from {
            w.push(" AND event_time >= ?", Bind::Int(from.as_nanos()));
        }
        if let Some(to) = filter.to {
            w.push(" AND event_time < ?", Bind::Int(to.as_nanos()));
        }
        if let Some(after) = &filter.after {
            w.push(" AND (event_time < ?", Bind::Int(after.time));
            w.push(" OR (event_time = ?", Bind::Int(after.time));
            w.push(" AND id < ?))", text(&after.id));
        }
        w
    }

    /// Appends `clause`, its one `?` numbered as the next parameter.
    fn push(&mut self, clause: &str, value: Bind) {
        self.binds.push(value);
        let n = self.binds.len();
        self.sql.push_str(&clause.replace('?', &format!("${n}")));
    }

    fn bind<'q>(
        self,
        mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
        for b in self.binds {
            query = match b {
                Bind::Text(t) => query.bind(t),
                Bind::Int(i) => query.bind(i),
            };
        }
        query
    }
}

/// A page of alerts and the cursor of the next one.
#[derive(Debug)]
pub struct AlertPage {
    /// The alerts.
    pub alerts: Vec<Alert>,
    /// Where the next page starts, when this one was full.
    pub next: Option<AlertCursor>,
}

fn utc(nanos: i64) -> String {
    Timestamp::from_nanos(nanos).to_rfc3339(vigie_event::UtcOffset::UTC)
}

fn alert_of(row: &AnyRow) -> Result<Alert, StateError> {
    let corrupt = |what: &str| StateError::Corrupt(what.to_owned());
    let tenant: String = row.get("tenant");
    let kind: String = row.get("kind");
    let status: String = row.get("status");
    let tags: String = row.get("tags");
    let matched: String = row.get("matched");
    Ok(Alert {
        id: AlertId(row.get("id")),
        tenant: TenantId::new(&tenant).map_err(|e| StateError::Corrupt(e.to_string()))?,
        kind: match kind.as_str() {
            "rule" => AlertKind::Rule,
            "correlation" => AlertKind::Correlation,
            "source_silent" => AlertKind::SourceSilent,
            _ => return Err(corrupt("alert kind")),
        },
        rule_id: row.get("rule_id"),
        rule_title: row.get("rule_title"),
        level: row.get("level"),
        tags: serde_json::from_str(&tags).map_err(|_| corrupt("alert tags"))?,
        status: AlertStatus::parse(&status).ok_or_else(|| corrupt("alert status"))?,
        event_id: row.get("event_id"),
        event_time: utc(row.get("event_time")),
        host: row.get("host"),
        matched: serde_json::from_str(&matched).map_err(|_| corrupt("alert fields"))?,
        created_at: utc(row.get("created_at")),
        queue: row.get("queue"),
        qualification: row.get("qualification"),
        assignee: row.get::<Option<i64>, _>("assignee").map(|a| a.to_string()),
        group: row.get("group_id"),
        priority: u8::try_from(row.get::<i64, _>("priority")).unwrap_or(0),
    })
}

pub(crate) const COLUMNS: &str = "id, tenant, kind, rule_id, rule_title, level, tags, status, event_id, \
                       event_time, host, matched, created_at, group_id, priority";

/// What a read adds to [`COLUMNS`]: the columns triage changes.
pub(crate) const READ_COLUMNS: &str = "queue, qualification, assignee";

/// The number of names in [`COLUMNS`] (checked by a test).
pub(crate) const COLUMN_COUNT: usize = 15;

/// Alerts per `INSERT` statement: 15 parameters each, well under SQLite's limit of 32,766
/// parameters a statement (and PostgreSQL's 65,535).
pub(crate) const INSERT_ROWS: usize = 50;

/// `INSERT … VALUES (…), (…) … ON CONFLICT DO NOTHING` for `rows` alerts, with the
/// backend's parameters ([`Backend::placeholder`]).
pub(crate) fn insert_sql(backend: Backend, rows: usize) -> String {
    let mut sql = format!("INSERT INTO alerts ({COLUMNS}) VALUES ");
    for row in 0..rows {
        sql.push_str(if row == 0 { "(" } else { ", (" });
        for col in 0..COLUMN_COUNT {
            if col > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&backend.placeholder(row * COLUMN_COUNT + col + 1));
        }
        sql.push(')');
    }
    sql.push_str(" ON CONFLICT (tenant, rule_id, event_id) DO NOTHING RETURNING id");
    sql
}

impl State {
    /// A page of `tenant`'s alerts matching `filter`, newest event first.
    pub async fn alerts(
        &self,
        tenant: &TenantId,
        filter: &AlertFilter,
    ) -> Result<AlertPage, StateError> {
        let limit = filter.limit.unwrap_or(100).clamp(1, AlertFilter::MAX_LIMIT);
        let mut built = Where::of(tenant, filter);
        let n = built.binds.len() + 1;
        let sql = format!(
            "SELECT {COLUMNS}, {READ_COLUMNS} FROM alerts WHERE {} \
             ORDER BY event_time DESC, id DESC LIMIT ${n}",
            built.sql
        );
        built.binds.push(Bind::Int(limit as i64));
        let rows = built
            .bind(sqlx::query(sqlx::AssertSqlSafe(sql)))
            .fetch_all(&self.pool)
            .await
            .map_err(StateError::sql("list alerts"))?;
        let mut cursor = None;
        let alerts = rows
            .iter()
            .map(|row| {
                cursor = Some(AlertCursor {
                    time: row.get("event_time"),
                    id: row.get("id"),
                });
                alert_of(row)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(AlertPage {
            next: if alerts.len() == limit { cursor } else { None },
            alerts,
        })
    }

    /// How many of `tenant`'s alerts match `filter` (its `limit` and `after` ignored),
    /// counting at most `max + 1`: enough to tell "more than `max`" without counting a
    /// million rows.
    pub async fn count_alerts(
        &self,
        tenant: &TenantId,
        filter: &AlertFilter,
        max: u64,
    ) -> Result<u64, StateError> {
        let filter = AlertFilter {
            after: None,
            limit: None,
            ..filter.clone()
        };
        let mut built = Where::of(tenant, &filter);
        let n = built.binds.len() + 1;
        let sql = format!(
            "SELECT COUNT(*) FROM (SELECT id FROM alerts WHERE {} LIMIT ${n}) AS matched",
            built.sql
        );
        built
            .binds
            .push(Bind::Int(max.saturating_add(1).min(i64::MAX as u64) as i64));
        let row = built
            .bind(sqlx::query(sqlx::AssertSqlSafe(sql)))
            .fetch_one(&self.pool)
            .await
            .map_err(StateError::sql("count alerts"))?;
        Ok(u64::try_from(row.get::<i64, _>(0)).unwrap_or(0))
    }

    /// The ids of `tenant`'s alerts matching `filter` (from its `after` cursor; its `limit`
    /// ignored), newest first, at most `max`, and the cursor after the last one when there
    /// were `max`.
    pub async fn alert_ids(
        &self,
        tenant: &TenantId,
        filter: &AlertFilter,
        max: usize,
    ) -> Result<(Vec<AlertId>, Option<AlertCursor>), StateError> {
        let mut built = Where::of(tenant, filter);
        let n = built.binds.len() + 1;
        let sql = format!(
            "SELECT id, event_time FROM alerts WHERE {} ORDER BY event_time DESC, id DESC \
             LIMIT ${n}",
            built.sql
        );
        built.binds.push(Bind::Int(max as i64));
        let rows = built
            .bind(sqlx::query(sqlx::AssertSqlSafe(sql)))
            .fetch_all(&self.pool)
            .await
            .map_err(StateError::sql("list alert ids"))?;
        let next = (rows.len() == max && max > 0)
            .then(|| rows.last())
            .flatten()
            .map(|r| AlertCursor {
                time: r.get(1),
                id: r.get(0),
            });
        Ok((rows.iter().map(|r| AlertId(r.get(0))).collect(), next))
    }

    /// One of `tenant`'s alerts; `None` when it does not exist or belongs to another tenant.
    pub async fn alert(
        &self,
        tenant: &TenantId,
        id: &AlertId,
    ) -> Result<Option<Alert>, StateError> {
        let sql =
            format!("SELECT {COLUMNS}, {READ_COLUMNS} FROM alerts WHERE tenant = $1 AND id = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.as_str())
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(StateError::sql("read an alert"))?;
        row.as_ref().map(alert_of).transpose()
    }

    /// `tenant`'s alert counts per rule: (rule id, rule title, level, count), most frequent
    /// first.
    pub async fn alert_counts(
        &self,
        tenant: &TenantId,
    ) -> Result<Vec<(String, String, String, u64)>, StateError> {
        let rows = sqlx::query(
            "SELECT rule_id, rule_title, level, COUNT(*) AS n FROM alerts WHERE tenant = $1 \
             GROUP BY rule_id, rule_title, level ORDER BY n DESC, rule_id",
        )
        .bind(tenant.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(StateError::sql("count alerts"))?;
        Ok(rows
            .iter()
            .map(|r| {
                (
                    r.get(0),
                    r.get(1),
                    r.get(2),
                    u64::try_from(r.get::<i64, _>(3)).unwrap_or(0),
                )
            })
            .collect())
    }

    /// `tenant`'s alerts per rule id whose event is at or after `since` (the rules page's
    /// hits in the last day and month; a range of the `(tenant, event_time)` index).
    pub async fn alert_counts_since(
        &self,
        tenant: &TenantId,
        since: Timestamp,
    ) -> Result<std::collections::HashMap<String, u64>, StateError> {
        let rows = sqlx::query(
            "SELECT rule_id, COUNT(*) AS n FROM alerts WHERE tenant = $1 AND event_time >= $2 \
             GROUP BY rule_id",
        )
        .bind(tenant.as_str())
        .bind(since.as_nanos())
        .fetch_all(&self.pool)
        .await
        .map_err(StateError::sql("count alerts per rule"))?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), u64::try_from(r.get::<i64, _>(1)).unwrap_or(0)))
            .collect())
    }
}
