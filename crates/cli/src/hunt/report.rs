//! The ordered report with bounded memory.
//!
//! Workers write each detection's line as soon as they find it, into a buffer per job, and
//! send a small sort [`Key`] per line. The report keeps job buffers in memory up to
//! [`MEMORY_BYTES`], then appends further ones to a spill file (in the system's temporary
//! folder, removed when the report is dropped). At the end the keys are sorted and the
//! lines copied to the output in that order. Memory therefore grows with the number of
//! detections (a few dozen bytes each), not with their size.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

/// Line bytes kept in memory before job buffers go to the spill file.
pub(crate) const MEMORY_BYTES: usize = 16 << 20;

/// Spilled lines are read back through windows of the spill file, one per job at most,
/// [`WINDOWS`] of them kept (the least recently used one goes): a job's lines are written in
/// event order, which is mostly time order, so one read serves many lines. Reading each
/// line with its own seek and read cost two system calls a line (150,000 detections in the
/// 107k-event bench: a tenth of the run after the workers were done).
const WINDOW_BYTES: usize = 256 << 10;
/// Windows kept: with [`WINDOW_BYTES`], as much memory again as [`MEMORY_BYTES`].
const WINDOWS: usize = 64;

/// Where a line sorts, and where it is.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Key {
    /// Event time (ns since the epoch).
    pub(crate) time: i64,
    /// The rule's rank in title order.
    pub(crate) rule: u32,
    /// Input file index (`u32::MAX` for a correlation).
    pub(crate) file: u32,
    /// Event record id (`u64::MAX` when absent or not a number).
    pub(crate) record: u64,
    /// Job index, then line number in the job: unique, so the order is total.
    pub(crate) job: u32,
    pub(crate) seq: u32,
    /// Byte range of the line's head in its job's buffer.
    pub(crate) start: u32,
    pub(crate) len: u32,
    /// Byte range of the line's tail, the part its event's detections share (see
    /// `Writer::write_tail`), in the same buffer: written just before the event's first
    /// head, so that one read of the spill file serves both.
    pub(crate) tail: u32,
    pub(crate) tail_len: u32,
}

/// The head and the tail of `key`'s line in its job's `lines`.
pub(crate) fn parts<'a>(lines: &'a [u8], key: &Key) -> (&'a [u8], &'a [u8]) {
    let range = |start: u32, len: u32| &lines[start as usize..(start + len) as usize];
    (range(key.start, key.len), range(key.tail, key.tail_len))
}

impl Key {
    fn order(&self) -> (i64, u32, u32, u64, u32, u32) {
        (
            self.time,
            self.rule,
            self.file,
            self.record,
            self.job,
            self.seq,
        )
    }
}

/// Where a job's buffer is kept.
#[derive(Debug)]
enum Block {
    Memory(Vec<u8>),
    /// Offset and length in the spill file.
    Spilled(u64, u64),
}

/// The spill file, removed on drop.
#[derive(Debug)]
struct Spill {
    path: PathBuf,
    file: File,
    len: u64,
}

impl Drop for Spill {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Lines of detections, gathered from jobs in any order, written sorted.
#[derive(Debug, Default)]
pub(crate) struct Report {
    keys: Vec<Key>,
    blocks: Vec<Option<Block>>,
    in_memory: usize,
    spill: Option<Spill>,
}

impl Report {
    /// Adds the lines of job `job` (`keys` give ranges of `lines`).
    pub(crate) fn add(&mut self, job: usize, lines: Vec<u8>, keys: &[Key]) -> io::Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        if self.blocks.len() <= job {
            self.blocks.resize_with(job + 1, || None);
        }
        let block = if self.in_memory + lines.len() <= MEMORY_BYTES {
            self.in_memory += lines.len();
            Block::Memory(lines)
        } else {
            let spill = match &mut self.spill {
                Some(spill) => spill,
                None => self.spill.insert(Spill::create()?),
            };
            let at = spill.len;
            spill.file.write_all(&lines)?;
            spill.len += lines.len() as u64;
            Block::Spilled(at, lines.len() as u64)
        };
        self.blocks[job] = Some(block);
        self.keys.extend_from_slice(keys);
        Ok(())
    }

