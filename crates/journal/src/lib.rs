//! The ingest journal: where an accepted batch becomes durable before it is acknowledged.
//!
//! Its own crate because it needs nothing of the server (std, a one-shot channel for the
//! fsync answer, the event ids a record mints) and its guarantees (no acknowledged record
//! lost under `kill -9`, no torn record ever read) are tested here, alone.
//!
//! On disk, a folder of segment files named by the global byte position of their first
//! record (`00000000000000000000.seg`, …), so positions are contiguous across segments: the
//! position after the last record of one segment is the name of the next. A record is
//!
//! ```text
//! magic "VJR1" (4) | payload length u32 LE (4) | CRC-32 of length and payload u32 LE (4) | payload
//! ```
//!
//! - [`Writer`] appends and fsyncs; [`committer::spawn`] runs it on its own thread with
//!   group commit (every request queued while one fsync runs shares the next fsync).
//! - [`Reader`] returns records in order, only up to the last fsynced position, so it never
//!   sees a record that could still be torn. A record that fails its CRC (or whose length is
//!   impossible) is counted and skipped: the reader scans forward for the next magic that
//!   starts a valid record. It never returns corrupt bytes and never stops on them.
//! - The consumer records how far it has processed in `checkpoint` (written to a temporary
//!   file, fsynced, renamed); on restart it reads from there. Segments wholly before the
//!   checkpoint are deleted.
//! - At open, the end of the last segment is checked: a torn tail (a record cut by a crash
//!   before its fsync, hence never acknowledged) is truncated and reported.

pub mod committer;
mod error;
mod reader;
pub mod record;
mod writer;

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

pub use error::JournalError;
pub use reader::{Entry, Reader};
pub use writer::Writer;

/// Starts every record.
pub(crate) const MAGIC: [u8; 4] = *b"VJR1";
/// Magic, length, CRC.
pub(crate) const HEADER: usize = 12;
/// The largest payload a record may hold.
pub const MAX_RECORD_BYTES: usize = 256 << 20;

const SEGMENT_SUFFIX: &str = ".seg";
const CHECKPOINT: &str = "checkpoint";
const EPOCH: &str = "journal.id";

/// Journal settings.
#[derive(Clone, Debug)]
pub struct JournalConfig {
    /// A new segment starts once the current one holds this many bytes.
    pub segment_bytes: u64,
}

impl Default for JournalConfig {
    fn default() -> Self {
        JournalConfig {
            segment_bytes: 64 << 20,
        }
    }
}

/// What the journal has counted since it was opened.
#[derive(Debug, Default)]
pub struct JournalStats {
    /// Records skipped by readers because their CRC or length was wrong.
    pub corrupt_records: AtomicU64,
    /// Bytes skipped by readers while looking for the next valid record.
    pub corrupt_bytes: AtomicU64,
    /// Bytes of torn tail truncated at open.
    pub torn_tail_bytes: AtomicU64,
    /// Records appended.
    pub appended_records: AtomicU64,
    /// fsyncs done (appended / fsyncs is the group-commit factor).
    pub syncs: AtomicU64,
}

/// The part of a journal shared between the writer, readers and observers: the durable end
/// and a way to wait for it to move.
#[derive(Debug)]
pub struct Shared {
    dir: PathBuf,
    durable: Mutex<u64>,
    moved: Condvar,
    checkpoint: AtomicU64,
    epoch: u8,
    /// Counters.
    pub stats: JournalStats,
}

