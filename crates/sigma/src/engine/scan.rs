//! Per-field scanners: every indexed atom of the whole rule set that reads one field, decided
//! by a single pass over that field's text.
//!
//! A wildcard pattern is reduced to a literal *witness* and an anchor:
//! `text` → exact (hash table), `*text*` → anywhere, `text*` → at the start, `*text` → at the
//! end, anything else → the longest literal piece, then the whole pattern is checked. All the
//! witnesses of a field go into one Aho-Corasick automaton (overlapping matches, so every
//! pattern that occurs is reported), so the cost of a field is one pass over its text,
//! whatever the number of rules. Regular expressions join the same automaton through their
//! literal witnesses (see `crate::literals`) and run only when one occurs.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use rustc_hash::FxHashMap;

use super::compile::{Key, KeyId};
use crate::detection::Matcher;
use crate::value::{Piece, SigmaString};

/// Pattern sets up to this size are compiled to a DFA (see [`Scanner::build`]).
const DFA_MAX_PATTERNS: usize = 500;

/// Longest witness, in bytes: a longer literal is witnessed by its first `MAX_WITNESS` bytes,
/// and where they occur the rest of the literal is compared in place. Any part of a literal
/// a match needs is needed too, so nothing is missed; what it buys is the automaton's size.
/// Hash values (`Hashes|contains: 'IMPHASH=…'`, thousands of 36–71-byte literals that share
/// nothing past their prefix) made one trie state per byte: building the `Hashes` automaton
/// took longer than any other (50–80 ms), on the critical path of compiling; now 15–25 ms.
/// The first 16 bytes of a hash literal still single it out.
const MAX_WITNESS: usize = 16;

/// Where a witness must sit for its atom to be true.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Anchor {
    Anywhere,
    Start,
    End,
    /// The witness occurs: check the whole pattern.
    Verify,
    /// A literal of a regular expression occurs: run the expression on the raw text.
    Regex,
    /// The witness is the first bytes of a longer literal ([`Scanner::long`]: the literal
    /// and where it must sit, `Anywhere`, `Start` or `End`): the literal must continue from
    /// where the witness starts.
    Long(u32),
}

/// What a scanner is built from.
enum Entry<'a> {
    Glob(&'a SigmaString),
    RegexWitness(&'a str),
}

/// The atoms of one field and one case mode.
#[derive(Debug, Default)]
pub(super) struct Scanner {
    exact: FxHashMap<Box<str>, Vec<KeyId>>,
    automaton: Option<AhoCorasick>,
    /// Per automaton pattern, the atoms it witnesses.
    witnessed: Vec<Vec<(KeyId, Anchor)>>,
    /// Byte length of each automaton pattern.
    witness_lens: Vec<usize>,
    /// The literals of the `Long` anchors, with where each must sit.
    long: Vec<(Box<str>, Anchor)>,
}

/// The two scanners of a field: folded (case-insensitive atoms) and raw (`cased`).
#[derive(Debug, Default)]
pub(super) struct FieldScanner {
    pub(super) folded: Scanner,
    pub(super) cased: Scanner,
    /// The shortest witness or exact value, in bytes.
    min_witness_len: usize,
    /// See [`Gate`]; built for scanners of few patterns.
    gate: Option<Gate>,
}

/// What a scan needs to record its findings without allocating.
pub(super) struct Hits<'a> {
    /// One bit per key.
    pub(super) bits: &'a mut [u64],
    /// Keys set, to clear them after the event.
    pub(super) set: &'a mut Vec<KeyId>,
    /// Per key, the text generation in which a `Verify` or `Regex` check last ran.
    pub(super) checked: &'a mut [u32],
    pub(super) text_generation: u32,
    /// Every key the current text makes true (with repeats), for the memo (`memo.rs`).
    pub(super) found: &'a mut Vec<KeyId>,
}

