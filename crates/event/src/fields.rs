//! The flat, ordered field map of an event and its values.
//!
//! Layout: all text of an event (strings and the original text of numbers) lives in one
//! `String` arena; each field is a small fixed-size [`Slot`] pointing into it, and field ids
//! are kept in their own array so that a lookup by [`FieldId`] scans a few dozen `u32`s. A
//! decoded event therefore costs a handful of allocations whatever its number of fields, and
//! reading a value never allocates.
//!
//! Numbers keep the text they were written with (`4688`, `1.50`, `0x10` stays a string), so a
//! rule value `'4688'` and a JSON number `4688` compare as equal text without formatting, and
//! nothing is lost when an event is rendered again.

use crate::error::EventError;
use std::fmt;

use rustc_hash::FxHashMap;

use crate::field::FieldId;

/// Entries scanned linearly before a lookup index is built for an event.
const LINEAR_LOOKUP_MAX: usize = 48;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Null,
    Bool,
    Str,
    Int,
    Uint,
    Float,
    Array,
}

/// One stored value: where its text is and, for numbers and booleans, its parsed form.
#[derive(Clone, Copy, Debug)]
struct Slot {
    kind: Kind,
    /// Start of the text in the arena, or of the elements in `items` for arrays.
    start: u32,
    /// Length of the text, or number of elements for arrays.
    len: u32,
    /// Parsed number bits (i64, u64 or f64) or the boolean.
    bits: u64,
}

/// A field map: field ids in insertion order, each with one value.
#[derive(Clone, Default)]
pub struct Fields {
    ids: Vec<FieldId>,
    slots: Vec<Slot>,
    items: Vec<Slot>,
    text: String,
    /// Position of each id, kept only for wide events (more than [`LINEAR_LOOKUP_MAX`]
    /// fields) where a linear scan would make decoding quadratic.
    index: Option<FxHashMap<FieldId, u32>>,
    /// One bit per `id % 256` of the ids present: most absent ids are ruled out without a
    /// scan (decoders check for duplicates on every insert, detection asks for absent fields).
    present: [u64; 4],
}

/// A scalar or array value to insert into [`Fields`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Scalar<'a> {
    /// JSON `null` or an explicitly empty value.
    Null,
    /// A boolean.
    Bool(bool),
    /// A string.
    Str(&'a str),
    /// A number, given by its original text. The text must be a valid number
    /// (see [`Number::parse`]); otherwise the value is stored as a string.
    Num(&'a str),
}

/// A borrowed view of one value.
#[derive(Clone, Copy, PartialEq)]
pub enum Value<'a> {
    /// `null`.
    Null,
    /// A boolean.
    Bool(bool),
    /// A string.
    Str(&'a str),
    /// A number with its original text.
    Num(Number<'a>),
    /// An array of scalars.
    Array(Array<'a>),
}

/// A number with the text it was written with.
#[derive(Clone, Copy, PartialEq)]
pub struct Number<'a> {
    text: &'a str,
    repr: NumberRepr,
}

/// The parsed form of a [`Number`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum NumberRepr {
    /// Fits an `i64`.
    Int(i64),
    /// Positive and above `i64::MAX`.
    Uint(u64),
    /// Has a fraction or exponent, or does not fit 64 bits.
    Float(f64),
}

/// The elements of an array value.
#[derive(Clone, Copy)]
pub struct Array<'a> {
    fields: &'a Fields,
    start: u32,
    len: u32,
}

impl<'a> Number<'a> {
    /// Parses JSON number syntax (`-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`).
    pub fn parse(text: &'a str) -> Option<Number<'a>> {
        // Fast path for the common case, short integers (EventID, ProcessId, ports).
        let digits = text.strip_prefix('-').unwrap_or(text).as_bytes();
        if (1..=18).contains(&digits.len())
            && digits.iter().all(u8::is_ascii_digit)
            && (digits[0] != b'0' || digits.len() == 1)
        {
            let magnitude = digits
                .iter()
                .fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0'));
            let value = if digits.len() < text.len() {
                -magnitude
            } else {
                magnitude
            };
            return Some(Number {
                text,
                repr: NumberRepr::Int(value),
            });
        }
        if !is_json_number(text.as_bytes()) {
            return None;
        }
        let integral = !text.bytes().any(|b| matches!(b, b'.' | b'e' | b'E'));
        let repr = if integral {
            if let Ok(v) = text.parse::<i64>() {
                NumberRepr::Int(v)
            } else if let Ok(v) = text.parse::<u64>() {
                NumberRepr::Uint(v)
            } else {
                NumberRepr::Float(text.parse::<f64>().ok()?)
            }
        } else {
            NumberRepr::Float(text.parse::<f64>().ok()?)
        };
        Some(Number { text, repr })
    }

    /// The original text.
    pub fn text(&self) -> &'a str {
        self.text
    }

