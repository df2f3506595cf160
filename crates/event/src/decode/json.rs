//! JSON: single objects, NDJSON, concatenated objects and arrays of objects.
//!
//! Parsing uses sonic-rs's lazy iterators, which hand back each value's raw text: numbers keep
//! the text they were written with, and nothing is built but our [`Fields`].
//!
//! Flattening rules:
//! - nested objects become dotted paths (`{"process":{"pid":4}}` → `process.pid`), so flat
//!   ECS-style JSON and nested JSON give the same names;
//! - arrays of scalars stay arrays; an object or array inside an array is kept as its JSON
//!   text (searchable, nothing lost);
//! - an empty object is stored as `null` under its path;
//! - the evtx JSON rendering (`{"Event":{"System":…,"EventData":…}}`, as written by
//!   evtx_dump and by [`super::evtx`]) is recognised and flattened to the names Sigma rules
//!   use: see [`super::evtx`] for those rules.

use bytes::Bytes;
use sonic_rs::{JsonContainerTrait, JsonValueTrait, Value};

use super::{Decoder, Facts, MAX_DEPTH, MAX_EVENT_BYTES, known};
use crate::error::DecodeError;
use crate::event::{Event, Format};
use crate::field::FieldId;
use crate::fields::{Fields, Scalar};
use crate::time::{Timestamp, parse_rfc3339};

/// Fields tried, in order, for the event time of generic JSON.
pub(crate) const TIME_FIELDS: &[&str] = &[
    "@timestamp",
    "timestamp",
    "time",
    "event.created",
    "EventTime",
    "TimeCreated",
    "ts",
    "date",
];

/// Fields tried, in order, for the host of generic JSON.
pub(crate) const HOST_FIELDS: &[&str] = &[
    "Computer",
    "host.name",
    "host.hostname",
    "hostname",
    "host",
    "HostName",
    "computer_name",
];

/// How the walker names what it finds.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Naming {
    /// Dotted paths.
    Plain,
    /// evtx's XML-as-JSON: `#text` is the element's own value and `#attributes` children
    /// are named `element_attribute`; element names lose their spaces.
    Xml,
}

struct Walk<'a> {
    decoder: &'a mut Decoder,
    fields: Fields,
    format: Format,
    path: String,
}

impl Decoder {
    /// Decodes one JSON object (surrounding whitespace allowed).
    pub fn decode_json(&mut self, input: Bytes) -> Result<Event, DecodeError> {
        let (fields, facts) = self.json_fields(&input, Format::Json)?;
        Ok(self.finish(Format::Json, fields, input, &facts))
    }

    /// Flattens a JSON object into fields and finds the time, host and classification facts.
    pub(crate) fn json_fields(
        &mut self,
        input: &[u8],
        format: Format,
    ) -> Result<(Fields, Facts), DecodeError> {
        if input.len() > MAX_EVENT_BYTES {
            return Err(DecodeError::TooLarge {
                format,
                len: input.len(),
                limit: MAX_EVENT_BYTES,
            });
        }
        let start = input
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(input.len());
        if input.get(start) != Some(&b'{') {
            return Err(DecodeError::syntax(format, input, start, "a JSON object"));
        }
        if let Err(e) = std::str::from_utf8(input) {
            return Err(DecodeError::syntax(
                format,
                input,
                e.valid_up_to(),
                "UTF-8 text",
            ));
        }
        let mut parser = sonic_rs::Deserializer::from_slice(input).use_rawnumber();
        let root: Value = parser
            .deserialize()
            .and_then(|v| parser.end().map(|()| v))
            .map_err(|e| json_error(format, input, &e))?;
        let mut walk = Walk {
            decoder: self,
            fields: Fields::with_capacity(32, input.len() / 2),
            format,
            path: String::new(),
        };
        let evtx_shape = walk.top(&root)?;
        let fields = walk.fields;
        let k = known();
        let mut facts = Facts::default();
        if evtx_shape || fields.get(k.channel).is_some() {
            facts.channel = Some(k.channel);
            facts.provider = Some(k.provider_name);
            facts.event_id = Some(k.event_id);
        }
        if evtx_shape {
            facts.class_format = Some(Format::Evtx);
            facts.host = Some(k.computer);
            facts.time = fields
                .get(k.system_time)
                .and_then(|v| v.as_text())
                .and_then(|t| parse_rfc3339(t, self.origin.default_offset).ok());
        } else {
            facts.host = k
                .json_host
                .iter()
                .copied()
                .find(|id| fields.get(*id).and_then(|v| v.as_text()).is_some());
            facts.time = k
                .json_time
                .iter()
                .find_map(|id| json_time(&fields, *id, self.origin.default_offset));
        }
        Ok((fields, facts))
    }
}

