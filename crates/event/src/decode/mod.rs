//! Decoders: bytes in a wire format → [`Event`].
//!
//! One [`Decoder`] per thread or connection holds what decoding needs besides the bytes: the
//! [`Origin`] (tenant, source, an explicit logsource), an id generator, a field-name cache and
//! a cache of classifications. Each format lives in its own module and adds methods to it.

mod binxml;
pub mod cef;
pub mod evtx;
pub mod framing;
pub mod json;
pub mod leef;
mod sniff;
pub mod syslog;

pub use sniff::MARKER_WINDOW;

pub use binxml::DirectCounts;

use std::sync::Arc;

use bytes::Bytes;
use rustc_hash::FxHashMap;

use crate::classify::{Classifier, Fact, FactKind, LogSource};
use crate::error::EventError;
use crate::event::{Event, Format, Source};
use crate::field::{FieldCache, FieldId};
use crate::fields::{Fields, Scalar};
use crate::id::{EventIdGenerator, TenantId};
use crate::time::{Timestamp, UtcOffset};

/// The largest single event any decoder accepts (bytes of input).
pub const MAX_EVENT_BYTES: usize = 4 << 20;

/// Nesting depth beyond which structured input (JSON objects and arrays) is rejected.
pub const MAX_DEPTH: usize = 64;

/// Classifications cached per decoder before the cache is reset.
const LOGSOURCE_CACHE_CAPACITY: usize = 4096;

/// Who receives the events a decoder produces, and how to read them.
#[derive(Clone, Debug)]
pub struct Origin {
    /// The tenant the events belong to.
    pub tenant: TenantId,
    /// Where they come from.
    pub source: Source,
    /// A logsource set by the listener; replaces classification when present.
    pub logsource: Option<Arc<LogSource>>,
    /// The offset assumed for times written without one (syslog RFC 3164, naive JSON times).
    pub default_offset: UtcOffset,
}

impl Origin {
    /// An origin with no explicit logsource, reading offset-less times as UTC.
    pub fn new(tenant: TenantId, source: Source) -> Origin {
        Origin {
            tenant,
            source,
            logsource: None,
            default_offset: UtcOffset::UTC,
        }
    }
}

/// Decodes events for one origin. Not shared between threads: create one per worker.
#[derive(Debug)]
pub struct Decoder {
    origin: Origin,
    received: Option<Timestamp>,
    ids: EventIdGenerator,
    names: FieldCache,
    classifier: Arc<Classifier>,
    logsources: FxHashMap<String, Arc<LogSource>>,
    cache_key: String,
    pub(crate) json_buffers: json::JsonBuffers,
    /// An EVTX chunk buffer kept from one file to the next (see
    /// [`Decoder::decode_evtx_reader`]).
    pub(crate) evtx_chunk: Option<Vec<u8>>,
    /// Whether EVTX events keep their JSON rendering as raw bytes (see
    /// [`Decoder::set_evtx_rendering`]).
    pub(crate) evtx_rendering: bool,
    /// Templates and buffers of the direct EVTX decoder, reused from chunk to chunk.
    pub(crate) binxml: binxml::ChunkState,
}

/// The message part of a line-oriented input: checks the size limit and drops the line ends
/// (`\n`, `\r`, NUL), which belong to the framing. Returns the end of the message.
pub(crate) fn message_end(format: Format, input: &[u8]) -> Result<usize, EventError> {
    if input.len() > MAX_EVENT_BYTES {
        return Err(EventError::TooLarge {
            format,
            len: input.len(),
            limit: MAX_EVENT_BYTES,
        });
    }
    let mut end = input.len();
    while end > 0 && matches!(input[end - 1], b'\n' | b'\r' | b'\0') {
        end -= 1;
    }
    Ok(end)
}

/// A CEF or LEEF message cut at its marker, with the syslog header before it (if any)
/// already decoded.
pub(crate) struct Marked {
    /// End of the message (line ends dropped).
    pub(crate) end: usize,
    /// Offset of the marker (`CEF:`, `LEEF:`).
    pub(crate) at: usize,
    /// The syslog header's fields, less its (empty) message.
    pub(crate) fields: Fields,
    /// The syslog header's time, when it had one.
    pub(crate) syslog_time: Option<(Timestamp, Option<UtcOffset>)>,
}

