#![no_main]
//! CEF decoding never panics.
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| {
    if let Ok(e) = common::decoder().decode_cef(Bytes::copy_from_slice(data)) {
        common::touch(&e);
    }
});
