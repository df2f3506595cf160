//! Aggregations: count, date histogram, terms top-N (nested one level), cardinality.
//!
//! Count and the date histogram read the time column (exact, nanosecond buckets). Terms
//! and cardinality read the term dictionary and the postings of the field (the index has
//! no per-field columns for dynamic fields, see `index::schema`): per segment, each value's
//! count is its document frequency (every event matches) or the size of its postings
//! intersected with the matching events. Each segment keeps its top `shard_size` values
//! (10 × size, at least 1,000); as in every sharded engine, a merged count can then be low
//! by at most [`TermsBucket::error_bound`] (0 when no segment had to cut). Cardinality is
//! a HyperLogLog (2^14 registers, about 1 % error; linear counting makes small counts
//! exact).

use std::collections::BTreeMap;

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rustc_hash::FxHashMap;
use tantivy::collector::{Collector, Count, SegmentCollector};
use tantivy::columnar::Column;
use tantivy::query::{AllQuery, EnableScoring};
use tantivy::schema::IndexRecordOption;
use tantivy::{DateTime, DocId, DocSet, Score, SegmentOrdinal, SegmentReader, TERMINATED, Term};
use vigie_event::{TenantId, Timestamp};

use crate::index::schema::{Layout, META_TEXT};
use crate::partition::Partition;
use crate::query::{Query, TimeRange};
use crate::store::Prepared;
use crate::{Store, StoreError};

/// An aggregation request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Aggregation {
    /// The number of matching events.
    Count,
    /// Events per time bucket; `interval` in nanoseconds, or chosen automatically (about 60
    /// buckets over the range, or over the data when the range is open) when `None`.
    DateHistogram {
        /// Bucket width.
        interval: Option<i64>,
    },
    /// The most frequent values of a field, optionally each split by a second field.
    Terms {
        /// The field (metadata name or event field).
        field: String,
        /// How many values.
        size: usize,
        /// A second level: (field, size).
        then: Option<(String, usize)>,
    },
    /// The number of distinct values of a field (HyperLogLog++, exact for small counts).
    Cardinality {
        /// The field.
        field: String,
    },
}

/// An aggregation's answer.
#[derive(Clone, Debug, PartialEq)]
pub enum AggregationResult {
    /// [`Aggregation::Count`].
    Count(u64),
    /// [`Aggregation::DateHistogram`]: buckets in time order, empty ones included between
    /// the first and the last non-empty bucket.
    DateHistogram {
        /// Bucket width in nanoseconds.
        interval: i64,
        /// The buckets.
        buckets: Vec<HistogramBucket>,
    },
    /// [`Aggregation::Terms`].
    Terms {
        /// Values, most frequent first.
        buckets: Vec<TermsBucket>,
        /// Events whose value is not among the buckets.
        other: u64,
    },
    /// [`Aggregation::Cardinality`].
    Cardinality(u64),
}

/// One bucket of a date histogram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HistogramBucket {
    /// Start of the bucket.
    pub start: Timestamp,
    /// Events in it.
    pub count: u64,
}

/// One value of a terms aggregation.
#[derive(Clone, Debug, PartialEq)]
pub struct TermsBucket {
    /// The value (numbers and booleans as text).
    pub key: String,
    /// Events with it.
    pub count: u64,
    /// The second level, if asked.
    pub sub: Vec<TermsBucket>,
    /// How much `count` may be below the truth (0 when exact).
    pub error_bound: u64,
}

/// Interval ladder of automatic histograms, in seconds.
const STEPS: [i64; 17] = [
    1,
    5,
    10,
    30,
    60,
    300,
    600,
    1800,
    3600,
    3 * 3600,
    6 * 3600,
    12 * 3600,
    86_400,
    7 * 86_400,
    30 * 86_400,
    90 * 86_400,
    365 * 86_400,
];

/// The most buckets a date histogram may have (empty ones between the first and the last
/// included). A request for more is refused with [`StoreError::InvalidAggregation`] instead of
/// building an answer whose size the caller chose: one second over a month is 2.6 M buckets.
pub const MAX_HISTOGRAM_BUCKETS: u64 = 10_000;

