//! The event every other crate consumes.

use std::sync::Arc;

use bytes::Bytes;

use crate::classify::LogSource;
use crate::fields::Fields;
pub use crate::format::Format;
use crate::id::{EventId, TenantId};
use crate::time::{Timestamp, UtcOffset};

/// How an event reached Vigie.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SourceKind {
    /// Read from a file (EVTX, JSON, a log file) by an offline command or an import.
    File,
    /// Posted to the HTTP ingest API.
    Http,
    /// syslog over UDP.
    SyslogUdp,
    /// syslog over plain TCP.
    SyslogTcp,
    /// syslog over TLS.
    SyslogTls,
}

impl SourceKind {
    /// A stable lower-case name, as used in metrics and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::File => "file",
            SourceKind::Http => "http",
            SourceKind::SyslogUdp => "syslog-udp",
            SourceKind::SyslogTcp => "syslog-tcp",
            SourceKind::SyslogTls => "syslog-tls",
        }
    }
}

/// Where an event came from: the transport and a name (a file path, a listener name, a
/// sending host) chosen by whoever received it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Source {
    /// The transport.
    pub kind: SourceKind,
    /// The name of this source (shared between all events of the source).
    pub name: Arc<str>,
}

impl Source {
    /// A source of `kind` named `name`.
    pub fn new(kind: SourceKind, name: &str) -> Source {
        Source {
            kind,
            name: name.into(),
        }
    }
}

/// One decoded, classified event.
#[derive(Clone, Debug)]
pub struct Event {
    /// The tenant it belongs to.
    pub tenant: TenantId,
    /// Its id, minted at decode time (time-ordered by receive time).
    pub id: EventId,
    /// When it happened, as the source says (UTC); the receive time when the source gave none.
    pub time: Timestamp,
    /// The UTC offset the source wrote its time in (UTC when it wrote none).
    pub time_offset: UtcOffset,
    /// When Vigie received it.
    pub received: Timestamp,
    /// Where it came from.
    pub source: Source,
    /// The format it was decoded from.
    pub format: Format,
    /// Its Sigma logsource (product, services, categories); shared between events.
    pub logsource: Arc<LogSource>,
    /// The host that produced it (EVTX `Computer`, syslog HOSTNAME, …), when known.
    pub host: Option<Box<str>>,
    /// Its fields, under the names detection rules use.
    pub fields: Fields,
    /// The bytes it was decoded from (for EVTX: the record's JSON rendering, since the
    /// binary record is meaningless outside its chunk).
    pub raw: Bytes,
}