/// The time in field `id`: RFC 3339 text, or a number of seconds, milliseconds,
/// microseconds or nanoseconds since the epoch (told apart by magnitude).
fn json_time(
    fields: &Fields,
    id: FieldId,
    default_offset: crate::time::UtcOffset,
) -> Option<(Timestamp, Option<crate::time::UtcOffset>)> {
    let value = fields.get(id)?;
    if let Some(n) = value.as_number() {
        return epoch_nanos(n.text()).map(|ns| (Timestamp::from_nanos(ns), None));
    }
    let text = value.as_str()?;
    let (ts, offset) = parse_rfc3339(text.trim(), default_offset).ok()?;
    Some((ts, offset))
}

/// Nanoseconds from a decimal epoch number in seconds, milliseconds, microseconds or
/// nanoseconds (told apart by the magnitude of the integer part), computed from the digits
/// so that `1767225600.25` is exact. Exponents and negative times are not epoch times.
fn epoch_nanos(text: &str) -> Option<i64> {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let int_value: i64 = int.parse().ok()?;
    let scale: u32 = match int_value {
        0..100_000_000_000 => 9,
        100_000_000_000..100_000_000_000_000 => 6,
        100_000_000_000_000..100_000_000_000_000_000 => 3,
        _ => 0,
    };
    let mut nanos = int_value.checked_mul(10i64.pow(scale))?;
    let mut unit = 10i64.pow(scale);
    for digit in frac.bytes().take(scale as usize) {
        unit /= 10;
        nanos = nanos.checked_add(i64::from(digit - b'0') * unit)?;
    }
    Some(nanos)
}

/// A decode error from a sonic-rs error, at the byte it points to.
fn json_error(format: Format, input: &[u8], err: &sonic_rs::Error) -> DecodeError {
    // sonic-rs appends the position and an excerpt after the message; we give our own.
    let text = err.to_string();
    let message = text.split(" at line ").next().unwrap_or(&text).trim();
    let expected = if message.is_empty() {
        "valid JSON".to_owned()
    } else {
        format!("valid JSON ({message})")
    };
    DecodeError::syntax(format, input, err.offset().min(input.len()), expected)
}

