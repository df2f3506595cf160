//! Detection items: a field, its modifiers and values, compiled into matchers.
//!
//! Modifiers are applied in the order written, as the specification says. Each value becomes
//! a set of alternatives (windash and base64offset expand one value into several); `all`
//! requires every value, otherwise any will do; `neq` negates the whole item.

use std::net::IpAddr;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::value::{Piece, SigmaString};
use crate::yaml::Scalar;

/// A compiled comparison against one event value.
#[derive(Debug, Clone)]
pub enum Matcher {
    /// Wildcard pattern; folded to lower case unless `cased`.
    Glob {
        /// The pattern (folded when not cased).
        pattern: SigmaString,
        /// Case-sensitive.
        cased: bool,
    },
    /// Regular expression, unanchored.
    Regex(SigmaRegex),
    /// IP network containment.
    Cidr {
        /// Network address.
        network: IpAddr,
        /// Prefix length.
        prefix: u8,
    },
    /// Numeric comparison of the event value with a number.
    Compare(CompareOp, f64),
    /// Presence test (`exists: true/false`).
    Exists(bool),
    /// Null: the field is absent or null.
    Null,
    /// A part of a date value (`minute`, `hour`, `day`, `week`, `month`, `year`), compared
    /// with a number (equal unless a comparison modifier follows).
    DatePart {
        /// Which part.
        part: DatePart,
        /// The comparison; `None` is equality.
        op: Option<CompareOp>,
        /// The number.
        value: i64,
    },
    /// The value of another field of the same event.
    FieldRef {
        /// The other field.
        field: String,
        /// How to compare.
        mode: RefMode,
        /// Case-sensitive.
        cased: bool,
    },
}

/// The date parts of the time modifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatePart {
    /// 0–59.
    Minute,
    /// 0–23.
    Hour,
    /// Day of the month, 1–31.
    Day,
    /// ISO 8601 week of the year, 1–53.
    Week,
    /// 1–12.
    Month,
    /// The year.
    Year,
}

impl DatePart {
    /// The part of a date written `YYYY-MM-DD[T or space]HH:MM[:SS…]` (RFC 3339, ISO 8601,
    /// and the `2024-01-31 13:45:00.123` form of many logs), read as written: the
    /// specification says these modifiers do not convert time zones. `None` when the text
    /// does not start with such a date.
    pub fn of(self, text: &str) -> Option<i64> {
        let b = text.trim().as_bytes();
        let num = |range: std::ops::Range<usize>| -> Option<i64> {
            let digits = b.get(range)?;
            digits.iter().all(u8::is_ascii_digit).then(|| {
                digits
                    .iter()
                    .fold(0i64, |n, d| n * 10 + i64::from(d - b'0'))
            })
        };
        if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
            return None;
        }
        let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
        if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
            return None;
        }
        let time = |range| {
            if !matches!(b.get(10), Some(b'T' | b't' | b' ')) || b.get(13) != Some(&b':') {
                return None;
            }
            num(range)
        };
        Some(match self {
            DatePart::Year => year,
            DatePart::Month => month,
            DatePart::Day => day,
            DatePart::Week => iso_week(year, month, day),
            DatePart::Hour => time(11..13).filter(|h| *h < 24)?,
            DatePart::Minute => time(14..16).filter(|m| *m < 60)?,
        })
    }
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// ISO 8601 week number: weeks start on Monday; week 1 holds the year's first Thursday.
fn iso_week(y: i64, m: i64, d: i64) -> i64 {
    let days = days_from_civil(y, m, d);
    // 1970-01-01 was a Thursday: weekday 1 = Monday … 7 = Sunday.
    let weekday = (days + 3).rem_euclid(7) + 1;
    let thursday = days - weekday + 4;
    let year_of_thursday = {
        // The civil year holding that Thursday.
        let mut year = y;
        if thursday < days_from_civil(y, 1, 1) {
            year -= 1;
        } else if thursday >= days_from_civil(y + 1, 1, 1) {
            year += 1;
        }
        year
    };
    (thursday - days_from_civil(year_of_thursday, 1, 1)) / 7 + 1
}

