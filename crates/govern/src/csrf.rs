//! Cross-site request forgery: the console's defences for every state-changing form.
//!
//! Two independent checks, both required on a POST that a session cookie authenticates:
//!
//! - a **synchronizer token** in the form, derived from the session (HMAC-SHA256 of the
//!   session's stored hash under an instance key): a page of another site cannot read it,
//!   so it cannot forge a form that carries it. Derived rather than stored, so it costs no
//!   database row and ends with the session; compared in constant time;
//! - the request's **origin**: a browser says where a request comes from (`Origin`, and
//!   `Sec-Fetch-Site` in recent ones); a request another site's page made is refused even
//!   before its token is read ([`same_origin`]).
//!
//! The session cookie is also `SameSite=Lax` (see [`crate::session`]), a third line that
//! modern browsers draw on their own.

use ring::hmac;

/// The form field (and `Vigie-Csrf` header, for scripts) that carries the token.
pub const FIELD: &str = "csrf";

fn key(secret: &[u8; 32]) -> hmac::Key {
    hmac::Key::new(hmac::HMAC_SHA256, secret)
}

fn message(session_hash: &str) -> Vec<u8> {
    let mut m = b"vigie csrf v1\0".to_vec();
    m.extend_from_slice(session_hash.as_bytes());
    m
}

/// The token of the session whose stored hash is `session_hash`, under the instance key
/// `secret` (hex, 64 characters).
pub fn token(secret: &[u8; 32], session_hash: &str) -> String {
    hmac::sign(&key(secret), &message(session_hash))
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether `given` is the token of that session (constant-time comparison).
pub fn check(secret: &[u8; 32], session_hash: &str, given: &str) -> bool {
    let Some(tag) = hex(given) else { return false };
    hmac::verify(&key(secret), &message(session_hash), &tag).is_ok()
}

/// The 32 bytes of 64 hex digits; anything else (`from_str_radix` alone would take a
/// `+` sign: `+4` for `04`, found by the `csrf` fuzz target) is `None`.
fn hex(text: &str) -> Option<Vec<u8>> {
    if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Whether a state-changing request comes from the console's own pages.
///
/// - `origin`: the `Origin` header. When present it must be the origin of `public_url`
///   (the address the instance is published at) or that of the `Host` the request was sent
///   to, with the scheme the browser used; `null` (a sandboxed or privacy-stripped origin)
///   is refused.
/// - `fetch_site`: `Sec-Fetch-Site`, consulted when there is no `Origin`: `same-origin` and
///   `none` (typed by the user) pass, `same-site` and `cross-site` are refused.
/// - Neither header (an old browser, a script): passes here; the token still has to match.
pub fn same_origin(
    origin: Option<&str>,
    fetch_site: Option<&str>,
    host: Option<&str>,
    public_url: &str,
) -> bool {
    match origin {
        Some(origin) => {
            let origin = origin.trim().trim_end_matches('/');
            if origin.eq_ignore_ascii_case(origin_of(public_url)) {
                return true;
            }
            let Some(host) = host else { return false };
            let authority = origin
                .strip_prefix("http://")
                .or_else(|| origin.strip_prefix("https://"));
            authority.is_some_and(|a| a.eq_ignore_ascii_case(host.trim()))
        }
        None => match fetch_site {
            None => true,
            Some(site) => matches!(site.trim(), "same-origin" | "none"),
        },
    }
}

/// `scheme://authority` of a URL (what a browser sends as `Origin`).
fn origin_of(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let end = url[after_scheme..]
        .find('/')
        .map_or(url.len(), |i| after_scheme + i);
    &url[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7; 32];

    #[test]
    fn a_token_checks_for_its_session_only() {
        let t = token(&KEY, "abc");
        assert_eq!(t.len(), 64);
        assert!(check(&KEY, "abc", &t));
        assert!(!check(&KEY, "abd", &t), "another session's token");
        assert!(!check(&[8; 32], "abc", &t), "another instance's key");
        assert!(!check(&KEY, "abc", &t[..62]), "truncated");
        assert!(!check(&KEY, "abc", ""), "empty");
        let mut flipped = t.clone().into_bytes();
        flipped[10] = if flipped[10] == b'0' { b'1' } else { b'0' };
        assert!(!check(&KEY, "abc", &String::from_utf8(flipped).unwrap()));
        assert!(!check(&KEY, "abc", &"zz".repeat(32)), "not hex");
        assert!(check(&KEY, "abc", &t.to_uppercase()), "hex of either case");
        // A digit pair `0X` written `+X` is not the token (the fuzzer's find).
        if let Some(at) = (0..64).step_by(2).find(|&i| &t[i..=i] == "0") {
            let mut signed = t.clone();
            signed.replace_range(at..=at, "+");
            assert!(!check(&KEY, "abc", &signed), "{signed}");
        }
    }

    #[test]
    fn hex_takes_digits_only() {
        assert_eq!(hex(&"0a".repeat(32)), Some(vec![10; 32]));
        assert!(hex(&format!("+4{}", "0".repeat(62))).is_none(), "a sign");
        assert!(hex(&format!("-4{}", "0".repeat(62))).is_none());
        assert!(hex(&format!("4 {}", "0".repeat(62))).is_none());
        assert!(hex(&"0".repeat(63)).is_none());
    }

    #[test]
    fn tokens_differ_by_session() {
        assert_ne!(token(&KEY, "a"), token(&KEY, "b"));
        assert_eq!(token(&KEY, "a"), token(&KEY, "a"));
    }

    #[test]
    fn origins() {
        let public = "https://vigie.example.org/";
        let host = Some("127.0.0.1:8080");
        // The published origin, whatever Host the proxy forwarded.
        assert!(same_origin(
            Some("https://vigie.example.org"),
            None,
            host,
            public
        ));
        assert!(same_origin(
            Some("https://VIGIE.example.org/"),
            None,
            None,
            public
        ));
        // The address the request was sent to.
        assert!(same_origin(
            Some("http://127.0.0.1:8080"),
            None,
            host,
            public
        ));
        // Another site, another port, another scheme's authority, null.
        assert!(!same_origin(
            Some("https://evil.example"),
            None,
            host,
            public
        ));
        assert!(!same_origin(
            Some("http://127.0.0.1:8081"),
            None,
            host,
            public
        ));
        assert!(!same_origin(Some("null"), None, host, public));
        assert!(!same_origin(
            Some("ftp://127.0.0.1:8080"),
            None,
            host,
            public
        ));
        assert!(!same_origin(
            Some("http://127.0.0.1:8080"),
            None,
            None,
            public
        ));
        assert!(!same_origin(
            Some("https://vigie.example.org.evil"),
            None,
            host,
            public
        ));
        // Without Origin, Sec-Fetch-Site decides; without either, the token does.
        assert!(same_origin(None, Some("same-origin"), host, public));
        assert!(same_origin(None, Some("none"), host, public));
        assert!(!same_origin(None, Some("cross-site"), host, public));
        assert!(!same_origin(None, Some("same-site"), host, public));
        assert!(same_origin(None, None, host, public));
    }

    #[test]
    fn origin_of_a_url() {
        assert_eq!(origin_of("https://a.b:8443/x/y"), "https://a.b:8443");
        assert_eq!(origin_of("http://a.b"), "http://a.b");
        assert_eq!(origin_of("http://a.b/"), "http://a.b");
    }
}
