//! Helpers shared by the tests of this crate: the shared corpus folder, a decoder and
//! events from JSON.

use std::path::PathBuf;

use bytes::Bytes;
use vigie_event::{Decoder, Event, Origin, Source, SourceKind, TenantId};

/// The folder `sub` of the shared corpus, or `None` after a visible message (a failure under
/// `CI=true`).
pub(crate) fn shared(sub: &str) -> Option<PathBuf> {
    let root = std::env::var_os("VIGIE_SIGMA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(
                std::env::var_os("CARGO_MANIFEST_DIR")
                    .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()),
            )
            .join("../../../shared/sigma")
        });
    let dir = root.join(sub);
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "corpus {} is missing (CI=true requires it)",
        dir.display()
    );
    #[allow(clippy::print_stderr)]
    {
        eprintln!("SKIPPED: corpus {} is missing", dir.display());
    }
    None
}

/// A decoder of file events for tenant `name`.
pub(crate) fn decoder(name: &str) -> Decoder {
    Decoder::new(Origin::new(
        TenantId::new(name).expect("a valid tenant name"),
        Source::new(SourceKind::File, name),
    ))
}

/// One event decoded from JSON.
pub(crate) fn event(json: &str) -> Event {
    decoder("t")
        .decode_json(Bytes::copy_from_slice(json.as_bytes()))
        .unwrap()
}

/// The one rule of a document whose detection block is `detection` (indented YAML), any
/// logsource; panics if it is rejected.
pub(crate) fn rule(detection: &str) -> crate::rule::Rule {
    let text = format!("title: t\nlogsource: {{}}\ndetection:\n{detection}\n");
    let mut loaded = crate::load::Loaded::default();
    crate::load::parse_rules(&text, "test.yml", &mut loaded);
    assert!(loaded.rejected.is_empty(), "{:?}\n{text}", loaded.rejected);
    loaded.rules.remove(0)
}
