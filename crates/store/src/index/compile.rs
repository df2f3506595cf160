//! The typed query to a tantivy query, for one partition's schema.
//!
//! Field names: `time`, `id`, `event_id` and the keyword metadata names of
//! [`META_TEXT`](super::schema::META_TEXT) are metadata; `fields.NAME` and every other name
//! is an event field (so `fields.host` reaches an event field that shadows a metadata name).

use std::ops::Bound;

use tantivy::query::{
    AllQuery, BooleanQuery, EmptyQuery, ExistsQuery, InvertedIndexRangeQuery, Occur, PhraseQuery,
    Query as TQuery, RangeQuery, RegexQuery, TermQuery,
};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::tokenizer::TokenizerManager;
use tantivy::{DateTime, Term};
use vigie_event::{EventId, Timestamp};

use super::doc::ip_range_bytes;
use super::schema::{Layout, WORDS};
use crate::StoreError;
use crate::query::{Glob, Pattern, Predicate, Query, TextMatch, parse_time};

type Boxed = Box<dyn TQuery>;

/// Compiles `query`; `now` anchors relative times in `time:` ranges.
pub(crate) fn compile(query: &Query, layout: &Layout, now: Timestamp) -> Result<Boxed, StoreError> {
    Compiler { layout, now }.query(query)
}

struct Compiler<'a> {
    layout: &'a Layout,
    now: Timestamp,
}

fn invalid(message: String) -> StoreError {
    StoreError::InvalidQuery { message }
}

/// `(AllQuery AND NOT q)`.
fn negate(q: Boxed) -> Boxed {
    Box::new(BooleanQuery::new(vec![
        (Occur::Must, Box::new(AllQuery) as Boxed),
        (Occur::MustNot, q),
    ]))
}

fn or(parts: Vec<Boxed>) -> Boxed {
    match parts.len() {
        0 => Box::new(EmptyQuery),
        1 => parts.into_iter().next().unwrap_or_else(|| Box::new(EmptyQuery)),
        _ => Box::new(BooleanQuery::new(
            parts.into_iter().map(|q| (Occur::Should, q)).collect(),
        )),
    }
}

/// The regex (tantivy's FST regex: anchored, byte-level UTF-8) of a glob.
fn glob_regex(pattern: &Pattern) -> String {
    let mut out = String::from("(?s)");
    for g in &pattern.0 {
        match g {
            Glob::Lit(s) => out.push_str(&regex_escape(s)),
            Glob::Any => out.push_str(".*"),
            Glob::One => out.push('.'),
        }
    }
    out
}

fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || (!c.is_ascii() && !c.is_control()) {
            out.push(c);
        } else {
            // Every ASCII non-alphanumeric as a hex escape: always a literal, never syntax.
            out.push_str(&format!("\\x{{{:x}}}", c as u32));
        }
    }
    out
}

/// A number as the index stores JSON numbers: an integer when it is one, else a float.
enum Num {
    I(i64),
    U(u64),
    F(f64),
}

fn number(text: &str) -> Option<Num> {
    let t = text.trim();
    if let Ok(i) = t.parse::<i64>() {
        return Some(Num::I(i));
    }
    if let Ok(u) = t.parse::<u64>() {
        return Some(Num::U(u));
    }
    let looks_numeric = t
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'));
    match t.parse::<f64>() {
        Ok(f) if looks_numeric && f.is_finite() => Some(Num::F(f)),
        _ => None,
    }
}

