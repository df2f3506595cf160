//! The one error type of the crate.

use std::path::PathBuf;

/// Why rules could not be loaded.
///
/// A rule that does not parse or validate is not an error here: it is a
/// [`vigie_sigma::Diagnostic`] in the book's `rejected` list, and the other rules load.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DetectError {
    /// A rule file or folder could not be read.
    #[error("cannot read rules from {}: {source}", path.display())]
    Read {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The placeholders file is unreadable or invalid.
    #[error("{}: {message}", file.display())]
    Placeholders {
        /// The file.
        file: PathBuf,
        /// What is wrong, with the line when known.
        message: String,
    },
}
