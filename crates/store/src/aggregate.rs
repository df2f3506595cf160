//! Aggregations: count, date histogram, terms top-N (nested one level), cardinality.
//!
//! Count and the date histogram are computed here from the time column (exact, nanosecond
//! buckets); terms and cardinality use tantivy's aggregation engine on the fast columns,
//! merged across partitions with its distributed (intermediate) results. As in every
//! sharded search engine, a terms count can be low by at most
//! [`TermsBucket::error_bound`] when a value sits outside the top `shard_size` of some
//! partition; the shard size is 10 × size (at least 100) to make that rare.

use std::collections::BTreeMap;

use tantivy::aggregation::agg_req::Aggregations;
use tantivy::aggregation::intermediate_agg_result::IntermediateAggregationResults;
use tantivy::aggregation::{AggContextParams, AggregationLimitsGuard, DistributedAggregationCollector};
use tantivy::collector::{Collector, Count, SegmentCollector};
use tantivy::columnar::Column;
use tantivy::{DateTime, DocId, Score, SegmentOrdinal, SegmentReader};
use vigie_event::{TenantId, Timestamp};

use crate::query::{Query, TimeRange};
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
    1, 5, 10, 30, 60, 300, 600, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86_400,
    7 * 86_400, 30 * 86_400, 90 * 86_400, 365 * 86_400,
];

/// The smallest ladder step giving at most `target` buckets over `span` nanoseconds.
pub fn auto_interval(span: i64, target: i64) -> i64 {
    for s in STEPS {
        let nanos = s * 1_000_000_000;
        if span / nanos < target {
            return nanos;
        }
    }
    STEPS[STEPS.len() - 1] * 1_000_000_000
}

/// The tantivy name of a field for aggregations.
fn agg_field(name: &str) -> Result<String, StoreError> {
    if name == "time" || name == "id" || name.is_empty() {
        return Err(StoreError::InvalidAggregation {
            message: format!("cannot count values of {name:?}; use a date histogram for time"),
        });
    }
    Ok(match name.strip_prefix("fields.") {
        Some(_) => name.to_owned(),
        None if crate::index::schema::META_TEXT.contains(&name) || name == "event_id" => {
            name.to_owned()
        }
        None => format!("fields.{name}"),
    })
}

fn terms_request(field: &str, size: usize) -> serde_json::Value {
    serde_json::json!({
        "terms": {
            "field": field,
            "size": size,
            "shard_size": (size * 10).max(100),
            "show_term_doc_count_error": true,
        }
    })
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
                        let span = match (range.from, range.to) {
                            (Some(f), Some(t)) => Some(t.as_nanos().saturating_sub(f.as_nanos())),
                            _ => data_span(&prepared)?,
                        };
                        auto_interval(span.unwrap_or(0).max(0), 60)
                    }
                };
                let mut counts: BTreeMap<i64, u64> = BTreeMap::new();
                for (p, searcher, q) in &prepared {
                    let part = searcher
                        .search(q, &Histogram { interval })
                        .map_err(|e| StoreError::index(&p.name, e))?;
                    for (k, v) in part {
                        *counts.entry(k).or_default() += v;
                    }
                }
                let mut buckets = Vec::new();
                if let (Some(&first), Some(&last)) = (counts.keys().next(), counts.keys().last()) {
                    let mut k = first;
                    while k <= last {
                        buckets.push(HistogramBucket {
                            start: Timestamp::from_nanos(k),
                            count: counts.get(&k).copied().unwrap_or(0),
                        });
                        match k.checked_add(interval) {
                            Some(n) => k = n,
                            None => break,
                        }
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
                let mut req = terms_request(&agg_field(field)?, *size);
                if let Some((sub_field, sub_size)) = then {
                    if *sub_size == 0 || *sub_size > 1_000 {
                        return Err(StoreError::InvalidAggregation {
                            message: format!("nested terms size must be 1 to 1000, not {sub_size}"),
                        });
                    }
                    req["aggs"] = serde_json::json!({ "sub": terms_request(&agg_field(sub_field)?, *sub_size) });
                }
                let result = run_tantivy(&prepared, req)?;
                let buckets = terms_buckets(&result)?;
                let other = result["sum_other_doc_count"].as_u64().unwrap_or(0);
                Ok(AggregationResult::Terms { buckets, other })
            }
            Aggregation::Cardinality { field } => {
                let req = serde_json::json!({ "cardinality": { "field": agg_field(field)? } });
                let result = run_tantivy(&prepared, req)?;
                let value = result["value"].as_f64().unwrap_or(0.0);
                Ok(AggregationResult::Cardinality(value.round() as u64))
            }
        }
    }
}

type Prepared = Vec<(
    std::sync::Arc<crate::partition::Partition>,
    tantivy::Searcher,
    Box<dyn tantivy::query::Query>,
)>;