impl Hits<'_> {
    pub(super) fn is_set(bits: &[u64], atom: KeyId) -> bool {
        bits[atom as usize / 64] & (1 << (atom % 64)) != 0
    }

    fn set(&mut self, atom: KeyId) {
        self.found.push(atom);
        Hits::mark(self.bits, self.set, atom);
    }

    /// Sets `key`'s bit, listing it in `set` the first time (to clear it after the event).
    pub(super) fn mark(bits: &mut [u64], set: &mut Vec<KeyId>, key: KeyId) {
        let word = &mut bits[key as usize / 64];
        let bit = 1u64 << (key % 64);
        if *word & bit == 0 {
            *word |= bit;
            set.push(key);
        }
    }
}

impl Scanner {
    /// The scanner of `atoms`; its automaton's patterns are appended to `witnesses`.
    fn build<'a>(atoms: &[(KeyId, Entry<'a>)], witnesses: &mut Vec<&'a str>) -> Scanner {
        let mut exact: FxHashMap<Box<str>, Vec<KeyId>> = FxHashMap::default();
        let mut pattern_ids: FxHashMap<&str, usize> = FxHashMap::default();
        let mut patterns: Vec<&'a str> = Vec::new();
        let mut witnessed: Vec<Vec<(KeyId, Anchor)>> = Vec::new();
        let mut long: Vec<(Box<str>, Anchor)> = Vec::new();
        for (atom, entry) in atoms {
            let atom = *atom;
            let pattern = match entry {
                Entry::Glob(pattern) => pattern,
                Entry::RegexWitness(w) => {
                    let w = &w[..w.floor_char_boundary(MAX_WITNESS)];
                    let id = *pattern_ids.entry(w).or_insert_with(|| {
                        patterns.push(w);
                        witnessed.push(Vec::new());
                        patterns.len() - 1
                    });
                    witnessed[id].push((atom, Anchor::Regex));
                    continue;
                }
            };
            let (witness, anchor) = match pattern.pieces() {
                [] => {
                    exact.entry("".into()).or_default().push(atom);
                    continue;
                }
                [Piece::Text(t)] => {
                    exact.entry(t.as_str().into()).or_default().push(atom);
                    continue;
                }
                [Piece::AnyRun, Piece::Text(t), Piece::AnyRun] => (t.as_str(), Anchor::Anywhere),
                [Piece::Text(t), Piece::AnyRun] => (t.as_str(), Anchor::Start),
                [Piece::AnyRun, Piece::Text(t)] => (t.as_str(), Anchor::End),
                pieces => {
                    let longest = pieces
                        .iter()
                        .filter_map(|p| match p {
                            Piece::Text(t) => Some(t.as_str()),
                            _ => None,
                        })
                        .max_by_key(|t| t.len())
                        .unwrap_or_default();
                    (longest, Anchor::Verify)
                }
            };
            // A long literal is witnessed by its first bytes, and the rest is then compared
            // in place (a pattern of several pieces is checked whole): see `MAX_WITNESS`.
            let (witness, anchor) = if witness.len() > MAX_WITNESS {
                let head = &witness[..witness.floor_char_boundary(MAX_WITNESS)];
                let anchor = match anchor {
                    Anchor::Anywhere | Anchor::Start | Anchor::End => {
                        long.push((witness.into(), anchor));
                        Anchor::Long(long.len() as u32 - 1)
                    }
                    _ => Anchor::Verify,
                };
                (head, anchor)
            } else {
                (witness, anchor)
            };
            let id = *pattern_ids.entry(witness).or_insert_with(|| {
                patterns.push(witness);
                witnessed.push(Vec::new());
                patterns.len() - 1
            });
            witnessed[id].push((atom, anchor));
        }
        let automaton = (!patterns.is_empty()).then(|| {
            // A DFA is the fastest to run (one table lookup per byte) but its table grows with
            // states × byte classes: small pattern sets (keywords, most fields) get one, the
            // few very large sets (command lines) keep the compact NFA.
            let kind = if patterns.len() <= DFA_MAX_PATTERNS {
                AhoCorasickKind::DFA
            } else {
                AhoCorasickKind::ContiguousNFA
            };
            AhoCorasickBuilder::new()
                .match_kind(MatchKind::Standard)
                .kind(Some(kind))
                .build(&patterns)
                // Building fails only past the automaton's size limits, which rule sets of
                // realistic size are far from; the message names the cause if one ever is.
                .unwrap_or_else(|e| panic!("Aho-Corasick over {} witnesses: {e}", patterns.len()))
        });
        witnesses.extend_from_slice(&patterns);
        Scanner {
            exact,
            witness_lens: patterns.iter().map(|p| p.len()).collect(),
            automaton,
            witnessed,
            long,
        }
    }

    /// Marks every atom of this scanner that `text` satisfies (`raw` is the text before
    /// folding, for regular expressions), and lists each in `hits.found`: the answer depends
    /// on nothing but the scanner and the text.
    pub(super) fn scan(&self, raw: &str, text: &str, keys: &[Key], hits: &mut Hits<'_>) {
        if !self.exact.is_empty()
            && let Some(list) = self.exact.get(text)
        {
            for &a in list {
                hits.set(a);
            }
        }
        let Some(automaton) = &self.automaton else {
            return;
        };
        for m in automaton.find_overlapping_iter(text) {
            for &(atom, anchor) in &self.witnessed[m.pattern().as_usize()] {
                let holds = match anchor {
                    Anchor::Anywhere => true,
                    Anchor::Start => m.start() == 0,
                    Anchor::End => m.end() == text.len(),
                    Anchor::Long(l) => {
                        let (literal, at) = &self.long[l as usize];
                        let rest = &text.as_bytes()[m.start()..];
                        rest.starts_with(literal.as_bytes())
                            && match at {
                                Anchor::Start => m.start() == 0,
                                Anchor::End => rest.len() == literal.len(),
                                _ => true,
                            }
                    }
                    Anchor::Verify | Anchor::Regex => {
                        // Checked once per text (several witnesses may occur). Not skipped
                        // when another text already made the key true: the answer for this
                        // text must be complete, for the memo.
                        if hits.checked[atom as usize] == hits.text_generation {
                            continue;
                        }
                        hits.checked[atom as usize] = hits.text_generation;
                        match &*keys[atom as usize].matcher {
                            Matcher::Glob { pattern, .. } => pattern.matches(text),
                            Matcher::Regex(re) => re.is_match(raw),
                            _ => false,
                        }
                    }
                };
                if holds {
                    hits.set(atom);
                }
            }
        }
    }
}

