#![no_main]
//! The fast reader of the rules' YAML subset against saphyr: whatever text it accepts,
//! saphyr reads to the same tree (text, quoting and line of every scalar).
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Err(e) = vigie_sigma::yaml_readers_agree(text) {
            panic!("{e}\n--- input\n{text}");
        }
    }
});