/// The smallest ladder step giving at most `target` buckets over `span` nanoseconds; past the
/// ladder's last step (a year), whole years, as many as needed to stay within `target`. The
/// span is 128 bits wide: two event times can be further apart than an `i64` holds.
pub fn auto_interval(span: i128, target: i64) -> i64 {
    const NANOS: i64 = 1_000_000_000;
    let target = i128::from(target.max(1));
    let span = span.max(0);
    for s in STEPS {
        let nanos = s * NANOS;
        if span / i128::from(nanos) < target {
            return nanos;
        }
    }
    let year = STEPS[STEPS.len() - 1] * NANOS;
    let years = (span / i128::from(year)) / target + 1;
    i64::try_from(years.saturating_mul(i128::from(year))).unwrap_or(i64::MAX)
}

/// The start of bucket `index` of width `interval`, clamped to the times a [`Timestamp`] can
/// hold (the first bucket of an event near 1677 may start before them).
fn bucket_start(index: i64, interval: i64) -> Timestamp {
    let nanos = i128::from(index) * i128::from(interval);
    Timestamp::from_nanos(nanos.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64)
}

impl Store {
    /// Computes `aggregation` over the events of `tenant` matching `query` in `range`.
    pub fn aggregate(
        &self,
        tenant: &TenantId,
        query: &Query,
        range: TimeRange,
        aggregation: &Aggregation,
    ) -> Result<AggregationResult, StoreError> {
        let now = Timestamp::now();
        let prepared = self.prepared(tenant, query, &range, now)?;
        match aggregation {
            Aggregation::Count => {
                let mut total = 0u64;
                for (p, searcher, q) in &prepared {
                    total += searcher
                        .search(q, &Count)
                        .map_err(|e| StoreError::index(&p.name, e))?
                        as u64;
                }
                Ok(AggregationResult::Count(total))
            }
            Aggregation::DateHistogram { interval } => {
                let interval = match interval {
                    Some(i) if *i > 0 => *i,
                    Some(i) => {
                        return Err(StoreError::InvalidAggregation {
                            message: format!("a histogram interval must be positive, not {i} ns"),
                        });
                    }
                    None => {
                        // A closed range gives the span; an open end takes the data's
                        // (column statistics, read only then: they cost a tenth of a
                        // millisecond on a histogram that takes a third).
                        let span = match (range.from, range.to) {
                            (Some(f), Some(t)) => {
                                i128::from(t.as_nanos()) - i128::from(f.as_nanos())
                            }
                            (from, to) => match data_bounds(&prepared)? {
                                Some((lo, hi)) => {
                                    let lo = from.map_or(lo, |f| lo.max(f.as_nanos()));
                                    let hi = to.map_or(hi, |t| hi.min(t.as_nanos()));
                                    i128::from(hi) - i128::from(lo)
                                }
                                None => 0,
                            },
                        };
                        auto_interval(span, 60)
                    }
                };
                let too_many = || StoreError::InvalidAggregation {
                    message: format!(
                        "a histogram of {interval} ns buckets over this data would have more \
                         than {MAX_HISTOGRAM_BUCKETS} buckets: widen the interval or narrow the \
                         time range"
                    ),
                };
                let mut counts: BTreeMap<i64, u64> = BTreeMap::new();
                for (p, searcher, q) in &prepared {
                    let all = q.downcast_ref::<tantivy::query::AllQuery>().is_some();
                    let part = searcher
                        .search(q, &Histogram { interval, all })
                        .map_err(|e| StoreError::index(&p.name, e))?;
                    let Some(part) = part else {
                        return Err(too_many());
                    };
                    for (k, v) in part {
                        *counts.entry(k).or_default() += v;
                    }
                }
                let mut buckets = Vec::new();
                if let (Some(&first), Some(&last)) = (counts.keys().next(), counts.keys().last()) {
                    // Keys are bucket indexes: the count of buckets is their difference.
                    if (last as i128) - (first as i128) + 1 > MAX_HISTOGRAM_BUCKETS as i128 {
                        return Err(too_many());
                    }
                    for k in first..=last {
                        buckets.push(HistogramBucket {
                            start: bucket_start(k, interval),
                            count: counts.get(&k).copied().unwrap_or(0),
                        });
                    }
                }
                Ok(AggregationResult::DateHistogram { interval, buckets })
            }
            Aggregation::Terms { field, size, then } => {
                if *size == 0 || *size > 10_000 {
                    return Err(StoreError::InvalidAggregation {
                        message: format!("terms size must be 1 to 10000, not {size}"),
                    });
                }
                if let Some((_, sub_size)) = then
                    && (*sub_size == 0 || *sub_size > 1_000)
                {
                    return Err(StoreError::InvalidAggregation {
                        message: format!("nested terms size must be 1 to 1000, not {sub_size}"),
                    });
                }
                let outer = ValueSource::new(field)?;
                let inner = then
                    .as_ref()
                    .map(|(f, n)| ValueSource::new(f).map(|s| (s, *n)))
                    .transpose()?;
                let mut matching = Vec::with_capacity(prepared.len());
                for (p, searcher, q) in &prepared {
                    matching.push(matching_docs(p, searcher, q.as_ref())?);
                }
                let (buckets, other, _) = top_terms(&prepared, &matching, &outer, *size, None)?;
                let mut out = Vec::with_capacity(buckets.len());
                for (key_bytes, count, error_bound) in buckets {
                    let sub = match &inner {
                        None => Vec::new(),
                        Some((src, n)) => {
                            let (b, _, _) = top_terms(
                                &prepared,
                                &matching,
                                src,
                                *n,
                                Some((&outer, &key_bytes)),
                            )?;
                            b.into_iter()
                                .map(|(k, c, e)| TermsBucket {
                                    key: src.display(&k),
                                    count: c,
                                    sub: Vec::new(),
                                    error_bound: e,
                                })
                                .collect()
                        }
                    };
                    out.push(TermsBucket {
                        key: outer.display(&key_bytes),
                        count,
                        sub,
                        error_bound,
                    });
                }
                Ok(AggregationResult::Terms {
                    buckets: out,
                    other,
                })
            }
            Aggregation::Cardinality { field } => {
                let src = ValueSource::new(field)?;
                let mut hll = HyperLogLog::new();
                for (p, searcher, q) in &prepared {
                    let docs = matching_docs(p, searcher, q.as_ref())?;
                    for (ord, segment) in searcher.segment_readers().iter().enumerate() {
                        src.for_each_value(p, segment, docs.get(ord), None, &mut |key, _| {
                            hll.add(key);
                        })?;
                    }
                }
                Ok(AggregationResult::Cardinality(hll.estimate()))
            }
        }
    }
}

