//! The one error type of the crate.

use std::path::PathBuf;

/// Why the server could not start or an operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The configuration file is unreadable or invalid.
    #[error("{}: {message}", file.display())]
    Config {
        /// The file.
        file: PathBuf,
        /// What is wrong, with the line when known.
        message: String,
    },
    /// A file or socket operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// The state database failed.
    #[error(transparent)]
    State(#[from] vigie_state::StateError),
    /// A people or access operation was refused: the kind (for the HTTP status) and why.
    #[error("{1}")]
    Refused(crate::people::Refusal, String),
    /// An instance secret is missing, unreadable or malformed.
    #[error("instance secret {path}: {message}")]
    Secret {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        message: String,
    },
    /// The rules could not be loaded.
    #[error(transparent)]
    Rules(#[from] vigie_detect::DetectError),
    /// The event store failed.
    #[error(transparent)]
    Store(#[from] vigie_store::StoreError),
    /// The notification settings cannot be used (`[notify]`).
    #[error("{0}")]
    Notify(String),
    /// The pipeline stopped: a worker's storage failed, or every worker is gone.
    #[error("pipeline: {0}")]
    Pipeline(String),
    /// A task run off the async runtime (the pipeline's stop, the store's close) panicked.
    #[error("{what}: the task failed: {message}")]
    Task {
        /// What the task was doing.
        what: String,
        /// The panic's message.
        message: String,
    },
    /// A file the server wrote does not read back (edited by hand, or a bug).
    #[error("{}: {message}", file.display())]
    Corrupt {
        /// The file.
        file: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// An ingest body inflates past the limit (`http.max_decoded_bytes`).
    #[error("the body inflates past {0} bytes")]
    BodyTooLarge(usize),
    /// An ingest body says gzip but is not.
    #[error("invalid gzip body: {0}")]
    BodyGzip(String),
    /// Inflating an ingest body would pass the memory bodies may hold.
    #[error(
        "inflating the body would pass the memory ingest bodies may hold (http.max_buffered_mib); retry later"
    )]
    BodyNoMemory,
    /// TLS material is unusable.
    #[error("TLS for listener {listener:?}: {message}")]
    Tls {
        /// The listener.
        listener: String,
        /// What is wrong.
        message: String,
    },
    /// A listener names a tenant that does not exist.
    #[error(
        "listener {listener:?}: no tenant {tenant:?} (create it with `vigie admin tenant create {tenant}`)"
    )]
    UnknownTenant {
        /// The listener.
        listener: String,
        /// The tenant.
        tenant: String,
    },
    /// No such quarantined record (see [`crate::quarantine`]).
    #[error("no quarantined record {id:?} for tenant {tenant:?}")]
    NotQuarantined {
        /// The tenant asked.
        tenant: String,
        /// The id asked.
        id: String,
    },
    /// A quarantine id that is not 16 lower-case hexadecimal digits.
    #[error("quarantine id {0:?}: expected 16 hexadecimal digits")]
    QuarantineId(String),
}

impl ServerError {
    /// An [`ServerError::Io`] for `what`.
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ServerError {
        let what = what.into();
        move |source| ServerError::Io { what, source }
    }
}
