//! JSON: single objects, NDJSON, concatenated objects and arrays of objects.
//!
//! Parsing is our own single pass from bytes to [`Fields`]: no document tree is built, numbers
//! keep the text they were written with, strings without escapes are copied once (into the
//! event's arena), and a syntax error names its exact byte. We measured sonic-rs first (its
//! DOM, then its lazy iterators): parsing was fast, but walking the tree and copying out of it
//! cost four times the parse, about 10 µs for a Sysmon record; this decoder does both in one
//! pass. Its strictness is RFC 8259's (as serde_json's), which a differential fuzz target
//! checks (`fuzz/fuzz_targets/json_differential.rs`).
//!
//! Flattening rules:
//! - nested objects become dotted paths (`{"process":{"pid":4}}` → `process.pid`), so flat
//!   ECS-style JSON and nested JSON give the same names;
//! - arrays of scalars stay arrays; an object or array inside an array is kept as its JSON
//!   text (searchable, nothing lost);
//! - an empty object is stored as `null` under its path;
//! - duplicate keys and colliding paths: the last value wins, at the first one's position;
//! - the evtx JSON rendering (`{"Event":{"System":…,"EventData":…}}`, as written by
//!   evtx_dump and by [`super::evtx`]) is recognised and flattened to the names Sigma rules
//!   use: see [`super::evtx`] for those rules.

use bytes::Bytes;

use super::{Decoder, Facts, MAX_DEPTH, MAX_EVENT_BYTES, known};
use crate::error::EventError;
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
    "TimeCreated_SystemTime",
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

/// How the parser names what it finds.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Naming {
    /// Dotted paths.
    Plain,
    /// evtx's XML-as-JSON: `#text` is the element's own value and `#attributes` children
    /// are named `element_attribute`; element names lose their spaces.
    Xml,
}

/// An array element waiting to be stored: where its text is, and what it is.
#[derive(Clone, Copy)]
enum Element {
    Null,
    Bool(bool),
    /// A number, by its range in the input.
    Num(usize, usize),
    /// A string without escapes, or an object/array kept as JSON text, by input range.
    Raw(usize, usize),
    /// An unescaped string, by its range in the parser's element buffer.
    Owned(usize, usize),
}

/// Buffers a decoder keeps between JSON events so that parsing does not allocate them anew.
#[derive(Debug, Default)]
pub(crate) struct JsonBuffers {
    path: String,
    scratch: String,
    element_text: String,
}

/// A key just read: its raw range, and whether it had escapes (its text is then in
/// `Parser::scratch`).
#[derive(Clone, Copy)]
struct Key {
    start: usize,
    end: usize,
    escaped: bool,
}

struct Parser<'a> {
    decoder: &'a mut Decoder,
    /// The whole input, validated as UTF-8.
    text: &'a str,
    b: &'a [u8],
    i: usize,
    fields: Fields,
    format: Format,
    /// The dotted path of the value being parsed.
    path: String,
    /// Unescaped text of the current key or string.
    scratch: String,
    /// Unescaped text of array elements.
    element_text: String,
    /// The id of `path`, when already interned for the scalar about to be stored.
    path_id: Option<FieldId>,
}

impl Decoder {
    /// Decodes one JSON object (surrounding whitespace allowed).
    pub fn decode_json(&mut self, input: Bytes) -> Result<Event, EventError> {
        let (fields, facts) = self.json_fields(&input, Format::Json)?;
        Ok(self.finish(Format::Json, fields, input, &facts))
    }

