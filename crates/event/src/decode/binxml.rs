//! EVTX records decoded straight from their binary XML into fields.
//!
//! The default EVTX path ([`super::evtx`]) has the `evtx` crate render each record as JSON and
//! parses that JSON: the rendering is the event's raw bytes. A tool that never keeps the raw
//! bytes (`vigie hunt`) spent two thirds of its time there, half of it parsing JSON it had just
//! written. This module reads the chunk's records, templates and substitution values itself
//! and stores the fields the JSON path would have stored, in the same order, with the same
//! names, types and texts.
//!
//! Exactness comes from a narrow scope rather than from reimplementing every corner of the
//! rendering: it takes the shapes Windows writes (one template instance per record, nested
//! instances in `BinXml` values, strings, integers, booleans, GUIDs, SIDs, FILETIMEs, hex
//! integers, binary), and anything else — an array or ANSI string value, a float, CDATA,
//! entity and character references, two siblings of one name, a record it cannot walk —
//! makes [`Unsupported`] the answer for the whole chunk, which then goes through the JSON path.
//! A test decodes every regression sample both ways and compares the fields; a fuzz target
//! does the same on mutated chunks.
//!
//! The JSON shape being mirrored is the `evtx` crate's (0.15.1, `binxml::compiled`,
//! `write_element_value_plain` and its helpers), as flattened by [`super::json`].

use std::ops::Range;

use rustc_hash::FxHashMap;

use super::json::push_name;
use super::{Decoder, Facts, known};
use crate::event::{Event, Format};
use crate::field::FieldId;
use crate::fields::{Fields, Scalar};
use crate::time::parse_rfc3339;

/// A chunk (or record) this decoder does not render: the JSON path takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Unsupported(pub(crate) &'static str);

type R<T> = Result<T, Unsupported>;

/// Bytes of the chunk header, before the first record.
const CHUNK_HEADER_BYTES: usize = 512;
/// Bytes of a record header (magic, size, record id, time) before its binary XML.
const RECORD_HEADER_BYTES: usize = 24;
/// Nested template instances allowed inside one another.
const MAX_NESTING: usize = 8;
/// Element depth allowed in one template (the JSON path's limit is 64 levels in all).
const MAX_ELEMENT_DEPTH: usize = 24;
/// Substitution values one instance may declare.
const MAX_VALUES: u32 = 4096;

/// Little-endian reads over the chunk, positions in chunk coordinates (template and name
/// offsets are chunk offsets).
struct Cursor<'d> {
    data: &'d [u8],
    pos: usize,
}

impl<'d> Cursor<'d> {
    fn take(&mut self, n: usize) -> R<&'d [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|end| *end <= self.data.len())
            .ok_or(Unsupported("truncated"))?;
        let bytes = &self.data[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    fn u8(&mut self) -> R<u8> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> R<u16> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> R<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> R<u64> {
        let b = self.take(8)?;
        let mut word = [0u8; 8];
        word.copy_from_slice(b);
        Ok(u64::from_le_bytes(word))
    }
}

/// UTF-16LE code units up to the first NUL unit, as `evtx` reads strings.
fn until_nul(bytes: &[u8]) -> &[u8] {
    const ONES: u64 = 0x0001_0001_0001_0001;
    const HIGH: u64 = 0x8000_8000_8000_8000;
    let mut i = 0;
    // Four code units at a time: the lowest flag of the "has zero lane" test is exactly the
    // first NUL unit (borrows only create flags above a real one).
    while let Some(chunk) = bytes.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word);
        let flags = x.wrapping_sub(ONES) & !x & HIGH;
        if flags != 0 {
            return &bytes[..i + 2 * (flags.trailing_zeros() / 16) as usize];
        }
        i += 8;
    }
    while let Some(unit) = bytes.get(i..i + 2) {
        if unit == [0, 0] {
            break;
        }
        i += 2;
    }
    &bytes[..i]
}

/// Names already used among an element's members: a 64-bit filter in front of the list, so
/// that most names cost no comparison.
#[derive(Default)]
struct Seen<T> {
    filter: u64,
    list: Vec<T>,
}

fn name_bit(name: &[u8]) -> u64 {
    let (first, last) = (name.first().copied(), name.last().copied());
    let h = name.len() * 31 + usize::from(first.unwrap_or(0)) + 7 * usize::from(last.unwrap_or(0));
    1 << (h % 64)
}

/// Appends UTF-16LE text; a lone surrogate (which the JSON path would have to replace) is
/// unsupported. ASCII text, the common case, is narrowed a block at a time into a buffer that
/// `str::from_utf8` checks word by word (a character at a time was most of the decoding time
/// on long command lines and scripts).
fn push_utf16(out: &mut String, bytes: &[u8]) -> R<()> {
    const BLOCK: usize = 128;
    let start = out.len();
    out.reserve(bytes.len() / 2);
    for block in bytes.chunks(2 * BLOCK) {
        let mut buf = [0u8; BLOCK];
        let mut high = 0u16;
        let units = block.len() / 2;
        for (narrow, unit) in buf.iter_mut().zip(block.chunks_exact(2)) {
            let unit = u16::from_le_bytes([unit[0], unit[1]]);
            high |= unit;
            *narrow = unit as u8;
        }
        match std::str::from_utf8(&buf[..units]) {
            Ok(ascii) if high < 0x80 => out.push_str(ascii),
            _ => {
                out.truncate(start);
                let units = bytes
                    .chunks_exact(2)
                    .map(|u| u16::from_le_bytes([u[0], u[1]]));
                for c in char::decode_utf16(units) {
                    out.push(c.map_err(|_| Unsupported("unpaired surrogate"))?);
                }
                return Ok(());
            }
        }
    }
    Ok(())
}

/// Appends `v` in decimal.
fn push_decimal(out: &mut String, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for &digit in &buf[i..] {
        out.push(char::from(digit));
    }
}

/// Appends `v` in decimal on exactly `width` digits (its last ones).
fn push_digits(out: &mut String, mut v: u64, width: usize) {
    let mut buf = [b'0'; 20];
    for slot in buf[..width].iter_mut().rev() {
        *slot = b'0' + (v % 10) as u8;
        v /= 10;
    }
    for &digit in &buf[..width] {
        out.push(char::from(digit));
    }
}

const HEX_LOWER: &[u8; 16] = b"0123456789abcdef";
const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// Appends a byte as two hex digits.
fn push_hex_byte(out: &mut String, b: u8, digits: &[u8; 16]) {
    out.push(char::from(digits[usize::from(b >> 4)]));
    out.push(char::from(digits[usize::from(b & 0x0f)]));
}

/// A node of a template definition.
#[derive(Debug)]
enum TNode {
    Elem(u32),
    Text(Box<str>),
    Sub { id: u16, optional: bool },
}

#[derive(Debug)]
struct TAttr {
    name: Box<str>,
    value: Vec<TNode>,
}

#[derive(Debug)]
struct TElem {
    name: Box<str>,
    /// The substitution whose NullType value leaves the element out (MS-EVEN6 2.2.12).
    dependency: Option<u16>,
    attrs: Vec<TAttr>,
    children: Vec<TNode>,
}

/// A parsed template definition; its root is element 0.
#[derive(Debug)]
struct Template {
    elems: Vec<TElem>,
}

/// A name in the chunk's string table: at `offset`, a link (4), hash (2), length (2) and the
/// UTF-16 characters.
fn name_at(data: &[u8], offset: u32) -> R<Box<str>> {
    let mut c = Cursor {
        data,
        pos: offset as usize,
    };
    c.take(6)?;
    let len = usize::from(c.u16()?);
    let bytes = c.take(2 * len)?;
    let mut name = String::with_capacity(len);
    push_utf16(&mut name, until_nul(bytes))?;
    Ok(name.into())
}

/// Reads a name reference: an offset, and the name itself when it is defined right there.
fn name_ref(c: &mut Cursor<'_>) -> R<Box<str>> {
    let offset = c.u32()?;
    if offset as usize == c.pos {
        c.take(6)?;
        let len = usize::from(c.u16()?);
        c.take(2 * len + 2)?;
    }
    name_at(c.data, offset)
}

