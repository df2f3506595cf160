//! The store's error type.

use std::path::PathBuf;

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A file or directory of the store could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The system error.
        source: std::io::Error,
    },
    /// The index engine failed (a damaged or unreadable partition, a full disk).
    #[error("index {partition}: {message}")]
    Index {
        /// The partition (`tenant/period`) involved.
        partition: String,
        /// tantivy's message.
        message: String,
    },
    /// The store directory was created with other settings than the ones given.
    #[error("{path}: {message}")]
    Settings {
        /// The store's settings file.
        path: PathBuf,
        /// What differs.
        message: String,
    },
    /// A query that parsed but cannot run (a bad time, a network on a metadata field…).
    #[error("invalid query: {message}")]
    InvalidQuery {
        /// What is wrong.
        message: String,
    },
    /// A query that did not parse: where, and why.
    #[error("{0}")]
    Parse(crate::query::ParseError),
    /// A time that is not RFC 3339, `now` or a relative time.
    #[error(
        "invalid time {input:?}: {reason}; expected an RFC 3339 time (2026-11-22T08:00:00Z), `now`, or a relative time such as -24h, -15m, -7d, now-1h"
    )]
    Time {
        /// The text given.
        input: String,
        /// What was wrong.
        reason: String,
    },
    /// A search cursor that is not one a search returned.
    #[error("invalid cursor {input:?}: expected <nanoseconds>.<event id> as returned by a search")]
    Cursor {
        /// The text given (its first 64 characters).
        input: String,
    },
    /// Stored data that does not read back.
    #[error("corrupt data: {what}")]
    Corrupt {
        /// What was being read.
        what: String,
    },
    /// An aggregation the store cannot compute as asked.
    #[error("invalid aggregation: {message}")]
    InvalidAggregation {
        /// What is wrong.
        message: String,
    },
}

impl From<crate::query::ParseError> for StoreError {
    fn from(e: crate::query::ParseError) -> StoreError {
        StoreError::Parse(e)
    }
}

impl StoreError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> StoreError {
        StoreError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn index(partition: &str, e: impl std::fmt::Display) -> StoreError {
        StoreError::Index {
            partition: partition.to_owned(),
            message: e.to_string(),
        }
    }
}
