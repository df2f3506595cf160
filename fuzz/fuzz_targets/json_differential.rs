#![no_main]
//! Our JSON decoder against serde_json: the same inputs are accepted and rejected (RFC 8259
//! strictness), and an accepted plain object flattens to exactly the fields the documented
//! rules give (dotted paths, scalar arrays, nested containers in arrays as JSON, empty
//! objects as null, last value wins).
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use serde_json::Value as J;
use vigie_event::{EventError, Value};

mod common;

/// The documented flattening of one member.
fn flatten(path: &str, v: &J, out: &mut Vec<(String, Expect)>) {
    match v {
        J::Object(m) if m.is_empty() => out.push((path.to_owned(), Expect::Null)),
        J::Object(m) => {
            for (k, v) in m {
                flatten(&format!("{path}.{k}"), v, out);
            }
        }
        J::Array(items) => out.push((path.to_owned(), Expect::Array(items.len()))),
        J::Null => out.push((path.to_owned(), Expect::Null)),
        J::Bool(b) => out.push((path.to_owned(), Expect::Text(b.to_string()))),
        J::Number(n) => out.push((path.to_owned(), Expect::Num(n.to_string()))),
        J::String(s) => out.push((path.to_owned(), Expect::Text(s.clone()))),
    }
}

#[derive(Debug)]
enum Expect {
    Null,
    Text(String),
    /// serde_json's text of a number (it rewrites exponents: `8e8` becomes `8e+8`).
    Num(String),
    Array(usize),
}

impl PartialEq for Expect {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Expect::Null, Expect::Null) => true,
            (Expect::Array(a), Expect::Array(b)) => a == b,
            (Expect::Text(a), Expect::Text(b)) | (Expect::Num(a), Expect::Num(b)) => a == b,
            (Expect::Text(a), Expect::Num(b)) | (Expect::Num(b), Expect::Text(a)) => {
                a == b || matches!((a.parse::<f64>(), b.parse::<f64>()), (Ok(x), Ok(y)) if x == y)
            }
            _ => false,
        }
    }
}

/// Deserializes to nothing, failing on a duplicate key at any depth (where serde_json keeps
/// the last subtree and we keep the last value per field: both fine, but not comparable).
struct NoDuplicateKeys;

impl<'de> serde::Deserialize<'de> for NoDuplicateKeys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = NoDuplicateKeys;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut seen = std::collections::HashSet::new();
                while let Some(key) = map.next_key::<String>()? {
                    if !seen.insert(key) {
                        return Err(serde::de::Error::custom("duplicate key"));
                    }
                    map.next_value::<NoDuplicateKeys>()?;
                }
                Ok(NoDuplicateKeys)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                while seq.next_element::<NoDuplicateKeys>()?.is_some() {}
                Ok(NoDuplicateKeys)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(NoDuplicateKeys)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(NoDuplicateKeys)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(NoDuplicateKeys)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(NoDuplicateKeys)
            }
            fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
                Ok(NoDuplicateKeys)
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(NoDuplicateKeys)
            }
        }
        d.deserialize_any(V)
    }
}

fuzz_target!(|data: &[u8]| {
    let ours = common::decoder().decode_json(Bytes::copy_from_slice(data));
    let theirs = serde_json::from_slice::<J>(data);
    let Ok(J::Object(root)) = theirs else {
        // serde_json rejects it, or it is not an object: so must we.
        assert!(ours.is_err(), "accepted what serde_json rejects: {data:?}");
        return;
    };
    let event = match ours {
        // Our documented limits: nesting (serde_json allows 128 levels) and field names.
        Err(EventError::TooDeep { .. } | EventError::Field { .. }) => return,
        Err(e) => panic!("rejected what serde_json accepts: {e}"),
        Ok(event) => event,
    };
    // The evtx shape and empty or odd names (which intern differently) are checked by unit
    // tests; here, plain documents only.
    let evtx = matches!(root.get("Event"), Some(J::Object(e)) if e.contains_key("System"));
    let texts = data.windows(8).any(|w| w == b"\"System\"");
    if evtx || texts && root.contains_key("Event") {
        return;
    }
    if serde_json::from_slice::<NoDuplicateKeys>(data).is_err() {
        return;
    }
    let mut want = Vec::new();
    for (k, v) in &root {
        flatten(k, v, &mut want);
    }
    if want
        .iter()
        .any(|(k, _)| k.is_empty() || k.len() > 1024 || k.split('.').any(str::is_empty))
    {
        return;
    }
    // Colliding paths: the last value wins.
    let mut expected: Vec<(String, Expect)> = Vec::new();
    for (k, v) in want {
        match expected.iter_mut().find(|(e, _)| *e == k) {
            Some(slot) => slot.1 = v,
            None => expected.push((k, v)),
        }
    }
    assert_eq!(event.fields.len(), expected.len(), "{:?}", event.fields);
    for (path, want) in expected {
        let got = event
            .fields
            .get_by_name(&path)
            .unwrap_or_else(|| panic!("missing {path}"));
        let got = match got {
            Value::Null => Expect::Null,
            Value::Array(a) => Expect::Array(a.len()),
            other => Expect::Text(other.as_text().unwrap_or_default().to_owned()),
        };
        assert_eq!(got, want, "at {path}");
    }
});
