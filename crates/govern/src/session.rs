//! Sessions and API tokens: their form, their cookie, when they end.
//!
//! A session id or token is 32 random bytes (the caller's CSPRNG), shown to its holder once
//! and stored only as its SHA-256 ([`stored_hash`]): a copy of the database opens no session.
//! Tokens carry a prefix naming their kind (`vgp_` a person's API token, `vgi_` an ingest
//! token), so that secret scanners recognise a leaked one and a token pasted in the wrong
//! place is refused by its kind before any lookup.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use sha2::{Digest, Sha256};
use vigie_event::Timestamp;

/// The session cookie's name: `__Host-` makes browsers refuse it unless it is Secure, has
/// `Path=/` and no `Domain` (no subdomain can set or read it).
pub const COOKIE: &str = "__Host-vigie-session";
/// Default idle timeout.
pub const IDLE: Duration = Duration::from_secs(30 * 60);
/// Default absolute lifetime.
pub const ABSOLUTE: Duration = Duration::from_secs(12 * 3600);

/// What a token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A person's API token: that user's rights.
    Personal,
    /// An ingest token: may only ingest, for one tenant and source.
    Ingest,
    /// A one-time enrolment token: sets a new user's password, once, within a day.
    Enrolment,
}

impl TokenKind {
    fn prefix(self) -> &'static str {
        match self {
            TokenKind::Personal => "vgp_",
            TokenKind::Ingest => "vgi_",
            TokenKind::Enrolment => "vge_",
        }
    }
}

/// The text of a token of `kind` from 32 random bytes.
pub fn token_text(kind: TokenKind, random: &[u8; 32]) -> String {
    format!("{}{}", kind.prefix(), B64URL.encode(random))
}

/// The kind of a token text, when it has the form of one (prefix and 43 base64url
/// characters); `None` otherwise.
pub fn token_kind(text: &str) -> Option<TokenKind> {
    [TokenKind::Personal, TokenKind::Ingest, TokenKind::Enrolment]
        .into_iter()
        .find(|k| {
            text.strip_prefix(k.prefix()).is_some_and(|rest| {
                rest.len() == 43 && B64URL.decode(rest).is_ok_and(|b| b.len() == 32)
            })
        })
}

/// What the database keeps of a session id or token: its SHA-256.
pub fn stored_hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// The `Set-Cookie` value of a session.
pub fn cookie(session: &str) -> String {
    format!("{COOKIE}={session}; Path=/; Secure; HttpOnly; SameSite=Lax")
}

/// The `Set-Cookie` value that ends the session in the browser.
pub fn cookie_cleared() -> String {
    format!("{COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0")
}

/// Why a session ended by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// Unused for longer than the idle timeout.
    Idle,
    /// Older than the absolute lifetime.
    Absolute,
}

/// Whether a session created at `created` and last used at `last_used` is still live at
/// `now`, with the given limits.
pub fn check_live(
    created: Timestamp,
    last_used: Timestamp,
    now: Timestamp,
    idle: Duration,
    absolute: Duration,
) -> Result<(), Expiry> {
    let nanos = |d: Duration| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
    if now.as_nanos().saturating_sub(created.as_nanos()) >= nanos(absolute) {
        return Err(Expiry::Absolute);
    }
    if now.as_nanos().saturating_sub(last_used.as_nanos()) >= nanos(idle) {
        return Err(Expiry::Idle);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    #[test]
    fn tokens_name_their_kind_and_are_stored_hashed() {
        let personal = token_text(TokenKind::Personal, &[7; 32]);
        let ingest = token_text(TokenKind::Ingest, &[7; 32]);
        assert!(
            personal.starts_with("vgp_") && personal.len() == 4 + 43,
            "{personal}"
        );
        assert!(ingest.starts_with("vgi_"));
        assert_eq!(token_kind(&personal), Some(TokenKind::Personal));
        assert_eq!(token_kind(&ingest), Some(TokenKind::Ingest));
        for bad in [
            "",
            "vgp_",
            "vgx_AAAA",
            &personal[..40],
            &format!("{personal}A"),
            "vgp_!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
        ] {
            assert_eq!(token_kind(bad), None, "{bad:?}");
        }
        assert_ne!(token_text(TokenKind::Personal, &[8; 32]), personal);
        let h = stored_hash(&personal);
        assert_eq!(h, stored_hash(&personal));
        assert_ne!(h, stored_hash(&ingest));
        assert_eq!(
            stored_hash("abc")
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn the_cookie_is_host_only_secure_and_not_for_scripts() {
        let c = cookie("abc");
        assert_eq!(
            c,
            "__Host-vigie-session=abc; Path=/; Secure; HttpOnly; SameSite=Lax"
        );
        assert!(!c.contains("Domain"));
        assert!(cookie_cleared().starts_with("__Host-vigie-session=;"));
        assert!(cookie_cleared().ends_with("Max-Age=0"));
    }

    #[test]
    fn sessions_end_when_idle_or_too_old() {
        let t = |s: i64| Timestamp::from_nanos(1_000_000 * S + s * S);
        let idle = Duration::from_secs(1800);
        let absolute = Duration::from_secs(43_200);
        assert_eq!(IDLE, idle);
        assert_eq!(ABSOLUTE, absolute);
        assert_eq!(check_live(t(0), t(0), t(1799), idle, absolute), Ok(()));
        assert_eq!(
            check_live(t(0), t(0), t(1800), idle, absolute),
            Err(Expiry::Idle)
        );
        // Used recently, but past the absolute lifetime.
        assert_eq!(
            check_live(t(0), t(43_000), t(43_199), idle, absolute),
            Ok(())
        );
        assert_eq!(
            check_live(t(0), t(43_100), t(43_200), idle, absolute),
            Err(Expiry::Absolute)
        );
        // Both past: the absolute end is what the user is told.
        assert_eq!(
            check_live(t(0), t(0), t(50_000), idle, absolute),
            Err(Expiry::Absolute)
        );
    }
}
