//! Reading records in order, up to the durable end, skipping (and counting) corrupt ones.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::writer::next_valid;
use super::{HEADER, MAGIC, MAX_RECORD_BYTES, Shared, crc, list_segments, segment_path};

/// One record.
#[derive(Debug)]
pub struct Entry {
    /// Its position.
    pub position: u64,
    /// The position after it (where a checkpoint goes once it is processed).
    pub next: u64,
    /// Its payload (CRC checked).
    pub payload: Vec<u8>,
}

#[derive(Debug)]
struct Segment {
    base: u64,
    file: File,
    /// The base of the following segment, once known: this one ends there.
    end: Option<u64>,
}

/// Reads a journal from a position on.
#[derive(Debug)]
pub struct Reader {
    shared: Arc<Shared>,
    position: u64,
    segment: Option<Segment>,
}

impl Reader {
    /// A reader starting at `from` (a checkpoint).
    pub fn new(shared: Arc<Shared>, from: u64) -> Reader {
        Reader {
            shared,
            position: from,
            segment: None,
        }
    }

    /// Where the next record starts.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// The next record, waiting up to `wait` for one to become durable; `None` when none did.
    pub fn next(&mut self, wait: Duration) -> io::Result<Option<Entry>> {
        loop {
            let durable = self.shared.wait_past(self.position, wait);
            if durable <= self.position {
                return Ok(None);
            }
            let Some((base, limit)) = self.locate(durable)? else {
                return Ok(None);
            };
            let Some(segment) = &self.segment else {
                return Ok(None);
            };
            let offset = self.position - base;
            let available = (limit - self.position) as usize;
            if let Some(payload) = read_record(&segment.file, offset, available)? {
                let position = self.position;
                self.position += (HEADER + payload.len()) as u64;
                return Ok(Some(Entry {
                    position,
                    next: self.position,
                    payload,
                }));
            }
            let skip_to = scan(&segment.file, offset, available)?;
            let skipped = skip_to - offset;
            let stats = &self.shared.stats;
            stats.corrupt_records.fetch_add(1, Ordering::Relaxed);
            stats.corrupt_bytes.fetch_add(skipped, Ordering::Relaxed);
            tracing::error!(
                segment = %segment_path(self.shared.dir(), base).display(),
                offset,
                skipped_bytes = skipped,
                "journal: corrupt record (bad magic, length or CRC) skipped"
            );
            self.position = base + skip_to;
        }
    }

    /// Opens the segment holding the current position; returns its base and where reading
    /// must stop (its end, or the durable end for the last segment, and never past the bytes
    /// the file holds). `None` when nothing is readable at the position yet.
    fn locate(&mut self, durable: u64) -> io::Result<Option<(u64, u64)>> {
        loop {
            if self.segment.is_none() && !self.open_segment()? {
                return Ok(None);
            }
            let Some(s) = &mut self.segment else {
                return Ok(None);
            };
            let written = s.base + s.file.metadata()?.len();
            if s.end.is_none() && self.position >= written.min(durable) {
                // Durable data lies beyond this segment's bytes: the next one may exist.
                let bases = list_segments(self.shared.dir())?;
                s.end = bases.iter().copied().find(|b| *b > s.base);
            }
            let Some(end) = s.end else {
                let limit = written.min(durable);
                return Ok((self.position < limit).then_some((s.base, limit)));
            };
            let limit = end.min(durable).min(written);
            if self.position < limit {
                return Ok(Some((s.base, limit)));
            }
            if self.position < end {
                // A segment cut short by damage: its missing tail is counted and skipped.
                let missing = end - self.position;
                let stats = &self.shared.stats;
                stats.corrupt_records.fetch_add(1, Ordering::Relaxed);
                stats.corrupt_bytes.fetch_add(missing, Ordering::Relaxed);
                tracing::error!(
                    segment = %segment_path(self.shared.dir(), s.base).display(),
                    missing_bytes = missing,
                    "journal: segment shorter than its successor's position says; skipped to the next segment"
                );
            }
            self.position = end;
            self.segment = None;
        }
    }

    /// Opens the segment holding the current position (moving the position to the first
    /// segment when it lies before every segment). False when there is none.
    fn open_segment(&mut self) -> io::Result<bool> {
        let bases = list_segments(self.shared.dir())?;
        let idx = match bases.iter().rposition(|b| *b <= self.position) {
            Some(idx) => idx,
            None => match bases.first() {
                // Below the first segment (deleted behind a checkpoint): start where data starts.
                Some(first) if *first > self.position => {
                    self.position = *first;
                    0
                }
                _ => return Ok(false),
            },
        };
        let base = bases[idx];
        let file = File::open(segment_path(self.shared.dir(), base))?;
        self.segment = Some(Segment {
            base,
            file,
            end: bases.get(idx + 1).copied(),
        });
        Ok(true)
    }
}

/// Reads the record at `offset` when it is valid.
fn read_record(file: &File, offset: u64, available: usize) -> io::Result<Option<Vec<u8>>> {
    if available < HEADER {
        return Ok(None);
    }
    let mut header = [0u8; HEADER];
    file.read_exact_at(&mut header, offset)?;
    if header[..4] != MAGIC {
        return Ok(None);
    }
    let len = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    let stored = u32::from_le_bytes([header[8], header[9], header[10], header[11]]);
    let n = len as usize;
    if n > MAX_RECORD_BYTES || n > available - HEADER {
        return Ok(None);
    }
    let mut payload = vec![0u8; n];
    file.read_exact_at(&mut payload, offset + HEADER as u64)?;
    Ok((crc(len, &payload) == stored).then_some(payload))
}

/// The offset of the next valid record after a corrupt one at `offset`, or the end of the
/// readable range when none follows. Reads the rest of the segment at once: corruption is
/// rare and a segment is bounded.
fn scan(file: &File, offset: u64, available: usize) -> io::Result<u64> {
    let end = offset + available as u64;
    if available <= 1 {
        return Ok(end);
    }
    let mut buf = vec![0u8; available - 1];
    file.read_exact_at(&mut buf, offset + 1)?;
    Ok(next_valid(&buf, 0).map_or(end, |at| offset + 1 + at as u64))
}