    /// Flattens a JSON object into fields and finds the time, host and classification facts.
    pub(crate) fn json_fields(
        &mut self,
        input: &[u8],
        format: Format,
    ) -> Result<(Fields, Facts), EventError> {
        if input.len() > MAX_EVENT_BYTES {
            return Err(EventError::TooLarge {
                format,
                len: input.len(),
                limit: MAX_EVENT_BYTES,
            });
        }
        let text = match std::str::from_utf8(input) {
            Ok(text) => text,
            Err(e) => {
                return Err(EventError::syntax(
                    format,
                    input,
                    e.valid_up_to(),
                    "UTF-8 text",
                ));
            }
        };
        // The evtx shape needs a top-level "Event" object holding "System"; only then is the
        // evtx naming used, and a document that only looked like one is parsed again plainly.
        let mut parsed = None;
        let maybe_evtx =
            format == Format::Evtx || memchr::memmem::find(input, b"\"System\"").is_some();
        if maybe_evtx {
            let mut parser = Parser::new(self, text, format);
            let is_evtx = parser.document(true);
            let fields = parser.finish();
            if is_evtx? {
                parsed = Some(fields);
            }
        }
        let evtx_shape = parsed.is_some();
        let fields = match parsed {
            Some(fields) => fields,
            None => {
                let mut parser = Parser::new(self, text, format);
                let result = parser.document(false);
                let fields = parser.finish();
                result?;
                fields
            }
        };

        if evtx_shape {
            let facts = self.evtx_facts(&fields);
            return Ok((fields, facts));
        }
        let k = known();
        let mut facts = Facts::default();
        if fields.get(k.channel).is_some() {
            facts.channel = Some(k.channel);
            facts.provider = Some(k.provider_name);
            facts.event_id = Some(k.event_id);
        }
        facts.host = k
            .json_host
            .iter()
            .copied()
            .find(|id| fields.get(*id).and_then(|v| v.as_text()).is_some());
        facts.time = k
            .json_time
            .iter()
            .find_map(|id| json_time(&fields, *id, self.origin.default_offset));
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

impl<'a> Parser<'a> {
    fn new(decoder: &'a mut Decoder, text: &'a str, format: Format) -> Parser<'a> {
        let JsonBuffers {
            mut path,
            scratch,
            element_text,
        } = std::mem::take(&mut decoder.json_buffers);
        path.clear();
        Parser {
            decoder,
            text,
            b: text.as_bytes(),
            i: 0,
            fields: Fields::with_capacity(48, text.len() / 2),
            format,
            path,
            scratch,
            element_text,
            path_id: None,
        }
    }

    /// The fields parsed; the buffers go back to the decoder.
    fn finish(self) -> Fields {
        self.decoder.json_buffers = JsonBuffers {
            path: self.path,
            scratch: self.scratch,
            element_text: self.element_text,
        };
        self.fields
    }

    fn err(&self, expected: &'static str) -> EventError {
        EventError::syntax(self.format, self.b, self.i, expected)
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.b.get(self.i).copied()
    }

    fn expect(&mut self, c: u8, expected: &'static str) -> Result<(), EventError> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.err(expected))
        }
    }

    fn depth_check(&self, depth: usize) -> Result<(), EventError> {
        if depth > MAX_DEPTH {
            return Err(EventError::TooDeep {
                format: self.format,
                offset: self.i,
                limit: MAX_DEPTH,
            });
        }
        Ok(())
    }

    /// Parses the top-level object. With `evtx`, a top-level `Event` object holding `System`
    /// is flattened by the evtx rules; returns whether that happened.
    fn document(&mut self, evtx: bool) -> Result<bool, EventError> {
        if self.peek() != Some(b'{') {
            return Err(self.err("a JSON object"));
        }
        let mut evtx_shape = false;
        self.each_member(|p, key| {
            if evtx && p.key_text(key) == "Event" && p.peek() == Some(b'{') {
                evtx_shape |= p.evtx_event()?;
                Ok(())
            } else {
                p.push_key(key, '.', Naming::Plain);
                p.value(Naming::Plain, 1)
            }
        })?;
        self.skip_ws();
        if self.i != self.b.len() {
            return Err(self.err("the end of input after the object"));
        }
        Ok(evtx_shape)
    }

