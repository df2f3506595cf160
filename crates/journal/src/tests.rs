use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::*;

const NO_WAIT: Duration = Duration::from_millis(0);

fn small() -> JournalConfig {
    JournalConfig { segment_bytes: 200 }
}

fn payload(i: usize) -> Vec<u8> {
    format!("record number {i:04} {}", "x".repeat(i % 7)).into_bytes()
}

fn read_all(shared: &Arc<Shared>, from: u64) -> Vec<Vec<u8>> {
    let mut reader = Reader::new(Arc::clone(shared), from);
    let mut out = Vec::new();
    while let Some(entry) = reader.next(NO_WAIT).expect("read") {
        out.push(entry.payload);
    }
    out
}

#[test]
fn records_round_trip_across_segments_and_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut writer, shared) = open(dir.path(), small()).expect("open");
    for i in 0..50 {
        writer.append(&payload(i)).expect("append");
    }
    // Nothing is readable before the fsync.
    assert!(read_all(&shared, 0).is_empty());
    writer.sync().expect("sync");
    assert!(list_segments(dir.path()).expect("list").len() > 5);
    let expected: Vec<_> = (0..50).map(payload).collect();
    assert_eq!(read_all(&shared, 0), expected);
    drop(writer);
    let (mut writer, shared) = open(dir.path(), small()).expect("reopen");
    writer.append(&payload(50)).expect("append");
    writer.sync().expect("sync");
    let all = read_all(&shared, 0);
    assert_eq!(all.len(), 51);
    assert_eq!(all[50], payload(50));
}

#[test]
fn a_torn_tail_is_truncated_at_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut writer, _) = open(dir.path(), JournalConfig::default()).expect("open");
    for i in 0..3 {
        writer.append(&payload(i)).expect("append");
    }
    writer.sync().expect("sync");
    drop(writer);
    let seg = segment_path(dir.path(), 0);
    let full = std::fs::metadata(&seg).expect("meta").len();
    // A crash in the middle of writing a fourth record.
    let mut file = OpenOptions::new().append(true).open(&seg).expect("open");
    file.write_all(b"VJR1\x40\x00\x00\x00\x01\x02\x03\x04half a rec")
        .expect("write");
    drop(file);
    let (_, shared) = open(dir.path(), JournalConfig::default()).expect("reopen");
    assert_eq!(std::fs::metadata(&seg).expect("meta").len(), full);
    assert_eq!(shared.stats.torn_tail_bytes.load(Ordering::Relaxed), 22);
    assert_eq!(read_all(&shared, 0).len(), 3);
}

#[test]
fn a_corrupt_record_is_skipped_counted_and_never_served() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut writer, shared) = open(dir.path(), JournalConfig::default()).expect("open");
    let mut positions = Vec::new();
    for i in 0..5 {
        positions.push(writer.append(&payload(i)).expect("append"));
    }
    writer.sync().expect("sync");
    drop(writer);
    // Flip a payload byte of record 1 and the magic of record 3.
    let seg = segment_path(dir.path(), 0);
    let mut file = OpenOptions::new().write(true).open(&seg).expect("open");
    file.seek(SeekFrom::Start(positions[1] + HEADER as u64 + 2))
        .expect("seek");
    file.write_all(b"#").expect("write");
    file.seek(SeekFrom::Start(positions[3])).expect("seek");
    file.write_all(b"X").expect("write");
    drop(file);
    let read = read_all(&shared, 0);
    assert_eq!(read, vec![payload(0), payload(2), payload(4)]);
    assert_eq!(shared.stats.corrupt_records.load(Ordering::Relaxed), 2);
    // Reopening does not truncate valid records after the corruption.
    let (_, shared) = open(dir.path(), JournalConfig::default()).expect("reopen");
    assert_eq!(shared.stats.torn_tail_bytes.load(Ordering::Relaxed), 0);
    assert_eq!(read_all(&shared, 0).len(), 3);
}

#[test]
fn corruption_at_the_end_of_a_full_segment_moves_on_to_the_next() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut writer, shared) = open(dir.path(), small()).expect("open");
    let mut positions = Vec::new();
    for i in 0..20 {
        positions.push(writer.append(&payload(i)).expect("append"));
    }
    writer.sync().expect("sync");
    let bases = list_segments(dir.path()).expect("list");
    // Corrupt the last record of the first segment.
    let last_of_first = positions
        .iter()
        .copied()
        .filter(|p| *p < bases[1])
        .max()
        .expect("one");
    let mut file = OpenOptions::new()
        .write(true)
        .open(segment_path(dir.path(), 0))
        .expect("open");
    file.seek(SeekFrom::Start(last_of_first + 4)).expect("seek");
    file.write_all(&[0xff, 0xff, 0xff, 0x7f]).expect("write");
    drop(file);
    assert_eq!(read_all(&shared, 0).len(), 19);
}

