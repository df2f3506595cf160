//! The query parser: recursive descent over the text, positions kept for errors.
//!
//! Precedence, loosest first: `OR` (also `||`), `AND` (also `&&`, or nothing between two
//! clauses), `NOT` (also `-` and `!` glued to a clause). Keywords are upper case only, as in
//! Lucene: a lower-case `and` is a word.

use std::fmt;
use std::ops::Bound;

use super::{Cidr, Glob, Pattern, Predicate, Query, TextMatch};

/// Longest query text accepted.
pub const MAX_QUERY_BYTES: usize = 64 * 1024;

/// Deepest nesting of parentheses and `NOT` accepted (the parser and the compiled query
/// recurse over it).
pub const MAX_DEPTH: usize = 64;

/// Why a query did not parse, and where: the payload of [`crate::StoreError::Parse`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// Byte offset of the problem in the query text.
    pub position: usize,
    /// 1-based character column of the problem.
    pub column: usize,
    /// What was wrong.
    pub message: String,
    /// The query text (cut around the problem when long).
    line: String,
    /// A caret under the problem.
    caret: String,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "query error at character {}: {}\n  {}\n  {}",
            self.column, self.message, self.line, self.caret
        )
    }
}

impl ParseError {
    fn new(input: &str, position: usize, message: impl Into<String>) -> ParseError {
        let position = position.min(input.len());
        let column = input[..position].chars().count() + 1;
        // Show at most 60 characters before the problem and 20 after.
        let before: Vec<char> = input[..position].chars().collect();
        let skip = before.len().saturating_sub(60);
        let mut line: String = before[skip..].iter().collect();
        let caret_at = line.chars().count();
        line.extend(input[position..].chars().take(20));
        if skip > 0 {
            line.insert(0, '…');
        }
        let caret = format!("{}^", " ".repeat(caret_at + usize::from(skip > 0)));
        ParseError {
            position,
            column,
            message: message.into(),
            line: line.replace(['\n', '\r', '\t'], " "),
            caret,
        }
    }
}

/// Parses a query. The empty query (or only spaces) is [`Query::All`]. The error is
/// [`StoreError::Parse`](crate::StoreError::Parse), with the position.
pub fn parse(input: &str) -> Result<Query, crate::StoreError> {
    parse_query(input).map_err(crate::StoreError::Parse)
}

fn parse_query(input: &str) -> Result<Query, ParseError> {
    if input.len() > MAX_QUERY_BYTES {
        return Err(ParseError::new(
            input,
            MAX_QUERY_BYTES,
            format!(
                "the query is {} bytes long; the limit is {MAX_QUERY_BYTES}",
                input.len()
            ),
        ));
    }
    let mut p = Parser {
        input,
        pos: 0,
        depth: 0,
    };
    p.skip_space();
    if p.at_end() {
        return Ok(Query::All);
    }
    let q = p.or(None)?;
    p.skip_space();
    if let Some(c) = p.peek() {
        let msg = if c == ')' {
            "unbalanced ')': no '(' before it".to_owned()
        } else {
            format!("unexpected {c:?}")
        };
        return Err(p.error(msg));
    }
    Ok(q)
}

struct Parser<'a> {
    input: &'a str,
    pos: usize,
    depth: usize,
}

/// A word as written: its text with escapes resolved, and which characters were wildcards.
struct Word {
    start: usize,
    /// Pieces: literal text and wildcards.
    globs: Vec<Glob>,
    /// Whether any character was escaped (so `\*` alone is not "exists").
    escaped: bool,
}

impl Word {
    fn has_wildcard(&self) -> bool {
        self.globs.iter().any(|g| !matches!(g, Glob::Lit(_)))
    }

    fn literal(&self) -> String {
        let mut s = String::new();
        for g in &self.globs {
            match g {
                Glob::Lit(t) => s.push_str(t),
                Glob::Any => s.push('*'),
                Glob::One => s.push('?'),
            }
        }
        s
    }

    fn is_keyword(&self, kw: &str) -> bool {
        !self.escaped && matches!(self.globs.as_slice(), [Glob::Lit(t)] if t == kw)
    }
}

