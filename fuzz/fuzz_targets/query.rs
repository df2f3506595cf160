#![no_main]
//! The search-language parser: no panic on any text; what parses writes back to text that
//! parses to the same query, and compiles without panicking.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Err(e) = vigie_store::query_round_trips(text) {
            panic!("{e}");
        }
    }
});
