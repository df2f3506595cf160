//! Events to index documents, and the stored blob back to events.
//!
//! The blob (the only stored field) is versioned: `2`, offset (i32 LE), received (i64 LE), then length-prefixed strings (format, source kind,
//! source name, host flag + host, product, service count + services, category count +
//! categories), then the raw bytes to the end. Fields are rebuilt by decoding the raw bytes
//! with the event's format: [`rebuild_fields`].

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use tantivy::DateTime;
use tantivy::schema::Field;
use tantivy::schema::document::{
    Document as TDocument, ReferenceValue, ReferenceValueLeaf, Value as TValue,
};
use vigie_event::fields::NumberRepr;
use vigie_event::{
    Decoder, Event, EventId, FieldId, Fields, Format, LogSource, Origin, Source, SourceKind,
    TenantId, Timestamp, UtcOffset, Value,
};

use super::schema::Layout;
use crate::StoreError;

const BLOB_VERSION: u8 = 2;

/// Every format the store can rebuild, by its stable name.
const FORMATS: [Format; 6] = [
    Format::Evtx,
    Format::Json,
    Format::Rfc5424,
    Format::Rfc3164,
    Format::Cef,
    Format::Leef,
];

const SOURCE_KINDS: [SourceKind; 5] = [
    SourceKind::File,
    SourceKind::Http,
    SourceKind::SyslogUdp,
    SourceKind::SyslogTcp,
    SourceKind::SyslogTls,
];

fn event_id_field() -> Option<FieldId> {
    static ID: OnceLock<Option<FieldId>> = OnceLock::new();
    *ID.get_or_init(|| FieldId::intern("EventID").ok())
}

/// The index document of an event, read by tantivy straight from the event: no copy of
/// its fields into an intermediate document (building `TantivyDocument`s of owned values
/// spent a large share of the indexing time in allocations).
pub(crate) struct EventDoc {
    h: Handles,
    event: Event,
    id: [u8; 16],
    event_id: Option<u64>,
    level: Option<&'static str>,
    /// Per field, in order: the time a string value denotes (an RFC 3339 text), parsed once
    /// for the field index and the full text alike.
    times: Vec<Option<i64>>,
    /// `ips` terms of the string values that are IP addresses.
    ips: Vec<Vec<u8>>,
    blob: Vec<u8>,
}

/// The schema fields a document needs (copies of the layout's handles).
#[derive(Clone, Copy)]
struct Handles {
    id: Field,
    id_hi: Field,
    id_lo: Field,
    time: Field,
    meta: [Field; 8],
    event_id: Field,
    fields: Field,
    ips: Field,
    text: Field,
    doc: Field,
}

impl EventDoc {
    pub(crate) fn new(layout: &Layout, event: Event) -> EventDoc {
        // One pass over the strings: which are times, which are IP addresses.
        let mut ips = Vec::new();
        let mut times = Vec::with_capacity(event.fields.len());
        for (fid, value) in event.fields.iter() {
            let mut add_ip = |s: &str| {
                if let Some(ip) = parse_ip(s) {
                    let mut term = Vec::with_capacity(fid.name().len() + 17);
                    ip_term_bytes(&mut term, fid.name(), ip);
                    ips.push(term);
                }
            };
            let time = match value {
                Value::Str(s) => {
                    let time = parse_time_value(s);
                    if time.is_none() {
                        add_ip(s);
                    }
                    time
                }
                Value::Array(items) => {
                    for v in items.iter() {
                        if let Value::Str(s) = v {
                            add_ip(s);
                        }
                    }
                    None
                }
                _ => None,
            };
            times.push(time);
        }
        let event_id = event_id_field()
            .and_then(|f| event.fields.get(f))
            .and_then(|v| v.as_number())
            .and_then(|n| n.as_i64())
            .and_then(|n| u64::try_from(n).ok());
        EventDoc {
            h: Handles {
                id: layout.id,
                id_hi: layout.id_hi,
                id_lo: layout.id_lo,
                time: layout.time,
                meta: layout.meta,
                event_id: layout.event_id,
                fields: layout.fields,
                ips: layout.ips,
                text: layout.text,
                doc: layout.doc,
            },
            id: event.id.as_u128().to_be_bytes(),
            event_id,
            level: level(&event),
            times,
            ips,
            blob: blob(&event),
            event,
        }
    }
}

