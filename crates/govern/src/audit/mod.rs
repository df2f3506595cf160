//! The audit trail's hashing: canonical record bytes, leaf and chain hashes, Merkle roots,
//! and the verification that names the first record that does not hold.
//!
//! A record is a JSON object put in canonical form (RFC 8785, JSON Canonicalization
//! Scheme), so the same record always hashes the same whatever wrote it. Per chain (one per
//! tenant, one for the platform), each record stores:
//!
//! ```text
//! leaf  = SHA-256(0x00 ‖ canonical bytes)          (RFC 6962 leaf hash)
//! chain = SHA-256(previous chain ‖ leaf)           (the first record's previous is 32 zero bytes)
//! ```
//!
//! Editing a record breaks its leaf; deleting, inserting or reordering records breaks the
//! chain at that point; truncating the end is only visible against a checkpoint kept
//! outside (its size and chain head). Checkpoints carry the RFC 6962 Merkle root of the
//! leaves ([`merkle_root`]) so that standard transparency-log tools can check inclusion.

use sha2::{Digest, Sha256};

use crate::GovernError;

pub mod checkpoint;
pub mod record;

pub use checkpoint::Checkpoint;

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// The `previous chain` of a chain's first record.
pub const GENESIS: Hash = [0; 32];

/// The canonical bytes (RFC 8785) of a record.
pub fn canonical(record: &serde_json::Value) -> Result<Vec<u8>, GovernError> {
    if !record.is_object() {
        return Err(GovernError::Audit("a record is a JSON object".to_owned()));
    }
    serde_jcs::to_vec(record).map_err(|e| GovernError::Audit(e.to_string()))
}

/// The RFC 6962 leaf hash of canonical bytes.
pub fn leaf_hash(canonical: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(canonical);
    h.finalize().into()
}

/// The chain hash after `leaf`, from the chain hash before it.
pub fn chain_hash(previous: &Hash, leaf: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update(previous);
    h.update(leaf);
    h.finalize().into()
}

fn node(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The RFC 6962 Merkle tree hash of `leaves` (already leaf hashes): the empty tree's is
/// SHA-256 of nothing; otherwise the tree splits at the largest power of two below the
/// size.
pub fn merkle_root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => Sha256::digest([]).into(),
        1 => leaves[0],
        n => {
            // The largest power of two strictly below n.
            let k = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
            node(&merkle_root(&leaves[..k]), &merkle_root(&leaves[k..]))
        }
    }
}

/// One stored record, as the verifier reads it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// Its sequence number in its chain (1, 2, …).
    pub seq: u64,
    /// Its canonical bytes.
    pub canonical: Vec<u8>,
    /// The leaf hash stored with it.
    pub leaf: Hash,
    /// The chain hash stored with it.
    pub chain: Hash,
}

/// What verification found wrong, at the first record where it did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tamper {
    /// The record's bytes no longer hash to its leaf: it was edited.
    Edited {
        /// Its sequence number.
        seq: u64,
    },
    /// A sequence number is missing, repeated or out of order: records were removed,
    /// inserted or reordered.
    Sequence {
        /// The number expected.
        expected: u64,
        /// The number found.
        found: u64,
    },
    /// The chain hash does not follow from the previous one (a record was removed, inserted
    /// or reordered and the hashes rewritten below it, or the chain was forged).
    Chain {
        /// The record whose chain hash is wrong.
        seq: u64,
    },
    /// The chain is shorter than a checkpoint kept outside says it was: truncated.
    Truncated {
        /// The checkpoint's size.
        checkpoint: u64,
        /// The records found.
        found: u64,
    },
    /// The chain reaches the checkpoint's size but not with its head or its Merkle root:
    /// rewritten.
    Diverged {
        /// The checkpoint's size.
        checkpoint: u64,
    },
}

/// The RFC 6962 Merkle root of a growing list of leaves in O(log n) memory: the roots of
/// its perfect subtrees, largest first (a "compact range"). Pushing a leaf merges equal
/// subtrees; the root folds them from the right, which is the tree hash's split at the
/// largest power of two below the size.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactRange {
    size: u64,
    stack: Vec<Hash>,
}

