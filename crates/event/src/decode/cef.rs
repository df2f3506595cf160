//! ArcSight Common Event Format (CEF), optionally behind a syslog header.
//!
//! `CEF:Version|Device Vendor|Device Product|Device Version|Device Event Class ID|Name|Severity|Extension`
//!
//! Header fields become `cef_version`, `deviceVendor`, `deviceProduct`, `deviceVersion`,
//! `deviceEventClassId`, `name`, `severity` (ArcSight's own key names); header escapes are
//! `\|` and `\\`. Extension pairs keep their keys (`src`, `suser`, `cs1Label`, …); a value runs
//! until the space before the next `key=`, and its escapes are `\=`, `\\`, `\n` and `\r`
//! (any other backslash is kept). A syslog header before `CEF:` is decoded too (host, time).
//! The event time is `rt` (epoch milliseconds, or `MMM dd yyyy HH:mm:ss[.SSS]`), else `end`,
//! else the syslog time.

use bytes::Bytes;

use super::{Decoder, Facts, Marked};
use crate::error::EventError;
use crate::event::{Event, Format};
use crate::fields::Scalar;
use crate::time::{Timestamp, UtcOffset, parse_rfc3339};

/// CEF header names, in order after the version.
const CEF_HEADER: [&str; 6] = [
    "deviceVendor",
    "deviceProduct",
    "deviceVersion",
    "deviceEventClassId",
    "name",
    "severity",
];

/// Splits `n` pipe-separated header fields starting at `start`, unescaping `\|` and `\\`.
/// Returns the fields and the offset after the last `|`.
pub(crate) fn split_header(
    format: Format,
    b: &[u8],
    start: usize,
    n: usize,
) -> Result<(Vec<String>, usize), EventError> {
    let mut out = Vec::with_capacity(n);
    let mut i = start;
    let mut cur = Vec::new();
    while out.len() < n {
        match b.get(i) {
            None => {
                return Err(EventError::syntax(
                    format,
                    b,
                    i,
                    "'|' ending a header field",
                ));
            }
            Some(b'\\') if matches!(b.get(i + 1), Some(b'|' | b'\\')) => {
                cur.push(b[i + 1]);
                i += 2;
            }
            Some(b'|') => {
                out.push(String::from_utf8_lossy(&cur).into_owned());
                cur.clear();
                i += 1;
            }
            Some(c) => {
                cur.push(*c);
                i += 1;
            }
        }
    }
    Ok((out, i))
}

/// A time in a CEF/LEEF field: epoch milliseconds, RFC 3339, or `MMM dd yyyy HH:mm:ss[.SSS]`.
pub(crate) fn device_time(text: &str, offset: UtcOffset) -> Option<(Timestamp, Option<UtcOffset>)> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|c| c.is_ascii_digit()) {
        let ms: i64 = text.parse().ok()?;
        return Some((Timestamp::from_nanos(ms.checked_mul(1_000_000)?), None));
    }
    if let Ok(t) = parse_rfc3339(text, offset) {
        return Some(t);
    }
    let mut parts = text.split_whitespace();
    let month = parts.next()?;
    let month = super::syslog::MONTHS
        .iter()
        .position(|m| m.eq_ignore_ascii_case(month.as_bytes()))? as u32
        + 1;
    let day: u32 = parts.next()?.parse().ok()?;
    let year: i64 = parts.next()?.parse().ok()?;
    let clock = parts.next()?;
    let (hms, frac) = clock.split_once('.').unwrap_or((clock, ""));
    let mut hms = hms.split(':').map(|x| x.parse::<u32>().ok());
    let (hour, minute, second) = (hms.next()??, hms.next()??, hms.next()??);
    let nanos = if frac.is_empty() {
        0
    } else {
        let digits: String = frac.chars().take(9).collect();
        let v: u32 = digits.parse().ok()?;
        v * 10u32.pow(9 - digits.len() as u32)
    };
    let civil = crate::time::CivilTime {
        year,
        month,
        day,
        hour,
        minute,
        second,
        nanos,
    };
    Some((civil.to_timestamp(offset)?, None))
}