    /// The parsed form.
    pub fn repr(&self) -> NumberRepr {
        self.repr
    }

    /// The value as `f64` (lossy above 2^53).
    pub fn as_f64(&self) -> f64 {
        match self.repr {
            NumberRepr::Int(v) => v as f64,
            NumberRepr::Uint(v) => v as f64,
            NumberRepr::Float(v) => v,
        }
    }

    /// The value as `i64` when it is an integer that fits.
    pub fn as_i64(&self) -> Option<i64> {
        match self.repr {
            NumberRepr::Int(v) => Some(v),
            _ => None,
        }
    }
}

impl fmt::Debug for Number<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text)
    }
}

/// The length of the JSON number at the start of `b`
/// (`-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`), or where it breaks and what was
/// expected there. Shared by the JSON parser and [`Number::parse`].
pub(crate) fn json_number_len(b: &[u8]) -> Result<usize, (usize, &'static str)> {
    let digits = |mut i: usize| {
        while matches!(b.get(i), Some(b'0'..=b'9')) {
            i += 1;
        }
        i
    };
    let mut i = usize::from(b.first() == Some(&b'-'));
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => i = digits(i),
        _ => return Err((i, "a digit")),
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if !matches!(b.get(i), Some(b'0'..=b'9')) {
            return Err((i, "a digit after the decimal point"));
        }
        i = digits(i);
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if !matches!(b.get(i), Some(b'0'..=b'9')) {
            return Err((i, "a digit in the exponent"));
        }
        i = digits(i);
    }
    Ok(i)
}

/// Whether `b` is exactly JSON number syntax.
pub(crate) fn is_json_number(b: &[u8]) -> bool {
    json_number_len(b) == Ok(b.len())
}

impl<'a> Value<'a> {
    /// The value's text as a rule or a search compares it: strings as they are, numbers in
    /// their original text, booleans as `true`/`false`. `None` for null and arrays.
    #[inline]
    pub fn as_text(&self) -> Option<&'a str> {
        match *self {
            Value::Str(s) => Some(s),
            Value::Num(n) => Some(n.text),
            Value::Bool(true) => Some("true"),
            Value::Bool(false) => Some("false"),
            Value::Null | Value::Array(_) => None,
        }
    }

    /// The string, when the value is a string.
    pub fn as_str(&self) -> Option<&'a str> {
        match *self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The number, when the value is a number.
    #[inline]
    pub fn as_number(&self) -> Option<Number<'a>> {
        match *self {
            Value::Num(n) => Some(n),
            _ => None,
        }
    }

    /// Whether the value is `null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
}

impl fmt::Debug for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Str(s) => write!(f, "{s:?}"),
            Value::Num(n) => write!(f, "{}", n.text),
            Value::Array(a) => f.debug_list().entries(a.iter()).finish(),
        }
    }
}

impl<'a> Array<'a> {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether the array is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The elements in order (always scalars: nested arrays and objects are stored as
    /// their compact JSON text, see [`Fields::push_array`]).
    pub fn iter(&self) -> impl Iterator<Item = Value<'a>> + 'a {
        let fields = self.fields;
        let range = self.start as usize..(self.start + self.len) as usize;
        fields.items[range]
            .iter()
            .map(move |slot| fields.view(slot))
    }
}

impl PartialEq for Array<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.iter().zip(other.iter()).all(|(a, b)| a == b)
    }
}

impl fmt::Debug for Array<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Fields {
    /// An empty map.
    pub fn new() -> Fields {
        Fields::default()
    }