/// A regular expression and its source (flags included), compiled at load to a forward
/// NFA and searched with a lazy DFA built from it as it runs.
///
/// Sigma asks only whether a regex matches, which needs neither match starts nor captures:
/// a forward search suffices. regex-automata's meta engine would also build a reverse NFA
/// and literal prefilters, about 6M instructions per Sigma regex (Unicode classes, `(?i)`)
/// when the first search needs them; the forward NFA costs about 1M at load, and the lazy
/// DFA adds states only for the bytes it sees. Where the lazy DFA cannot decide (a Unicode
/// word boundary next to a non-ASCII byte, or a pattern it does not support), the PikeVM
/// on the same NFA answers. Searches take their caches from a pool, so a compiled rule set
/// is shared by all threads; the NFA of all 153 regexes of the windows rules is about 2 MB.
/// Copies of a regex share it all.
#[derive(Clone)]
pub struct SigmaRegex {
    source: String,
    engine: std::sync::Arc<RegexEngine>,
}

impl std::fmt::Debug for SigmaRegex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SigmaRegex").field(&self.source).finish()
    }
}

/// The per-thread search state of a [`SigmaRegex`].
struct RegexCaches {
    dfa: Option<regex_automata::hybrid::dfa::Cache>,
    pikevm: regex_automata::nfa::thompson::pikevm::Cache,
}

type CachePool = regex_automata::util::pool::Pool<
    RegexCaches,
    Box<dyn Fn() -> RegexCaches + Send + Sync + std::panic::RefUnwindSafe + std::panic::UnwindSafe>,
>;

/// The compiled forms of a [`SigmaRegex`].
struct RegexEngine {
    /// See [`SigmaRegex::witnesses`].
    witnesses: Vec<String>,
    dfa: Option<regex_automata::hybrid::dfa::DFA>,
    pikevm: regex_automata::nfa::thompson::pikevm::PikeVM,
    caches: CachePool,
}

/// Bytes of NFA beyond which a regex is rejected.
const REGEX_NFA_LIMIT: usize = 1 << 22;

impl SigmaRegex {
    /// Compiles `source` (the syntax of the `regex` crate: Unicode, flags inline); fails on
    /// a syntax error or an NFA beyond the size limit.
    pub fn new(source: &str) -> Result<SigmaRegex, String> {
        use regex_automata::hybrid::dfa::DFA;
        use regex_automata::nfa::thompson::{self, pikevm::PikeVM};
        // Parsed once, for the NFA and for the literals the engine scans for (the same
        // syntax settings as `thompson::Compiler::build`: Unicode, UTF-8).
        let hir = regex_syntax::Parser::new()
            .parse(source)
            .map_err(|e| e.to_string())?;
        let witnesses = crate::literals::regex_witnesses(&hir);
        // Only whether it matches is ever asked: its NFA is built for that question.
        let hir = crate::literals::for_existence(hir);
        let nfa = thompson::Compiler::new()
            .configure(
                thompson::Config::new()
                    .nfa_size_limit(Some(REGEX_NFA_LIMIT))
                    .which_captures(thompson::WhichCaptures::None),
            )
            .build_from_hir(&hir)
            .map_err(|e| e.to_string())?;
        // `\b` is Unicode-aware: the lazy DFA handles it on ASCII and stops (quits) on other
        // bytes, where the PikeVM takes over.
        let dfa = DFA::builder()
            .configure(DFA::config().unicode_word_boundary(true))
            .build_from_nfa(nfa.clone())
            .ok();
        let pikevm = PikeVM::new_from_nfa(nfa).map_err(|e| e.to_string())?;
        let (for_dfa, for_pikevm) = (dfa.clone(), pikevm.clone());
        let create: Box<
            dyn Fn() -> RegexCaches
                + Send
                + Sync
                + std::panic::RefUnwindSafe
                + std::panic::UnwindSafe,
        > = Box::new(move || RegexCaches {
            dfa: for_dfa.as_ref().map(|d| d.create_cache()),
            pikevm: for_pikevm.create_cache(),
        });
        Ok(SigmaRegex {
            source: source.to_owned(),
            engine: std::sync::Arc::new(RegexEngine {
                witnesses,
                dfa,
                pikevm,
                caches: CachePool::new(create),
            }),
        })
    }