/// A value of an [`EventDoc`], borrowed from the event.
#[derive(Clone, Debug)]
pub(crate) enum DocValue<'a> {
    Leaf(Leaf<'a>),
    /// The fields and their [`EventDoc::times`].
    Object(&'a Fields, &'a [Option<i64>]),
    Array(ArrayValue<'a>),
}

/// An array of an event field (its own type for `Debug`, which the event's lacks).
#[derive(Clone, Copy)]
pub(crate) struct ArrayValue<'a>(vigie_event::fields::Array<'a>);

impl std::fmt::Debug for ArrayValue<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Array({} items)", self.0.len())
    }
}

/// A single value (tantivy's leaf, less the kinds events never hold).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Leaf<'a> {
    Null,
    Str(&'a str),
    U64(u64),
    I64(i64),
    F64(f64),
    Bool(bool),
    Date(DateTime),
    Bytes(&'a [u8]),
}

/// The syslog severity names, most severe first.
const LEVELS: [&str; 8] = [
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

/// The event's level as a syslog severity name, where the source says: syslog's
/// `severity`; Windows' `Level` (1 critical … 5 verbose); CEF's and LEEF's 0–10 scale or
/// CEF's words.
fn level(event: &Event) -> Option<&'static str> {
    static NAMES: OnceLock<[Option<FieldId>; 3]> = OnceLock::new();
    let [severity, windows, leef] =
        *NAMES.get_or_init(|| ["severity", "Level", "sev"].map(|n| FieldId::intern(n).ok()));
    let scale = |n: i64| match n {
        9.. => "crit",
        7..=8 => "err",
        4..=6 => "warning",
        _ => "notice",
    };
    if let Some(v) = severity.and_then(|f| event.fields.get(f)) {
        let text = v.as_text().unwrap_or_default();
        if let Some(name) = LEVELS.iter().find(|l| l.eq_ignore_ascii_case(text)) {
            return Some(name);
        }
        if let Ok(n) = text.trim().parse::<i64>() {
            return Some(scale(n));
        }
        return match text.to_ascii_lowercase().as_str() {
            "low" => Some("notice"),
            "medium" => Some("warning"),
            "high" => Some("err"),
            "very-high" => Some("crit"),
            _ => None,
        };
    }
    if event.format == Format::Evtx
        && let Some(n) = windows
            .and_then(|f| event.fields.get(f))
            .and_then(|v| v.as_text())
            .and_then(|t| t.trim().parse::<i64>().ok())
    {
        return match n {
            1 => Some("crit"),
            2 => Some("err"),
            3 => Some("warning"),
            0 | 4 => Some("info"),
            5 => Some("debug"),
            _ => None,
        };
    }
    if event.format == Format::Leef
        && let Some(n) = leef
            .and_then(|f| event.fields.get(f))
            .and_then(|v| v.as_text())
            .and_then(|t| t.trim().parse::<i64>().ok())
    {
        return Some(scale(n));
    }
    None
}

/// An event field's value as the index sees it: strings that are times become dates.
fn typed(value: Value<'_>) -> DocValue<'_> {
    DocValue::Leaf(match value {
        Value::Null => Leaf::Null,
        Value::Bool(b) => Leaf::Bool(b),
        Value::Num(n) => match n.repr() {
            NumberRepr::Int(i) => Leaf::I64(i),
            NumberRepr::Uint(u) => Leaf::U64(u),
            NumberRepr::Float(f) => Leaf::F64(f),
        },
        Value::Str(s) => match parse_time_value(s) {
            Some(t) => Leaf::Date(DateTime::from_timestamp_nanos(t)),
            None => Leaf::Str(s),
        },
        Value::Array(a) => return DocValue::Array(ArrayValue(a)),
    })
}

impl<'a> TValue<'a> for DocValue<'a> {
    type ArrayIter = Box<dyn Iterator<Item = DocValue<'a>> + 'a>;
    type ObjectIter = Box<dyn Iterator<Item = (&'a str, DocValue<'a>)> + 'a>;

    fn as_value(&self) -> ReferenceValue<'a, Self> {
        match self {
            DocValue::Leaf(l) => ReferenceValue::Leaf(match *l {
                Leaf::Null => ReferenceValueLeaf::Null,
                Leaf::Str(s) => ReferenceValueLeaf::Str(s),
                Leaf::U64(u) => ReferenceValueLeaf::U64(u),
                Leaf::I64(i) => ReferenceValueLeaf::I64(i),
                Leaf::F64(f) => ReferenceValueLeaf::F64(f),
                Leaf::Bool(b) => ReferenceValueLeaf::Bool(b),
                Leaf::Date(d) => ReferenceValueLeaf::Date(d),
                Leaf::Bytes(b) => ReferenceValueLeaf::Bytes(b),
            }),
            DocValue::Object(fields, times) => {
                let (fields, times): (&'a Fields, &'a [Option<i64>]) = (fields, times);
                let iter: Self::ObjectIter =
                    Box::new(fields.iter().zip(times).map(|((id, v), time)| {
                        let value = match time {
                            Some(t) => {
                                DocValue::Leaf(Leaf::Date(DateTime::from_timestamp_nanos(*t)))
                            }
                            None => typed(v),
                        };
                        (id.name(), value)
                    }));
                ReferenceValue::Object(iter)
            }
            DocValue::Array(a) => {
                let iter: Self::ArrayIter = Box::new(a.0.iter().map(typed));
                ReferenceValue::Array(iter)
            }
        }
    }
}