/// What a format decoder found besides the fields, for [`Decoder::finish`]: the event time,
/// and which fields hold the host and the classification facts.
#[derive(Debug, Default)]
pub(crate) struct Facts {
    pub(crate) time: Option<(Timestamp, Option<UtcOffset>)>,
    pub(crate) host: Option<FieldId>,
    pub(crate) channel: Option<FieldId>,
    pub(crate) provider: Option<FieldId>,
    pub(crate) event_id: Option<FieldId>,
    pub(crate) program: Option<FieldId>,
    pub(crate) facility: Option<FieldId>,
    /// The format used for classification (`evtx` for JSON renderings of EVTX records).
    pub(crate) class_format: Option<Format>,
}

/// Field ids every decoder needs, interned once.
#[derive(Debug)]
pub(crate) struct Known {
    pub(crate) channel: FieldId,
    pub(crate) provider_name: FieldId,
    pub(crate) event_id: FieldId,
    pub(crate) computer: FieldId,
    pub(crate) system_time: FieldId,
    pub(crate) program: FieldId,
    pub(crate) facility: FieldId,
    pub(crate) hostname: FieldId,
    /// Fields tried, in order, for the time of generic JSON.
    pub(crate) json_time: Vec<FieldId>,
    /// Fields tried, in order, for the host of generic JSON.
    pub(crate) json_host: Vec<FieldId>,
}

pub(crate) fn known() -> &'static Known {
    static KNOWN: std::sync::OnceLock<Known> = std::sync::OnceLock::new();
    KNOWN.get_or_init(|| {
        // These names are short constants: interning cannot fail on them.
        let id = |name| FieldId::intern(name).expect("well-known field names intern");
        Known {
            channel: id("Channel"),
            provider_name: id("Provider_Name"),
            event_id: id("EventID"),
            computer: id("Computer"),
            system_time: id("TimeCreated_SystemTime"),
            program: id(syslog::APPNAME),
            facility: id(syslog::FACILITY),
            hostname: id(syslog::HOSTNAME),
            json_time: json::TIME_FIELDS.iter().map(|n| id(n)).collect(),
            json_host: json::HOST_FIELDS.iter().map(|n| id(n)).collect(),
        }
    })
}

impl Decoder {
    /// A decoder for `origin`, classifying with the built-in table.
    pub fn new(origin: Origin) -> Decoder {
        Decoder::with_classifier(origin, Arc::clone(Classifier::builtin()))
    }

    /// A decoder for `origin` with a custom classification table.
    pub fn with_classifier(origin: Origin, classifier: Arc<Classifier>) -> Decoder {
        Decoder {
            origin,
            received: None,
            ids: EventIdGenerator::new(),
            names: FieldCache::default(),
            classifier,
            logsources: FxHashMap::default(),
            cache_key: String::new(),
            json_buffers: json::JsonBuffers::default(),
            evtx_chunk: None,
            evtx_rendering: true,
            binxml: binxml::ChunkState::default(),
        }
    }

    /// Whether EVTX events carry the JSON rendering of their record as raw bytes (the default:
    /// a store keeps it, and decodes it again on fetch). Without it, records are decoded
    /// straight from their binary XML, about twice as fast, into the same fields, and an
    /// event's raw bytes are empty: for tools that report fields and never keep events
    /// (`vigie hunt`). Chunks of shapes the direct decoder does not take still go through
    /// the rendering (and then keep it).
    pub fn set_evtx_rendering(&mut self, keep: bool) {
        self.evtx_rendering = keep;
    }

    /// The origin events are decoded for.
    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// Sets the receive time stamped on the next events (a listener sets it when bytes
    /// arrive); `None` stamps each event with the time it is decoded.
    pub fn set_received(&mut self, received: Option<Timestamp>) {
        self.received = received;
    }

    /// Sends the field names this decoder meets through a tenant's budget (see
    /// [`crate::field::NameBudget`]): an event with a name new to the tenant past its limit
    /// fails to decode, naming the field.
    pub fn set_name_budget(&mut self, budget: Option<Arc<crate::field::NameBudget>>) {
        self.names.set_budget(budget);
    }

    pub(crate) fn intern(&mut self, name: &str) -> Result<FieldId, EventError> {
        self.names.intern(name)
    }

    /// Inserts `name = value`, mapping failures to a decode error at `offset`.
    pub(crate) fn put(
        &mut self,
        fields: &mut Fields,
        format: Format,
        offset: usize,
        name: &str,
        value: Scalar<'_>,
    ) -> Result<FieldId, EventError> {
        let field_err = |source| EventError::Field {
            format,
            offset,
            source: Box::new(source),
        };
        let id = self.intern(name).map_err(field_err)?;
        fields.insert(id, value).map_err(field_err)?;
        Ok(id)
    }

