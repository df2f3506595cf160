//! Sigma detection: parse → validate → compile → match.
//!
//! Today this crate holds the rule loader (YAML with raw scalars, every document of a file,
//! diagnostics with file, line and stable code for each rule it will not run), the value model
//! (wildcards and escapes exactly as the specification defines them), every value modifier but
//! the date parts, the condition language, filters (applied as pySigma applies them), field
//! mappings per source (as data), and the reference interpreter ([`eval::rule_matches`]) that
//! defines matching behaviour, and a first compiled [`RuleSet`] tested equal to it. Candidate
//! selection (the fast engine of DESIGN.md) and correlation rules come next (issue 3); a rule
//! this crate cannot run exactly is rejected with a diagnostic, never half-loaded.

pub mod condition;
pub mod correlation;
pub mod detection;
pub mod engine;
pub mod error;
pub mod eval;
pub mod filter;
pub mod mapping;
pub mod placeholder;
pub mod rule;
pub mod value;
mod yaml;

#[cfg(test)]
mod regression;

pub use correlation::{Correlation, CorrelationEngine, CorrelationMatch, CorrelationSet, Limits};
pub use engine::{MatchStats, Reloadable, RuleMatcher, RuleSet, Shape};
pub use error::{Code, Diagnostic};
pub use placeholder::Placeholders;
pub use rule::{Loaded, Rule, load_dir, parse_rules};
