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

/// Texts up to this many bytes are kept inside their entry.
const INLINE: usize = 56;

/// One remembered answer, one cache line: a hit on a short text without keys (most hits:
/// images, users, hosts, numbers) reads nothing else.
#[derive(Debug, Clone, Copy)]
#[repr(align(64))]
struct Entry {
    scanner: u32,
    /// Length of the text.
    len: u16,
    /// Number of keys (in `Memo::keys`).
    keys: u16,
    /// The text, when it is at most [`INLINE`] bytes (else in `Memo::long`).
    inline: [u8; INLINE],
}

impl Default for Entry {
    fn default() -> Self {
        Entry {
            scanner: 0,
            len: 0,
            keys: 0,
            inline: [0; INLINE],
        }
    }
}

/// See the module documentation.
///
/// The hashes sit apart from the entries: a probe reads one word of a small array (64 KiB,
/// which stays in cache) and touches an entry only when the hash matches. The admission
/// candidate of a slot is next to its tag, so that the `offer` after a miss finds it in the
/// cache line the probe just read.
#[derive(Debug)]
pub(super) struct Memo {
    /// Per slot, 32 bits of the hash of its entry (`EMPTY`: none), and the tag of the last
    /// text that missed there (a second miss with the same tag admits it).
    tags: Box<[Tags]>,
    entries: Box<[Entry]>,
    /// Per slot, the text of its entry when longer than [`INLINE`].
    long: Box<[String]>,
    /// Per slot, the keys of its entry.
    keys: Box<[Vec<KeyId>]>,
}

/// A slot's tag and admission candidate.
#[derive(Debug, Clone, Copy)]
struct Tags {
    tag: u32,
    candidate: u32,
}

/// The tag of an empty slot (a text whose tag is this is simply never remembered).
const EMPTY: u32 = 0;

/// A slot with no entry and no admission candidate.
const FREE: Tags = Tags {
    tag: EMPTY,
    candidate: EMPTY,
};

impl Default for Memo {
    fn default() -> Self {
        Memo {
            tags: vec![FREE; SLOTS].into_boxed_slice(),
            entries: vec![Entry::default(); SLOTS].into_boxed_slice(),
            long: vec![String::new(); SLOTS].into_boxed_slice(),
            keys: vec![Vec::new(); SLOTS].into_boxed_slice(),
        }
    }
}

/// Where a text's answer is, or would go.
#[derive(Debug, Clone, Copy)]
pub(super) struct Probe {
    /// The low half of the hash (the high half picks the slot).
    tag: u32,
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
            tag: hash as u32,
            slot: (hash >> 32) as usize & (SLOTS - 1),
        }
    }

    /// The keys `text` made true when it was last scanned by `scanner`, if remembered.
    pub(super) fn get(&self, probe: Probe, scanner: u32, text: &str) -> Option<&[KeyId]> {
        if self.tags[probe.slot].tag != probe.tag || probe.tag == EMPTY {
            return None;
        }
        let entry = &self.entries[probe.slot];
        if entry.scanner != scanner || usize::from(entry.len) != text.len() {
            return None;
        }
        let stored = match entry.inline.get(..text.len()) {
            Some(inline) => inline,
            None => self.long[probe.slot].as_bytes(),
        };
        if stored != text.as_bytes() {
            return None;
        }
        Some(match entry.keys {
            0 => &[],
            _ => &self.keys[probe.slot][..],
        })
    }

    /// Records the answer of a text that [`Memo::get`] missed: it takes the slot if the slot
    /// is free or if the same text missed there just before (see the module documentation).
    pub(super) fn offer(&mut self, probe: Probe, scanner: u32, text: &str, keys: &[KeyId]) {
        debug_assert!(text.len() <= MAX_TEXT, "the caller probes short texts only");
        if probe.tag == EMPTY || keys.len() > usize::from(u16::MAX) {
            return;
        }
        let tags = &mut self.tags[probe.slot];
        if tags.tag != EMPTY && tags.candidate != probe.tag {
            tags.candidate = probe.tag;
            return;
        }
        tags.tag = probe.tag;
        tags.candidate = EMPTY;
        let entry = &mut self.entries[probe.slot];
        entry.scanner = scanner;
        entry.len = text.len() as u16;
        match entry.inline.get_mut(..text.len()) {
            Some(inline) => inline.copy_from_slice(text.as_bytes()),
            None => {
                let long = &mut self.long[probe.slot];
                if long.capacity() == 0 {
                    // Once per slot: no text ever needs more, so steady state allocates
                    // nothing.
                    long.reserve_exact(MAX_TEXT);
                }
                long.clear();
                long.push_str(text);
            }
        }
        let stored = &mut self.keys[probe.slot];
        stored.clear();
        stored.extend_from_slice(keys);
        stored.sort_unstable();
        stored.dedup();
        entry.keys = stored.len() as u16;
    }

    /// Forgets every answer (the entries keep their buffers).
    pub(super) fn clear(&mut self) {
        self.tags.fill(FREE);
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
    fn long_texts_are_kept_apart_and_compared_whole() {
        let mut memo = Memo::default();
        let long = "c:\\windows\\system32\\windowspowershell\\v1.0\\powershell.exe -nop -w hidden";
        assert!(long.len() > INLINE);
        let p = Memo::probe(7, long);
        memo.offer(p, 7, long, &[9]);
        assert_eq!(memo.get(p, 7, long), Some(&[9][..]));
        // Same length, one byte different past the inline part: a miss.
        let mut other = long.to_owned();
        other.replace_range(long.len() - 1.., "E");
        assert!(memo.get(p, 7, &other).is_none());
        // A short text then takes the slot: no key left from the long one.
        let short = "cmd.exe";
        memo.offer(p, 7, short, &[]);
        memo.offer(p, 7, short, &[]);
        assert_eq!(memo.get(p, 7, short), Some(&[][..]));
        assert!(memo.get(p, 7, long).is_none());
    }

    #[test]
    fn a_text_seen_once_does_not_evict_a_remembered_one() {
        let mut memo = Memo::default();
        let p = Memo::probe(1, "a");
        memo.offer(p, 1, "a", &[1]);
        // A different text landing on the same slot: first a candidate, then admitted.
        let other = Probe {
            tag: p.tag ^ 1,
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
