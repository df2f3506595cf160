//! When a source has gone silent (issue 27): a monitored system that stops sending is
//! itself an incident (DORA, and good sense).
//!
//! Decisions:
//! - Silence is measured on receive time (when Vigie last heard from the source), not on
//!   the events' own times: a source with a wrong clock still speaks.
//! - A source's threshold is the one set by a person, else learnt from its last 7 days of
//!   hourly counts: twice its longest run of empty hours, at least [`MIN_LEARNT`] and at
//!   most [`MAX_LEARNT`]; a source seen in fewer than [`MIN_HOURS`] distinct hours has not
//!   taught anything yet and raises nothing (a laptop seen once is not a monitored system).

/// The shortest learnt threshold: one hour.
pub const MIN_LEARNT: u64 = 3600;

/// The longest learnt threshold: three days.
pub const MAX_LEARNT: u64 = 3 * 86_400;

/// Hours with events a source needs before its threshold is learnt.
pub const MIN_HOURS: usize = 12;

/// The threshold learnt from `hours` (events per hour, oldest first, up to the current
/// hour), in seconds; `None` when there is not enough to learn from.
pub fn learnt(hours: &[u64]) -> Option<u64> {
    let active = hours.iter().filter(|c| **c > 0).count();
    if active < MIN_HOURS {
        return None;
    }
    // The longest gap between active hours (leading hours before the first event are
    // not a gap: the source did not exist yet).
    let first = hours.iter().position(|c| *c > 0)?;
    let mut longest = 0u64;
    let mut run = 0u64;
    for c in &hours[first..] {
        if *c == 0 {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    Some((2 * longest * 3600).clamp(MIN_LEARNT, MAX_LEARNT))
}

/// The threshold in force: the one set, else the learnt one.
pub fn threshold(set: Option<u64>, hours: &[u64]) -> Option<u64> {
    set.or_else(|| learnt(hours))
}

/// Whether a source last heard at `last` (nanoseconds) is silent at `now` under
/// `threshold` seconds.
pub fn is_silent(last: i64, threshold: u64, now: i64) -> bool {
    let limit = i64::try_from(threshold)
        .unwrap_or(i64::MAX)
        .saturating_mul(1_000_000_000);
    now.saturating_sub(last) > limit
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_steady_source_learns_an_hour() {
        assert_eq!(learnt(&[5; 168]), Some(MIN_LEARNT));
        assert_eq!(threshold(None, &[5; 168]), Some(MIN_LEARNT));
    }

    #[test]
    fn gaps_teach_twice_their_length() {
        // Business hours: 10 h on, 14 h off, for a week.
        let mut h = Vec::new();
        for _ in 0..7 {
            h.extend([3u64; 10]);
            h.extend([0u64; 14]);
        }
        assert_eq!(learnt(&h), Some(28 * 3600));
        // Capped at three days.
        let mut long = vec![1u64; 12];
        long.extend([0u64; 100]);
        long.push(1);
        assert_eq!(learnt(&long), Some(MAX_LEARNT));
    }

    #[test]
    fn too_little_to_learn_and_leading_silence() {
        assert_eq!(learnt(&[1; MIN_HOURS - 1]), None);
        // Quiet hours are not hours of activity, however many.
        let mut sparse = vec![0u64; 100];
        sparse.extend([1u64; MIN_HOURS - 1]);
        assert_eq!(learnt(&sparse), None);
        assert_eq!(learnt(&[]), None);
        let mut h = vec![0u64; 100];
        h.extend([1u64; MIN_HOURS]);
        assert_eq!(
            learnt(&h),
            Some(MIN_LEARNT),
            "before its first event it did not exist"
        );
        assert_eq!(threshold(Some(60), &[]), Some(60), "set wins");
        assert_eq!(threshold(Some(60), &[5; 168]), Some(60));
    }

    #[test]
    fn silence_is_past_the_threshold() {
        let s = 1_000_000_000i64;
        assert!(!is_silent(0, 10, 10 * s));
        assert!(is_silent(0, 10, 10 * s + 1));
        assert!(!is_silent(0, u64::MAX, i64::MAX));
        assert!(
            !is_silent(100 * s, 10, 0),
            "a last time in the future is not silence"
        );
    }
}
