#![no_main]
//! A Sigma regex (compiled for "does it match somewhere": optional ends dropped, end
//! repetitions at their minimum) against the `regex` crate's engine built from the original
//! pattern: the same answer on every text. Input: the pattern, a NUL byte, the text.
use libfuzzer_sys::fuzz_target;
use vigie_sigma::detection::SigmaRegex;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let (pattern, text) = input.split_once('\0').unwrap_or((input, ""));
    let Ok(ours) = SigmaRegex::new(pattern) else {
        return;
    };
    let Ok(reference) = regex_automata::meta::Regex::new(pattern) else {
        return;
    };
    for t in [text, pattern] {
        assert_eq!(
            ours.is_match(t),
            reference.is_match(t),
            "pattern {pattern:?} on {t:?}"
        );
    }
});
