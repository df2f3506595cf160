//! Literals that every match of a regular expression contains: how the fast engine scans for
//! regexes with the same automata as wildcard patterns (`engine::scan`), and estimates how
//! often one is true. Computed once per regex when it is compiled ([`SigmaRegex::new`]),
//! on the loading threads, from the syntax tree the regex is built from.
//!
//! [`SigmaRegex::new`]: crate::detection::SigmaRegex::new

use regex_syntax::hir::Hir;
use regex_syntax::hir::literal::{ExtractKind, Extractor};

/// Literals one of which every match of `hir` contains, folded to lower case; empty when
/// there is no short finite set (then the regex is evaluated, not scanned for).
///
/// Any match starts with one of the regex's literal prefixes (or ends with one of its
/// suffixes) when that set is finite and has no empty literal; folding is a character-wise
/// map, so the folded text contains the folded literal whenever the raw text contains the
/// literal — for case-sensitive and case-insensitive expressions alike. When neither set is
/// usable, a literal every match contains somewhere ([`inner_literal`]) is the witness.
pub(crate) fn regex_witnesses(hir: &Hir) -> Vec<String> {
    let mut best: Vec<String> = Vec::new();
    let mut best_len = 0;
    for kind in [ExtractKind::Prefix, ExtractKind::Suffix] {
        let seq = Extractor::new().kind(kind).extract(hir);
        let Some(literals) = seq.literals() else {
            continue;
        };
        let mut folded: Vec<String> = Vec::new();
        let mut ok = !literals.is_empty();
        for l in literals {
            match std::str::from_utf8(l.as_bytes()) {
                Ok(t) if !t.is_empty() => folded.push(crate::value::fold(t).into_owned()),
                _ => ok = false,
            }
        }
        folded.sort();
        folded.dedup();
        let shortest = folded.iter().map(String::len).min().unwrap_or(0);
        if ok && folded.len() <= 64 && shortest > best_len {
            best_len = shortest;
            best = folded;
        }
    }
    if let Some(inner) = inner_literal(hir)
        && inner.len() > best_len
    {
        best = vec![inner];
    }
    best
}

/// The longest folded text that every match of `hir` contains, once folded: a run of
/// consecutive parts that each match one known text up to folding (literals, and classes such
/// as `[wW]` whose characters all fold alike — what `(?i)` makes of every letter), or the
/// longest such text of a group or of a repetition taken at least once.
/// (`\w+`(?:\w+|-|.)`` has no finite prefix or suffix set, but every match holds a backtick;
/// in `(?i)\.exe\s+.{0,64}werfault\.exe` every match holds `werfault.exe` folded.)
fn inner_literal(hir: &Hir) -> Option<String> {
    use regex_syntax::hir::HirKind;
    match hir.kind() {
        HirKind::Literal(_) | HirKind::Class(_) => exact_folded(hir),
        HirKind::Capture(c) => inner_literal(&c.sub),
        HirKind::Repetition(r) if r.min >= 1 => inner_literal(&r.sub),
        HirKind::Concat(parts) => {
            let mut best: Option<String> = None;
            let mut keep = |candidate: String| {
                if !candidate.is_empty() && best.as_ref().is_none_or(|b| candidate.len() > b.len())
                {
                    best = Some(candidate);
                }
            };
            let mut run = String::new();
            for part in parts {
                match exact_folded(part) {
                    Some(text) => run.push_str(&text),
                    None => {
                        keep(std::mem::take(&mut run));
                        if let Some(inner) = inner_literal(part) {
                            keep(inner);
                        }
                    }
                }
            }
            keep(run);
            best
        }
        _ => None,
    }
}

/// The folded text of every match of `hir`, when all its matches fold to the same text: a
/// literal, or a class of at most a few characters that all fold to the same text.
/// Folding is a character-wise map, so the folded match is this text.
fn exact_folded(hir: &Hir) -> Option<String> {
    use regex_syntax::hir::{Class, HirKind};
    /// Past this, a class is not a case-insensitive letter.
    const MAX_CLASS: u32 = 4;
    match hir.kind() {
        HirKind::Literal(l) => std::str::from_utf8(&l.0)
            .ok()
            .map(|t| crate::value::fold(t).into_owned()),
        HirKind::Capture(c) => exact_folded(&c.sub),
        HirKind::Class(Class::Unicode(class)) => {
            let size: u32 = class
                .ranges()
                .iter()
                .map(|r| u32::from(r.end()) - u32::from(r.start()) + 1)
                .sum();
            if size == 0 || size > MAX_CLASS {
                return None;
            }
            let mut folded: Option<String> = None;
            for range in class.ranges() {
                for c in range.start()..=range.end() {
                    let f = crate::value::fold(c.encode_utf8(&mut [0; 4])).into_owned();
                    match &folded {
                        Some(seen) if *seen != f => return None,
                        Some(_) => {}
                        None => folded = Some(f),
                    }
                }
            }
            folded
        }
        HirKind::Class(Class::Bytes(class)) => {
            let bytes: Vec<u8> = class
                .ranges()
                .iter()
                .flat_map(|r| r.start()..=r.end())
                .take(MAX_CLASS as usize + 1)
                .collect();
            if bytes.is_empty() || bytes.len() > MAX_CLASS as usize || !bytes.is_ascii() {
                return None;
            }
            let first = bytes[0].to_ascii_lowercase();
            bytes
                .iter()
                .all(|b| b.to_ascii_lowercase() == first)
                .then(|| char::from(first).to_string())
        }
        _ => None,
    }
}