    fn logsource(&mut self, format: Format, fields: &Fields, facts: &Facts) -> Arc<LogSource> {
        if let Some(ls) = &self.origin.logsource {
            return Arc::clone(ls);
        }
        let text = |id: Option<FieldId>| id.and_then(|id| fields.get(id)?.as_text());
        let channel = text(facts.channel);
        let provider = text(facts.provider);
        let program = text(facts.program);
        let facility = text(facts.facility);
        let event_id = text(facts.event_id).and_then(|t| t.trim().parse::<u32>().ok());
        let class_format = facts.class_format.unwrap_or(format);
        let key = &mut self.cache_key;
        key.clear();
        for part in [
            Some(class_format.as_str()),
            channel,
            provider,
            program,
            facility,
        ] {
            key.push_str(part.unwrap_or(""));
            key.push('\0');
        }
        if let Some(id) = event_id {
            use std::fmt::Write as _;
            // Writing into a String cannot fail.
            let _ = write!(key, "{id}");
        }
        if let Some(ls) = self.logsources.get(key.as_str()) {
            return Arc::clone(ls);
        }
        let list: Vec<Fact<'_>> = [
            (FactKind::Channel, channel),
            (FactKind::Provider, provider),
            (FactKind::Program, program),
            (FactKind::Facility, facility),
            (FactKind::Format, Some(class_format.as_str())),
        ]
        .into_iter()
        .filter_map(|(kind, key)| Some(Fact { kind, key: key? }))
        .collect();
        let ls = Arc::new(self.classifier.classify(&list, event_id));
        if self.logsources.len() >= LOGSOURCE_CACHE_CAPACITY {
            self.logsources.clear();
        }
        self.logsources
            .insert(self.cache_key.clone(), Arc::clone(&ls));
        ls
    }

    /// Finds `marker` in a CEF/LEEF message and decodes the syslog header in front of it.
    pub(crate) fn marked(
        &mut self,
        format: Format,
        input: &Bytes,
        marker: &'static str,
    ) -> Result<Marked, EventError> {
        let end = message_end(format, input)?;
        let b = &input[..end];
        let Some(at) = memchr::memmem::find(b, marker.as_bytes()) else {
            return Err(EventError::syntax(format, b, 0, format!("'{marker}'")));
        };
        let mut fields = Fields::with_capacity(24, b.len());
        let mut syslog_time = None;
        if at > 0 {
            let header = self.decode_syslog(input.slice(..at))?;
            syslog_time =
                (header.time != header.received).then_some((header.time, Some(header.time_offset)));
            for (id, value) in header.fields.iter() {
                if id.name() == "message" {
                    continue;
                }
                fields
                    .insert_value(id, value)
                    .map_err(|source| EventError::Field {
                        format,
                        offset: 0,
                        source: Box::new(source),
                    })?;
            }
        }
        Ok(Marked {
            end,
            at,
            fields,
            syslog_time,
        })
    }

    /// Assembles the event from what a format decoder found.
    pub(crate) fn finish(
        &mut self,
        format: Format,
        fields: Fields,
        raw: Bytes,
        facts: &Facts,
    ) -> Event {
        let received = self.received.unwrap_or_else(Timestamp::now);
        let (time, time_offset) = match facts.time {
            Some((ts, offset)) => (ts, offset.unwrap_or(self.origin.default_offset)),
            None => (received, UtcOffset::UTC),
        };
        let logsource = self.logsource(format, &fields, facts);
        let host = facts
            .host
            .and_then(|id| fields.get(id)?.as_text())
            .filter(|h| !h.is_empty() && *h != "-")
            .map(Into::into);
        Event {
            tenant: self.origin.tenant.clone(),
            id: self.ids.next_at(received),
            time,
            time_offset,
            received,
            source: self.origin.source.clone(),
            format,
            logsource,
            host,
            fields,
            raw,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::event::SourceKind;

    pub(crate) fn decoder() -> Decoder {
        let mut d = Decoder::new(Origin::new(
            TenantId::new("test").unwrap(),
            Source::new(SourceKind::File, "unit-test"),
        ));
        d.set_received(Some(Timestamp::from_nanos(1_767_225_600_000_000_000)));
        d
    }

    #[test]
    fn explicit_logsource_wins() {
        let mut d = decoder();
        d.origin.logsource = Some(Arc::new(LogSource::new(Some("linux"), &["auditd"], &[])));
        let e = d.decode_json(Bytes::from_static(
            br#"{"Channel":"Security","EventID":4688}"#,
        ));
        let e = e.unwrap();
        assert!(e.logsource.matches(Some("linux"), None, Some("auditd")));
        assert!(!e.logsource.matches(Some("windows"), None, None));
    }
}
