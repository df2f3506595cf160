//! The typed query to a tantivy query, for one partition's schema.
//!
//! Field names: `time`, `id`, `event_id` and the keyword metadata names of
//! [`META_TEXT`](super::schema::META_TEXT) are metadata; `fields.NAME` and every other name
//! is an event field (so `fields.host` reaches an event field that shadows a metadata name).

use std::ops::Bound;

use tantivy::query::{
    AllQuery, BooleanQuery, EmptyQuery, InvertedIndexRangeQuery, Occur, PhraseQuery,
    Query as TQuery, RangeQuery, RegexQuery, TermQuery,
};
use tantivy::schema::{DATE_TIME_PRECISION_INDEXED, Field, IndexRecordOption};
use tantivy::tokenizer::{LowerCaser, RemoveLongFilter, SimpleTokenizer, TextAnalyzer};
use tantivy::{DateTime, Term};
use vigie_event::{EventId, Timestamp};

use super::doc::{ip_range_bytes, parse_time_value};
use super::schema::Layout;
use crate::StoreError;
use crate::query::{Glob, Pattern, Predicate, Query, TextMatch, parse_time};

type Boxed = Box<dyn TQuery>;

/// Builds a term of a JSON path from a function appending the typed value.
type TypedTerm<'a> = dyn Fn(&dyn Fn(&mut Term)) -> Term + 'a;

/// The analyzer of the `text` field: tantivy's `default` (alphanumeric runs, tokens over 40
/// bytes dropped, lower-cased), built directly rather than through a tokenizer manager.
fn words_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .build()
}

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

/// Refuses a range that cannot match anything because of how it is written: one bound a
/// number and the other a word (`[a TO 5]`), or a lower bound above the upper one. Such a
/// query would answer an empty page that looks like "no such events"; a 400 that says why is
/// the honest answer.
fn check_range(
    name: &str,
    lo: Option<&str>,
    hi: Option<&str>,
    all_numbers: bool,
    all_times: bool,
) -> Result<(), StoreError> {
    let (Some(lo), Some(hi)) = (lo, hi) else {
        return Ok(());
    };
    let mixed = number(lo).is_some() != number(hi).is_some();
    if mixed && !all_times {
        return Err(invalid(format!(
            "{name}:[{lo} TO {hi}]: one bound is a number and the other is not; both must be numbers, times or words"
        )));
    }
    let inverted = if all_numbers {
        match (lo.trim().parse::<f64>(), hi.trim().parse::<f64>()) {
            (Ok(a), Ok(b)) => a > b,
            _ => false,
        }
    } else if all_times {
        parse_time_value(lo.trim()) > parse_time_value(hi.trim())
    } else {
        lo.to_lowercase() > hi.to_lowercase()
    };
    if inverted {
        return Err(invalid(format!(
            "{name}:[{lo} TO {hi}]: the lower bound is above the upper bound, so nothing can match"
        )));
    }
    Ok(())
}

/// `(AllQuery AND NOT q)`.
fn negate(q: Boxed) -> Boxed {
    Box::new(BooleanQuery::new(vec![
        (Occur::Must, Box::new(AllQuery) as Boxed),
        (Occur::MustNot, q),
    ]))
}

fn term(t: Term) -> Boxed {
    Box::new(TermQuery::new(t, IndexRecordOption::Basic))
}