impl Walk<'_> {
    fn depth_check(&self, depth: usize) -> Result<(), DecodeError> {
        if depth > MAX_DEPTH {
            return Err(DecodeError::TooDeep {
                format: self.format,
                offset: 0,
                limit: MAX_DEPTH,
            });
        }
        Ok(())
    }

    /// Walks the top-level object; returns whether it had the evtx shape.
    fn top(&mut self, root: &Value) -> Result<bool, DecodeError> {
        let Some(object) = root.as_object() else {
            return Err(DecodeError::syntax(self.format, b"", 0, "a JSON object"));
        };
        let mut evtx_shape = false;
        for (key, value) in object.iter() {
            if key == "Event"
                && let Some(event) = value.as_object()
                && event.get(&"System").is_some()
            {
                evtx_shape = true;
                self.evtx_event(event)?;
                continue;
            }
            self.member(key, value, Naming::Plain, 1)?;
        }
        Ok(evtx_shape)
    }

    fn evtx_event(&mut self, event: &sonic_rs::Object) -> Result<(), DecodeError> {
        for (key, value) in event.iter() {
            match key {
                // The XML namespace of <Event>: markup, not data (the raw record keeps it).
                "#attributes" => {}
                "System" => self.section(value, "", false)?,
                "EventData" => self.section(value, "EventData", true)?,
                "UserData" => match value.as_object() {
                    // UserData holds one vendor element (<LogFileCleared>, <EventXML>, …)
                    // whose children are the fields rules name.
                    Some(user) => {
                        for (_, inner) in user.iter() {
                            self.section(inner, "UserData", true)?;
                        }
                    }
                    None => self.member("UserData", value, Naming::Xml, 2)?,
                },
                other => self.member(other, value, Naming::Xml, 2)?,
            }
        }
        Ok(())
    }

    /// Flattens one evtx section with bare names. Data names that collide with a name
    /// already set (a System field) are kept under `section.name` instead.
    fn section(&mut self, value: &Value, section: &str, data: bool) -> Result<(), DecodeError> {
        let Some(object) = value.as_object() else {
            return self.member(section, value, Naming::Xml, 2);
        };
        for (key, child) in object.iter() {
            if key == "#attributes" {
                // Attributes of the section element itself (an xmlns, a Name): markup.
                continue;
            }
            if key == "#text" {
                self.member(section, child, Naming::Xml, 3)?;
                continue;
            }
            let name = strip_spaces(key);
            let collides = data
                && self
                    .decoder
                    .intern(&name)
                    .is_ok_and(|id| self.fields.get(id).is_some());
            if collides {
                let qualified = format!("{section}.{name}");
                self.member(&qualified, child, Naming::Xml, 3)?;
            } else {
                self.member(&name, child, Naming::Xml, 3)?;
            }
        }
        Ok(())
    }

    /// Stores `value` under `path` + `key`, flattening objects.
    fn member(
        &mut self,
        key: &str,
        value: &Value,
        naming: Naming,
        depth: usize,
    ) -> Result<(), DecodeError> {
        let saved = self.path.len();
        if !self.path.is_empty() {
            self.path.push('.');
        }
        self.path.push_str(key);
        let result = self.value_at_path(value, naming, depth);
        self.path.truncate(saved);
        result
    }

    fn value_at_path(
        &mut self,
        value: &Value,
        naming: Naming,
        depth: usize,
    ) -> Result<(), DecodeError> {
        self.depth_check(depth)?;
        if let Some(object) = value.as_object() {
            if object.is_empty() {
                return self.store(Scalar::Null);
            }
            for (key, child) in object.iter() {
                match (naming, key) {
                    (Naming::Xml, "#text") => self.value_at_path(child, naming, depth + 1)?,
                    (Naming::Xml, "#attributes") if child.is_object() => {
                        for (attr, attr_value) in
                            child.as_object().into_iter().flat_map(|o| o.iter())
                        {
                            let saved = self.path.len();
                            self.path.push('_');
                            self.path.push_str(&strip_spaces(attr));
                            let r = self.value_at_path(attr_value, naming, depth + 2);
                            self.path.truncate(saved);
                            r?;
                        }
                    }
                    (Naming::Xml, _) => {
                        self.member(&strip_spaces(key), child, naming, depth + 1)?
                    }
                    (Naming::Plain, _) => self.member(key, child, naming, depth + 1)?,
                }
            }
            return Ok(());
        }
        if let Some(array) = value.as_array() {
            // Objects and arrays inside arrays are kept as their compact JSON text.
            // Numbers are kept by their raw text too (sonic-rs hands it out owned).
            let texts: Vec<Option<String>> = array
                .iter()
                .map(|v| {
                    if v.is_object() || v.is_array() {
                        Some(sonic_rs::to_string(v).unwrap_or_default())
                    } else {
                        v.as_raw_number().map(|n| n.as_str().to_owned())
                    }
                })
                .collect();
            let scalars: Vec<Scalar<'_>> = array
                .iter()
                .zip(&texts)
                .map(|(v, text)| match (text, v.is_number()) {
                    (Some(t), true) => Scalar::Num(t),
                    (Some(t), false) => Scalar::Str(t),
                    (None, _) => scalar(v),
                })
                .collect();
            let id = self.field_id()?;
            let format = self.format;
            return self
                .fields
                .push_array(id, scalars)
                .map_err(|source| DecodeError::Field {
                    format,
                    offset: 0,
                    source,
                });
        }
        if value.is_number() {
            let raw = value.as_raw_number();
            return self.store(
                raw.as_ref()
                    .map_or(Scalar::Null, |n| Scalar::Num(n.as_str())),
            );
        }
        self.store(scalar(value))
    }

    fn field_id(&mut self) -> Result<FieldId, DecodeError> {
        let path = if self.path.is_empty() {
            "_"
        } else {
            &self.path
        };
        self.decoder.intern(path).map_err(|e| DecodeError::Field {
            format: self.format,
            offset: 0,
            source: e.into(),
        })
    }

    fn store(&mut self, value: Scalar<'_>) -> Result<(), DecodeError> {
        let id = self.field_id()?;
        self.fields
            .insert(id, value)
            .map_err(|source| DecodeError::Field {
                format: self.format,
                offset: 0,
                source,
            })
    }
}

