//! Signed checkpoints of an audit chain, in the C2SP `tlog-checkpoint` signed-note format,
//! so that standard transparency-log tools (and witnesses) can read them:
//!
//! ```text
//! vigie.example/audit/acme         origin: the instance and the chain
//! 1234                             size: records in the chain
//! <base64 Merkle root>             RFC 6962 root of the leaves
//! vigie-chain <base64 chain head>  extension line: the chain hash of the last record
//!                                  (blank line)
//! — <key name> <base64(key id ‖ Ed25519 signature)>
//! ```
//!
//! The key id is the first 4 bytes of SHA-256(key name ‖ "\n" ‖ 0x01 ‖ public key), as the
//! signed-note format defines for Ed25519. The signature covers the text above the blank
//! line. The key is the caller's (the server keeps it outside the database); this module
//! only formats, signs and checks.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ring::signature::{self, Ed25519KeyPair, KeyPair as _};
use sha2::{Digest, Sha256};

use super::Hash;
use crate::GovernError;

/// The extension line's keyword.
const CHAIN: &str = "vigie-chain ";
/// The signature line's prefix: an em dash and a space.
const DASH: &str = "\u{2014} ";

/// What a checkpoint states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The chain it is of (instance and tenant, or the platform chain).
    pub origin: String,
    /// Records in the chain.
    pub size: u64,
    /// The RFC 6962 Merkle root of their leaves.
    pub root: Hash,
    /// The chain hash of the last record.
    pub head: Hash,
}

fn bad(message: impl Into<String>) -> GovernError {
    GovernError::Audit(message.into())
}

