//! Conditions: `and`, `or`, `not`, parentheses, `1 of`/`any of`/`all of` over names with `*`
//! wildcards or `them`.
//!
//! Precedence, loosest first: `or`, `and`, `not`, `x of`, parentheses (specification,
//! "Condition"). `them` and patterns skip identifiers starting with `_` unless the pattern
//! itself starts with `_` (pySigma). A pattern that matches no identifier is an error: a
//! vacuous `all of` would silently be true.

use crate::error::SigmaError;

/// A parsed condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// A search identifier.
    Ref(String),
    /// All must hold.
    And(Vec<Condition>),
    /// One must hold.
    Or(Vec<Condition>),
    /// Negation.
    Not(Box<Condition>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    Open,
    Close,
}

fn tokenize(text: &str) -> Result<Vec<(usize, Tok)>, SigmaError> {
    let mut out = Vec::new();
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b'(' => {
                out.push((i, Tok::Open));
                i += 1;
            }
            b')' => {
                out.push((i, Tok::Close));
                i += 1;
            }
            c if c.is_ascii_alphanumeric() || matches!(c, b'_' | b'*' | b'-' | b'.') => {
                let start = i;
                while i < b.len()
                    && (b[i].is_ascii_alphanumeric() || matches!(b[i], b'_' | b'*' | b'-' | b'.'))
                {
                    i += 1;
                }
                out.push((start, Tok::Word(text[start..i].to_owned())));
            }
            b'|' => {
                return Err(SigmaError::Condition {
                    offset: i,
                    message: "the pipe aggregation syntax is obsolete: use a correlation rule"
                        .to_owned(),
                });
            }
            _ => {
                return Err(SigmaError::Condition {
                    offset: i,
                    message: format!(
                        "unexpected character {:?}",
                        text[i..].chars().next().unwrap_or(' ')
                    ),
                });
            }
        }
    }
    Ok(out)
}

struct Parser<'a> {
    toks: Vec<(usize, Tok)>,
    pos: usize,
    end: usize,
    names: &'a [String],
}

fn keyword(tok: Option<&Tok>, kw: &str) -> bool {
    matches!(tok, Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw))
}

