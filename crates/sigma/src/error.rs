//! The crate's one error type, and rule diagnostics.

use std::fmt;

/// Why a text of this crate's inputs could not be read. A rule that cannot run is not one of
/// these: it is a [`Diagnostic`], collected by the loader while the other rules load.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SigmaError {
    /// A YAML syntax problem.
    #[error("line {line}: {message}")]
    Yaml {
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A `condition` that does not parse.
    #[error("at byte {offset}: {message}")]
    Condition {
        /// Byte offset in the condition text.
        offset: usize,
        /// What was expected or what is wrong.
        message: String,
    },
    /// A regression test case (`info.yml`) that cannot be used.
    #[error("{}: {message}", file.display())]
    Case {
        /// The file.
        file: std::path::PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// Stable diagnostic codes, so that tools and the expected-rejections file can match on
/// them while messages improve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Code {
    /// The file is not valid YAML.
    Yaml,
    /// A required key is missing or has the wrong shape.
    Structure,
    /// A modifier is unknown or used where it cannot apply.
    Modifier,
    /// A value cannot be used with its modifiers (a bad regex, CIDR or number).
    Value,
    /// The condition does not parse or names unknown identifiers.
    Condition,
    /// A placeholder (`|expand`) has no value configured.
    Placeholder,
    /// A correlation rule (not supported by this engine yet).
    Correlation,
    /// A filter document that is malformed or applies to no rule.
    Filter,
}

impl Code {
    /// The stable text of the code.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Yaml => "S001-yaml",
            Code::Structure => "S002-structure",
            Code::Modifier => "S003-modifier",
            Code::Value => "S004-value",
            Code::Condition => "S005-condition",
            Code::Placeholder => "S006-placeholder",
            Code::Correlation => "S007-correlation",
            Code::Filter => "S008-filter",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a rule was not loaded (or a note about one): the rule, where, a stable code and a
/// message. A record the loader collects, not an error it returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The rule's id, when it got that far.
    pub rule_id: Option<String>,
    /// The file (as given to the loader).
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// Stable code.
    pub code: Code,
    /// Explanation.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {}: {}",
            self.file, self.line, self.code, self.message
        )?;
        if let Some(id) = &self.rule_id {
            write!(f, " (rule {id})")?;
        }
        Ok(())
    }
}
