//! IBM QRadar Log Event Extended Format (LEEF) 1.0 and 2.0, optionally behind a syslog
//! header.
//!
//! `LEEF:1.0|Vendor|Product|Version|EventID|key=value<TAB>key=value…`
//! `LEEF:2.0|Vendor|Product|Version|EventID|DelimiterCharacter|key=value<DELIM>…`
//!
//! Header fields use the same names as CEF's (`leef_version`, `deviceVendor`,
//! `deviceProduct`, `deviceVersion`, `deviceEventClassId`) so that one query finds a vendor
//! in either format; header escapes are `\|` and `\\`. LEEF 2.0's delimiter is one character
//! or its hex code (`x09`, `0x5E`); when the field is absent or empty, the delimiter is a tab.
//! An attribute's key is what precedes its first `=`; values are taken verbatim (LEEF defines
//! no value escapes). The event time is `devTime` (epoch milliseconds, RFC 3339 or
//! `MMM dd yyyy HH:mm:ss[.SSS]`), else the syslog time.

use bytes::Bytes;

use super::cef::{device_time, split_header};
use super::{Decoder, Facts, Marked};
use crate::error::EventError;
use crate::event::{Event, Format};
use crate::fields::Scalar;

const LEEF_HEADER: [&str; 4] = [
    "deviceVendor",
    "deviceProduct",
    "deviceVersion",
    "deviceEventClassId",
];

/// Parses a LEEF 2.0 delimiter specification.
fn delimiter(spec: &str) -> Option<u8> {
    let hex = spec
        .strip_prefix("0x")
        .or_else(|| spec.strip_prefix("0X"))
        .or_else(|| spec.strip_prefix('x'))
        .or_else(|| spec.strip_prefix('X'));
    match (hex, spec.len()) {
        (Some(h), _) if !h.is_empty() && h.len() <= 2 => u8::from_str_radix(h, 16).ok(),
        (_, 1) => Some(spec.as_bytes()[0]),
        (_, 0) => Some(b'\t'),
        _ => None,
    }
}

