//! Time ranges of a search: absolute RFC 3339 times or times relative to now.

use crate::StoreError;
use vigie_event::time::parse_rfc3339;
use vigie_event::{Timestamp, UtcOffset};

/// The time window a search or aggregation covers: `from` inclusive, `to` exclusive; an
/// open end is unbounded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimeRange {
    /// First instant included.
    pub from: Option<Timestamp>,
    /// First instant excluded.
    pub to: Option<Timestamp>,
}

impl TimeRange {
    /// Every time.
    pub const ALL: TimeRange = TimeRange {
        from: None,
        to: None,
    };

    /// `[from, to)`.
    pub fn between(from: Timestamp, to: Timestamp) -> TimeRange {
        TimeRange {
            from: Some(from),
            to: Some(to),
        }
    }

    /// Parses the two ends as written by a user (see [`parse_time`]); an empty text is an
    /// open end.
    pub fn parse(from: &str, to: &str, now: Timestamp) -> Result<TimeRange, StoreError> {
        let end = |text: &str| {
            let text = text.trim();
            if text.is_empty() {
                Ok(None)
            } else {
                parse_time(text, now).map(Some)
            }
        };
        Ok(TimeRange {
            from: end(from)?,
            to: end(to)?,
        })
    }

    /// Whether `t` lies in the range.
    pub fn contains(&self, t: Timestamp) -> bool {
        self.from.is_none_or(|f| t >= f) && self.to.is_none_or(|e| t < e)
    }

    /// Whether the range meets `[start, end)`.
    pub fn overlaps(&self, start: Timestamp, end: Timestamp) -> bool {
        self.from.is_none_or(|f| f < end) && self.to.is_none_or(|e| e > start)
    }
}

/// Parses an absolute RFC 3339 time (UTC when it has no offset), `now`, or a time relative to
/// `now`: `-30s`, `-15m`, `-24h`, `-7d`, `-2w`, optionally written `now-24h`.
pub fn parse_time(text: &str, now: Timestamp) -> Result<Timestamp, StoreError> {
    let err = |reason: String| StoreError::Time {
        input: text.chars().take(64).collect(),
        reason,
    };
    let rel = text.strip_prefix("now").unwrap_or(text);
    if rel.is_empty() {
        return Ok(now);
    }
    if let Some(amount) = rel.strip_prefix('-') {
        let unit_at = amount
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(|| err("a relative time needs a unit (s, m, h, d, w)".into()))?;
        let (digits, unit) = amount.split_at(unit_at);
        let n: i64 = digits
            .parse()
            .map_err(|_| err("a relative time needs a number before its unit".into()))?;
        let unit_nanos: i64 = match unit {
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "d" => 86_400_000_000_000,
            "w" => 7 * 86_400_000_000_000,
            other => return Err(err(format!("unknown unit {other:?}"))),
        };
        let back = n
            .checked_mul(unit_nanos)
            .and_then(|d| now.as_nanos().checked_sub(d))
            .ok_or_else(|| err("too far in the past".into()))?;
        return Ok(Timestamp::from_nanos(back));
    }
    parse_rfc3339(text, UtcOffset::UTC)
        .map(|(t, _)| t)
        .map_err(|e| err(format!("expected {} at byte {}", e.expected, e.offset)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000_000_000;

    #[test]
    fn relative_and_absolute_times() {
        let now = Timestamp::from_nanos(1_000 * H);
        assert_eq!(parse_time("-24h", now).unwrap().as_nanos(), 976 * H);
        assert_eq!(parse_time("now-1h", now).unwrap().as_nanos(), 999 * H);
        assert_eq!(parse_time("now", now).unwrap(), now);
        assert_eq!(parse_time("-2d", now).unwrap().as_nanos(), 952 * H);
        assert_eq!(
            parse_time("-30m", now).unwrap().as_nanos(),
            1_000 * H - H / 2
        );
        assert_eq!(
            parse_time("1970-01-02T00:00:00Z", now).unwrap().as_nanos(),
            24 * H
        );
        assert_eq!(
            parse_time("1970-01-02T02:00:00+02:00", now)
                .unwrap()
                .as_nanos(),
            24 * H
        );
        for bad in [
            "-24",
            "-h",
            "-5y",
            "yesterday",
            "2026-13-01T00:00:00Z",
            "-99999999999999w",
        ] {
            let e = parse_time(bad, now).unwrap_err();
            assert!(e.to_string().contains(bad.trim_start_matches("now")), "{e}");
        }
    }

    #[test]
    fn ranges_are_half_open() {
        let r = TimeRange::between(Timestamp::from_nanos(10), Timestamp::from_nanos(20));
        assert!(r.contains(Timestamp::from_nanos(10)));
        assert!(!r.contains(Timestamp::from_nanos(20)));
        assert!(r.overlaps(Timestamp::from_nanos(19), Timestamp::from_nanos(30)));
        assert!(!r.overlaps(Timestamp::from_nanos(20), Timestamp::from_nanos(30)));
        assert!(TimeRange::ALL.overlaps(Timestamp::from_nanos(0), Timestamp::from_nanos(1)));
        let parsed = TimeRange::parse("-1h", "", Timestamp::from_nanos(2 * H)).unwrap();
        assert_eq!(parsed.from, Some(Timestamp::from_nanos(H)));
        assert_eq!(parsed.to, None);
    }
}