/// A scalar view of a string, boolean or null JSON value (numbers, objects and arrays are
/// handled by the walker).
fn scalar(value: &Value) -> Scalar<'_> {
    if let Some(s) = value.as_str() {
        Scalar::Str(s)
    } else if let Some(b) = value.as_bool() {
        Scalar::Bool(b)
    } else {
        Scalar::Null
    }
}

/// Field names from EVTX lose their whitespace: Defender's `Threat Name` becomes
/// `ThreatName`, the name Sigma rules use.
pub(crate) fn strip_spaces(name: &str) -> std::borrow::Cow<'_, str> {
    if name.bytes().any(|b| b.is_ascii_whitespace()) {
        name.chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .into()
    } else {
        name.into()
    }
}

/// Splits a buffer of JSON events into one slice per top-level object: NDJSON, objects
/// concatenated with any whitespace between them (as evtx_dump writes), or one top-level
/// array of objects.
///
/// Yields `(offset, bytes)` pairs, or an error at the offset where a value could not be
/// delimited (after which iteration stops). The slices are not validated here: decode each
/// with [`Decoder::decode_json`].
#[derive(Debug)]
pub struct JsonSplitter {
    input: Bytes,
    pos: usize,
    state: SplitState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SplitState {
    Start,
    Objects,
    ArrayFirst,
    ArrayNext,
    Done,
}

impl JsonSplitter {
    /// Splits `input`.
    pub fn new(input: Bytes) -> JsonSplitter {
        JsonSplitter {
            input,
            pos: 0,
            state: SplitState::Start,
        }
    }

    fn skip_ws(&mut self) {
        while self
            .input
            .get(self.pos)
            .is_some_and(|b| b.is_ascii_whitespace())
        {
            self.pos += 1;
        }
    }

    fn fail(
        &mut self,
        at: usize,
        expected: &'static str,
    ) -> Option<Result<(usize, Bytes), DecodeError>> {
        self.state = SplitState::Done;
        Some(Err(DecodeError::syntax(
            Format::Json,
            &self.input,
            at,
            expected,
        )))
    }
}

/// The end (exclusive) of the object starting at `start`, or the offset where the input
/// ended inside it.
///
/// Only braces and strings matter for finding the end of an object (brackets inside it are
/// validated later, by the parser), so the scan jumps from one `"`, `{` or `}` to the next.
fn value_end(b: &[u8], start: usize) -> Result<usize, usize> {
    let mut depth = 0usize;
    let mut i = start;
    while let Some(j) = memchr::memchr3(b'"', b'{', b'}', b.get(i..).unwrap_or_default()) {
        i += j;
        match b[i] {
            b'"' => {
                i += 1;
                loop {
                    let rest = b.get(i..).unwrap_or_default();
                    match memchr::memchr2(b'"', b'\\', rest) {
                        None => return Err(b.len()),
                        Some(j) if rest[j] == b'\\' => i += j + 2,
                        Some(j) => {
                            i += j + 1;
                            break;
                        }
                    }
                }
            }
            b'{' => {
                depth += 1;
                i += 1;
            }
            _ => {
                depth = depth.saturating_sub(1);
                i += 1;
                if depth == 0 {
                    return Ok(i);
                }
            }
        }
    }
    Err(b.len())
}

impl Iterator for JsonSplitter {
    type Item = Result<(usize, Bytes), DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.skip_ws();
        match self.state {
            SplitState::Done => return None,
            SplitState::Start => {
                if self.input.get(self.pos) == Some(&b'[') {
                    self.pos += 1;
                    self.skip_ws();
                    self.state = SplitState::ArrayFirst;
                    if self.input.get(self.pos) == Some(&b']') {
                        self.pos += 1;
                        return self.after_array();
                    }
                } else {
                    self.state = SplitState::Objects;
                }
            }
            SplitState::ArrayNext => match self.input.get(self.pos) {
                Some(b',') => {
                    self.pos += 1;
                    self.skip_ws();
                }
                Some(b']') => {
                    self.pos += 1;
                    return self.after_array();
                }
                None => return self.fail(self.pos, "']' closing the array"),
                Some(_) => return self.fail(self.pos, "',' or ']' between array elements"),
            },
            SplitState::Objects | SplitState::ArrayFirst => {}
        }
        let start = self.pos;
        match self.input.get(start) {
            None if self.state == SplitState::Objects => {
                self.state = SplitState::Done;
                None
            }
            None => self.fail(start, "']' closing the array"),
            Some(b'{') => match value_end(&self.input, start) {
                Ok(end) => {
                    self.pos = end;
                    if self.state == SplitState::ArrayFirst {
                        self.state = SplitState::ArrayNext;
                    }
                    Some(Ok((start, self.input.slice(start..end))))
                }
                Err(at) => self.fail(at, "the end of the JSON object"),
            },
            Some(_) => self.fail(start, "a JSON object"),
        }
    }
}

