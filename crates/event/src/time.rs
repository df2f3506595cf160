//! Timestamps: UTC nanoseconds plus the offset the source wrote.
//!
//! Parsing is hand-written because it sits on the ingest hot path (every syslog line and
//! JSON event carries one) and because sources deviate from RFC 3339 in known ways: a space
//! instead of `T`, no offset, more than nine fractional digits, `±hhmm` offsets. Calendar
//! arithmetic uses the days-from-civil algorithm (proleptic Gregorian), so no time-zone
//! database is involved: Vigie stores UTC and keeps the source's offset beside it.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// An instant, in nanoseconds since 1970-01-01T00:00:00Z.
///
/// `i64` nanoseconds cover the years 1678 to 2262; parsers reject dates outside.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(i64);

/// The UTC offset a source wrote its time in, in seconds east of UTC.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Debug)]
pub struct UtcOffset(i32);

impl UtcOffset {
    /// UTC.
    pub const UTC: UtcOffset = UtcOffset(0);

    /// An offset of `seconds` east of UTC; `None` beyond ±24 h.
    pub fn from_seconds(seconds: i32) -> Option<UtcOffset> {
        (seconds.abs() < 86_400).then_some(UtcOffset(seconds))
    }

    /// Seconds east of UTC.
    pub fn seconds(self) -> i32 {
        self.0
    }
}

impl fmt::Display for UtcOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("Z");
        }
        let sign = if self.0 < 0 { '-' } else { '+' };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{:02}:{:02}", abs / 3600, abs / 60 % 60)
    }
}

const NANOS_PER_SEC: i64 = 1_000_000_000;

/// Days from 1970-01-01 to the given civil date (proleptic Gregorian).
pub(crate) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count from 1970-01-01.
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

/// A broken-down civil time, as sources write it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CivilTime {
    /// Year (1678..=2261).
    pub year: i64,
    /// Month 1..=12.
    pub month: u32,
    /// Day 1..=31.
    pub day: u32,
    /// Hour 0..=23.
    pub hour: u32,
    /// Minute 0..=59.
    pub minute: u32,
    /// Second 0..=60 (a leap second is folded into the next second).
    pub second: u32,
    /// Nanoseconds 0..1e9.
    pub nanos: u32,
}

impl CivilTime {
    /// The instant this civil time denotes at `offset`; `None` when a component is out of
    /// range.
    pub fn to_timestamp(&self, offset: UtcOffset) -> Option<Timestamp> {
        if !(1678..=2261).contains(&self.year)
            || !(1..=12).contains(&self.month)
            || self.day == 0
            || self.day > days_in_month(self.year, self.month)
            || self.hour > 23
            || self.minute > 59
            || self.second > 60
            || self.nanos >= 1_000_000_000
        {
            return None;
        }
        let days = days_from_civil(self.year, self.month, self.day);
        let secs = days * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
            - i64::from(offset.0);
        secs.checked_mul(NANOS_PER_SEC)?
            .checked_add(i64::from(self.nanos))
            .map(Timestamp)
    }
}

/// Where and why a timestamp failed to parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeError {
    /// Byte offset in the timestamp text.
    pub offset: usize,
    /// What was expected there.
    pub expected: &'static str,
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn err(&self, expected: &'static str) -> TimeError {
        TimeError {
            offset: self.i,
            expected,
        }
    }

    fn digits(&mut self, n: usize, expected: &'static str) -> Result<u32, TimeError> {
        let mut v = 0u32;
        for _ in 0..n {
            match self.b.get(self.i) {
                Some(d @ b'0'..=b'9') => v = v * 10 + u32::from(d - b'0'),
                _ => return Err(self.err(expected)),
            }
            self.i += 1;
        }
        Ok(v)
    }

    fn byte(&mut self, want: u8, expected: &'static str) -> Result<(), TimeError> {
        if self.b.get(self.i) == Some(&want) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.err(expected))
        }
    }

    fn fraction(&mut self) -> u32 {
        let mut nanos = 0u32;
        let mut scale = 100_000_000u32;
        while let Some(d @ b'0'..=b'9') = self.b.get(self.i) {
            // Digits past nanosecond precision are read and dropped.
            nanos += u32::from(d - b'0') * scale;
            scale /= 10;
            self.i += 1;
        }
        nanos
    }
}