/// A length-prefixed UTF-16 string of the token stream.
fn text_token(c: &mut Cursor<'_>) -> R<Box<str>> {
    let len = usize::from(c.u16()?);
    let bytes = c.take(2 * len)?;
    let mut text = String::new();
    push_utf16(&mut text, until_nul(bytes))?;
    Ok(text.into())
}

impl Template {
    /// Parses the definition at `offset`: its header (link, GUID, size) and body.
    fn parse(data: &[u8], offset: u32) -> R<Template> {
        let mut c = Cursor {
            data,
            pos: offset as usize,
        };
        c.take(20)?;
        let size = c.u32()? as usize;
        let end = c
            .pos
            .checked_add(size)
            .ok_or(Unsupported("template size"))?;
        if end > data.len() {
            return Err(Unsupported("template size"));
        }
        let mut t = Template { elems: Vec::new() };
        let mut stack: Vec<u32> = Vec::new();
        // After an element's start, before its CloseStart: attribute values go to `attr`.
        let mut in_start = false;
        let mut attr: Option<usize> = None;
        while c.pos < end {
            let token = c.u8()?;
            match token {
                0x00 => break,
                0x0f => {
                    c.take(3)?;
                }
                0x01 | 0x41 => {
                    if in_start {
                        return Err(Unsupported("element inside a start tag"));
                    }
                    let dependency = c.u16()?;
                    c.u32()?;
                    let name = name_ref(&mut c)?;
                    if token & 0x40 != 0 {
                        c.u32()?;
                    }
                    let id = u32::try_from(t.elems.len()).map_err(|_| Unsupported("size"))?;
                    match stack.last() {
                        Some(&parent) => t.elems[parent as usize].children.push(TNode::Elem(id)),
                        None if t.elems.is_empty() => {}
                        None => return Err(Unsupported("several roots")),
                    }
                    if stack.len() >= MAX_ELEMENT_DEPTH {
                        return Err(Unsupported("deep template"));
                    }
                    t.elems.push(TElem {
                        name,
                        dependency: (dependency != 0xffff).then_some(dependency),
                        attrs: Vec::new(),
                        children: Vec::new(),
                    });
                    stack.push(id);
                    in_start = true;
                    attr = None;
                }
                0x06 | 0x46 => {
                    let &open = stack.last().ok_or(Unsupported("attribute"))?;
                    if !in_start {
                        return Err(Unsupported("attribute outside a start tag"));
                    }
                    let name = name_ref(&mut c)?;
                    let attrs = &mut t.elems[open as usize].attrs;
                    attrs.push(TAttr {
                        name,
                        value: Vec::new(),
                    });
                    attr = Some(attrs.len() - 1);
                }
                0x02 => {
                    if !in_start {
                        return Err(Unsupported("close start"));
                    }
                    in_start = false;
                    attr = None;
                }
                0x03 | 0x04 => {
                    if in_start != (token == 0x03) {
                        return Err(Unsupported("element end"));
                    }
                    stack.pop().ok_or(Unsupported("element end"))?;
                    in_start = false;
                    attr = None;
                }
                0x05 | 0x45 | 0x0d | 0x0e => {
                    let node = if token & 0x0f == 0x05 {
                        if c.u8()? != 0x01 {
                            return Err(Unsupported("non-string value token"));
                        }
                        TNode::Text(text_token(&mut c)?)
                    } else {
                        let id = c.u16()?;
                        c.u8()?;
                        TNode::Sub {
                            id,
                            optional: token == 0x0e,
                        }
                    };
                    let &open = stack.last().ok_or(Unsupported("value outside"))?;
                    let elem = &mut t.elems[open as usize];
                    match (in_start, attr) {
                        (true, Some(a)) => elem.attrs[a].value.push(node),
                        (false, _) => elem.children.push(node),
                        (true, None) => return Err(Unsupported("value in a start tag")),
                    }
                }
                _ => return Err(Unsupported("token")),
            }
        }
        if !stack.is_empty() || t.elems.is_empty() {
            return Err(Unsupported("unbalanced template"));
        }
        Ok(t)
    }
}

