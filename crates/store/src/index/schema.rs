//! The tantivy schema of a partition: which event parts are indexed, fast (columnar) or
//! stored, and why.
//!
//! - Stored: one compact blob per event (`doc`): the metadata and the raw bytes. Event
//!   fields are *not* stored: they are rebuilt on fetch by decoding the raw bytes again
//!   (decoding is deterministic), which halves the document store.
//! - `fields`: every event field in one JSON field, expand-dots, indexed only: strings
//!   lower-cased whole (`kw`: keyword semantics, case-insensitive equality and wildcards),
//!   numbers and booleans typed, strings that are RFC 3339 times typed as dates (to the
//!   second). Not fast: ranges, exists and aggregations read the term dictionary and the
//!   postings, which the index holds anyway; fast columns of every dynamic path would
//!   cost as much disk again (measured: 90 of 468 bytes per event).
//! - `text`: every string value tokenised into words, with positions (bare words and
//!   phrases); indexed only. Time strings are left out (they are typed in `fields`).
//! - `time`: fast only (sorting, ranges, histograms read the column; an index of unique
//!   nanosecond times cost 18 bytes per event for nothing).
//! - `ips`: every string value that is an IP address, as `path \0 16-byte IPv6` terms, so a
//!   CIDR is one term range.
//! - Metadata (`host`, `source`, …): indexed lower-cased.

use tantivy::schema::{
    BytesOptions, DateOptions, DateTimePrecision, Field, IndexRecordOption, JsonObjectOptions,
    NumericOptions, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::{LowerCaser, RawTokenizer, TextAnalyzer};

/// Tokenizer of keyword values: the whole value, lower-cased.
pub(crate) const KEYWORD: &str = "vigie_kw";
/// Tokenizer of full text: tantivy's default (alphanumeric runs, ≤ 40 bytes, lower-cased).
pub(crate) const WORDS: &str = "default";

/// Metadata names a query can use unprefixed; every other name is an event field.
pub(crate) const META_TEXT: [&str; 8] = [
    "host",
    "source",
    "source_kind",
    "format",
    "product",
    "service",
    "category",
    "level",
];

/// The fields of a partition's schema.
#[derive(Clone, Debug)]
pub(crate) struct Layout {
    pub(crate) schema: Schema,
    /// Event id, 16 bytes big-endian (indexed: fetch by id, idempotent adds).
    pub(crate) id: Field,
    /// High and low 64 bits of the event id (fast: sort ties, cursors).
    pub(crate) id_hi: Field,
    pub(crate) id_lo: Field,
    /// Event time, nanoseconds (fast).
    pub(crate) time: Field,
    /// Metadata keyword fields, in [`META_TEXT`] order.
    pub(crate) meta: [Field; 8],
    /// Windows event id when the event has a numeric `EventID`.
    pub(crate) event_id: Field,
    pub(crate) fields: Field,
    pub(crate) ips: Field,
    pub(crate) text: Field,
    pub(crate) doc: Field,
}

impl Layout {
    pub(crate) fn new() -> Layout {
        let mut b = Schema::builder();
        // No field norms anywhere: they only serve relevance scoring, which the store never
        // does (results are ordered by time), and cost a byte per event and field.
        let keyword_index = TextFieldIndexing::default()
            .set_tokenizer(KEYWORD)
            .set_fieldnorms(false)
            .set_index_option(IndexRecordOption::Basic);
        let keyword = TextOptions::default().set_indexing_options(keyword_index.clone());
        let id = b.add_bytes_field("id", BytesOptions::default().set_indexed());
        let id_hi = b.add_u64_field("id_hi", NumericOptions::default().set_fast());
        let id_lo = b.add_u64_field("id_lo", NumericOptions::default().set_fast());
        let time = b.add_date_field(
            "time",
            DateOptions::default()
                .set_fast()
                .set_precision(DateTimePrecision::Nanoseconds),
        );
        let meta = META_TEXT.map(|name| b.add_text_field(name, keyword.clone()));
        let event_id = b.add_u64_field("event_id", NumericOptions::default().set_indexed());
        let fields = b.add_json_field(
            "fields",
            JsonObjectOptions::default()
                .set_indexing_options(keyword_index)
                .set_expand_dots_enabled(),
        );
        let ips = b.add_bytes_field("ips", BytesOptions::default().set_indexed());
        let text = b.add_text_field(
            "text",
            TextOptions::default().set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer(WORDS)
                    .set_fieldnorms(false)
                    .set_index_option(IndexRecordOption::WithFreqsAndPositions),
            ),
        );
        let doc = b.add_bytes_field("doc", BytesOptions::default().set_stored());
        Layout {
            schema: b.build(),
            id,
            id_hi,
            id_lo,
            time,
            meta,
            event_id,
            fields,
            ips,
            text,
            doc,
        }
    }

    /// The metadata field named `name`, if it is one.
    pub(crate) fn meta_field(&self, name: &str) -> Option<Field> {
        META_TEXT
            .iter()
            .position(|m| *m == name)
            .map(|i| self.meta[i])
    }
}

/// Registers the tokenizers the schema names on an index (tantivy does not persist them).
pub(crate) fn register_tokenizers(index: &tantivy::Index) {
    let keyword = TextAnalyzer::builder(RawTokenizer::default())
        .filter(LowerCaser)
        .build();
    index.tokenizers().register(KEYWORD, keyword);
}
