//! One partition: the events of one tenant over one period, in one tantivy index.
//!
//! A partition owns its index, a reader refreshed on commit, and (while it is written to)
//! an index writer. It also enforces idempotence by event id: an id already committed in
//! the partition, or already added since the last commit, is not added again. Replays land
//! in the same partition because the partition is chosen from the event's own time.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rustc_hash::FxHashSet;
use tantivy::directory::MmapDirectory;
use tantivy::indexer::LogMergePolicy;
use tantivy::schema::IndexRecordOption;
use tantivy::store::{Compressor, ZstdCompressor};
use tantivy::{Index, IndexReader, IndexSettings, IndexWriter, ReloadPolicy, Searcher, Term};
use vigie_event::{Event, TenantId, Timestamp};

use crate::StoreError;
use crate::index::doc::EventDoc;
use crate::index::schema::{Layout, register_tokenizers};

/// What [`Partition::add`] did with an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Added {
    /// The event was new and is now buffered for the next commit.
    New,
    /// An event with this id is already in the partition (committed or pending): skipped.
    Duplicate,
}

/// Settings of the index writers.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WriterSettings {
    pub(crate) heap_bytes: usize,
    pub(crate) threads: usize,
    pub(crate) merge_segments: usize,
}

struct WriteState {
    writer: Option<IndexWriter<EventDoc>>,
    /// Ids added since the last commit.
    pending: FxHashSet<u128>,
    /// The highest `id >> 64` committed; ids above it cannot be in the index, so their
    /// idempotence check needs no index lookup (ids are time-ordered, so live ingest mostly
    /// takes this path).
    max_committed_hi: Option<u64>,
    /// A logical clock of the last add, for closing the least recently used writer.
    last_used: u64,
}

pub(crate) struct Partition {
    pub(crate) tenant: TenantId,
    pub(crate) start: Timestamp,
    pub(crate) end: Timestamp,
    /// `tenant/2026-11-22T00`, for messages.
    pub(crate) name: String,
    pub(crate) dir: PathBuf,
    pub(crate) layout: Layout,
    index: Index,
    reader: IndexReader,
    state: Mutex<WriteState>,
}

impl std::fmt::Debug for Partition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Partition")
            .field("name", &self.name)
            .finish()
    }
}