/// Patterns above which a scanner gets no [`Gate`]: past a few dozen, most pairs of a text
/// would hit one of theirs.
const GATE_MAX_PATTERNS: usize = 256;

/// A necessary condition, cheap to test, for a text to make any key of a field true: every
/// witness and exact value contributes one pair of adjacent bytes (its rarest, by a rough
/// estimate of byte frequencies in logs), or its byte if it has one; a text in which no such
/// pair occurs, ignoring ASCII case, makes no key true.
///
/// Exact for ASCII texts: folding is then ASCII lower-casing, so a folded witness occurs in
/// the folded text only if its pair occurs in the text regardless of case; a cased witness
/// occurs in the raw text only if it does regardless of case; an exact value equal to the
/// text has all its pairs in it. Other texts are never rejected.
///
/// Most texts of most events make no key true; for a scanner of few patterns (the keywords,
/// read on every text of every routed event; most fields) the gate answers them in a few
/// instructions a byte, where a memo miss costs a fold and an automaton pass. One bit per
/// pair of bytes (8 KiB per gate), every ASCII case of a chosen pair set, so that the text
/// is read without folding.
#[derive(Debug)]
struct Gate {
    pairs: Box<[u64; GATE_WORDS]>,
    /// Bytes that alone may make a key true (one-byte patterns), in both ASCII cases.
    singles: [u64; 4],
}