/// Parses an RFC 3339 timestamp and its common deviations.
///
/// Accepts `YYYY-MM-DD[T ]hh:mm:ss[.fraction][Z|±hh:mm|±hhmm|±hh]`. Returns the instant and
/// the offset written, or `None` for the offset when the text had none; such times are taken
/// at `default_offset`.
pub fn parse_rfc3339(
    text: &str,
    default_offset: UtcOffset,
) -> Result<(Timestamp, Option<UtcOffset>), TimeError> {
    let mut c = Cursor {
        b: text.as_bytes(),
        i: 0,
    };
    let year = c.digits(4, "a four-digit year")?;
    c.byte(b'-', "'-' after the year")?;
    let month = c.digits(2, "a two-digit month")?;
    c.byte(b'-', "'-' after the month")?;
    let day = c.digits(2, "a two-digit day")?;
    match c.b.get(c.i) {
        Some(b'T' | b't' | b' ') => c.i += 1,
        _ => return Err(c.err("'T' between date and time")),
    }
    let hour = c.digits(2, "a two-digit hour")?;
    c.byte(b':', "':' after the hour")?;
    let minute = c.digits(2, "a two-digit minute")?;
    c.byte(b':', "':' after the minute")?;
    let second = c.digits(2, "two-digit seconds")?;
    let mut nanos = 0;
    if matches!(c.b.get(c.i), Some(b'.' | b',')) {
        c.i += 1;
        if !matches!(c.b.get(c.i), Some(b'0'..=b'9')) {
            return Err(c.err("fractional digits"));
        }
        nanos = c.fraction();
    }
    let offset = match c.b.get(c.i) {
        None => None,
        Some(b'Z' | b'z') => {
            c.i += 1;
            Some(UtcOffset::UTC)
        }
        Some(sign @ (b'+' | b'-')) => {
            let negative = *sign == b'-';
            c.i += 1;
            let hours = c.digits(2, "a two-digit offset hour")?;
            let minutes = match c.b.get(c.i) {
                Some(b':') => {
                    c.i += 1;
                    c.digits(2, "two-digit offset minutes")?
                }
                Some(b'0'..=b'9') => c.digits(2, "two-digit offset minutes")?,
                _ => 0,
            };
            if hours > 23 || minutes > 59 {
                return Err(TimeError {
                    offset: c.i - 1,
                    expected: "an offset below 24:00",
                });
            }
            let secs = (hours * 3600 + minutes * 60) as i32;
            Some(UtcOffset(if negative { -secs } else { secs }))
        }
        Some(_) => return Err(c.err("'Z', an offset or the end of the timestamp")),
    };
    if c.i != c.b.len() {
        return Err(c.err("the end of the timestamp"));
    }
    let civil = CivilTime {
        year: i64::from(year),
        month,
        day,
        hour,
        minute,
        second,
        nanos,
    };
    let ts = civil
        .to_timestamp(offset.unwrap_or(default_offset))
        .ok_or(TimeError {
            offset: 0,
            expected: "a valid calendar date and time between 1678 and 2261",
        })?;
    Ok((ts, offset))
}

impl Timestamp {
    /// The Unix epoch.
    pub const EPOCH: Timestamp = Timestamp(0);

    /// The current time.
    pub fn now() -> Timestamp {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp(i64::try_from(since.as_nanos()).unwrap_or(i64::MAX))
    }

    /// From nanoseconds since the epoch.
    pub const fn from_nanos(nanos: i64) -> Timestamp {
        Timestamp(nanos)
    }

