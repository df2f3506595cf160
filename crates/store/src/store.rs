//! The store: partitions by tenant and period, the add/commit contract, searches, fetches.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use tantivy::query::{BooleanQuery, Occur, Query as TQuery, QueryClone, RangeQuery};
use tantivy::schema::Value as _;
use tantivy::{DateTime, TantivyDocument, Term};
use vigie_event::{Event, EventId, Fields, TenantId, Timestamp};

use crate::StoreError;
use crate::index::collect::{ByTime, Key, Order};
use crate::index::compile::compile;
use crate::index::doc::{rebuild_fields, unblob};
use crate::index::schema::Layout;
use crate::partition::{Added, Partition, WriterSettings, dir_bytes};
use crate::query::{Predicate, Query, TimeRange};

const SETTINGS_FILE: &str = "store.settings";
const NANOS_PER_HOUR: i64 = 3_600_000_000_000;

/// How the store is laid out and how much it may use; fixed settings (the period) are
/// checked against the ones the store was created with.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// Length of a partition, in hours: a divisor of 24 (1, 2, 3, 4, 6, 8, 12) or a whole
    /// number of days (24, 48, …). Fixed when the store is created. Default 24.
    pub period_hours: u32,
    /// Memory of each open index writer (tantivy's indexing heap), in bytes; events are
    /// flushed to a new segment when it fills. Default 128 MiB.
    pub writer_heap_bytes: usize,
    /// Indexing threads of each writer. Default 2.
    pub writer_threads: usize,
    /// Writers kept open at once; the least recently used one is committed and closed
    /// beyond this. Default 8.
    pub max_open_writers: usize,
    /// zstd level of the document store of new partitions. Default 3.
    pub docstore_zstd_level: i32,
    /// Block size of the document store of new partitions: a fetch decompresses one block,
    /// larger blocks compress better. Default 64 KiB.
    pub docstore_block_bytes: usize,
    /// Segments of about one size merged into one (tantivy's log merge policy; at least 2).
    /// Default 16, not tantivy's 8: a live store commits every second, so its segments start
    /// small, and each merge level rewrites every event once more. With commits of 25 k events, 16
    /// ingested 15–20 % faster than 8, for term queries 1.5–2 ms slower over 1 M events
    /// (BENCHMARKS.md, "Event store").
    pub merge_segments: usize,
}

impl Default for StoreConfig {
    fn default() -> StoreConfig {
        StoreConfig {
            period_hours: 24,
            writer_heap_bytes: 128 << 20,
            writer_threads: 2,
            max_open_writers: 8,
            docstore_zstd_level: 3,
            docstore_block_bytes: 64 * 1024,
            merge_segments: 16,
        }
    }
}

/// A search: the query, the time window, the order and the page.
#[derive(Clone, Debug)]
pub struct Search {
    /// The query ([`crate::parse`] builds one from text).
    pub query: Query,
    /// The time window.
    pub range: TimeRange,
    /// Newest or oldest first.
    pub order: Order,
    /// Events per page (at most 10,000).
    pub limit: usize,
    /// Where the previous page ended ([`Page::next`]).
    pub cursor: Option<Cursor>,
    /// Only these event fields in the results (all when `None`).
    pub fields: Option<Vec<String>>,
}

impl Search {
    /// The newest `limit` events matching `query` over all time.
    pub fn new(query: Query, limit: usize) -> Search {
        Search {
            query,
            range: TimeRange::ALL,
            order: Order::Desc,
            limit,
            cursor: None,
            fields: None,
        }
    }
}

/// Largest page a search returns.
pub const MAX_PAGE: usize = 10_000;

/// One page of results.
#[derive(Debug)]
pub struct Page {
    /// The events, in the search's order, fields rebuilt.
    pub events: Vec<Event>,
    /// How many events match in the time window (all pages).
    pub total: u64,
    /// The cursor of the next page, when this one was full.
    pub next: Option<Cursor>,
}

/// Where a page ended: the (time, event id) of its last event. Its text form
/// (`<nanoseconds>.<event id>`) is what an API hands out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    time: i64,
    id: u128,
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.time, EventId::from_u128(self.id))
    }
}