/// Where a field's values sit in the index: a field and the prefix of its terms.
struct ValueSource {
    name: String,
    kind: ValueKind,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ValueKind {
    /// A metadata keyword field (terms are the lower-cased text).
    Keyword,
    /// `event_id` (terms are big-endian u64).
    EventId,
    /// An event field: terms are `path \0 type value` in the JSON field.
    Json,
}

impl ValueSource {
    fn new(name: &str) -> Result<ValueSource, StoreError> {
        if name == "time" || name == "id" || name.is_empty() {
            return Err(StoreError::InvalidAggregation {
                message: format!("cannot count values of {name:?}; use a date histogram for time"),
            });
        }
        let (name, kind) = match name.strip_prefix("fields.") {
            Some(rest) if !rest.is_empty() => (rest.to_owned(), ValueKind::Json),
            Some(_) => {
                return Err(StoreError::InvalidAggregation {
                    message: "empty event field name after `fields.`".into(),
                });
            }
            None if META_TEXT.contains(&name) => (name.to_owned(), ValueKind::Keyword),
            None if name == "event_id" => (name.to_owned(), ValueKind::EventId),
            None => (name.to_owned(), ValueKind::Json),
        };
        Ok(ValueSource { name, kind })
    }

    /// The index field and term prefix in `layout`.
    fn locate(&self, layout: &Layout) -> (tantivy::schema::Field, Vec<u8>) {
        match self.kind {
            ValueKind::Keyword => (
                layout.meta_field(&self.name).unwrap_or(layout.meta[0]),
                Vec::new(),
            ),
            ValueKind::EventId => (layout.event_id, Vec::new()),
            ValueKind::Json => (
                layout.fields,
                Term::from_field_json_path(layout.fields, &self.name, true)
                    .serialized_value_bytes()
                    .to_vec(),
            ),
        }
    }