    /// Parses `{ "key": value, … }`: reads each key and the `:` after it, then lets
    /// `on_member` parse the value; the path is restored after each member, so the callback
    /// may extend it freely. Returns the number of members.
    fn each_member(
        &mut self,
        mut on_member: impl FnMut(&mut Self, Key) -> Result<(), EventError>,
    ) -> Result<usize, EventError> {
        self.expect(b'{', "'{'")?;
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(0);
        }
        let mut count = 0;
        loop {
            if self.peek() != Some(b'"') {
                return Err(self.err("a string key"));
            }
            let (start, end, escaped) = self.string()?;
            self.expect(b':', "':' after the key")?;
            let saved = self.path.len();
            let result = on_member(
                self,
                Key {
                    start,
                    end,
                    escaped,
                },
            );
            self.path.truncate(saved);
            result?;
            count += 1;
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(count);
                }
                _ => return Err(self.err("',' or '}' after an object member")),
            }
        }
    }

    /// The text of a key just read (valid until the next string is read).
    fn key_text(&self, key: Key) -> &str {
        if key.escaped {
            &self.scratch
        } else {
            &self.text[key.start..key.end]
        }
    }

    /// Appends `key` to the path after `separator` (a `.` only when the path is not empty),
    /// without whitespace for the XML naming.
    fn push_key(&mut self, key: Key, separator: char, naming: Naming) {
        if separator != '.' || !self.path.is_empty() {
            self.path.push(separator);
        }
        let text = if key.escaped {
            &self.scratch[..]
        } else {
            &self.text[key.start..key.end]
        };
        match naming {
            Naming::Plain => self.path.push_str(text),
            Naming::Xml => push_name(&mut self.path, text),
        }
    }

    /// Reads a string at `self.i` (which is a `"`). Returns the range of its raw contents and
    /// whether it had escapes, in which case its text is in `self.scratch`.
    fn string(&mut self) -> Result<(usize, usize, bool), EventError> {
        self.i += 1;
        let start = self.i;
        let mut escaped = false;
        loop {
            // Until the first escape, `self.i` stays at `start`; after it, the text from
            // `self.i` is decoded into `self.scratch`.
            let j = self.i + plain_run(&self.b[self.i..]);
            let Some(&stop) = self.b.get(j) else {
                self.i = j;
                return Err(self.err("'\"' closing the string"));
            };
            match stop {
                b'"' => {
                    if escaped {
                        self.scratch.push_str(&self.text[self.i..j]);
                    }
                    self.i = j + 1;
                    return Ok((start, j, escaped));
                }
                b'\\' => {
                    if !escaped {
                        escaped = true;
                        self.scratch.clear();
                    }
                    if self.b.get(j + 1) == Some(&b'\\') {
                        // `\\`, the escape of Windows paths: the run and one backslash in
                        // one copy.
                        self.scratch.push_str(&self.text[self.i..=j]);
                        self.i = j + 2;
                    } else {
                        self.scratch.push_str(&self.text[self.i..j]);
                        self.i = j;
                        self.escape()?;
                    }
                }
                _ => {
                    self.i = j;
                    return Err(self.err("an escaped control character inside the string"));
                }
            }
        }
    }

    /// Decodes the escape at `self.i` (a backslash) into `self.scratch`.
    fn escape(&mut self) -> Result<(), EventError> {
        self.i += 1;
        let c = match self.b.get(self.i) {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                self.i += 1;
                let high = self.hex4()?;
                let c = if (0xD800..0xDC00).contains(&high) {
                    if self.b.get(self.i..self.i + 2) != Some(b"\\u") {
                        return Err(self.err("a low surrogate escape after a high surrogate"));
                    }
                    self.i += 2;
                    let low = self.hex4()?;
                    if !(0xDC00..0xE000).contains(&low) {
                        self.i -= 4;
                        return Err(self.err("a low surrogate (\\uDC00 to \\uDFFF)"));
                    }
                    char::from_u32(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
                } else {
                    char::from_u32(high)
                };
                let Some(c) = c else {
                    self.i -= 4;
                    return Err(self.err("a high surrogate before a low surrogate"));
                };
                self.scratch.push(c);
                return Ok(());
            }
            _ => return Err(self.err("an escape (one of \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u)")),
        };
        self.scratch.push(c);
        self.i += 1;
        Ok(())
    }

    fn hex4(&mut self) -> Result<u32, EventError> {
        let mut v = 0;
        for _ in 0..4 {
            let d = match self.b.get(self.i) {
                Some(c @ b'0'..=b'9') => c - b'0',
                Some(c @ b'a'..=b'f') => c - b'a' + 10,
                Some(c @ b'A'..=b'F') => c - b'A' + 10,
                _ => return Err(self.err("four hex digits after \\u")),
            };
            v = v * 16 + u32::from(d);
            self.i += 1;
        }
        Ok(v)
    }

    /// Reads a number; returns its text range.
    fn number(&mut self) -> Result<(usize, usize), EventError> {
        let start = self.i;
        match crate::fields::json_number_len(&self.b[start..]) {
            Ok(len) => {
                self.i = start + len;
                Ok((start, self.i))
            }
            Err((at, expected)) => {
                self.i = start + at;
                Err(self.err(expected))
            }
        }
    }

    fn literal(&mut self, word: &'static [u8]) -> Result<(), EventError> {
        if self.b.get(self.i..self.i + word.len()) == Some(word) {
            self.i += word.len();
            Ok(())
        } else {
            Err(self.err("a JSON value"))
        }
    }

    fn field_id(&mut self) -> Result<FieldId, EventError> {
        if let Some(id) = self.path_id.take() {
            return Ok(id);
        }
        let path = if self.path.is_empty() {
            "_"
        } else {
            &self.path
        };
        let offset = self.i;
        self.decoder.intern(path).map_err(|e| EventError::Field {
            format: self.format,
            offset,
            source: Box::new(e),
        })
    }

    fn store(&mut self, value: Scalar<'_>) -> Result<(), EventError> {
        let offset = self.i;
        let format = self.format;
        let id = self.field_id()?;
        self.fields
            .insert(id, value)
            .map_err(|source| EventError::Field {
                format,
                offset,
                source: Box::new(source),
            })
    }

    /// Parses any value and stores it under the current path.
    fn value(&mut self, naming: Naming, depth: usize) -> Result<(), EventError> {
        self.depth_check(depth)?;
        match self.peek() {
            Some(b'{') => {
                let count = self.object(naming, depth)?;
                if count == 0 {
                    self.store(Scalar::Null)?;
                }
                Ok(())
            }
            Some(b'[') => self.array(depth),
            Some(b'"') => {
                let (start, end, escaped) = self.string()?;
                let text = self.text;
                let scratch = std::mem::take(&mut self.scratch);
                let s = if escaped {
                    &scratch[..]
                } else {
                    &text[start..end]
                };
                let result = self.store(Scalar::Str(s));
                self.scratch = scratch;
                result
            }
            Some(b'-' | b'0'..=b'9') => {
                let (start, end) = self.number()?;
                let text = self.text;
                self.store(Scalar::Num(&text[start..end]))
            }
            Some(b't') => {
                self.literal(b"true")?;
                self.store(Scalar::Bool(true))
            }
            Some(b'f') => {
                self.literal(b"false")?;
                self.store(Scalar::Bool(false))
            }
            Some(b'n') => {
                self.literal(b"null")?;
                self.store(Scalar::Null)
            }
            _ => Err(self.err("a JSON value")),
        }
    }

    /// Parses an object's members as dotted paths (or by the XML rules); returns how many
    /// members it had.
    fn object(&mut self, naming: Naming, depth: usize) -> Result<usize, EventError> {
        self.each_member(|p, key| {
            let special = match (naming, p.key_text(key)) {
                (Naming::Xml, "#text") => Some(true),
                (Naming::Xml, "#attributes") => Some(false),
                _ => None,
            };
            match special {
                // `#text` is the element's own value: same path.
                Some(true) => p.value(Naming::Xml, depth + 1),
                // `#attributes`: `{ "Name": … }` becomes `element_Name`.
                Some(false) if p.peek() == Some(b'{') => {
                    p.depth_check(depth + 1)?;
                    p.each_member(|p, attr| {
                        p.push_key(attr, '_', Naming::Xml);
                        p.value(Naming::Xml, depth + 2)
                    })
                    .map(drop)
                }
                _ => {
                    p.push_key(key, '.', naming);
                    p.value(naming, depth + 1)
                }
            }
        })
    }

    /// Skips a value (validating it); returns its text range.
    fn skip(&mut self, depth: usize) -> Result<(usize, usize), EventError> {
        self.depth_check(depth)?;
        let start = match self.peek() {
            Some(_) => self.i,
            None => return Err(self.err("a JSON value")),
        };
        match self.b[start] {
            b'{' => {
                self.each_member(|p, _| p.skip(depth + 1).map(drop))?;
            }
            b'[' => {
                self.i += 1;
                if self.peek() == Some(b']') {
                    self.i += 1;
                    return Ok((start, self.i));
                }
                loop {
                    self.skip(depth + 1)?;
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok((start, self.i));
                        }
                        _ => return Err(self.err("',' or ']' after an array element")),
                    }
                }
            }
            b'"' => {
                self.string()?;
            }
            b'-' | b'0'..=b'9' => {
                self.number()?;
            }
            b't' => self.literal(b"true")?,
            b'f' => self.literal(b"false")?,
            b'n' => self.literal(b"null")?,
            _ => return Err(self.err("a JSON value")),
        }
        Ok((start, self.i))
    }

    /// Parses an array into an array field: scalars as they are, objects and arrays inside
    /// it as their JSON text.
    fn array(&mut self, depth: usize) -> Result<(), EventError> {
        self.expect(b'[', "'['")?;
        self.element_text.clear();
        let mut elements = Vec::new();
        if self.peek() == Some(b']') {
            self.i += 1;
        } else {
            loop {
                let element = match self.peek() {
                    Some(b'{' | b'[') => {
                        let (start, end) = self.skip(depth + 1)?;
                        Element::Raw(start, end)
                    }
                    Some(b'"') => {
                        let (start, end, escaped) = self.string()?;
                        if escaped {
                            let from = self.element_text.len();
                            self.element_text.push_str(&self.scratch);
                            Element::Owned(from, self.element_text.len())
                        } else {
                            Element::Raw(start, end)
                        }
                    }
                    Some(b'-' | b'0'..=b'9') => {
                        let (start, end) = self.number()?;
                        Element::Num(start, end)
                    }
                    Some(b't') => {
                        self.literal(b"true")?;
                        Element::Bool(true)
                    }
                    Some(b'f') => {
                        self.literal(b"false")?;
                        Element::Bool(false)
                    }
                    Some(b'n') => {
                        self.literal(b"null")?;
                        Element::Null
                    }
                    _ => return Err(self.err("a JSON value")),
                };
                elements.push(element);
                match self.peek() {
                    Some(b',') => self.i += 1,
                    Some(b']') => {
                        self.i += 1;
                        break;
                    }
                    _ => return Err(self.err("',' or ']' after an array element")),
                }
            }
        }
        let text = self.text;
        let owned = std::mem::take(&mut self.element_text);
        let scalars = elements.iter().map(|e| match *e {
            Element::Null => Scalar::Null,
            Element::Bool(b) => Scalar::Bool(b),
            Element::Num(s, e) => Scalar::Num(&text[s..e]),
            Element::Raw(s, e) => Scalar::Str(&text[s..e]),
            Element::Owned(s, e) => Scalar::Str(&owned[s..e]),
        });
        let offset = self.i;
        let format = self.format;
        let result = self.field_id().and_then(|id| {
            self.fields
                .push_array(id, scalars)
                .map_err(|source| EventError::Field {
                    format,
                    offset,
                    source: Box::new(source),
                })
        });
        self.element_text = owned;
        result
    }

    /// The `Event` object of the evtx shape: returns whether it held `System`.
    fn evtx_event(&mut self) -> Result<bool, EventError> {
        // The path holds "Event"; sections are named from the root.
        let event_path = std::mem::take(&mut self.path);
        let mut has_system = false;
        let result = self.members_at_root(|p, key| {
            match key {
                // The XML namespace of <Event>: markup, not data (the raw record keeps it).
                "#attributes" => p.skip(2).map(drop),
                "System" => {
                    has_system = true;
                    p.section("", false)
                }
                "EventData" => p.section("EventData", true),
                "UserData" => {
                    if p.peek() == Some(b'{') {
                        // UserData holds one vendor element (<LogFileCleared>, <EventXML>, …)
                        // whose children are the fields rules name.
                        p.members_at_root(|p, _| p.section("UserData", true))
                            .map(drop)
                    } else {
                        p.path.push_str("UserData");
                        p.value(Naming::Xml, 2)
                    }
                }
                other => {
                    push_name(&mut p.path, other);
                    p.value(Naming::Xml, 2)
                }
            }
        });
        self.path = event_path;
        result?;
        Ok(has_system)
    }

    /// Parses an object whose keys do not become part of the path by themselves: `on_value`
    /// gets each key (unescaped) and decides.
    fn members_at_root(
        &mut self,
        mut on_value: impl FnMut(&mut Self, &str) -> Result<(), EventError>,
    ) -> Result<usize, EventError> {
        let text = self.text;
        self.each_member(|p, key| {
            let name: std::borrow::Cow<'_, str> = if key.escaped {
                p.scratch.clone().into()
            } else {
                text[key.start..key.end].into()
            };
            on_value(p, &name)
        })
    }

    /// Flattens one evtx section with bare names. Data names that collide with a name
    /// already set (a System field) are kept under `section.name` instead.
    fn section(&mut self, section: &str, data: bool) -> Result<(), EventError> {
        if self.peek() != Some(b'{') {
            self.path.push_str(section);
            return self.value(Naming::Xml, 2);
        }
        self.members_at_root(|p, key| {
            match key {
                // Attributes of the section element itself (an xmlns, a Name): markup.
                "#attributes" => p.skip(3).map(drop),
                "#text" => {
                    p.path.push_str(section);
                    p.value(Naming::Xml, 3)
                }
                _ => {
                    push_name(&mut p.path, key);
                    if data {
                        match p.decoder.intern(&p.path) {
                            Ok(id) if p.fields.get(id).is_some() => {
                                p.path.insert(0, '.');
                                p.path.insert_str(0, section);
                            }
                            // A scalar stores under this id: not interned twice.
                            Ok(id) if !matches!(p.peek(), Some(b'{' | b'[')) => {
                                p.path_id = Some(id);
                            }
                            _ => {}
                        }
                    }
                    let result = p.value(Naming::Xml, 3);
                    p.path_id = None;
                    result
                }
            }
        })
        .map(drop)
    }
}

