//! Unclean stops: a child process adds and commits events and is killed (SIGKILL) in the
//! middle of a commit, several times; each reopen must find every event whose commit
//! returned, exactly once, and an index that reads and writes normally.
//!
//! The child is this test binary itself, re-run with `VIGIE_STORE_CRASH_CHILD` set.

#![allow(clippy::print_stdout)]

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use vigie_event::{Decoder, Origin, Source, SourceKind, TenantId};
use vigie_store::{Search, Store, StoreConfig, parse};

const CHILD_ENV: &str = "VIGIE_STORE_CRASH_CHILD";
const BATCH: u64 = 3_000;

fn config() -> StoreConfig {
    StoreConfig {
        writer_heap_bytes: 32 << 20,
        writer_threads: 1,
        ..StoreConfig::default()
    }
}

fn tenant() -> TenantId {
    TenantId::new("crash").unwrap()
}

/// Every `i` stored, as a sorted list (duplicates kept).
fn stored(store: &Store) -> Vec<u64> {
    let mut s = Search::new(parse("*").unwrap(), 10_000);
    let mut out = Vec::new();
    loop {
        let page = store.search(&tenant(), &s).unwrap();
        out.extend(page.events.iter().map(|e| {
            e.fields
                .get_by_name("i")
                .and_then(|v| v.as_number())
                .and_then(|n| n.as_i64())
                .map(|n| n as u64)
                .expect("every event has its number")
        }));
        match page.next {
            Some(c) => s.cursor = Some(c),
            None => break,
        }
    }
    out.sort_unstable();
    out
}

/// The child: continues numbering after what is stored, and commits batch after batch,
/// saying so before and after each commit.
fn child(dir: &str) {
    let store = Store::open(dir, config()).unwrap();
    let mut next = stored(&store).len() as u64;
    let t = tenant();
    let mut decoder = Decoder::new(Origin::new(t, Source::new(SourceKind::Http, "crash")));
    loop {
        for i in next..next + BATCH {
            let line = format!(
                r#"{{"@timestamp":"2026-11-20T{:02}:{:02}:{:02}Z","i":{i},"message":"event number {i} with some text to index"}}"#,
                (i / 3600) % 24,
                (i / 60) % 60,
                i % 60
            );
            let event = decoder.decode_json(Bytes::from(line)).unwrap();
            store.add(event).unwrap();
        }
        next += BATCH;
        println!("committing {next}");
        store.commit().unwrap();
        println!("committed {next}");
    }
}

#[test]
fn killed_mid_commit_reopens_with_every_committed_event_once() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        child(&dir);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut kills = 0;
    let mut acknowledged = 0u64;
    for round in 0..4u64 {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "killed_mid_commit_reopens_with_every_committed_event_once",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut commits_seen = 0;
        let mut lines = stdout.lines();
        // Let a few commits succeed, then kill inside the next commit (after a delay that
        // varies with the round, so the kill lands at different stages).
        while let Some(Ok(line)) = lines.next() {
            if let Some(n) = line.strip_prefix("committed ") {
                acknowledged = n.parse().unwrap();
                commits_seen += 1;
            } else if line.starts_with("committing ") && commits_seen > round % 2 {
                std::thread::sleep(Duration::from_millis(round * 7));
                child.kill().unwrap();
                break;
            }
        }
        // Any acknowledgement printed before the kill counts.
        for line in lines.map_while(Result::ok) {
            if let Some(n) = line.strip_prefix("committed ") {
                acknowledged = n.parse().unwrap();
            }
        }
        child.wait().unwrap();
        kills += 1;

        let store = Store::open(dir.path(), config()).unwrap();
        let numbers = stored(&store);
        let unique: BTreeSet<u64> = numbers.iter().copied().collect();
        assert_eq!(unique.len(), numbers.len(), "duplicates after kill {kills}");
        assert!(
            numbers.len() as u64 >= acknowledged,
            "kill {kills}: {} events stored, {acknowledged} acknowledged",
            numbers.len()
        );
        // Commits are whole: what is stored is exactly the numbers 0..n.
        assert!(
            numbers.iter().enumerate().all(|(k, n)| k as u64 == *n),
            "kill {kills}: a gap in the stored numbers"
        );
        assert_eq!(numbers.len() as u64 % BATCH, 0, "a partial commit survived");
        println!(
            "kill {kills}: {} acknowledged, {} stored, 0 duplicates",
            acknowledged,
            numbers.len()
        );
    }
    assert_eq!(kills, 4);
    assert!(acknowledged >= 4 * BATCH);
}