    /// A value's text from its term bytes (after the prefix).
    fn display(&self, key: &[u8]) -> String {
        let be = |b: &[u8]| b.try_into().map(u64::from_be_bytes).unwrap_or(0);
        match self.kind {
            ValueKind::Keyword => String::from_utf8_lossy(key).into_owned(),
            ValueKind::EventId => be(key).to_string(),
            ValueKind::Json => {
                let (typ, v) = key.split_first().unwrap_or((&b's', &[]));
                match typ {
                    b'i' => tantivy::u64_to_i64(be(v)).to_string(),
                    b'u' => be(v).to_string(),
                    b'f' => tantivy::u64_to_f64(be(v)).to_string(),
                    b'o' => (be(v) != 0).to_string(),
                    b'd' => Timestamp::from_nanos(tantivy::u64_to_i64(be(v)))
                        .to_rfc3339(vigie_event::UtcOffset::UTC),
                    _ => String::from_utf8_lossy(v).into_owned(),
                }
            }
        }
    }

    /// Calls `f(value bytes, count)` for every value of the field among `docs` (all alive
    /// documents when `None`) in one segment, restricted to the documents having
    /// `within = (field, value)` when given.
    fn for_each_value(
        &self,
        p: &Partition,
        segment: &SegmentReader,
        docs: Option<&Option<Bits>>,
        within: Option<(&ValueSource, &[u8])>,
        f: &mut dyn FnMut(&[u8], u64),
    ) -> Result<(), StoreError> {
        let err = |e: std::io::Error| StoreError::index(&p.name, e);
        let terr = |e: tantivy::TantivyError| StoreError::index(&p.name, e);
        let docs: Option<&Bits> = docs.and_then(|d| d.as_ref());
        // Documents of the `within` value, intersected with `docs`.
        let restricted;
        let docs = match within {
            None => docs,
            Some((src, key)) => {
                let (field, prefix) = src.locate(&p.layout);
                let inverted = segment.inverted_index(field).map_err(terr)?;
                let mut full = prefix;
                full.extend_from_slice(key);
                let mut bits = Bits::new(segment.max_doc());
                if let Some(info) = inverted.terms().get(&full).map_err(err)? {
                    let mut postings = inverted
                        .read_postings_from_terminfo(&info, IndexRecordOption::Basic)
                        .map_err(err)?;
                    let mut doc = postings.doc();
                    while doc != TERMINATED {
                        if docs.is_none_or(|d| d.contains(doc)) {
                            bits.insert(doc);
                        }
                        doc = postings.advance();
                    }
                }
                restricted = bits;
                Some(&restricted)
            }
        };
        let (field, prefix) = self.locate(&p.layout);
        let inverted = segment.inverted_index(field).map_err(terr)?;
        let mut builder = inverted.terms().range();
        if !prefix.is_empty() {
            builder = builder.ge(&prefix);
            if let Some(end) = prefix_end(&prefix) {
                builder = builder.lt(&end);
            }
        }
        let mut stream = builder.into_stream().map_err(err)?;
        while stream.advance() {
            let key = &stream.key()[prefix.len()..];
            let info = stream.value();
            let count = match docs {
                None => u64::from(info.doc_freq),
                Some(bits) => {
                    let mut postings = inverted
                        .read_postings_from_terminfo(info, IndexRecordOption::Basic)
                        .map_err(err)?;
                    let mut n = 0u64;
                    let mut doc = postings.doc();
                    while doc != TERMINATED {
                        n += u64::from(bits.contains(doc));
                        doc = postings.advance();
                    }
                    n
                }
            };
            if count > 0 {
                f(key, count);
            }
        }
        Ok(())
    }
}

/// The smallest byte string greater than every string starting with `prefix`.
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// A document set of one segment.
struct Bits {
    words: Vec<u64>,
}

impl Bits {
    fn new(max_doc: u32) -> Bits {
        Bits {
            words: vec![0; (max_doc as usize).div_ceil(64)],
        }
    }

