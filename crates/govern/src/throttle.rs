//! Login throttling: how long a caller must wait after failed attempts.
//!
//! The server keeps, per account and per source address separately, the count of
//! consecutive failures and the time of the last one, and asks [`check`] before it spends
//! an Argon2 hash on an attempt. The first [`FREE_FAILURES`] failures cost nothing (typos);
//! then the wait doubles from one second up to [`MAX_WAIT_SECS`]. A success resets the
//! count. Throttling per address slows a guesser spreading over accounts; per account, one
//! spreading over addresses; neither locks the account out for good (which would let
//! anyone lock anyone out).

use std::time::Duration;

use vigie_event::Timestamp;

/// Consecutive failures allowed without a wait.
pub const FREE_FAILURES: u32 = 5;
/// The longest wait, in seconds.
pub const MAX_WAIT_SECS: u64 = 15 * 60;

/// The wait after `failures` consecutive failures.
pub fn wait_after(failures: u32) -> Duration {
    if failures < FREE_FAILURES {
        return Duration::ZERO;
    }
    let doublings = failures - FREE_FAILURES;
    let secs = if doublings >= 10 {
        MAX_WAIT_SECS
    } else {
        (1u64 << doublings).min(MAX_WAIT_SECS)
    };
    Duration::from_secs(secs)
}

/// Whether an attempt at `now` may go ahead after `failures` consecutive failures, the
/// last at `last_failure`; otherwise how long is left to wait.
pub fn check(
    failures: u32,
    last_failure: Option<Timestamp>,
    now: Timestamp,
) -> Result<(), Duration> {
    let wait = wait_after(failures);
    let Some(last) = last_failure else {
        return Ok(());
    };
    let elapsed = now.as_nanos().saturating_sub(last.as_nanos());
    let wait_nanos = i64::try_from(wait.as_nanos()).unwrap_or(i64::MAX);
    if elapsed >= wait_nanos {
        Ok(())
    } else {
        Err(Duration::from_nanos(
            u64::try_from(wait_nanos - elapsed).unwrap_or(0),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    #[test]
    fn waits_start_after_the_free_failures_and_double_to_a_cap() {
        for f in 0..FREE_FAILURES {
            assert_eq!(wait_after(f), Duration::ZERO, "{f}");
        }
        assert_eq!(wait_after(5), Duration::from_secs(1));
        assert_eq!(wait_after(6), Duration::from_secs(2));
        assert_eq!(wait_after(7), Duration::from_secs(4));
        assert_eq!(wait_after(14), Duration::from_secs(512));
        assert_eq!(wait_after(15), Duration::from_secs(MAX_WAIT_SECS));
        assert_eq!(wait_after(u32::MAX), Duration::from_secs(MAX_WAIT_SECS));
        assert_eq!(MAX_WAIT_SECS, 900);
    }

    #[test]
    fn an_attempt_waits_out_the_time_left() {
        let last = Timestamp::from_nanos(1_000 * S);
        let at = |secs: i64| Timestamp::from_nanos(1_000 * S + secs * S);
        assert_eq!(check(0, None, at(0)), Ok(()));
        assert_eq!(check(4, Some(last), at(0)), Ok(()));
        assert_eq!(
            check(7, None, at(0)),
            Ok(()),
            "no failure time: nothing to wait for"
        );
        // 7 failures: 4 s.
        assert_eq!(check(7, Some(last), at(1)), Err(Duration::from_secs(3)));
        assert_eq!(
            check(7, Some(last), Timestamp::from_nanos(at(4).as_nanos() - 1)),
            Err(Duration::from_nanos(1))
        );
        assert_eq!(check(7, Some(last), at(4)), Ok(()), "exactly waited out");
        assert_eq!(check(7, Some(last), at(5)), Ok(()));
        // A clock that went backwards does not shorten the wait.
        assert_eq!(check(7, Some(last), at(-10)), Err(Duration::from_secs(14)));
    }
}