/// Characters that end a word (besides white space).
fn is_delimiter(c: char) -> bool {
    matches!(c, '(' | ')' | '"')
}

impl<'a> Parser<'a> {
    fn error(&self, message: impl Into<String>) -> ParseError {
        ParseError::new(self.input, self.pos, message)
    }

    fn error_at(&self, pos: usize, message: impl Into<String>) -> ParseError {
        ParseError::new(self.input, pos, message)
    }

    fn rest(&self) -> &'a str {
        &self.input[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.input.len()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error(format!("the query nests deeper than {MAX_DEPTH} levels")));
        }
        Ok(())
    }

    /// Whether the next token is the operator `kw` (a keyword followed by a delimiter) or
    /// its symbol; consumes it if so.
    fn eat_operator(&mut self, kw: &str, symbol: Option<&str>) -> bool {
        let rest = self.rest();
        if let Some(symbol) = symbol
            && rest.starts_with(symbol)
        {
            self.pos += symbol.len();
            return true;
        }
        if let Some(after) = rest.strip_prefix(kw)
            && after
                .chars()
                .next()
                .is_none_or(|c| c.is_whitespace() || c == '(' || c == '"')
        {
            self.pos += kw.len();
            return true;
        }
        false
    }

    fn or(&mut self, field: Option<&str>) -> Result<Query, ParseError> {
        let mut parts = vec![self.and(field)?];
        loop {
            self.skip_space();
            if !self.eat_operator("OR", Some("||")) {
                break;
            }
            self.skip_space();
            parts.push(self.and(field)?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Query::Or(parts)
        })
    }

    fn and(&mut self, field: Option<&str>) -> Result<Query, ParseError> {
        let mut parts = vec![self.unary(field)?];
        loop {
            self.skip_space();
            match self.peek() {
                None | Some(')') => break,
                _ => {}
            }
            let save = self.pos;
            if self.eat_operator("OR", Some("||")) {
                self.pos = save;
                break;
            }
            if self.eat_operator("AND", Some("&&")) {
                self.skip_space();
            }
            parts.push(self.unary(field)?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Query::And(parts)
        })
    }

    fn unary(&mut self, field: Option<&str>) -> Result<Query, ParseError> {
        self.skip_space();
        let start = self.pos;
        let negated = if self.eat_operator("NOT", None) {
            self.skip_space();
            true
        } else if matches!(self.peek(), Some('-' | '!'))
            && self.rest()[1..]
                .chars()
                .next()
                .is_some_and(|c| !c.is_whitespace() && c != ')')
        {
            self.bump();
            true
        } else {
            false
        };
        if negated {
            if self.at_end() || self.peek() == Some(')') {
                return Err(self.error_at(start, "NOT needs a clause after it"));
            }
            self.enter()?;
            let inner = self.unary(field)?;
            self.depth -= 1;
            return Ok(Query::Not(Box::new(inner)));
        }
        self.primary(field)
    }

    fn primary(&mut self, field: Option<&str>) -> Result<Query, ParseError> {
        self.skip_space();
        let start = self.pos;
        match self.peek() {
            None => Err(self.error("the query ends where a clause was expected")),
            Some(')') => Err(self.error("')' where a clause was expected")),
            Some('(') => self.group(field, start),
            Some('"') => {
                let text = self.quoted()?;
                Ok(match field {
                    Some(f) => Query::Field {
                        field: f.to_owned(),
                        predicate: Predicate::Equals(text),
                    },
                    None => Query::Text(TextMatch::Phrase(text)),
                })
            }
            Some(_) => {
                if field.is_some() {
                    return self.value(field.unwrap_or_default(), start);
                }
                let word = self.word(true)?;
                if self.peek() == Some(':') {
                    if word.has_wildcard() {
                        return Err(self.error_at(
                            word.start,
                            "a field name cannot hold wildcards (escape them with '\\')",
                        ));
                    }
                    let name = word.literal();
                    if name.is_empty() {
                        return Err(self.error_at(word.start, "empty field name before ':'"));
                    }
                    self.bump();
                    let at = self.pos;
                    if self.peek().is_none_or(char::is_whitespace) {
                        return Err(self.error(format!("field {name:?} has no value after ':'")));
                    }
                    return self.value(&name, at);
                }
                for kw in ["AND", "OR"] {
                    if word.is_keyword(kw) {
                        return Err(
                            self.error_at(word.start, format!("{kw} needs a clause before it"))
                        );
                    }
                }
                if word.is_keyword("TO") {
                    return Err(self.error_at(word.start, "TO outside a range '[a TO b]'"));
                }
                Ok(bare(word))
            }
        }
    }

    /// A parenthesised clause at the current `(`; inside a field's value (`field:(a OR b)`)
    /// when `field` is given. Errors point at `start`.
    fn group(&mut self, field: Option<&str>, start: usize) -> Result<Query, ParseError> {
        self.bump();
        self.enter()?;
        self.skip_space();
        if self.peek() == Some(')') {
            return Err(self.error("empty parentheses"));
        }
        let inner = self.or(field)?;
        self.skip_space();
        if self.peek() != Some(')') {
            return Err(self.error_at(start, "'(' is never closed"));
        }
        self.bump();
        self.depth -= 1;
        Ok(inner)
    }

    /// The value after `field:`.
    fn value(&mut self, field: &str, start: usize) -> Result<Query, ParseError> {
        let predicate = match self.peek() {
            // A group of values for the same field: `field:(a OR b)`.
            Some('(') => return self.group(Some(field), start),
            Some('"') => Predicate::Equals(self.quoted()?),
            Some('[' | '{') => self.range()?,
            Some('>' | '<') => self.comparison()?,
            _ => {
                let word = self.word(false)?;
                if word.globs.is_empty() {
                    return Err(self.error_at(start, format!("field {field:?} has no value")));
                }
                if !word.escaped && matches!(word.globs.as_slice(), [Glob::Any]) {
                    Predicate::Exists
                } else if word.has_wildcard() {
                    Predicate::Wildcard(Pattern(word.globs))
                } else {
                    let text = word.literal();
                    match Cidr::parse(&text) {
                        Some(cidr) => Predicate::Cidr(cidr),
                        None if !word.escaped && looks_like_network(&text) => {
                            return Err(self.error_at(
                                start,
                                format!(
                                    "{text:?} is not a valid network (address/prefix, prefix at most 32 for IPv4, 128 for IPv6); quote it to search the text"
                                ),
                            ));
                        }
                        None => Predicate::Equals(text),
                    }
                }
            }
        };
        Ok(Query::Field {
            field: field.to_owned(),
            predicate,
        })
    }

    /// `[a TO b]`, `{a TO b}`, mixed brackets, `*` for an open end.
    fn range(&mut self) -> Result<Predicate, ParseError> {
        let start = self.pos;
        let inclusive_low = self.bump() == Some('[');
        self.skip_space();
        let low = self.bound_value()?;
        self.skip_space();
        let to_at = self.pos;
        if !self.eat_operator("TO", None) {
            return Err(self.error_at(to_at, "expected TO between the bounds of a range"));
        }
        self.skip_space();
        let high = self.bound_value()?;
        self.skip_space();
        let inclusive_high = match self.bump() {
            Some(']') => true,
            Some('}') => false,
            _ => {
                return Err(self.error_at(start, "a range opened here is not closed by ']' or '}'"));
            }
        };
        let bound = |v: Option<String>, inclusive: bool| match v {
            None => Bound::Unbounded,
            Some(v) if inclusive => Bound::Included(v),
            Some(v) => Bound::Excluded(v),
        };
        Ok(Predicate::Range {
            lower: bound(low, inclusive_low),
            upper: bound(high, inclusive_high),
        })
    }

    /// A range bound: a word, a quoted text, or `*` (open).
    fn bound_value(&mut self) -> Result<Option<String>, ParseError> {
        let at = self.pos;
        if self.peek() == Some('"') {
            return self.quoted().map(Some);
        }
        let word = self.word_until(|c| c.is_whitespace() || matches!(c, ']' | '}' | '"'))?;
        if word.globs.is_empty() {
            return Err(self.error_at(at, "expected a range bound"));
        }
        if !word.escaped && matches!(word.globs.as_slice(), [Glob::Any]) {
            return Ok(None);
        }
        if word.has_wildcard() {
            return Err(self.error_at(at, "a range bound cannot hold wildcards"));
        }
        Ok(Some(word.literal()))
    }

    /// `>x`, `>=x`, `<x`, `<=x`.
    fn comparison(&mut self) -> Result<Predicate, ParseError> {
        let op_at = self.pos;
        let greater = self.bump() == Some('>');
        let inclusive = if self.peek() == Some('=') {
            self.bump();
            true
        } else {
            false
        };
        let value = if self.peek() == Some('"') {
            self.quoted()?
        } else {
            let word = self.word(false)?;
            if word.has_wildcard() {
                return Err(self.error_at(word.start, "a comparison value cannot hold wildcards"));
            }
            word.literal()
        };
        if value.is_empty() {
            return Err(self.error_at(op_at, "a comparison needs a value after it"));
        }
        let bound = if inclusive {
            Bound::Included(value)
        } else {
            Bound::Excluded(value)
        };
        Ok(if greater {
            Predicate::Range {
                lower: bound,
                upper: Bound::Unbounded,
            }
        } else {
            Predicate::Range {
                lower: Bound::Unbounded,
                upper: bound,
            }
        })
    }

    /// A quoted text: `\"` and `\\` are escapes, any other backslash is literal.
    fn quoted(&mut self) -> Result<String, ParseError> {
        let start = self.pos;
        self.bump();
        let mut out = String::new();
        loop {
            match self.bump() {
                None => return Err(self.error_at(start, "this quote is never closed")),
                Some('"') => return Ok(out),
                Some('\\') => match self.peek() {
                    Some(c @ ('"' | '\\')) => {
                        self.bump();
                        out.push(c);
                    }
                    _ => out.push('\\'),
                },
                Some(c) => out.push(c),
            }
        }
    }

    /// A word: up to white space, a parenthesis or a quote; with `stop_at_colon`, also up to
    /// an unescaped `:` (the field separator).
    fn word(&mut self, stop_at_colon: bool) -> Result<Word, ParseError> {
        self.word_until(|c| c.is_whitespace() || is_delimiter(c) || (stop_at_colon && c == ':'))
    }

    fn word_until(&mut self, stop: impl Fn(char) -> bool) -> Result<Word, ParseError> {
        let start = self.pos;
        let mut globs = Vec::new();
        let mut lit = String::new();
        let mut escaped = false;
        while let Some(c) = self.peek() {
            if stop(c) {
                break;
            }
            self.bump();
            match c {
                '\\' => match self.bump() {
                    Some(next) => {
                        escaped = true;
                        lit.push(next);
                    }
                    None => return Err(self.error_at(start, "a '\\' ends the query")),
                },
                '*' | '?' => {
                    if !lit.is_empty() {
                        globs.push(Glob::Lit(std::mem::take(&mut lit)));
                    }
                    let g = if c == '*' { Glob::Any } else { Glob::One };
                    // `**` is `*`.
                    if !(g == Glob::Any && globs.last() == Some(&Glob::Any)) {
                        globs.push(g);
                    }
                }
                c => lit.push(c),
            }
        }
        if !lit.is_empty() {
            globs.push(Glob::Lit(lit));
        }
        Ok(Word {
            start,
            globs,
            escaped,
        })
    }
}

