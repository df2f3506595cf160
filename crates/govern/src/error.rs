//! The one error type of the crate.

/// Why a governance request is refused, or a record or code cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GovernError {
    /// A grant request or decision breaks a rule (the message says which).
    #[error("grant: {0}")]
    Grant(String),
    /// An elevation request or decision breaks a rule.
    #[error("elevation: {0}")]
    Elevation(String),
    /// A password the policy refuses, or a stored hash that cannot be read.
    #[error("password: {0}")]
    Password(String),
    /// A search that would reach sensitive values.
    #[error("sensitive: {0}")]
    Sensitive(String),
    /// A TOTP seed or parameter is unusable.
    #[error("totp: {0}")]
    Totp(String),
    /// An audit record cannot be put in canonical form.
    #[error("audit record: {0}")]
    Audit(String),
    /// A sealed secret does not open.
    #[error("sealed secret: {0}")]
    Seal(String),
    /// An asset list that cannot be read (the line and what is wrong).
    #[error("asset list, line {line}: {message}")]
    Assets {
        /// The line (from 1).
        line: u64,
        /// What is wrong there.
        message: String,
    },
    /// A deadline that cannot be computed (an unknown time zone, a time out of range).
    #[error("deadline: {0}")]
    Deadline(String),
    /// A notification rule or destination refused (the field and why).
    #[error("notification: {0}")]
    Notify(String),
    /// A role, tier or action name that does not exist.
    #[error("unknown {what} {name:?}")]
    Unknown {
        /// What kind of name.
        what: &'static str,
        /// The name given.
        name: String,
    },
}