impl JsonSplitter {
    fn after_array(&mut self) -> Option<Result<(usize, Bytes), DecodeError>> {
        self.skip_ws();
        if self.pos < self.input.len() {
            return self.fail(self.pos, "the end of input after the array");
        }
        self.state = SplitState::Done;
        None
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::decode::tests::decoder;
    use crate::fields::Value;

    fn decode(json: &str) -> Event {
        decoder()
            .decode_json(Bytes::copy_from_slice(json.as_bytes()))
            .unwrap()
    }

    fn text<'e>(e: &'e Event, name: &str) -> Option<&'e str> {
        e.fields.get_by_name(name)?.as_text()
    }

    #[test]
    fn nested_and_flat_give_the_same_names() {
        let nested = decode(r#"{"process":{"pid":4,"name":"x"},"host":{"name":"h1"}}"#);
        let flat = decode(r#"{"process.pid":4,"process.name":"x","host.name":"h1"}"#);
        assert_eq!(nested.fields, flat.fields);
        assert_eq!(text(&nested, "process.pid"), Some("4"));
        assert_eq!(nested.host.as_deref(), Some("h1"));
    }

    #[test]
    fn scalars_arrays_and_escapes() {
        let e = decode(
            r#"{"s":"a\"b\\c\u00e9","n":-1.50e3,"t":true,"z":null,"a":[1,"x",{"k":1},[2]],"o":{}}"#,
        );
        assert_eq!(text(&e, "s"), Some("a\"b\\cé"));
        assert_eq!(text(&e, "n"), Some("-1.50e3"));
        assert_eq!(e.fields.get_by_name("t"), Some(Value::Bool(true)));
        assert_eq!(e.fields.get_by_name("z"), Some(Value::Null));
        assert_eq!(e.fields.get_by_name("o"), Some(Value::Null));
        let Some(Value::Array(a)) = e.fields.get_by_name("a") else {
            panic!("array expected")
        };
        let items: Vec<_> = a.iter().map(|v| v.as_text().unwrap().to_owned()).collect();
        assert_eq!(items, ["1", "x", r#"{"k":1}"#, "[2]"]);
    }

    #[test]
    fn time_fields() {
        let e = decode(r#"{"@timestamp":"2026-01-02T03:04:05.5+01:00","msg":"x"}"#);
        assert_eq!(e.time.to_string(), "2026-01-02T02:04:05.5Z");
        assert_eq!(e.time_offset.seconds(), 3600);
        let e = decode(r#"{"ts":1767225600.25}"#);
        assert_eq!(e.time.to_string(), "2026-01-01T00:00:00.25Z");
        let e = decode(r#"{"timestamp":1767225600000}"#);
        assert_eq!(e.time.to_string(), "2026-01-01T00:00:00Z");
        let e = decode(r#"{"msg":"no time"}"#);
        assert_eq!(e.time, e.received);
    }

    #[test]
    fn evtx_shape_is_flattened_to_sigma_names() {
        let e = decode(
            r##"{"Event":{"#attributes":{"xmlns":"x"},"System":{"Provider":{"#attributes":{"Name":"Microsoft-Windows-Sysmon","Guid":"G"}},"EventID":{"#attributes":{"Qualifiers":16384},"#text":1},"TimeCreated":{"#attributes":{"SystemTime":"2026-04-17T05:24:53.092051Z"}},"Channel":"Microsoft-Windows-Sysmon/Operational","Computer":"pc1","Correlation":null},"EventData":{"Image":"C:\\a.exe","Threat Name":"Evil","Channel":"dup","Data":["u","v"]}}}"##,
        );
        assert_eq!(text(&e, "Provider_Name"), Some("Microsoft-Windows-Sysmon"));
        assert_eq!(text(&e, "EventID"), Some("1"));
        assert_eq!(text(&e, "EventID_Qualifiers"), Some("16384"));
        assert_eq!(text(&e, "Image"), Some("C:\\a.exe"));
        assert_eq!(text(&e, "ThreatName"), Some("Evil"));
        assert_eq!(
            text(&e, "Channel"),
            Some("Microsoft-Windows-Sysmon/Operational")
        );
        assert_eq!(text(&e, "EventData.Channel"), Some("dup"));
        assert_eq!(e.fields.get_by_name("Correlation"), Some(Value::Null));
        assert!(e.fields.get_by_name("xmlns").is_none());
        assert_eq!(e.host.as_deref(), Some("pc1"));
        assert_eq!(e.time.to_string(), "2026-04-17T05:24:53.092051Z");
        assert!(
            e.logsource
                .matches(Some("windows"), Some("process_creation"), Some("sysmon"))
        );
    }

    #[test]
    fn user_data_children_are_top_level() {
        let e = decode(
            r##"{"Event":{"System":{"Channel":"Security","EventID":1102},"UserData":{"LogFileCleared":{"#attributes":{"xmlns":"n"},"SubjectUserName":"bob","Nested":{"Deep":"x"}}}}}"##,
        );
        assert_eq!(text(&e, "SubjectUserName"), Some("bob"));
        assert_eq!(text(&e, "Nested.Deep"), Some("x"));
        assert!(e.logsource.matches(Some("windows"), None, Some("security")));
    }

    #[test]
    fn errors_name_the_position() {
        let mut d = decoder();
        let err = d.decode_json(Bytes::from_static(b"  [1]")).unwrap_err();
        assert_eq!(err.offset(), Some(2));
        let err = d
            .decode_json(Bytes::from_static(br#"{"a": tru}"#))
            .unwrap_err();
        assert!(err.offset().unwrap() >= 5, "{err}");
        let err = d
            .decode_json(Bytes::from_static(br#"{"a": {"b": 01}}"#))
            .unwrap_err();
        assert!(err.to_string().contains("json"), "{err}");
        let deep = format!("{}1{}", "{\"a\":".repeat(200), "}".repeat(200));
        let err = d.decode_json(Bytes::from(deep)).unwrap_err();
        assert!(matches!(err, DecodeError::TooDeep { .. }), "{err}");
        assert!(
            d.decode_json(Bytes::from_static(b"{\"a\":\"\xff\"}"))
                .is_err()
        );
        assert!(d.decode_json(Bytes::from_static(b"")).is_err());
        assert!(d.decode_json(Bytes::from_static(b"{}")).is_ok());
    }

    /// Random JSON objects: nested objects, scalar arrays, strings with escapes, numbers in
    /// several spellings.
    fn arb_json() -> impl Strategy<Value = serde_json::Value> {
        use serde_json::Value as J;
        let leaf = prop_oneof![
            Just(J::Null),
            any::<bool>().prop_map(J::Bool),
            any::<i64>().prop_map(|n| J::Number(n.into())),
            (-1e9f64..1e9).prop_map(|f| serde_json::Number::from_f64(f).map_or(J::Null, J::Number)),
            "[ -~\\n\\t\u{e9}\u{1F600}]{0,12}".prop_map(J::String),
        ];
        let scalars = prop::collection::vec(leaf.clone(), 0..4).prop_map(J::Array);
        let value = leaf.prop_recursive(4, 32, 6, move |inner| {
            prop_oneof![
                prop::collection::btree_map("[a-z]{1,6}", inner, 1..5)
                    .prop_map(|m| J::Object(m.into_iter().collect())),
                scalars.clone(),
            ]
        });
        prop::collection::btree_map("[a-z]{1,6}", value, 0..6)
            .prop_map(|m| J::Object(m.into_iter().collect()))
    }

    /// The documented flattening, computed independently with serde_json.
    fn flatten(prefix: &str, v: &serde_json::Value, out: &mut Vec<(String, Option<String>)>) {
        use serde_json::Value as J;
        match v {
            J::Object(m) if m.is_empty() => out.push((prefix.to_owned(), None)),
            J::Object(m) => {
                for (k, v) in m {
                    let path = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    flatten(&path, v, out);
                }
            }
            J::Array(_) => out.push((prefix.to_owned(), Some("<array>".to_owned()))),
            J::Null => out.push((prefix.to_owned(), None)),
            J::Bool(b) => out.push((prefix.to_owned(), Some(b.to_string()))),
            J::Number(n) => out.push((prefix.to_owned(), Some(n.to_string()))),
            J::String(s) => out.push((prefix.to_owned(), Some(s.clone()))),
        }
    }

    proptest! {
        #[test]
        fn flattening_round_trip(doc in arb_json()) {
            let text = serde_json::to_string(&doc).unwrap();
            let e = decoder().decode_json(Bytes::from(text)).unwrap();
            let mut want = Vec::new();
            for (k, v) in doc.as_object().unwrap() {
                flatten(k, v, &mut want);
            }
            // Distinct paths can collide ("a.b" as a key and a→b as nesting); the last wins.
            let mut expected = std::collections::BTreeMap::new();
            for (k, v) in want {
                expected.insert(k, v);
            }
            prop_assert_eq!(e.fields.len(), expected.len());
            for (path, value) in expected {
                let got = e.fields.get_by_name(&path);
                prop_assert!(got.is_some(), "missing {}", path);
                let got = got.unwrap();
                match value.as_deref() {
                    Some("<array>") => prop_assert!(matches!(got, Value::Array(_))),
                    Some(text) => prop_assert_eq!(got.as_text(), Some(text), "at {}", path),
                    None => prop_assert!(got.is_null()),
                }
            }
        }
    }

    fn split(input: &str) -> Vec<Result<String, usize>> {
        JsonSplitter::new(Bytes::copy_from_slice(input.as_bytes()))
            .map(|r| {
                r.map(|(_, b)| String::from_utf8(b.to_vec()).unwrap())
                    .map_err(|e| e.offset().unwrap())
            })
            .collect()
    }

    #[test]
    fn splitting_streams() {
        assert_eq!(
            split("{\"a\":1}\n{\"b\":\"}\"}\n"),
            [Ok("{\"a\":1}".into()), Ok("{\"b\":\"}\"}".into())]
        );
        assert_eq!(
            split("{\n \"a\": {}\n}{\"b\":\"\\\"\"}"),
            [Ok("{\n \"a\": {}\n}".into()), Ok("{\"b\":\"\\\"\"}".into())]
        );
        assert_eq!(
            split(" [ {\"a\":1} , {\"b\":2} ] "),
            [Ok("{\"a\":1}".into()), Ok("{\"b\":2}".into())]
        );
        assert_eq!(split("[]"), []);
        assert_eq!(split(""), []);
        assert_eq!(split("{\"a\":1} x"), [Ok("{\"a\":1}".into()), Err(8)]);
        assert_eq!(split("{\"a\":1"), [Err(6)]);
        // Found by fuzzing: a backslash as the very last byte inside a string.
        assert_eq!(split("{\"a\\"), [Err(4)]);
        assert_eq!(
            split("[{\"a\":1} {\"b\":1}]"),
            [Ok("{\"a\":1}".into()), Err(9)]
        );
    }
}