impl FromStr for Cursor {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Cursor, StoreError> {
        let err = || StoreError::Cursor {
            input: s.chars().take(64).collect(),
        };
        let (time, id) = s.split_once('.').ok_or_else(err)?;
        Ok(Cursor {
            time: time.parse().map_err(|_| err())?,
            id: id.parse::<EventId>().map_err(|_| err())?.as_u128(),
        })
    }
}

/// What a batch add did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AddReport {
    /// Events buffered for the next commit.
    pub added: u64,
    /// Events skipped because their id was already stored.
    pub duplicates: u64,
}

/// One partition as listed by [`Store::partitions`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionInfo {
    /// Its tenant.
    pub tenant: TenantId,
    /// First instant it holds.
    pub start: Timestamp,
    /// First instant after it.
    pub end: Timestamp,
    /// Committed events.
    pub events: u64,
    /// Bytes on disk.
    pub bytes: u64,
    /// Index segments (each search visits every one; merges bring them down).
    pub segments: usize,
}

/// Partitions ready to search: each with its searcher and the query restricted to the range.
pub(crate) type Prepared = Vec<(Arc<Partition>, tantivy::Searcher, Box<dyn TQuery>)>;

type Tenants = BTreeMap<TenantId, BTreeMap<i64, Arc<Partition>>>;

/// The event store: one directory, one sub-directory per tenant, one index per period.
///
/// Contract: [`add`](Store::add) buffers events; [`commit`](Store::commit) makes everything
/// added before it durable and searchable, atomically per partition (tantivy writes the
/// new segment list with an atomic rename). After a crash the store reopens with exactly
/// the committed events; files of segments that were being written are deleted when the
/// partition's writer next opens. Events added but not committed may be lost, and adding
/// them again is safe: an event whose id is already stored is skipped (idempotent).
///
/// A tenant's data lives only under its own directory and every read names one tenant, so
/// one tenant's query cannot read another's events.
#[derive(Debug)]
pub struct Store {
    root: PathBuf,
    config: StoreConfig,
    tenants: RwLock<Tenants>,
    /// The schema every partition has (checked when a partition opens): queries compile
    /// against it once, whatever partitions they then run on.
    layout: Layout,
    clock: AtomicU64,
    pub(crate) policies: RwLock<crate::retention::Policies>,
}