/// The signed-note key id of an Ed25519 key named `name`.
pub fn key_id(name: &str, public_key: &[u8]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n\x01");
    h.update(public_key);
    let digest = h.finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

fn body(c: &Checkpoint) -> String {
    format!(
        "{}\n{}\n{}\n{CHAIN}{}\n",
        c.origin,
        c.size,
        B64.encode(c.root),
        B64.encode(c.head)
    )
}

/// The signed note of `checkpoint`, signed with `key` under `key_name`.
pub fn sign(
    checkpoint: &Checkpoint,
    key_name: &str,
    key: &Ed25519KeyPair,
) -> Result<String, GovernError> {
    if checkpoint.origin.is_empty() || checkpoint.origin.contains(['\n', '\u{2014}']) {
        return Err(bad("a checkpoint origin is one non-empty line"));
    }
    if key_name.is_empty() || key_name.contains([' ', '\n', '+']) {
        return Err(bad("a key name has no spaces, newlines or '+'"));
    }
    let text = body(checkpoint);
    let signature = key.sign(text.as_bytes());
    let mut blob = key_id(key_name, key.public_key().as_ref()).to_vec();
    blob.extend_from_slice(signature.as_ref());
    Ok(format!("{text}\n{DASH}{key_name} {}\n", B64.encode(blob)))
}

fn hash_line(line: &str, what: &str) -> Result<Hash, GovernError> {
    let bytes = B64
        .decode(line)
        .map_err(|e| bad(format!("{what}: not base64: {e}")))?;
    bytes
        .try_into()
        .map_err(|_| bad(format!("{what}: not 32 bytes")))
}

/// Reads and checks a signed note: a signature by `key_name` with `public_key` (32 bytes)
/// over its text must verify. Returns what it states.
pub fn verify(note: &str, key_name: &str, public_key: &[u8]) -> Result<Checkpoint, GovernError> {
    let (text, signatures) = note
        .split_once("\n\n")
        .ok_or_else(|| bad("no blank line between the text and the signatures"))?;
    let text = format!("{text}\n");
    let id = key_id(key_name, public_key);
    let key = signature::UnparsedPublicKey::new(&signature::ED25519, public_key);
    let signed = signatures.lines().any(|line| {
        let Some(rest) = line.strip_prefix(DASH) else {
            return false;
        };
        let Some((name, blob)) = rest.split_once(' ') else {
            return false;
        };
        let Ok(blob) = B64.decode(blob) else {
            return false;
        };
        name == key_name
            && blob.len() == 4 + 64
            && blob[..4] == id
            && key.verify(text.as_bytes(), &blob[4..]).is_ok()
    });
    if !signed {
        return Err(bad(format!("no valid signature by {key_name:?}")));
    }
    let mut lines = text.lines();
    let origin = lines.next().unwrap_or_default().to_owned();
    let size = lines
        .next()
        .and_then(|l| l.parse::<u64>().ok())
        .ok_or_else(|| bad("line 2: expected the tree size"))?;
    let root = hash_line(lines.next().unwrap_or_default(), "line 3 (root)")?;
    let head = lines
        .find_map(|l| l.strip_prefix(CHAIN))
        .ok_or_else(|| bad("no vigie-chain line"))
        .and_then(|l| hash_line(l, "vigie-chain"))?;
    Ok(Checkpoint {
        origin,
        size,
        root,
        head,
    })
}

#[cfg(test)]
mod tests {
    use ring::rand::SystemRandom;

    use super::*;

    fn key() -> Ed25519KeyPair {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap()
    }

    fn checkpoint() -> Checkpoint {
        Checkpoint {
            origin: "vigie.example/audit/mutuelle".to_owned(),
            size: 1234,
            root: [3; 32],
            head: [9; 32],
        }
    }

    #[test]
    fn a_signed_checkpoint_reads_back() {
        let k = key();
        let note = sign(&checkpoint(), "vigie.example", &k).unwrap();
        assert!(
            note.starts_with("vigie.example/audit/mutuelle\n1234\n"),
            "{note}"
        );
        assert!(note.contains("\n\n\u{2014} vigie.example "), "{note}");
        let read = verify(&note, "vigie.example", k.public_key().as_ref()).unwrap();
        assert_eq!(read, checkpoint());
    }

    #[test]
    fn forged_or_altered_checkpoints_are_refused() {
        let k = key();
        let public = k.public_key().as_ref().to_vec();
        let note = sign(&checkpoint(), "vigie.example", &k).unwrap();
        // Another size, root or head in the text.
        for (from, to) in [
            ("\n1234\n", "\n1235\n"),
            ("vigie-chain CQ", "vigie-chain Cg"),
        ] {
            let altered = note.replacen(from, to, 1);
            assert_ne!(altered, note);
            assert!(verify(&altered, "vigie.example", &public).is_err(), "{to}");
        }
        // Signed by another key, or checked under another name.
        let other = sign(&checkpoint(), "vigie.example", &key()).unwrap();
        assert!(verify(&other, "vigie.example", &public).is_err());
        assert!(verify(&note, "other.example", &public).is_err());
        // No signature, or a mangled one.
        let text = note.split_once("\n\n").unwrap().0;
        assert!(verify(&format!("{text}\n\n"), "vigie.example", &public).is_err());
        assert!(
            verify(text, "vigie.example", &public)
                .unwrap_err()
                .to_string()
                .contains("no blank line")
        );
        let mangled = note.replacen("\u{2014} vigie.example ", "\u{2014} vigie.example x", 1);
        assert!(verify(&mangled, "vigie.example", &public).is_err());
    }

    #[test]
    fn origins_and_key_names_are_single_tokens() {
        let k = key();
        let mut c = checkpoint();
        c.origin = "a\nb".to_owned();
        assert!(sign(&c, "vigie.example", &k).is_err());
        c.origin = String::new();
        assert!(sign(&c, "vigie.example", &k).is_err());
        for name in ["", "a b", "a+b", "a\nb"] {
            assert!(sign(&checkpoint(), name, &k).is_err(), "{name:?}");
        }
    }

    #[test]
    fn the_key_id_follows_the_signed_note_rule() {
        let public = [5u8; 32];
        let mut h = Sha256::new();
        h.update(b"name\n\x01");
        h.update(public);
        assert_eq!(key_id("name", &public)[..], h.finalize()[..4]);
        assert_ne!(key_id("name", &public), key_id("other", &public));
    }
}