    /// Whether it matches anywhere in `text`.
    pub fn is_match(&self, text: &str) -> bool {
        let engine = &*self.engine;
        let mut caches = engine.caches.get();
        let input = regex_automata::Input::new(text).earliest(true);
        if let (Some(dfa), Some(cache)) = (&engine.dfa, caches.dfa.as_mut())
            && let Ok(found) = dfa.try_search_fwd(cache, &input)
        {
            return found.is_some();
        }
        engine.pikevm.is_match(&mut caches.pikevm, input)
    }

    /// The source, flags included.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Literals (folded) one of which every match contains; empty when there is no short
    /// finite set. See `crate::literals`.
    pub(crate) fn witnesses(&self) -> &[String] {
        &self.engine.witnesses
    }
}

/// `lt`, `lte`, `gt`, `gte`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    /// `<`.
    Lt,
    /// `<=`.
    Lte,
    /// `>`.
    Gt,
    /// `>=`.
    Gte,
}

/// How a `fieldref` compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefMode {
    /// Equal.
    Equal,
    /// Contains.
    Contains,
    /// Starts with.
    StartsWith,
    /// Ends with.
    EndsWith,
}

/// One detection item: `field|modifiers: values`.
#[derive(Debug, Clone)]
pub struct Item {
    /// The field, or `None` for keywords (anywhere in the event).
    pub field: Option<String>,
    /// Per value, its alternatives. Shared (`Arc`): the fast engine's compiled atoms hold
    /// the same matchers, and copying thousands of patterns made compiling a rule set
    /// mostly allocation.
    pub values: Vec<Vec<Arc<Matcher>>>,
    /// `all`: every value must match.
    pub all: bool,
    /// `neq`: the item is negated.
    pub negated: bool,
}

/// Why an item could not be compiled, with the diagnostic code to report.
#[derive(Debug)]
pub(crate) struct ItemError {
    pub(crate) code: crate::error::Code,
    pub(crate) message: String,
}

fn err(code: crate::error::Code, message: impl Into<String>) -> ItemError {
    ItemError {
        code,
        message: message.into(),
    }
}

/// The working form of a value while modifiers apply.
#[derive(Debug, Clone)]
enum Work {
    Str(SigmaString),
    Bytes(Vec<u8>),
}

const DASHES: [char; 5] = ['-', '/', '\u{2013}', '\u{2014}', '\u{2015}'];

/// Flag positions `windash` varies: most values have one or two; past this, the expansion
/// (5^n alternatives) is refused rather than cut short.
const MAX_WINDASH_FLAGS: usize = 5;

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// `windash`: every combination of dash characters at flag positions, as pySigma expands it:
/// a `-` or `/` not preceded by a word character and followed by one (`\B[-/]\b`).
fn windash(s: &SigmaString) -> Result<Vec<SigmaString>, ItemError> {
    let is_flag = |prev: Option<char>, c: char, next: Option<char>| {
        (c == '-' || c == '/') && !prev.is_some_and(is_word) && next.is_some_and(is_word)
    };
    let mut flags = 0;
    let mut prev: Option<char> = None;
    for p in s.pieces() {
        match p {
            Piece::Text(t) => {
                let chars: Vec<char> = t.chars().collect();
                for (i, c) in chars.iter().enumerate() {
                    if is_flag(prev, *c, chars.get(i + 1).copied()) {
                        flags += 1;
                    }
                    prev = Some(*c);
                }
            }
            _ => prev = None,
        }
    }
    if flags > MAX_WINDASH_FLAGS {
        return Err(err(
            crate::error::Code::Value,
            format!("windash over {flags} flags would need 5^{flags} alternatives"),
        ));
    }
    let mut out = Vec::new();
    for combo in 0..DASHES.len().pow(flags as u32) {
        let mut code = combo;
        let mut prev: Option<char> = None;
        let variant = s.map_text(|t| {
            let chars: Vec<char> = t.chars().collect();
            let mut o = String::with_capacity(t.len());
            for (i, c) in chars.iter().enumerate() {
                if is_flag(prev, *c, chars.get(i + 1).copied()) {
                    o.push(DASHES[code % DASHES.len()]);
                    code /= DASHES.len();
                } else {
                    o.push(*c);
                }
                prev = Some(*c);
            }
            o
        });
        out.push(variant);
    }
    Ok(out)
}

