//! Helpers shared by the tests of this crate: the shared corpus folder, a decoder and
//! events from JSON.

use bytes::Bytes;
use vigie_event::{Decoder, Event, Origin, Source, SourceKind, TenantId};

/// The folder `sub` of the shared corpus (see `vigie-testkit`).
pub(crate) use vigie_testkit::shared;

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