    /// An empty map with room for `fields` fields and `text` bytes of text.
    pub fn with_capacity(fields: usize, text: usize) -> Fields {
        Fields {
            ids: Vec::with_capacity(fields),
            slots: Vec::with_capacity(fields),
            items: Vec::new(),
            text: String::with_capacity(text),
            index: None,
            present: [0; 4],
        }
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether there are no fields.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The value of field `id`.
    #[inline]
    pub fn get(&self, id: FieldId) -> Option<Value<'_>> {
        let pos = self.position(id)?;
        Some(self.view(&self.slots[pos]))
    }

    /// The value of the field named `name` (no interning: unknown names are simply absent).
    pub fn get_by_name(&self, name: &str) -> Option<Value<'_>> {
        self.get(FieldId::lookup(name)?)
    }

    /// The fields in insertion order.
    #[inline]
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (FieldId, Value<'_>)> + '_ {
        self.ids
            .iter()
            .zip(self.slots.iter())
            .map(move |(id, slot)| (*id, self.view(slot)))
    }

    /// The field ids in insertion order.
    pub fn ids(&self) -> &[FieldId] {
        &self.ids
    }

    /// Bytes of text held (strings and number texts).
    pub fn text_len(&self) -> usize {
        self.text.len()
    }

    #[inline]
    fn position(&self, id: FieldId) -> Option<usize> {
        let bit = id.index() % 256;
        if self.present[bit / 64] & (1 << (bit % 64)) == 0 {
            return None;
        }
        match &self.index {
            Some(index) => index.get(&id).map(|pos| *pos as usize),
            None => self.ids.iter().position(|x| *x == id),
        }
    }

    // Always inlined: returned through memory, the 32-byte value stalled its callers on
    // store forwarding (a third of the field walk in the matching bench, perf annotate).
    #[inline(always)]
    fn view(&self, slot: &Slot) -> Value<'_> {
        let text = || &self.text[slot.start as usize..(slot.start + slot.len) as usize];
        match slot.kind {
            Kind::Null => Value::Null,
            Kind::Bool => Value::Bool(slot.bits != 0),
            Kind::Str => Value::Str(text()),
            Kind::Int => Value::Num(Number {
                text: text(),
                repr: NumberRepr::Int(slot.bits as i64),
            }),
            Kind::Uint => Value::Num(Number {
                text: text(),
                repr: NumberRepr::Uint(slot.bits),
            }),
            Kind::Float => Value::Num(Number {
                text: text(),
                repr: NumberRepr::Float(f64::from_bits(slot.bits)),
            }),
            Kind::Array => Value::Array(Array {
                fields: self,
                start: slot.start,
                len: slot.len,
            }),
        }
    }

    /// The kind and bits of a number's text: a number, or a string when it is not one.
    fn number_kind(s: &str) -> (Kind, u64) {
        match Number::parse(s) {
            Some(n) => match n.repr {
                NumberRepr::Int(v) => (Kind::Int, v as u64),
                NumberRepr::Uint(v) => (Kind::Uint, v),
                NumberRepr::Float(v) => (Kind::Float, v.to_bits()),
            },
            None => (Kind::Str, 0),
        }
    }

    fn store(&mut self, value: Scalar<'_>) -> Result<Slot, EventError> {
        let (kind, text, bits) = match value {
            Scalar::Null => (Kind::Null, "", 0),
            Scalar::Bool(b) => (Kind::Bool, "", u64::from(b)),
            Scalar::Str(s) => (Kind::Str, s, 0),
            Scalar::Num(s) => {
                let (kind, bits) = Fields::number_kind(s);
                (kind, s, bits)
            }
        };
        let start = self.text.len();
        let end = start + text.len();
        if end > u32::MAX as usize {
            return Err(EventError::EventTooLarge);
        }
        self.text.push_str(text);
        Ok(Slot {
            kind,
            start: start as u32,
            len: text.len() as u32,
            bits,
        })
    }

    /// Sets field `id` to `value`. A field that is already present keeps its position and
    /// takes the new value (the last write wins, as for duplicate JSON keys).
    pub fn insert(&mut self, id: FieldId, value: Scalar<'_>) -> Result<(), EventError> {
        let slot = self.store(value)?;
        self.put(id, slot);
        Ok(())
    }

    /// Sets field `id` to the text `write` appends straight into the map's arena, as
    /// [`Scalar::Num`] when `number` (a number's text, a string when it is not one), else as
    /// [`Scalar::Str`]. A decoder that formats its values (EVTX binary XML) saves copying each
    /// text through a buffer of its own. When `write` fails, nothing is stored.
    pub(crate) fn insert_written<E: From<EventError>>(
        &mut self,
        id: FieldId,
        number: bool,
        write: impl FnOnce(&mut String) -> Result<(), E>,
    ) -> Result<(), E> {
        let start = self.text.len();
        if let Err(e) = write(&mut self.text) {
            self.text.truncate(start);
            return Err(e);
        }
        if self.text.len() > u32::MAX as usize {
            self.text.truncate(start);
            return Err(EventError::EventTooLarge.into());
        }
        let written = &self.text[start..];
        let (kind, bits) = if number {
            Fields::number_kind(written)
        } else {
            (Kind::Str, 0)
        };
        let slot = Slot {
            kind,
            start: start as u32,
            len: written.len() as u32,
            bits,
        };
        self.put(id, slot);
        Ok(())
    }

    /// Interns `name` and sets it to `value`.
    pub fn insert_named(&mut self, name: &str, value: Scalar<'_>) -> Result<FieldId, EventError> {
        let id = FieldId::intern(name)?;
        self.insert(id, value)?;
        Ok(id)
    }

    /// Sets field `id` to an array of scalars.
    ///
    /// Arrays hold scalars only. A decoder that meets an object or an array inside an array
    /// stores that element as its compact JSON text, so no data is lost and keyword searches
    /// still see it.
    pub fn push_array<'v>(
        &mut self,
        id: FieldId,
        values: impl IntoIterator<Item = Scalar<'v>>,
    ) -> Result<(), EventError> {
        let mut elements = Vec::new();
        for value in values {
            elements.push(self.store(value)?);
        }
        let start = self.items.len() as u32;
        let len = elements.len() as u32;
        self.items.extend(elements);
        self.put(
            id,
            Slot {
                kind: Kind::Array,
                start,
                len,
                bits: 0,
            },
        );
        Ok(())
    }

    fn put(&mut self, id: FieldId, slot: Slot) {
        if let Some(pos) = self.position(id) {
            self.slots[pos] = slot;
            return;
        }
        self.ids.push(id);
        self.slots.push(slot);
        let bit = id.index() % 256;
        self.present[bit / 64] |= 1 << (bit % 64);
        match &mut self.index {
            Some(index) => {
                index.insert(id, (self.ids.len() - 1) as u32);
            }
            None if self.ids.len() > LINEAR_LOOKUP_MAX => self.rebuild_index(),
            None => {}
        }
    }

    /// Builds the position index when the map is wide, drops it otherwise.
    fn rebuild_index(&mut self) {
        self.index = (self.ids.len() > LINEAR_LOOKUP_MAX).then(|| {
            self.ids
                .iter()
                .enumerate()
                .map(|(pos, id)| (*id, pos as u32))
                .collect()
        });
    }

    /// Sets field `id` to a copy of `value` (taken from another map).
    pub fn insert_value(&mut self, id: FieldId, value: Value<'_>) -> Result<(), EventError> {
        fn scalar(v: Value<'_>) -> Scalar<'_> {
            match v {
                Value::Null | Value::Array(_) => Scalar::Null,
                Value::Bool(b) => Scalar::Bool(b),
                Value::Str(s) => Scalar::Str(s),
                Value::Num(n) => Scalar::Num(n.text),
            }
        }
        match value {
            Value::Array(a) => {
                let items: Vec<Value<'_>> = a.iter().collect();
                self.push_array(id, items.into_iter().map(scalar))
            }
            other => self.insert(id, scalar(other)),
        }
    }

    /// Removes field `id`, returning whether it was present. Its text stays in the arena
    /// until the map is dropped.
    pub fn remove(&mut self, id: FieldId) -> bool {
        match self.position(id) {
            Some(pos) => {
                self.ids.remove(pos);
                self.slots.remove(pos);
                if self.index.is_some() {
                    self.rebuild_index();
                }
                true
            }
            None => false,
        }
    }
}