    /// Nanoseconds since the epoch.
    pub const fn as_nanos(self) -> i64 {
        self.0
    }

    /// Milliseconds since the epoch (floor).
    pub fn as_millis(self) -> i64 {
        self.0.div_euclid(1_000_000)
    }

    /// The civil time of this instant at `offset`.
    pub fn to_civil(self, offset: UtcOffset) -> CivilTime {
        let local = self.0 + i64::from(offset.0) * NANOS_PER_SEC;
        let secs = local.div_euclid(NANOS_PER_SEC);
        let nanos = local.rem_euclid(NANOS_PER_SEC) as u32;
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400) as u32;
        let (year, month, day) = civil_from_days(days);
        CivilTime {
            year,
            month,
            day,
            hour: sod / 3600,
            minute: sod / 60 % 60,
            second: sod % 60,
            nanos,
        }
    }

    /// RFC 3339 text at `offset`, with the fraction trimmed to the precision needed.
    pub fn to_rfc3339(self, offset: UtcOffset) -> String {
        let c = self.to_civil(offset);
        let mut out = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            c.year, c.month, c.day, c.hour, c.minute, c.second
        );
        if c.nanos != 0 {
            let frac = format!("{:09}", c.nanos);
            out.push('.');
            out.push_str(frac.trim_end_matches('0'));
        }
        out.push_str(&offset.to_string());
        out
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339(UtcOffset::UTC))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339(UtcOffset::UTC))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Timestamp {
        parse_rfc3339(s, UtcOffset::UTC).unwrap().0
    }

    #[test]
    fn civil_round_trip_over_four_centuries() {
        for days in (-200_000..200_000).step_by(37) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn parses_rfc3339_and_deviations() {
        assert_eq!(parse("1970-01-01T00:00:00Z"), Timestamp::EPOCH);
        assert_eq!(
            parse("2026-04-17T05:24:53.092051Z").to_rfc3339(UtcOffset::UTC),
            "2026-04-17T05:24:53.092051Z"
        );
        assert_eq!(
            parse("2026-04-17T07:24:53+02:00"),
            parse("2026-04-17T05:24:53Z")
        );
        assert_eq!(
            parse("2026-04-17 05:24:53.079"),
            parse("2026-04-17T05:24:53.079Z")
        );
        assert_eq!(
            parse("2026-04-17T05:24:53-0130"),
            parse("2026-04-17T06:54:53Z")
        );
        assert_eq!(
            parse("2026-04-17T05:24:53.1234567891Z").as_nanos() % NANOS_PER_SEC,
            123_456_789
        );
        let (_, offset) = parse_rfc3339("2026-01-01T00:00:00+05:30", UtcOffset::UTC).unwrap();
        assert_eq!(offset.unwrap().to_string(), "+05:30");
    }

    #[test]
    fn rejects_bad_timestamps_with_position() {
        let err = parse_rfc3339("2026-13-01T00:00:00Z", UtcOffset::UTC).unwrap_err();
        assert!(err.expected.contains("calendar"));
        let err = parse_rfc3339("2026-02-30T00:00:00Z", UtcOffset::UTC).unwrap_err();
        assert!(err.expected.contains("calendar"));
        let err = parse_rfc3339("2026-01-01X00:00:00Z", UtcOffset::UTC).unwrap_err();
        assert_eq!(err.offset, 10);
        let err = parse_rfc3339("2026-01-01T00:00:00Zjunk", UtcOffset::UTC).unwrap_err();
        assert_eq!(err.offset, 20);
        assert!(parse_rfc3339("", UtcOffset::UTC).is_err());
    }

    #[test]
    fn default_offset_applies_when_none_written() {
        let plus2 = UtcOffset::from_seconds(7200).unwrap();
        let (ts, written) = parse_rfc3339("2026-01-01T02:00:00", plus2).unwrap();
        assert_eq!(written, None);
        assert_eq!(ts, parse("2026-01-01T00:00:00Z"));
    }
}
