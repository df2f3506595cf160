//! The shared corpus for the benches: its folder, and the events of every regression EVTX
//! sample.

use std::path::PathBuf;

use vigie_event::{Decoder, Event, Origin, Source, SourceKind, TenantId};

/// `../shared/sigma` beside the repository.
pub(crate) fn shared() -> PathBuf {
    PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()),
    )
    .join("../../../shared/sigma")
}

/// A decoder of file events for the benches.
pub(crate) fn decoder() -> Decoder {
    Decoder::new(Origin::new(
        TenantId::new("bench").expect("a valid tenant name"),
        Source::new(SourceKind::File, "bench"),
    ))
}

/// Every record of every EVTX file under the regression folder, decoded.
pub(crate) fn regression_events() -> Vec<Event> {
    let mut decoder = decoder();
    let mut files = Vec::new();
    let mut stack = vec![shared().join("regression")];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for path in entries.flatten().map(|e| e.path()) {
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "evtx") {
                files.push(path);
            }
        }
    }
    // In path order, so that every run measures the same sequence.
    files.sort();
    let mut out = Vec::new();
    for path in files {
        for e in decoder
            .decode_evtx_file(std::fs::read(&path).unwrap())
            .unwrap()
        {
            out.push(e.unwrap());
        }
    }
    out
}