impl fmt::Debug for Fields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.iter().map(|(id, v)| (id.name(), v)))
            .finish()
    }
}

impl PartialEq for Fields {
    /// Two maps are equal when they hold the same fields with the same values, in any order.
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|(id, v)| other.get(id) == Some(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(name: &str) -> FieldId {
        FieldId::intern(name).unwrap()
    }

    #[test]
    fn numbers_keep_their_text_and_compare_as_text() {
        let mut f = Fields::new();
        f.insert(id("EventID"), Scalar::Num("4688")).unwrap();
        f.insert(id("Ratio"), Scalar::Num("1.50")).unwrap();
        f.insert(id("Big"), Scalar::Num("18446744073709551615"))
            .unwrap();
        let v = f.get(id("EventID")).unwrap();
        assert_eq!(v.as_text(), Some("4688"));
        assert_eq!(v.as_number().unwrap().as_i64(), Some(4688));
        assert_eq!(f.get(id("Ratio")).unwrap().as_text(), Some("1.50"));
        assert_eq!(
            f.get(id("Big")).unwrap().as_number().unwrap().repr(),
            NumberRepr::Uint(u64::MAX)
        );
    }

    #[test]
    fn invalid_number_text_is_kept_as_string() {
        let mut f = Fields::new();
        f.insert(id("Hex"), Scalar::Num("0x10")).unwrap();
        assert_eq!(f.get(id("Hex")), Some(Value::Str("0x10")));
    }

    #[test]
    fn insert_replaces_and_keeps_order() {
        let mut f = Fields::new();
        f.insert(id("a"), Scalar::Str("1")).unwrap();
        f.insert(id("b"), Scalar::Bool(true)).unwrap();
        f.insert(id("a"), Scalar::Null).unwrap();
        let names: Vec<_> = f.iter().map(|(id, _)| id.name()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(f.get(id("a")), Some(Value::Null));
        assert!(f.remove(id("a")));
        assert_eq!(f.len(), 1);
    }

    #[test]
    fn wide_events_use_an_index() {
        let mut f = Fields::new();
        let ids: Vec<_> = (0..200).map(|i| id(&format!("wide{i}"))).collect();
        for (i, id) in ids.iter().enumerate() {
            f.insert(*id, Scalar::Num(&i.to_string())).unwrap();
        }
        f.insert(ids[7], Scalar::Str("again")).unwrap();
        assert_eq!(f.len(), 200);
        assert_eq!(f.get(ids[7]), Some(Value::Str("again")));
        assert!(f.remove(ids[3]));
        assert_eq!(f.get(ids[199]).unwrap().as_text(), Some("199"));
        assert_eq!(f.get(ids[3]), None);
    }

    #[test]
    fn arrays_hold_scalars() {
        let mut f = Fields::new();
        f.push_array(
            id("tags"),
            [Scalar::Str("x"), Scalar::Num("2"), Scalar::Null],
        )
        .unwrap();
        let Some(Value::Array(a)) = f.get(id("tags")) else {
            panic!("expected an array")
        };
        let texts: Vec<_> = a.iter().map(|v| v.as_text()).collect();
        assert_eq!(texts, [Some("x"), Some("2"), None]);
    }

    #[test]
    fn values_copy_between_maps() {
        let mut a = Fields::new();
        a.insert(id("n"), Scalar::Num("1.50")).unwrap();
        a.push_array(id("arr"), [Scalar::Str("x"), Scalar::Bool(false)])
            .unwrap();
        let mut b = Fields::new();
        for (id, v) in a.iter() {
            b.insert_value(id, v).unwrap();
        }
        assert_eq!(a, b);
    }

    #[test]
    fn json_number_syntax() {
        for ok in ["0", "-0", "12", "1.5", "1e9", "-2.5E-3"] {
            assert!(is_json_number(ok.as_bytes()), "{ok}");
        }
        for bad in ["", "-", "01", "1.", ".5", "1e", "0x1", "+1", "1 "] {
            assert!(!is_json_number(bad.as_bytes()), "{bad}");
            assert!(Number::parse(bad).is_none(), "{bad}");
        }
        for (text, want) in [
            ("0", NumberRepr::Int(0)),
            ("-0", NumberRepr::Int(0)),
            ("-17", NumberRepr::Int(-17)),
            (
                "999999999999999999",
                NumberRepr::Int(999_999_999_999_999_999),
            ),
            ("9223372036854775807", NumberRepr::Int(i64::MAX)),
            ("-9223372036854775808", NumberRepr::Int(i64::MIN)),
            ("9223372036854775808", NumberRepr::Uint(1 << 63)),
            ("2.5", NumberRepr::Float(2.5)),
        ] {
            assert_eq!(Number::parse(text).unwrap().repr(), want, "{text}");
        }
    }
}