impl Partition {
    /// Opens the partition in `dir`, creating it when `create` and it does not exist.
    pub(crate) fn open(
        tenant: TenantId,
        start: Timestamp,
        end: Timestamp,
        name: String,
        dir: &Path,
        docstore_zstd_level: i32,
        docstore_block_bytes: usize,
    ) -> Result<Partition, StoreError> {
        let layout = Layout::new();
        let err = |e: tantivy::TantivyError| StoreError::index(&name, e);
        std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
        let directory = MmapDirectory::open(dir).map_err(|e| StoreError::index(&name, e))?;
        let exists = Index::exists(&directory).map_err(|e| StoreError::index(&name, e))?;
        let index = if exists {
            let index = Index::open(directory).map_err(err)?;
            if index.schema() != layout.schema {
                return Err(StoreError::Index {
                    partition: name,
                    message: "the index was written with another schema version".into(),
                });
            }
            index
        } else {
            let settings = IndexSettings {
                docstore_compression: Compressor::Zstd(ZstdCompressor {
                    compression_level: Some(docstore_zstd_level),
                }),
                docstore_blocksize: docstore_block_bytes,
                ..IndexSettings::default()
            };
            Index::builder()
                .schema(layout.schema.clone())
                .settings(settings)
                .open_or_create(directory)
                .map_err(err)?
        };
        register_tokenizers(&index);
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(err)?;
        let partition = Partition {
            tenant,
            start,
            end,
            name,
            dir: dir.to_owned(),
            layout,
            index,
            reader,
            state: Mutex::new(WriteState {
                writer: None,
                pending: FxHashSet::default(),
                max_committed_hi: None,
                last_used: 0,
            }),
        };
        let max = partition.committed_max_hi()?;
        partition.lock().max_committed_hi = max;
        Ok(partition)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, WriteState> {
        // A panic while holding the lock leaves plain data behind; keep going.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current searcher (committed data as of the last commit).
    pub(crate) fn searcher(&self) -> Searcher {
        self.reader.searcher()
    }

    fn committed_max_hi(&self) -> Result<Option<u64>, StoreError> {
        let mut max = None;
        for segment in self.searcher().segment_readers() {
            let column = segment
                .fast_fields()
                .u64("id_hi")
                .map_err(|e| StoreError::index(&self.name, e))?;
            if segment.num_docs() > 0 {
                max = max.max(Some(column.max_value()));
            }
        }
        Ok(max)
    }

    /// Whether a committed event has this id.
    fn committed_contains(&self, id: u128) -> Result<bool, StoreError> {
        let term = Term::from_field_bytes(self.layout.id, &id.to_be_bytes());
        for segment in self.searcher().segment_readers() {
            let inverted = segment
                .inverted_index(self.layout.id)
                .map_err(|e| StoreError::index(&self.name, e))?;
            let postings = inverted
                .read_postings(&term, IndexRecordOption::Basic)
                .map_err(|e| StoreError::index(&self.name, e))?;
            if let Some(mut postings) = postings {
                use tantivy::DocSet;
                let mut doc = postings.doc();
                while doc != tantivy::TERMINATED {
                    if !segment.is_deleted(doc) {
                        return Ok(true);
                    }
                    doc = postings.advance();
                }
            }
        }
        Ok(false)
    }

    /// Buffers `event` for the next commit, unless its id is already here.
    pub(crate) fn add(
        &self,
        event: Event,
        settings: WriterSettings,
        clock: u64,
    ) -> Result<(Added, bool), StoreError> {
        let id = event.id.as_u128();
        // The document is built before the lock is taken: several pipeline workers adding to
        // one partition then build theirs in parallel, and hold the lock only to hand them
        // over (a duplicate's document, built for nothing, is the rare replay's cost).
        let doc = EventDoc::new(&self.layout, event);
        let mut state = self.lock();
        state.last_used = clock;
        if state.pending.contains(&id) {
            return Ok((Added::Duplicate, false));
        }
        let hi = (id >> 64) as u64;
        if state.max_committed_hi.is_some_and(|m| hi <= m) && self.committed_contains(id)? {
            return Ok((Added::Duplicate, false));
        }
        let opened = state.writer.is_none();
        if opened {
            let writer = self
                .index
                .writer_with_num_threads(settings.threads, settings.heap_bytes)
                .map_err(|e| StoreError::index(&self.name, e))?;
            let mut policy = LogMergePolicy::default();
            policy.set_min_num_segments(settings.merge_segments.max(2));
            writer.set_merge_policy(Box::new(policy));
            state.writer = Some(writer);
        }
        if let Some(writer) = &state.writer {
            writer
                .add_document(doc)
                .map_err(|e| StoreError::index(&self.name, e))?;
        }
        state.pending.insert(id);
        Ok((Added::New, opened))
    }

    /// Makes every added event durable and searchable. With `close`, also releases the
    /// writer (its memory and threads).
    pub(crate) fn commit(&self, close: bool) -> Result<(), StoreError> {
        let mut guard = self.lock();
        let state = &mut *guard;
        let err = |e: tantivy::TantivyError| StoreError::index(&self.name, e);
        if let Some(writer) = state.writer.as_mut()
            && !state.pending.is_empty()
        {
            writer.commit().map_err(err)?;
            self.reader.reload().map_err(err)?;
            let max = state.pending.iter().map(|id| (id >> 64) as u64).max();
            state.max_committed_hi = state.max_committed_hi.max(max);
            state.pending.clear();
        }
        if close && let Some(writer) = state.writer.take() {
            writer.wait_merging_threads().map_err(err)?;
        }
        Ok(())
    }

    /// Whether a writer is open, and when it was last used.
    pub(crate) fn writer_use(&self) -> Option<u64> {
        let state = self.lock();
        state.writer.as_ref().map(|_| state.last_used)
    }

    /// Events added and not yet committed.
    pub(crate) fn pending(&self) -> usize {
        self.lock().pending.len()
    }

    /// Bytes on disk.
    pub(crate) fn disk_bytes(&self) -> u64 {
        dir_bytes(&self.dir)
    }
}

/// Total size of the files under `dir`.
pub(crate) fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}