const GATE_WORDS: usize = 1024;

impl Gate {
    fn build(patterns: &[&str]) -> Option<Gate> {
        if patterns.len() > GATE_MAX_PATTERNS || patterns.iter().any(|p| p.is_empty()) {
            return None;
        }
        let mut gate = Gate {
            pairs: Box::new([0; GATE_WORDS]),
            singles: [0; 4],
        };
        for p in patterns {
            let bytes: Vec<u8> = p.bytes().map(|b| b.to_ascii_lowercase()).collect();
            match bytes.as_slice() {
                [b] => {
                    for b in cases(*b) {
                        gate.singles[usize::from(b) >> 6] |= 1 << (b & 63);
                    }
                }
                _ => {
                    let Some(pair) = bytes
                        .windows(2)
                        .min_by_key(|w| commonness(w[0]) + commonness(w[1]))
                    else {
                        continue;
                    };
                    // Every ASCII case of the pair: the text is read as it is, unfolded.
                    for a in cases(pair[0]) {
                        for b in cases(pair[1]) {
                            let bit = pair_bit(a, b);
                            gate.pairs[bit >> 6] |= 1 << (bit & 63);
                        }
                    }
                }
            }
        }
        Some(gate)
    }

    fn rejects(&self, text: &str) -> bool {
        let bytes = text.as_bytes();
        if !text.is_ascii() {
            return false;
        }
        if self.singles != [0; 4]
            && bytes
                .iter()
                .any(|&b| self.singles[usize::from(b) >> 6] & (1 << (b & 63)) != 0)
        {
            return false;
        }
        let Some(&first) = bytes.first() else {
            return true;
        };
        let mut previous = first;
        for &b in &bytes[1..] {
            let bit = pair_bit(previous, b);
            if self.pairs[bit >> 6] & (1 << (bit & 63)) != 0 {
                return false;
            }
            previous = b;
        }
        true
    }
}

/// The byte and, for an ASCII letter, its other case.
fn cases(b: u8) -> impl Iterator<Item = u8> {
    let other = if b.is_ascii_alphabetic() { b ^ 0x20 } else { b };
    std::iter::once(b).chain((other != b).then_some(other))
}

/// The gate's bit for a pair of bytes (one bit per pair: no hashing).
fn pair_bit(a: u8, b: u8) -> usize {
    (usize::from(a) << 8) | usize::from(b)
}

/// A rough rank of how often a (lower-case) byte occurs in log text: letters, digits and path
/// punctuation are common, other punctuation rare.
fn commonness(b: u8) -> u32 {
    match b {
        b'e' | b't' | b'a' | b'o' | b'i' | b'n' | b's' | b'r' | b'l' | b'c' => 10,
        b' ' | b'\\' | b'.' | b'-' | b'/' | b'_' => 9,
        b'0'..=b'9' => 8,
        b'a'..=b'z' => 6,
        0x80.. => 0,
        _ => 2,
    }
}

impl FieldScanner {
    /// The scanner of the indexed atoms given (all reading the same field).
    pub(super) fn build(keys: &[Key], ids: &[KeyId]) -> FieldScanner {
        let mut folded = Vec::new();
        let mut cased = Vec::new();
        for &id in ids {
            let atom = &keys[id as usize];
            match &*atom.matcher {
                Matcher::Glob {
                    pattern,
                    cased: true,
                } => cased.push((id, Entry::Glob(pattern))),
                Matcher::Glob { pattern, .. } => folded.push((id, Entry::Glob(pattern))),
                Matcher::Regex(re) => folded.extend(
                    re.witnesses()
                        .iter()
                        .map(|w| (id, Entry::RegexWitness(w.as_str()))),
                ),
                _ => {}
            }
        }
        let mut witnesses = Vec::new();
        let mut scanner = FieldScanner {
            folded: Scanner::build(&folded, &mut witnesses),
            cased: Scanner::build(&cased, &mut witnesses),
            min_witness_len: 0,
            gate: None,
        };
        witnesses.extend(
            [&scanner.folded, &scanner.cased]
                .iter()
                .flat_map(|s| s.exact.keys().map(|k| &**k)),
        );
        scanner.gate = Gate::build(&witnesses);
        scanner.min_witness_len = [&scanner.folded, &scanner.cased]
            .iter()
            .flat_map(|s| {
                s.exact
                    .keys()
                    .map(|k| k.len())
                    .chain(s.witness_lens.iter().copied())
            })
            .min()
            .unwrap_or(0);
        scanner
    }