impl TDocument for EventDoc {
    type Value<'a> = DocValue<'a>;
    type FieldsValuesIter<'a> = std::vec::IntoIter<(Field, DocValue<'a>)>;

    fn iter_fields_and_values(&self) -> Self::FieldsValuesIter<'_> {
        let h = &self.h;
        let e = &self.event;
        let leaf = DocValue::Leaf;
        let id = e.id.as_u128();
        let mut out = Vec::with_capacity(16 + e.fields.len() * 2 + self.ips.len());
        out.push((h.id, leaf(Leaf::Bytes(&self.id))));
        out.push((h.id_hi, leaf(Leaf::U64((id >> 64) as u64))));
        out.push((h.id_lo, leaf(Leaf::U64(id as u64))));
        out.push((
            h.time,
            leaf(Leaf::Date(DateTime::from_timestamp_nanos(
                e.time.as_nanos(),
            ))),
        ));
        let [
            host,
            source,
            source_kind,
            format,
            product,
            service,
            category,
            level,
        ] = h.meta;
        if let Some(l) = self.level {
            out.push((level, leaf(Leaf::Str(l))));
        }
        if let Some(v) = &e.host {
            out.push((host, leaf(Leaf::Str(v))));
        }
        out.push((source, leaf(Leaf::Str(&e.source.name))));
        out.push((source_kind, leaf(Leaf::Str(e.source.kind.as_str()))));
        out.push((format, leaf(Leaf::Str(e.format.as_str()))));
        if let Some(p) = e.logsource.product() {
            out.push((product, leaf(Leaf::Str(p))));
        }
        for s in e.logsource.services() {
            out.push((service, leaf(Leaf::Str(s))));
        }
        for c in e.logsource.categories() {
            out.push((category, leaf(Leaf::Str(c))));
        }
        if let Some(n) = self.event_id {
            out.push((h.event_id, leaf(Leaf::U64(n))));
        }
        out.push((h.fields, DocValue::Object(&e.fields, &self.times)));
        // Full text: every string value but times.
        for ((_, value), time) in e.fields.iter().zip(&self.times) {
            match value {
                Value::Str(s) if !s.is_empty() && time.is_none() => {
                    out.push((h.text, leaf(Leaf::Str(s))));
                }
                Value::Array(items) => {
                    for v in items.iter() {
                        if let Value::Str(s) = v
                            && !s.is_empty()
                            && parse_time_value(s).is_none()
                        {
                            out.push((h.text, leaf(Leaf::Str(s))));
                        }
                    }
                }
                _ => {}
            }
        }
        for term in &self.ips {
            out.push((h.ips, leaf(Leaf::Bytes(term))));
        }
        out.push((h.doc, leaf(Leaf::Bytes(&self.blob))));
        out.into_iter()
    }
}

/// Nanoseconds since the epoch, when the whole text is an RFC 3339 time (a cheap shape
/// check first: most values are not).
pub(crate) fn parse_time_value(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 19
        || b.len() > 40
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
    {
        return None;
    }
    vigie_event::time::parse_rfc3339(s, UtcOffset::UTC)
        .ok()
        .map(|(t, _)| t.as_nanos())
}

