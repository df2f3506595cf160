//! The decoders' error type.

use std::borrow::Cow;
use std::fmt;

use crate::event::Format;
use crate::fields::FieldsError;

/// Why bytes could not be decoded into an event.
///
/// Every variant names the format and, where there is one, the byte offset into the input
/// the decoder was given, so that a listener can report "line 12, byte 40: expected …".
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
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
        /// Why it could not be stored.
        source: FieldsError,
    },
    /// The EVTX parser rejected a file or a record.
    #[error("evtx: {context}: {message}")]
    Evtx {
        /// Which file or record (record number, chunk).
        context: String,
        /// The parser's explanation, with its causes.
        message: String,
    },
}

impl DecodeError {
    pub(crate) fn syntax(
        format: Format,
        input: &[u8],
        offset: usize,
        expected: impl Into<Cow<'static, str>>,
    ) -> Self {
        DecodeError::Syntax {
            format,
            offset,
            expected: expected.into(),
            found: Found::at(input, offset),
        }
    }

    /// The byte offset the error points at, when it has one.
    pub fn offset(&self) -> Option<usize> {
        match self {
            DecodeError::Syntax { offset, .. }
            | DecodeError::TooDeep { offset, .. }
            | DecodeError::Field { offset, .. } => Some(*offset),
            DecodeError::TooLarge { .. } | DecodeError::Evtx { .. } => None,
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
