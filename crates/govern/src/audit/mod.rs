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

/// Verifies a chain read back in sequence order against itself and the checkpoints kept
/// outside (their size, chain head and Merkle root; their signatures are checked when they
/// are read, [`checkpoint::verify`]). Returns the first problem.
pub fn verify(records: &[Stored], checkpoints: &[Checkpoint]) -> Result<(), Tamper> {
    let mut previous = GENESIS;
    for (i, r) in records.iter().enumerate() {
        let expected = i as u64 + 1;
        if r.seq != expected {
            return Err(Tamper::Sequence {
                expected,
                found: r.seq,
            });
        }
        if leaf_hash(&r.canonical) != r.leaf {
            return Err(Tamper::Edited { seq: r.seq });
        }
        let chain = chain_hash(&previous, &r.leaf);
        if chain != r.chain {
            return Err(Tamper::Chain { seq: r.seq });
        }
        previous = chain;
    }
    for c in checkpoints {
        let Some(size) = usize::try_from(c.size).ok().filter(|s| *s <= records.len()) else {
            return Err(Tamper::Truncated {
                checkpoint: c.size,
                found: records.len() as u64,
            });
        };
        let head = if size == 0 {
            GENESIS
        } else {
            records[size - 1].chain
        };
        let leaves: Vec<Hash> = records[..size].iter().map(|r| r.leaf).collect();
        if head != c.head || merkle_root(&leaves) != c.root {
            return Err(Tamper::Diverged { checkpoint: c.size });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