fn encode(work: Vec<Work>, f: impl Fn(&str) -> Vec<u8>) -> Result<Vec<Work>, ItemError> {
    work.into_iter()
        .map(|w| match w {
            Work::Str(s) => s.as_literal().map(|t| Work::Bytes(f(&t))).ok_or_else(|| {
                err(
                    crate::error::Code::Value,
                    "encoding modifiers cannot apply to values with wildcards",
                )
            }),
            Work::Bytes(_) => Err(err(
                crate::error::Code::Modifier,
                "value is already encoded",
            )),
        })
        .collect()
}

fn utf16(s: &str, big_endian: bool, bom: bool) -> Vec<u8> {
    let mut out = Vec::new();
    if bom {
        out.extend_from_slice(&[0xFF, 0xFE]);
    }
    for unit in s.encode_utf16() {
        let bytes = if big_endian {
            unit.to_be_bytes()
        } else {
            unit.to_le_bytes()
        };
        out.extend_from_slice(&bytes);
    }
    out
}

/// The three base64 encodings of `data` at offsets 0, 1, 2 within a longer stream, trimmed
/// to the characters that do not depend on the surrounding bytes (pySigma's base64offset).
fn base64_offsets(data: &[u8]) -> Vec<String> {
    let start_trim = [0usize, 2, 3];
    let end_trim = [0usize, 3, 2];
    (0..3)
        .map(|i| {
            let mut padded = vec![b' '; i];
            padded.extend_from_slice(data);
            let encoded = STANDARD.encode(&padded);
            let end = encoded.len() - end_trim[(data.len() + i) % 3];
            encoded[start_trim[i]..end.max(start_trim[i])].to_owned()
        })
        .collect()
}

fn parse_cidr(text: &str) -> Option<(IpAddr, u8)> {
    let (addr, prefix) = text.split_once('/').unwrap_or((text, ""));
    let addr: IpAddr = addr.trim().parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = if prefix.is_empty() {
        max
    } else {
        prefix.trim().parse::<u8>().ok()?
    };
    (prefix <= max).then_some((addr, prefix))
}

