#![no_main]
//! The direct EVTX decoder (binary XML to fields) never panics, and wherever it and the JSON
//! rendering both decode a record of a chunk, they give the same fields.
use libfuzzer_sys::fuzz_target;

mod common;

fn summary(e: &vigie_event::Event) -> Vec<String> {
    let mut out = vec![format!("{} {:?} {:?}", e.time, e.host, e.logsource)];
    out.extend(
        e.fields
            .iter()
            .map(|(id, v)| format!("{}={v:?}", id.name())),
    );
    out
}

/// Decodes the chunks of `data` with the JSON rendering or straight from binary XML.
fn decode(data: &[u8], rendering: bool) -> Vec<Result<Vec<String>, vigie_event::EventError>> {
    // Events without a time of their own get the receive time: the same for both.
    let received = Some(vigie_event::Timestamp::from_nanos(1_767_225_600_000_000_000));
    let mut d = common::decoder();
    d.set_received(received);
    d.set_evtx_rendering(rendering);
    d.decode_evtx_chunks(data.to_vec(), 0)
        .take(1000)
        .map(|e| e.map(|e| summary(&e)))
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let expected = decode(data, true);
    let got = decode(data, false);
    if got.len() == expected.len() {
        for (got, expected) in got.iter().zip(&expected) {
            if let (Ok(got), Ok(expected)) = (got, expected) {
                assert_eq!(got, expected);
            }
        }
    }
});
