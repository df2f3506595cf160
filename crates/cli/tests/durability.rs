//! The durability contract, end to end: a child `vigie serve` receives numbered events over
//! HTTP while it is killed with SIGKILL at random moments and restarted. Every event whose
//! batch was acknowledged (HTTP 200) must be in the store exactly once afterwards; events of
//! unacknowledged batches may be there at most once.

#![allow(clippy::print_stderr)]

mod support;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const KILLS: usize = 4;
const BATCH: u64 = 200;

fn vigie() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vigie"))
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

fn start(config: &Path, log: &Path) -> Child {
    let log = std::fs::File::create(log).expect("log");
    vigie()
        .args(["serve", "--config"])
        .arg(config)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("vigie serve starts")
}

fn wait_healthy(agent: &ureq::Agent, base: &str, child: &mut Child) {
    let start = Instant::now();
    loop {
        if let Ok(r) = agent.get(format!("{base}/api/v1/health")).call()
            && r.status() == 200
        {
            return;
        }
        assert!(
            child.try_wait().expect("wait").is_none(),
            "vigie serve exited"
        );
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "vigie serve never answered"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A pseudo-random number from the clock (the moments of the kills).
fn jitter(max_ms: u64) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    u64::from(nanos.wrapping_mul(2_654_435_761)) % max_ms
}

#[test]
fn acknowledged_events_survive_sigkill_exactly_once() {
    // Its folder, configuration, tenant and people, made with `vigie admin`.
    let instance = support::Instance::new(&["acme"], "[rules]\nreload_poll_ms = 0\n");
    let (dir, config, port) = (instance.dir.path(), instance.config.clone(), instance.port);
    let token = instance.tokens["acme"].clone();
    let base = format!("http://127.0.0.1:{port}");
    let agent = agent();

    let acked: Arc<Mutex<Vec<u64>>> = Arc::default();
    let next = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let sender = {
        let (acked, next, stop, base, token) = (
            Arc::clone(&acked),
            Arc::clone(&next),
            Arc::clone(&stop),
            base.clone(),
            token.clone(),
        );
        std::thread::spawn(move || {
            let agent = self::agent();
            while !stop.load(Ordering::Acquire) {
                // Fresh numbers for every attempt: an unacknowledged batch is never resent,
                // so a number can only be in the store twice through a bug.
                let first = next.fetch_add(BATCH, Ordering::Relaxed);
                let body: String = (first..first + BATCH)
                    .map(|n| format!("{{\"n\":{n},\"message\":\"durability test\"}}\n"))
                    .collect();
                let answer = agent
                    .post(format!("{base}/api/v1/ingest"))
                    .header("Authorization", format!("Bearer {token}"))
                    .send(body.as_bytes());
                match answer {
                    Ok(r) if r.status() == 200 => {
                        acked.lock().expect("lock").extend(first..first + BATCH);
                    }
                    _ => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        })
    };

    for kill in 0..KILLS {
        let mut child = start(&config, &dir.join(format!("serve-{kill}.log")));
        wait_healthy(&agent, &base, &mut child);
        std::thread::sleep(Duration::from_millis(300 + jitter(1500)));
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");
    }
    stop.store(true, Ordering::Release);
    sender.join().expect("sender");

    // A last start replays the journal; wait until it has processed everything.
    let mut child = start(&config, &dir.join("serve-final.log"));
    wait_healthy(&agent, &base, &mut child);
    // Reading takes people: the operator for readiness, the tenant's reader for events.
    let admin = instance.operator();
    let reader = instance.as_reader(&token);
    let start_wait = Instant::now();
    loop {
        let mut r = agent
            .get(format!("{base}/api/v1/ready"))
            .header("Authorization", format!("Bearer {admin}"))
            .call()
            .expect("ready");
        let ready: serde_json::Value =
            serde_json::from_str(&r.body_mut().read_to_string().expect("body")).expect("json");
        if ready["journal"]["lag_bytes"] == 0 {
            break;
        }
        assert!(
            start_wait.elapsed() < Duration::from_secs(120),
            "never caught up: {ready}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // Read every event back, page by page.
    let mut seen: HashMap<u64, u32> = HashMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{base}/api/v1/events?q=*&limit=10000&order=asc&fields=n");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let mut r = agent
            .get(url)
            .header("Authorization", format!("Bearer {reader}"))
            .call()
            .expect("search");
        assert_eq!(r.status(), 200);
        let page: serde_json::Value =
            serde_json::from_str(&r.body_mut().read_to_string().expect("body")).expect("json");
        for e in page["events"].as_array().expect("events") {
            let n = e["fields"]["n"].as_u64().expect("n");
            *seen.entry(n).or_default() += 1;
        }
        match page["next"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    child.kill().expect("kill");
    child.wait().expect("reaped");

    let acked = acked.lock().expect("lock");
    let lost = acked.iter().filter(|n| !seen.contains_key(n)).count();
    let duplicates = seen.values().filter(|c| **c > 1).count();
    let unacked_stored = seen.len() - acked.iter().filter(|n| seen.contains_key(n)).count();
    eprintln!(
        "durability: {KILLS} kills, {} events acknowledged, {lost} lost, {duplicates} duplicated, \
         {unacked_stored} stored from unacknowledged batches (allowed), {} numbers sent",
        acked.len(),
        next.load(Ordering::Relaxed)
    );
    assert!(
        acked.len() >= 1000,
        "too few events acknowledged to mean anything"
    );
    assert_eq!(lost, 0, "acknowledged events lost");
    assert_eq!(duplicates, 0, "events stored twice");
}

/// Killed while replaying: a server takes batches with a long commit interval (nothing is
/// checkpointed), is killed, restarted, and killed again in the middle of replaying the
/// journal, twice; the last start finishes the replay. Every acknowledged event is stored
/// exactly once.
#[test]
fn a_kill_during_replay_loses_and_duplicates_nothing() {
    let mut i = support::Instance::new(&["acme"], "");
    i.write_config("[pipeline]\ncommit_interval_ms = 60000\n");
    let token = i.tokens["acme"].clone();
    let server = i.start(None, "serve-ingest");
    let batches = 150u64;
    for b in 0..batches {
        let body: String = (b * BATCH..(b + 1) * BATCH)
            .map(|n| format!("{{\"n\":{n},\"message\":\"replay test\"}}\n"))
            .collect();
        let (status, answer) = i.ingest(&token, body.as_bytes());
        assert_eq!(status, 200, "{answer}");
    }
    server.kill();
    // Two starts killed while they replay: the checkpoint never moves (a minute between
    // commits), so each replays from the start and stores (uncommitted) part of it.
    for round in 0..2 {
        let server = i.start(None, &format!("serve-replay-{round}"));
        std::thread::sleep(Duration::from_millis(200 + jitter(400)));
        server.kill();
    }
    i.write_config("[pipeline]\ncommit_interval_ms = 200\n");
    let server = i.start(None, "serve-final");
    let total = batches * BATCH;
    i.wait_count(&token, "n:*", total, Duration::from_secs(120));
    let mut seen: HashMap<u64, u32> = HashMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = "/api/v1/events?q=*&limit=10000&order=asc&fields=n".to_owned();
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let (status, body) = i.get(&path, &token);
        assert_eq!(status, 200, "{body}");
        let page = support::json(&body);
        for e in page["events"].as_array().expect("events") {
            *seen
                .entry(e["fields"]["n"].as_u64().expect("n"))
                .or_default() += 1;
        }
        match page["next"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    server.stop();
    let lost = (0..total).filter(|n| !seen.contains_key(n)).count();
    let duplicates = seen.values().filter(|c| **c > 1).count();
    eprintln!("kill during replay: {total} acknowledged, {lost} lost, {duplicates} duplicated");
    assert_eq!(lost, 0, "acknowledged events lost");
    assert_eq!(duplicates, 0, "events stored twice");
    assert_eq!(seen.len() as u64, total);
}