impl Store {
    /// Opens (or creates) the store in `root`.
    pub fn open(root: impl AsRef<Path>, config: StoreConfig) -> Result<Store, StoreError> {
        let root = root.as_ref().to_owned();
        let p = config.period_hours;
        if p == 0 || (p < 24 && !24u32.is_multiple_of(p)) || (p > 24 && !p.is_multiple_of(24)) {
            return Err(StoreError::Settings {
                path: root.join(SETTINGS_FILE),
                message: format!(
                    "a partition period of {p} hours is not a divisor of 24 nor a whole number of days"
                ),
            });
        }
        std::fs::create_dir_all(root.join("tenants")).map_err(|e| StoreError::io(&root, e))?;
        let settings_path = root.join(SETTINGS_FILE);
        let wanted = format!("vigie-store 1\nperiod_hours {p}\n");
        match std::fs::read_to_string(&settings_path) {
            Ok(found) if found == wanted => {}
            Ok(found) => {
                return Err(StoreError::Settings {
                    path: settings_path,
                    message: format!(
                        "the store was created with {:?}, not {:?}; the period of an existing store cannot change",
                        found.trim().replace('\n', ", "),
                        wanted.trim().replace('\n', ", ")
                    ),
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                write_atomically(&settings_path, wanted.as_bytes())?;
            }
            Err(e) => return Err(StoreError::io(settings_path, e)),
        }
        let store = Store {
            root,
            config,
            tenants: RwLock::new(BTreeMap::new()),
            layout: Layout::new(),
            clock: AtomicU64::new(0),
            policies: RwLock::new(crate::retention::Policies::default()),
        };
        store.load_partitions()?;
        Ok(store)
    }

    /// The store's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn period_nanos(&self) -> i64 {
        i64::from(self.config.period_hours) * NANOS_PER_HOUR
    }

    fn tenant_dir(&self, tenant: &TenantId) -> PathBuf {
        self.root.join("tenants").join(tenant.as_str())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Tenants> {
        self.tenants.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Tenants> {
        self.tenants.write().unwrap_or_else(|p| p.into_inner())
    }

    fn load_partitions(&self) -> Result<(), StoreError> {
        let tenants_dir = self.root.join("tenants");
        let entries =
            std::fs::read_dir(&tenants_dir).map_err(|e| StoreError::io(&tenants_dir, e))?;
        let mut map = self.write();
        for entry in entries {
            let entry = entry.map_err(|e| StoreError::io(&tenants_dir, e))?;
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            let Ok(tenant) = TenantId::new(&name) else {
                continue;
            };
            let dir = entry.path();
            let parts = std::fs::read_dir(&dir).map_err(|e| StoreError::io(&dir, e))?;
            for part in parts {
                let part = part.map_err(|e| StoreError::io(&dir, e))?;
                let Some(pname) = part.file_name().to_str().map(str::to_owned) else {
                    continue;
                };
                let Some(start) = parse_partition_name(&pname) else {
                    continue;
                };
                let partition = self.open_partition(&tenant, start)?;
                map.entry(tenant.clone())
                    .or_default()
                    .insert(start.as_nanos(), Arc::new(partition));
            }
        }
        Ok(())
    }

    fn open_partition(&self, tenant: &TenantId, start: Timestamp) -> Result<Partition, StoreError> {
        let pname = partition_name(start);
        let end = Timestamp::from_nanos(start.as_nanos().saturating_add(self.period_nanos()));
        Partition::open(
            tenant.clone(),
            start,
            end,
            format!("{tenant}/{pname}"),
            &self.tenant_dir(tenant).join(&pname),
            self.config.docstore_zstd_level,
            self.config.docstore_block_bytes,
        )
    }

    /// The partition holding time `t` for `tenant`, created if needed.
    fn partition_for(&self, tenant: &TenantId, t: Timestamp) -> Result<Arc<Partition>, StoreError> {
        let period = self.period_nanos();
        let start = t.as_nanos().div_euclid(period) * period;
        if let Some(p) = self.read().get(tenant).and_then(|m| m.get(&start)) {
            return Ok(Arc::clone(p));
        }
        let mut map = self.write();
        let parts = map.entry(tenant.clone()).or_default();
        if let Some(p) = parts.get(&start) {
            return Ok(Arc::clone(p));
        }
        let p = Arc::new(self.open_partition(tenant, Timestamp::from_nanos(start))?);
        parts.insert(start, Arc::clone(&p));
        Ok(p)
    }

    fn all_partitions(&self) -> Vec<Arc<Partition>> {
        self.read()
            .values()
            .flat_map(|m| m.values().cloned())
            .collect()
    }

    /// The partitions of `tenant` that overlap `range`, oldest first.
    fn partitions_of(&self, tenant: &TenantId, range: &TimeRange) -> Vec<Arc<Partition>> {
        self.read()
            .get(tenant)
            .map(|m| {
                m.values()
                    .filter(|p| range.overlaps(p.start, p.end))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Buffers one event (in the partition of its tenant and time) for the next commit.
    ///
    /// Takes the event: the index document keeps it until tantivy has indexed it, so a
    /// caller done with its events (the pipeline) hands them over instead of each being
    /// copied.
    pub fn add(&self, event: Event) -> Result<Added, StoreError> {
        let partition = self.partition_for(&event.tenant, event.time)?;
        let clock = self.clock.fetch_add(1, Ordering::Relaxed);
        let settings = WriterSettings {
            heap_bytes: self.config.writer_heap_bytes,
            threads: self.config.writer_threads,
            merge_segments: self.config.merge_segments,
        };
        let (added, opened) = partition.add(event, settings, clock)?;
        if opened {
            self.close_idle_writers(&partition)?;
        }
        Ok(added)
    }

    /// Buffers events handed over, as [`add`](Store::add) does each, and counts them.
    pub fn add_all(
        &self,
        events: impl IntoIterator<Item = Event>,
    ) -> Result<AddReport, StoreError> {
        let mut report = AddReport::default();
        for e in events {
            match self.add(e)? {
                Added::New => report.added += 1,
                Added::Duplicate => report.duplicates += 1,
            }
        }
        Ok(report)
    }

    /// [`add_all`](Store::add_all) of copies: for callers that keep their events (tests,
    /// replays of one set).
    pub fn add_batch<'a>(
        &self,
        events: impl IntoIterator<Item = &'a Event>,
    ) -> Result<AddReport, StoreError> {
        self.add_all(events.into_iter().cloned())
    }

    /// Commits and closes the least recently used writers beyond `max_open_writers`.
    fn close_idle_writers(&self, keep: &Arc<Partition>) -> Result<(), StoreError> {
        let mut open: Vec<(u64, Arc<Partition>)> = self
            .all_partitions()
            .into_iter()
            .filter(|p| !Arc::ptr_eq(p, keep))
            .filter_map(|p| p.writer_use().map(|used| (used, p)))
            .collect();
        let limit = self.config.max_open_writers.max(1) - 1;
        if open.len() <= limit {
            return Ok(());
        }
        open.sort_by_key(|(used, _)| *used);
        let excess = open.len() - limit;
        for (_, p) in open.into_iter().take(excess) {
            p.commit(true)?;
        }
        Ok(())
    }

    /// Makes every event added so far durable and searchable.
    pub fn commit(&self) -> Result<(), StoreError> {
        for p in self.all_partitions() {
            p.commit(false)?;
        }
        Ok(())
    }

    /// Events added and not yet committed.
    pub fn pending(&self) -> usize {
        self.all_partitions().iter().map(|p| p.pending()).sum()
    }

    /// Commits everything and closes the writers (waiting for their merges).
    pub fn close(&self) -> Result<(), StoreError> {
        for p in self.all_partitions() {
            p.commit(true)?;
        }
        Ok(())
    }

    /// The tenants that have data.
    pub fn tenants(&self) -> Vec<TenantId> {
        self.read().keys().cloned().collect()
    }

    /// Every partition, with its committed event count and size on disk.
    pub fn partitions(&self) -> Vec<PartitionInfo> {
        self.all_partitions()
            .iter()
            .map(|p| PartitionInfo {
                tenant: p.tenant.clone(),
                start: p.start,
                end: p.end,
                events: p.searcher().num_docs(),
                bytes: p.disk_bytes(),
                segments: p.searcher().segment_readers().len(),
            })
            .collect()
    }

    /// Bytes used by each index component and field over all partitions, as
    /// `(component, field) → bytes` (components: `terms`, `postings`, `positions`, `fast`,
    /// `fieldnorms`, `store`): where the disk goes.
    pub fn space_by_field(&self) -> Result<BTreeMap<(String, String), u64>, StoreError> {
        let mut out: BTreeMap<(String, String), u64> = BTreeMap::new();
        for p in self.all_partitions() {
            let usage = p
                .searcher()
                .space_usage()
                .map_err(|e| StoreError::index(&p.name, e))?;
            for segment in usage.segments() {
                let parts = [
                    ("terms", segment.termdict()),
                    ("postings", segment.postings()),
                    ("positions", segment.positions()),
                    ("fast", segment.fast_fields()),
                    ("fieldnorms", segment.fieldnorms()),
                ];
                for (component, per_field) in parts {
                    for f in per_field.fields() {
                        *out.entry((component.to_owned(), f.field_name().to_owned()))
                            .or_default() += f.total().get_bytes();
                    }
                }
                *out.entry(("store".to_owned(), "doc".to_owned()))
                    .or_default() += segment.store().total().get_bytes();
            }
        }
        Ok(out)
    }

    /// Bytes on disk of the whole store.
    pub fn disk_bytes(&self) -> u64 {
        dir_bytes(&self.root)
    }

    /// The query restricted to `range` (a time range query on top, unless the range is
    /// open).
    fn with_range(
        &self,
        q: Box<dyn TQuery>,
        partition: &Partition,
        range: &TimeRange,
    ) -> Box<dyn TQuery> {
        if covers(partition, range) {
            return q;
        }
        let f = partition.layout.time;
        let term =
            |t: Timestamp| Term::from_field_date(f, DateTime::from_timestamp_nanos(t.as_nanos()));
        let lower = range.from.map_or(std::ops::Bound::Unbounded, |t| {
            std::ops::Bound::Included(term(t))
        });
        let upper = range.to.map_or(std::ops::Bound::Unbounded, |t| {
            std::ops::Bound::Excluded(term(t))
        });
        Box::new(BooleanQuery::new(vec![
            (Occur::Must, q),
            (Occur::Must, Box::new(RangeQuery::new(lower, upper))),
        ]))
    }

    /// Runs a search for `tenant`.
    pub fn search(&self, tenant: &TenantId, search: &Search) -> Result<Page, StoreError> {
        self.search_at(tenant, search, Timestamp::now())
    }

    /// [`search`](Store::search) with relative times in the query read against `now`.
    pub fn search_at(
        &self,
        tenant: &TenantId,
        search: &Search,
        now: Timestamp,
    ) -> Result<Page, StoreError> {
        let limit = search.limit.min(MAX_PAGE);
        let mut partitions = self.partitions_of(tenant, &search.range);
        if search.order == Order::Desc {
            partitions.reverse();
        }
        let mut total = 0;
        let mut hits: Vec<(Key, usize, tantivy::DocAddress)> = Vec::new();
        let mut searchers = Vec::with_capacity(partitions.len());
        // Compiled once (a wildcard builds its automaton here), cloned per partition; an
        // invalid query is an error even for a tenant without data.
        let compiled = compile(&search.query, &self.layout, now)?;
        for (i, p) in partitions.iter().enumerate() {
            // The time window is applied by the collector (see `collect.rs`), not as a
            // range query: it then reads the time column for the query's matches only.
            let collector = ByTime {
                limit,
                order: search.order,
                after: search.cursor.map(|c| (c.time, c.id)),
                window: window_within(p, &search.range),
            };
            let searcher = p.searcher();
            let (count, top) = searcher
                .search(compiled.as_ref(), &collector)
                .map_err(|e| StoreError::index(&p.name, e))?;
            total += count;
            hits.extend(top.into_iter().map(|(k, a)| (k, i, a)));
            searchers.push(searcher);
        }
        match search.order {
            Order::Desc => hits.sort_unstable_by_key(|h| std::cmp::Reverse(h.0)),
            Order::Asc => hits.sort_unstable_by_key(|h| h.0),
        }
        hits.truncate(limit);
        let next = (hits.len() == limit && limit > 0).then(|| {
            let (time, id) = hits[hits.len() - 1].0;
            Cursor { time, id }
        });
        // Fetching a page is most of a selective search's time (decompressing document-store
        // blocks, then decoding each event's raw bytes again): split it over the cores.
        let fetch =
            |chunk: &[(Key, usize, tantivy::DocAddress)]| -> Result<Vec<Event>, StoreError> {
                chunk
                    .iter()
                    .map(|&(key, i, addr)| {
                        let p = &partitions[i];
                        let doc: TantivyDocument = searchers[i]
                            .doc(addr)
                            .map_err(|e| StoreError::index(&p.name, e))?;
                        let mut event = read_event(tenant, p, key, &doc)?;
                        if let Some(names) = &search.fields {
                            event.fields = select(&event.fields, names);
                        }
                        Ok(event)
                    })
                    .collect()
            };
        let threads = std::thread::available_parallelism()
            .map_or(1, usize::from)
            .min(hits.len() / FETCH_PER_THREAD)
            .max(1);
        let events = if threads == 1 {
            fetch(&hits)?
        } else {
            let per = hits.len().div_ceil(threads);
            let parts: Vec<Result<Vec<Event>, StoreError>> = std::thread::scope(|scope| {
                let handles: Vec<_> = hits
                    .chunks(per)
                    .map(|chunk| scope.spawn(move || fetch(chunk)))
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                    .collect()
            });
            let mut events = Vec::with_capacity(hits.len());
            for part in parts {
                events.extend(part?);
            }
            events
        };
        Ok(Page {
            events,
            total,
            next,
        })
    }

    /// Parses `query` and returns the newest `limit` matches in `range` (a convenience over
    /// [`search`](Store::search)).
    pub fn query(
        &self,
        tenant: &TenantId,
        query: &str,
        range: TimeRange,
        limit: usize,
    ) -> Result<Page, StoreError> {
        let mut s = Search::new(crate::query::parse(query)?, limit);
        s.range = range;
        self.search(tenant, &s)
    }

    /// The event of `tenant` with this id.
    pub fn get(&self, tenant: &TenantId, id: EventId) -> Result<Option<Event>, StoreError> {
        // Most events arrive close to their own time: try partitions nearest the id's
        // receive time first.
        let mut partitions = self.partitions_of(tenant, &TimeRange::ALL);
        let received = i64::try_from(id.millis())
            .unwrap_or(i64::MAX)
            .saturating_mul(1_000_000);
        partitions.sort_by_key(|p| (p.start.as_nanos().saturating_sub(received)).unsigned_abs());
        let q = Query::Field {
            field: "id".into(),
            predicate: Predicate::Equals(id.to_string()),
        };
        let compiled = compile(&q, &self.layout, Timestamp::now())?;
        for p in partitions {
            let searcher = p.searcher();
            let found = searcher
                .search(&compiled, &tantivy::collector::DocSetCollector)
                .map_err(|e| StoreError::index(&p.name, e))?;
            if let Some(addr) = found.into_iter().next() {
                let doc: TantivyDocument = searcher
                    .doc(addr)
                    .map_err(|e| StoreError::index(&p.name, e))?;
                let err = |e: tantivy::TantivyError| StoreError::index(&p.name, e);
                let fast = searcher.segment_reader(addr.segment_ord).fast_fields();
                let time = fast
                    .date("time")
                    .map_err(err)?
                    .first(addr.doc_id)
                    .map_or(0, |t| t.into_timestamp_nanos());
                return read_event(tenant, &p, (time, id.as_u128()), &doc).map(Some);
            }
        }
        Ok(None)
    }

    /// Up to `before` events of `host` at or before `at` and up to `after` events after it,
    /// oldest first: the context of an alert.
    pub fn around(
        &self,
        tenant: &TenantId,
        host: &str,
        at: Timestamp,
        before: usize,
        after: usize,
    ) -> Result<Vec<Event>, StoreError> {
        let on_host = Query::Field {
            field: "host".into(),
            predicate: Predicate::Equals(host.to_owned()),
        };
        let mut older = Search::new(on_host.clone(), before);
        older.range = TimeRange {
            from: None,
            to: Some(Timestamp::from_nanos(at.as_nanos().saturating_add(1))),
        };
        let mut events = self.search(tenant, &older)?.events;
        events.reverse();
        let mut newer = Search::new(on_host, after);
        newer.order = Order::Asc;
        newer.range = TimeRange {
            from: Some(Timestamp::from_nanos(at.as_nanos().saturating_add(1))),
            to: None,
        };
        events.extend(self.search(tenant, &newer)?.events);
        Ok(events)
    }

    /// The searchers and compiled queries of `tenant`'s partitions in `range`, for the
    /// aggregation module.
    pub(crate) fn prepared(
        &self,
        tenant: &TenantId,
        query: &Query,
        range: &TimeRange,
        now: Timestamp,
    ) -> Result<Prepared, StoreError> {
        let compiled = compile(query, &self.layout, now)?;
        Ok(self
            .partitions_of(tenant, range)
            .into_iter()
            .map(|p| {
                let q = self.with_range(compiled.box_clone(), &p, range);
                let s = p.searcher();
                (p, s, q)
            })
            .collect())
    }

    /// Drops a whole partition: its writer, its directory.
    pub(crate) fn drop_partition(
        &self,
        tenant: &TenantId,
        start: Timestamp,
    ) -> Result<u64, StoreError> {
        let removed = {
            let mut map = self.write();
            let Some(parts) = map.get_mut(tenant) else {
                return Ok(0);
            };
            let removed = parts.remove(&start.as_nanos());
            if parts.is_empty() {
                map.remove(tenant);
            }
            removed
        };
        let Some(p) = removed else {
            return Ok(0);
        };
        let bytes = p.disk_bytes();
        p.commit(true)?;
        std::fs::remove_dir_all(&p.dir).map_err(|e| StoreError::io(&p.dir, e))?;
        Ok(bytes)
    }
}

/// Events a fetching thread takes at least (fewer are not worth a thread).
const FETCH_PER_THREAD: usize = 16;

/// Whether `range` holds the whole of partition `p` (no time condition needed inside it).
fn covers(p: &Partition, range: &TimeRange) -> bool {
    range.from.is_none_or(|f| f <= p.start) && range.to.is_none_or(|t| t >= p.end)
}

/// `range` as a `[from, to)` window in nanoseconds for the collector, or `None` when it covers
/// the whole partition.
fn window_within(p: &Partition, range: &TimeRange) -> Option<(i64, i64)> {
    (!covers(p, range)).then(|| {
        (
            range.from.map_or(i64::MIN, Timestamp::as_nanos),
            range.to.map_or(i64::MAX, Timestamp::as_nanos),
        )
    })
}

/// The event of a document whose (time, id) key is known (from the collector's columns).
fn read_event(
    tenant: &TenantId,
    p: &Partition,
    (time, id): Key,
    doc: &TantivyDocument,
) -> Result<Event, StoreError> {
    let blob = doc
        .get_first(p.layout.doc)
        .and_then(|v| v.as_bytes())
        .ok_or_else(|| StoreError::Corrupt {
            what: format!("{}: a document without its stored event", p.name),
        })?;
    let mut event = unblob(
        tenant,
        EventId::from_u128(id),
        Timestamp::from_nanos(time),
        blob,
    )?;
    rebuild_fields(&mut event)?;
    Ok(event)
}

fn select(fields: &Fields, names: &[String]) -> Fields {
    let mut out = Fields::new();
    for (id, value) in fields.iter() {
        if names.iter().any(|n| n == id.name()) {
            // Re-inserting a value read from a valid field map cannot fail.
            let _ = out.insert_value(id, value);
        }
    }
    out
}

/// `2026-11-22T00`: the partition starting at `start` (UTC, to the hour).
fn partition_name(start: Timestamp) -> String {
    let c = start.to_civil(vigie_event::UtcOffset::UTC);
    format!("{:04}-{:02}-{:02}T{:02}", c.year, c.month, c.day, c.hour)
}

fn parse_partition_name(name: &str) -> Option<Timestamp> {
    let b = name.as_bytes();
    if b.len() != 13 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| name.get(r)?.parse::<u32>().ok();
    vigie_event::time::CivilTime {
        year: i64::from(num(0..4)?),
        month: num(5..7)?,
        day: num(8..10)?,
        hour: num(11..13)?,
        minute: 0,
        second: 0,
        nanos: 0,
    }
    .to_timestamp(vigie_event::UtcOffset::UTC)
}

/// Writes `path` through a temporary file and a rename, so it is whole or absent.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(|e| StoreError::io(&tmp, e))?;
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(|e| StoreError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| StoreError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_names_round_trip() {
        let t = Timestamp::from_nanos(1_795_305_600 * 1_000_000_000);
        let name = partition_name(t);
        assert_eq!(name, "2026-11-22T00");
        assert_eq!(parse_partition_name(&name), Some(t));
        assert_eq!(parse_partition_name("2026-11-22"), None);
        assert_eq!(parse_partition_name("2026-13-22T00"), None);
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let c = Cursor {
            time: -5,
            id: 0x0123_4567_89ab_cdef_0123_4567_89ab_cdef,
        };
        assert_eq!(c.to_string().parse::<Cursor>().unwrap(), c);
        for bad in ["", "12", "x.01ARZ3NDEKTSV4RRFFQ69G5FAV", "1.short"] {
            assert!(bad.parse::<Cursor>().is_err(), "{bad}");
        }
    }
}