/// A substitution value.
#[derive(Debug, Clone, Copy)]
enum Val<'d> {
    Null,
    /// UTF-16LE bytes, up to the first NUL.
    Str(&'d [u8]),
    Unsigned(u64),
    Signed(i64),
    Bool(bool),
    Hex(u64),
    Guid(&'d [u8]),
    FileTime(u64),
    Sid(&'d [u8]),
    Binary(&'d [u8]),
    /// A nested template instance, by index.
    Nested(u32),
}

impl Val<'_> {
    /// `evtx`'s `is_optional_empty`.
    fn empty(&self) -> bool {
        match self {
            Val::Null => true,
            Val::Str(b) | Val::Binary(b) => b.is_empty(),
            _ => false,
        }
    }

    /// Rendered as a bare JSON number or boolean.
    fn bare(&self) -> bool {
        matches!(self, Val::Unsigned(_) | Val::Signed(_) | Val::Bool(_))
    }

    /// The text `evtx` writes for the value.
    fn write(&self, out: &mut String) -> R<()> {
        match *self {
            Val::Null => {}
            Val::Str(b) => push_utf16(out, b)?,
            Val::Unsigned(v) => push_decimal(out, v),
            Val::Signed(v) => {
                if v < 0 {
                    out.push('-');
                }
                push_decimal(out, v.unsigned_abs());
            }
            Val::Bool(v) => out.push_str(if v { "true" } else { "false" }),
            Val::Hex(v) => {
                out.push_str("0x");
                let digits = (64 - v.leading_zeros()).div_ceil(4).max(1);
                for k in (0..digits).rev() {
                    out.push(char::from(HEX_LOWER[((v >> (4 * k)) & 0xf) as usize]));
                }
            }
            Val::Guid(b) => {
                const ORDER: [usize; 16] = [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15];
                out.push('{');
                for (i, &at) in ORDER.iter().enumerate() {
                    if matches!(i, 4 | 6 | 8 | 10) {
                        out.push('-');
                    }
                    push_hex_byte(out, b[at], HEX_LOWER);
                }
                out.push('}');
            }
            Val::FileTime(ft) => write_filetime(out, ft),
            Val::Sid(b) => {
                let authority = u64::from_be_bytes([0, 0, b[2], b[3], b[4], b[5], b[6], b[7]]);
                out.push_str("S-");
                push_decimal(out, u64::from(b[0]));
                out.push('-');
                push_decimal(out, authority);
                for sub in b[8..].chunks_exact(4).take(usize::from(b[1])) {
                    out.push('-');
                    push_decimal(
                        out,
                        u64::from(u32::from_le_bytes([sub[0], sub[1], sub[2], sub[3]])),
                    );
                }
            }
            Val::Binary(b) => {
                out.reserve(2 * b.len());
                for block in b.chunks(64) {
                    let mut buf = [0u8; 128];
                    for (pair, &byte) in buf.chunks_exact_mut(2).zip(block) {
                        pair[0] = HEX_UPPER[usize::from(byte >> 4)];
                        pair[1] = HEX_UPPER[usize::from(byte & 0x0f)];
                    }
                    if let Ok(hex) = std::str::from_utf8(&buf[..2 * block.len()]) {
                        out.push_str(hex);
                    }
                }
            }
            Val::Nested(_) => return Err(Unsupported("nested value as text")),
        }
        Ok(())
    }
}

/// A FILETIME as `evtx` renders it: `YYYY-MM-DDThh:mm:ss.fffffffZ`, years past 9999 keeping
/// their last four digits, a value past `i64::MAX` as zeros.
fn write_filetime(out: &mut String, ft: u64) {
    const TICKS_PER_SEC: u64 = 10_000_000;
    const TICKS_PER_DAY: u64 = 86_400 * TICKS_PER_SEC;
    if ft > i64::MAX as u64 {
        out.push_str("0000-00-00T00:00:00.0000000Z");
        return;
    }
    let (days, ticks) = (ft / TICKS_PER_DAY, ft % TICKS_PER_DAY);
    // Howard Hinnant's civil_from_days, counted from 0000-03-01 (584,694 days before 1601).
    let z = days + 584_694;
    let (era, doe) = (z / 146_097, z % 146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = era * 400 + yoe + u64::from(month <= 2);
    let secs = ticks / TICKS_PER_SEC;
    push_digits(out, year % 10_000, 4);
    out.push('-');
    push_digits(out, month, 2);
    out.push('-');
    push_digits(out, day, 2);
    out.push('T');
    push_digits(out, secs / 3_600, 2);
    out.push(':');
    push_digits(out, secs / 60 % 60, 2);
    out.push(':');
    push_digits(out, secs % 60, 2);
    out.push('.');
    push_digits(out, ticks % TICKS_PER_SEC, 7);
    out.push('Z');
}

/// A template instance: its template and its values.
#[derive(Debug, Clone)]
struct Instance {
    template: u32,
    values: Range<u32>,
}

/// A child node once the instance's values are in: an element of an instance, template text,
/// or a value (with its index in the record's values, for the plan).
#[derive(Clone, Copy)]
enum Node<'t, 'd> {
    Elem(u32, u32),
    Text(&'t str),
    Val(Val<'d>, u32),
}

impl Node<'_, '_> {
    /// `node_is_content_plain`: non-empty text-like content.
    fn is_content(&self) -> bool {
        match self {
            Node::Elem(..) => false,
            Node::Text(t) => !t.is_empty(),
            Node::Val(v, _) => !v.empty(),
        }
    }
}

/// Where a leaf's text is: `Walk::text[start..end]`, written from `Walk::pieces[pieces]`.
#[derive(Clone, Copy, Debug)]
struct Span {
    start: usize,
    end: usize,
    pieces: (u32, u32),
}

impl Span {
    /// The empty string, from no piece.
    const EMPTY: Span = Span {
        start: 0,
        end: 0,
        pieces: (0, 0),
    };
}

/// A scalar to store: what a JSON leaf would have been, its text in `Walk::text`.
#[derive(Clone, Copy, Debug)]
enum Leaf {
    Null,
    /// A boolean value, and its index among the record's values.
    Bool(bool, u32),
    Num(Span),
    Str(Span),
}

impl Leaf {
    /// The scalar, its text read from `text` (`Walk::text`).
    fn scalar(self, text: &str) -> Scalar<'_> {
        match self {
            Leaf::Null => Scalar::Null,
            Leaf::Bool(b, _) => Scalar::Bool(b),
            Leaf::Num(s) => Scalar::Num(&text[s.start..s.end]),
            Leaf::Str(s) => Scalar::Str(&text[s.start..s.end]),
        }
    }
}

/// What a leaf's text was written from: template text, or a value by its index among the
/// record's values.
#[derive(Clone, Copy, Debug)]
enum Piece<'t> {
    Text(&'t str),
    Val(u32),
}

/// A store the walk made, in order: what a [`Plan`] is built from.
#[derive(Clone, Copy, Debug)]
enum Stored {
    One(FieldId, Leaf),
    /// An array, its elements `Walk::array_leaves[start..end]`.
    Array(FieldId, u32, u32),
}

/// Where an element's members go: how the JSON path would name them.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    /// Dotted paths under the current path (`#text` on it, attributes as `path_Name`).
    Nested,
    /// A section's members (`System`, `EventData`, each `UserData` child): bare names,
    /// attributes dropped; with `data`, a name already set is kept as `section.name`.
    Section { section: &'static str, data: bool },
}

/// A leaf of a [`Plan`]: its kind and the plan's pieces its text is written from.
#[derive(Clone, Copy, Debug)]
enum PlanLeaf {
    Null,
    /// The boolean value at this index.
    Bool(u32),
    Num(u32, u32),
    Str(u32, u32),
}

/// A piece of a [`Plan`]'s text: `Plan::text[start..end]`, or a value by index.
#[derive(Clone, Copy, Debug)]
enum PlanPiece {
    Text(u32, u32),
    Val(u32),
}

#[derive(Clone, Copy, Debug)]
enum PlanOp {
    One(FieldId, PlanLeaf),
    /// An array, its elements `Plan::leaves[start..end]`.
    Array(FieldId, u32, u32),
}

/// The stores one walk of a record made, replayable on every record of the chunk with the
/// same [signature](signature).
///
/// Every decision of the walk — which elements are left out, which values are dropped,
/// whether an element is a leaf, a number or an object, every field name — depends only on
/// the templates and on each value's kind and emptiness, which the signature holds; except
/// for a `Data` name written from a value, and records with one are never planned. So a
/// record with the signature of a planned one is decoded by formatting its values into the
/// planned fields, straight into the event's map, without resolving a node or interning a
/// path. Plans live as long as the chunk's templates.
#[derive(Debug, Default)]
struct Plan {
    text: String,
    pieces: Vec<PlanPiece>,
    leaves: Vec<PlanLeaf>,
    ops: Vec<PlanOp>,
}

impl From<crate::error::EventError> for Unsupported {
    fn from(_: crate::error::EventError) -> Unsupported {
        Unsupported("field")
    }
}

impl Plan {
    /// The plan of a walk's stores, their texts written from `pieces`.
    fn new(stored: &[Stored], array_leaves: &[Leaf], pieces: &[Piece<'_>]) -> Plan {
        let mut plan = Plan::default();
        for op in stored {
            let op = match *op {
                Stored::One(id, leaf) => PlanOp::One(id, plan.leaf(leaf, pieces)),
                Stored::Array(id, start, end) => {
                    let first = plan.leaves.len() as u32;
                    for &leaf in &array_leaves[start as usize..end as usize] {
                        let leaf = plan.leaf(leaf, pieces);
                        plan.leaves.push(leaf);
                    }
                    PlanOp::Array(id, first, plan.leaves.len() as u32)
                }
            };
            plan.ops.push(op);
        }
        plan
    }

    /// A walk's leaf as a plan's, its pieces (template texts copied) appended to the plan.
    fn leaf(&mut self, leaf: Leaf, pieces: &[Piece<'_>]) -> PlanLeaf {
        let span = match leaf {
            Leaf::Null => return PlanLeaf::Null,
            Leaf::Bool(_, k) => return PlanLeaf::Bool(k),
            Leaf::Num(span) | Leaf::Str(span) => span,
        };
        let first = self.pieces.len() as u32;
        let (start, end) = span.pieces;
        for piece in &pieces[start as usize..end as usize] {
            self.pieces.push(match *piece {
                Piece::Text(t) => {
                    let at = self.text.len() as u32;
                    self.text.push_str(t);
                    PlanPiece::Text(at, self.text.len() as u32)
                }
                Piece::Val(k) => PlanPiece::Val(k),
            });
        }
        let range = (first, self.pieces.len() as u32);
        match leaf {
            Leaf::Num(_) => PlanLeaf::Num(range.0, range.1),
            _ => PlanLeaf::Str(range.0, range.1),
        }
    }

    /// Writes the text of pieces `start..end` with the record's `values`.
    fn write(&self, (start, end): (u32, u32), values: &[Val<'_>], out: &mut String) -> R<()> {
        for piece in &self.pieces[start as usize..end as usize] {
            match *piece {
                PlanPiece::Text(s, e) => out.push_str(&self.text[s as usize..e as usize]),
                PlanPiece::Val(k) => values
                    .get(k as usize)
                    .ok_or(Unsupported("plan value"))?
                    .write(out)?,
            }
        }
        Ok(())
    }

    /// The boolean value at `k`.
    fn boolean(values: &[Val<'_>], k: u32) -> R<bool> {
        match values.get(k as usize) {
            Some(Val::Bool(b)) => Ok(*b),
            _ => Err(Unsupported("plan value")),
        }
    }

    /// Stores the planned fields of a record with `values` into `fields`.
    fn replay(&self, values: &[Val<'_>], fields: &mut Fields, scratch: &mut String) -> R<()> {
        for op in &self.ops {
            match *op {
                PlanOp::One(id, PlanLeaf::Null) => fields.insert(id, Scalar::Null)?,
                PlanOp::One(id, PlanLeaf::Bool(k)) => {
                    fields.insert(id, Scalar::Bool(Plan::boolean(values, k)?))?;
                }
                PlanOp::One(id, PlanLeaf::Num(s, e)) => {
                    fields.insert_written(id, true, |out| self.write((s, e), values, out))?;
                }
                PlanOp::One(id, PlanLeaf::Str(s, e)) => {
                    fields.insert_written(id, false, |out| self.write((s, e), values, out))?;
                }
                PlanOp::Array(id, start, end) => {
                    scratch.clear();
                    let leaves = &self.leaves[start as usize..end as usize];
                    let mut spans = Vec::with_capacity(leaves.len());
                    for leaf in leaves {
                        let at = scratch.len();
                        if let PlanLeaf::Num(s, e) | PlanLeaf::Str(s, e) = *leaf {
                            self.write((s, e), values, scratch)?;
                        }
                        spans.push((at, scratch.len()));
                    }
                    let mut scalars = Vec::with_capacity(leaves.len());
                    for (leaf, (s, e)) in leaves.iter().zip(spans) {
                        scalars.push(match *leaf {
                            PlanLeaf::Null => Scalar::Null,
                            PlanLeaf::Bool(k) => Scalar::Bool(Plan::boolean(values, k)?),
                            PlanLeaf::Num(..) => Scalar::Num(&scratch[s..e]),
                            PlanLeaf::Str(..) => Scalar::Str(&scratch[s..e]),
                        });
                    }
                    fields.push_array(id, scalars)?;
                }
            }
        }
        Ok(())
    }
}

/// Appends a record's signature to `sig`: for each of its instances, in the order they were
/// read, the template and number of values, then one byte per value (its kind, and whether
/// it is empty). Two records with one signature are walked alike (see [`Plan`]).
fn signature(instances: &[Instance], values: &[Val<'_>], sig: &mut Vec<u8>) {
    for inst in instances {
        sig.extend_from_slice(&inst.template.to_le_bytes());
        sig.extend_from_slice(&(inst.values.end - inst.values.start).to_le_bytes());
        for v in &values[inst.values.start as usize..inst.values.end as usize] {
            let kind: u8 = match v {
                Val::Null => 0,
                Val::Str(_) => 1,
                Val::Unsigned(_) => 2,
                Val::Signed(_) => 3,
                Val::Bool(_) => 4,
                Val::Hex(_) => 5,
                Val::Guid(_) => 6,
                Val::FileTime(_) => 7,
                Val::Sid(_) => 8,
                Val::Binary(_) => 9,
                Val::Nested(_) => 10,
            };
            sig.push(kind | u8::from(v.empty()) << 4);
        }
    }
}

/// Chunk-wide state: templates and plans made once per chunk, buffers reused per record.
#[derive(Debug, Default)]
pub(crate) struct ChunkState {
    templates: Vec<Template>,
    by_offset: FxHashMap<u32, u32>,
    instances: Vec<Instance>,
    /// Plans by record signature; `None` for a signature whose records are always walked.
    plans: FxHashMap<Box<[u8]>, Option<u32>>,
    plan_list: Vec<Plan>,
    signature: Vec<u8>,
    path: String,
    text: String,
    counts: DirectCounts,
}

/// Records the direct EVTX decoder took, by how: see [`Decoder::evtx_direct_counts`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DirectCounts {
    /// Records decoded by walking their templates.
    pub walked: u64,
    /// Records decoded by replaying the plan of an earlier record of their chunk with the
    /// same shape.
    pub replayed: u64,
}

/// One record's walk: the chunk's templates, the record's instances and values, the fields
/// being built.
struct Walk<'s, 'd> {
    decoder: &'s mut Decoder,
    templates: &'s [Template],
    instances: &'s [Instance],
    values: &'s [Val<'d>],
    fields: Fields,
    path: String,
    /// Texts of the leaves being stored.
    text: String,
    /// Children resolved for the elements being walked, as a stack.
    nodes: Vec<Node<'s, 'd>>,
    /// Attributes (name, value nodes) of the elements being walked, as a stack.
    attrs: Vec<(&'s str, Range<usize>)>,
    /// The id of `path` when [`Walk::member_path`] interned it (taken by the next store).
    path_id: Option<FieldId>,
    /// What each text of `text` was written from.
    pieces: Vec<Piece<'s>>,
    /// The stores made, for the plan.
    stored: Vec<Stored>,
    /// The elements of stored arrays.
    array_leaves: Vec<Leaf>,
    /// False once a field name was written from a value: no plan then.
    plannable: bool,
}

impl Decoder {
    /// Decodes every record of a chunk (its 64 KiB `data`) straight from binary XML, pushing
    /// the events to `out`; nothing is pushed when the chunk is [`Unsupported`].
    pub(crate) fn decode_chunk_direct(
        &mut self,
        data: &[u8],
        free_space_offset: u32,
        last_record_id: u64,
        out: &mut std::collections::VecDeque<Event>,
    ) -> Result<(), Unsupported> {
        let start = out.len();
        let result = self.chunk_records(data, free_space_offset, last_record_id, out);
        if result.is_err() {
            out.truncate(start);
        }
        result
    }

    fn chunk_records(
        &mut self,
        data: &[u8],
        free_space_offset: u32,
        last_record_id: u64,
        out: &mut std::collections::VecDeque<Event>,
    ) -> R<()> {
        let mut state = std::mem::take(&mut self.binxml);
        state.templates.clear();
        state.by_offset.clear();
        state.plans.clear();
        state.plan_list.clear();
        let counts = state.counts;
        let live_end = (free_space_offset as usize).min(data.len());
        let mut offset = CHUNK_HEADER_BYTES;
        let mut values: Vec<Val<'_>> = Vec::new();
        let result = (|| {
            while offset < live_end {
                let mut c = Cursor { data, pos: offset };
                if c.take(4)? != b"\x2a\x2a\x00\x00" {
                    return Err(Unsupported("record magic"));
                }
                let size = c.u32()? as usize;
                let id = c.u64()?;
                // Times `evtx` could not convert are its errors to report.
                if c.u64()? >= 2_650_000_000_000_000_000 {
                    return Err(Unsupported("record time"));
                }
                if size < RECORD_HEADER_BYTES + 4 || offset + size > data.len() {
                    return Err(Unsupported("record size"));
                }
                let binxml = offset + RECORD_HEADER_BYTES..offset + size - 4;
                let event = self.record(&mut state, &mut values, data, binxml)?;
                out.push_back(event);
                if id == last_record_id {
                    break;
                }
                offset += size;
            }
            Ok(())
        })();
        if result.is_err() {
            // The chunk goes to the rendering: none of its records was taken here.
            state.counts = counts;
        }
        self.binxml = state;
        result
    }

    /// Decodes one record's binary XML, `data[binxml]`.
    fn record<'d>(
        &mut self,
        state: &mut ChunkState,
        values: &mut Vec<Val<'d>>,
        data: &'d [u8],
        binxml: Range<usize>,
    ) -> R<Event> {
        let stream = &data[binxml.clone()];
        let at = match stream {
            [0x0f, _, _, _, 0x0c, _, ..] => 5,
            [0x0c, ..] => 1,
            _ => return Err(Unsupported("record shape")),
        };
        state.instances.clear();
        values.clear();
        let end = instance(
            data,
            binxml.start + at,
            &mut state.templates,
            &mut state.by_offset,
            &mut state.instances,
            values,
            0,
        )?;
        if !matches!(data.get(end..binxml.end), Some([] | [0x00, ..])) {
            return Err(Unsupported("record after its instance"));
        }
        state.signature.clear();
        signature(&state.instances, values, &mut state.signature);
        let planned = state.plans.get(state.signature.as_slice()).copied();
        if let Some(Some(plan)) = planned {
            let plan = &state.plan_list[plan as usize];
            let mut fields = Fields::with_capacity(plan.ops.len(), binxml.len());
            plan.replay(values, &mut fields, &mut state.text)?;
            state.counts.replayed += 1;
            let facts = self.evtx_facts(&fields);
            return Ok(self.finish(Format::Evtx, fields, bytes::Bytes::new(), &facts));
        }
        let mut walk = Walk {
            decoder: self,
            templates: &state.templates,
            instances: &state.instances,
            values: values.as_slice(),
            fields: Fields::with_capacity(48, binxml.len()),
            path: std::mem::take(&mut state.path),
            text: std::mem::take(&mut state.text),
            nodes: Vec::with_capacity(64),
            attrs: Vec::with_capacity(16),
            path_id: None,
            pieces: Vec::new(),
            stored: Vec::new(),
            array_leaves: Vec::new(),
            plannable: true,
        };
        walk.path.clear();
        walk.text.clear();
        let result = walk.event();
        let plan = (result.is_ok() && planned.is_none() && walk.plannable)
            .then(|| Plan::new(&walk.stored, &walk.array_leaves, &walk.pieces));
        let Walk {
            fields, path, text, ..
        } = walk;
        state.path = path;
        state.text = text;
        result?;
        state.counts.walked += 1;
        if planned.is_none() {
            let at = plan.map(|plan| {
                state.plan_list.push(plan);
                (state.plan_list.len() - 1) as u32
            });
            state.plans.insert(state.signature.as_slice().into(), at);
        }
        let facts = self.evtx_facts(&fields);
        Ok(self.finish(Format::Evtx, fields, bytes::Bytes::new(), &facts))
    }

    /// How many records the direct decoder ([`Decoder::set_evtx_rendering`]`(false)`) took
    /// so far, walked and replayed; records of chunks it left to the rendering are not counted.
    pub fn evtx_direct_counts(&self) -> DirectCounts {
        self.binxml.counts
    }

    /// The facts of an evtx-shaped event (see `json_fields`).
    pub(crate) fn evtx_facts(&self, fields: &Fields) -> Facts {
        let k = known();
        Facts {
            channel: Some(k.channel),
            provider: Some(k.provider_name),
            event_id: Some(k.event_id),
            class_format: Some(Format::Evtx),
            host: Some(k.computer),
            time: fields
                .get(k.system_time)
                .and_then(|v| v.as_text())
                .and_then(|t| parse_rfc3339(t, self.origin.default_offset).ok()),
            ..Facts::default()
        }
    }
}

/// Reads the template instance whose body starts at `pos` (after its token) into
/// `instances`/`values`, parsing its template when new; returns where it ends.
fn instance<'d>(
    data: &'d [u8],
    pos: usize,
    templates: &mut Vec<Template>,
    by_offset: &mut FxHashMap<u32, u32>,
    instances: &mut Vec<Instance>,
    values: &mut Vec<Val<'d>>,
    depth: usize,
) -> R<usize> {
    if depth > MAX_NESTING {
        return Err(Unsupported("nesting"));
    }
    let mut c = Cursor { data, pos };
    c.u8()?;
    c.u32()?;
    let def = c.u32()?;
    if def as usize == c.pos {
        c.take(20)?;
        let size = c.u32()? as usize;
        c.take(size)?;
    }
    let template = match by_offset.get(&def) {
        Some(&t) => t,
        None => {
            let t = u32::try_from(templates.len()).map_err(|_| Unsupported("size"))?;
            templates.push(Template::parse(data, def)?);
            by_offset.insert(def, t);
            t
        }
    };
    let count = c.u32()?;
    if count > MAX_VALUES {
        return Err(Unsupported("values"));
    }
    let descriptors = c.take(4 * count as usize)?;
    // This instance's values first, contiguous; nested instances push theirs after.
    let first = values.len();
    values.resize(first + count as usize, Val::Null);
    let to_u32 = |n: usize| u32::try_from(n).map_err(|_| Unsupported("size"));
    instances.push(Instance {
        template,
        values: to_u32(first)?..to_u32(first + count as usize)?,
    });
    for (i, d) in descriptors.chunks_exact(4).enumerate() {
        let size = usize::from(u16::from_le_bytes([d[0], d[1]]));
        let start = c.pos;
        let bytes = c.take(size)?;
        let fixed = |n: usize| -> R<&[u8]> {
            if size == n {
                Ok(bytes)
            } else {
                Err(Unsupported("value size"))
            }
        };
        let le = |b: &[u8]| {
            let mut word = [0u8; 8];
            word[..b.len()].copy_from_slice(b);
            u64::from_le_bytes(word)
        };
        let value = match d[2] {
            0x00 => Val::Null,
            0x01 => {
                if size % 2 != 0 {
                    return Err(Unsupported("odd string"));
                }
                Val::Str(until_nul(bytes))
            }
            0x03 => Val::Signed(i64::from(fixed(1)?[0] as i8)),
            0x04 => Val::Unsigned(le(fixed(1)?)),
            0x05 => Val::Signed(i64::from(le(fixed(2)?) as u16 as i16)),
            0x06 => Val::Unsigned(le(fixed(2)?)),
            0x07 => Val::Signed(i64::from(le(fixed(4)?) as u32 as i32)),
            0x08 => Val::Unsigned(le(fixed(4)?)),
            0x09 => Val::Signed(le(fixed(8)?) as i64),
            0x0a => Val::Unsigned(le(fixed(8)?)),
            0x0d => match le(fixed(4)?) as u32 as i32 {
                0 => Val::Bool(false),
                1 => Val::Bool(true),
                raw => Val::Signed(i64::from(raw)),
            },
            0x0e => Val::Binary(bytes),
            0x0f => Val::Guid(fixed(16)?),
            0x10 if size == 4 || size == 8 => Val::Hex(le(bytes)),
            0x11 => Val::FileTime(le(fixed(8)?)),
            0x13 => {
                if size < 8 || size != 8 + 4 * usize::from(bytes[1]) {
                    return Err(Unsupported("sid size"));
                }
                Val::Sid(bytes)
            }
            0x14 => Val::Hex(le(fixed(4)?)),
            0x15 => Val::Hex(le(fixed(8)?)),
            0x21 => {
                let at = match bytes {
                    [0x0f, _, _, _, 0x0c, _, ..] => 5,
                    [0x0c, ..] => 1,
                    _ => return Err(Unsupported("nested shape")),
                };
                let nested = u32::try_from(instances.len()).map_err(|_| Unsupported("size"))?;
                let end = instance(
                    data,
                    start + at,
                    templates,
                    by_offset,
                    instances,
                    values,
                    depth + 1,
                )?;
                if !matches!(data.get(end..start + size), Some([] | [0x00, ..])) {
                    return Err(Unsupported("nested stream"));
                }
                Val::Nested(nested)
            }
            _ => return Err(Unsupported("value type")),
        };
        values[first + i] = value;
    }
    Ok(c.pos)
}

impl<'s> Seen<&'s str> {
    /// Adds `name`; two siblings of one name are unsupported (`evtx` numbers them).
    fn check(&mut self, name: &'s str) -> R<()> {
        let bit = name_bit(name.as_bytes());
        if self.filter & bit != 0 && self.list.contains(&name) {
            return Err(Unsupported("repeated name"));
        }
        self.filter |= bit;
        self.list.push(name);
        Ok(())
    }
}

impl<'s, 'd> Walk<'s, 'd> {
    fn template_of(&self, inst: u32) -> &'s Template {
        let t = self.instances[inst as usize].template;
        &self.templates[t as usize]
    }

    fn elem(&self, inst: u32, elem: u32) -> &'s TElem {
        &self.template_of(inst).elems[elem as usize]
    }

    /// Value `id` of instance `inst`, and its index among the record's values.
    fn value(&self, inst: u32, id: u16) -> Option<(Val<'d>, u32)> {
        let range = &self.instances[inst as usize].values;
        let at = range.start as usize + usize::from(id);
        (at < range.end as usize).then(|| (self.values[at], at as u32))
    }

    /// Where the next leaf's text starts: in `text` and in `pieces`.
    fn mark(&self) -> (usize, u32) {
        (self.text.len(), self.pieces.len() as u32)
    }

    /// The span written since `mark`.
    fn span(&self, (start, piece): (usize, u32)) -> Span {
        Span {
            start,
            end: self.text.len(),
            pieces: (piece, self.pieces.len() as u32),
        }
    }

    /// Appends template text to the leaf being written.
    fn put_text(&mut self, t: &'s str) {
        self.text.push_str(t);
        self.pieces.push(Piece::Text(t));
    }

    /// Appends value `k`'s text to the leaf being written.
    fn put_val(&mut self, v: Val<'d>, k: u32) -> R<()> {
        v.write(&mut self.text)?;
        self.pieces.push(Piece::Val(k));
        Ok(())
    }

    /// Resolves template nodes onto the node stack (`resolve_node_into`): elements whose
    /// dependency is NullType left out, optional empty values dropped, nested instances as
    /// their root element.
    fn resolve(&mut self, inst: u32, nodes: &'s [TNode], in_attr: bool) -> R<()> {
        for node in nodes {
            match node {
                TNode::Elem(e) => {
                    if in_attr {
                        return Err(Unsupported("element in attribute"));
                    }
                    let el = self.elem(inst, *e);
                    if let Some(dep) = el.dependency
                        && matches!(self.value(inst, dep), Some((Val::Null, _)))
                    {
                        continue;
                    }
                    self.nodes.push(Node::Elem(inst, *e));
                }
                TNode::Text(t) => self.nodes.push(Node::Text(t)),
                TNode::Sub { id, optional } => match self.value(inst, *id) {
                    None => {}
                    Some((v, _)) if *optional && v.empty() => {}
                    Some((Val::Nested(n), _)) => {
                        if in_attr {
                            return Err(Unsupported("element in attribute"));
                        }
                        self.nodes.push(Node::Elem(n, 0));
                    }
                    Some((v, k)) => self.nodes.push(Node::Val(v, k)),
                },
            }
        }
        Ok(())
    }

    /// Pushes an element's resolved children; returns their range on the stack.
    fn children(&mut self, inst: u32, elem: u32) -> R<Range<usize>> {
        let start = self.nodes.len();
        let el = self.elem(inst, elem);
        self.resolve(inst, &el.children, false)?;
        Ok(start..self.nodes.len())
    }

    /// Pushes the resolved value of each attribute with content; returns (name, range) pairs.
    fn attrs(&mut self, inst: u32, elem: u32) -> R<Range<usize>> {
        let el = self.elem(inst, elem);
        let first = self.attrs.len();
        for a in &el.attrs {
            let start = self.nodes.len();
            self.resolve(inst, &a.value, true)?;
            // An attribute whose value resolved to nothing is dropped (`clone_and_resolve`).
            if self.nodes.len() > start {
                self.attrs.push((&*a.name, start..self.nodes.len()));
            }
        }
        Ok(first..self.attrs.len())
    }

    fn has_content(&self, range: &Range<usize>) -> bool {
        self.nodes[range.clone()].iter().any(Node::is_content)
    }

    /// `try_as_number_plain`: the one bare value of `range`, if that is all it holds.
    fn as_number(&self, range: &Range<usize>, skip_elements: bool) -> R<Option<(Val<'d>, u32)>> {
        let mut single: Option<Node<'s, 'd>> = None;
        for node in &self.nodes[range.clone()] {
            match node {
                Node::Elem(..) => {
                    if !skip_elements {
                        return Ok(None);
                    }
                }
                Node::Text(t) => {
                    if skip_elements {
                        if !t.is_empty() {
                            return Ok(None);
                        }
                    } else if single.is_some() || !t.is_empty() {
                        return Ok(None);
                    } else {
                        single = Some(*node);
                    }
                }
                Node::Val(v, _) => {
                    if skip_elements && v.empty() {
                        continue;
                    }
                    if single.is_some() {
                        return Ok(None);
                    }
                    single = Some(*node);
                }
            }
        }
        Ok(match single {
            Some(Node::Val(v, k)) if v.bare() => Some((v, k)),
            _ => None,
        })
    }

    /// A leaf for a bare value.
    fn bare_leaf(&mut self, (v, k): (Val<'d>, u32)) -> R<Leaf> {
        if let Val::Bool(b) = v {
            return Ok(Leaf::Bool(b, k));
        }
        let mark = self.mark();
        self.put_val(v, k)?;
        Ok(Leaf::Num(self.span(mark)))
    }

    /// `content_as_json_value_plain`: a number, or the text of the nodes.
    fn content_value(&mut self, range: Range<usize>, skip_elements: bool) -> R<Leaf> {
        if let Some(v) = self.as_number(&range, skip_elements)? {
            return self.bare_leaf(v);
        }
        let mark = self.mark();
        for i in range {
            match self.nodes[i] {
                Node::Text(t) => self.put_text(t),
                Node::Val(v, k) => self.put_val(v, k)?,
                Node::Elem(..) => {
                    if !skip_elements {
                        return Err(Unsupported("element in text"));
                    }
                }
            }
        }
        Ok(Leaf::Str(self.span(mark)))
    }

    /// `try_leaf_value_plain`: an element with exactly one text or value child.
    fn leaf(&mut self, range: &Range<usize>, empty_as_string: bool) -> R<Option<Leaf>> {
        if range.len() != 1 {
            return Ok(None);
        }
        let empty = if empty_as_string {
            Leaf::Str(Span::EMPTY)
        } else {
            Leaf::Null
        };
        match self.nodes[range.start] {
            Node::Elem(..) => Ok(None),
            Node::Text("") => Ok(Some(empty)),
            Node::Text(t) => {
                let mark = self.mark();
                self.put_text(t);
                Ok(Some(Leaf::Str(self.span(mark))))
            }
            Node::Val(v, _) if v.empty() => Ok(Some(empty)),
            Node::Val(v, k) if v.bare() => self.bare_leaf((v, k)).map(Some),
            Node::Val(v, k) => {
                let mark = self.mark();
                self.put_val(v, k)?;
                Ok(Some(Leaf::Str(self.span(mark))))
            }
        }
    }

    /// Stores a leaf under the current path (or `_` when it is empty, as the JSON path does).
    fn store(&mut self, leaf: Leaf) -> R<()> {
        let id = self.path_field()?;
        self.fields.insert(id, leaf.scalar(&self.text))?;
        self.stored.push(Stored::One(id, leaf));
        Ok(())
    }

    /// The field the current path names: the id [`Walk::member_path`] interned, or the
    /// path interned now.
    fn path_field(&mut self) -> R<FieldId> {
        if let Some(id) = self.path_id.take() {
            return Ok(id);
        }
        let path = if self.path.is_empty() {
            "_"
        } else {
            &self.path
        };
        self.decoder
            .intern(path)
            .map_err(|_| Unsupported("field name"))
    }

    /// The record's root: `Event`, flattened as `Parser::evtx_event` does.
    fn event(&mut self) -> R<()> {
        let root = self.elem(0, 0);
        if &*root.name != "Event" {
            return Err(Unsupported("root"));
        }
        let children = self.children(0, 0)?;
        let (has_text, has_elem) = self.layout(&children);
        if has_text || !has_elem {
            return Err(Unsupported("event shape"));
        }
        let mut names: Seen<&str> = Seen::default();
        let mut has_system = false;
        for i in children.clone() {
            let Node::Elem(inst, e) = self.nodes[i] else {
                continue;
            };
            let name = &*self.elem(inst, e).name;
            names.check(name)?;
            self.path_id = None;
            self.path.clear();
            match name {
                "System" => {
                    has_system = true;
                    self.section(inst, e, "", false)?;
                }
                "EventData" => self.section(inst, e, "EventData", true)?,
                "UserData" => self.user_data(inst, e)?,
                _ => {
                    push_name(&mut self.path, name);
                    self.element_value(inst, e, false)?;
                }
            }
        }
        self.nodes.truncate(children.start);
        if !has_system {
            return Err(Unsupported("no System"));
        }
        Ok(())
    }

    fn layout(&self, range: &Range<usize>) -> (bool, bool) {
        let nodes = &self.nodes[range.clone()];
        (
            nodes.iter().any(Node::is_content),
            nodes.iter().any(|n| matches!(n, Node::Elem(..))),
        )
    }

    /// What `write_element_value_plain` would write for the element, as an object (its
    /// members flattened at `level`) or a leaf; `None` for an object.
    fn element_value_at(
        &mut self,
        inst: u32,
        e: u32,
        container: bool,
        level: Level,
    ) -> R<Option<Leaf>> {
        let children = self.children(inst, e)?;
        let attrs = self.attrs(inst, e)?;
        let result = (|| {
            if attrs.is_empty()
                && let Some(leaf) = self.leaf(&children, false)?
            {
                return Ok(Some(leaf));
            }
            let (has_text, has_elem) = self.layout(&children);
            let attrs_text = self.attrs[attrs.clone()]
                .iter()
                .any(|(_, r)| self.has_content(r));
            if !has_elem && !has_text && !attrs_text {
                Ok(Some(Leaf::Null))
            } else if !has_elem && !attrs_text {
                self.content_value(children.clone(), false).map(Some)
            } else {
                self.body(&children, attrs.clone(), container, false, has_text, level)?;
                Ok(None)
            }
        })();
        self.nodes.truncate(children.start);
        self.attrs.truncate(attrs.start);
        result
    }

    /// Stores the element's value under the current path (nested naming).
    fn element_value(&mut self, inst: u32, e: u32, container: bool) -> R<()> {
        if let Some(leaf) = self.element_value_at(inst, e, container, Level::Nested)? {
            self.store(leaf)?;
        }
        Ok(())
    }

    /// A section (`System`, `EventData`, a `UserData` child): `Parser::section`.
    fn section(&mut self, inst: u32, e: u32, section: &'static str, data: bool) -> R<()> {
        let container = is_container(&self.elem(inst, e).name);
        let level = Level::Section { section, data };
        if let Some(leaf) = self.element_value_at(inst, e, container, level)? {
            self.path_id = None;
            self.path.clear();
            self.path.push_str(section);
            self.store(leaf)?;
        }
        Ok(())
    }

    /// `UserData`: one vendor element whose children are fields (`Parser::evtx_event`).
    fn user_data(&mut self, inst: u32, e: u32) -> R<()> {
        let children = self.children(inst, e)?;
        let attrs = self.attrs(inst, e)?;
        let result = (|| {
            let (has_text, has_elem) = self.layout(&children);
            if has_text
                || self.attrs[attrs.clone()]
                    .iter()
                    .any(|(_, r)| self.has_content(r))
            {
                return Err(Unsupported("UserData shape"));
            }
            if !has_elem {
                // `null` (or `""`, a leaf): stored as `UserData`.
                let leaf = match self.leaf(&children, false)? {
                    Some(leaf) => leaf,
                    None => Leaf::Null,
                };
                self.path_id = None;
                self.path.clear();
                self.path.push_str("UserData");
                return self.store(leaf);
            }
            let mut names: Seen<&str> = Seen::default();
            for i in children.clone() {
                let Node::Elem(ci, ce) = self.nodes[i] else {
                    continue;
                };
                let name = &*self.elem(ci, ce).name;
                // `UserData` is a container: its `Data` children would be flattened by name.
                if name == "Data" {
                    return Err(Unsupported("Data in UserData"));
                }
                names.check(name)?;
                self.path_id = None;
                self.path.clear();
                self.section(ci, ce, "UserData", true)?;
            }
            Ok(())
        })();
        self.nodes.truncate(children.start);
        self.attrs.truncate(attrs.start);
        result
    }

    /// Sets the path for member `name` of an element flattened at `level`: the element's
    /// path is `self.path[..base]`.
    fn member_path(&mut self, base: usize, name: &str, level: Level) -> R<()> {
        self.path_id = None;
        self.path.truncate(base);
        match level {
            Level::Nested => {
                if base > 0 {
                    self.path.push('.');
                }
                push_name(&mut self.path, name);
            }
            Level::Section { section, data } => {
                self.path_id = None;
                self.path.clear();
                push_name(&mut self.path, name);
                if data {
                    let id = self
                        .decoder
                        .intern(&self.path)
                        .map_err(|_| Unsupported("field name"))?;
                    if self.fields.get(id).is_some() {
                        self.path.insert(0, '.');
                        self.path.insert_str(0, section);
                    } else {
                        self.path_id = Some(id);
                    }
                }
            }
        }
        Ok(())
    }

    /// [`Walk::member_path`] for a name held in `self.text`.
    fn member_path_text(&mut self, base: usize, name: Range<usize>, level: Level) -> R<()> {
        let text = std::mem::take(&mut self.text);
        let result = self.member_path(base, &text[name], level);
        self.text = text;
        result
    }

    /// `element_body_plain`: the element as an object, its members flattened at `level`
    /// under the current path.
    fn body(
        &mut self,
        children: &Range<usize>,
        attrs: Range<usize>,
        container: bool,
        omit_attributes: bool,
        has_text: bool,
        level: Level,
    ) -> R<()> {
        let base = self.path.len();
        let own = self.path_id.take();
        let result = self.body_members(
            children,
            attrs,
            container,
            omit_attributes,
            has_text,
            level,
            base,
        );
        self.path.truncate(base);
        self.path_id = None;
        let members = result?;
        if members == 0 && level == Level::Nested {
            self.path_id = own;
            self.store(Leaf::Null)?;
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn body_members(
        &mut self,
        children: &Range<usize>,
        attrs: Range<usize>,
        container: bool,
        omit_attributes: bool,
        has_text: bool,
        level: Level,
        base: usize,
    ) -> R<usize> {
        let mut members = 0;
        // Named form: one `Data` child with a non-empty `Name` attribute.
        let mut named = false;
        let mut positional = 0;
        if container {
            for i in children.clone() {
                let Node::Elem(ci, ce) = self.nodes[i] else {
                    continue;
                };
                if &*self.elem(ci, ce).name != "Data" {
                    continue;
                }
                positional += 1;
                if let Some(r) = self.name_attr(ci, ce)? {
                    named |= self.has_content(&r);
                    self.nodes.truncate(r.start);
                    if named {
                        // `body_start_plain` stops at the first name too.
                        break;
                    }
                }
            }
            if named {
                positional = 0;
            }
        }
        if !omit_attributes {
            let mut wrote = false;
            for a in attrs {
                let (name, r) = self.attrs[a].clone();
                if !self.has_content(&r) {
                    continue;
                }
                wrote = true;
                if let Level::Nested = level {
                    let leaf = match self.as_number(&r, false)? {
                        Some(v) => self.bare_leaf(v)?,
                        None => self.content_value(r.clone(), false)?,
                    };
                    self.path_id = None;
                    self.path.truncate(base);
                    self.path.push('_');
                    push_name(&mut self.path, name);
                    self.store(leaf)?;
                }
            }
            members += usize::from(wrote);
        }
        if has_text {
            members += 1;
            let leaf = self.content_value(children.clone(), true)?;
            self.path_id = None;
            self.path.truncate(base);
            if let Level::Section { section, .. } = level {
                self.path_id = None;
                self.path.clear();
                self.path.push_str(section);
            }
            self.store(leaf)?;
        }
        let mut names: Seen<&str> = Seen::default();
        let mut data_filter = 0u64;
        let mut data_names: Vec<Range<usize>> = Vec::new();
        let mut positional_done = false;
        for i in children.clone() {
            let Node::Elem(ci, ce) = self.nodes[i] else {
                continue;
            };
            let child = self.elem(ci, ce);
            if container && &*child.name == "Data" {
                if named {
                    let Some(r) = self.name_attr(ci, ce)? else {
                        continue;
                    };
                    let has_name = self.has_content(&r);
                    let name = if has_name {
                        Some(self.text_of(r.clone())?)
                    } else {
                        None
                    };
                    self.nodes.truncate(r.start);
                    let Some(name) = name else {
                        continue;
                    };
                    let text = &self.text;
                    let bit = name_bit(text[name.clone()].as_bytes());
                    if data_filter & bit != 0
                        && data_names
                            .iter()
                            .any(|n| text[n.clone()] == text[name.clone()])
                    {
                        return Err(Unsupported("repeated Data name"));
                    }
                    data_filter |= bit;
                    members += 1;
                    self.member_path_text(base, name.clone(), level)?;
                    data_names.push(name);
                    self.data_value(ci, ce)?;
                } else if !positional_done && positional > 0 {
                    positional_done = true;
                    members += 1;
                    self.member_path(base, "Data", level)?;
                    self.positional(children, positional)?;
                }
                continue;
            }
            let name = &*child.name;
            names.check(name)?;
            members += 1;
            self.member_path(base, name, level)?;
            self.element_value(ci, ce, is_container(name))?;
        }
        Ok(members)
    }

    /// Pushes the resolved value of a `Data` element's `Name` attribute; `None` without one
    /// (an attribute whose value resolved to nothing is no attribute).
    fn name_attr(&mut self, inst: u32, e: u32) -> R<Option<Range<usize>>> {
        let el = self.elem(inst, e);
        let Some(a) = el.attrs.iter().find(|a| &*a.name == "Name") else {
            return Ok(None);
        };
        let start = self.nodes.len();
        self.resolve(inst, &a.value, true)?;
        Ok((self.nodes.len() > start).then_some(start..self.nodes.len()))
    }

    /// The text of attribute-value nodes (`text_content_plain`), appended to `self.text`.
    fn text_of(&mut self, range: Range<usize>) -> R<Range<usize>> {
        let start = self.text.len();
        for i in range {
            match self.nodes[i] {
                Node::Text(t) => self.text.push_str(t),
                Node::Val(v, _) => {
                    // A field name that depends on a value: records are walked one by one.
                    self.plannable = false;
                    v.write(&mut self.text)?;
                }
                Node::Elem(..) => return Err(Unsupported("element in text")),
            }
        }
        Ok(start..self.text.len())
    }

    /// `data_element_value_plain` as a leaf; `None` when it is an object.
    fn data_leaf(&mut self, children: &Range<usize>) -> R<Option<Leaf>> {
        if let Some(leaf) = self.leaf(children, true)? {
            return Ok(Some(leaf));
        }
        let (has_text, has_elem) = self.layout(children);
        if !has_text && !has_elem {
            Ok(Some(Leaf::Str(Span::EMPTY)))
        } else if has_elem {
            Ok(None)
        } else {
            self.content_value(children.clone(), false).map(Some)
        }
    }

    /// Stores a `Data` element's value under the current path.
    fn data_value(&mut self, inst: u32, e: u32) -> R<()> {
        let children = self.children(inst, e)?;
        let result = (|| match self.data_leaf(&children)? {
            Some(leaf) => self.store(leaf),
            None => {
                let (has_text, _) = self.layout(&children);
                let none = self.attrs.len()..self.attrs.len();
                self.body(&children, none, false, true, has_text, Level::Nested)
            }
        })();
        self.nodes.truncate(children.start);
        result
    }

    /// The `Data` children of a container without names: `"Data":{"#text":…}`, one value or
    /// an array of them, stored under the current path.
    fn positional(&mut self, siblings: &Range<usize>, count: usize) -> R<()> {
        let data: Vec<(u32, u32)> = self.nodes[siblings.clone()]
            .iter()
            .filter_map(|n| match *n {
                Node::Elem(i, e) if &*self.elem(i, e).name == "Data" => Some((i, e)),
                _ => None,
            })
            .collect();
        if count == 1 {
            return self.data_value(data[0].0, data[0].1);
        }
        let mut leaves = Vec::with_capacity(data.len());
        for (i, e) in data {
            let children = self.children(i, e)?;
            let leaf = self.data_leaf(&children);
            self.nodes.truncate(children.start);
            leaves.push(leaf?.ok_or(Unsupported("object in a Data array"))?);
        }
        let id = self.path_field()?;
        let text = &self.text;
        let scalars = leaves.iter().map(|leaf| leaf.scalar(text));
        self.fields.push_array(id, scalars)?;
        let start = self.array_leaves.len() as u32;
        self.array_leaves.extend(leaves);
        self.stored
            .push(Stored::Array(id, start, self.array_leaves.len() as u32));
        Ok(())
    }
}

/// `EventData` and `UserData` flatten their `Data` children by name.
fn is_container(name: &str) -> bool {
    name == "EventData" || name == "UserData"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_end_at_the_first_nul_unit() {
        for len in 0..20usize {
            for nul in 0..=len {
                let mut units: Vec<u16> = (0..len)
                    .map(|i| [0x41, 0x100, 0x4100, 0xffff][i % 4])
                    .collect();
                if nul < len {
                    units[nul] = 0;
                }
                let bytes: Vec<u8> = units.iter().flat_map(|u| u.to_le_bytes()).collect();
                assert_eq!(until_nul(&bytes).len(), 2 * nul.min(len), "{units:x?}");
                // An odd trailing byte is no unit.
                let mut odd = bytes.clone();
                odd.push(0);
                assert_eq!(until_nul(&odd).len(), 2 * nul.min(len), "{units:x?}");
            }
        }
    }

    #[test]
    fn utf16_text_is_decoded_or_left_to_the_rendering() {
        let encode = |s: &str| {
            s.encode_utf16()
                .flat_map(u16::to_le_bytes)
                .collect::<Vec<_>>()
        };
        for text in [
            "",
            "C:\\Windows\\cmd.exe",
            "é",
            &"x".repeat(300),
            &format!("{}€", "a".repeat(200)),
        ] {
            let mut out = String::from("<");
            push_utf16(&mut out, &encode(text)).unwrap();
            assert_eq!(out, format!("<{text}"));
        }
        let mut out = String::new();
        assert!(push_utf16(&mut out, &0xd800u16.to_le_bytes()).is_err());
    }

    #[test]
    fn values_render_as_evtx_writes_them() {
        let text = |v: Val<'_>| {
            let mut out = String::new();
            v.write(&mut out).unwrap();
            out
        };
        assert_eq!(text(Val::Signed(-5)), "-5");
        assert_eq!(text(Val::Signed(i64::MIN)), "-9223372036854775808");
        assert_eq!(text(Val::Unsigned(u64::MAX)), "18446744073709551615");
        assert_eq!(text(Val::Hex(0)), "0x0");
        assert_eq!(text(Val::Hex(0x8000_0000_0000_0000)), "0x8000000000000000");
        assert_eq!(text(Val::Binary(&[0x0a, 0xff])), "0AFF");
        let guid = [
            0x5f, 0x38, 0x70, 0x57, 0x2a, 0xc2, 0xe0, 0x43, 0xbf, 0x4c, 6, 0xf5, 0x69, 0x8f, 0xfb,
            0xd9,
        ];
        assert_eq!(
            text(Val::Guid(&guid)),
            "{5770385f-c22a-43e0-bf4c-06f5698ffbd9}"
        );
        let sid = [1, 2, 0, 0, 0, 0, 0, 5, 32, 0, 0, 0, 0x20, 2, 0, 0];
        assert_eq!(text(Val::Sid(&sid)), "S-1-5-32-544");
        // 2026-04-17T05:24:53.0920510Z
        assert_eq!(
            text(Val::FileTime(134_208_770_930_920_510)),
            "2026-04-17T05:24:53.0920510Z"
        );
        assert_eq!(text(Val::FileTime(0)), "1601-01-01T00:00:00.0000000Z");
        assert_eq!(
            text(Val::FileTime(u64::MAX)),
            "0000-00-00T00:00:00.0000000Z"
        );
    }
}