/// `hir` reduced to what decides whether it matches *somewhere* in a text, which is all
/// Sigma asks of a regular expression: an end that can match the empty string (with no
/// assertion in it) is dropped, and a repetition `x{n,m}` left at either end becomes `x{n}`.
/// Whenever the original matches a span, the reduced one matches inside it, and whatever the
/// reduced one matches the original matches too (its dropped parts empty, its repetitions
/// at their minimum). `-k\s\w{1,64}(?:\s?(?:-p|-s))?` (a rule of the windows set) becomes
/// `-k\s\w`: its NFA had 64 copies of the Unicode word class and took 34 ms to build, half
/// the time of all 153 regexes of the set.
pub(crate) fn for_existence(hir: Hir) -> Hir {
    trim(trim(hir, End::Last), End::First)
}

#[derive(Clone, Copy, PartialEq)]
enum End {
    First,
    Last,
}

/// Matches the empty string anywhere: nullable and free of assertions.
fn droppable(hir: &Hir) -> bool {
    hir.properties().minimum_len() == Some(0) && hir.properties().look_set().is_empty()
}

/// `hir`, which sits at the `end` of what is matched, reduced (see [`for_existence`]).
fn trim(hir: Hir, end: End) -> Hir {
    use regex_syntax::hir::{HirKind, Repetition};
    if droppable(&hir) {
        return Hir::empty();
    }
    match hir.into_kind() {
        HirKind::Concat(mut parts) => {
            // Droppable parts at this end go, then the part left at the end is reduced.
            let edge = match end {
                End::Last => {
                    while parts.last().is_some_and(droppable) {
                        parts.pop();
                    }
                    parts.last_mut()
                }
                End::First => {
                    let keep = parts
                        .iter()
                        .position(|p| !droppable(p))
                        .unwrap_or(parts.len());
                    parts.drain(..keep);
                    parts.first_mut()
                }
            };
            if let Some(part) = edge {
                *part = trim(std::mem::replace(part, Hir::empty()), end);
            }
            Hir::concat(parts)
        }
        HirKind::Capture(c) => trim(*c.sub, end),
        HirKind::Alternation(branches) => {
            Hir::alternation(branches.into_iter().map(|b| trim(b, end)).collect())
        }
        HirKind::Repetition(r) if r.min >= 1 && r.max != Some(r.min) => {
            Hir::repetition(Repetition {
                min: r.min,
                max: Some(r.min),
                greedy: r.greedy,
                sub: r.sub,
            })
        }
        kind => rebuild(kind),
    }
}

