//! Events as JSON, as the API returns them (and `vigie decode` prints them).

use serde_json::{Map, Value as Json};
use vigie_event::{Event, Value};

/// A JSON number from the original text when JSON can hold it, else the text as a string.
pub fn number(text: &str) -> Json {
    serde_json::from_str::<serde_json::Number>(text)
        .map(Json::Number)
        .unwrap_or_else(|_| Json::String(text.to_owned()))
}

/// A field value as JSON.
pub fn value(v: Value<'_>) -> Json {
    match v {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(b),
        Value::Str(s) => Json::String(s.to_owned()),
        Value::Num(n) => number(n.text()),
        Value::Array(a) => Json::Array(a.iter().map(value).collect()),
    }
}

/// The event with its metadata and fields, in field order.
pub fn event(e: &Event) -> Json {
    let mut fields = Map::new();
    for (id, v) in e.fields.iter() {
        fields.insert(id.name().to_owned(), value(v));
    }
    let ls = &e.logsource;
    let mut out = Map::new();
    out.insert("id".into(), e.id.to_string().into());
    out.insert("tenant".into(), e.tenant.as_str().into());
    out.insert("time".into(), e.time.to_rfc3339(e.time_offset).into());
    out.insert("received".into(), e.received.to_string().into());
    out.insert("format".into(), e.format.as_str().into());
    out.insert(
        "source".into(),
        format!("{}:{}", e.source.kind.as_str(), e.source.name).into(),
    );
    out.insert(
        "host".into(),
        e.host.as_deref().map_or(Json::Null, |h| h.into()),
    );
    out.insert(
        "logsource".into(),
        serde_json::json!({
            "product": ls.product(),
            "categories": ls.categories().collect::<Vec<_>>(),
            "services": ls.services().collect::<Vec<_>>(),
        }),
    );
    out.insert("fields".into(), Json::Object(fields));
    Json::Object(out)
}
