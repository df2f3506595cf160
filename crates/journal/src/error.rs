//! The one error type of the crate.

/// Why a journal operation failed.
///
/// File operations of the writer and reader answer [`std::io::Error`] (their callers
/// only report it); this enum holds what is the journal's own judgement.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// A record could not be read back: its CRC passed, so this is a format version this
    /// build does not know, or a bug.
    #[error("journal record unreadable at byte {at}: {what}")]
    Record {
        /// Byte offset in the payload.
        at: usize,
        /// What was expected.
        what: &'static str,
    },
}