    /// Detections held.
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    /// Writes every line in key order.
    pub(crate) fn write_sorted(mut self, out: &mut impl Write) -> io::Result<()> {
        self.keys.sort_unstable_by_key(Key::order);
        let mut windows = Windows::default();
        for key in &self.keys {
            let (head, tail) = match &self.blocks[key.job as usize] {
                Some(Block::Memory(lines)) => parts(lines, key),
                Some(Block::Spilled(at, block_len)) => {
                    let spill = self
                        .spill
                        .as_mut()
                        .ok_or_else(|| io::Error::other("spilled lines without a spill file"))?;
                    // One read for the span holding both parts (an empty tail may be
                    // anywhere).
                    let key = &Key {
                        tail: if key.tail_len == 0 {
                            key.start
                        } else {
                            key.tail
                        },
                        ..*key
                    };
                    let from = key.start.min(key.tail);
                    let to = (key.start + key.len).max(key.tail + key.tail_len);
                    let span = windows.line(
                        &mut spill.file,
                        key.job,
                        at + u64::from(from),
                        (to - from) as usize,
                        at + block_len,
                    )?;
                    let shifted = Key {
                        start: key.start - from,
                        tail: key.tail - from,
                        ..*key
                    };
                    parts(span, &shifted)
                }
                None => return Err(io::Error::other("a detection's job buffer is missing")),
            };
            out.write_all(head)?;
            out.write_all(tail)?;
        }
        Ok(())
    }
}

/// Read windows of the spill file (see [`WINDOW_BYTES`]).
#[derive(Default)]
struct Windows {
    kept: Vec<Window>,
    /// Lines read so far: the time of a window's last use.
    clock: u64,
}

/// Bytes of the spill file read at once for one job's lines.
struct Window {
    job: u32,
    /// Where `data` starts in the file.
    at: u64,
    data: Vec<u8>,
    last_used: u64,
}

impl Window {
    fn covers(&self, job: u32, offset: u64, len: usize) -> bool {
        self.job == job
            && self.at <= offset
            && offset + len as u64 <= self.at + self.data.len() as u64
    }
}

impl Windows {
    /// The `len` bytes at `offset` of `file`, from the job's window or a new one read there
    /// (up to `block_end`, the end of the job's lines).
    fn line(
        &mut self,
        file: &mut File,
        job: u32,
        offset: u64,
        len: usize,
        block_end: u64,
    ) -> io::Result<&[u8]> {
        self.clock += 1;
        let index = match self.kept.iter().position(|w| w.covers(job, offset, len)) {
            Some(i) => i,
            None => {
                let size = (block_end - offset)
                    .min(WINDOW_BYTES as u64)
                    .max(len as u64) as usize;
                let mut data = vec![0; size];
                file.seek(SeekFrom::Start(offset))?;
                file.read_exact(&mut data)?;
                let window = Window {
                    job,
                    at: offset,
                    data,
                    last_used: 0,
                };
                // The job's old window, else a free place, else the least recently used.
                match self.kept.iter().position(|w| w.job == job) {
                    Some(i) => {
                        self.kept[i] = window;
                        i
                    }
                    None if self.kept.len() < WINDOWS => {
                        self.kept.push(window);
                        self.kept.len() - 1
                    }
                    None => {
                        let i = (0..self.kept.len())
                            .min_by_key(|&i| self.kept[i].last_used)
                            .unwrap_or(0);
                        self.kept[i] = window;
                        i
                    }
                }
            }
        };
        let window = &mut self.kept[index];
        window.last_used = self.clock;
        let from = (offset - window.at) as usize;
        Ok(&window.data[from..from + len])
    }
}