/// Appends an EVTX element name without its whitespace: Defender's `Threat Name` becomes
/// `ThreatName`, the name Sigma rules use.
pub(crate) fn push_name(path: &mut String, name: &str) {
    if name.bytes().all(|b| b > b' ' && b < 0x80) {
        path.push_str(name);
    } else {
        path.extend(name.chars().filter(|c| !c.is_whitespace()));
    }
}

/// The length of the run of plain string content at the start of `b`: bytes up to the first
/// `"`, `\` or control character. Eight bytes at a time: for each byte class, the
/// "has zero byte" trick `(x - 0x01…) & !x & 0x80…` flags the word, and its lowest flag is
/// exactly the first matching byte (borrows only create flags above a real one).
fn plain_run(b: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut i = 0;
    while let Some(chunk) = b.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word);
        let quote = x ^ (ONES * u64::from(b'"'));
        let backslash = x ^ (ONES * u64::from(b'\\'));
        let flags = (quote.wrapping_sub(ONES) & !quote
            | backslash.wrapping_sub(ONES) & !backslash
            | x.wrapping_sub(ONES * 0x20) & !x)
            & HIGH;
        if flags != 0 {
            return i + (flags.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while b.get(i).is_some_and(|c| !STRING_STOP[usize::from(*c)]) {
        i += 1;
    }
    i
}

/// Bytes that end a run of plain string content: `"`, `\` and the control characters
/// (which JSON requires to be escaped).
const STRING_STOP: [bool; 256] = {
    let mut table = [false; 256];
    let mut c = 0;
    while c < 0x20 {
        table[c] = true;
        c += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

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
    ) -> Option<Result<(usize, Bytes), EventError>> {
        self.state = SplitState::Done;
        Some(Err(EventError::syntax(
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
    type Item = Result<(usize, Bytes), EventError>;

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
    fn after_array(&mut self) -> Option<Result<(usize, Bytes), EventError>> {
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
        assert!(matches!(err, EventError::TooDeep { .. }), "{err}");
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
    fn plain_runs_stop_at_the_first_special_byte() {
        for len in 0..24 {
            for pos in 0..=len {
                for stop in [b'"', b'\\', 0u8, 0x1f] {
                    let mut v: Vec<u8> = (0..len)
                        .map(|k| [b'a', 0x7f, 0xe9, b' ', b'#'][k % 5])
                        .collect();
                    if pos < len {
                        v[pos] = stop;
                        // Bytes after the stop must not matter.
                        for later in v.iter_mut().skip(pos + 1) {
                            *later = b'"';
                        }
                    }
                    assert_eq!(plain_run(&v), pos.min(len), "{v:?}");
                }
            }
        }
    }

    #[test]
    fn control_characters_must_be_escaped() {
        let err = decoder()
            .decode_json(Bytes::from_static(b"{\"a\":\"xyz\tq\"}"))
            .unwrap_err();
        assert_eq!(err.offset(), Some(9), "{err}");
        let e = decoder()
            .decode_json(Bytes::from_static(b"{\"a\":\"x\\ty\\u0001\"}"))
            .unwrap();
        assert_eq!(
            e.fields.get_by_name("a").unwrap().as_text(),
            Some("x\ty\u{1}")
        );
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