/// A bare word: full text (or everything for `*`).
fn bare(word: Word) -> Query {
    if !word.escaped && matches!(word.globs.as_slice(), [Glob::Any]) {
        Query::All
    } else if word.has_wildcard() {
        Query::Text(TextMatch::Wildcard(Pattern(word.globs)))
    } else {
        Query::Text(TextMatch::Words(word.literal()))
    }
}

impl fmt::Display for Query {
    /// Writes the query back in the language (fully parenthesised), so that
    /// `parse(q.to_string()) == q`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Query::All => f.write_str("*"),
            Query::And(parts) | Query::Or(parts) => {
                let op = if matches!(self, Query::And(_)) {
                    " AND "
                } else {
                    " OR "
                };
                f.write_str("(")?;
                for (i, p) in parts.iter().enumerate() {
                    if i > 0 {
                        f.write_str(op)?;
                    }
                    write!(f, "{p}")?;
                }
                f.write_str(")")
            }
            Query::Not(inner) => write!(f, "NOT {inner}"),
            Query::Text(TextMatch::Words(w)) => write_word(f, w),
            Query::Text(TextMatch::Phrase(p)) => write_quoted(f, p),
            Query::Text(TextMatch::Wildcard(p)) => write!(f, "{p}"),
            Query::Field { field, predicate } => {
                write_word(f, field)?;
                f.write_str(":")?;
                match predicate {
                    Predicate::Equals(v) => write_quoted(f, v),
                    Predicate::Wildcard(p) => write!(f, "{p}"),
                    Predicate::Exists => f.write_str("*"),
                    Predicate::Cidr(c) => write!(f, "{c}"),
                    Predicate::Range { lower, upper } => {
                        let (open, low) = match lower {
                            Bound::Included(v) => ('[', Some(v)),
                            Bound::Excluded(v) => ('{', Some(v)),
                            Bound::Unbounded => ('[', None),
                        };
                        let (close, high) = match upper {
                            Bound::Included(v) => (']', Some(v)),
                            Bound::Excluded(v) => ('}', Some(v)),
                            Bound::Unbounded => (']', None),
                        };
                        write!(f, "{open}")?;
                        match low {
                            Some(v) => write_quoted(f, v)?,
                            None => f.write_str("*")?,
                        }
                        f.write_str(" TO ")?;
                        match high {
                            Some(v) => write_quoted(f, v)?,
                            None => f.write_str("*")?,
                        }
                        write!(f, "{close}")
                    }
                }
            }
        }
    }
}