#[test]
fn checkpoints_persist_and_release_segments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut writer, shared) = open(dir.path(), small()).expect("open");
    let mut reader = Reader::new(Arc::clone(&shared), 0);
    for i in 0..30 {
        writer.append(&payload(i)).expect("append");
    }
    writer.sync().expect("sync");
    let mut checkpoint = 0;
    for _ in 0..20 {
        checkpoint = reader.next(NO_WAIT).expect("read").expect("entry").next;
    }
    let before = list_segments(dir.path()).expect("list").len();
    shared.save_checkpoint(checkpoint).expect("checkpoint");
    let after = list_segments(dir.path()).expect("list").len();
    assert!(after < before, "{after} < {before}");
    // The remaining records are still all there, from the checkpoint.
    drop(writer);
    let (_, shared) = open(dir.path(), small()).expect("reopen");
    assert_eq!(shared.checkpoint(), checkpoint);
    let rest = read_all(&shared, shared.checkpoint());
    assert_eq!(rest, (20..30).map(payload).collect::<Vec<_>>());
    assert_eq!(shared.lag(), shared.durable_end() - checkpoint);
}

#[test]
fn group_commit_answers_every_request_after_its_fsync() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (writer, shared) = open(dir.path(), JournalConfig::default()).expect("open");
    let (appender, thread) = committer::spawn(writer, 1024).expect("spawn");
    let receivers: Vec<_> = (0..200)
        .map(|i| appender.try_append(payload(i)).expect("queued"))
        .collect();
    let mut positions = Vec::new();
    for rx in receivers {
        let position = rx.blocking_recv().expect("answer").expect("durable");
        assert!(position < shared.durable_end());
        positions.push(position);
    }
    assert!(positions.windows(2).all(|w| w[0] < w[1]));
    let syncs = shared.stats.syncs.load(Ordering::Relaxed);
    assert!(syncs <= 200, "{syncs} fsyncs");
    drop(appender);
    thread.join().expect("writer thread");
    assert_eq!(read_all(&shared, 0).len(), 200);
}

#[test]
fn a_reader_waits_for_the_next_fsync() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut writer, shared) = open(dir.path(), JournalConfig::default()).expect("open");
    let reader_shared = Arc::clone(&shared);
    let reading = std::thread::spawn(move || {
        let mut reader = Reader::new(reader_shared, 0);
        reader
            .next(Duration::from_secs(10))
            .expect("read")
            .map(|e| e.payload)
    });
    std::thread::sleep(Duration::from_millis(50));
    writer.append(b"late").expect("append");
    writer.sync().expect("sync");
    assert_eq!(reading.join().expect("thread"), Some(b"late".to_vec()));
}

/// Random damage to the segment files (flipped bytes, cut tails, inserted garbage): opening
/// and reading never panics and never returns a payload that was not written, in order.
#[test]
fn random_damage_never_serves_corrupt_data() {
    let mut seed = 0x5eed_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..300 {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = JournalConfig {
            segment_bytes: 150 + next() % 400,
        };
        let (mut writer, _) = open(dir.path(), config.clone()).expect("open");
        let written: Vec<Vec<u8>> = (0..(5 + next() % 40) as usize)
            .map(|i| {
                let mut p = payload(i);
                // Some payloads carry the magic, to tempt the resynchronisation.
                if next().is_multiple_of(5) {
                    p.extend_from_slice(&MAGIC);
                }
                p
            })
            .collect();
        for p in &written {
            writer.append(p).expect("append");
        }
        writer.sync().expect("sync");
        drop(writer);
        for base in list_segments(dir.path()).expect("list") {
            let path = segment_path(dir.path(), base);
            let mut bytes = std::fs::read(&path).expect("read");
            for _ in 0..next() % 4 {
                if bytes.is_empty() {
                    break;
                }
                let at = (next() as usize) % bytes.len();
                match next() % 3 {
                    0 => bytes[at] ^= 1 << (next() % 8),
                    1 => bytes.truncate(at),
                    _ => bytes
                        .splice(at..at, MAGIC.iter().copied().chain([0xff, 0, 0, 0]))
                        .for_each(drop),
                }
            }
            std::fs::write(&path, &bytes).expect("write");
        }
        let (_, shared) = open(dir.path(), config).expect("reopen after damage");
        let read = read_all(&shared, 0);
        // What is read is a subsequence of what was written.
        let mut rest = written.iter();
        for r in &read {
            assert!(
                rest.any(|w| w == r),
                "round {round}: a payload that was never written (or out of order): {:?}",
                String::from_utf8_lossy(r)
            );
        }
    }
}
