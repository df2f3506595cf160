#![no_main]
//! JSON decoding and stream splitting never panic.
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use vigie_event::decode::json::JsonSplitter;

mod common;

fuzz_target!(|data: &[u8]| {
    let mut d = common::decoder();
    let input = Bytes::copy_from_slice(data);
    if let Ok(e) = d.decode_json(input.clone()) {
        common::touch(&e);
    }
    for item in JsonSplitter::new(input).take(64) {
        match item {
            Ok((_, slice)) => {
                if let Ok(e) = d.decode_json(slice) {
                    common::touch(&e);
                }
            }
            Err(_) => break,
        }
    }
});
