//! Placeholder values for the `expand` modifier: `%name%` in a rule value stands for a list of
//! values the organisation defines (its admin workstations, its domain controllers…).
//!
//! The specification leaves the replacement to the tool's configuration and requires a tool
//! that cannot resolve a placeholder to reject the rule; so a rule naming a placeholder that
//! is not configured is rejected (S006) with the placeholder's name. Configured, each value
//! with placeholders becomes the alternatives of every combination of their values (as
//! pySigma's value-list placeholder transformation does), and the modifiers written after
//! `expand` apply to each.
//!
//! The file is YAML: a map from placeholder name to a value or a list of values.
//!
//! ```yaml
//! Admins_Workstations:
//!   - WS-ADMIN-01
//!   - WS-ADMIN-02
//! DC: SRV-DC01
//! ```

use rustc_hash::FxHashMap;

use crate::error::SigmaError;
use crate::yaml::{self, Node};

/// Placeholder name → values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placeholders {
    values: FxHashMap<String, Vec<String>>,
}

/// Past this many combinations, a value's expansion is refused rather than cut short.
const MAX_EXPANSION: usize = 4096;

impl Placeholders {
    /// Reads the YAML form; the error names the line.
    pub fn parse(text: &str) -> Result<Placeholders, SigmaError> {
        let docs = yaml::load(text)?;
        let mut out = Placeholders::default();
        for doc in &docs {
            let Node::Map(entries, _) = doc else {
                return Err(SigmaError::Yaml {
                    line: doc.line(),
                    message: "placeholders must be a map of names to values".to_owned(),
                });
            };
            for (name, value) in entries {
                let values = crate::yaml::scalar_list(value).ok_or_else(|| SigmaError::Yaml {
                    line: value.line(),
                    message: format!(
                        "placeholder '{}' must be a value or a list of values",
                        name.text
                    ),
                })?;
                out.insert(
                    &name.text,
                    values.into_iter().map(|s| s.text.clone()).collect(),
                );
            }
        }
        Ok(out)
    }

    /// Defines (or replaces) one placeholder.
    pub fn insert(&mut self, name: &str, values: Vec<String>) {
        self.values.insert(name.to_owned(), values);
    }

    /// Whether none is defined.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Every expansion of `text`; `Err` names the first placeholder not configured.
    pub(crate) fn expand(&self, text: &str) -> Result<Vec<String>, String> {
        let mut out = vec![String::new()];
        let mut rest = text;
        while let Some(start) = rest.find('%') {
            let Some(len) = rest[start + 1..].find('%') else {
                break;
            };
            let name = &rest[start + 1..start + 1 + len];
            let prefix = &rest[..start];
            let values = self.values.get(name).ok_or_else(|| {
                format!("placeholder '%{name}%' is not configured (see --placeholders)")
            })?;
            if out.len() * values.len() > MAX_EXPANSION {
                return Err(format!(
                    "placeholders of {text:?} expand to more than {MAX_EXPANSION} values"
                ));
            }
            out = out
                .iter()
                .flat_map(|o| values.iter().map(move |v| format!("{o}{prefix}{v}")))
                .collect();
            rest = &rest[start + len + 2..];
        }
        for o in &mut out {
            o.push_str(rest);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expansion_is_every_combination() {
        let p = Placeholders::parse("A: [x, y]\nB: z\n").unwrap();
        assert_eq!(p.expand("%A%").unwrap(), ["x", "y"]);
        assert_eq!(p.expand("pre-%A%-%B%").unwrap(), ["pre-x-z", "pre-y-z"]);
        assert_eq!(p.expand("no placeholder").unwrap(), ["no placeholder"]);
        assert_eq!(p.expand("100% sure").unwrap(), ["100% sure"]);
        assert!(p.expand("%C%").unwrap_err().contains("'%C%'"));
        assert!(Placeholders::parse("- a\n").is_err());
        assert!(Placeholders::parse("A: {b: c}\n").is_err());
    }
}
