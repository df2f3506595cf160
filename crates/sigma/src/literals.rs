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
        && let Ok(text) = std::str::from_utf8(&inner)
    {
        let folded = crate::value::fold(text).into_owned();
        if folded.len() > best_len {
            best = vec![folded];
        }
    }
    best
}

/// The longest literal that every match of `hir` contains: a literal, the longest required
/// literal of a concatenation's parts, of a group, or of a repetition taken at least once.
/// (`\w+`(?:\w+|-|.)`` has no finite prefix or suffix set, but every match holds a backtick.)
fn inner_literal(hir: &Hir) -> Option<Vec<u8>> {
    use regex_syntax::hir::HirKind;
    match hir.kind() {
        HirKind::Literal(l) => Some(l.0.to_vec()),
        HirKind::Capture(c) => inner_literal(&c.sub),
        HirKind::Repetition(r) if r.min >= 1 => inner_literal(&r.sub),
        HirKind::Concat(parts) => parts.iter().filter_map(inner_literal).max_by_key(Vec::len),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn regex_witnesses_are_folded_prefixes_or_suffixes() {
        let w = |re: &str| {
            crate::detection::SigmaRegex::new(re)
                .unwrap()
                .witnesses()
                .to_vec()
        };
        // Case variants multiply: the extractor stops at a prefix it can still enumerate.
        assert_eq!(w("(?i)Invoke-Mimikatz"), ["invoke-m"]);
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
    }
}
