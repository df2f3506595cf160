//! The wire formats events are decoded from (a leaf module: errors name a format, and
//! everything names errors).

use std::fmt;

/// The wire format an event was decoded from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// A record of a Windows EVTX file.
    Evtx,
    /// A JSON object (a line of NDJSON, an element of an array, or one of concatenated
    /// objects).
    Json,
    /// syslog, RFC 5424.
    Rfc5424,
    /// syslog, RFC 3164 (BSD) and its real-world variants.
    Rfc3164,
    /// ArcSight Common Event Format.
    Cef,
    /// IBM QRadar Log Event Extended Format (1.0 or 2.0).
    Leef,
}

impl Format {
    /// A stable lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Evtx => "evtx",
            Format::Json => "json",
            Format::Rfc5424 => "syslog-rfc5424",
            Format::Rfc3164 => "syslog-rfc3164",
            Format::Cef => "cef",
            Format::Leef => "leef",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
