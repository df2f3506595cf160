//! The top-N collector of searches: newest (or oldest) first by (time, event id), after an
//! optional cursor.
//!
//! Sorting on the event id after the time makes the order total, so a cursor (the key of
//! the last event of a page) resumes exactly where the page ended, whatever was indexed or
//! merged in between (`search_after`, not offsets).
//!
//! The collector also applies the search's time window and counts the matches in it. A
//! range query on the time column, intersected with the query, would read the column over the
//! whole segment; filtering here reads it only for the query's matches (which the sort reads
//! anyway), and a segment whose times all fall outside the window is skipped without running
//! the query on it (`Collector::collect_segment`). Times are roughly ascending in doc order
//! (events arrive in time order), so segments of a partition cover distinct stretches of it.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::Column;
use tantivy::{DateTime, DocAddress, DocId, Score, SegmentOrdinal, SegmentReader};

/// The sort key of an event: time in nanoseconds, then event id.
pub(crate) type Key = (i64, u128);

/// Newest first, or oldest first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Order {
    /// Newest first (the default of a search).
    #[default]
    Desc,
    /// Oldest first.
    Asc,
}

/// A key turned so that "better" is always "greater": identity for newest-first, bitwise
/// complement (which reverses both orders exactly) for oldest-first.
fn rank(order: Order, key: Key) -> Key {
    match order {
        Order::Desc => key,
        Order::Asc => (!key.0, !key.1),
    }
}

#[derive(Clone)]
pub(crate) struct ByTime {
    pub(crate) limit: usize,
    pub(crate) order: Order,
    /// Only keys strictly after this one (in `order`).
    pub(crate) after: Option<Key>,
    /// Only times in `[from, to)` (nanoseconds); `None`: no window.
    pub(crate) window: Option<(i64, i64)>,
}

pub(crate) struct SegmentByTime {
    segment: SegmentOrdinal,
    limit: usize,
    order: Order,
    /// Ranks must be below this one (the cursor's rank).
    below: Option<Key>,
    time: Column<DateTime>,
    hi: Column<u64>,
    lo: Column<u64>,
    heap: BinaryHeap<Reverse<(Key, DocId)>>,
    /// The window, when some of the segment's times fall outside it.
    window: Option<(i64, i64)>,
    /// No time of the segment falls in the window: nothing to collect.
    outside: bool,
    /// Matches in the window.
    count: u64,
    /// Column values of a block of documents, decoded together.
    times: Vec<Option<DateTime>>,
    his: Vec<Option<u64>>,
    los: Vec<Option<u64>>,
}

impl SegmentByTime {
    fn in_window(&self, time: Option<DateTime>) -> bool {
        match (self.window, time) {
            (None, _) => true,
            (Some((from, to)), Some(t)) => (from..to).contains(&t.into_timestamp_nanos()),
            (Some(_), None) => false,
        }
    }

    fn offer(&mut self, doc: DocId, key: Key) {
        let r = rank(self.order, key);
        if self.below.is_some_and(|b| r >= b) {
            return;
        }
        if self.heap.len() >= self.limit {
            match self.heap.peek() {
                Some(Reverse((worst, _))) if r <= *worst => return,
                _ => {}
            }
            self.heap.pop();
        }
        self.heap.push(Reverse((r, doc)));
    }
}

/// Feeds `collector` the segment's live documents matching `weight`, a block at a time where
/// nothing is deleted: what tantivy's own `collect_segment` does for collectors that need no
/// score, for collectors that override it to skip work.
pub(crate) fn run_query<C: SegmentCollector>(
    collector: &mut C,
    weight: &dyn tantivy::query::Weight,
    reader: &SegmentReader,
) -> tantivy::Result<()> {
    match reader.alive_bitset() {
        Some(alive) => weight.for_each_no_score(reader, &mut |docs| {
            for &doc in docs {
                if alive.is_alive(doc) {
                    collector.collect(doc, 0.0);
                }
            }
        }),
        None => weight.for_each_no_score(reader, &mut |docs| collector.collect_block(docs)),
    }
}

/// The matches in the window and the best `limit` of them.
pub(crate) type Fruit = (u64, Vec<(Key, DocAddress)>);

impl Collector for ByTime {
    type Fruit = Fruit;
    type Child = SegmentByTime;