/// Whether `b[i..]` starts an extension key followed by '='.
fn key_at(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i;
    while b
        .get(j)
        .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'[' | b']' | b'-'))
    {
        j += 1;
    }
    (j > i && b.get(j) == Some(&b'=')).then_some(j)
}

impl Decoder {
    /// Decodes one CEF message, with or without a syslog header before `CEF:`.
    pub fn decode_cef(&mut self, input: Bytes) -> Result<Event, EventError> {
        let f = Format::Cef;
        let Marked {
            end,
            at: cef_at,
            mut fields,
            syslog_time,
        } = self.marked(f, &input, "CEF:")?;
        let b = &input[..end];
        let version_start = cef_at + 4;
        let (header, ext_start) = split_header(f, b, version_start, 7)?;
        self.put(
            &mut fields,
            f,
            version_start,
            "cef_version",
            Scalar::Str(&header[0]),
        )?;
        for (name, value) in CEF_HEADER.iter().zip(&header[1..]) {
            let scalar = if *name == "severity" {
                Scalar::Num(value)
            } else {
                Scalar::Str(value)
            };
            self.put(&mut fields, f, version_start, name, scalar)?;
        }
        // Extension: key=value pairs; a value runs to the space before the next key=.
        let mut i = ext_start;
        while i < b.len() && b[i] == b' ' {
            i += 1;
        }
        while i < b.len() {
            let Some(eq) = key_at(b, i) else {
                return Err(EventError::syntax(
                    f,
                    b,
                    i,
                    "an extension key followed by '='",
                ));
            };
            let key = String::from_utf8_lossy(&b[i..eq]).into_owned();
            let mut j = eq + 1;
            let mut value = Vec::new();
            while j < b.len() {
                match b[j] {
                    b'\\' => match b.get(j + 1) {
                        Some(b'=') => {
                            value.push(b'=');
                            j += 2;
                        }
                        Some(b'\\') => {
                            value.push(b'\\');
                            j += 2;
                        }
                        Some(b'n') => {
                            value.push(b'\n');
                            j += 2;
                        }
                        Some(b'r') => {
                            value.push(b'\r');
                            j += 2;
                        }
                        _ => {
                            value.push(b'\\');
                            j += 1;
                        }
                    },
                    b' ' if key_at(b, j + 1).is_some() => break,
                    c => {
                        value.push(c);
                        j += 1;
                    }
                }
            }
            while value.last() == Some(&b' ') {
                value.pop();
            }
            let value = String::from_utf8_lossy(&value);
            self.put(&mut fields, f, i, &key, Scalar::Str(&value))?;
            i = j + 1;
        }
        let time = ["rt", "end"]
            .iter()
            .find_map(|name| {
                let text = fields.get_by_name(name)?.as_text()?;
                device_time(text, self.origin.default_offset)
            })
            .or(syslog_time);
        let host = ["dvchost", "hostname"]
            .iter()
            .filter_map(|n| crate::field::FieldId::lookup(n))
            .find(|id| fields.get(*id).is_some());
        let facts = Facts {
            time,
            host,
            ..Facts::default()
        };
        Ok(self.finish(f, fields, input, &facts))
    }
}

