//! Events to index documents, and the stored blob back to events.
//!
//! The blob (the only stored field) is versioned: `1`, id (16 bytes BE), time (i64 LE),
//! offset (i32 LE), received (i64 LE), then length-prefixed strings (format, source kind,
//! source name, host flag + host, product, service count + services, category count +
//! categories), then the raw bytes to the end. Fields are rebuilt by decoding the raw bytes
//! with the event's format: [`rebuild_fields`].

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use tantivy::schema::OwnedValue;
use tantivy::{DateTime, TantivyDocument};
use vigie_event::fields::NumberRepr;
use vigie_event::{
    Decoder, Event, EventId, FieldId, Fields, Format, LogSource, Origin, Source, SourceKind,
    TenantId, Timestamp, UtcOffset, Value,
};

use super::schema::Layout;
use crate::StoreError;

const BLOB_VERSION: u8 = 1;

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

/// The index document of `event`.
pub(crate) fn document(layout: &Layout, event: &Event) -> TantivyDocument {
    let mut doc = TantivyDocument::new();
    let id = event.id.as_u128();
    doc.add_bytes(layout.id, &id.to_be_bytes());
    doc.add_u64(layout.id_hi, (id >> 64) as u64);
    doc.add_u64(layout.id_lo, id as u64);
    doc.add_date(
        layout.time,
        DateTime::from_timestamp_nanos(event.time.as_nanos()),
    );
    let [host, source, source_kind, format, product, service, category] = layout.meta;
    if let Some(h) = &event.host {
        doc.add_text(host, h);
    }
    doc.add_text(source, &event.source.name);
    doc.add_text(source_kind, event.source.kind.as_str());
    doc.add_text(format, event.format.as_str());
    if let Some(p) = event.logsource.product() {
        doc.add_text(product, p);
    }
    for s in event.logsource.services() {
        doc.add_text(service, s);
    }
    for c in event.logsource.categories() {
        doc.add_text(category, c);
    }
    if let Some(n) = event_id_field()
        .and_then(|f| event.fields.get(f))
        .and_then(|v| v.as_number())
        .and_then(|n| n.as_i64())
        .and_then(|n| u64::try_from(n).ok())
    {
        doc.add_u64(layout.event_id, n);
    }
    let mut object = Vec::with_capacity(event.fields.len());
    let mut ip_term = Vec::new();
    for (fid, value) in event.fields.iter() {
        let name = fid.name();
        let owned = match value {
            Value::Array(items) => OwnedValue::Array(
                items
                    .iter()
                    .filter_map(|v| leaf(layout, &mut doc, &mut ip_term, name, v))
                    .collect(),
            ),
            other => match leaf(layout, &mut doc, &mut ip_term, name, other) {
                Some(v) => v,
                None => continue,
            },
        };
        object.push((name.to_owned(), owned));
    }
    doc.add_field_value(layout.fields, &OwnedValue::Object(object));
    doc.add_bytes(layout.doc, &blob(event));
    doc
}

/// One JSON leaf; strings also feed the full-text and IP fields.
fn leaf(
    layout: &Layout,
    doc: &mut TantivyDocument,
    ip_term: &mut Vec<u8>,
    name: &str,
    value: Value<'_>,
) -> Option<OwnedValue> {
    Some(match value {
        Value::Null | Value::Array(_) => return None,
        Value::Bool(b) => OwnedValue::Bool(b),
        Value::Num(n) => match n.repr() {
            NumberRepr::Int(i) => OwnedValue::I64(i),
            NumberRepr::Uint(u) => OwnedValue::U64(u),
            NumberRepr::Float(f) => OwnedValue::F64(f),
        },
        Value::Str(s) => {
            if let Some(t) = parse_time_value(s) {
                return Some(OwnedValue::Date(DateTime::from_timestamp_nanos(t)));
            }
            if !s.is_empty() {
                doc.add_text(layout.text, s);
                if let Some(ip) = parse_ip(s) {
                    ip_term.clear();
                    ip_term_bytes(ip_term, name, ip);
                    doc.add_bytes(layout.ips, ip_term);
                }
            }
            OwnedValue::Str(s.to_owned())
        }
    })
}

/// Nanoseconds since the epoch, when the whole text is an RFC 3339 time (a cheap shape
/// check first: most values are not).
pub(crate) fn parse_time_value(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 19 || b.len() > 40 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' {
        return None;
    }
    vigie_event::time::parse_rfc3339(s, UtcOffset::UTC)
        .ok()
        .map(|(t, _)| t.as_nanos())
}

/// An IP address, when the whole text is one (cheap rejection first: most values are not).
pub(crate) fn parse_ip(s: &str) -> Option<IpAddr> {
    let first = *s.as_bytes().first()?;
    if s.len() < 2 || s.len() > 45 || !(first.is_ascii_hexdigit() || first == b':') {
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
    out.extend_from_slice(&event.id.as_u128().to_be_bytes());
    out.extend_from_slice(&event.time.as_nanos().to_le_bytes());
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
pub(crate) fn unblob(tenant: &TenantId, blob: &[u8]) -> Result<Event, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt {
        what: format!("stored event: {what}"),
    };
    let mut r = Reader { b: blob, at: 0 };
    if r.byte() != Some(BLOB_VERSION) {
        return Err(corrupt("unknown blob version"));
    }
    let id = EventId::from_u128(u128::from_be_bytes(
        r.array().ok_or_else(|| corrupt("truncated id"))?,
    ));
    let time = Timestamp::from_nanos(i64::from_le_bytes(
        r.array().ok_or_else(|| corrupt("truncated time"))?,
    ));
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
