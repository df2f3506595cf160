//! A store query every event a rule matches also matches: how a retro-hunt narrows the
//! events it fetches and evaluates to candidates (issue 27), through the store's index,
//! instead of decoding a tenant's every event.
//!
//! Soundness comes first: the query may let through events the rule does not match (the
//! rule then decides), never keep out one it matches. So only what the index answers
//! exactly as the engine does becomes a clause, and everything else is "any event":
//!
//! - a field's glob (equality, `contains`, `startswith`, `endswith`, wildcards), any case,
//!   on the field as the rule names it **or** any event field the engine maps it to
//!   (`mapping`), as `fields.NAME:pattern`; a CIDR as `fields.NAME:net/len`;
//! - AND of a map's items, OR of a value's alternatives and of a list's values (AND with
//!   `|all`), AND/OR of the condition's terms;
//! - not narrowed (any event): `not`, keywords (no field), regular expressions, numeric
//!   comparisons, `exists`, `null`, field references, date parts, negated items, empty
//!   values, values the store types otherwise (numbers with wildcards, `true`/`false`,
//!   anything that might be an RFC 3339 time, which the store indexes as a date).
//!
//! A value longer than the index keeps whole (tantivy drops terms over 65,530 bytes) would
//! be missed; rules do not hold such values and events rarely do.

use crate::condition::Condition;
use crate::detection::{Item, Matcher};
use crate::rule::{Detection, Rule};
use crate::value::Piece;

/// The longest query produced (the store's limit is 64 KiB); longer: no narrowing.
pub const MAX_QUERY: usize = 32 * 1024;

/// What an event must satisfy.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Need {
    /// Anything (no narrowing).
    Any,
    /// One clause of the store's language.
    Clause(String),
    All(Vec<Need>),
    OneOf(Vec<Need>),
}

fn all(parts: Vec<Need>) -> Need {
    let mut kept = Vec::new();
    for p in parts {
        match p {
            Need::Any => {}
            Need::All(inner) => kept.extend(inner),
            other => kept.push(other),
        }
    }
    match kept.len() {
        0 => Need::Any,
        1 => kept.pop().unwrap_or(Need::Any),
        _ => Need::All(kept),
    }
}

fn one_of(parts: Vec<Need>) -> Need {
    let mut kept = Vec::new();
    for p in parts {
        match p {
            Need::Any => return Need::Any,
            Need::OneOf(inner) => kept.extend(inner),
            other => kept.push(other),
        }
    }
    match kept.len() {
        0 => Need::Any,
        1 => kept.pop().unwrap_or(Need::Any),
        _ => Need::OneOf(kept),
    }
}