    fn for_segment(
        &self,
        segment: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<SegmentByTime> {
        let fast = reader.fast_fields();
        let time = fast.date("time")?;
        let (min, max) = (
            time.min_value().into_timestamp_nanos(),
            time.max_value().into_timestamp_nanos(),
        );
        let all_timed = time.get_cardinality().is_full();
        let (window, outside) = match self.window {
            None => (None, false),
            Some((from, to)) if all_timed && from <= min && max < to => (None, false),
            Some((from, to)) => (
                Some((from, to)),
                max < from || min >= to || reader.max_doc() == 0,
            ),
        };
        Ok(SegmentByTime {
            segment,
            limit: self.limit,
            order: self.order,
            below: self.after.map(|k| rank(self.order, k)),
            window,
            outside,
            count: 0,
            time,
            hi: fast.u64("id_hi")?,
            lo: fast.u64("id_lo")?,
            heap: BinaryHeap::with_capacity(self.limit.min(4096) + 1),
            times: Vec::new(),
            his: Vec::new(),
            los: Vec::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    /// Skips a segment outside the window before the query runs on it.
    fn collect_segment(
        &self,
        weight: &dyn tantivy::query::Weight,
        segment: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<Fruit> {
        let mut collector = self.for_segment(segment, reader)?;
        if collector.outside {
            return Ok(collector.harvest());
        }
        run_query(&mut collector, weight, reader)?;
        Ok(collector.harvest())
    }

    fn merge_fruits(&self, fruits: Vec<Fruit>) -> tantivy::Result<Fruit> {
        let count = fruits.iter().map(|(c, _)| c).sum();
        let mut all: Vec<(Key, DocAddress)> = fruits.into_iter().flat_map(|(_, t)| t).collect();
        let order = self.order;
        all.sort_unstable_by_key(|(k, _)| Reverse(rank(order, *k)));
        all.truncate(self.limit);
        Ok((count, all))
    }
}

impl SegmentCollector for SegmentByTime {
    type Fruit = Fruit;

    fn collect(&mut self, doc: DocId, _score: Score) {
        if self.outside {
            return;
        }
        let time = self.time.first(doc);
        if !self.in_window(time) {
            return;
        }
        self.count += 1;
        if self.limit == 0 {
            return;
        }
        let time = time.map_or(i64::MIN, |t| t.into_timestamp_nanos());
        let hi = self.hi.first(doc).unwrap_or(0);
        let lo = self.lo.first(doc).unwrap_or(0);
        self.offer(doc, (time, (u128::from(hi) << 64) | u128::from(lo)));
    }

    fn collect_block(&mut self, docs: &[DocId]) {
        if self.outside {
            return;
        }
        if self.limit == 0 && self.window.is_none() {
            self.count += docs.len() as u64;
            return;
        }
        let (mut times, mut his, mut los) = (
            std::mem::take(&mut self.times),
            std::mem::take(&mut self.his),
            std::mem::take(&mut self.los),
        );
        times.clear();
        times.resize(docs.len(), None);
        his.clear();
        his.resize(docs.len(), None);
        los.clear();
        los.resize(docs.len(), None);
        self.time.first_vals(docs, &mut times);
        self.hi.first_vals(docs, &mut his);
        self.lo.first_vals(docs, &mut los);
        for (k, &doc) in docs.iter().enumerate() {
            if !self.in_window(times[k]) {
                continue;
            }
            self.count += 1;
            if self.limit == 0 {
                continue;
            }
            let time = times[k].map_or(i64::MIN, |t| t.into_timestamp_nanos());
            let id = (u128::from(his[k].unwrap_or(0)) << 64) | u128::from(los[k].unwrap_or(0));
            self.offer(doc, (time, id));
        }
        (self.times, self.his, self.los) = (times, his, los);
    }

    fn harvest(self) -> Self::Fruit {
        let order = self.order;
        let segment = self.segment;
        let top = self
            .heap
            .into_iter()
            .map(|Reverse((r, doc))| (rank(order, r), DocAddress::new(segment, doc)))
            .collect();
        (self.count, top)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rank_reverses_ascending_order_exactly() {
        let keys = [
            (i64::MIN, 0u128),
            (-1, 5),
            (0, 0),
            (0, 1),
            (7, u128::MAX),
            (i64::MAX, 3),
        ];
        for w in keys.windows(2) {
            assert!(rank(Order::Desc, w[0]) < rank(Order::Desc, w[1]));
            assert!(rank(Order::Asc, w[0]) > rank(Order::Asc, w[1]));
        }
        for k in keys {
            assert_eq!(rank(Order::Asc, rank(Order::Asc, k)), k);
        }
    }
}
