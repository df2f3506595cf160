use vigie_event::{Decoder, Origin, Source, SourceKind, TenantId};

pub fn decoder() -> Decoder {
    Decoder::new(Origin::new(
        TenantId::new("fuzz").expect("valid tenant"),
        Source::new(SourceKind::File, "fuzz"),
    ))
}

/// Reads every field of an event so lazily computed views are exercised too.
pub fn touch(event: &vigie_event::Event) {
    for (id, value) in event.fields.iter() {
        let _ = (id.name(), value.as_text(), format!("{value:?}"));
    }
    let _ = event.logsource.to_string();
}
