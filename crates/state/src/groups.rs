//! Alert groups read (written by [`crate::enrich`] as alerts are recorded): the queue's
//! group view and one group's page.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;
use vigie_event::time::Timestamp;
use vigie_event::{EventId, TenantId};

use crate::{State, StateError};

/// A group's id (a ULID minted when its first alert was written).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct GroupId(String);

impl GroupId {
    /// The id's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for GroupId {
    type Err = StateError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse::<EventId>()
            .map(|id| GroupId(id.to_string()))
            .map_err(|e| StateError::Invalid(format!("group id {s:?}: {e}")))
    }
}

/// A group of alerts: one rule, one entity, a window.
#[derive(Clone, Debug, Serialize)]
pub struct AlertGroup {
    /// Its id.
    pub id: GroupId,
    /// The rule's id.
    pub rule_id: String,
    /// The rule's title.
    pub rule_title: String,
    /// The rule's level.
    pub level: String,
    /// What it groups on (`host`, `user`, `source`).
    pub entity: String,
    /// The entity's value (empty: the events named none).
    pub entity_value: String,
    /// Its alerts.
    pub count: u64,
    /// Its open alerts (0: the group is closed).
    pub open: u64,
    /// The first and last event times, RFC 3339 UTC.
    pub first: String,
    /// See `first`.
    pub last: String,
    /// The highest priority of its alerts.
    pub priority: u8,
}

/// Which groups to list, latest activity first.
#[derive(Clone, Debug, Default)]
pub struct GroupFilter {
    /// Only groups with an open alert.
    pub open: bool,
    /// Only groups with an open alert in this tier's queue.
    pub queue: Option<String>,
    /// Only this rule's.
    pub rule: Option<String>,
    /// Page size (default 100, at most 1,000).
    pub limit: Option<usize>,
}

fn utc(nanos: i64) -> String {
    Timestamp::from_nanos(nanos).to_rfc3339(vigie_event::UtcOffset::UTC)
}

fn group_of(r: &AnyRow) -> AlertGroup {
    AlertGroup {
        id: GroupId(r.get(0)),
        rule_id: r.get(1),
        rule_title: r.get(2),
        level: r.get(3),
        entity: r.get(4),
        entity_value: r.get(5),
        count: u64::try_from(r.get::<i64, _>(6)).unwrap_or(0),
        open: u64::try_from(r.get::<i64, _>(7)).unwrap_or(0),
        first: utc(r.get(8)),
        last: utc(r.get(9)),
        priority: u8::try_from(r.get::<i64, _>(10)).unwrap_or(0),
    }
}

const GROUP_COLUMNS: &str = "g.id, g.rule_id, g.rule_title, g.level, g.entity, g.entity_value, \
                             g.count, g.open_count, g.first_at, g.last_at, g.priority";

impl State {
    /// `tenant`'s groups matching `filter`, latest activity first.
    pub async fn alert_groups(
        &self,
        tenant: &TenantId,
        filter: &GroupFilter,
    ) -> Result<Vec<AlertGroup>, StateError> {
        let limit = filter.limit.unwrap_or(100).clamp(1, 1000);
        let mut sql = format!("SELECT {GROUP_COLUMNS} FROM alert_groups g WHERE g.tenant = $1");
        let mut n = 1;
        if filter.open || filter.queue.is_some() {
            sql.push_str(" AND g.open_count > 0");
        }
        if filter.queue.is_some() {
            n += 1;
            sql.push_str(&format!(
                " AND EXISTS (SELECT 1 FROM alerts a WHERE a.group_id = g.id AND a.queue = ${n} \
                 AND a.status NOT IN ('closed', 'linked'))"
            ));
        }
        if filter.rule.is_some() {
            n += 1;
            sql.push_str(&format!(" AND g.rule_id = ${n}"));
        }
        sql.push_str(&format!(
            " ORDER BY g.last_at DESC, g.id DESC LIMIT ${}",
            n + 1
        ));
        // Built from constant fragments and parameter numbers only.
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant.as_str());
        if let Some(queue) = &filter.queue {
            q = q.bind(queue);
        }
        if let Some(rule) = &filter.rule {
            q = q.bind(rule);
        }
        let rows = q
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await
            .map_err(StateError::sql("list alert groups"))?;
        Ok(rows.iter().map(group_of).collect())
    }

    /// One of `tenant`'s groups (`None`: none of that id in this tenant).
    pub async fn alert_group(
        &self,
        tenant: &TenantId,
        id: &GroupId,
    ) -> Result<Option<AlertGroup>, StateError> {
        let sql =
            format!("SELECT {GROUP_COLUMNS} FROM alert_groups g WHERE g.tenant = $1 AND g.id = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.as_str())
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(StateError::sql("read an alert group"))?;
        Ok(row.as_ref().map(group_of))
    }
}
