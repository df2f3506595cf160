//! The console's CSRF checks (`vigie_govern::csrf`) on any form token and any origin headers:
//! never a panic; a token made for a session checks for it and for no other; an origin equal
//! to the published address's passes.

#![no_main]

use libfuzzer_sys::fuzz_target;
use vigie_govern::csrf::{check, same_origin, token};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.split('\n');
    let session = parts.next().unwrap_or("");
    let given = parts.next().unwrap_or("");
    let origin = parts.next();
    let fetch_site = parts.next();
    let host = parts.next();
    let public = parts.next().unwrap_or("http://127.0.0.1:8080");
    let key = [3u8; 32];
    let _ = check(&key, session, given);
    let made = token(&key, session);
    assert!(check(&key, session, &made));
    if given != made && !given.eq_ignore_ascii_case(&made) {
        assert!(!check(&key, session, given), "a token that is not the session's");
    }
    let other = format!("{session}x");
    assert!(!check(&key, &other, &made), "another session's token");
    let _ = same_origin(origin, fetch_site, host, public);
});
