//! Vigie's event model and its decoders.
//!
//! Every other crate consumes [`Event`]: detection reads its [`Fields`] by pre-resolved
//! [`FieldId`], the store indexes them, the server shows them. This crate turns bytes into
//! events:
//!
//! - [`decode`]: one module per wire format (EVTX, JSON, syslog RFC 5424/3164 and RFC 6587
//!   framing, CEF, LEEF), all methods of a per-thread [`Decoder`] and all returning
//!   `Result<Event, EventError>` with the byte position and what was expected;
//! - [`classify`]: the data table that gives each event its Sigma logsource;
//! - [`fields`], [`field`]: the flat field map and the process-wide field-name interner;
//! - [`time`], [`id`]: timestamps, tenant and event ids.
//!
//! The crate is synchronous, never prints and never spawns threads: callers decide how to
//! parallelise (one [`Decoder`] per worker).

pub mod classify;
pub mod decode;
pub mod error;
pub mod event;
pub mod field;
pub mod fields;
pub mod format;
pub mod id;
pub mod render;
pub mod time;

#[cfg(test)]
mod testdata;

pub use classify::{Classifier, LogSource};
pub use decode::{Decoder, Origin};
pub use error::EventError;
pub use event::{Event, Format, Source, SourceKind};
pub use field::FieldId;
pub use fields::{Fields, Number, Scalar, Value};
pub use id::{EventId, EventIdGenerator, TenantId};
pub use time::{Timestamp, UtcOffset};