/// A word of the store's language: every character that means something there escaped.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(
            c,
            '\\' | ' '
                | '('
                | ')'
                | '"'
                | ':'
                | '*'
                | '?'
                | '['
                | ']'
                | '{'
                | '}'
                | '<'
                | '>'
                | '='
                | '!'
                | '-'
                | '&'
                | '|'
        ) || c.is_whitespace()
        {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The store pattern of a glob, or `None` when the store would not answer it as the engine.
fn pattern(pieces: &[Piece]) -> Option<String> {
    let literal: String = pieces
        .iter()
        .filter_map(|p| match p {
            Piece::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    let wild = pieces.iter().any(|p| !matches!(p, Piece::Text(_)));
    if literal.is_empty() {
        return None;
    }
    let lower = literal.to_ascii_lowercase();
    if matches!(lower.as_str(), "true" | "false" | "null") {
        return None;
    }
    // The store types numbers and RFC 3339 times: a pattern over them is not a keyword test.
    let numeric = literal
        .trim_start_matches('-')
        .chars()
        .all(|c| c.is_ascii_digit() || c == '.');
    if numeric && wild {
        return None;
    }
    if literal.contains(':') && literal.contains('-') && literal.chars().any(|c| c.is_ascii_digit())
    {
        return None;
    }
    if numeric {
        return Some(literal);
    }
    let mut out = String::new();
    for p in pieces {
        match p {
            Piece::Text(t) => out.push_str(&escape(t)),
            Piece::AnyRun => out.push('*'),
            Piece::AnyOne => out.push('?'),
        }
    }
    Some(out)
}

/// The names a rule field may have in events: its own and the mapped ones.
fn names(field: &str) -> Vec<String> {
    let mut out = vec![field.to_owned()];
    for (_, _, event_field) in crate::mapping::rows_for(field) {
        if !out.iter().any(|n| n == event_field) {
            out.push(event_field.to_owned());
        }
    }
    out
}

fn matcher_need(fields: &[String], m: &Matcher) -> Need {
    let value = match m {
        Matcher::Glob { pattern: p, .. } => match pattern(p.pieces()) {
            Some(v) => v,
            None => return Need::Any,
        },
        Matcher::Cidr { network, prefix } => format!("{}/{prefix}", escape(&network.to_string())),
        _ => return Need::Any,
    };
    one_of(
        fields
            .iter()
            .map(|f| Need::Clause(format!("fields.{}:{value}", escape(f))))
            .collect(),
    )
}

fn item_need(item: &Item) -> Need {
    let Some(field) = &item.field else {
        return Need::Any;
    };
    if item.negated || item.values.is_empty() {
        return Need::Any;
    }
    let fields = names(field);
    let per_value: Vec<Need> = item
        .values
        .iter()
        .map(|alternatives| {
            one_of(
                alternatives
                    .iter()
                    .map(|m| matcher_need(&fields, m))
                    .collect(),
            )
        })
        .collect();
    if item.all {
        all(per_value)
    } else {
        one_of(per_value)
    }
}

fn detection_need(d: &Detection) -> Need {
    match d {
        Detection::AllOf(items) => all(items.iter().map(item_need).collect()),
        Detection::AnyOf(maps) => one_of(maps.iter().map(detection_need).collect()),
        Detection::Keywords(_) => Need::Any,
    }
}

fn condition_need(rule: &Rule, c: &Condition) -> Need {
    match c {
        Condition::Ref(name) => rule.detection(name).map_or(Need::Any, detection_need),
        Condition::And(terms) => all(terms.iter().map(|t| condition_need(rule, t)).collect()),
        Condition::Or(terms) => one_of(terms.iter().map(|t| condition_need(rule, t)).collect()),
        Condition::Not(_) => Need::Any,
    }
}

fn text(n: &Need) -> String {
    match n {
        Need::Any => "*".to_owned(),
        Need::Clause(c) => c.clone(),
        Need::All(parts) => format!(
            "({})",
            parts.iter().map(text).collect::<Vec<_>>().join(" AND ")
        ),
        Need::OneOf(parts) => format!(
            "({})",
            parts.iter().map(text).collect::<Vec<_>>().join(" OR ")
        ),
    }
}

/// The store query narrowing `rule`'s candidates, or `None` when nothing narrows it (every
/// event of the time range is a candidate).
pub fn store_query(rule: &Rule) -> Option<String> {
    let need = condition_need(rule, &rule.condition);
    if need == Need::Any {
        return None;
    }
    let q = text(&need);
    (q.len() <= MAX_QUERY).then_some(q)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::{Loaded, parse_rules};

    fn rule(detection: &str) -> Rule {
        let text = format!("title: t\nlogsource: {{product: windows}}\ndetection:\n{detection}");
        let mut out = Loaded::default();
        parse_rules(&text, "t.yml", &mut out);
        assert!(out.rejected.is_empty(), "{:?}", out.rejected);
        out.rules.remove(0)
    }

    #[test]
    fn globs_become_field_patterns_with_mapped_names() {
        let r = rule(
            "  s:\n    Image|endswith: '\\rundll32.exe'\n    CommandLine|contains: 'comsvcs'\n  condition: s\n",
        );
        assert_eq!(
            store_query(&r).as_deref(),
            Some(
                "((fields.Image:*\\\\rundll32.exe OR fields.NewProcessName:*\\\\rundll32.exe) AND fields.CommandLine:*comsvcs*)"
            )
        );
    }

    #[test]
    fn lists_conditions_and_what_is_not_narrowed() {
        let r =
            rule("  s:\n    EventID: 4688\n    User|contains|all: [a b, 'c:d']\n  condition: s\n");
        assert_eq!(
            store_query(&r).as_deref(),
            Some("(fields.EventID:4688 AND fields.User:*a\\ b* AND fields.User:*c\\:d*)")
        );
        let r = rule("  a:\n    x: [one, two]\n  b:\n    y|re: 'z+'\n  condition: a or b\n");
        assert_eq!(store_query(&r), None, "an OR with a regex is not narrowed");
        let r = rule("  a:\n    x: [one, two]\n  b:\n    y|re: 'z+'\n  condition: a and b\n");
        assert_eq!(
            store_query(&r).as_deref(),
            Some("(fields.x:one OR fields.x:two)")
        );
        let r = rule("  a:\n    x: one\n  condition: not a\n");
        assert_eq!(store_query(&r), None);
        let r = rule("  k:\n    - mimikatz\n  condition: k\n");
        assert_eq!(store_query(&r), None, "keywords");
        let r = rule("  s:\n    x|contains: '12'\n  condition: s\n");
        assert_eq!(store_query(&r), None, "a numeric pattern");
        let r = rule("  s:\n    t|startswith: '2024-01-01T00:00'\n  condition: s\n");
        assert_eq!(store_query(&r), None, "a time");
        let r = rule("  s:\n    b: 'true'\n  condition: s\n");
        assert_eq!(store_query(&r), None);
        let r = rule("  s:\n    ip|cidr: 10.0.0.0/8\n  condition: s\n");
        assert_eq!(store_query(&r).as_deref(), Some("fields.ip:10.0.0.0/8"));
        let r = rule("  s:\n    x|contains: 'a*b?c'\n  condition: s\n");
        assert_eq!(store_query(&r).as_deref(), Some("fields.x:*a*b?c*"));
        let r = rule("  s:\n    x: ''\n  condition: s\n");
        assert_eq!(store_query(&r), None);
    }

    #[test]
    fn escaped_words_parse_in_the_store_language() {
        for v in [
            "a b",
            "c:d",
            "(x)",
            "\"q\"",
            "back\\slash",
            "t-1",
            "a|b",
            "[x]",
        ] {
            let e = escape(v);
            assert!(!e.is_empty());
            // Every special character is preceded by a backslash.
            let mut chars = e.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    assert!(chars.next().is_some(), "{e}");
                }
            }
        }
    }
}