impl Compiler<'_> {
    fn query(&self, q: &Query) -> Result<Boxed, StoreError> {
        Ok(match q {
            Query::All => Box::new(AllQuery),
            Query::And(parts) => {
                let mut clauses = Vec::with_capacity(parts.len() + 1);
                for p in parts {
                    match p {
                        Query::Not(inner) => clauses.push((Occur::MustNot, self.query(inner)?)),
                        other => clauses.push((Occur::Must, self.query(other)?)),
                    }
                }
                if clauses.iter().all(|(o, _)| *o == Occur::MustNot) {
                    clauses.push((Occur::Must, Box::new(AllQuery)));
                }
                Box::new(BooleanQuery::new(clauses))
            }
            Query::Or(parts) => or(parts
                .iter()
                .map(|p| self.query(p))
                .collect::<Result<_, _>>()?),
            Query::Not(inner) => negate(self.query(inner)?),
            Query::Text(TextMatch::Words(w) | TextMatch::Phrase(w)) => self.words(w),
            Query::Text(TextMatch::Wildcard(p)) => {
                self.regex(self.layout.text, "", &glob_regex(&p.to_lowercase()))?
            }
            Query::Field { field, predicate } => self.field(field, predicate)?,
        })
    }

    /// Full text: the words of `text`, in sequence.
    fn words(&self, text: &str) -> Boxed {
        let manager = TokenizerManager::default();
        let Some(mut analyzer) = manager.get(WORDS) else {
            return Box::new(EmptyQuery);
        };
        let mut stream = analyzer.token_stream(text);
        let mut terms = Vec::new();
        while let Some(token) = stream.next() {
            terms.push(Term::from_field_text(self.layout.text, &token.text));
        }
        match terms.len() {
            0 => Box::new(EmptyQuery),
            1 => Box::new(TermQuery::new(
                terms.remove(0),
                IndexRecordOption::Basic,
            )),
            _ => Box::new(PhraseQuery::new(terms)),
        }
    }

    /// A regex over the terms of `field` that start with `prefix` (raw bytes, matched
    /// literally).
    fn regex(&self, field: Field, prefix: &str, body: &str) -> Result<Boxed, StoreError> {
        let mut pattern = String::new();
        for c in prefix.chars() {
            pattern.push_str(&format!("\\x{{{:x}}}", c as u32));
        }
        pattern.push_str(body);
        RegexQuery::from_pattern(&pattern, field)
            .map(|q| Box::new(q) as Boxed)
            .map_err(|e| invalid(format!("pattern too complex for the index: {e}")))
    }

    fn field(&self, name: &str, predicate: &Predicate) -> Result<Boxed, StoreError> {
        let layout = self.layout;
        if let Some(event_field) = name.strip_prefix("fields.") {
            return self.event_field(event_field, predicate);
        }
        match name {
            "time" => self.time(predicate),
            "id" => match predicate {
                Predicate::Equals(v) => {
                    let id: EventId = v.parse().map_err(|e| invalid(format!("{e}")))?;
                    Ok(Box::new(TermQuery::new(
                        Term::from_field_bytes(layout.id, &id.as_u128().to_be_bytes()),
                        IndexRecordOption::Basic,
                    )))
                }
                Predicate::Exists => Ok(Box::new(AllQuery)),
                _ => Err(invalid("the event id `id` can only be compared for equality".into())),
            },
            "event_id" => self.event_id(predicate),
            _ => match layout.meta_field(name) {
                Some(f) => self.keyword(f, name, predicate),
                None => self.event_field(name, predicate),
            },
        }
    }

    fn time(&self, predicate: &Predicate) -> Result<Boxed, StoreError> {
        let f = self.layout.time;
        let parse = |v: &String| {
            parse_time(v, self.now)
                .map(|t| Term::from_field_date(f, DateTime::from_timestamp_nanos(t.as_nanos())))
                .map_err(|e| invalid(e.to_string()))
        };
        let bound = |b: &Bound<String>| -> Result<Bound<Term>, StoreError> {
            Ok(match b {
                Bound::Included(v) => Bound::Included(parse(v)?),
                Bound::Excluded(v) => Bound::Excluded(parse(v)?),
                Bound::Unbounded => Bound::Unbounded,
            })
        };
        match predicate {
            Predicate::Range { lower, upper } => {
                if matches!((lower, upper), (Bound::Unbounded, Bound::Unbounded)) {
                    return Ok(Box::new(AllQuery));
                }
                Ok(Box::new(RangeQuery::new(bound(lower)?, bound(upper)?)))
            }
            Predicate::Equals(v) => {
                let t = parse(v)?;
                Ok(Box::new(RangeQuery::new(
                    Bound::Included(t.clone()),
                    Bound::Included(t),
                )))
            }
            Predicate::Exists => Ok(Box::new(AllQuery)),
            _ => Err(invalid(
                "`time` takes a time or a range: time:[2026-11-22T00:00:00Z TO now], time:>=-24h"
                    .into(),
            )),
        }
    }

    fn event_id(&self, predicate: &Predicate) -> Result<Boxed, StoreError> {
        let f = self.layout.event_id;
        let num = |v: &String| {
            v.trim()
                .parse::<u64>()
                .map(|n| Term::from_field_u64(f, n))
                .map_err(|_| invalid(format!("event_id is a number, not {v:?}")))
        };
        match predicate {
            Predicate::Equals(v) => Ok(Box::new(TermQuery::new(num(v)?, IndexRecordOption::Basic))),
            Predicate::Range { lower, upper } => {
                let b = |b: &Bound<String>| -> Result<Bound<Term>, StoreError> {
                    Ok(match b {
                        Bound::Included(v) => Bound::Included(num(v)?),
                        Bound::Excluded(v) => Bound::Excluded(num(v)?),
                        Bound::Unbounded => Bound::Unbounded,
                    })
                };
                if matches!((lower, upper), (Bound::Unbounded, Bound::Unbounded)) {
                    return Ok(Box::new(ExistsQuery::new("event_id".into(), false)));
                }
                Ok(Box::new(RangeQuery::new(b(lower)?, b(upper)?)))
            }
            Predicate::Exists => Ok(Box::new(ExistsQuery::new("event_id".into(), false))),
            _ => Err(invalid("event_id takes a number or a numeric range".into())),
        }
    }

    /// A metadata keyword field (indexed lower-cased whole).
    fn keyword(&self, f: Field, name: &str, predicate: &Predicate) -> Result<Boxed, StoreError> {
        match predicate {
            Predicate::Equals(v) => Ok(Box::new(TermQuery::new(
                Term::from_field_text(f, &v.to_lowercase()),
                IndexRecordOption::Basic,
            ))),
            Predicate::Wildcard(p) => self.regex(f, "", &glob_regex(&p.to_lowercase())),
            Predicate::Exists => self.regex(f, "", "(?s).*"),
            Predicate::Range { lower, upper } => {
                let t = |v: &String| Term::from_field_text(f, &v.to_lowercase());
                if matches!((lower, upper), (Bound::Unbounded, Bound::Unbounded)) {
                    return self.regex(f, "", "(?s).*");
                }
                Ok(Box::new(InvertedIndexRangeQuery::new(
                    lower.as_ref().map(t),
                    upper.as_ref().map(t),
                )))
            }
            Predicate::Cidr(c) => Err(invalid(format!(
                "{name}:{c}: networks apply to event fields holding IP addresses"
            ))),
        }
    }

    /// An event field: a path in the `fields` JSON field.
    fn event_field(&self, name: &str, predicate: &Predicate) -> Result<Boxed, StoreError> {
        let layout = self.layout;
        if name.is_empty() {
            return Err(invalid("empty event field name after `fields.`".into()));
        }
        let path = Term::from_field_json_path(layout.fields, name, true);
        let str_term = |v: &str| {
            let mut t = path.clone();
            t.append_type_and_str(v);
            t
        };
        let num_term = |n: &Num| {
            let mut t = path.clone();
            match n {
                Num::I(i) => t.append_type_and_fast_value(*i),
                Num::U(u) => t.append_type_and_fast_value(*u),
                Num::F(f) => t.append_type_and_fast_value(*f),
            }
            t
        };
        // The term-dictionary prefix of this path's string values.
        let str_prefix = || {
            String::from_utf8_lossy(str_term("").serialized_value_bytes()).into_owned()
        };
        match predicate {
            Predicate::Equals(v) => {
                let mut parts: Vec<Boxed> = vec![Box::new(TermQuery::new(
                    str_term(&v.to_lowercase()),
                    IndexRecordOption::Basic,
                ))];
                if let Some(n) = number(v) {
                    parts.push(Box::new(TermQuery::new(num_term(&n), IndexRecordOption::Basic)));
                }
                let lower = v.trim().to_ascii_lowercase();
                if lower == "true" || lower == "false" {
                    let mut t = path.clone();
                    t.append_type_and_fast_value(lower == "true");
                    parts.push(Box::new(TermQuery::new(t, IndexRecordOption::Basic)));
                }
                Ok(or(parts))
            }
            Predicate::Wildcard(p) => {
                self.regex(layout.fields, &str_prefix(), &glob_regex(&p.to_lowercase()))
            }
            Predicate::Exists => Ok(Box::new(ExistsQuery::new(format!("fields.{name}"), false))),
            Predicate::Range { lower, upper } => {
                let nums = |b: &Bound<String>| match b {
                    Bound::Included(v) | Bound::Excluded(v) => number(v).map(Some),
                    Bound::Unbounded => Some(None),
                };
                if matches!((lower, upper), (Bound::Unbounded, Bound::Unbounded)) {
                    return Ok(Box::new(ExistsQuery::new(format!("fields.{name}"), false)));
                }
                match (nums(lower), nums(upper)) {
                    (Some(lo), Some(hi)) => {
                        // Numeric range: compared as floats, so integer and float columns
                        // of the same path both answer.
                        let as_f = |n: Option<Num>| {
                            n.map(|n| match n {
                                Num::I(i) => i as f64,
                                Num::U(u) => u as f64,
                                Num::F(f) => f,
                            })
                        };
                        let (lo, hi) = (as_f(lo), as_f(hi));
                        let term = |f: f64| num_term(&Num::F(f));
                        let bound = |b: &Bound<String>, v: Option<f64>| match (b, v) {
                            (Bound::Included(_), Some(v)) => Bound::Included(term(v)),
                            (Bound::Excluded(_), Some(v)) => Bound::Excluded(term(v)),
                            _ => Bound::Unbounded,
                        };
                        Ok(Box::new(RangeQuery::new(bound(lower, lo), bound(upper, hi))))
                    }
                    _ => {
                        let t = |v: &String| str_term(&v.to_lowercase());
                        Ok(Box::new(InvertedIndexRangeQuery::new(
                            lower.as_ref().map(t),
                            upper.as_ref().map(t),
                        )))
                    }
                }
            }
            Predicate::Cidr(c) => {
                let (lo, hi) = c.bounds_v6();
                let mut lo_bytes = Vec::new();
                ip_range_bytes(&mut lo_bytes, name, lo);
                let mut hi_bytes = Vec::new();
                ip_range_bytes(&mut hi_bytes, name, hi);
                Ok(Box::new(InvertedIndexRangeQuery::new(
                    Bound::Included(Term::from_field_bytes(layout.ips, &lo_bytes)),
                    Bound::Included(Term::from_field_bytes(layout.ips, &hi_bytes)),
                )))
            }
        }
    }
}
