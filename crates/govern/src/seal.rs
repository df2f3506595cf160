//! Secrets kept in the database but readable only with a key kept outside it (TOTP seeds):
//! ChaCha20-Poly1305 (RFC 8439) under a key derived from the instance secret, a random
//! 96-bit nonce per seal, and the owner's id as associated data, so that a sealed seed
//! copied to another user's row does not open.
//!
//! The text form is `v1.` followed by base64url of nonce ‖ ciphertext ‖ tag.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hkdf;

use crate::GovernError;

const VERSION: &str = "v1.";

/// A sealing key, derived from the instance secret for one purpose.
pub struct SealKey(LessSafeKey);

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealKey(…)")
    }
}

/// 32 bytes derived from `secret` for `purpose` (HKDF-SHA-256, RFC 5869): one instance
/// secret gives independent keys for TOTP seeds, pseudonyms and whatever comes next.
pub fn derive(secret: &[u8; 32], purpose: &str) -> [u8; 32] {
    struct Len;
    impl hkdf::KeyType for Len {
        fn len(&self) -> usize {
            32
        }
    }
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, b"vigie instance secret").extract(secret);
    let info = [purpose.as_bytes()];
    let mut out = [0u8; 32];
    // `expand` and `fill` fail only for lengths over 255 × 32 bytes; 32 is fixed.
    if let Ok(okm) = prk.expand(&info, Len) {
        let _ = okm.fill(&mut out);
    }
    out
}

impl SealKey {
    /// The key for `purpose` from the instance secret.
    pub fn new(secret: &[u8; 32], purpose: &str) -> SealKey {
        let key = derive(secret, purpose);
        // A 32-byte key is always accepted by ChaCha20-Poly1305.
        let unbound = UnboundKey::new(&CHACHA20_POLY1305, &key)
            .unwrap_or_else(|_| unreachable!("a 32-byte ChaCha20-Poly1305 key"));
        SealKey(LessSafeKey::new(unbound))
    }

    /// Seals `plain` for `owner` with `nonce` (12 random bytes from the caller's CSPRNG).
    pub fn seal(&self, plain: &[u8], owner: &str, nonce: [u8; NONCE_LEN]) -> String {
        let mut buffer = plain.to_vec();
        // Sealing fails only for inputs over 256 GiB.
        let _ = self.0.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(owner.as_bytes()),
            &mut buffer,
        );
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&buffer);
        format!("{VERSION}{}", B64URL.encode(bytes))
    }

    /// Opens what [`SealKey::seal`] made for `owner`; an error when the text was altered,
    /// sealed for another owner or under another key.
    pub fn open(&self, sealed: &str, owner: &str) -> Result<Vec<u8>, GovernError> {
        let bad = || GovernError::Seal("the sealed secret does not open with this key".into());
        let body = sealed.strip_prefix(VERSION).ok_or_else(bad)?;
        let mut bytes = B64URL.decode(body).map_err(|_| bad())?;
        // (Twelve bytes exactly — a nonce and no tag — fails in `open_in_place` as well:
        // `<` and `<=` are the same test here.)
        if bytes.len() < NONCE_LEN {
            return Err(bad());
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&bytes[..NONCE_LEN]);
        let plain = self
            .0
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(owner.as_bytes()),
                &mut bytes[NONCE_LEN..],
            )
            .map_err(|_| bad())?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_only_for_its_owner_under_its_key() {
        let secret = [7u8; 32];
        let key = SealKey::new(&secret, "totp");
        let sealed = key.seal(b"JBSWY3DPEHPK3PXP", "user:42", [1; 12]);
        assert!(sealed.starts_with("v1."));
        assert!(!sealed.contains("JBSWY3DPEHPK3PXP"));
        assert_eq!(key.open(&sealed, "user:42").unwrap(), b"JBSWY3DPEHPK3PXP");
        assert!(key.open(&sealed, "user:43").is_err(), "another owner");
        let other = SealKey::new(&[8u8; 32], "totp");
        assert!(other.open(&sealed, "user:42").is_err(), "another secret");
        let purpose = SealKey::new(&secret, "pseudonym");
        assert!(purpose.open(&sealed, "user:42").is_err(), "another purpose");
        // Any flipped character fails.
        let mut chars: Vec<char> = sealed.chars().collect();
        let i = chars.len() - 3;
        chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
        let flipped: String = chars.into_iter().collect();
        assert!(key.open(&flipped, "user:42").is_err());
        assert!(key.open("v1.", "user:42").is_err());
        assert!(key.open("v2.AAAA", "user:42").is_err());
        // The key never shows in logs.
        assert_eq!(format!("{key:?}"), "SealKey(…)");
        // Different nonces, different texts.
        assert_ne!(sealed, key.seal(b"JBSWY3DPEHPK3PXP", "user:42", [2; 12]));
    }

    #[test]
    fn derivation_separates_purposes_and_secrets() {
        assert_ne!(derive(&[0; 32], "a"), derive(&[0; 32], "b"));
        assert_ne!(derive(&[0; 32], "a"), derive(&[1; 32], "a"));
        assert_eq!(derive(&[0; 32], "a"), derive(&[0; 32], "a"));
        assert_ne!(derive(&[0; 32], "a"), [0; 32]);
    }
}
