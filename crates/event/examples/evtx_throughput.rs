//! Measures EVTX decoding alone, in two steps: the `evtx` crate's JSON rendering, then our
//! decoding of the rendering into events. `cargo run --release -p vigie-event --example
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
    let n = renderings.len() as f64;
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