/// An IP address, when the whole text is one (cheap rejection first: most values are not).
///
/// An IPv4 address is digits and three dots; an IPv6 address has a colon and only hex
/// digits, colons and (for an embedded IPv4 tail) dots. Words that merely start with a hex
/// digit (`explorer.exe`, GUIDs, hashes) were each handed to both address parsers: 210
/// instructions a string, 1.5 % of all the ingest's.
pub(crate) fn parse_ip(s: &str) -> Option<IpAddr> {
    if s.len() < 2 || s.len() > 45 {
        return None;
    }
    let (mut colons, mut dots, mut letters) = (0, 0, false);
    for &c in s.as_bytes() {
        match c {
            b':' => colons += 1,
            b'.' => dots += 1,
            b'0'..=b'9' => {}
            b'a'..=b'f' | b'A'..=b'F' => letters = true,
            _ => return None,
        }
    }
    let v4 = colons == 0 && dots == 3 && !letters;
    if !(v4 || colons >= 2) {
        return None;
    }
    s.parse().ok()
}

/// The `ips` term of `ip` under field `name`: the name, a NUL, the address as 16 bytes of
/// IPv6 (IPv4 mapped).
pub(crate) fn ip_term_bytes(out: &mut Vec<u8>, name: &str, ip: IpAddr) {
    let bits = match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().to_bits(),
        IpAddr::V6(v6) => v6.to_bits(),
    };
    ip_range_bytes(out, name, bits);
}

/// The `ips` term of the 128-bit address `bits` under field `name`.
pub(crate) fn ip_range_bytes(out: &mut Vec<u8>, name: &str, bits: u128) {
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    out.extend_from_slice(&bits.to_be_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    let mut n = s.len();
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
    out.extend_from_slice(s.as_bytes());
}

/// The stored blob of `event`.
pub(crate) fn blob(event: &Event) -> Vec<u8> {
    let mut out = Vec::with_capacity(96 + event.raw.len());
    out.push(BLOB_VERSION);
    out.extend_from_slice(&event.time_offset.seconds().to_le_bytes());
    out.extend_from_slice(&event.received.as_nanos().to_le_bytes());
    put_str(&mut out, event.format.as_str());
    put_str(&mut out, event.source.kind.as_str());
    put_str(&mut out, &event.source.name);
    match &event.host {
        Some(h) => {
            out.push(1);
            put_str(&mut out, h);
        }
        None => out.push(0),
    }
    put_str(&mut out, event.logsource.product().unwrap_or(""));
    let services: Vec<&str> = event.logsource.services().collect();
    let categories: Vec<&str> = event.logsource.categories().collect();
    for list in [services, categories] {
        out.push(list.len().min(255) as u8);
        for s in list.into_iter().take(255) {
            put_str(&mut out, s);
        }
    }
    out.extend_from_slice(&event.raw);
    out
}

/// A cursor over a blob; every read checks the length.
struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.b.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    fn byte(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    fn str(&mut self) -> Option<&'a str> {
        let mut n = 0usize;
        for shift in (0..35).step_by(7) {
            let b = self.byte()?;
            n |= usize::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return std::str::from_utf8(self.take(n)?).ok();
            }
        }
        None
    }
}

