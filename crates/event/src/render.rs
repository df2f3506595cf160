//! Events and field values as JSON: the one rendering the API returns, `vigie decode`
//! prints, `vigie hunt` writes and the generators produce.
//!
//! Two forms, kept equal by a test: [`event`] and [`value`] build a `serde_json` tree (the
//! API serialises it), and the `write_*` functions write the same text straight into a
//! buffer without a tree (the hunt's hot path: an event's fields are written once for all
//! its detections).

use serde_json::{Map, Value as Json};

use crate::{Event, FieldId, Value};

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

/// Whether any of the 8 bytes of `w` needs escaping in a JSON string: a control character
/// (below 0x20), `"` or `\\`. Bitwise tests on the whole word ("has a byte less than n",
/// "has a zero byte" after xor): exact for the question "any byte?".
fn needs_escape(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let below_space = w.wrapping_sub(ONES * 0x20) & !w & HIGH;
    let quote = w ^ (ONES * u64::from(b'"'));
    let backslash = w ^ (ONES * u64::from(b'\\'));
    let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    below_space | zero(quote) | zero(backslash) != 0
}

/// The escape of each byte in a JSON string: 0 for none, `u` for `\\u00XX`, else the
/// character after the backslash.
const ESCAPES: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = b'u';
        b += 1;
    }
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table[b'\n' as usize] = b'n';
    table[b'\r' as usize] = b'r';
    table[b'\t' as usize] = b't';
    table[0x08] = b'b';
    table[0x0c] = b'f';
    table
};

/// Writes a JSON string (quoted, escaped as serde_json does: `\"`, `\\`, the short
/// escapes `\b \f \n \r \t`, other control characters as `\u00XX`). Clean runs are
/// skipped 8 bytes at a time, the rest byte by byte through a table (Windows paths put a
/// backslash in most words).
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(s.len() + 2);
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut run = 0;
    let mut i = 0;
    while i < bytes.len() {
        if let Some(word) = bytes.get(i..i + 8) {
            let mut w = [0u8; 8];
            w.copy_from_slice(word);
            if !needs_escape(u64::from_le_bytes(w)) {
                i += 8;
                continue;
            }
        }
        let b = bytes[i];
        let escape = ESCAPES[usize::from(b)];
        if escape != 0 {
            out.extend_from_slice(&bytes[run..i]);
            if escape == b'u' {
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 15)]);
            } else {
                out.push(b'\\');
                out.push(escape);
            }
            run = i + 1;
        }
        i += 1;
    }
    out.extend_from_slice(&bytes[run..]);
    out.push(b'"');
}

/// Whether `text` is a JSON integer that serde_json writes back unchanged (no sign but
/// `-`, no leading zero, at most 18 digits; `-0` is written `-0.0`).
fn plain_integer(text: &str) -> bool {
    let negative = text.starts_with('-');
    let digits = text.strip_prefix('-').unwrap_or(text).as_bytes();
    !digits.is_empty()
        && digits.len() <= 18
        && digits.iter().all(u8::is_ascii_digit)
        && (digits[0] != b'0' || (digits.len() == 1 && !negative))
}

/// Writes a value as [`value`] renders it, without building a JSON tree.
pub fn write_value(out: &mut Vec<u8>, v: Value<'_>) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Str(s) => write_str(out, s),
        Value::Num(n) if plain_integer(n.text()) => out.extend_from_slice(n.text().as_bytes()),
        Value::Num(n) => {
            let _ = serde_json::to_writer(&mut *out, &number(n.text()));
        }
        Value::Array(a) => {
            out.push(b'[');
            for (i, item) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item);
            }
            out.push(b']');
        }
    }
}

/// The JSON key of each field name (quoted, escaped, with its `:`), written once per name.
/// Rendering an event writes every one of its names: escaping each anew, and looking it up,
/// took 54 M of the 158 M instructions of a jsonl hunt's rendering on the 8k corpus.
#[derive(Debug, Default)]
pub struct JsonKeys {
    /// By [`FieldId::index`] (bounded by the interner's capacity).
    keys: Vec<Option<Box<[u8]>>>,
}

impl JsonKeys {
    fn key(&mut self, id: FieldId) -> &[u8] {
        let i = id.index();
        if self.keys.len() <= i {
            self.keys.resize(i + 1, None);
        }
        self.keys[i].get_or_insert_with(|| {
            let mut key = Vec::new();
            write_str(&mut key, id.name());
            key.push(b':');
            key.into_boxed_slice()
        })
    }
}

/// Writes all the fields of an event as one JSON object, in field order.
pub fn write_fields(out: &mut Vec<u8>, e: &Event, keys: &mut JsonKeys) {
    out.push(b'{');
    for (i, (id, v)) in e.fields.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(keys.key(id));
        write_value(out, v);
    }
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_escape_like_serde_json() {
        let mut cases: Vec<String> = (0u8..128)
            .flat_map(|b| {
                let c = b as char;
                [
                    format!("ab{c}cdefghij"),
                    format!("abcdefghi{c}j"),
                    format!("{c}"),
                ]
            })
            .collect();
        cases.push("C:\\Windows\\System32\\cmd.exe /c \"echo\"\u{e9}\u{1f600}".to_owned());
        cases.push(String::new());
        cases.push("x".repeat(17) + "\n");
        for case in cases {
            let mut out = Vec::new();
            write_str(&mut out, &case);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                serde_json::to_string(&case).unwrap()
            );
        }
    }

    #[test]
    fn direct_writers_render_like_the_json_tree() {
        let mut d = crate::Decoder::new(crate::Origin::new(
            crate::TenantId::new("t").unwrap(),
            crate::Source::new(crate::SourceKind::File, "f"),
        ));
        let e = d
            .decode_json(bytes::Bytes::from_static(
                br#"{"a":"x\"y\n\u0001\u001f\t\\\u00e9\b\f\r","n":1.50,"i":-120,"z0":0,"e":1e3,"m":-0,"big":123456789012345678901234567890,"t":true,"z":null,"arr":[1,"b",[false]]}"#,
            ))
            .unwrap();
        let mut out = Vec::new();
        let mut keys = JsonKeys::default();
        write_fields(&mut out, &e, &mut keys);
        // A second rendering reads the keys from the cache.
        let mut again = Vec::new();
        write_fields(&mut again, &e, &mut keys);
        assert_eq!(again, out);
        let tree: Map<String, Json> = e
            .fields
            .iter()
            .map(|(id, v)| (id.name().to_owned(), value(v)))
            .collect();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            Json::Object(tree).to_string()
        );
    }
}