    fn insert(&mut self, doc: DocId) {
        if let Some(w) = self.words.get_mut(doc as usize / 64) {
            *w |= 1 << (doc % 64);
        }
    }

    fn contains(&self, doc: DocId) -> bool {
        self.words
            .get(doc as usize / 64)
            .is_some_and(|w| w & (1 << (doc % 64)) != 0)
    }
}

/// Per segment of a partition, the matching documents; `None` for a segment where every
/// document matches (the query is `*` and the range covers the partition) and no
/// document is deleted, which lets counts come straight from the term dictionary.
fn matching_docs(
    p: &Partition,
    searcher: &tantivy::Searcher,
    q: &dyn tantivy::query::Query,
) -> Result<Vec<Option<Bits>>, StoreError> {
    let terr = |e: tantivy::TantivyError| StoreError::index(&p.name, e);
    let everything = q.downcast_ref::<AllQuery>().is_some();
    let weight = q
        .weight(EnableScoring::disabled_from_searcher(searcher))
        .map_err(terr)?;
    let mut out = Vec::new();
    for segment in searcher.segment_readers() {
        if everything && segment.alive_bitset().is_none() {
            out.push(None);
            continue;
        }
        let mut bits = Bits::new(segment.max_doc());
        let alive = segment.alive_bitset();
        weight
            .for_each_no_score(segment, &mut |docs| {
                for &d in docs {
                    if alive.is_none_or(|a| a.is_alive(d)) {
                        bits.insert(d);
                    }
                }
            })
            .map_err(terr)?;
        out.push(Some(bits));
    }
    Ok(out)
}

type TopTerms = (Vec<(Vec<u8>, u64, u64)>, u64, u64);

/// The `size` most frequent values of `src` over the matching documents (optionally inside
/// one value of another field), their counts and error bounds, the count of the rest, and
/// the total.
fn top_terms(
    prepared: &Prepared,
    matching: &[Vec<Option<Bits>>],
    src: &ValueSource,
    size: usize,
    within: Option<(&ValueSource, &[u8])>,
) -> Result<TopTerms, StoreError> {
    let shard_size = (size * 10).max(1_000);
    let mut merged: FxHashMap<Vec<u8>, u64> = FxHashMap::default();
    let mut total = 0u64;
    let mut error_bound = 0u64;
    for ((p, searcher, _), docs) in prepared.iter().zip(matching) {
        for (ord, segment) in searcher.segment_readers().iter().enumerate() {
            // A bounded min-heap of (count, value): values are copied only when they can
            // enter the top of this segment.
            let mut heap: BinaryHeap<Reverse<(u64, Vec<u8>)>> = BinaryHeap::new();
            let mut cut = 0u64;
            src.for_each_value(p, segment, docs.get(ord), within, &mut |key, count| {
                total += count;
                if heap.len() < shard_size {
                    heap.push(Reverse((count, key.to_vec())));
                } else if heap.peek().is_some_and(|Reverse((min, _))| count > *min) {
                    if let Some(Reverse((dropped, _))) = heap.pop() {
                        cut = cut.max(dropped);
                    }
                    heap.push(Reverse((count, key.to_vec())));
                } else {
                    cut = cut.max(count);
                }
            })?;
            error_bound += cut;
            for Reverse((count, key)) in heap {
                *merged.entry(key).or_default() += count;
            }
        }
    }
    let mut all: Vec<(Vec<u8>, u64)> = merged.into_iter().collect();
    all.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let kept: u64 = all.iter().take(size).map(|(_, c)| c).sum();
    let buckets = all
        .into_iter()
        .take(size)
        .map(|(k, c)| (k, c, error_bound))
        .collect();
    Ok((buckets, total - kept, total))
}

/// HyperLogLog with 2^14 registers and the usual small-range correction.
struct HyperLogLog {
    registers: Vec<u8>,
}

impl HyperLogLog {
    const P: u32 = 14;

