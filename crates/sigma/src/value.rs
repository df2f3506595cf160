//! Sigma string values: wildcards, escapes and case folding.
//!
//! The escape rules are the specification's ("Escape Character"), as pySigma's `SigmaString`
//! executes them: a backslash escapes only `*`, `?` and itself; before anything else it is a
//! literal backslash. So `C:\Windows` needs no escaping, `\*` is a literal star, `\\*` is a
//! backslash then a wildcard, and three or four backslashes both give two.

use std::borrow::Cow;

/// One piece of a Sigma string.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Piece {
    /// Literal text.
    Text(String),
    /// `*`: any run of characters, possibly empty.
    AnyRun,
    /// `?`: exactly one character.
    AnyOne,
}

/// A parsed Sigma string value.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct SigmaString {
    pieces: Vec<Piece>,
}

impl SigmaString {
    /// Parses a rule value with the Sigma escape rules.
    pub fn parse(text: &str) -> SigmaString {
        // Literal runs between special characters are copied whole (the three special
        // characters are ASCII, so every cut is on a character boundary).
        let mut s = SigmaString::default();
        let bytes = text.as_bytes();
        let mut i = 0;
        while let Some(off) = bytes[i..]
            .iter()
            .position(|&b| matches!(b, b'\\' | b'*' | b'?'))
        {
            let at = i + off;
            s.push_text(&text[i..at]);
            i = at + 1;
            match bytes[at] {
                b'\\' => match bytes.get(at + 1) {
                    Some(b'*' | b'?' | b'\\') => {
                        s.push_text(&text[at + 1..at + 2]);
                        i = at + 2;
                    }
                    _ => s.push_text("\\"),
                },
                b'*' => s.pieces.push(Piece::AnyRun),
                _ => s.pieces.push(Piece::AnyOne),
            }
        }
        s.push_text(&text[i..]);
        s
    }

    /// A string of literal text (no wildcards).
    pub fn literal(text: &str) -> SigmaString {
        let mut s = SigmaString::default();
        if !text.is_empty() {
            s.pieces.push(Piece::Text(text.to_owned()));
        }
        s
    }

    fn push_text(&mut self, text: &str) {
        if text.is_empty() {
            return;
        }
        match self.pieces.last_mut() {
            Some(Piece::Text(t)) => t.push_str(text),
            _ => self.pieces.push(Piece::Text(text.to_owned())),
        }
    }

    /// The pieces.
    pub fn pieces(&self) -> &[Piece] {
        &self.pieces
    }

    /// Whether it contains `*` or `?`.
    pub fn has_wildcards(&self) -> bool {
        self.pieces.iter().any(|p| !matches!(p, Piece::Text(_)))
    }

    /// The literal text, when there are no wildcards.
    pub fn as_literal(&self) -> Option<String> {
        if self.has_wildcards() {
            return None;
        }
        Some(
            self.pieces
                .iter()
                .map(|p| match p {
                    Piece::Text(t) => t.as_str(),
                    _ => "",
                })
                .collect(),
        )
    }

    /// Adds a leading `*` unless there is one.
    pub fn prepend_any(&mut self) {
        if self.pieces.first() != Some(&Piece::AnyRun) {
            self.pieces.insert(0, Piece::AnyRun);
        }
    }

    /// Adds a trailing `*` unless there is one.
    pub fn append_any(&mut self) {
        if self.pieces.last() != Some(&Piece::AnyRun) {
            self.pieces.push(Piece::AnyRun);
        }
    }

    /// Maps every literal piece (windash expansion, case folding).
    pub fn map_text(&self, mut f: impl FnMut(&str) -> String) -> SigmaString {
        SigmaString {
            pieces: self
                .pieces
                .iter()
                .map(|p| match p {
                    Piece::Text(t) => Piece::Text(f(t)),
                    other => other.clone(),
                })
                .collect(),
        }
    }

    /// Folds every literal piece to lower case in place (case-insensitive patterns); a
    /// piece that folding leaves unchanged is not copied.
    pub fn fold_text(&mut self) {
        for piece in &mut self.pieces {
            if let Piece::Text(t) = piece
                && let Cow::Owned(folded) = fold(t)
            {
                *t = folded;
            }
        }
    }

    /// Whether the pattern is wildcards alone (then case folding cannot change its answer:
    /// simple folding maps one character to one character).
    pub fn is_wildcards_only(&self) -> bool {
        self.pieces.iter().all(|p| !matches!(p, Piece::Text(_)))
    }

    /// Whether `text` matches this pattern (`fold` both sides first for case-insensitive).
    pub fn matches(&self, text: &str) -> bool {
        glob_match(&self.pieces, text)
    }
}

/// Lower-cases with Unicode *simple* folding, character by character (never the
/// context-sensitive rules of `str::to_lowercase`), so that both sides fold alike.
pub fn fold(text: &str) -> Cow<'_, str> {
    if text.bytes().all(|b| !b.is_ascii_uppercase() && b < 0x80) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    fold_into(text, &mut out);
    Cow::Owned(out)
}