impl Decoder {
    /// Decodes one LEEF 1.0 or 2.0 message, with or without a syslog header before `LEEF:`.
    pub fn decode_leef(&mut self, input: Bytes) -> Result<Event, EventError> {
        let f = Format::Leef;
        let Marked {
            end,
            at,
            mut fields,
            syslog_time,
        } = self.marked(f, &input, "LEEF:")?;
        let b = &input[..end];
        let version_start = at + 5;
        let (header, mut attrs_start) = split_header(f, b, version_start, 5)?;
        let version = header[0].trim();
        if !version.starts_with('1') && !version.starts_with('2') {
            return Err(EventError::syntax(
                f,
                b,
                version_start,
                "LEEF version 1.0 or 2.0",
            ));
        }
        self.put(
            &mut fields,
            f,
            version_start,
            "leef_version",
            Scalar::Str(version),
        )?;
        for (name, value) in LEEF_HEADER.iter().zip(&header[1..]) {
            self.put(&mut fields, f, version_start, name, Scalar::Str(value))?;
        }
        let mut delim = b'\t';
        if version.starts_with('2') {
            // The delimiter field, when present, is short and holds no '='.
            let rest = &b[attrs_start..];
            if let Some(bar) = rest.iter().take(5).position(|c| *c == b'|') {
                let spec = String::from_utf8_lossy(&rest[..bar]);
                if !spec.contains('=') {
                    delim = delimiter(&spec).ok_or_else(|| {
                        EventError::syntax(
                            f,
                            b,
                            attrs_start,
                            "a delimiter character or its hex code",
                        )
                    })?;
                    attrs_start += bar + 1;
                }
            }
        }
        let mut i = attrs_start;
        for part in b[attrs_start..].split(|c| *c == delim) {
            let part_start = i;
            i += part.len() + 1;
            if part.iter().all(|c| c.is_ascii_whitespace()) {
                continue;
            }
            let Some(eq) = part.iter().position(|c| *c == b'=') else {
                return Err(EventError::syntax(
                    f,
                    b,
                    part_start,
                    "an attribute key=value",
                ));
            };
            let key = String::from_utf8_lossy(&part[..eq]);
            let key = key.trim();
            if key.is_empty() {
                return Err(EventError::syntax(
                    f,
                    b,
                    part_start,
                    "an attribute key before '='",
                ));
            }
            let value = String::from_utf8_lossy(&part[eq + 1..]);
            self.put(&mut fields, f, part_start, key, Scalar::Str(&value))?;
        }
        let time = fields
            .get_by_name("devTime")
            .and_then(|v| v.as_text())
            .and_then(|t| device_time(t, self.origin.default_offset))
            .or(syslog_time);
        let host = ["identHostName", "hostname"]
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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::decode::tests::decoder;

    fn field(e: &Event, name: &str) -> Option<String> {
        e.fields.get_by_name(name)?.as_text().map(str::to_owned)
    }

    #[test]
    fn leef_1_with_tabs_and_syslog_header() {
        let line = "<13>Jan 18 11:07:53 qradar LEEF:1.0|Microsoft|MSExchange|4.0 SP1|15345|src=192.0.2.0\tdst=172.50.123.1\tsev=5\tcat=anomaly\tmsg=a=b c\tdevTime=1767225600000";
        let e = decoder()
            .decode_leef(Bytes::copy_from_slice(line.as_bytes()))
            .unwrap();
        assert_eq!(e.format, Format::Leef);
        assert_eq!(field(&e, "deviceVendor").as_deref(), Some("Microsoft"));
        assert_eq!(field(&e, "deviceVersion").as_deref(), Some("4.0 SP1"));
        assert_eq!(field(&e, "deviceEventClassId").as_deref(), Some("15345"));
        assert_eq!(field(&e, "msg").as_deref(), Some("a=b c"));
        assert_eq!(field(&e, "dst").as_deref(), Some("172.50.123.1"));
        assert_eq!(e.host.as_deref(), Some("qradar"));
        assert_eq!(e.time.to_string(), "2026-01-01T00:00:00Z");
    }

    #[test]
    fn leef_2_delimiters() {
        for (spec, sep) in [("^", "^"), ("x5E", "^"), ("0x7C", "|"), ("", "\t")] {
            let line = format!(
                "LEEF:2.0|Lancope|StealthWatch|1.0|41|{spec}|src=10.0.1.8{sep}dst=10.0.0.5{sep}proto=6"
            );
            let e = decoder()
                .decode_leef(Bytes::from(line.clone()))
                .unwrap_or_else(|err| panic!("{line}: {err}"));
            assert_eq!(field(&e, "src").as_deref(), Some("10.0.1.8"), "{line}");
            assert_eq!(field(&e, "proto").as_deref(), Some("6"), "{line}");
        }
        // No delimiter field at all.
        let e = decoder()
            .decode_leef(Bytes::from_static(b"LEEF:2.0|V|P|1|E|a=1\tb=2"))
            .unwrap();
        assert_eq!(field(&e, "b").as_deref(), Some("2"));
    }

    #[test]
    fn errors() {
        let mut d = decoder();
        assert_eq!(
            d.decode_leef(Bytes::from_static(b"nope"))
                .unwrap_err()
                .offset(),
            Some(0)
        );
        assert_eq!(
            d.decode_leef(Bytes::from_static(b"LEEF:1.0|V|P"))
                .unwrap_err()
                .offset(),
            Some(12)
        );
        assert_eq!(
            d.decode_leef(Bytes::from_static(b"LEEF:3.0|V|P|1|E|"))
                .unwrap_err()
                .offset(),
            Some(5)
        );
        assert_eq!(
            d.decode_leef(Bytes::from_static(b"LEEF:1.0|V|P|1|E|a=1\tjunk"))
                .unwrap_err()
                .offset(),
            Some(21)
        );
        assert_eq!(
            d.decode_leef(Bytes::from_static(b"LEEF:2.0|V|P|1|E|xZZ|a=1"))
                .unwrap_err()
                .offset(),
            Some(17)
        );
    }

    proptest! {
        #[test]
        fn round_trip(
            vendor in "[ -{}~]{0,12}",
            pairs in proptest::collection::vec(("[a-zA-Z][a-zA-Z0-9]{0,8}", "[ -~]{0,20}"), 0..6),
        ) {
            let mut seen = std::collections::HashSet::new();
            let pairs: Vec<_> = pairs
                .into_iter()
                .filter(|(k, _)| seen.insert(k.clone()) && !LEEF_HEADER.contains(&k.as_str()) && k != "leef_version")
                .filter(|(_, v)| !v.trim().is_empty())
                .collect();
            let mut line = format!("LEEF:1.0|{}|P|1|E|", vendor.replace('\\', "\\\\").replace('|', "\\|"));
            let attrs: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
            line.push_str(&attrs.join("\t"));
            let e = decoder().decode_leef(Bytes::from(line)).unwrap();
            prop_assert_eq!(field(&e, "deviceVendor"), Some(vendor));
            for (k, v) in &pairs {
                prop_assert_eq!(field(&e, k), Some(v.clone()));
            }
        }
    }
}
