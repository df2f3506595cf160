//! The one error type of the crate.

use std::borrow::Cow;
use std::fmt;

use crate::format::Format;

/// Why bytes could not become an event, or a name, id or table of this crate was refused.
///
/// Every decode variant names the format and, where there is one, the byte offset into the
/// input the decoder was given, so that a listener can report "line 12, byte 40: expected …".
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    /// The bytes do not follow the format's syntax.
    #[error("{format}: at byte {offset}: expected {expected}, found {found}")]
    Syntax {
        /// The format being decoded.
        format: Format,
        /// Byte offset into the input.
        offset: usize,
        /// What the decoder expected there.
        expected: Cow<'static, str>,
        /// What it found (a short, escaped excerpt).
        found: Found,
    },
    /// The input is larger than the decoder accepts.
    #[error("{format}: input of {len} bytes exceeds the limit of {limit}")]
    TooLarge {
        /// The format being decoded.
        format: Format,
        /// Input length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// The input nests deeper than the decoder accepts.
    #[error("{format}: at byte {offset}: nesting deeper than {limit} levels")]
    TooDeep {
        /// The format being decoded.
        format: Format,
        /// Byte offset where the limit was crossed.
        offset: usize,
        /// The limit.
        limit: usize,
    },
    /// A field could not be stored (name too long, too many distinct names).
    #[error("{format}: at byte {offset}: {source}")]
    Field {
        /// The format being decoded.
        format: Format,
        /// Byte offset of the field.
        offset: usize,
        /// Why it could not be stored (a field name variant, or [`EventError::EventTooLarge`]).
        source: Box<EventError>,
    },
    /// The EVTX parser rejected a file or a record.
    #[error("evtx: {context}: {message}")]
    Evtx {
        /// Which file or record (record number, chunk).
        context: String,
        /// The parser's explanation, with its causes.
        message: String,
    },
    /// A field name longer than the limit ([`crate::field::MAX_FIELD_NAME_LEN`]).
    #[error("field name of {len} bytes is longer than the limit of {limit}")]
    FieldNameTooLong {
        /// Length of the rejected name.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// The process-wide name table is full ([`crate::field::MAX_FIELD_NAMES`] names).
    #[error("field name {name:?} would exceed the limit of {limit} distinct field names")]
    FieldNameTableFull {
        /// The first bytes of the rejected name.
        name: String,
        /// The limit.
        limit: usize,
    },
    /// An empty field name.
    #[error("empty field name")]
    FieldNameEmpty,
    /// The tenant's [`crate::field::NameBudget`] is spent: the name is new to this tenant
    /// and it already used as many distinct names as it may.
    #[error(
        "field name {name:?} would pass this tenant's limit of {limit} distinct field names (limits.max_field_names)"
    )]
    FieldNameTenantLimit {
        /// The first bytes of the rejected name.
        name: String,
        /// The tenant's limit.
        limit: usize,
    },
    /// An event's text would exceed 4 GiB.
    #[error("event text exceeds 4 GiB")]
    EventTooLarge,
    /// A syslog frame exceeded the size limit (the framer has skipped it).
    #[error("syslog frame at stream byte {offset}: {len} bytes exceeds the limit of {limit}")]
    FrameTooLarge {
        /// Offset of the frame in the stream.
        offset: u64,
        /// Its length (announced or seen so far).
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// An octet count that is not a number followed by a space (the framer has skipped it).
    #[error("syslog frame at stream byte {offset}: expected an octet count (digits then a space)")]
    FrameBadCount {
        /// Offset of the frame in the stream.
        offset: u64,
    },
    /// A tenant id that breaks the naming rule.
    #[error(
        "invalid tenant id {input:?}: expected 1 to 64 characters of a-z, 0-9, '_' or '-', starting with a letter or digit"
    )]
    TenantId {
        /// The rejected text.
        input: String,
    },
    /// An event id text that is not a ULID.
    #[error("invalid event id {input:?}: expected 26 Crockford base32 characters")]
    EventId {
        /// The rejected text.
        input: String,
    },
    /// A logsource path that is not `product/service/category`.
    #[error("logsource {text:?}: expected product/service/category (letters, digits, _ - .)")]
    LogSourcePath {
        /// The rejected text.
        text: String,
    },
    /// A line of a logsource classification table is invalid.
    #[error("logsource table line {line}: {message}")]
    LogSourceTable {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

impl EventError {
    pub(crate) fn syntax(
        format: Format,
        input: &[u8],
        offset: usize,
        expected: impl Into<Cow<'static, str>>,
    ) -> Self {
        EventError::Syntax {
            format,
            offset,
            expected: expected.into(),
            found: Found::at(input, offset),
        }
    }

    /// The byte offset the error points at, when it has one.
    pub fn offset(&self) -> Option<usize> {
        match self {
            EventError::Syntax { offset, .. }
            | EventError::TooDeep { offset, .. }
            | EventError::Field { offset, .. } => Some(*offset),
            _ => None,
        }
    }
}

/// A short, printable excerpt of the input at an error position.
#[derive(Clone, PartialEq, Eq)]
pub struct Found(Option<String>);

impl Found {
    /// The excerpt at `offset` (up to 16 bytes), or end of input.
    pub fn at(input: &[u8], offset: usize) -> Found {
        match input.get(offset..) {
            Some(rest) if !rest.is_empty() => {
                let take = &rest[..rest.len().min(16)];
                Found(Some(take.escape_ascii().to_string()))
            }
            _ => Found(None),
        }
    }
}

impl fmt::Display for Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(s) => write!(f, "\"{s}\""),
            None => f.write_str("end of input"),
        }
    }
}

impl fmt::Debug for Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
