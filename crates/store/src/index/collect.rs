//! The top-N collector of searches: newest (or oldest) first by (time, event id), after an
//! optional cursor.
//!
//! Sorting on the event id after the time makes the order total, so a cursor (the key of
//! the last event of a page) resumes exactly where the page ended, whatever was indexed or
//! merged in between (`search_after`, not offsets).

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
    /// Column values of a block of documents, decoded together.
    times: Vec<Option<DateTime>>,
    his: Vec<Option<u64>>,
    los: Vec<Option<u64>>,
}

impl SegmentByTime {
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

impl Collector for ByTime {
    type Fruit = Vec<(Key, DocAddress)>;
    type Child = SegmentByTime;

    fn for_segment(
        &self,
        segment: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<SegmentByTime> {
        let fast = reader.fast_fields();
        Ok(SegmentByTime {
            segment,
            limit: self.limit,
            order: self.order,
            below: self.after.map(|k| rank(self.order, k)),
            time: fast.date("time")?,
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

    fn merge_fruits(&self, fruits: Vec<Self::Fruit>) -> tantivy::Result<Self::Fruit> {
        let mut all: Vec<(Key, DocAddress)> = fruits.into_iter().flatten().collect();
        let order = self.order;
        all.sort_unstable_by_key(|(k, _)| Reverse(rank(order, *k)));
        all.truncate(self.limit);
        Ok(all)
    }
}

impl SegmentCollector for SegmentByTime {
    type Fruit = Vec<(Key, DocAddress)>;

    fn collect(&mut self, doc: DocId, _score: Score) {
        if self.limit == 0 {
            return;
        }
        let time = self
            .time
            .first(doc)
            .map_or(i64::MIN, |t| t.into_timestamp_nanos());
        let hi = self.hi.first(doc).unwrap_or(0);
        let lo = self.lo.first(doc).unwrap_or(0);
        self.offer(doc, (time, (u128::from(hi) << 64) | u128::from(lo)));
    }

    fn collect_block(&mut self, docs: &[DocId]) {
        if self.limit == 0 {
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
            let time = times[k].map_or(i64::MIN, |t| t.into_timestamp_nanos());
            let id = (u128::from(his[k].unwrap_or(0)) << 64) | u128::from(los[k].unwrap_or(0));
            self.offer(doc, (time, id));
        }
        (self.times, self.his, self.los) = (times, his, los);
    }

    fn harvest(self) -> Self::Fruit {
        let order = self.order;
        let segment = self.segment;
        self.heap
            .into_iter()
            .map(|Reverse((r, doc))| (rank(order, r), DocAddress::new(segment, doc)))
            .collect()
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
