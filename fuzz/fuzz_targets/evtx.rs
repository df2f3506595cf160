#![no_main]
//! EVTX decoding never panics, whatever the file bytes.
use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| {
    let mut d = common::decoder();
    if let Ok(events) = d.decode_evtx_file(data.to_vec()) {
        for e in events.take(1000).flatten() {
            common::touch(&e);
        }
    }
});