    fn new() -> HyperLogLog {
        HyperLogLog {
            registers: vec![0; 1 << Self::P],
        }
    }

    fn add(&mut self, value: &[u8]) {
        use std::hash::{BuildHasher, BuildHasherDefault};
        // SipHash with fixed keys: the same value always lands in the same register.
        let h = BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default()
            .hash_one(value);
        let idx = (h >> (64 - Self::P)) as usize;
        let rest = (h << Self::P) | (1 << (Self::P - 1));
        let rank = rest.leading_zeros() as u8 + 1;
        if self.registers[idx] < rank {
            self.registers[idx] = rank;
        }
    }

    fn estimate(&self) -> u64 {
        let m = self.registers.len() as f64;
        let sum: f64 = self
            .registers
            .iter()
            .map(|&r| 2f64.powi(-i32::from(r)))
            .sum();
        let alpha = 0.7213 / (1.0 + 1.079 / m);
        let raw = alpha * m * m / sum;
        let zeros = self.registers.iter().filter(|&&r| r == 0).count();
        let estimate = if raw <= 2.5 * m && zeros > 0 {
            m * (m / zeros as f64).ln()
        } else {
            raw
        };
        estimate.round() as u64
    }
}

/// First and last event time over the prepared partitions (from the column statistics).
fn data_bounds(prepared: &Prepared) -> Result<Option<(i64, i64)>, StoreError> {
    let mut lo = i64::MAX;
    let mut hi = i64::MIN;
    for (p, searcher, _) in prepared {
        for segment in searcher.segment_readers() {
            if segment.num_docs() == 0 {
                continue;
            }
            let col = segment
                .fast_fields()
                .date("time")
                .map_err(|e| StoreError::index(&p.name, e))?;
            lo = lo.min(col.min_value().into_timestamp_nanos());
            hi = hi.max(col.max_value().into_timestamp_nanos());
        }
    }
    Ok((lo <= hi).then_some((lo, hi)))
}

/// Counts matching events per time bucket. Buckets are keyed by their index (time divided by
/// the interval, rounded down), never by their start, so no time of an event overflows; a
/// segment that fills more than [`MAX_HISTOGRAM_BUCKETS`] distinct buckets stops counting and
/// the whole search answers `None` (too many buckets), so memory stays bounded whatever the
/// interval.
struct Histogram {
    interval: i64,
    /// The query matches every document (see [`Histogram::collect_segment`]).
    all: bool,
}

struct SegmentHistogram {
    interval: i64,
    time: Column<DateTime>,
    counts: BTreeMap<i64, u64>,
    /// More distinct buckets than allowed were seen: the answer is `None`.
    overflow: bool,
    /// The current bucket (index, `[lo, hi)` in nanoseconds) and its pending count:
    /// documents of a segment mostly come in time order, so runs are long and a time is
    /// usually placed by two comparisons, without a division. The bounds are clamped to the
    /// `i64` range; a time at a clamped edge takes the division path, which gives the same
    /// index, so the answer is exact there too.
    run: Option<Run>,
    /// Times of a block of documents, decoded together.
    block: Vec<Option<DateTime>>,
}

/// A run of documents in one bucket.
#[derive(Clone, Copy)]
struct Run {
    index: i64,
    lo: i64,
    hi: i64,
    n: u64,
}

impl SegmentHistogram {
    fn add(&mut self, t: i64) {
        if let Some(run) = &mut self.run
            && t >= run.lo
            && t < run.hi
        {
            run.n += 1;
            return;
        }
        self.flush();
        let index = t.div_euclid(self.interval);
        let clamp = |v: i128| v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
        let lo = i128::from(index) * i128::from(self.interval);
        self.run = Some(Run {
            index,
            lo: clamp(lo),
            hi: clamp(lo + i128::from(self.interval)),
            n: 1,
        });
    }

