//! The search language: a typed query ([`Query`]) and its parser ([`parse`]).
//!
//! The language is the Lucene/KQL subset SOC analysts already type (grammar and examples in
//! `docs/query-language.md`). The AST knows nothing about the index: the back end
//! (`crate::index::compile`) turns it into an index query, so another back end can reuse the
//! parser unchanged.

mod parse;
mod time;

use std::fmt;
use std::net::IpAddr;
use std::ops::Bound;

pub use parse::{MAX_DEPTH, MAX_QUERY_BYTES, ParseError, parse};
pub use time::{TimeRange, parse_time};

/// A parsed query.
#[derive(Clone, Debug, PartialEq)]
pub enum Query {
    /// Every event (the empty query, or a bare `*`).
    All,
    /// Every sub-query matches.
    And(Vec<Query>),
    /// At least one sub-query matches.
    Or(Vec<Query>),
    /// The sub-query does not match.
    Not(Box<Query>),
    /// Full-text search over the message and every string field.
    Text(TextMatch),
    /// A test on one field.
    Field {
        /// The field name as written (metadata names such as `host`, or an event field;
        /// `fields.NAME` always means the event field).
        field: String,
        /// What the field's value must satisfy.
        predicate: Predicate,
    },
}

impl Query {
    /// The event fields this query tests, `None` standing for a full-text test (which
    /// reads every field): what the sensitive-field check of a caller who may not see them
    /// looks at. `fields.NAME` names the field `NAME`.
    pub fn named_fields(&self) -> Vec<Option<&str>> {
        let mut out = Vec::new();
        self.collect_fields(&mut out);
        out
    }

    fn collect_fields<'a>(&'a self, out: &mut Vec<Option<&'a str>>) {
        match self {
            Query::All => {}
            Query::And(qs) | Query::Or(qs) => qs.iter().for_each(|q| q.collect_fields(out)),
            Query::Not(q) => q.collect_fields(out),
            Query::Text(_) => out.push(None),
            Query::Field { field, .. } => {
                out.push(Some(field.strip_prefix("fields.").unwrap_or(field)));
            }
        }
    }
}

/// A full-text test (bare words, phrases and wildcards).
#[derive(Clone, Debug, PartialEq)]
pub enum TextMatch {
    /// A bare word; split into words by the index's tokenizer, the words must follow each
    /// other (`cmd.exe` is the phrase `cmd exe`).
    Words(String),
    /// A quoted phrase.
    Phrase(String),
    /// A word pattern with `*` and `?` (matches single words).
    Wildcard(Pattern),
}

/// A test on one field's value.
#[derive(Clone, Debug, PartialEq)]
pub enum Predicate {
    /// The whole value equals this text, case-insensitively; a number also matches the
    /// numeric value (`EventID:4688` matches `4688` and `"4688"`).
    Equals(String),
    /// The whole value matches a `*`/`?` pattern, case-insensitively.
    Wildcard(Pattern),
    /// The field is present (`field:*`).
    Exists,
    /// The value lies in a range: numerically when both bounds are numbers (or one is and
    /// the other open), else by text (lower-cased); for `time`, bounds are times.
    Range {
        /// Lower bound.
        lower: Bound<String>,
        /// Upper bound.
        upper: Bound<String>,
    },
    /// The value is an IP address inside this network.
    Cidr(Cidr),
}

/// An IP network, `10.0.0.0/8` or `fe80::/10`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    /// The network address (host bits are allowed and ignored).
    pub addr: IpAddr,
    /// The prefix length (≤ 32 for IPv4, ≤ 128 for IPv6).
    pub prefix: u8,
}

impl Cidr {
    /// Parses `addr/prefix`; `None` when the text is not a network.
    pub fn parse(text: &str) -> Option<Cidr> {
        let (addr, prefix) = text.split_once('/')?;
        let addr: IpAddr = addr.parse().ok()?;
        if prefix.is_empty() || prefix.len() > 3 || !prefix.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let prefix: u8 = prefix.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(Cidr { addr, prefix })
    }

    /// The first and last address of the network, as IPv6 (IPv4 mapped into `::ffff:0:0/96`),
    /// which is how the index stores addresses.
    pub fn bounds_v6(&self) -> (u128, u128) {
        let (bits, prefix) = match self.addr {
            IpAddr::V4(v4) => (v4.to_ipv6_mapped().to_bits(), 96 + u32::from(self.prefix)),
            IpAddr::V6(v6) => (v6.to_bits(), u32::from(self.prefix)),
        };
        let host_mask = if prefix >= 128 {
            0
        } else {
            u128::MAX >> prefix
        };
        (bits & !host_mask, bits | host_mask)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// A `*`/`?` pattern, escapes resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern(pub Vec<Glob>);

/// One element of a [`Pattern`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Glob {
    /// Literal text.
    Lit(String),
    /// `*`: any run of characters, possibly empty.
    Any,
    /// `?`: exactly one character.
    One,
}

impl Pattern {
    /// The pattern with every literal lower-cased (the index stores lower-cased values).
    pub fn to_lowercase(&self) -> Pattern {
        Pattern(
            self.0
                .iter()
                .map(|g| match g {
                    Glob::Lit(s) => Glob::Lit(s.to_lowercase()),
                    other => other.clone(),
                })
                .collect(),
        )
    }
}

/// Whether `c` must be escaped in a word of the language (at its start when `first`).
pub(crate) fn needs_escape(c: char, first: bool) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '(' | ')' | '"' | ':' | '*' | '?' | '\\' | '[' | ']' | '{' | '}' | '>' | '<'
        )
        || (first && matches!(c, '-' | '!'))
}

/// Whether a word reads as an operator unless its first character is escaped (`AND`, `OR`,
/// `NOT`, `TO` alone, or a start of `&&` or `||`).
pub(crate) fn reads_as_operator(text: &str) -> bool {
    matches!(text, "AND" | "OR" | "NOT" | "TO") || text.starts_with("&&") || text.starts_with("||")
}

impl fmt::Display for Pattern {
    /// Writes the pattern as a word of the language (specials escaped).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for g in &self.0 {
            match g {
                Glob::Lit(s) => {
                    for c in s.chars() {
                        if needs_escape(c, first) || (first && reads_as_operator(s)) {
                            f.write_str("\\")?;
                        }
                        write!(f, "{c}")?;
                        first = false;
                    }
                }
                Glob::Any => f.write_str("*")?,
                Glob::One => f.write_str("?")?,
            }
            first = false;
        }
        Ok(())
    }
}