/// Compiles `key: value(s)` of a detection map. `key` is `Field|mod|mod` or `|mod` (keyword).
pub(crate) fn compile_item(
    key: &str,
    values: &[&Scalar],
    placeholders: &crate::placeholder::Placeholders,
) -> Result<Item, ItemError> {
    use crate::error::Code;
    let mut parts = key.split('|');
    let field = parts.next().unwrap_or_default();
    let field = (!field.is_empty()).then(|| field.to_owned());
    let modifiers: Vec<&str> = parts.collect();

    let mut all = false;
    let mut negated = false;
    let mut cased = false;
    let mut contains = false;
    let mut starts = false;
    let mut ends = false;
    let mut regex = false;
    let mut regex_flags = String::new();
    let mut cidr = false;
    let mut compare: Option<CompareOp> = None;
    let mut exists = false;
    let mut fieldref = false;
    let mut date_part: Option<DatePart> = None;
    let mut expand = false;
    // Transformations applied to string values in order.
    let mut steps: Vec<&str> = Vec::new();
    for (i, m) in modifiers.iter().enumerate() {
        match *m {
            "all" => all = true,
            "neq" => negated = true,
            "cased" => cased = true,
            "contains" => contains = true,
            "startswith" => starts = true,
            "endswith" => ends = true,
            "re" => {
                if i != 0 {
                    return Err(err(Code::Modifier, "'re' must be the first modifier"));
                }
                regex = true;
            }
            "i" | "ignorecase" | "m" | "multiline" | "s" | "dotall" => {
                if !regex {
                    return Err(err(
                        Code::Modifier,
                        format!("'{m}' is only valid after 're'"),
                    ));
                }
                regex_flags.push(m.chars().next().unwrap_or('i'));
            }
            "cidr" => cidr = true,
            "lt" => compare = Some(CompareOp::Lt),
            "lte" => compare = Some(CompareOp::Lte),
            "gt" => compare = Some(CompareOp::Gt),
            "gte" => compare = Some(CompareOp::Gte),
            "exists" => exists = true,
            "fieldref" => fieldref = true,
            "windash" | "base64" | "base64offset" | "wide" | "utf16le" | "utf16be" | "utf16" => {
                steps.push(m)
            }
            "expand" => expand = true,
            "minute" => date_part = Some(DatePart::Minute),
            "hour" => date_part = Some(DatePart::Hour),
            "day" => date_part = Some(DatePart::Day),
            "week" => date_part = Some(DatePart::Week),
            "month" => date_part = Some(DatePart::Month),
            "year" => date_part = Some(DatePart::Year),
            other => return Err(err(Code::Modifier, format!("unknown modifier '{other}'"))),
        }
    }
    if field.is_none() && (exists || fieldref || cidr || compare.is_some() || date_part.is_some()) {
        return Err(err(
            Code::Modifier,
            "exists, fieldref, cidr, date parts and lt/lte/gt/gte need a field name before the \
             modifiers",
        ));
    }
    if all && values.len() < 2 && !modifiers.is_empty() && field.is_some() {
        // The specification forbids 'all' on a single value; SigmaHQ rules respect it.
        return Err(err(
            Code::Modifier,
            "'all' needs a list of at least two values",
        ));
    }

    let mut compiled = Vec::with_capacity(values.len());
    for v in values {
        let alternatives: Vec<Arc<Matcher>> = if exists {
            let b = v
                .as_bool()
                .ok_or_else(|| err(Code::Value, "'exists' takes true or false"))?;
            vec![Arc::new(Matcher::Exists(b))]
        } else if v.is_null() {
            if !modifiers.is_empty() {
                return Err(err(Code::Value, "null cannot take modifiers"));
            }
            vec![Arc::new(Matcher::Null)]
        } else if regex {
            let flags = if regex_flags.is_empty() {
                String::new()
            } else {
                format!("(?{regex_flags})")
            };
            let re = SigmaRegex::new(&format!("{flags}{}", v.text))
                .map_err(|e| err(Code::Value, format!("invalid regular expression: {e}")))?;
            vec![Arc::new(Matcher::Regex(re))]
        } else if cidr {
            let (network, prefix) = parse_cidr(&v.text)
                .ok_or_else(|| err(Code::Value, format!("invalid CIDR {:?}", v.text)))?;
            vec![Arc::new(Matcher::Cidr { network, prefix })]
        } else if let Some(part) = date_part {
            let value = v.text.trim().parse::<i64>().map_err(|_| {
                err(
                    Code::Value,
                    format!("date part '{:?}' needs a whole number", part),
                )
            })?;
            vec![Arc::new(Matcher::DatePart {
                part,
                op: compare,
                value,
            })]
        } else if let Some(op) = compare {
            let n = v
                .text
                .trim()
                .parse::<f64>()
                .map_err(|_| err(Code::Value, format!("'{:?}' needs a number", op)))?;
            vec![Arc::new(Matcher::Compare(op, n))]
        } else if fieldref {
            let mode = match (contains, starts, ends) {
                (true, _, _) => RefMode::Contains,
                (_, true, _) => RefMode::StartsWith,
                (_, _, true) => RefMode::EndsWith,
                _ => RefMode::Equal,
            };
            vec![Arc::new(Matcher::FieldRef {
                field: v.text.clone(),
                mode,
                cased,
            })]
        } else {
            let texts = if expand {
                placeholders
                    .expand(&v.text)
                    .map_err(|m| err(Code::Placeholder, m))?
            } else {
                vec![v.text.clone()]
            };
            let mut work: Vec<Work> = texts
                .iter()
                .map(|t| Work::Str(SigmaString::parse(t)))
                .collect();
            for step in &steps {
                work = match *step {
                    "windash" => {
                        let mut out = Vec::new();
                        for w in work {
                            match w {
                                Work::Str(s) => out.extend(windash(&s)?.into_iter().map(Work::Str)),
                                bytes => out.push(bytes),
                            }
                        }
                        out
                    }
                    "wide" | "utf16le" => encode(work, |s| utf16(s, false, false))?,
                    "utf16be" => encode(work, |s| utf16(s, true, false))?,
                    "utf16" => encode(work, |s| utf16(s, false, true))?,
                    "base64" => work
                        .into_iter()
                        .map(|w| match w {
                            Work::Bytes(b) => {
                                Ok(Work::Str(SigmaString::literal(&STANDARD.encode(b))))
                            }
                            Work::Str(s) => s
                                .as_literal()
                                .map(|t| Work::Str(SigmaString::literal(&STANDARD.encode(t))))
                                .ok_or_else(|| {
                                    err(Code::Value, "base64 cannot apply to values with wildcards")
                                }),
                        })
                        .collect::<Result<_, _>>()?,
                    _ => {
                        // base64offset
                        let mut out = Vec::new();
                        for w in work {
                            let bytes = match w {
                                Work::Bytes(b) => b,
                                Work::Str(s) => {
                                    s.as_literal().map(String::into_bytes).ok_or_else(|| {
                                        err(
                                            Code::Value,
                                            "base64offset cannot apply to values with wildcards",
                                        )
                                    })?
                                }
                            };
                            let variants = base64_offsets(&bytes);
                            // A value shorter than three bytes leaves an offset with no stable
                            // characters: that variant would match anything.
                            if variants.iter().any(String::is_empty) {
                                return Err(err(
                                    Code::Value,
                                    "base64offset needs a value of at least three bytes",
                                ));
                            }
                            out.extend(
                                variants
                                    .into_iter()
                                    .map(|e| Work::Str(SigmaString::literal(&e))),
                            );
                        }
                        out
                    }
                };
            }
            let mut alternatives = Vec::new();
            for w in work {
                let Work::Str(mut s) = w else {
                    return Err(err(
                        Code::Modifier,
                        "utf16/wide must be followed by base64 or base64offset",
                    ));
                };
                if contains || (field.is_none() && !starts && !ends) {
                    // Keywords match anywhere in the event's text.
                    s.prepend_any();
                    s.append_any();
                } else if starts {
                    s.append_any();
                } else if ends {
                    s.prepend_any();
                }
                if !cased {
                    s.fold_text();
                }
                alternatives.push(Arc::new(Matcher::Glob { pattern: s, cased }));
            }
            alternatives
        };
        compiled.push(alternatives);
    }
    Ok(Item {
        field,
        values: compiled,
        all,
        negated,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile_item_with(key: &str, values: &[&Scalar]) -> Result<Item, ItemError> {
        compile_item(key, values, &crate::placeholder::Placeholders::default())
    }

    #[test]
    fn expand_takes_configured_placeholders_only() {
        let mut p = crate::placeholder::Placeholders::default();
        assert_eq!(
            compile_item("x|expand", &[&s("%Admins%")], &p)
                .unwrap_err()
                .code,
            crate::error::Code::Placeholder
        );
        p.insert("Admins", vec!["WS-1".into(), "WS-2*".into()]);
        let item = compile_item("x|expand|startswith", &[&s("%Admins%")], &p).unwrap();
        assert_eq!(item.values.len(), 1);
        assert_eq!(item.values[0].len(), 2);
        let Matcher::Glob { pattern, .. } = &*item.values[0][1] else {
            panic!()
        };
        assert!(pattern.matches("ws-2abc"));
    }

    fn s(text: &str) -> Scalar {
        Scalar {
            text: text.to_owned(),
            quoted: true,
            line: 1,
        }
    }

    #[test]
    fn base64offset_matches_pysigma_vectors() {
        assert_eq!(
            base64_offsets(b"foobar"),
            ["Zm9vYmFy", "Zvb2Jhc", "mb29iYX"]
        );
    }

    #[test]
    fn windash_expands_flag_dashes_only() {
        let v = windash(&SigmaString::parse("-param-1 -x")).unwrap();
        assert_eq!(v.len(), 25);
        let texts: Vec<_> = v.iter().map(|s| s.as_literal().unwrap()).collect();
        assert!(texts.contains(&"/param-1 /x".to_owned()));
        assert!(texts.contains(&"\u{2014}param-1 -x".to_owned()));
        assert!(texts.iter().all(|t| t.contains("param-1")));
    }

    #[test]
    fn modifier_chains_compile_in_order() {
        let item =
            compile_item_with("CommandLine|wide|base64offset|contains", &[&s("ping")]).unwrap();
        assert_eq!(item.values[0].len(), 3);
        let item = compile_item_with("Image|endswith", &[&s("\\CMD.exe")]).unwrap();
        let Matcher::Glob { pattern, cased } = &*item.values[0][0] else {
            panic!()
        };
        assert!(!cased);
        assert!(pattern.matches("c:\\windows\\system32\\cmd.exe"));
        assert!(compile_item_with("x|re|i", &[&s("a+")]).is_ok());
        assert!(compile_item_with("x|i", &[&s("a")]).is_err());
        assert!(compile_item_with("x|contains|re", &[&s("a")]).is_err());
        assert!(compile_item_with("x|nope", &[&s("a")]).is_err());
        assert!(compile_item_with("x|expand", &[&s("%a%")]).is_err());
        assert!(compile_item_with("x|base64", &[&s("a*")]).is_err());
        assert!(compile_item_with("x|cidr", &[&s("10.0.0.0/33")]).is_err());
        assert!(compile_item_with("|exists", &[&s("true")]).is_err());
        assert!(compile_item_with("x|base64offset|contains", &[&s("a")]).is_err());
        assert!(compile_item_with("x|base64offset|contains", &[&s("abc")]).is_ok());
        assert!(compile_item_with("|cidr", &[&s("10.0.0.0/8")]).is_err());
        assert!(compile_item_with("t|hour", &[&s("3")]).is_ok());
        assert!(compile_item_with("t|hour|gte", &[&s("22")]).is_ok());
        assert!(compile_item_with("t|hour", &[&s("three")]).is_err());
        assert!(compile_item_with("|hour", &[&s("3")]).is_err());
    }

    #[test]
    fn date_parts_read_the_date_as_written() {
        let t = "2024-12-30T23:59:07.123+02:00";
        assert_eq!(DatePart::Year.of(t), Some(2024));
        assert_eq!(DatePart::Month.of(t), Some(12));
        assert_eq!(DatePart::Day.of(t), Some(30));
        assert_eq!(DatePart::Hour.of(t), Some(23));
        assert_eq!(DatePart::Minute.of(t), Some(59));
        // 2024-12-30 is the Monday of ISO week 1 of 2025.
        assert_eq!(DatePart::Week.of(t), Some(1));
        assert_eq!(DatePart::Week.of("2021-01-03"), Some(53));
        assert_eq!(DatePart::Week.of("2026-11-22 10:00:00"), Some(47));
        assert_eq!(DatePart::Hour.of("2026-11-22"), None);
        assert_eq!(DatePart::Day.of("22/11/2026"), None);
        assert_eq!(DatePart::Month.of("2026-13-01"), None);
    }
}
