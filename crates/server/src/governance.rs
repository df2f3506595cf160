//! The governance task: every `access.governance_interval_s` it deactivates the accounts
//! `vigie_govern::review::deactivation` names (no sign-in for the organisation's number of
//! days, a provider user's contract ended) and closes the review campaigns whose deadline
//! came, suspending every grant their client admin did not confirm. Each change is an
//! audit record, made by "the governance task".

use std::time::Duration;

use serde_json::json;
use tokio::sync::watch;
use vigie_event::time::Timestamp;
use vigie_govern::audit::record::{Outcome, Record, Who};
use vigie_govern::grant::GrantStatus;
use vigie_govern::review::{deactivation, suspends};
use vigie_state::audit::{AuditEntry, PLATFORM_CHAIN, tenant_chain};
use vigie_state::{State, UserStatus};

use crate::ServerError;
use crate::auditor::Auditor;

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pass {
    /// Accounts deactivated.
    pub deactivated: u64,
    /// Grants suspended by a review that was not answered.
    pub suspended: u64,
    /// Review campaigns closed.
    pub closed: u64,
}

fn entry(
    chain: String,
    tenant: Option<&str>,
    action: &str,
    objects: Vec<String>,
    after: serde_json::Value,
) -> AuditEntry {
    let now = Timestamp::now();
    AuditEntry {
        chain,
        record: Record {
            time: now.to_rfc3339(vigie_event::UtcOffset::UTC),
            who: Who {
                address: Some("governance task".to_owned()),
                ..Who::default()
            },
            action: action.to_owned(),
            tenant: tenant.map(str::to_owned),
            objects,
            query: None,
            count: None,
            outcome: Outcome::Allowed,
            before: None,
            after: Some(after),
        },
        time: now,
    }
}

/// One pass at `now`.
pub async fn run_once(
    state: &State,
    auditor: &Auditor,
    now: Timestamp,
) -> Result<Pass, ServerError> {
    let mut pass = Pass::default();
    for org in state.orgs().await? {
        for user in state.users_of(org.id).await? {
            if user.status != UserStatus::Active {
                continue;
            }
            let Some(why) = deactivation(
                user.role,
                Timestamp::from_nanos(user.created_at),
                user.last_login.map(Timestamp::from_nanos),
                user.contract_end.map(Timestamp::from_nanos),
                org.inactivity_days,
                now,
            ) else {
                continue;
            };
            state
                .set_user_status(user.id, UserStatus::Deactivated)
                .await?;
            pass.deactivated += 1;
            auditor
                .record(entry(
                    PLATFORM_CHAIN.to_owned(),
                    None,
                    "user-deactivate",
                    vec![format!("user:{}", user.id.0)],
                    json!({"status": "deactivated", "reason": why.as_str()}),
                ))
                .await
                .map_err(ServerError::Pipeline)?;
        }
    }
    for id in state.due_reviews(now).await? {
        let Some(review) = state.review(id).await? else {
            continue;
        };
        for (grant, decision) in &review.items {
            if !suspends(*decision) {
                continue;
            }
            let Some(stored) = state.grant(*grant).await? else {
                continue;
            };
            let from = stored.grant.status;
            if !matches!(from, GrantStatus::Approved | GrantStatus::Pending) {
                continue;
            }
            if state
                .set_grant_status(*grant, from, GrantStatus::Suspended, review.opened_by, now)
                .await?
            {
                pass.suspended += 1;
                auditor
                    .record(entry(
                        tenant_chain(review.tenant.as_str()),
                        Some(review.tenant.as_str()),
                        "grant-suspend",
                        vec![format!("grant:{}", grant.0), format!("review:{}", id.0)],
                        json!({"status": "suspended", "reason": "not confirmed by the review's deadline"}),
                    ))
                    .await
                    .map_err(ServerError::Pipeline)?;
            }
        }
        if state.close_review(id, now).await? {
            pass.closed += 1;
        }
    }
    Ok(pass)
}

/// Runs a pass every `interval` until `shutdown`.
pub fn spawn(
    state: State,
    auditor: Auditor,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let stop = tokio::select! {
                _ = tick.tick() => false,
                _ = shutdown.wait_for(|s| *s) => true,
            };
            if stop {
                break;
            }
            if let Err(e) = run_once(&state, &auditor, Timestamp::now()).await {
                tracing::error!(error = %e, "governance pass failed");
            }
        }
    })
}