impl CompactRange {
    /// The empty range.
    pub fn new() -> CompactRange {
        CompactRange::default()
    }

    /// Leaves pushed.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        let mut hash = leaf;
        let mut n = self.size;
        while n & 1 == 1 {
            // A set low bit means a subtree of that size is on the stack.
            let Some(left) = self.stack.pop() else { break };
            hash = node(&left, &hash);
            n >>= 1;
        }
        self.stack.push(hash);
        self.size += 1;
    }

    /// The Merkle tree hash of the leaves pushed so far ([`merkle_root`] of them).
    pub fn root(&self) -> Hash {
        let mut subtrees = self.stack.iter().rev();
        let Some(last) = subtrees.next() else {
            return Sha256::digest([]).into();
        };
        subtrees.fold(*last, |right, left| node(left, &right))
    }
}

/// Verifies a chain record by record, in O(log n) memory (`vigie audit verify` streams
/// chains of any length through it): sequence numbers, leaf hashes, chain hashes, and at
/// each checkpoint's size its head and Merkle root. Problems are reported at the first
/// record, in chain order, where one shows.
#[derive(Debug, Clone)]
pub struct Verifier {
    previous: Hash,
    range: CompactRange,
    /// Checkpoints not yet reached, by size descending (the next is last).
    pending: Vec<Checkpoint>,
}

impl Verifier {
    /// A verifier for a chain with these checkpoints kept outside.
    pub fn new(checkpoints: &[Checkpoint]) -> Verifier {
        let mut pending = checkpoints.to_vec();
        pending.sort_by_key(|c| std::cmp::Reverse(c.size));
        Verifier {
            previous: GENESIS,
            range: CompactRange::new(),
            pending,
        }
    }

    /// Records checked so far.
    pub fn size(&self) -> u64 {
        self.range.size()
    }

    /// The chain head so far.
    pub fn head(&self) -> Hash {
        self.previous
    }

    /// The Merkle root so far.
    pub fn root(&self) -> Hash {
        self.range.root()
    }

    fn check_reached(&mut self) -> Result<(), Tamper> {
        while let Some(c) = self.pending.last() {
            if c.size != self.range.size() {
                break;
            }
            if c.head != self.previous || c.root != self.range.root() {
                return Err(Tamper::Diverged { checkpoint: c.size });
            }
            self.pending.pop();
        }
        Ok(())
    }

    /// Checks the next record.
    pub fn push(&mut self, r: &Stored) -> Result<(), Tamper> {
        // Checkpoints of size 0 (an empty chain) are checked before the first record.
        self.check_reached()?;
        let expected = self.range.size() + 1;
        if r.seq != expected {
            return Err(Tamper::Sequence {
                expected,
                found: r.seq,
            });
        }
        if leaf_hash(&r.canonical) != r.leaf {
            return Err(Tamper::Edited { seq: r.seq });
        }
        let chain = chain_hash(&self.previous, &r.leaf);
        if chain != r.chain {
            return Err(Tamper::Chain { seq: r.seq });
        }
        self.previous = chain;
        self.range.push(r.leaf);
        self.check_reached()
    }

    /// Ends the chain: a checkpoint beyond its end means it was truncated. Returns its size.
    pub fn finish(mut self) -> Result<u64, Tamper> {
        self.check_reached()?;
        match self.pending.first() {
            Some(c) => Err(Tamper::Truncated {
                checkpoint: c.size,
                found: self.range.size(),
            }),
            None => Ok(self.range.size()),
        }
    }
}

/// Verifies a chain read back in sequence order against itself and the checkpoints kept
/// outside (their size, chain head and Merkle root; their signatures are checked when they
/// are read, [`checkpoint::verify`]). Returns the first problem.
pub fn verify(records: &[Stored], checkpoints: &[Checkpoint]) -> Result<(), Tamper> {
    let mut verifier = Verifier::new(checkpoints);
    for r in records {
        verifier.push(r)?;
    }
    verifier.finish().map(drop)
}

#[cfg(test)]
mod tests;