impl Shared {
    /// The position after the last fsynced record.
    pub fn durable_end(&self) -> u64 {
        *self.durable.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn publish(&self, end: u64) {
        *self.durable.lock().unwrap_or_else(|p| p.into_inner()) = end;
        self.moved.notify_all();
    }

    /// Waits until the durable end passes `position` or `timeout` elapses; returns the
    /// durable end.
    pub fn wait_past(&self, position: u64, timeout: Duration) -> u64 {
        let guard = self.durable.lock().unwrap_or_else(|p| p.into_inner());
        let (guard, _) = self
            .moved
            .wait_timeout_while(guard, timeout, |end| *end <= position)
            .unwrap_or_else(|p| p.into_inner());
        *guard
    }

    /// The last recorded checkpoint.
    pub fn checkpoint(&self) -> u64 {
        self.checkpoint.load(Ordering::Acquire)
    }

    /// Bytes durable but not yet processed by the consumer.
    pub fn lag(&self) -> u64 {
        self.durable_end().saturating_sub(self.checkpoint())
    }

    /// A random byte chosen when the journal was created, so that positions of a recreated
    /// journal do not mint the ids of an earlier one.
    pub fn epoch(&self) -> u8 {
        self.epoch
    }

    /// The journal's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Records that everything before `position` is processed (atomically on disk), then
    /// deletes the segments wholly before it.
    pub fn save_checkpoint(&self, position: u64) -> io::Result<()> {
        write_atomically(&self.dir, CHECKPOINT, &position.to_string())?;
        self.checkpoint.store(position, Ordering::Release);
        let segments = list_segments(&self.dir)?;
        for pair in segments.windows(2) {
            if pair[1] <= position {
                fs::remove_file(segment_path(&self.dir, pair[0]))?;
            }
        }
        Ok(())
    }
}

/// Opens (creating when missing) the journal in `dir`: recovers the end of the last segment
/// and returns the writer and the shared state.
pub fn open(dir: &Path, config: JournalConfig) -> io::Result<(Writer, Arc<Shared>)> {
    fs::create_dir_all(dir)?;
    let epoch = read_or_create_epoch(dir)?;
    let checkpoint = read_number::<u64>(&dir.join(CHECKPOINT), "journal position")?.unwrap_or(0);
    let stats = JournalStats::default();
    let writer_state = writer::recover(dir, &stats)?;
    let end = writer_state.end();
    let shared = Arc::new(Shared {
        dir: dir.to_path_buf(),
        durable: Mutex::new(end),
        moved: Condvar::new(),
        checkpoint: AtomicU64::new(checkpoint.min(end)),
        epoch,
        stats,
    });
    let writer = Writer::new(writer_state, Arc::clone(&shared), config);
    Ok((writer, shared))
}

fn read_or_create_epoch(dir: &Path) -> io::Result<u8> {
    if let Some(epoch) = read_number::<u8>(&dir.join(EPOCH), "journal epoch")? {
        return Ok(epoch);
    }
    let mut byte = [0u8; 1];
    getrandom_byte(&mut byte);
    write_atomically(dir, EPOCH, &byte[0].to_string())?;
    Ok(byte[0])
}

/// The number a small text file holds; `None` when the file does not exist.
fn read_number<T: std::str::FromStr>(path: &Path, what: &str) -> io::Result<Option<T>> {
    match fs::read_to_string(path) {
        Ok(text) => text.trim().parse::<T>().map(Some).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: not a {what}: {:?}", path.display(), text.trim()),
            )
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Replaces `dir/name` with `text` so that a crash leaves the old or the new content, never
/// a mix: write a temporary file, fsync, rename, fsync the folder.
fn write_atomically(dir: &Path, name: &str, text: &str) -> io::Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    {
        let mut file = File::create(&tmp)?;
        writeln!(file, "{text}")?;
        file.sync_all()?;
    }
    fs::rename(&tmp, dir.join(name))?;
    sync_dir(dir)
}

fn getrandom_byte(out: &mut [u8; 1]) {
    // Any value works; randomness only makes a recreated journal unlikely to reuse ids, so
    // without OS randomness the clock will do.
    if getrandom::fill(out).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        out[0] = (nanos ^ (nanos >> 8) ^ (nanos >> 16)) as u8;
    }
}

pub(crate) fn segment_path(dir: &Path, base: u64) -> PathBuf {
    dir.join(format!("{base:020}{SEGMENT_SUFFIX}"))
}

/// The bases of the segments in `dir`, ascending.
pub(crate) fn list_segments(dir: &Path) -> io::Result<Vec<u64>> {
    let mut bases = Vec::new();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(base) = name.strip_suffix(SEGMENT_SUFFIX)
            && base.len() == 20
            && let Ok(base) = base.parse::<u64>()
        {
            bases.push(base);
        }
    }
    bases.sort_unstable();
    Ok(bases)
}

pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The CRC of a record: over the length field and the payload.
pub(crate) fn crc(len: u32, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&len.to_le_bytes());
    h.update(payload);
    h.finalize()
}

/// Whether `bytes` (starting at a record) hold a whole valid record; returns its total size.
pub(crate) fn valid_record(bytes: &[u8]) -> Option<usize> {
    if bytes.len() < HEADER || bytes[..4] != MAGIC {
        return None;
    }
    let len = u32::from_le_bytes(bytes[4..8].try_into().ok()?);
    let stored = u32::from_le_bytes(bytes[8..12].try_into().ok()?);
    let len_usize = len as usize;
    if len_usize > MAX_RECORD_BYTES || bytes.len() - HEADER < len_usize {
        return None;
    }
    (crc(len, &bytes[HEADER..HEADER + len_usize]) == stored).then_some(HEADER + len_usize)
}

#[cfg(test)]
mod tests;
