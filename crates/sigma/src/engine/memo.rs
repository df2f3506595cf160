//! A per-thread memo of scan answers: for recently seen texts, which keys each made true.
//!
//! What the scan of a field decides depends only on the field's scanner and the text (see
//! `scan::Scanner::scan`; `scanner` below names a field's scanner, the keywords', or a field's
//! with the keywords', see `WITH_KEYWORDS`), and production values repeat: a handful of images, users and hosts,
//! the same service command lines over and over. A repeated text then costs a hash and a
//! comparison instead of folding and an automaton pass. The answer stays exact: the whole text
//! is compared, so a hash collision, crafted or not, is only a miss.
//!
//! The table is direct-mapped and bounded (`SLOTS` entries of at most `MAX_TEXT` bytes), so
//! hostile input can cost misses, never memory. A text takes a slot only when it is seen a
//! second time while the slot's admission candidate (a bare hash) is still its own: a stream of
//! values seen once (timestamps, random file names) never evicts the values that repeat.

use std::hash::Hasher;

use rustc_hash::FxHasher;

use super::compile::KeyId;

/// Entries of the table (a power of two).
const SLOTS: usize = 1 << 13;

/// Longer texts are not remembered: they rarely repeat, and the bound keeps the table small.
pub(super) const MAX_TEXT: usize = 512;

/// One remembered answer.
#[derive(Debug, Default, Clone)]
struct Entry {
    scanner: u32,
    text: String,
    keys: Vec<KeyId>,
}

/// See the module documentation.
///
/// The hashes sit apart from the entries: a probe reads one word of a small array (64 KiB,
/// which stays in cache) and touches an entry only when the hash matches.
#[derive(Debug)]
pub(super) struct Memo {
    /// Per slot, the hash of its entry (`EMPTY`: none).
    tags: Box<[u64]>,
    entries: Box<[Entry]>,
    /// Per slot, the hash of the last text that missed there; a second miss with the same
    /// hash admits it.
    candidates: Box<[u64]>,
}

/// The tag of an empty slot (a text hashing to it is simply never remembered).
const EMPTY: u64 = 0;

impl Default for Memo {
    fn default() -> Self {
        Memo {
            tags: vec![EMPTY; SLOTS].into_boxed_slice(),
            entries: vec![Entry::default(); SLOTS].into_boxed_slice(),
            candidates: vec![EMPTY; SLOTS].into_boxed_slice(),
        }
    }
}

/// Where a text's answer is, or would go.
#[derive(Debug, Clone, Copy)]
pub(super) struct Probe {
    hash: u64,
    slot: usize,
}

impl Memo {
    /// The probe of `text` as scanned by scanner `scanner`.
    pub(super) fn probe(scanner: u32, text: &str) -> Probe {
        let mut h = FxHasher::default();
        h.write_u32(scanner);
        h.write(text.as_bytes());
        let hash = h.finish();
        // The high bits are the best mixed in Fx.
        Probe {
            hash,
            slot: (hash >> 32) as usize & (SLOTS - 1),
        }
    }

    /// The keys `text` made true when it was last scanned by `scanner`, if remembered.
    pub(super) fn get(&self, probe: Probe, scanner: u32, text: &str) -> Option<&[KeyId]> {
        if self.tags[probe.slot] != probe.hash || probe.hash == EMPTY {
            return None;
        }
        let entry = &self.entries[probe.slot];
        (entry.scanner == scanner && entry.text == text).then_some(&entry.keys[..])
    }

    /// Records the answer of a text that [`Memo::get`] missed: it takes the slot if the slot
    /// is free or if the same text missed there just before (see the module documentation).
    pub(super) fn offer(&mut self, probe: Probe, scanner: u32, text: &str, keys: &[KeyId]) {
        debug_assert!(text.len() <= MAX_TEXT, "the caller probes short texts only");
        if probe.hash == EMPTY {
            return;
        }
        let tag = &mut self.tags[probe.slot];
        let candidate = &mut self.candidates[probe.slot];
        if *tag != EMPTY && *candidate != probe.hash {
            *candidate = probe.hash;
            return;
        }
        *tag = probe.hash;
        *candidate = EMPTY;
        let entry = &mut self.entries[probe.slot];
        if entry.text.capacity() == 0 {
            // Once per slot: no text ever needs more, so steady state allocates nothing.
            entry.text.reserve_exact(MAX_TEXT);
        }
        entry.scanner = scanner;
        entry.text.clear();
        entry.text.push_str(text);
        entry.keys.clear();
        entry.keys.extend_from_slice(keys);
        entry.keys.sort_unstable();
        entry.keys.dedup();
    }

    /// Forgets every answer (the entries keep their buffers).
    pub(super) fn clear(&mut self) {
        self.tags.fill(EMPTY);
        self.candidates.fill(EMPTY);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_only_the_same_text_of_the_same_scanner() {
        let mut memo = Memo::default();
        let p = Memo::probe(1, "cmd.exe");
        assert!(memo.get(p, 1, "cmd.exe").is_none());
        memo.offer(p, 1, "cmd.exe", &[3, 1, 3]);
        assert_eq!(memo.get(p, 1, "cmd.exe"), Some(&[1, 3][..]));
        // Another scanner, or another text forced on the same probe, is a miss.
        assert!(memo.get(Memo::probe(2, "cmd.exe"), 2, "cmd.exe").is_none());
        assert!(memo.get(p, 1, "cmd.exf").is_none());
        assert!(memo.get(p, 2, "cmd.exe").is_none());
    }

    #[test]
    fn a_text_seen_once_does_not_evict_a_remembered_one() {
        let mut memo = Memo::default();
        let p = Memo::probe(1, "a");
        memo.offer(p, 1, "a", &[1]);
        // A different text landing on the same slot: first a candidate, then admitted.
        let other = Probe {
            hash: p.hash ^ 1,
            slot: p.slot,
        };
        memo.offer(other, 1, "b", &[2]);
        assert_eq!(memo.get(p, 1, "a"), Some(&[1][..]));
        memo.offer(other, 1, "b", &[2]);
        assert!(memo.get(p, 1, "a").is_none());
        assert_eq!(memo.get(other, 1, "b"), Some(&[2][..]));
        memo.clear();
        assert!(memo.get(other, 1, "b").is_none());
    }
}
