#![no_main]
//! Rule loading never panics, whatever the YAML; a rule that loads is evaluated against a
//! small event without panicking either.
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use vigie_sigma::{Loaded, parse_rules};

mod common;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut loaded = Loaded::default();
    parse_rules(text, "fuzz.yml", &mut loaded);
    if loaded.rules.is_empty() {
        return;
    }
    let event = common::decoder()
        .decode_json(Bytes::from_static(
            br#"{"Image":"C:\\Windows\\cmd.exe","CommandLine":"cmd /c whoami","EventID":1,"ip":"10.0.0.1","tags":["a","b"],"n":null}"#,
        ))
        .expect("the fixed event decodes");
    for rule in &loaded.rules {
        let _ = vigie_sigma::eval::rule_matches(rule, &event);
    }
});
