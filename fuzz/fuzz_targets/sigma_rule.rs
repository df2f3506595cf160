#![no_main]
//! Rule loading never panics, whatever the YAML; rules that load are evaluated on an event
//! (fuzzed too: the bytes after a NUL are a JSON event) by the reference interpreter and by
//! the compiled rule set, which must agree.
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use vigie_sigma::{Loaded, RuleSet, parse_rules};

mod common;

const FIXED_EVENT: &[u8] = br#"{"Image":"C:\\Windows\\cmd.exe","CommandLine":"cmd /c whoami","EventID":1,"ip":"10.0.0.1","tags":["a","b"],"n":null}"#;

fuzz_target!(|data: &[u8]| {
    let (yaml, json) = match data.iter().position(|b| *b == 0) {
        Some(nul) => (&data[..nul], &data[nul + 1..]),
        None => (data, FIXED_EVENT),
    };
    let Ok(text) = std::str::from_utf8(yaml) else { return };
    let mut loaded = Loaded::default();
    parse_rules(text, "fuzz.yml", &mut loaded);
    let _ = loaded.apply_filters();
    if loaded.rules.is_empty() {
        return;
    }
    let mut decoder = common::decoder();
    let event = match decoder.decode_json(Bytes::copy_from_slice(json)) {
        Ok(event) => event,
        Err(_) => decoder
            .decode_json(Bytes::from_static(FIXED_EVENT))
            .expect("the fixed event decodes"),
    };
    let reference: Vec<usize> = loaded
        .rules
        .iter()
        .enumerate()
        .filter(|(_, r)| vigie_sigma::eval::rule_matches(r, &event))
        .map(|(i, _)| i)
        .collect();
    let set = std::sync::Arc::new(RuleSet::new(loaded.rules.clone()));
    assert_eq!(set.matcher().matches(&event), reference);
});