fn write_quoted(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    f.write_str("\"")?;
    for c in text.chars() {
        if matches!(c, '"' | '\\') {
            f.write_str("\\")?;
        }
        write!(f, "{c}")?;
    }
    f.write_str("\"")
}

/// A word with every character that would end it or change its meaning escaped.
fn write_word(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    for (i, c) in text.chars().enumerate() {
        if super::needs_escape(c, i == 0) || (i == 0 && super::reads_as_operator(text)) {
            f.write_str("\\")?;
        }
        write!(f, "{c}")?;
    }
    Ok(())
}

/// Whether `text` has the shape of an IP network (`999.1.1.1/99`, `fe80::/200`): address
/// characters with a dot or a colon, a slash, digits. Such a value that does not parse as a
/// network is a typo, not a text to look for.
fn looks_like_network(text: &str) -> bool {
    let Some((addr, prefix)) = text.split_once('/') else {
        return false;
    };
    !addr.is_empty()
        && !prefix.is_empty()
        && prefix.bytes().all(|b| b.is_ascii_digit())
        && addr.bytes().any(|b| b == b'.' || b == b':')
        && addr
            .bytes()
            .all(|b| b.is_ascii_hexdigit() || b == b'.' || b == b':')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str, predicate: Predicate) -> Query {
        Query::Field {
            field: name.to_owned(),
            predicate,
        }
    }

    fn eq(name: &str, v: &str) -> Query {
        field(name, Predicate::Equals(v.to_owned()))
    }

    fn words(w: &str) -> Query {
        Query::Text(TextMatch::Words(w.to_owned()))
    }

    #[test]
    fn every_form_parses_to_its_query() {
        let cases: Vec<(&str, Query)> = vec![
            ("", Query::All),
            ("*", Query::All),
            ("mimikatz", words("mimikatz")),
            (
                "\"lateral movement\"",
                Query::Text(TextMatch::Phrase("lateral movement".into())),
            ),
            (
                "mimi*",
                Query::Text(TextMatch::Wildcard(Pattern(vec![
                    Glob::Lit("mimi".into()),
                    Glob::Any,
                ]))),
            ),
            ("host:dc01", eq("host", "dc01")),
            (
                "Image:\"C:\\Program Files\\x.exe\"",
                eq("Image", "C:\\Program Files\\x.exe"),
            ),
            (
                "CommandLine:*whoami*",
                field(
                    "CommandLine",
                    Predicate::Wildcard(Pattern(vec![
                        Glob::Any,
                        Glob::Lit("whoami".into()),
                        Glob::Any,
                    ])),
                ),
            ),
            (
                "User:adm?n",
                field(
                    "User",
                    Predicate::Wildcard(Pattern(vec![
                        Glob::Lit("adm".into()),
                        Glob::One,
                        Glob::Lit("n".into()),
                    ])),
                ),
            ),
            ("ParentImage:*", field("ParentImage", Predicate::Exists)),
            ("a\\*b:\\*", eq("a*b", "*")),
            (
                "EventID:[4624 TO 4634]",
                field(
                    "EventID",
                    Predicate::Range {
                        lower: Bound::Included("4624".into()),
                        upper: Bound::Included("4634".into()),
                    },
                ),
            ),
            (
                "bytes:{10 TO *]",
                field(
                    "bytes",
                    Predicate::Range {
                        lower: Bound::Excluded("10".into()),
                        upper: Bound::Unbounded,
                    },
                ),
            ),
            (
                "bytes:>=100",
                field(
                    "bytes",
                    Predicate::Range {
                        lower: Bound::Included("100".into()),
                        upper: Bound::Unbounded,
                    },
                ),
            ),
            (
                "bytes:<5",
                field(
                    "bytes",
                    Predicate::Range {
                        lower: Bound::Unbounded,
                        upper: Bound::Excluded("5".into()),
                    },
                ),
            ),
            (
                "source.ip:10.0.0.0/8",
                field(
                    "source.ip",
                    Predicate::Cidr(Cidr {
                        addr: "10.0.0.0".parse().unwrap(),
                        prefix: 8,
                    }),
                ),
            ),
            (
                "ip:fe80::/10",
                field(
                    "ip",
                    Predicate::Cidr(Cidr {
                        addr: "fe80::".parse().unwrap(),
                        prefix: 10,
                    }),
                ),
            ),
            ("ip:fe80::1", eq("ip", "fe80::1")),
            ("a b", Query::And(vec![words("a"), words("b")])),
            ("a AND b", Query::And(vec![words("a"), words("b")])),
            ("a && b", Query::And(vec![words("a"), words("b")])),
            (
                "a OR b c",
                Query::Or(vec![words("a"), Query::And(vec![words("b"), words("c")])]),
            ),
            ("a || b", Query::Or(vec![words("a"), words("b")])),
            (
                "(a OR b) c",
                Query::And(vec![Query::Or(vec![words("a"), words("b")]), words("c")]),
            ),
            ("NOT a", Query::Not(Box::new(words("a")))),
            (
                "-a b",
                Query::And(vec![Query::Not(Box::new(words("a"))), words("b")]),
            ),
            ("!host:x", Query::Not(Box::new(eq("host", "x")))),
            (
                "a - b",
                Query::And(vec![words("a"), words("-"), words("b")]),
            ),
            (
                "NOT NOT a",
                Query::Not(Box::new(Query::Not(Box::new(words("a"))))),
            ),
            ("and or", Query::And(vec![words("and"), words("or")])),
            ("ORACLE", words("ORACLE")),
            ("NOTICE", words("NOTICE")),
            (
                "user:(alice OR bob)",
                Query::Or(vec![eq("user", "alice"), eq("user", "bob")]),
            ),
            (
                "user:(alice \"bob smith\" NOT eve)",
                Query::And(vec![
                    eq("user", "alice"),
                    eq("user", "bob smith"),
                    Query::Not(Box::new(eq("user", "eve"))),
                ]),
            ),
            ("url:http://x/y", eq("url", "http://x/y")),
            (
                "msg:\"say \\\"hi\\\" C:\\dir\"",
                eq("msg", "say \"hi\" C:\\dir"),
            ),
            ("  host:dc01   ", eq("host", "dc01")),
            ("Field\\ With\\ Spaces:1", eq("Field With Spaces", "1")),
            // Found by the fuzz target: escaped operators stay words.
            ("\\OR", words("OR")),
            ("\\&&x", words("&&x")),
            ("a \\TO", Query::And(vec![words("a"), words("TO")])),
            // Found by the fuzz target: a pattern holding ':' must write it escaped.
            (
                "a\\:b*",
                Query::Text(TextMatch::Wildcard(Pattern(vec![
                    Glob::Lit("a:b".into()),
                    Glob::Any,
                ]))),
            ),
            (
                "\\-x?",
                Query::Text(TextMatch::Wildcard(Pattern(vec![
                    Glob::Lit("-x".into()),
                    Glob::One,
                ]))),
            ),
        ];
        for (text, expected) in cases {
            let got = parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
            assert_eq!(got, expected, "{text:?}");
            // Display writes the language back.
            let again = parse(&got.to_string()).unwrap_or_else(|e| panic!("{got}: {e}"));
            assert_eq!(again, got, "round trip of {text:?} via {got}");
        }
    }

    #[test]
    fn errors_name_the_position_and_the_problem() {
        let cases = [
            ("host:", 5, "has no value"),
            ("(a OR b", 0, "never closed"),
            ("a)", 1, "unbalanced ')'"),
            ("\"abc", 0, "quote is never closed"),
            ("x:[1 2]", 5, "expected TO"),
            ("x:[1 TO 2", 2, "not closed"),
            ("AND a", 0, "AND needs a clause before"),
            ("a OR", 4, "ends where a clause"),
            ("NOT", 0, "NOT needs a clause"),
            ("()", 1, "empty parentheses"),
            ("a*:b", 0, "cannot hold wildcards"),
            (":b", 0, "empty field name"),
            ("x:>", 2, "needs a value"),
            ("x:[a* TO b]", 3, "cannot hold wildcards"),
            ("abc\\", 0, "ends the query"),
            ("ip:999.1.1.1/99", 3, "not a valid network"),
        ];
        for (text, position, message) in cases {
            let err = parse_query(text).expect_err(text);
            // The public function wraps the same payload.
            assert!(matches!(parse(text), Err(crate::StoreError::Parse(ref e)) if *e == err));
            assert_eq!(err.position, position, "{text:?}: {err}");
            assert!(err.message.contains(message), "{text:?}: {err}");
            assert!(err.to_string().contains('^'), "{err}");
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let deep = format!("{}a{}", "(".repeat(10_000), ")".repeat(10_000));
        let err = parse_query(&deep).unwrap_err();
        assert!(err.message.contains("deeper"), "{err}");
        let nots = "NOT ".repeat(10_000) + "a";
        assert!(parse(&nots).is_err());
        let long = "a ".repeat(MAX_QUERY_BYTES);
        assert!(parse_query(&long).unwrap_err().message.contains("limit"));
    }

    #[test]
    fn cidr_bounds_cover_the_network() {
        let c = Cidr::parse("10.1.2.3/8").unwrap();
        let (lo, hi) = c.bounds_v6();
        let v4 = |s: &str| {
            s.parse::<std::net::Ipv4Addr>()
                .unwrap()
                .to_ipv6_mapped()
                .to_bits()
        };
        assert_eq!(lo, v4("10.0.0.0"));
        assert_eq!(hi, v4("10.255.255.255"));
        let all = Cidr::parse("::/0").unwrap().bounds_v6();
        assert_eq!(all, (0, u128::MAX));
        assert!(Cidr::parse("10.0.0.0/33").is_none());
        assert!(Cidr::parse("10.0.0.0/").is_none());
        assert!(Cidr::parse("host/8").is_none());
    }
}

#[cfg(test)]
mod doc_examples {
    /// The error shown in docs/query-language.md.
    #[test]
    fn the_documented_error_is_the_real_one() {
        let err = super::parse("user:(alice OR bob").unwrap_err();
        let doc = include_str!("../../../../docs/query-language.md");
        assert!(doc.contains(&err.to_string()), "{err}");
    }

    #[test]
    fn a_query_names_the_fields_it_tests() {
        let q =
            crate::parse("patient_id:123 AND (host:ws1 OR NOT fields.user:x*) OR \"free text\"")
                .expect("parses");
        assert_eq!(
            q.named_fields(),
            vec![Some("patient_id"), Some("host"), Some("user"), None]
        );
        assert!(crate::parse("*").expect("parses").named_fields().is_empty());
    }
}