    /// Whether [`Gate`] shows that `text` makes no key of this field true, without folding
    /// it or consulting the memo.
    pub(super) fn gate_rejects(&self, text: &str) -> bool {
        self.gate.as_ref().is_some_and(|gate| gate.rejects(text))
    }

    /// No text shorter than this (in folded bytes) can make any key of the scanner true.
    pub(super) fn min_witness_len(&self) -> usize {
        self.min_witness_len
    }

    pub(super) fn has_cased(&self) -> bool {
        !self.cased.exact.is_empty() || self.cased.automaton.is_some()
    }

    /// Heap bytes held by the automata and tables (for the memory figure of the bench).
    pub(super) fn heap_bytes(&self) -> usize {
        self.gate.as_ref().map_or(0, |_| GATE_WORDS * 8)
            + [&self.folded, &self.cased]
                .iter()
                .map(|s| {
                    s.automaton.as_ref().map_or(0, AhoCorasick::memory_usage)
                        + s.exact
                            .iter()
                            .map(|(k, v)| k.len() + v.len() * 4 + 48)
                            .sum::<usize>()
                        + s.witnessed.iter().map(|w| w.len() * 8 + 24).sum::<usize>()
                })
                .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_rejects_only_texts_where_no_pattern_occurs() {
        let patterns = ["privilege::debug", "kiwi", "x", "\\mimilib.dll", "Cased"];
        let gate = Gate::build(&patterns).unwrap();
        assert!(gate.rejects("C:\\Windows\\System32\\cmd.com /c dir"));
        assert!(gate.rejects(""));
        assert!(!gate.rejects("PRIVILEGE::DEBUG exit"));
        assert!(!gate.rejects("a KiWi b"));
        assert!(!gate.rejects("X"));
        assert!(!gate.rejects("c:\\tmp\\MIMILIB.DLL"));
        assert!(!gate.rejects("cased"));
        // Texts that are not ASCII are never rejected (folding them may change bytes).
        assert!(!gate.rejects("ǅ"));
        // Exhaustively over short texts of a small alphabet: a rejected text holds no
        // pattern, regardless of ASCII case.
        let alphabet = b"kiwKIW:xX ";
        let patterns = ["kiwi", "k:", "wik", "xx"];
        let gate = Gate::build(&patterns).unwrap();
        let mut rejected = 0;
        for n in 0..=5u32 {
            for code in 0..alphabet.len().pow(n) {
                let mut c = code;
                let text: String = (0..n)
                    .map(|_| {
                        let b = alphabet[c % alphabet.len()];
                        c /= alphabet.len();
                        b as char
                    })
                    .collect();
                let lower = text.to_ascii_lowercase();
                if gate.rejects(&text) {
                    rejected += 1;
                    assert!(
                        !patterns.iter().any(|p| lower.contains(p)),
                        "{text:?} rejected"
                    );
                }
            }
        }
        assert!(rejected > 1000, "the gate rejects something ({rejected})");
    }

    #[test]
    fn no_gate_for_an_empty_pattern_or_too_many() {
        assert!(Gate::build(&["", "a"]).is_none());
        let many: Vec<String> = (0..=GATE_MAX_PATTERNS).map(|i| format!("p{i}")).collect();
        let many: Vec<&str> = many.iter().map(|s| s.as_str()).collect();
        assert!(Gate::build(&many).is_none());
    }
}
