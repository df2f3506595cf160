//! Grants (a provider analyst × a tenant × a tier × a window, requested by the provider's
//! admin and decided by the tenant owner's admin) and elevations (a grant widened on one
//! alert for a few hours). The rules are `vigie_govern::grant`'s; this module keeps the
//! rows, and changes a status only from the status the caller saw (compare and set), so two
//! admins deciding at once cannot both win.

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;
use vigie_event::TenantId;
use vigie_event::time::Timestamp;
use vigie_govern::Tier;
use vigie_govern::grant::{Actor, Elevation, Grant, GrantStatus, OrgId, UserId, Widening};

use crate::{State, StateError, new_id};

/// A grant's id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct GrantId(pub u64);

/// An elevation's id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct ElevationId(pub u64);

/// A grant as stored, with the people and the tenant it joins.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredGrant {
    /// Its id.
    pub id: GrantId,
    /// The tenant.
    pub tenant: TenantId,
    /// The rule-level view (`vigie_govern::grant`).
    pub grant: Grant,
    /// Who decided it (approved, refused, revoked or suspended it).
    pub decided_by: Option<UserId>,
    /// When.
    pub decided_at: Option<Timestamp>,
    /// When it was requested.
    pub created_at: Timestamp,
}

/// A grant to request.
#[derive(Clone, Debug)]
pub struct NewGrant {
    /// The provider analyst.
    pub analyst: UserId,
    /// The provider admin asking.
    pub requester: UserId,
    /// The tenant.
    pub tenant: TenantId,
    /// The tier.
    pub tier: Tier,
    /// Start of validity.
    pub from: Timestamp,
    /// End of validity (exclusive).
    pub until: Timestamp,
    /// Why.
    pub justification: String,
}

/// An elevation as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredElevation {
    /// Its id.
    pub id: ElevationId,
    /// The grant it widens.
    pub grant: GrantId,
    /// The alert it is on.
    pub alert: String,
    /// How many hours it lasts once approved.
    pub hours: u32,
    /// Why.
    pub justification: String,
    /// `pending`, `approved`, `refused`.
    pub status: String,
    /// Who decided.
    pub decided_by: Option<UserId>,
    /// The rule-level view.
    pub elevation: Elevation,
}

/// A grant status's stable name.
pub fn status_name(status: GrantStatus) -> &'static str {
    match status {
        GrantStatus::Pending => "pending",
        GrantStatus::Approved => "approved",
        GrantStatus::Refused => "refused",
        GrantStatus::Revoked => "revoked",
        GrantStatus::Suspended => "suspended",
    }
}

fn status_of(text: &str) -> Option<GrantStatus> {
    [
        GrantStatus::Pending,
        GrantStatus::Approved,
        GrantStatus::Refused,
        GrantStatus::Revoked,
        GrantStatus::Suspended,
    ]
    .into_iter()
    .find(|s| status_name(*s) == text)
}

/// The stable name of what an elevation widens: `l2`, `l3` or `clear-fields`.
pub fn widening_name(widening: Widening) -> &'static str {
    match widening {
        Widening::Tier(t) => t.as_str(),
        Widening::ClearFields => "clear-fields",
    }
}

/// Parses [`widening_name`]'s names.
pub fn widening_of(text: &str) -> Option<Widening> {
    if text == "clear-fields" {
        return Some(Widening::ClearFields);
    }
    text.parse().ok().map(Widening::Tier)
}

const GRANT_SELECT: &str = "SELECT g.id, g.tenant, g.tier, g.valid_from, g.valid_until, \
     g.justification, g.status, g.decided_by, g.decided_at, g.created_at, \
     g.analyst, a.org AS a_org, a.role AS a_role, g.requester, r.org AS r_org, \
     r.role AS r_role, t.owner \
     FROM grants g JOIN users a ON a.id = g.analyst JOIN users r ON r.id = g.requester \
     JOIN tenants t ON t.id = g.tenant";

fn corrupt(what: &str) -> StateError {
    StateError::Corrupt(what.to_owned())
}

fn grant_of(row: &AnyRow) -> Result<StoredGrant, StateError> {
    let actor = |user: &str, org: &str, role: &str| -> Result<Actor, StateError> {
        let role_text: String = row.get(role);
        Ok(Actor {
            user: UserId(row.get::<i64, _>(user) as u64),
            org: OrgId(row.get::<i64, _>(org) as u64),
            role: role_text
                .parse()
                .map_err(|_| corrupt("grant's user role"))?,
        })
    };
    let tenant: String = row.get("tenant");
    let tier: String = row.get("tier");
    let status: String = row.get("status");
    Ok(StoredGrant {
        id: GrantId(row.get::<i64, _>("id") as u64),
        tenant: TenantId::new(&tenant).map_err(|_| corrupt("grant's tenant"))?,
        grant: Grant {
            analyst: actor("analyst", "a_org", "a_role")?,
            requester: actor("requester", "r_org", "r_role")?,
            tenant_owner: OrgId(
                row.get::<Option<i64>, _>("owner")
                    .ok_or_else(|| corrupt("grant on a tenant without an owner"))?
                    as u64,
            ),
            tier: tier.parse().map_err(|_| corrupt("grant tier"))?,
            from: Timestamp::from_nanos(row.get("valid_from")),
            until: Timestamp::from_nanos(row.get("valid_until")),
            justification: row.get("justification"),
            status: status_of(&status).ok_or_else(|| corrupt("grant status"))?,
        },
        decided_by: row
            .get::<Option<i64>, _>("decided_by")
            .map(|u| UserId(u as u64)),
        decided_at: row
            .get::<Option<i64>, _>("decided_at")
            .map(Timestamp::from_nanos),
        created_at: Timestamp::from_nanos(row.get("created_at")),
    })
}