/// A node back from its kind, unchanged.
fn rebuild(kind: regex_syntax::hir::HirKind) -> Hir {
    use regex_syntax::hir::HirKind;
    match kind {
        HirKind::Empty => Hir::empty(),
        HirKind::Literal(l) => Hir::literal(l.0),
        HirKind::Class(c) => Hir::class(c),
        HirKind::Look(l) => Hir::look(l),
        HirKind::Repetition(r) => Hir::repetition(r),
        HirKind::Capture(c) => Hir::capture(c),
        HirKind::Concat(parts) => Hir::concat(parts),
        HirKind::Alternation(branches) => Hir::alternation(branches),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regex_witnesses_are_folded_prefixes_or_suffixes() {
        let w = |re: &str| {
            crate::detection::SigmaRegex::new(re)
                .unwrap()
                .witnesses()
                .to_vec()
        };
        // Case variants multiply: the extractor stops at a prefix it can still enumerate.
        assert_eq!(w("(?i)Invoke-Mimikatz"), ["invoke-mimikatz"]);
        assert_eq!(w("Invoke-Mimikatz"), ["invoke-mimikatz"]);
        assert_eq!(w("(cmd|PowerShell)\\.exe"), ["cmd.exe", "powershell.exe"]);
        assert_eq!(w("[a-z]+\\.ps1$"), [".ps1"]);
        assert!(w("\\w+").is_empty());
        assert!(w("a|").is_empty());
        // No finite prefix or suffix set: a literal every match holds.
        assert_eq!(w("\\w+`(?:\\w+|-|.)`[\\w+|\\s]"), ["`"]);
        assert_eq!(w("[a-z]+(?:Abc)+\\d*x?"), ["abc"]);
        assert_eq!(w("\\d+ (?:Invoke|x)-Foo\\s+\\w+"), ["-foo"]);
        assert!(w("\\w+(?:ab)?\\d+").is_empty());
        assert!(w("\\w+(?:ab|cd)\\d+").is_empty());
        // Case-insensitive letters are classes: a run of them, folded, is the witness. `s`
        // ends a run: `(?i)s` also matches `ſ` (U+017F), which folding keeps as it is.
        assert_eq!(
            w(r#"(?i)\.exe["']?\s+[^"]{0,64}werfaultsecure\.exe["']?\s+\d{2,10}"#),
            ["ecure.exe"]
        );
        assert_eq!(
            w(r#"(?i)\s['"]?C:\\Windows\\(?:System32|SysWOW64)"#),
            ["c:\\window"]
        );
        // A class of letters that do not fold alike ends the run.
        assert_eq!(w(r"\s+ab[cd]efgh\s+"), ["efgh"]);
        assert_eq!(w(r"\s+(?i:ab)[xX]yz\s+"), ["abxyz"]);
    }

    #[test]
    fn every_match_holds_a_witness_once_folded() {
        let regexes = [
            r#"(?i)\s['"]?C:\\Windows\\(?:System32|SysWOW64)"#,
            r"(?i)werfaultsecure\.exe",
            r"(?i)kerberos::",
            r"(?i)x[kK]y",
            r"(?i:ab)[xX]yz",
            r"(?i)straße",
        ];
        // Texts in every case, with the characters that fold apart from their ASCII look-alikes
        // (long s, Kelvin sign, sharp s and its capital).
        let texts = [
            " C:\\WINDOWS\\System32\\x",
            " 'c:\\windows\\syſwow64",
            "WERFAULTSECURE.EXE",
            "werfaultſecure.exe",
            "KERBEROS::golden",
            "\u{212A}erberos::",
            "xKy x\u{212A}y",
            "ABxYZ",
            "STRASSE straße STRAẞE",
        ];
        let mut matched = 0;
        for re in regexes {
            let regex = crate::detection::SigmaRegex::new(re).unwrap();
            let witnesses = regex.witnesses().to_vec();
            assert!(!witnesses.is_empty(), "{re}");
            for text in texts {
                if regex.is_match(text) {
                    matched += 1;
                    let folded = crate::value::fold(text);
                    assert!(
                        witnesses.iter().any(|w| folded.contains(w.as_str())),
                        "{re} matches {text:?} but its folded form holds none of {witnesses:?}"
                    );
                }
            }
        }
        assert!(
            matched >= 8,
            "the texts exercise the regexes ({matched} matches)"
        );
    }

    #[test]
    fn regexes_reduced_for_existence_match_where_the_originals_do() {
        let reduce =
            |re: &str| for_existence(regex_syntax::Parser::new().parse(re).unwrap()).to_string();
        let reduced = |re: &str| {
            let hir = for_existence(regex_syntax::Parser::new().parse(re).unwrap());
            regex_automata::meta::Regex::builder()
                .build_from_hir(&hir)
                .unwrap()
        };
        assert_eq!(reduce(r"-k\s\w{1,64}(?:\s?(?:-p|-s))?"), reduce(r"-k\s\w"));
        assert_eq!(reduce(r"a+b*"), reduce("a"));
        assert_eq!(reduce(r"x?(?:ab|c{2,})"), reduce("(?:ab|c{2})"));
        // Assertions stay, and so does what they constrain.
        let unchanged = |re: &str| regex_syntax::Parser::new().parse(re).unwrap().to_string();
        assert_eq!(reduce(r"^a{1,5}$"), unchanged(r"^a{1,5}$"));
        // A repetition starting the match may start at its last copy.
        assert_eq!(reduce(r"a{1,5}$"), reduce(r"a$"));
        assert_eq!(reduce(r"\bfoo\w*\b"), unchanged(r"\bfoo\w*\b"));
        let patterns = [
            r"-k\s\w{1,64}(?:\s?(?:-p|-s))?",
            r"(?i)^a{2,3}b?",
            r"\w+(?:ab)?\d*",
            r"(?:x|y{1,3})+z?",
            r"a*",
            r"(?m)^\s*foo\d{0,4}",
            r"\d{2,10}\b",
            r"(?:ab|)c+",
            r"a{1,5}$",
            r"^a{2,5}$",
        ];
        let texts = [
            "",
            "a",
            "aa",
            "aaab",
            "-k x",
            "-k é",
            "-k\tabc -p",
            "foo1",
            "  foo12345",
            "x",
            "yyyz",
            "12",
            "12 ",
            "1234567890123",
            "ab",
            "abccc",
            "c",
            "Ab",
            "AAB",
            "aaaaaa",
            "aaaaa",
        ];
        for p in patterns {
            let original = regex_automata::meta::Regex::new(p).unwrap();
            let reduced = reduced(p);
            for t in texts {
                assert_eq!(original.is_match(t), reduced.is_match(t), "{p:?} on {t:?}");
            }
        }
    }
}
