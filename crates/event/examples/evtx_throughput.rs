//! Measures EVTX decoding alone, in two steps: the `evtx` crate's JSON rendering, then our
//! decoding of the rendering into events; then the direct decoder (binary XML to fields,
//! `Decoder::set_evtx_rendering(false)`), checking that it gives the same fields and counting
//! the records it left to the rendering. `cargo run --release -p vigie-event --example
//! evtx_throughput -- FILE...` (one thread).
#![allow(clippy::print_stdout)]

use std::time::Instant;

use vigie_event::decode::evtx::EvtxRecords;
use vigie_event::{Decoder, Origin, Source, SourceKind, TenantId};

fn main() {
    let files: Vec<_> = std::env::args().skip(1).collect();
    let data: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    let bytes: usize = data.iter().map(Vec::len).sum();

    let start = Instant::now();
    let mut renderings = Vec::new();
    for file in &data {
        for record in EvtxRecords::new(file.clone()).unwrap() {
            renderings.push(record.unwrap());
        }
    }
    let render = start.elapsed();

    let mut decoder = Decoder::new(Origin::new(
        TenantId::new("bench").unwrap(),
        Source::new(SourceKind::File, "bench"),
    ));
    let start = Instant::now();
    let mut fields = 0;
    for json in &renderings {
        fields += decoder
            .decode_evtx_record(json.clone())
            .unwrap()
            .fields
            .len();
    }
    let decode = start.elapsed();

    let mut direct = Decoder::new(Origin::new(
        TenantId::new("bench").unwrap(),
        Source::new(SourceKind::File, "bench"),
    ));
    direct.set_evtx_rendering(false);
    // Timed like `decode` above: each event is dropped once counted.
    let start = Instant::now();
    let mut direct_fields = 0;
    for file in &data {
        for event in direct.decode_evtx_file(file.clone()).unwrap() {
            direct_fields += event.unwrap().fields.len();
        }
    }
    let direct_time = start.elapsed();
    assert_eq!(direct_fields, fields, "field count");
    let counts = direct.evtx_direct_counts();
    let mut events = Vec::with_capacity(renderings.len());
    for file in &data {
        events.extend(direct.decode_evtx_file(file.clone()).unwrap());
    }
    let fields_of = |e: &vigie_event::Event| {
        let list: Vec<String> = e
            .fields
            .iter()
            .map(|(id, v)| format!("{}={v:?}", id.name()))
            .collect();
        (list, e.time, e.host.clone(), e.logsource.clone())
    };
    let (mut rendered, mut differ) = (0, 0);
    for (json, event) in renderings.iter().zip(&events) {
        let expected = decoder.decode_evtx_record(json.clone()).unwrap();
        let event = event.as_ref().unwrap();
        rendered += usize::from(!event.raw.is_empty());
        if fields_of(&expected) != fields_of(event) {
            differ += 1;
            if differ <= 3 {
                println!("differs: {}", String::from_utf8_lossy(json));
            }
        }
    }
    assert_eq!(events.len(), renderings.len(), "record count");
    let n = renderings.len() as f64;
    println!(
        "direct: {:.3} s ({:.1} µs/record; {} walked, {} replayed), {rendered} records left to the rendering, {differ} differ",
        direct_time.as_secs_f64(),
        direct_time.as_secs_f64() * 1e6 / n,
        counts.walked,
        counts.replayed,
    );
    println!(
        "{} files, {:.0} MB, {} records ({fields} fields)\nrender: {:.3} s ({:.1} µs/record)\ndecode: {:.3} s ({:.1} µs/record)",
        files.len(),
        bytes as f64 / 1e6,
        renderings.len(),
        render.as_secs_f64(),
        render.as_secs_f64() * 1e6 / n,
        decode.as_secs_f64(),
        decode.as_secs_f64() * 1e6 / n,
    );
}