impl State {
    /// Stores a grant request (pending). The caller checked it with
    /// `vigie_govern::grant::check_request`.
    pub async fn insert_grant(&self, grant: &NewGrant) -> Result<GrantId, StateError> {
        let id = new_id()?;
        let now = Timestamp::now();
        let mut tx = self
            .begin_write()
            .await
            .map_err(StateError::sql("begin a grant request"))?;
        sqlx::query(
            "INSERT INTO grants (id, analyst, requester, tenant, tier, valid_from, valid_until, \
             justification, status, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(id)
        .bind(grant.analyst.0 as i64)
        .bind(grant.requester.0 as i64)
        .bind(grant.tenant.as_str())
        .bind(grant.tier.as_str())
        .bind(grant.from.as_nanos())
        .bind(grant.until.as_nanos())
        .bind(&grant.justification)
        .bind(status_name(GrantStatus::Pending))
        .bind(now.as_nanos())
        .execute(&mut *tx)
        .await
        .map_err(StateError::sql("store a grant"))?;
        // The tenant owner's admin has a request to decide: the notifier tells whom the
        // tenant's approval rules name.
        let detail = serde_json::json!({
            "request": "grant",
            "id": id.to_string(),
            "tier": grant.tier.as_str(),
            "valid_from": grant.from.to_string(),
            "valid_until": grant.until.to_string(),
        });
        crate::notify::enqueue(
            &mut tx,
            grant.tenant.as_str(),
            "approval",
            &format!("grant:{id}"),
            now,
            &detail,
        )
        .await?;
        tx.commit()
            .await
            .map_err(StateError::sql("commit a grant request"))?;
        Ok(GrantId(id as u64))
    }

    /// The grant `id`.
    pub async fn grant(&self, id: GrantId) -> Result<Option<StoredGrant>, StateError> {
        let sql = format!("{GRANT_SELECT} WHERE g.id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.0 as i64)
            .fetch_optional(&self.pool)
            .await
            .map_err(StateError::sql("read a grant"))?;
        row.as_ref().map(grant_of).transpose()
    }

    /// Every grant on `tenant` (what the access decision on that tenant reads).
    pub async fn grants_on(&self, tenant: &TenantId) -> Result<Vec<StoredGrant>, StateError> {
        let sql = format!("{GRANT_SELECT} WHERE g.tenant = $1 ORDER BY g.created_at, g.id");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(StateError::sql("list a tenant's grants"))?;
        rows.iter().map(grant_of).collect()
    }

    /// Every grant whose analyst belongs to `org` (what a provider admin manages).
    pub async fn grants_of_provider(&self, org: OrgId) -> Result<Vec<StoredGrant>, StateError> {
        let sql = format!("{GRANT_SELECT} WHERE a.org = $1 ORDER BY g.created_at, g.id");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.0 as i64)
            .fetch_all(&self.pool)
            .await
            .map_err(StateError::sql("list a provider's grants"))?;
        rows.iter().map(grant_of).collect()
    }

    /// Every grant (the operator's and the governance task's view).
    pub async fn all_grants(&self) -> Result<Vec<StoredGrant>, StateError> {
        let sql = format!("{GRANT_SELECT} ORDER BY g.created_at, g.id");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await
            .map_err(StateError::sql("list grants"))?;
        rows.iter().map(grant_of).collect()
    }

    /// Moves grant `id` from `from` to `to`, decided by `by` at `now`: `false` when its
    /// status was no longer `from` (someone else decided first).
    pub async fn set_grant_status(
        &self,
        id: GrantId,
        from: GrantStatus,
        to: GrantStatus,
        by: UserId,
        now: Timestamp,
    ) -> Result<bool, StateError> {
        let done = sqlx::query(
            "UPDATE grants SET status = $1, decided_by = $2, decided_at = $3 \
             WHERE id = $4 AND status = $5",
        )
        .bind(status_name(to))
        .bind(by.0 as i64)
        .bind(now.as_nanos())
        .bind(id.0 as i64)
        .bind(status_name(from))
        .execute(&self.pool)
        .await
        .map_err(StateError::sql("decide a grant"))?;
        Ok(done.rows_affected() == 1)
    }

    /// Stores an elevation request (pending) on grant `grant` for `alert`.
    pub async fn insert_elevation(
        &self,
        grant: GrantId,
        alert: &str,
        widening: Widening,
        hours: u32,
        justification: &str,
    ) -> Result<ElevationId, StateError> {
        let id = new_id()?;
        let now = Timestamp::now();
        let mut tx = self
            .begin_write()
            .await
            .map_err(StateError::sql("begin an elevation request"))?;
        let tenant: Option<String> = sqlx::query("SELECT tenant FROM grants WHERE id = $1")
            .bind(grant.0 as i64)
            .fetch_optional(&mut *tx)
            .await
            .map_err(StateError::sql("read an elevation's grant"))?
            .map(|r| r.get(0));
        let tenant = tenant.ok_or_else(|| StateError::Invalid(format!("no grant {}", grant.0)))?;
        sqlx::query(
            "INSERT INTO elevations (id, grant_id, alert, widening, hours, justification, \
             status, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(id)
        .bind(grant.0 as i64)
        .bind(alert)
        .bind(widening_name(widening))
        .bind(i64::from(hours))
        .bind(justification)
        .bind("pending")
        .bind(now.as_nanos())
        .execute(&mut *tx)
        .await
        .map_err(StateError::sql("store an elevation"))?;
        let detail = serde_json::json!({
            "request": "elevation",
            "id": id.to_string(),
            "grant": grant.0.to_string(),
            "alert": alert,
            "hours": hours,
        });
        crate::notify::enqueue(
            &mut tx,
            &tenant,
            "approval",
            &format!("elevation:{id}"),
            now,
            &detail,
        )
        .await?;
        tx.commit()
            .await
            .map_err(StateError::sql("commit an elevation request"))?;
        Ok(ElevationId(id as u64))
    }

    /// Approves (from `now` for its hours) or refuses pending elevation `id`: `false` when
    /// it was not pending any more.
    pub async fn decide_elevation(
        &self,
        id: ElevationId,
        approve: bool,
        by: UserId,
        now: Timestamp,
    ) -> Result<bool, StateError> {
        let done = sqlx::query(
            "UPDATE elevations SET status = $1, decided_by = $2, valid_from = $3, \
             valid_until = $4 + hours * 3600000000000 WHERE id = $5 AND status = 'pending'",
        )
        .bind(if approve { "approved" } else { "refused" })
        .bind(by.0 as i64)
        .bind(now.as_nanos())
        .bind(now.as_nanos())
        .bind(id.0 as i64)
        .execute(&self.pool)
        .await
        .map_err(StateError::sql("decide an elevation"))?;
        Ok(done.rows_affected() == 1)
    }

    /// The elevations of the grants `grants` (pending, decided, expired: the caller asks
    /// `vigie_govern::grant::elevation_active`).
    pub async fn elevations_of(
        &self,
        grants: &[GrantId],
    ) -> Result<Vec<StoredElevation>, StateError> {
        let mut out = Vec::new();
        for grant in grants {
            let rows = sqlx::query(
                "SELECT e.id, e.grant_id, e.alert, e.widening, e.hours, e.justification, \
                 e.status, e.decided_by, e.valid_from, e.valid_until, g.tier \
                 FROM elevations e JOIN grants g ON g.id = e.grant_id \
                 WHERE e.grant_id = $1 ORDER BY e.created_at",
            )
            .bind(grant.0 as i64)
            .fetch_all(&self.pool)
            .await
            .map_err(StateError::sql("list elevations"))?;
            for row in rows {
                out.push(elevation_of(&row)?);
            }
        }
        Ok(out)
    }

    /// The elevation `id`.
    pub async fn elevation(&self, id: ElevationId) -> Result<Option<StoredElevation>, StateError> {
        let row = sqlx::query(
            "SELECT e.id, e.grant_id, e.alert, e.widening, e.hours, e.justification, \
             e.status, e.decided_by, e.valid_from, e.valid_until, g.tier \
             FROM elevations e JOIN grants g ON g.id = e.grant_id WHERE e.id = $1",
        )
        .bind(id.0 as i64)
        .fetch_optional(&self.pool)
        .await
        .map_err(StateError::sql("read an elevation"))?;
        row.as_ref().map(elevation_of).transpose()
    }
}

fn elevation_of(row: &AnyRow) -> Result<StoredElevation, StateError> {
    let widening: String = row.get("widening");
    let status: String = row.get("status");
    let tier: String = row.get("tier");
    let from = row.get::<Option<i64>, _>("valid_from");
    let until = row.get::<Option<i64>, _>("valid_until");
    Ok(StoredElevation {
        id: ElevationId(row.get::<i64, _>("id") as u64),
        grant: GrantId(row.get::<i64, _>("grant_id") as u64),
        alert: row.get("alert"),
        hours: u32::try_from(row.get::<i64, _>("hours")).map_err(|_| corrupt("elevation hours"))?,
        justification: row.get("justification"),
        decided_by: row
            .get::<Option<i64>, _>("decided_by")
            .map(|u| UserId(u as u64)),
        elevation: Elevation {
            grant_tier: tier.parse().map_err(|_| corrupt("grant tier"))?,
            widening: widening_of(&widening).ok_or_else(|| corrupt("elevation widening"))?,
            from: Timestamp::from_nanos(from.unwrap_or(0)),
            until: Timestamp::from_nanos(until.unwrap_or(0)),
            approved: status == "approved",
        },
        status,
    })
}
