//! The one error type of the crate.

/// What went wrong with the state database.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// The database could not be opened, created or reached.
    #[error("cannot open the state database {what}: {source}")]
    Open {
        /// The database file, or its URL without the password.
        what: String,
        /// Why.
        source: sqlx::Error,
    },
    /// A statement failed.
    #[error("state database: cannot {action}: {source}")]
    Sql {
        /// What was being done.
        action: &'static str,
        /// Why.
        source: sqlx::Error,
    },
    /// `state` is neither a file nor a PostgreSQL URL.
    #[error("state {0:?}: not a PostgreSQL URL (postgres://user@host:port/database)")]
    Url(String),
    /// A value given is not acceptable (names the value and why).
    #[error("{0}")]
    Invalid(String),
    /// Something of that name exists already.
    #[error("{0} already exists")]
    Exists(String),
    /// The tenant already exists.
    #[error("tenant {0:?} already exists")]
    TenantExists(String),
    /// The tenant does not exist.
    #[error("no tenant {0:?} (create it with `vigie admin tenant create {0}`)")]
    NoTenant(String),
    /// The database holds a value Vigie cannot have written.
    #[error("state database holds an invalid value: {0}")]
    Corrupt(String),
    /// The database was written by a newer Vigie.
    #[error("the state database has schema version {found}, newer than this Vigie ({known})")]
    NewerSchema {
        /// The version in the database.
        found: i64,
        /// The newest version this build knows.
        known: i64,
    },
    /// The operating system's random source failed (tokens cannot be minted).
    #[error("no randomness for a token: {0}")]
    Random(String),
}

impl StateError {
    /// A closure mapping an sqlx error to [`StateError::Sql`] for `action`.
    pub(crate) fn sql(action: &'static str) -> impl FnOnce(sqlx::Error) -> StateError {
        move |source| StateError::Sql { action, source }
    }
}
