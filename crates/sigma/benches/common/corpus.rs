//! The shared corpus for the benches: its folder, and the events of every regression EVTX
//! sample.

use std::path::PathBuf;

use vigie_event::{Decoder, Event, Origin, Source, SourceKind, TenantId};

/// The shared corpus (see `vigie-testkit`).
pub(crate) fn shared() -> PathBuf {
    vigie_testkit::shared_root()
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
    // In path order, so that every run measures the same sequence.
    let files = vigie_testkit::files_with_suffix(&shared().join("regression"), ".evtx");
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
