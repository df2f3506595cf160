//! Sigma detection: parse → validate → compile → match, and correlate.
//!
//! - Loading ([`load_dir`], [`parse_rules`] into [`Loaded`]): YAML with raw scalars, every
//!   document of a file; detection rules, filters and correlations; one [`Diagnostic`] (file,
//!   line, stable [`Code`]) for each rule that cannot run exactly, never a half-loaded rule.
//! - Matching: [`eval::rule_matches`] is the reference interpreter that defines behaviour;
//!   [`RuleSet`] + [`RuleMatcher`] is the fast engine (candidate selection, see
//!   [`engine`]), tested equal to it.
//! - Correlation: [`CorrelationSet`] resolves correlation rules against a rule set and
//!   [`CorrelationEngine`] runs them over the stream of rule matches (see [`correlation`]
//!   for the decisions the specification leaves open).

pub mod condition;
pub mod conformance;
pub mod correlation;
pub mod detection;
mod document;
pub mod engine;
pub mod error;
pub mod eval;
pub mod filter;
mod literals;
pub mod load;
pub mod mapping;
pub mod narrow;
pub mod placeholder;
pub mod rule;
pub mod value;
mod yaml;

#[cfg(test)]
mod regression;
#[cfg(test)]
mod testing;

pub use correlation::{Correlation, CorrelationEngine, CorrelationMatch, CorrelationSet, Limits};
pub use engine::{MatchStats, RuleMatcher, RuleSet, Shape};
pub use error::{Code, Diagnostic, SigmaError};
pub use load::{Loaded, load_dir, parse_rules};
pub use placeholder::Placeholders;
pub use rule::Rule;

/// Checks that the fast YAML reader and saphyr agree on `text`: when the fast reader takes
/// it, saphyr must read the same tree, lines included. For the `yaml` fuzz target.
#[doc(hidden)]
pub fn yaml_readers_agree(text: &str) -> Result<(), String> {
    yaml::readers_agree(text)
}
