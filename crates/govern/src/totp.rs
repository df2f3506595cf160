//! One-time codes: HOTP (RFC 4226) and TOTP (RFC 6238), written here (about sixty lines over
//! ring's HMAC) rather than taken from a crate, and checked against both RFCs' test vectors.
//!
//! Vigie's codes are SHA-1, 6 digits, 30-second steps (what every authenticator app reads
//! from an `otpauth://` URI); SHA-256/512 and 8 digits exist for the RFC vectors and for
//! hardware tokens. A code is accepted within one step either side of now (clock drift of
//! the phone) and only once: [`Totp::verify`] refuses any step at or before the last one a
//! user used, so a code seen over a shoulder cannot be replayed.

use ring::hmac;

use crate::GovernError;

/// The HMAC of the codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// HMAC-SHA-1: the authenticator apps' default.
    Sha1,
    /// HMAC-SHA-256.
    Sha256,
    /// HMAC-SHA-512.
    Sha512,
}

/// The shortest seed accepted: 128 bits (RFC 4226 §4 requires at least that; 160 is
/// recommended, and is what Vigie generates).
pub const MIN_SECRET_BYTES: usize = 16;

/// A TOTP generator and verifier for one seed.
#[derive(Clone)]
pub struct Totp {
    key: hmac::Key,
    digits: u32,
    step: u64,
}

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 without padding: how authenticator apps take a TOTP secret (the
/// `secret=` of an `otpauth://` URI).
pub fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(BASE32[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(BASE32[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// Reads [`base32`] text back (upper case, no padding); `None` for any other character.
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let (mut buffer, mut bits) = (0u32, 0);
    for c in text.bytes() {
        let v = BASE32.iter().position(|&a| a == c)? as u32;
        buffer = (buffer << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    Some(out)
}

impl std::fmt::Debug for Totp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Totp")
            .field("digits", &self.digits)
            .field("step", &self.step)
            .finish_non_exhaustive()
    }
}

impl Totp {
    /// Vigie's codes: SHA-1, 6 digits, 30 s.
    pub fn standard(secret: &[u8]) -> Result<Totp, GovernError> {
        Totp::new(secret, Algorithm::Sha1, 6, 30)
    }

    /// A generator with explicit parameters: 6 to 8 digits, a step of at least a second.
    pub fn new(
        secret: &[u8],
        algorithm: Algorithm,
        digits: u32,
        step: u64,
    ) -> Result<Totp, GovernError> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(GovernError::Totp(format!(
                "a seed of {} bytes is too short: at least {MIN_SECRET_BYTES}",
                secret.len()
            )));
        }
        if !(6..=8).contains(&digits) {
            return Err(GovernError::Totp(format!(
                "{digits} digits: expected 6 to 8"
            )));
        }
        if step == 0 {
            return Err(GovernError::Totp("a step of 0 seconds".to_owned()));
        }
        let algorithm = match algorithm {
            Algorithm::Sha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            Algorithm::Sha256 => hmac::HMAC_SHA256,
            Algorithm::Sha512 => hmac::HMAC_SHA512,
        };
        Ok(Totp {
            key: hmac::Key::new(algorithm, secret),
            digits,
            step,
        })
    }

    /// The HOTP code of `counter` (RFC 4226 §5.3: dynamic truncation).
    pub fn hotp(&self, counter: u64) -> u32 {
        let tag = hmac::sign(&self.key, &counter.to_be_bytes());
        let mac = tag.as_ref();
        let offset = usize::from(mac[mac.len() - 1] & 0x0f);
        let binary = u32::from_be_bytes([
            mac[offset] & 0x7f,
            mac[offset + 1],
            mac[offset + 2],
            mac[offset + 3],
        ]);
        binary % 10u32.pow(self.digits)
    }

    /// The step number of `unix_seconds`.
    pub fn step_of(&self, unix_seconds: u64) -> u64 {
        unix_seconds / self.step
    }

    /// The code at `unix_seconds`, as the digits an app shows (zero-padded).
    pub fn code_at(&self, unix_seconds: u64) -> String {
        let code = self.hotp(self.step_of(unix_seconds));
        format!("{code:0width$}", width = self.digits as usize)
    }

    /// Checks `code` at `unix_seconds`, one step either side, refusing any step at or
    /// before `last_used` (the last step this user's code was accepted for). Returns the
    /// step matched, to remember as the new `last_used`.
    pub fn verify(&self, code: &str, unix_seconds: u64, last_used: Option<u64>) -> Option<u64> {
        let code = code.trim();
        if code.len() != self.digits as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let now = self.step_of(unix_seconds);
        let mut matched = None;
        // Every candidate is computed and compared, whatever matches: the time taken does not
        // say which step (or whether any) matched.
        for step in [now.saturating_sub(1), now, now.saturating_add(1)] {
            let expected = format!("{:0width$}", self.hotp(step), width = self.digits as usize);
            // Both are `digits` long: every byte is compared, whatever differs.
            let difference = expected
                .bytes()
                .zip(code.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b));
            let equal = difference == 0;
            if equal && last_used.is_none_or(|last| step > last) && matched.is_none() {
                matched = Some(step);
            }
        }
        matched
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4226_appendix_d_hotp_vectors() {
        let totp = Totp::new(b"12345678901234567890", Algorithm::Sha1, 6, 30).unwrap();
        let expected = [
            755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489,
        ];
        for (counter, code) in expected.into_iter().enumerate() {
            assert_eq!(totp.hotp(counter as u64), code, "counter {counter}");
        }
    }

    #[test]
    fn rfc6238_appendix_b_totp_vectors() {
        let seed64 = b"1234567890123456789012345678901234567890123456789012345678901234";
        let cases: [(Algorithm, &[u8], [&str; 6]); 3] = [
            (
                Algorithm::Sha1,
                &seed64[..20],
                [
                    "94287082", "07081804", "14050471", "89005924", "69279037", "65353130",
                ],
            ),
            (
                Algorithm::Sha256,
                &seed64[..32],
                [
                    "46119246", "68084774", "67062674", "91819424", "90698825", "77737706",
                ],
            ),
            (
                Algorithm::Sha512,
                &seed64[..],
                [
                    "90693936", "25091201", "99943326", "93441116", "38618901", "47863826",
                ],
            ),
        ];
        let times = [
            59u64,
            1111111109,
            1111111111,
            1234567890,
            2000000000,
            20000000000,
        ];
        for (algorithm, seed, codes) in cases {
            let totp = Totp::new(seed, algorithm, 8, 30).unwrap();
            for (time, code) in times.iter().zip(codes) {
                assert_eq!(totp.code_at(*time), code, "{algorithm:?} at {time}");
            }
        }
    }

    #[test]
    fn codes_are_accepted_one_step_either_side_and_only_once() {
        let totp = Totp::standard(b"12345678901234567890").unwrap();
        let now = 1_111_111_111;
        let step = totp.step_of(now);
        let code = totp.code_at(now);
        assert_eq!(code.len(), 6);
        assert_eq!(totp.verify(&code, now, None), Some(step));
        assert_eq!(totp.verify(&format!(" {code} "), now, None), Some(step));
        // The phone a step behind or ahead.
        assert_eq!(
            totp.verify(&totp.code_at(now - 30), now, None),
            Some(step - 1)
        );
        assert_eq!(
            totp.verify(&totp.code_at(now + 30), now, None),
            Some(step + 1)
        );
        // Two steps away: refused.
        assert_eq!(totp.verify(&totp.code_at(now - 60), now, None), None);
        assert_eq!(totp.verify(&totp.code_at(now + 60), now, None), None);
        // Replay: the step used, or an earlier one, is refused.
        assert_eq!(totp.verify(&code, now, Some(step)), None);
        assert_eq!(totp.verify(&code, now, Some(step + 1)), None);
        assert_eq!(totp.verify(&code, now, Some(step - 1)), Some(step));
        // Two digits wrong in the same bit (each XOR 1): every difference counts, none
        // cancels another.
        let forged: String = code
            .bytes()
            .enumerate()
            .map(|(i, b)| if i < 2 { (b ^ 1) as char } else { b as char })
            .collect();
        let near = [totp.code_at(now - 30), code, totp.code_at(now + 30)];
        if !near.contains(&forged) {
            assert_eq!(totp.verify(&forged, now, None), None, "{forged}");
        }
        // Malformed.
        for bad in ["", "12345", "1234567", "12a456", "１２３４５６"] {
            assert_eq!(totp.verify(bad, now, None), None, "{bad:?}");
        }
    }

    #[test]
    fn parameters_are_checked() {
        assert!(Totp::standard(&[0; 15]).is_err());
        assert!(Totp::standard(&[0; 16]).is_ok());
        for digits in [5, 9] {
            assert!(Totp::new(&[0; 20], Algorithm::Sha1, digits, 30).is_err());
        }
        for digits in [6, 7, 8] {
            let t = Totp::new(&[0; 20], Algorithm::Sha1, digits, 30).unwrap();
            assert_eq!(t.code_at(0).len(), digits as usize);
        }
        assert!(Totp::new(&[0; 20], Algorithm::Sha1, 6, 0).is_err());
        let one = Totp::new(&[0; 20], Algorithm::Sha1, 6, 1).unwrap();
        assert_eq!(one.step_of(59), 59);
        assert!(format!("{one:?}").contains("digits"));
    }

    #[test]
    fn base32_follows_rfc_4648_both_ways() {
        // RFC 4648 §10, without padding.
        for (plain, encoded) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32(plain.as_bytes()), encoded);
            assert_eq!(base32_decode(encoded).as_deref(), Some(plain.as_bytes()));
        }
        assert_eq!(base32_decode("MZ1"), None);
        assert_eq!(base32_decode("mzxq"), None);
    }
}
