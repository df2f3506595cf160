//! Appending records and making them durable.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::{
    HEADER, JournalConfig, JournalStats, MAGIC, MAX_RECORD_BYTES, Shared, crc, list_segments,
    segment_path, sync_dir, valid_record,
};

/// Buffered bytes beyond which an append writes them to the file (still without fsync).
const WRITE_THRESHOLD: usize = 1 << 20;

/// The open tail segment, as recovered.
#[derive(Debug)]
pub(crate) struct Tail {
    dir: PathBuf,
    file: File,
    base: u64,
    /// Bytes in the segment, written or buffered.
    len: u64,
    /// Bytes of the segment known to be on disk (fsynced).
    synced: u64,
}

impl Tail {
    pub(crate) fn end(&self) -> u64 {
        self.base + self.len
    }
}

/// Opens the last segment (creating the first one in an empty journal), truncating a torn
/// tail: bytes after the last valid record that no later valid record follows.
pub(crate) fn recover(dir: &Path, stats: &JournalStats) -> io::Result<Tail> {
    let bases = list_segments(dir)?;
    let Some(&base) = bases.last() else {
        let file = create_segment(dir, 0)?;
        return Ok(Tail {
            dir: dir.to_path_buf(),
            file,
            base: 0,
            len: 0,
            synced: 0,
        });
    };
    let path = segment_path(dir, base);
    let mut file = OpenOptions::new().read(true).write(true).open(&path)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    let valid_end = scan_valid_end(&bytes);
    if valid_end < bytes.len() {
        let torn = (bytes.len() - valid_end) as u64;
        stats.torn_tail_bytes.fetch_add(torn, Ordering::Relaxed);
        tracing::warn!(
            segment = %path.display(),
            at = valid_end,
            bytes = torn,
            "journal: truncating a torn tail (a record cut by a crash before its fsync: never acknowledged)"
        );
        file.set_len(valid_end as u64)?;
        file.sync_all()?;
    }
    file.seek(SeekFrom::Start(valid_end as u64))?;
    Ok(Tail {
        dir: dir.to_path_buf(),
        file,
        base,
        len: valid_end as u64,
        synced: valid_end as u64,
    })
}

/// The end of the last valid record of a segment such that only garbage follows it. Invalid
/// records followed by a valid one stay (readers skip them, counted).
fn scan_valid_end(bytes: &[u8]) -> usize {
    let mut pos = 0;
    let mut valid_end = 0;
    while pos < bytes.len() {
        if let Some(size) = valid_record(&bytes[pos..]) {
            pos += size;
            valid_end = pos;
            continue;
        }
        match next_valid(bytes, pos + 1) {
            Some(next) => pos = next,
            None => break,
        }
    }
    valid_end
}

/// The offset of the first valid record at or after `from`.
pub(crate) fn next_valid(bytes: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    while at < bytes.len() {
        let found = memchr::memmem::find(&bytes[at..], &MAGIC)?;
        let candidate = at + found;
        if valid_record(&bytes[candidate..]).is_some() {
            return Some(candidate);
        }
        at = candidate + 1;
    }
    None
}

fn create_segment(dir: &Path, base: u64) -> io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(segment_path(dir, base))?;
    sync_dir(dir)?;
    Ok(file)
}

/// Appends records; owned by one thread (see [`super::committer`]).
#[derive(Debug)]
pub struct Writer {
    tail: Tail,
    shared: Arc<Shared>,
    config: JournalConfig,
    buf: Vec<u8>,
}

impl Writer {
    pub(crate) fn new(tail: Tail, shared: Arc<Shared>, config: JournalConfig) -> Writer {
        Writer {
            tail,
            shared,
            config,
            buf: Vec::with_capacity(WRITE_THRESHOLD * 2),
        }
    }

    /// The shared state (durable end, checkpoint, counters).
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Appends one record; returns its position. Not durable until [`Writer::sync`].
    pub fn append(&mut self, payload: &[u8]) -> io::Result<u64> {
        if payload.len() > MAX_RECORD_BYTES {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "journal record of {} bytes over the limit of {MAX_RECORD_BYTES}",
                    payload.len()
                ),
            ));
        }
        let size = (HEADER + payload.len()) as u64;
        if self.tail.len > 0 && self.tail.len + size > self.config.segment_bytes {
            self.rotate()?;
        }
        let len = payload.len() as u32;
        self.buf.extend_from_slice(&MAGIC);
        self.buf.extend_from_slice(&len.to_le_bytes());
        self.buf.extend_from_slice(&crc(len, payload).to_le_bytes());
        self.buf.extend_from_slice(payload);
        let position = self.tail.end();
        self.tail.len += size;
        if self.buf.len() >= WRITE_THRESHOLD {
            self.write_buffer()?;
        }
        self.shared
            .stats
            .appended_records
            .fetch_add(1, Ordering::Relaxed);
        Ok(position)
    }

    fn write_buffer(&mut self) -> io::Result<()> {
        let result = self.tail.file.write_all(&self.buf);
        self.buf.clear();
        result
    }

    /// Makes every appended record durable (one fsync) and publishes the new durable end.
    /// On failure the unsynced records are cut off again: they were never acknowledged.
    pub fn sync(&mut self) -> io::Result<u64> {
        let result = self
            .write_buffer()
            .and_then(|()| self.tail.file.sync_data());
        match result {
            Ok(()) => {
                self.tail.synced = self.tail.len;
                self.shared.stats.syncs.fetch_add(1, Ordering::Relaxed);
                let end = self.tail.end();
                self.shared.publish(end);
                Ok(end)
            }
            Err(e) => {
                self.rollback();
                Err(e)
            }
        }
    }

    /// Drops what was appended since the last sync.
    fn rollback(&mut self) {
        self.buf.clear();
        self.tail.len = self.tail.synced;
        let restored = self.tail.file.set_len(self.tail.synced).and_then(|()| {
            self.tail
                .file
                .seek(SeekFrom::Start(self.tail.synced))
                .map(drop)
        });
        if let Err(e) = restored {
            tracing::error!(error = %e, "journal: cannot cut off unsynced records after a write error");
        }
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.write_buffer()?;
        self.tail.file.sync_data()?;
        self.tail.synced = self.tail.len;
        let base = self.tail.end();
        let file = create_segment(&self.tail.dir, base)?;
        self.tail.file = file;
        self.tail.base = base;
        self.tail.len = 0;
        self.tail.synced = 0;
        Ok(())
    }
}
