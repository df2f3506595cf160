//! Access governance, decided: when an account is deactivated (no sign-in for the
//! organisation's number of days, or a provider user's contract ended), and what an access
//! review campaign does at its deadline (every grant its client admin did not confirm is
//! suspended). The server's scheduled task applies these to the state.

use vigie_event::Timestamp;

use crate::Role;

const DAY: i64 = 86_400_000_000_000;

/// Why an account is deactivated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deactivation {
    /// No sign-in for the organisation's number of days (since creation when never).
    Inactive,
    /// A provider user's contract ended.
    ContractEnded,
}

impl Deactivation {
    /// Its stable name, for the audit record.
    pub fn as_str(self) -> &'static str {
        match self {
            Deactivation::Inactive => "inactive",
            Deactivation::ContractEnded => "contract-ended",
        }
    }
}

/// Whether an active account of `role` is deactivated at `now`: its contract ended (at or
/// after `contract_end`), or it has not signed in for `inactivity_days` (counted from its
/// creation when it never did; `0` days turns the rule off). The operator is never
/// deactivated by the task (it would lock the instance out); their suspension is manual.
pub fn deactivation(
    role: Role,
    created_at: Timestamp,
    last_login: Option<Timestamp>,
    contract_end: Option<Timestamp>,
    inactivity_days: u32,
    now: Timestamp,
) -> Option<Deactivation> {
    if role == Role::Operator {
        return None;
    }
    if contract_end.is_some_and(|end| end <= now) {
        return Some(Deactivation::ContractEnded);
    }
    if inactivity_days == 0 {
        return None;
    }
    let since = last_login.unwrap_or(created_at);
    let idle = now.as_nanos().saturating_sub(since.as_nanos());
    (idle >= i64::from(inactivity_days).saturating_mul(DAY)).then_some(Deactivation::Inactive)
}

/// What a campaign's client admin decided for one grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemDecision {
    /// Not yet decided.
    Open,
    /// Confirmed: the grant stays.
    Confirmed,
    /// Removed: the grant was revoked.
    Removed,
}

/// The shortest and longest campaign, in days: time to answer, and not an open door.
pub const CAMPAIGN_DAYS: (u32, u32) = (1, 90);

/// Checks a new campaign's deadline at `now`.
pub fn check_deadline(deadline: Timestamp, now: Timestamp) -> Result<(), crate::GovernError> {
    let span = deadline.as_nanos().saturating_sub(now.as_nanos());
    let (min, max) = CAMPAIGN_DAYS;
    if span < i64::from(min) * DAY || span > i64::from(max) * DAY {
        return Err(crate::GovernError::Grant(format!(
            "a review's deadline is {min} to {max} days ahead"
        )));
    }
    Ok(())
}

/// Whether a campaign with `deadline` is due at `now`: its undecided grants are then
/// suspended and it closes.
pub fn due(deadline: Timestamp, now: Timestamp) -> bool {
    deadline <= now
}

/// Whether the grant of an item in `decision` is suspended when its campaign is due.
pub fn suspends(decision: ItemDecision) -> bool {
    decision == ItemDecision::Open
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Tier;

    fn t(days: i64) -> Timestamp {
        Timestamp::from_nanos(1_800_000_000_000_000_000 + days * DAY)
    }

    #[test]
    fn accounts_are_deactivated_for_inactivity_or_a_contract_end() {
        let l1 = Role::ProviderAnalyst(Tier::L1);
        // Signed in 89 days ago: still active; 90: deactivated.
        assert_eq!(deactivation(l1, t(0), Some(t(1)), None, 90, t(90)), None);
        assert_eq!(
            deactivation(l1, t(0), Some(t(1)), None, 90, t(91)),
            Some(Deactivation::Inactive)
        );
        // Never signed in: counted from creation.
        assert_eq!(deactivation(l1, t(0), None, None, 90, t(89)), None);
        assert_eq!(
            deactivation(l1, t(0), None, None, 90, t(90)),
            Some(Deactivation::Inactive)
        );
        // Zero days: no inactivity rule.
        assert_eq!(deactivation(l1, t(0), None, None, 0, t(9000)), None);
        // The contract end, to the nanosecond, and before inactivity.
        let end = t(30);
        assert_eq!(
            deactivation(l1, t(0), Some(t(29)), Some(end), 90, t(29)),
            None
        );
        assert_eq!(
            deactivation(l1, t(0), Some(t(29)), Some(end), 90, end),
            Some(Deactivation::ContractEnded)
        );
        assert_eq!(
            deactivation(l1, t(0), None, Some(end), 90, t(200)),
            Some(Deactivation::ContractEnded)
        );
        let just_before = Timestamp::from_nanos(end.as_nanos() - 1);
        assert_eq!(
            deactivation(l1, t(0), Some(t(29)), Some(end), 90, just_before),
            None
        );
        // The operator, never.
        assert_eq!(
            deactivation(Role::Operator, t(0), None, Some(end), 90, t(500)),
            None
        );
        assert_eq!(Deactivation::Inactive.as_str(), "inactive");
        assert_eq!(Deactivation::ContractEnded.as_str(), "contract-ended");
    }

    #[test]
    fn campaigns_have_a_sane_deadline_and_suspend_what_was_not_confirmed() {
        assert!(check_deadline(t(1), t(0)).is_ok());
        assert!(check_deadline(t(90), t(0)).is_ok());
        assert!(check_deadline(Timestamp::from_nanos(t(1).as_nanos() - 1), t(0)).is_err());
        assert!(check_deadline(Timestamp::from_nanos(t(90).as_nanos() + 1), t(0)).is_err());
        assert!(check_deadline(t(-1), t(0)).is_err());
        assert!(!due(t(10), Timestamp::from_nanos(t(10).as_nanos() - 1)));
        assert!(due(t(10), t(10)));
        assert!(due(t(10), t(11)));
        assert!(suspends(ItemDecision::Open));
        assert!(!suspends(ItemDecision::Confirmed));
        assert!(!suspends(ItemDecision::Removed));
    }
}