/// Whether identifier `name` matches pattern `pattern` (`*` = any run).
fn pattern_matches(pattern: &str, name: &str) -> bool {
    crate::value::SigmaString::parse(pattern).matches(name)
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(_, t)| t)
    }

    fn offset(&self) -> usize {
        self.toks.get(self.pos).map_or(self.end, |(o, _)| *o)
    }

    fn err(&self, message: impl Into<String>) -> SigmaError {
        SigmaError::Condition {
            offset: self.offset(),
            message: message.into(),
        }
    }

    fn or(&mut self) -> Result<Condition, SigmaError> {
        let mut terms = vec![self.and()?];
        while keyword(self.peek(), "or") {
            self.pos += 1;
            terms.push(self.and()?);
        }
        Ok(if terms.len() == 1 {
            terms.remove(0)
        } else {
            Condition::Or(terms)
        })
    }

    fn and(&mut self) -> Result<Condition, SigmaError> {
        let mut terms = vec![self.not()?];
        while keyword(self.peek(), "and") {
            self.pos += 1;
            terms.push(self.not()?);
        }
        Ok(if terms.len() == 1 {
            terms.remove(0)
        } else {
            Condition::And(terms)
        })
    }

    fn not(&mut self) -> Result<Condition, SigmaError> {
        if keyword(self.peek(), "not") {
            self.pos += 1;
            return Ok(Condition::Not(Box::new(self.not()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Condition, SigmaError> {
        match self.peek().cloned() {
            Some(Tok::Open) => {
                self.pos += 1;
                let inner = self.or()?;
                if self.peek() != Some(&Tok::Close) {
                    return Err(self.err("')'"));
                }
                self.pos += 1;
                Ok(inner)
            }
            Some(Tok::Word(w)) => {
                let lower = w.to_ascii_lowercase();
                let is_quantifier = matches!(lower.as_str(), "1" | "any" | "all");
                if is_quantifier && keyword(self.toks.get(self.pos + 1).map(|(_, t)| t), "of") {
                    let all = lower == "all";
                    self.pos += 2;
                    let Some(Tok::Word(pattern)) = self.peek().cloned() else {
                        return Err(self.err("an identifier pattern or 'them' after 'of'"));
                    };
                    let at = self.offset();
                    self.pos += 1;
                    let chosen: Vec<Condition> = self
                        .names
                        .iter()
                        .filter(|n| {
                            if pattern.eq_ignore_ascii_case("them") {
                                !n.starts_with('_')
                            } else {
                                pattern_matches(&pattern, n)
                                    && (!n.starts_with('_') || pattern.starts_with('_'))
                            }
                        })
                        .map(|n| Condition::Ref(n.clone()))
                        .collect();
                    if chosen.is_empty() {
                        return Err(SigmaError::Condition {
                            offset: at,
                            message: format!("'{pattern}' matches no search identifier"),
                        });
                    }
                    return Ok(if all {
                        Condition::And(chosen)
                    } else {
                        Condition::Or(chosen)
                    });
                }
                if matches!(lower.as_str(), "and" | "or" | "not" | "of") {
                    return Err(self.err(format!("an identifier, not '{w}'")));
                }
                if !self.names.contains(&w) {
                    return Err(self.err(format!("unknown search identifier '{w}'")));
                }
                self.pos += 1;
                Ok(Condition::Ref(w))
            }
            Some(Tok::Close) => Err(self.err("an identifier or '('")),
            None => Err(self.err("an identifier or '(' (the condition ended early)")),
        }
    }
}

/// Parses `text`, resolving patterns against the rule's search identifiers `names`.
pub fn parse(text: &str, names: &[String]) -> Result<Condition, SigmaError> {
    let mut p = Parser {
        toks: tokenize(text)?,
        pos: 0,
        end: text.len(),
        names,
    };
    let cond = p.or()?;
    if p.pos != p.toks.len() {
        return Err(p.err("'and', 'or' or the end of the condition"));
    }
    Ok(cond)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    fn r(n: &str) -> Condition {
        Condition::Ref(n.to_owned())
    }

    #[test]
    fn precedence_or_and_not() {
        let n = names(&["a", "b", "c"]);
        assert_eq!(
            parse("a or b and not c", &n).unwrap(),
            Condition::Or(vec![
                r("a"),
                Condition::And(vec![r("b"), Condition::Not(Box::new(r("c")))])
            ])
        );
        assert_eq!(
            parse("(a or b) and c", &n).unwrap(),
            Condition::And(vec![Condition::Or(vec![r("a"), r("b")]), r("c")])
        );
        assert_eq!(
            parse("not not a", &n).unwrap(),
            Condition::Not(Box::new(Condition::Not(Box::new(r("a")))))
        );
    }

    #[test]
    fn quantifiers_patterns_and_them() {
        let n = names(&["selection_a", "selection_b", "filter", "_private"]);
        assert_eq!(
            parse("1 of selection_* and not filter", &n).unwrap(),
            Condition::And(vec![
                Condition::Or(vec![r("selection_a"), r("selection_b")]),
                Condition::Not(Box::new(r("filter")))
            ])
        );
        assert_eq!(
            parse("all of them", &n).unwrap(),
            Condition::And(vec![r("selection_a"), r("selection_b"), r("filter")])
        );
        assert_eq!(
            parse("any of _*", &n).unwrap(),
            Condition::Or(vec![r("_private")])
        );
        assert_eq!(
            parse("1 of *", &n).unwrap(),
            Condition::Or(vec![r("selection_a"), r("selection_b"), r("filter")])
        );
    }

    #[test]
    fn errors_point_at_the_problem() {
        let n = names(&["a", "b"]);
        let error = |text: &str| match parse(text, &n).unwrap_err() {
            SigmaError::Condition { offset, message } => (offset, message),
            other => panic!("not a condition error: {other}"),
        };
        assert_eq!(error("a and").0, 5);
        assert_eq!(error("a and zz").0, 6);
        assert_eq!(error("(a or b").0, 7);
        assert_eq!(error("a b").0, 2);
        assert_eq!(error("1 of x*").0, 5);
        assert!(error("a | count() > 5").1.contains("obsolete"));
        assert!(parse("", &n).is_err());
    }
}
