//! Access review campaigns: a client admin opens one on a tenant with a deadline; every
//! provider grant of the tenant that gives or may give access (approved or pending) becomes
//! an item to confirm or remove; at the deadline the governance task suspends the grants
//! of undecided items (`vigie_govern::review`).

use serde::Serialize;
use sqlx::Row;
use vigie_event::TenantId;
use vigie_event::time::Timestamp;
use vigie_govern::grant::{GrantStatus, UserId};
use vigie_govern::review::ItemDecision;

use crate::{GrantId, State, StateError, new_id};

/// A campaign's id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct ReviewId(pub u64);

/// A campaign and its items.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Review {
    /// Its id.
    pub id: ReviewId,
    /// The tenant.
    pub tenant: TenantId,
    /// Who opened it.
    pub opened_by: UserId,
    /// Its deadline.
    pub deadline: Timestamp,
    /// When the task closed it (at the deadline), if it did.
    pub closed_at: Option<Timestamp>,
    /// Each grant and what was decided.
    pub items: Vec<(GrantId, ItemDecision)>,
}

fn decision_name(d: ItemDecision) -> Option<&'static str> {
    match d {
        ItemDecision::Open => None,
        ItemDecision::Confirmed => Some("confirmed"),
        ItemDecision::Removed => Some("removed"),
    }
}

fn decision_of(text: Option<&str>) -> Result<ItemDecision, StateError> {
    match text {
        None => Ok(ItemDecision::Open),
        Some("confirmed") => Ok(ItemDecision::Confirmed),
        Some("removed") => Ok(ItemDecision::Removed),
        Some(other) => Err(StateError::Corrupt(format!("review decision {other:?}"))),
    }
}

impl State {
    /// Opens a campaign on `tenant` over its approved and pending grants.
    pub async fn open_review(
        &self,
        tenant: &TenantId,
        opened_by: UserId,
        deadline: Timestamp,
    ) -> Result<ReviewId, StateError> {
        let id = new_id()?;
        let grants: Vec<GrantId> = self
            .grants_on(tenant)
            .await?
            .into_iter()
            .filter(|g| matches!(g.grant.status, GrantStatus::Approved | GrantStatus::Pending))
            .map(|g| g.id)
            .collect();
        let mut tx = self
            .begin_write()
            .await
            .map_err(StateError::sql("begin a review"))?;
        sqlx::query(
            "INSERT INTO reviews (id, tenant, opened_by, deadline, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(tenant.as_str())
        .bind(opened_by.0 as i64)
        .bind(deadline.as_nanos())
        .bind(Timestamp::now().as_nanos())
        .execute(&mut *tx)
        .await
        .map_err(StateError::sql("open a review"))?;
        for grant in grants {
            sqlx::query("INSERT INTO review_items (review, grant_id) VALUES ($1, $2)")
                .bind(id)
                .bind(grant.0 as i64)
                .execute(&mut *tx)
                .await
                .map_err(StateError::sql("add a review item"))?;
        }
        tx.commit()
            .await
            .map_err(StateError::sql("commit a review"))?;
        Ok(ReviewId(id as u64))
    }

    /// The campaign `id`.
    pub async fn review(&self, id: ReviewId) -> Result<Option<Review>, StateError> {
        let row = sqlx::query(
            "SELECT id, tenant, opened_by, deadline, closed_at FROM reviews WHERE id = $1",
        )
        .bind(id.0 as i64)
        .fetch_optional(&self.pool)
        .await
        .map_err(StateError::sql("read a review"))?;
        let Some(row) = row else { return Ok(None) };
        let items = sqlx::query(
            "SELECT grant_id, decision FROM review_items WHERE review = $1 ORDER BY grant_id",
        )
        .bind(id.0 as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(StateError::sql("read review items"))?
        .iter()
        .map(|r| {
            let decision: Option<String> = r.get(1);
            Ok((
                GrantId(r.get::<i64, _>(0) as u64),
                decision_of(decision.as_deref())?,
            ))
        })
        .collect::<Result<Vec<_>, StateError>>()?;
        let tenant: String = row.get(1);
        Ok(Some(Review {
            id,
            tenant: TenantId::new(&tenant).map_err(|e| StateError::Corrupt(e.to_string()))?,
            opened_by: UserId(row.get::<i64, _>(2) as u64),
            deadline: Timestamp::from_nanos(row.get(3)),
            closed_at: row.get::<Option<i64>, _>(4).map(Timestamp::from_nanos),
            items,
        }))
    }

    /// The campaigns of `tenant`, newest first.
    pub async fn reviews_of(&self, tenant: &TenantId) -> Result<Vec<Review>, StateError> {
        let ids: Vec<i64> =
            sqlx::query("SELECT id FROM reviews WHERE tenant = $1 ORDER BY created_at DESC")
                .bind(tenant.as_str())
                .fetch_all(&self.pool)
                .await
                .map_err(StateError::sql("list reviews"))?
                .iter()
                .map(|r| r.get(0))
                .collect();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(r) = self.review(ReviewId(id as u64)).await? {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// Records a decision on an undecided item of an open campaign: `false` when the item
    /// does not exist, was decided, or the campaign closed.
    pub async fn decide_review_item(
        &self,
        review: ReviewId,
        grant: GrantId,
        decision: ItemDecision,
        by: UserId,
    ) -> Result<bool, StateError> {
        let Some(name) = decision_name(decision) else {
            return Ok(false);
        };
        let done = sqlx::query(
            "UPDATE review_items SET decision = $1, decided_by = $2, decided_at = $3 \
             WHERE review = $4 AND grant_id = $5 AND decision IS NULL \
             AND review IN (SELECT id FROM reviews WHERE closed_at IS NULL)",
        )
        .bind(name)
        .bind(by.0 as i64)
        .bind(Timestamp::now().as_nanos())
        .bind(review.0 as i64)
        .bind(grant.0 as i64)
        .execute(&self.pool)
        .await
        .map_err(StateError::sql("decide a review item"))?;
        Ok(done.rows_affected() == 1)
    }

    /// The open campaigns whose deadline has come.
    pub async fn due_reviews(&self, now: Timestamp) -> Result<Vec<ReviewId>, StateError> {
        Ok(
            sqlx::query("SELECT id FROM reviews WHERE closed_at IS NULL AND deadline <= $1")
                .bind(now.as_nanos())
                .fetch_all(&self.pool)
                .await
                .map_err(StateError::sql("list due reviews"))?
                .iter()
                .map(|r| ReviewId(r.get::<i64, _>(0) as u64))
                .collect(),
        )
    }

    /// Closes campaign `id` (once: `false` when it was closed already).
    pub async fn close_review(&self, id: ReviewId, now: Timestamp) -> Result<bool, StateError> {
        let done =
            sqlx::query("UPDATE reviews SET closed_at = $1 WHERE id = $2 AND closed_at IS NULL")
                .bind(now.as_nanos())
                .bind(id.0 as i64)
                .execute(&self.pool)
                .await
                .map_err(StateError::sql("close a review"))?;
        Ok(done.rows_affected() == 1)
    }
}

/// An item decision's stable name (`open`, `confirmed`, `removed`), for the API.
pub fn item_name(d: ItemDecision) -> &'static str {
    decision_name(d).unwrap_or("open")
}