/// An event read back from its blob, fields not yet rebuilt.
///
/// The id and the time are not in the blob: they are the document's `id_hi`/`id_lo` and
/// `time` columns (random id bits do not compress; keeping them once saved 11 bytes per
/// event).
pub(crate) fn unblob(
    tenant: &TenantId,
    id: EventId,
    time: Timestamp,
    blob: &[u8],
) -> Result<Event, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt {
        what: format!("stored event: {what}"),
    };
    let mut r = Reader { b: blob, at: 0 };
    if r.byte() != Some(BLOB_VERSION) {
        return Err(corrupt("unknown blob version"));
    }
    let offset = UtcOffset::from_seconds(i32::from_le_bytes(
        r.array().ok_or_else(|| corrupt("truncated offset"))?,
    ))
    .ok_or_else(|| corrupt("offset out of range"))?;
    let received = Timestamp::from_nanos(i64::from_le_bytes(
        r.array().ok_or_else(|| corrupt("truncated receive time"))?,
    ));
    let format_name = r.str().ok_or_else(|| corrupt("truncated format"))?;
    let format = FORMATS
        .into_iter()
        .find(|f| f.as_str() == format_name)
        .ok_or_else(|| corrupt("unknown format"))?;
    let kind_name = r.str().ok_or_else(|| corrupt("truncated source kind"))?;
    let kind = SOURCE_KINDS
        .into_iter()
        .find(|k| k.as_str() == kind_name)
        .ok_or_else(|| corrupt("unknown source kind"))?;
    let source_name = r.str().ok_or_else(|| corrupt("truncated source"))?;
    let host = match r.byte() {
        Some(0) => None,
        Some(1) => Some(Box::from(r.str().ok_or_else(|| corrupt("truncated host"))?)),
        _ => return Err(corrupt("bad host flag")),
    };
    let product = r.str().ok_or_else(|| corrupt("truncated product"))?;
    let mut lists: [Vec<&str>; 2] = [Vec::new(), Vec::new()];
    for list in &mut lists {
        let n = r.byte().ok_or_else(|| corrupt("truncated logsource"))?;
        for _ in 0..n {
            list.push(r.str().ok_or_else(|| corrupt("truncated logsource"))?);
        }
    }
    let raw = Bytes::copy_from_slice(&blob[r.at..]);
    let product = (!product.is_empty()).then_some(product);
    Ok(Event {
        tenant: tenant.clone(),
        id,
        time,
        time_offset: offset,
        received,
        source: Source::new(kind, source_name),
        format,
        logsource: Arc::new(LogSource::new(product, &lists[0], &lists[1])),
        host,
        fields: Fields::new(),
        raw,
    })
}

/// Fills `event.fields` by decoding its raw bytes again with its format.
pub(crate) fn rebuild_fields(event: &mut Event) -> Result<(), StoreError> {
    let origin = Origin::new(event.tenant.clone(), event.source.clone());
    let mut decoder = Decoder::new(origin);
    decoder.set_received(Some(event.received));
    let raw = event.raw.clone();
    let decoded = match event.format {
        Format::Evtx => decoder.decode_evtx_record(raw),
        Format::Json => decoder.decode_json(raw),
        Format::Rfc5424 | Format::Rfc3164 => decoder.decode_syslog(raw),
        Format::Cef => decoder.decode_cef(raw),
        Format::Leef => decoder.decode_leef(raw),
        other => {
            return Err(StoreError::Corrupt {
                what: format!("event {}: format {other} cannot be rebuilt", event.id),
            });
        }
    };
    match decoded {
        Ok(d) => {
            event.fields = d.fields;
            Ok(())
        }
        Err(e) => Err(StoreError::Corrupt {
            what: format!("event {}: its raw bytes no longer decode: {e}", event.id),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_detection_agrees_with_the_address_parser() {
        let mut texts: Vec<String> = [
            "10.0.0.1",
            "255.255.255.255",
            "1.2.3",
            "1.2.3.4.5",
            "01.2.3.4",
            "::",
            "::1",
            "fe80::1",
            "fe80::1%eth0",
            "2001:db8::8a2e:370:7334",
            "::ffff:192.0.2.1",
            "64:ff9b::192.0.2.33",
            "abcd",
            "a:b",
            "explorer.exe",
            "c:\\windows",
            "{8f0d2a2c-1b6e-4a3f-9d55-0e2b3c4d5e6f}",
            "d41d8cd98f00b204e9800998ecf8427e",
            "1234",
            "",
            "1.2.3.4 ",
            "12:34:56",
            "10.0.0.1:443",
            "[::1]",
        ]
        .map(str::to_owned)
        .to_vec();
        // Every string over a small alphabet up to four characters.
        let alphabet = ['1', '0', 'f', ':', '.', 'g'];
        let mut frontier = vec![String::new()];
        for _ in 0..4 {
            let mut next = Vec::new();
            for s in &frontier {
                for c in alphabet {
                    next.push(format!("{s}{c}"));
                }
            }
            texts.extend(next.iter().cloned());
            frontier = next;
        }
        let mut found = 0;
        for t in &texts {
            let expected: Option<IpAddr> = t.parse().ok();
            assert_eq!(parse_ip(t), expected, "{t:?}");
            found += usize::from(expected.is_some());
        }
        assert!(found >= 8, "the texts hold addresses ({found})");
    }
}