/// First and last event time over the prepared partitions (from the column statistics).
fn data_span(prepared: &Prepared) -> Result<Option<i64>, StoreError> {
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
    Ok((lo <= hi).then(|| hi - lo))
}

/// Runs one tantivy aggregation (named `a`) over every partition and merges the results.
fn run_tantivy(prepared: &Prepared, req: serde_json::Value) -> Result<serde_json::Value, StoreError> {
    let bad = |e: &dyn std::fmt::Display| StoreError::InvalidAggregation {
        message: e.to_string(),
    };
    let aggs: Aggregations =
        serde_json::from_value(serde_json::json!({ "a": req })).map_err(|e| bad(&e))?;
    let limits = || AggregationLimitsGuard::new(Some(512 << 20), Some(65_000));
    let mut merged: Option<IntermediateAggregationResults> = None;
    for (p, searcher, q) in prepared {
        let collector = DistributedAggregationCollector::from_aggs(
            aggs.clone(),
            AggContextParams::new(limits(), Default::default()),
        );
        let part = searcher
            .search(q, &collector)
            .map_err(|e| StoreError::index(&p.name, e))?;
        match &mut merged {
            Some(m) => m.merge_fruits(part).map_err(|e| bad(&e))?,
            None => merged = Some(part),
        }
    }
    let merged = merged.unwrap_or_default();
    let final_result = merged
        .into_final_result(aggs, limits())
        .map_err(|e| bad(&e))?;
    let value = serde_json::to_value(&final_result).map_err(|e| bad(&e))?;
    Ok(value["a"].clone())
}

fn terms_buckets(result: &serde_json::Value) -> Result<Vec<TermsBucket>, StoreError> {
    let Some(buckets) = result["buckets"].as_array() else {
        return Ok(Vec::new());
    };
    let mut out = Vec::with_capacity(buckets.len());
    for b in buckets {
        let key = match &b["key"] {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            other => other.to_string(),
        };
        let sub = if b.get("sub").is_some() {
            terms_buckets(&b["sub"])?
        } else {
            Vec::new()
        };
        out.push(TermsBucket {
            key,
            count: b["doc_count"].as_u64().unwrap_or(0),
            sub,
            error_bound: b["doc_count_error_upper_bound"].as_u64().unwrap_or(0),
        });
    }
    Ok(out)
}

/// Counts matching events per time bucket.
struct Histogram {
    interval: i64,
}

struct SegmentHistogram {
    interval: i64,
    time: Column<DateTime>,
    counts: BTreeMap<i64, u64>,
    /// The bucket of the previous document and its pending count (documents of a segment
    /// mostly come in time order, so runs are long).
    run: Option<(i64, u64)>,
}

impl Collector for Histogram {
    type Fruit = BTreeMap<i64, u64>;
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
            run: None,
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<Self::Fruit>) -> tantivy::Result<Self::Fruit> {
        let mut out = BTreeMap::new();
        for f in fruits {
            for (k, v) in f {
                *out.entry(k).or_default() += v;
            }
        }
        Ok(out)
    }
}

impl SegmentCollector for SegmentHistogram {
    type Fruit = BTreeMap<i64, u64>;

    fn collect(&mut self, doc: DocId, _score: Score) {
        let Some(t) = self.time.first(doc) else {
            return;
        };
        let t = t.into_timestamp_nanos();
        let bucket = t.div_euclid(self.interval) * self.interval;
        match &mut self.run {
            Some((b, n)) if *b == bucket => *n += 1,
            run => {
                if let Some((b, n)) = run.take() {
                    *self.counts.entry(b).or_default() += n;
                }
                *run = Some((bucket, 1));
            }
        }
    }

    fn harvest(mut self) -> Self::Fruit {
        if let Some((b, n)) = self.run.take() {
            *self.counts.entry(b).or_default() += n;
        }
        self.counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn automatic_intervals_give_at_most_the_target() {
        const S: i64 = 1_000_000_000;
        assert_eq!(auto_interval(0, 60), S);
        assert_eq!(auto_interval(59 * S, 60), S);
        assert_eq!(auto_interval(24 * 3600 * S, 60), 1800 * S);
        assert_eq!(auto_interval(7 * 86_400 * S, 60), 3 * 3600 * S);
        assert_eq!(auto_interval(i64::MAX, 60), 365 * 86_400 * S);
    }

    #[test]
    fn aggregation_fields_map_to_columns() {
        assert_eq!(agg_field("host").unwrap(), "host");
        assert_eq!(agg_field("Image").unwrap(), "fields.Image");
        assert_eq!(agg_field("fields.host").unwrap(), "fields.host");
        assert!(agg_field("time").is_err());
    }
}