    fn flush(&mut self) {
        if let Some(Run { index: b, n, .. }) = self.run.take() {
            if self.overflow {
                return;
            }
            if self.counts.len() as u64 >= MAX_HISTOGRAM_BUCKETS && !self.counts.contains_key(&b) {
                self.overflow = true;
                self.counts.clear();
                return;
            }
            *self.counts.entry(b).or_default() += n;
        }
    }
}

impl Collector for Histogram {
    type Fruit = Option<BTreeMap<i64, u64>>;
    type Child = SegmentHistogram;

    fn for_segment(
        &self,
        _segment: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<SegmentHistogram> {
        Ok(SegmentHistogram {
            interval: self.interval,
            time: reader.fast_fields().date("time")?,
            counts: BTreeMap::new(),
            overflow: false,
            run: None,
            block: Vec::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    /// A query matching every document of a segment without deletes (`*` over a partition
    /// the range covers, the common histogram of a whole history) reads the time column in
    /// bulk instead of document by document through the query.
    fn collect_segment(
        &self,
        weight: &dyn tantivy::query::Weight,
        segment: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<Option<BTreeMap<i64, u64>>> {
        let mut c = self.for_segment(segment, reader)?;
        let whole =
            self.all && reader.alive_bitset().is_none() && c.time.get_cardinality().is_full();
        if whole {
            let mut buf = vec![DateTime::from_timestamp_nanos(0); 4096];
            let mut start = 0u32;
            while start < reader.max_doc() {
                let n = (reader.max_doc() - start).min(buf.len() as u32) as usize;
                c.time.values.get_range(u64::from(start), &mut buf[..n]);
                for t in &buf[..n] {
                    c.add(t.into_timestamp_nanos());
                }
                start += n as u32;
            }
        } else {
            crate::index::collect::run_query(&mut c, weight, reader)?;
        }
        Ok(c.harvest())
    }

    fn merge_fruits(&self, fruits: Vec<Self::Fruit>) -> tantivy::Result<Self::Fruit> {
        let mut out = BTreeMap::new();
        for f in fruits {
            let Some(f) = f else { return Ok(None) };
            for (k, v) in f {
                *out.entry(k).or_default() += v;
            }
            if out.len() as u64 > MAX_HISTOGRAM_BUCKETS {
                return Ok(None);
            }
        }
        Ok(Some(out))
    }
}

impl SegmentCollector for SegmentHistogram {
    type Fruit = Option<BTreeMap<i64, u64>>;

    fn collect(&mut self, doc: DocId, _score: Score) {
        if let Some(t) = self.time.first(doc) {
            self.add(t.into_timestamp_nanos());
        }
    }

    fn collect_block(&mut self, docs: &[DocId]) {
        let mut block = std::mem::take(&mut self.block);
        block.clear();
        block.resize(docs.len(), None);
        self.time.first_vals(docs, &mut block);
        for t in block.iter().flatten() {
            self.add(t.into_timestamp_nanos());
        }
        self.block = block;
    }

    fn harvest(mut self) -> Self::Fruit {
        self.flush();
        (!self.overflow).then_some(self.counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How many buckets of width `interval` lie from the one holding `first` to the one holding
    /// `last`, both included; computed in 128 bits, so any two times and any positive interval
    /// give an exact answer.
    fn bucket_count(first: i64, last: i64, interval: i64) -> u128 {
        let interval = i128::from(interval.max(1));
        let a = i128::from(first).div_euclid(interval);
        let b = i128::from(last).div_euclid(interval);
        if b < a { 0 } else { (b - a + 1) as u128 }
    }

    #[test]
    fn automatic_intervals_give_at_most_the_target() {
        const S: i64 = 1_000_000_000;
        let auto = |span: i64| auto_interval(i128::from(span), 60);
        assert_eq!(auto(0), S);
        assert_eq!(auto(59 * S), S);
        assert_eq!(auto(24 * 3600 * S), 1800 * S);
        assert_eq!(auto(7 * 86_400 * S), 3 * 3600 * S);
        const YEAR: i64 = 365 * 86_400 * S;
        assert_eq!(auto(59 * YEAR), YEAR);
        assert_eq!(auto(60 * YEAR), 2 * YEAR);
        // The widest span a subtraction gives, 292 years: at most 60 buckets, plus one when
        // the data straddles a bucket edge.
        let widest = auto_interval(i128::from(i64::MAX), 60);
        assert!(bucket_count(0, i64::MAX, widest) <= 61);
        // The whole range of times, wider than an i64.
        let whole = i128::from(i64::MAX) - i128::from(i64::MIN);
        assert!(bucket_count(i64::MIN, i64::MAX, auto_interval(whole, 60)) <= 61);
        assert_eq!(auto_interval(-5, 60), S);
    }

    #[test]
    fn the_interval_ladder_is_the_documented_one() {
        assert_eq!(
            STEPS,
            [
                1, 5, 10, 30, 60, 300, 600, 1800, 3600, 10_800, 21_600, 43_200, 86_400, 604_800,
                2_592_000, 7_776_000, 31_536_000
            ]
        );
    }

    #[test]
    fn bucket_counts_are_exact_at_the_extremes() {
        assert_eq!(bucket_count(0, 0, 10), 1);
        assert_eq!(bucket_count(0, 9, 10), 1);
        assert_eq!(bucket_count(0, 10, 10), 2);
        assert_eq!(bucket_count(-1, 0, 10), 2);
        assert_eq!(bucket_count(5, 4, 10), 1);
        assert_eq!(bucket_count(15, 4, 10), 0);
        assert_eq!(bucket_count(i64::MIN, i64::MAX, 1), 1u128 << 64);
        assert_eq!(bucket_count(i64::MIN, i64::MAX, i64::MAX), 4);
        assert_eq!(bucket_start(i64::MIN, i64::MAX).as_nanos(), i64::MIN);
        assert_eq!(bucket_start(-2, 10).as_nanos(), -20);
    }

    #[test]
    fn aggregation_fields_map_to_their_terms() {
        let kind = |n: &str| ValueSource::new(n).map(|s| (s.name, s.kind));
        assert!(matches!(kind("host"), Ok((n, ValueKind::Keyword)) if n == "host"));
        assert!(matches!(kind("Image"), Ok((n, ValueKind::Json)) if n == "Image"));
        assert!(matches!(kind("fields.host"), Ok((n, ValueKind::Json)) if n == "host"));
        assert!(matches!(kind("event_id"), Ok((_, ValueKind::EventId))));
        assert!(kind("time").is_err());
        assert!(kind("fields.").is_err());
    }

    #[test]
    fn hyperloglog_is_exact_when_small_and_close_when_large() {
        let mut h = HyperLogLog::new();
        for i in 0..3u32 {
            h.add(&i.to_le_bytes());
            h.add(&i.to_le_bytes());
        }
        assert_eq!(h.estimate(), 3);
        let mut h = HyperLogLog::new();
        for i in 0..200_000u32 {
            h.add(&i.to_le_bytes());
        }
        let e = h.estimate() as f64;
        assert!((e - 200_000.0).abs() / 200_000.0 < 0.03, "{e}");
    }

    #[test]
    fn prefix_ends_are_the_next_prefix() {
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(&[b'a', 0xff]), Some(b"b".to_vec()));
        assert_eq!(prefix_end(&[0xff]), None);
    }
}