fn or(parts: Vec<Boxed>) -> Boxed {
    match parts.len() {
        0 => Box::new(EmptyQuery),
        1 => parts
            .into_iter()
            .next()
            .unwrap_or_else(|| Box::new(EmptyQuery)),
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
        let mut analyzer = words_analyzer();
        let mut stream = analyzer.token_stream(text);
        let mut terms = Vec::new();
        while let Some(token) = stream.next() {
            terms.push(Term::from_field_text(self.layout.text, &token.text));
        }
        match terms.len() {
            0 => Box::new(EmptyQuery),
            1 => Box::new(TermQuery::new(terms.remove(0), IndexRecordOption::Basic)),
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
                _ => Err(invalid(
                    "the event id `id` can only be compared for equality".into(),
                )),
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
                Ok(Box::new(RangeQuery::new(b(lower)?, b(upper)?)))
            }
            Predicate::Exists => Ok(Box::new(RangeQuery::new(
                Bound::Included(Term::from_field_u64(f, 0)),
                Bound::Included(Term::from_field_u64(f, u64::MAX)),
            ))),
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
        let typed = |f: &dyn Fn(&mut Term)| {
            let mut t = path.clone();
            f(&mut t);
            t
        };
        let date_term = |nanos: i64| {
            typed(&|t| {
                t.append_type_and_fast_value(
                    DateTime::from_timestamp_nanos(nanos).truncate(DATE_TIME_PRECISION_INDEXED),
                )
            })
        };
        // The term-dictionary prefix of this path (every type).
        let path_prefix = String::from_utf8_lossy(path.serialized_value_bytes()).into_owned();
        match predicate {
            Predicate::Equals(v) => {
                let mut parts: Vec<Boxed> = vec![Box::new(TermQuery::new(
                    str_term(&v.to_lowercase()),
                    IndexRecordOption::Basic,
                ))];
                match number(v) {
                    Some(Num::I(i)) => {
                        parts.push(term(typed(&|t| t.append_type_and_fast_value(i))))
                    }
                    Some(Num::U(u)) => {
                        parts.push(term(typed(&|t| t.append_type_and_fast_value(u))))
                    }
                    Some(Num::F(f)) => {
                        parts.push(term(typed(&|t| t.append_type_and_fast_value(f))))
                    }
                    None => {}
                }
                let lower = v.trim().to_ascii_lowercase();
                if lower == "true" || lower == "false" {
                    parts.push(term(typed(&|t| {
                        t.append_type_and_fast_value(lower == "true")
                    })));
                }
                if let Some(nanos) = parse_time_value(v.trim()) {
                    parts.push(term(date_term(nanos)));
                }
                Ok(or(parts))
            }
            Predicate::Wildcard(p) => {
                let prefix = format!("{path_prefix}s");
                self.regex(layout.fields, &prefix, &glob_regex(&p.to_lowercase()))
            }
            Predicate::Exists => Ok(self.any_value(path.serialized_value_bytes())),
            Predicate::Range { lower, upper } => {
                let text = |b: &Bound<String>| match b {
                    Bound::Included(v) | Bound::Excluded(v) => Some(v.trim().to_owned()),
                    Bound::Unbounded => None,
                };
                let (lo, hi) = (text(lower), text(upper));
                let all_times = [&lo, &hi]
                    .iter()
                    .all(|v| v.as_ref().is_none_or(|v| parse_time_value(v).is_some()));
                let all_numbers = [&lo, &hi]
                    .iter()
                    .all(|v| v.as_ref().is_none_or(|v| number(v).is_some()));
                if lo.is_none() && hi.is_none() {
                    return Ok(self.any_value(path.serialized_value_bytes()));
                }
                check_range(name, lo.as_deref(), hi.as_deref(), all_numbers, all_times)?;
                if all_numbers {
                    return Ok(self.numeric_range(&typed, lower, upper));
                }
                if all_times {
                    // Dynamic time values are indexed to the second: bounds are widened to
                    // whole seconds.
                    let t = |v: &String| date_term(parse_time_value(v.trim()).unwrap_or(0));
                    let lo = match lower {
                        Bound::Unbounded => Bound::Included(date_term(i64::MIN)),
                        Bound::Included(v) | Bound::Excluded(v) => Bound::Included(t(v)),
                    };
                    let hi = match upper {
                        Bound::Unbounded => Bound::Included(date_term(i64::MAX)),
                        Bound::Included(v) | Bound::Excluded(v) => Bound::Included(t(v)),
                    };
                    return Ok(Box::new(InvertedIndexRangeQuery::new(lo, hi)));
                }
                let t = |v: &String| str_term(&v.to_lowercase());
                let lo = match lower {
                    Bound::Unbounded => Bound::Included(str_term("")),
                    b => b.as_ref().map(t),
                };
                let hi = match upper {
                    Bound::Unbounded => {
                        Bound::Included(str_term("\u{10FFFF}\u{10FFFF}\u{10FFFF}\u{10FFFF}"))
                    }
                    b => b.as_ref().map(t),
                };
                Ok(Box::new(InvertedIndexRangeQuery::new(lo, hi)))
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

    /// Every value under a JSON path (`path \0` then any type and value): one byte range of
    /// the term dictionary. (A regex cannot say it: values of numbers and dates are binary,
    /// and the dictionary's regexes match UTF-8 only.)
    fn any_value(&self, path: &[u8]) -> Boxed {
        let mut end = path.to_vec();
        if let Some(last) = end.last_mut() {
            *last += 1;
        }
        Box::new(InvertedIndexRangeQuery::new(
            Bound::Included(Term::from_field_bytes(self.layout.fields, path)),
            Bound::Excluded(Term::from_field_bytes(self.layout.fields, &end)),
        ))
    }

    /// A numeric range over a JSON path: the index keeps integers as i64 (u64 above
    /// i64::MAX) and other numbers as f64, each type in its own term range, so the range is
    /// the union of the three.
    fn numeric_range(
        &self,
        typed: &TypedTerm<'_>,
        lower: &Bound<String>,
        upper: &Bound<String>,
    ) -> Boxed {
        let as_f = |b: &Bound<String>| match b {
            Bound::Included(v) | Bound::Excluded(v) => number(v).map(|n| match n {
                Num::I(i) => i as f64,
                Num::U(u) => u as f64,
                Num::F(f) => f,
            }),
            Bound::Unbounded => None,
        };
        let inclusive = |b: &Bound<String>| !matches!(b, Bound::Excluded(_));
        let (lo, hi) = (as_f(lower), as_f(upper));
        let (lo_inc, hi_inc) = (inclusive(lower), inclusive(upper));
        let mut parts: Vec<Boxed> = Vec::new();
        // Floats: the bounds as written.
        let f_lo = lo.unwrap_or(f64::NEG_INFINITY);
        let f_hi = hi.unwrap_or(f64::INFINITY);
        let fb = |v: f64, inc: bool| {
            let t = typed(&|t| t.append_type_and_fast_value(v));
            if inc {
                Bound::Included(t)
            } else {
                Bound::Excluded(t)
            }
        };
        parts.push(Box::new(InvertedIndexRangeQuery::new(
            fb(f_lo, lo_inc),
            fb(f_hi, hi_inc),
        )));
        // Integers: the smallest and largest integers inside the bounds.
        let int_lo = match lo {
            None => Some(i128::from(i64::MIN)),
            Some(v) if v.is_nan() => None,
            Some(v) => {
                let c = v.ceil();
                Some(if c == v && !lo_inc {
                    c as i128 + 1
                } else {
                    c as i128
                })
            }
        };
        let int_hi = match hi {
            None => Some(i128::from(u64::MAX)),
            Some(v) if v.is_nan() => None,
            Some(v) => {
                let f = v.floor();
                Some(if f == v && !hi_inc {
                    f as i128 - 1
                } else {
                    f as i128
                })
            }
        };
        if let (Some(a), Some(b)) = (int_lo, int_hi) {
            let (i_lo, i_hi) = (a.max(i128::from(i64::MIN)), b.min(i128::from(i64::MAX)));
            if i_lo <= i_hi {
                let (x, y) = (i_lo as i64, i_hi as i64);
                parts.push(Box::new(InvertedIndexRangeQuery::new(
                    Bound::Included(typed(&|t| t.append_type_and_fast_value(x))),
                    Bound::Included(typed(&|t| t.append_type_and_fast_value(y))),
                )));
            }
            let (u_lo, u_hi) = (a.max(i128::from(i64::MAX) + 1), b.min(i128::from(u64::MAX)));
            if u_lo <= u_hi {
                let (x, y) = (u_lo as u64, u_hi as u64);
                parts.push(Box::new(InvertedIndexRangeQuery::new(
                    Bound::Included(typed(&|t| t.append_type_and_fast_value(x))),
                    Bound::Included(typed(&|t| t.append_type_and_fast_value(y))),
                )));
            }
        }
        or(parts)
    }
}