/// [`fold`] into a buffer the caller reuses (cleared first): no allocation once it has grown.
pub fn fold_into(text: &str, out: &mut String) {
    out.clear();
    fold_append(text, out);
}

/// [`fold`] appended to `out`.
pub fn fold_append(text: &str, out: &mut String) {
    if text.is_ascii() {
        let start = out.len();
        out.push_str(text);
        out[start..].make_ascii_lowercase();
        return;
    }
    for c in text.chars() {
        let mut lower = c.to_lowercase();
        match (lower.next(), lower.next()) {
            (Some(l), None) => out.push(l),
            _ => out.push(c),
        }
    }
}

/// Wildcard matching: `*` any run, `?` one character. The common shapes (`text`, `*text`,
/// `text*`, `*text*`) are plain string comparisons; anything else runs the two-pointer
/// algorithm, which backtracks to the last star only (linear in practice, no allocation).
fn glob_match(pieces: &[Piece], text: &str) -> bool {
    match pieces {
        [] => return text.is_empty(),
        [Piece::Text(t)] => return text == t,
        [Piece::AnyRun] => return true,
        [Piece::AnyRun, Piece::Text(t)] => return text.ends_with(t.as_str()),
        [Piece::Text(t), Piece::AnyRun] => return text.starts_with(t.as_str()),
        [Piece::AnyRun, Piece::Text(t), Piece::AnyRun] => return text.contains(t.as_str()),
        _ => {}
    }
    let (mut ti, mut si) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    loop {
        if let Some(piece) = pieces.get(ti) {
            match piece {
                Piece::AnyRun => {
                    star = Some((ti, si));
                    ti += 1;
                    continue;
                }
                Piece::Text(l) if text[si..].starts_with(l.as_str()) => {
                    si += l.len();
                    ti += 1;
                    continue;
                }
                Piece::AnyOne if si < text.len() => {
                    si += text[si..].chars().next().map_or(1, char::len_utf8);
                    ti += 1;
                    continue;
                }
                _ => {}
            }
        } else if si == text.len() {
            return true;
        }
        // Mismatch: let the last star swallow one more character.
        match star {
            Some((star_ti, star_si)) if star_si < text.len() => {
                let next = star_si + text[star_si..].chars().next().map_or(1, char::len_utf8);
                star = Some((star_ti, next));
                ti = star_ti + 1;
                si = next;
            }
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(s: &str) -> Piece {
        Piece::Text(s.to_owned())
    }

    #[test]
    fn escape_rules_from_the_specification() {
        // (rule text, pieces)
        let cases: &[(&str, Vec<Piece>)] = &[
            (r"C:\Windows", vec![lit(r"C:\Windows")]),
            (r"\*", vec![lit("*")]),
            (r"\?", vec![lit("?")]),
            (r"\\*", vec![lit(r"\"), Piece::AnyRun]),
            (r"\\\*", vec![lit(r"\*")]),
            (r"\\\\", vec![lit(r"\\")]),
            (r"\\\", vec![lit(r"\\")]),
            (r"a\", vec![lit(r"a\")]),
            (
                "*a?b*",
                vec![
                    Piece::AnyRun,
                    lit("a"),
                    Piece::AnyOne,
                    lit("b"),
                    Piece::AnyRun,
                ],
            ),
            ("", vec![]),
        ];
        for (text, want) in cases {
            assert_eq!(SigmaString::parse(text).pieces(), &want[..], "{text}");
        }
    }

    #[test]
    fn glob_matching() {
        let m = |p: &str, t: &str| SigmaString::parse(p).matches(t);
        assert!(m("abc", "abc"));
        assert!(!m("abc", "abcd"));
        assert!(m("*bc", "abc"));
        assert!(m("a*", "abc"));
        assert!(m("*b*", "abc"));
        assert!(m("a*c*e", "abcde"));
        assert!(!m("a*c*e", "abcdef"));
        assert!(m("a?c", "abc"));
        assert!(m("a?c", "aéc"));
        assert!(!m("a?c", "ac"));
        assert!(m("*", ""));
        assert!(m("", ""));
        assert!(!m("", "x"));
        assert!(m(r"*\*", "x*"));
        assert!(!m(r"*\*", "xy"));
        assert!(m("*aab", "aaaab"));
        assert!(m("*a*", "xay"));
        assert!(!m("*a*", "xy"));
        assert!(m("a*", "a"));
        assert!(m("*a", "a"));
        assert!(m("a*b?c*d", "aXXbYcZZd"));
        assert!(!m("a*b?c*d", "aXXbcZZd"));
    }

    #[test]
    fn folding_is_simple_and_per_char() {
        assert_eq!(fold("CMD.EXE"), "cmd.exe");
        assert_eq!(fold("ÉTÉ"), "été");
        // 'İ' lower-cases to two chars in full folding; simple folding keeps one char.
        assert_eq!(fold("İ").chars().count(), 1);
        assert!(matches!(fold("already lower"), Cow::Borrowed(_)));
    }
}