/// Renders a CEF message with correct escaping (tests, benches, demo data).
pub fn render_cef(header: &[&str; 7], extension: &[(&str, &str)]) -> String {
    let mut out = String::from("CEF:");
    for h in header {
        out.push_str(&h.replace('\\', "\\\\").replace('|', "\\|"));
        out.push('|');
    }
    for (i, (k, v)) in extension.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(
            &v.replace('\\', "\\\\")
                .replace('=', "\\=")
                .replace('\n', "\\n")
                .replace('\r', "\\r"),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::decode::tests::decoder;

    fn field(e: &Event, name: &str) -> Option<String> {
        e.fields.get_by_name(name)?.as_text().map(str::to_owned)
    }

    #[test]
    fn header_extension_and_escapes() {
        let line = r"<134>Feb 17 13:40:03 fw01 CEF:0|Security|threat\|manager|1.0|100|worm successfully stopped|10|src=10.0.0.1 dst=2.1.2.2 spt=1232 msg=a\=b c\\d\nnext cs1Label=Rule Name cs1=Block all rt=1767225600123";
        let e = decoder()
            .decode_cef(Bytes::copy_from_slice(line.as_bytes()))
            .unwrap();
        assert_eq!(e.format, Format::Cef);
        assert_eq!(field(&e, "deviceVendor").as_deref(), Some("Security"));
        assert_eq!(
            field(&e, "deviceProduct").as_deref(),
            Some("threat|manager")
        );
        assert_eq!(field(&e, "severity").as_deref(), Some("10"));
        assert_eq!(field(&e, "src").as_deref(), Some("10.0.0.1"));
        assert_eq!(field(&e, "msg").as_deref(), Some("a=b c\\d\nnext"));
        assert_eq!(field(&e, "cs1Label").as_deref(), Some("Rule Name"));
        assert_eq!(field(&e, "cs1").as_deref(), Some("Block all"));
        assert_eq!(field(&e, "hostname").as_deref(), Some("fw01"));
        assert_eq!(e.host.as_deref(), Some("fw01"));
        assert_eq!(e.time.to_string(), "2026-01-01T00:00:00.123Z");
    }

    #[test]
    fn device_time_forms() {
        let utc = UtcOffset::UTC;
        let t = |s| device_time(s, utc).map(|(ts, _)| ts.to_string());
        assert_eq!(
            t("1767225600123").as_deref(),
            Some("2026-01-01T00:00:00.123Z")
        );
        assert_eq!(
            t("nov 22 2026 08:15:02.5").as_deref(),
            Some("2026-11-22T08:15:02.5Z")
        );
        assert_eq!(
            t("2026-11-22T08:15:02Z").as_deref(),
            Some("2026-11-22T08:15:02Z")
        );
        assert_eq!(t("Foo 22 2026 08:15:02"), None);
        assert_eq!(t("Nov 31 2026 08:15:02"), None);
    }

    #[test]
    fn errors() {
        let mut d = decoder();
        let err = d.decode_cef(Bytes::from_static(b"hello")).unwrap_err();
        assert_eq!(err.offset(), Some(0));
        let err = d
            .decode_cef(Bytes::from_static(b"CEF:0|a|b|c"))
            .unwrap_err();
        assert_eq!(err.offset(), Some(11));
        let err = d
            .decode_cef(Bytes::from_static(b"CEF:0|a|b|c|d|e|5|=x"))
            .unwrap_err();
        assert_eq!(err.offset(), Some(18));
        assert!(
            d.decode_cef(Bytes::from_static(b"CEF:0|a|b|c|d|e|Low|"))
                .is_ok()
        );
    }

    proptest! {
        #[test]
        fn round_trip(
            header in proptest::array::uniform7("[ -~]{0,12}"),
            pairs in proptest::collection::vec(("[a-zA-Z][a-zA-Z0-9]{0,8}", "[ -~\n]{0,20}"), 0..6),
        ) {
            let mut seen = std::collections::HashSet::new();
            let pairs: Vec<(String, String)> = pairs
                .into_iter()
                .filter(|(k, _)| seen.insert(k.clone()) && !CEF_HEADER.contains(&k.as_str()) && k != "cef_version")
                .map(|(k, v)| (k, v.trim_end_matches(' ').to_owned()))
                .collect();
            let h: [&str; 7] = std::array::from_fn(|i| header[i].as_str());
            let ext: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let line = render_cef(&h, &ext);
            let e = decoder().decode_cef(Bytes::from(line)).unwrap();
            prop_assert_eq!(field(&e, "cef_version"), Some(header[0].clone()));
            for (name, value) in CEF_HEADER.iter().zip(&header[1..]) {
                prop_assert_eq!(field(&e, name), Some(value.clone()));
            }
            for (k, v) in &pairs {
                prop_assert_eq!(field(&e, k), Some(v.clone()), "key {}", k);
            }
        }
    }
}