impl Spill {
    fn create() -> io::Result<Spill> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path =
            std::env::temp_dir().join(format!("vigie-hunt-{}-{nanos}.spill", std::process::id()));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        Ok(Spill { path, file, len: 0 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(lines: &[(i64, &str)], job: u32) -> (Vec<u8>, Vec<Key>) {
        shared("", lines, job)
    }

    /// A job of one event whose detections (`heads`, with their times) share `tail`,
    /// written first as a hunt does (an empty tail: lines of their own).
    fn shared(tail: &str, heads: &[(i64, &str)], job: u32) -> (Vec<u8>, Vec<Key>) {
        let mut buf = tail.as_bytes().to_vec();
        let mut keys = Vec::new();
        for (seq, (time, text)) in heads.iter().enumerate() {
            keys.push(Key {
                time: *time,
                rule: 0,
                file: 0,
                record: 0,
                job,
                seq: seq as u32,
                start: buf.len() as u32,
                len: text.len() as u32,
                tail: 0,
                tail_len: tail.len() as u32,
            });
            buf.extend_from_slice(text.as_bytes());
        }
        (buf, keys)
    }

    #[test]
    fn shared_tails_follow_each_head_in_memory_and_spilled() {
        for spilled in [false, true] {
            let mut report = Report::default();
            let big = "x".repeat(MEMORY_BYTES) + "\n";
            let mut expected = String::new();
            if spilled {
                let (b, kb) = job(&[(0, &big)], 0);
                report.add(0, b, &kb).unwrap();
                expected.push_str(&big);
            }
            let (buf, keys) = shared("EVENT\n", &[(2, "second,"), (1, "first,")], 1);
            report.add(1, buf, &keys).unwrap();
            assert_eq!(report.spill.is_some(), spilled);
            let mut out = Vec::new();
            report.write_sorted(&mut out).unwrap();
            expected.push_str("first,EVENT\nsecond,EVENT\n");
            assert_eq!(String::from_utf8(out).unwrap(), expected);
        }
    }

    #[test]
    fn lines_come_out_sorted_from_memory_and_from_the_spill_file() {
        let mut report = Report::default();
        let (a, ka) = job(&[(3, "c\n"), (1, "a\n")], 1);
        report.add(1, a, &ka).unwrap();
        // Larger than the memory budget: spilled.
        let big = "x".repeat(MEMORY_BYTES) + "\n";
        let (b, kb) = job(&[(2, &big), (4, "d\n")], 0);
        report.add(0, b, &kb).unwrap();
        let path = report.spill.as_ref().unwrap().path.clone();
        assert!(path.exists());
        let mut out = Vec::new();
        report.write_sorted(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text, format!("a\n{big}c\nd\n"));
        assert!(!path.exists(), "the spill file is removed");
    }

    #[test]
    fn spilled_lines_read_through_evicted_windows_come_out_sorted() {
        let mut report = Report::default();
        // Fills the memory budget: every later job is spilled.
        let big = "x".repeat(MEMORY_BYTES) + "\n";
        let (b, kb) = job(&[(-1, &big)], 0);
        report.add(0, b, &kb).unwrap();
        // More jobs than windows, their lines interleaved in time, and one line longer
        // than a window.
        let jobs = WINDOWS as u32 + 9;
        let long = "y".repeat(WINDOW_BYTES + 10) + "\n";
        let mut expected = vec![big];
        let mut lines_of = Vec::new();
        for j in 1..=jobs {
            let lines: Vec<(i64, String)> = (0..3)
                .map(|k| {
                    let time = i64::from(j) + i64::from(k) * 1000;
                    let text = if j == 5 && k == 1 {
                        long.clone()
                    } else {
                        format!("{time}\n")
                    };
                    (time, text)
                })
                .collect();
            lines_of.push(lines);
        }
        for (j, lines) in lines_of.iter().enumerate() {
            let refs: Vec<(i64, &str)> = lines.iter().map(|(t, s)| (*t, s.as_str())).collect();
            let (buf, keys) = job(&refs, j as u32 + 1);
            report.add(j + 1, buf, &keys).unwrap();
        }
        let mut all: Vec<(i64, String)> = lines_of.into_iter().flatten().collect();
        all.sort();
        expected.extend(all.into_iter().map(|(_, s)| s));
        let mut out = Vec::new();
        report.write_sorted(&mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), expected.concat());
    }
}
