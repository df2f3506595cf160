//! The hostile tenant suite: each test starts a child `vigie serve` with small limits, sends
//! what a hostile (or careless) tenant A would, and checks that
//!
//! 1. the server is still up,
//! 2. tenant B's ingest → searchable latency stays under [`B_BOUND`],
//! 3. the answer is the documented error (JSON, stable code),
//! 4. nothing acknowledged is lost.
//!
//! Memory is bounded on the child, never by timing: a hard ceiling with `prlimit --data`
//! (address space of heap and anonymous mappings: a runaway allocation, such as the 10^10
//! histogram buckets, dies against it), and the peak resident memory (`VmHWM`) checked
//! against [`RSS_BOUND`] at the end of each test. The durability tests under SIGKILL are in
//! `durability.rs`.

#![allow(clippy::print_stderr)]

mod support;

use std::io::Write;
use std::time::Duration;

use support::{Instance, Running, assert_error, json, raw};

/// Tenant B's ingest → searchable bound while A misbehaves (a debug build, commits every
/// 200 ms on a 2-core machine: normally well under a second).
const B_BOUND: Duration = Duration::from_secs(10);

/// The address space of data a child may reserve (RLIMIT_DATA). Reserved, not resident:
/// the indexing tables of a few open partition writers reserve gigabytes they never touch.
const MEMORY: u64 = 8 << 30;

/// The peak resident memory a child may reach in these tests. The store may hold 8 partition
/// writers open with 32 MiB of indexing memory each (`support::Instance`), plus their
/// threads and merges: the test spreading events over 3,000 days, which opens and closes 401
/// writers, peaked at 644–696 MiB in a debug build (2026-12-07); the others at 25–207 MiB.
const RSS_BOUND: u64 = 1 << 30;

/// The end of every test: the server is up, its peak memory under the bound, tenant B's
/// events searchable within theirs, and it stops cleanly.
fn finish(i: &Instance, mut server: Running) {
    server.assert_memory_under(RSS_BOUND);
    i.probe("b", B_BOUND);
    server.stop();
}

/// Two events 584 years apart (the ends of the accepted times) no longer make the automatic
/// histogram build 10^10 buckets; a 1 s interval over them is a 400 that says why.
#[test]
fn histograms_over_the_extremes_of_time_are_bounded() {
    let i = Instance::new(
        &["a", "b"],
        "[limits.tenant.a]\nmax_event_age_days = 4294967295\nmax_event_future_hours = 4294967295\n",
    );
    let server = i.start(Some(MEMORY), "serve");
    let a = &i.tokens["a"];
    let now = vigie_event::Timestamp::now();
    let days_ago = |d: i64| {
        vigie_event::Timestamp::from_nanos(now.as_nanos() - d * 86_400_000_000_000)
            .to_rfc3339(vigie_event::UtcOffset::UTC)
    };
    let body = format!(
        "{{\"@timestamp\":\"1678-01-01T00:00:00Z\",\"m\":\"extreme\"}}\n{{\"@timestamp\":\"2261-12-31T23:59:59Z\",\"m\":\"extreme\"}}\n{{\"@timestamp\":\"{}\",\"m\":\"extreme\"}}\n{{\"@timestamp\":\"{}\",\"m\":\"extreme\"}}\n",
        days_ago(20),
        days_ago(0)
    );
    let (status, body) = i.ingest(a, body.as_bytes());
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["accepted"], 4);
    i.wait_count(a, "m:extreme", 4, Duration::from_secs(30));

    let (status, body) = i.get("/api/v1/events/histogram", a);
    assert_eq!(status, 200, "{body}");
    let buckets = json(&body)["buckets"].as_array().expect("buckets").len();
    assert!(buckets <= 61, "{buckets} buckets");
    for path in [
        "/api/v1/events/histogram?interval=1",
        "/api/v1/events/histogram?interval=1&from=1678-01-01T00:00:00Z&to=2261-12-31T23:59:59Z",
    ] {
        let (status, body) = i.get(path, a);
        assert_error(status, &body, 400, "bad_aggregation");
        assert!(body.contains("10000 buckets"), "{body}");
    }
    // 1 s over the last 30 days, which hold two events 20 days apart: 1.7 M buckets asked
    // (the answer was 111 MB), refused.
    let (status, body) = i.get("/api/v1/events/histogram?interval=1&from=-30d&to=now", a);
    assert_error(status, &body, 400, "bad_aggregation");
    // A day at a time over the same: 21 buckets.
    let (status, body) = i.get(
        "/api/v1/events/histogram?interval=86400&from=-30d&to=now",
        a,
    );
    assert_eq!(status, 200, "{body}");
    let buckets = json(&body)["buckets"].as_array().expect("buckets").len();
    assert!((21..=22).contains(&buckets), "{buckets}");
    finish(&i, server);
}

/// Millions of tiny events in a few MiB: refused whole with 413 (never acknowledged then
/// choked on); a batch at the limit is processed within the memory limit; a gzip bomb is
/// refused at the inflate limit.
#[test]
fn floods_of_tiny_events_and_gzip_bombs_are_refused_within_memory() {
    let i = Instance::new(
        &["a", "b"],
        "[http]\nmax_body_bytes = 8388608\nmax_decoded_bytes = 16777216\nmax_buffered_mib = 128\n[limits.tenant.a]\nmax_events_per_batch = 50000\n",
    );
    let server = i.start(Some(MEMORY), "serve");
    let a = &i.tokens["a"];
    let flood = "{}\n".repeat(2_000_000);
    let (status, body) = i.ingest(a, flood.as_bytes());
    assert_error(status, &body, 413, "too_many_events");
    // At the limit: accepted, processed, searchable.
    let batch = "{\"tiny\":1}\n".repeat(50_000);
    let (status, body) = i.ingest(a, batch.as_bytes());
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["accepted"], 50_000);
    i.wait_count(a, "tiny:1", 50_000, Duration::from_secs(120));
    // 64 MiB of zeros in about 64 KiB of gzip: refused past max_decoded_bytes.
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..64 {
        enc.write_all(&zeros).expect("gzip");
    }
    let bomb = enc.finish().expect("gzip");
    let (status, body) = i.call(
        "POST",
        "/api/v1/ingest",
        Some(a),
        &[("Content-Encoding", "gzip")],
        Some(&bomb),
    );
    assert_error(status, &body, 413, "body_too_large");
    // Over the body limit as sent: refused on its Content-Length, before it is read.
    let answer = raw(
        i.port,
        format!("POST /api/v1/ingest HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {a}\r\nContent-Length: {}\r\n\r\n", 9 << 20).as_bytes(),
        Duration::from_secs(5),
    );
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("body_too_large"), "{answer}");
    finish(&i, server);
}

/// Records the pipeline cannot process — over the tenant's batch limit, unreadable — are
/// set aside in the quarantine; the server starts, serves, and processes the rest; after
/// the limit is raised, a retry stores the record's events once.
#[test]
fn poison_records_are_quarantined_and_a_restart_serves() {
    let mut i = Instance::new(
        &["a", "b"],
        "[limits.tenant.a]\nmax_events_per_batch = 100\n",
    );
    // Records written straight into the journal, as an older build (or a lowered limit)
    // would have left them: 300 events of A, bytes that are no batch, one event of B.
    {
        let poison = support::batch(
            "a",
            "",
            vigie_event::Timestamp::now(),
            (0..300).map(|n| format!("{{\"poison\":{n}}}")),
        );
        let good = support::batch(
            "b",
            "",
            vigie_event::Timestamp::now(),
            ["{\"goodb\":1}".to_owned()],
        );
        support::write_journal(
            &i.data_dir(),
            &[
                poison.encode(),
                b"\x07 this is not a batch".to_vec(),
                good.encode(),
            ],
        );
    }
    let mut server = i.start(Some(MEMORY), "serve-1");
    let (a, b) = (i.tokens["a"].clone(), i.tokens["b"].clone());
    let (a, b) = (&a, &b);
    i.wait_count(b, "goodb:1", 1, Duration::from_secs(30));
    i.probe("b", B_BOUND);
    let (status, body) = i.call("GET", "/api/v1/ready", None, &[], None);
    assert_eq!((status, body.as_str()), (200, "{\"status\":\"ready\"}"));
    // A sees its record and why; B sees none of it.
    let (status, body) = i.get("/api/v1/quarantine", a);
    assert_eq!(status, 200, "{body}");
    let records = json(&body)["records"].as_array().expect("records").clone();
    assert_eq!(records.len(), 1, "{body}");
    assert_eq!(records[0]["messages"], 300);
    let reason = records[0]["reason"].as_str().expect("reason");
    assert!(reason.contains("max_events_per_batch"), "{reason}");
    let id = records[0]["id"].as_str().expect("id").to_owned();
    let (_, body) = i.get("/api/v1/quarantine", b);
    assert_eq!(json(&body)["records"].as_array().expect("records").len(), 0);
    let (status, _) = i.get(&format!("/api/v1/quarantine/{id}"), b);
    assert_eq!(status, 404);
    // The administrator sees both, the unreadable one included; A cannot retry or drop.
    let listed = i.admin(&["quarantine", "list"]);
    assert!(listed.contains("2 quarantined record(s)"), "{listed}");
    assert!(listed.contains("_unreadable"), "{listed}");
    let (status, body) = i.call(
        "POST",
        &format!("/api/v1/quarantine/{id}/retry"),
        Some(a),
        &[],
        Some(b""),
    );
    assert_error(status, &body, 403, "forbidden");
    assert_eq!(i.count(a, "poison:*"), 0);
    server.assert_alive();
    server.stop();

    // A restart does not crash-loop on them, nor set them aside twice.
    let server = i.start(Some(MEMORY), "serve-2");
    i.probe("b", B_BOUND);
    assert!(
        i.admin(&["quarantine", "list"])
            .contains("2 quarantined record(s)")
    );
    server.stop();

    // The limit raised, a retry asked while the server is stopped: processed at start, once.
    i.write_config("[limits.tenant.a]\nmax_events_per_batch = 1000\n");
    let asked = i.admin(&["quarantine", "retry", "a", &id]);
    assert!(asked.contains("retry asked"), "{asked}");
    let mut server = i.start(Some(MEMORY), "serve-3");
    i.wait_count(a, "poison:*", 300, Duration::from_secs(30));
    let start = std::time::Instant::now();
    while !i
        .admin(&["quarantine", "list", "--tenant", "a"])
        .contains("0 quarantined")
    {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "never left the quarantine"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The unreadable record stays until an administrator drops it.
    let unreadable = i.admin(&["quarantine", "list", "--json"]);
    let entry = json(unreadable.lines().next().expect("one left"));
    let dropped = i.admin(&[
        "quarantine",
        "drop",
        "_unreadable",
        entry["id"].as_str().expect("id"),
    ]);
    assert!(dropped.contains("dropped"), "{dropped}");
    assert!(i.admin(&["quarantine", "list"]).contains("0 quarantined"));
    server.assert_alive();
    server.stop();
    let server = i.start(None, "serve-4");
    assert_eq!(i.count(a, "poison:*"), 300);
    server.stop();
}

/// One tenant sending thousands of distinct keys spends its own field-name budget, not the
/// others'.
#[test]
fn one_tenant_cannot_spend_another_tenants_field_names() {
    let i = Instance::new(&["a", "b"], "[limits.tenant.a]\nmax_field_names = 300\n");
    let server = i.start(Some(MEMORY), "serve");
    let (a, b) = (&i.tokens["a"], &i.tokens["b"]);
    let body: String = (0..2000).map(|n| format!("{{\"akey{n}\":1}}\n")).collect();
    let (status, answer) = i.ingest(a, body.as_bytes());
    assert_eq!(status, 200, "{answer}");
    let v = json(&answer);
    let accepted = v["accepted"].as_u64().expect("accepted");
    let rejected = v["rejected"].as_u64().expect("rejected");
    assert_eq!(accepted + rejected, 2000);
    assert!(
        accepted <= 300 && rejected >= 1700,
        "{accepted} / {rejected}"
    );
    let reason = v["errors"][0]["reason"].as_str().expect("reason");
    assert!(reason.contains("limits.max_field_names"), "{reason}");
    // B's new names are all taken.
    let body: String = (0..2000).map(|n| format!("{{\"bkey{n}\":1}}\n")).collect();
    let (status, answer) = i.ingest(b, body.as_bytes());
    assert_eq!(status, 200, "{answer}");
    assert_eq!(json(&answer)["accepted"], 2000);
    i.wait_count(b, "bkey1999:1", 1, Duration::from_secs(30));
    i.wait_count(a, "*", accepted, Duration::from_secs(30));
    finish(&i, server);
}

/// Events spread over thousands of days: kept at their receive time past the tenant's
/// window (clamped, counted) or refused with the reason, so one batch cannot open
/// thousands of partitions, and B's events stay searchable within the bound.
#[test]
fn events_over_thousands_of_days_are_windowed_and_do_not_delay_others() {
    let i = Instance::new(
        &["a", "b", "c"],
        "[limits.tenant.c]\nout_of_window = \"reject\"\n",
    );
    let mut server = i.start(Some(MEMORY), "serve");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let days = 3000;
    let body: String = (0..days)
        .map(|d| {
            let t = vigie_event::Timestamp::from_nanos((now - d * 86_400) * 1_000_000_000);
            format!(
                "{{\"@timestamp\":\"{}\",\"spread\":{d}}}\n",
                t.to_rfc3339(vigie_event::UtcOffset::UTC)
            )
        })
        .collect();
    let (status, answer) = i.ingest(&i.tokens["a"], body.as_bytes());
    assert_eq!(status, 200, "{answer}");
    assert_eq!(json(&answer)["accepted"], days);
    // Right behind A's batch, B's event.
    i.probe("b", B_BOUND);
    i.wait_count(
        &i.tokens["a"],
        "spread:*",
        days as u64,
        Duration::from_secs(120),
    );
    // What was clamped carries the time it had.
    let clamped = i.count(&i.tokens["a"], "vigie.original_time:*");
    assert!(
        (2590..=2600).contains(&clamped),
        "{clamped} events clamped of {days}"
    );
    let (status, metrics) = i.get("/metrics", &i.operator());
    assert_eq!(status, 200);
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("vigie_clamped_events_total{tenant=\"a\"")
                && l.ends_with(&format!(" {clamped}"))),
        "{metrics}"
    );
    // A's partitions: at most the window's.
    let partitions = std::fs::read_dir(i.data_dir().join("events/tenants/a"))
        .expect("partitions")
        .count();
    assert!(partitions <= 402, "{partitions} partitions");
    // C rejects instead, line by line, with the reason.
    let (status, answer) = i.ingest(&i.tokens["c"], body.as_bytes());
    assert_eq!(status, 200, "{answer}");
    let v = json(&answer);
    let accepted = v["accepted"].as_u64().expect("accepted");
    assert!((400..=410).contains(&accepted), "{answer}");
    assert!(
        v["errors"][0]["reason"]
            .as_str()
            .expect("reason")
            .contains("max_event_age_days"),
        "{answer}"
    );
    server.assert_memory_under(RSS_BOUND);
    server.stop();
}

/// A gzip body of several members is read whole: every member's events are stored.
#[test]
fn every_gzip_member_is_stored() {
    let i = Instance::new(&["a", "b"], "");
    let mut server = i.start(None, "serve");
    let a = &i.tokens["a"];
    let mut body = Vec::new();
    for n in 0..3 {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        writeln!(enc, "{{\"member\":{n}}}").expect("gzip");
        body.extend(enc.finish().expect("gzip"));
    }
    let (status, answer) = i.call(
        "POST",
        "/api/v1/ingest",
        Some(a),
        &[("Content-Encoding", "gzip")],
        Some(&body),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(json(&answer)["accepted"], 3);
    i.wait_count(a, "member:*", 3, Duration::from_secs(30));
    body.extend_from_slice(b"garbage after the members");
    let (status, answer) = i.call(
        "POST",
        "/api/v1/ingest",
        Some(a),
        &[("Content-Encoding", "gzip")],
        Some(&body),
    );
    assert_error(status, &answer, 400, "bad_gzip");
    server.assert_memory_under(RSS_BOUND);
    server.stop();
}

/// Every error is JSON with a stable code; a query that cannot match as written is a 400;
/// the scheme of `Authorization` is case-insensitive; `/ready` tells an anonymous caller
/// nothing but ready.
#[test]
fn every_error_is_json_with_a_stable_code() {
    let i = Instance::new(
        &["a", "b"],
        "[http]\nmax_body_bytes = 1048576\nmax_decoded_bytes = 1048576\nmax_buffered_mib = 16\nbody_timeout_ms = 1000\n",
    );
    let server = i.start(None, "serve");
    let a = &i.tokens["a"];
    let answer = raw(
        i.port,
        format!("POST /api/v1/ingest HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {a}\r\nContent-Length: {}\r\n\r\n", 2 << 20).as_bytes(),
        Duration::from_secs(5),
    );
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("\"code\":\"body_too_large\""), "{answer}");
    // Without a Content-Length (chunked), refused once the limit is read.
    let mut chunked = format!(
        "POST /api/v1/ingest HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {a}\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    for _ in 0..20 {
        chunked.push_str(&format!("10000\r\n{}\r\n", " ".repeat(0x10000)));
    }
    let answer = raw(i.port, chunked.as_bytes(), Duration::from_secs(5));
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    let (s, b) = i.get(&format!("/api/v1/events?q={}", "x".repeat(9000)), a);
    assert_error(s, &b, 414, "uri_too_long");
    let (s, b) = i.get("/api/v1/ingest", a);
    assert_error(s, &b, 405, "method_not_allowed");
    let (s, b) = i.call("DELETE", "/api/v1/events", Some(a), &[], None);
    assert_error(s, &b, 405, "method_not_allowed");
    let (s, b) = i.call(
        "POST",
        "/api/v1/ingest",
        Some(a),
        &[("Content-Encoding", "br")],
        Some(b"{}"),
    );
    assert_error(s, &b, 415, "unsupported_encoding");
    let (s, b) = i.get("/api/v1/events?limit=abc", a);
    assert_error(s, &b, 400, "bad_parameter");
    let (s, b) = i.get("/api/v1/events/histogram?interval=-1", a);
    assert_error(s, &b, 400, "bad_parameter");
    let (s, b) = i.get("/api/v1/events?q=EventID:%5Ba%20TO%205%5D", a);
    assert_error(s, &b, 400, "bad_query");
    let (s, b) = i.get("/api/v1/events?q=source.ip:999.1.1.1/99", a);
    assert_error(s, &b, 400, "bad_query");
    let (s, b) = i.get("/api/v1/alerts?level=hgih", a);
    assert_error(s, &b, 400, "bad_parameter");
    assert!(b.contains("hgih"), "{b}");
    let (s, b) = i.get("/api/v1/nothing-here", a);
    assert_error(s, &b, 404, "not_found");
    let (s, b) = i.get("/api/v1/events", "vgi_unknown");
    assert_error(s, &b, 401, "unauthorized");
    // The bearer scheme is case-insensitive (RFC 9110 §11.1).
    let reader = i.as_reader(a);
    let (s, b) = i.call(
        "GET",
        "/api/v1/events?q=*",
        None,
        &[("Authorization", &format!("bearer {reader}"))],
        None,
    );
    assert_eq!(s, 200, "{b}");
    let (s, b) = i.call(
        "GET",
        "/api/v1/events?q=*",
        None,
        &[("Authorization", &format!("BEARER  {reader}"))],
        None,
    );
    assert_eq!(s, 200, "{b}");
    // An ingest token does not read.
    let (s, b) = i.call("GET", "/api/v1/events?q=*", Some(a), &[], None);
    assert_error(s, &b, 403, "forbidden");
    let (s, b) = i.call("GET", "/api/v1/ready", None, &[], None);
    assert_eq!((s, b.as_str()), (200, "{\"status\":\"ready\"}"));
    let (s, b) = i.get("/api/v1/ready", &i.operator());
    assert_eq!(s, 200);
    assert!(json(&b)["journal"]["lag_bytes"].is_u64(), "{b}");

    // A stranger announcing a large body is refused before the server reads it.
    let answer = raw(
        i.port,
        b"POST /api/v1/ingest HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer nobody\r\nContent-Length: 900000\r\n\r\n",
        Duration::from_secs(5),
    );
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    // A known tenant whose body never comes: 408 after the body timeout.
    let started = std::time::Instant::now();
    let answer = raw(
        i.port,
        format!("POST /api/v1/ingest HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {a}\r\nContent-Length: 100\r\n\r\n{{\"a\":").as_bytes(),
        Duration::from_secs(10),
    );
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("body_timeout"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(5));
    finish(&i, server);
}

/// A tenant naming a new `source` in every request spends its own series budget.
#[test]
fn sources_per_tenant_are_bounded() {
    let i = Instance::new(&["a", "b"], "[limits.tenant.a]\nmax_sources = 3\n");
    let server = i.start(None, "serve");
    let send = |tenant: &str, source: &str| {
        i.call(
            "POST",
            &format!("/api/v1/ingest?source={source}"),
            Some(&i.tokens[tenant]),
            &[],
            Some(b"{}\n"),
        )
    };
    for source in ["s0", "s1", "s2", "s1"] {
        let (s, b) = send("a", source);
        assert_eq!(s, 200, "{b}");
    }
    let (s, b) = send("a", "s4");
    assert_error(s, &b, 422, "source_quota");
    let (s, b) = send("b", "s4");
    assert_eq!(s, 200, "{b}");
    finish(&i, server);
}

/// A batch retried with the same `Idempotency-Key` is stored once: when its first attempt
/// was answered (the answer comes back, marked replayed), and when it was made durable but
/// never answered (the server died between the journal and the answer).
#[test]
fn retries_with_an_idempotency_key_are_stored_once() {
    let i = Instance::new(&["a", "b"], "");
    // The first attempt of batch K: its key recorded, its record journaled, no answer —
    // what a server killed between the fsync and the answer leaves.
    let t0 = vigie_event::Timestamp::now();
    let body = "{\"idem\":1}\n{\"idem\":2}\n{\"idem\":3}\n";
    {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let state = vigie_state::State::open(&i.data_dir().join(vigie_state::DATABASE_FILE))
                .await
                .expect("state");
            let a = vigie_event::TenantId::new("a").expect("tenant");
            let begun = state
                .idempotency_begin(&a, "batch-K", t0, 10)
                .await
                .expect("begin");
            assert_eq!(begun, vigie_state::Idempotent::Process(t0));
            state.close().await;
        });
        let batch = support::batch("a", "batch-K", t0, body.lines().map(str::to_owned));
        support::write_journal(&i.data_dir(), &[batch.encode()]);
    }
    let mut server = i.start(None, "serve");
    let a = &i.tokens["a"];
    i.wait_count(a, "idem:*", 3, Duration::from_secs(30));
    let key = [("Idempotency-Key", "batch-K")];
    // The client retries: processed again, stored once.
    let (s, headers, first) = i.exchange(
        "POST",
        "/api/v1/ingest",
        Some(a),
        &key,
        Some(body.as_bytes()),
    );
    assert_eq!(s, 200, "{first}");
    assert!(!headers.iter().any(|(k, _)| k == "idempotency-replayed"));
    assert_eq!(json(&first)["accepted"], 3);
    // And again: the recorded answer, nothing journaled.
    let (s, headers, again) = i.exchange(
        "POST",
        "/api/v1/ingest",
        Some(a),
        &key,
        Some(body.as_bytes()),
    );
    assert_eq!(s, 200, "{again}");
    assert_eq!(again, first);
    assert!(
        headers
            .iter()
            .any(|(k, v)| k == "idempotency-replayed" && v == "true")
    );
    // A new batch with its own key, sent twice while the server runs.
    let key2 = [("Idempotency-Key", "batch-L")];
    for _ in 0..2 {
        let (s, b) = i.call(
            "POST",
            "/api/v1/ingest",
            Some(a),
            &key2,
            Some(b"{\"idem\":4}\n"),
        );
        assert_eq!(s, 200, "{b}");
    }
    // B's probe passes through the pipeline after all of A's: A's count is final then.
    i.probe("b", B_BOUND);
    i.wait_count(a, "idem:*", 4, Duration::from_secs(30));
    // Another tenant's same key is its own batch.
    let (s, b) = i.call(
        "POST",
        "/api/v1/ingest",
        Some(&i.tokens["b"]),
        &key,
        Some(b"{\"idem\":9}\n"),
    );
    assert_eq!((s, json(&b)["accepted"].as_u64()), (200, Some(1)));
    let (s, b) = i.call(
        "POST",
        "/api/v1/ingest",
        Some(a),
        &[("Idempotency-Key", "bad key")],
        Some(b"{}\n"),
    );
    assert_error(s, &b, 400, "bad_idempotency_key");
    server.assert_memory_under(RSS_BOUND);
    server.stop();
    let server = i.start(None, "serve-again");
    i.probe("b", B_BOUND);
    assert_eq!(i.count(a, "idem:*"), 4);
    server.stop();
}

/// Connections are bounded per listener, and a client that opens a connection and trickles
/// (or never sends) its headers is cut off after the header timeout, freeing its slot: four
/// such clients holding every slot delay a fifth one's request, never block it.
#[test]
fn idle_connections_are_cut_off_and_bounded() {
    let i = Instance::new(
        &["a", "b"],
        "[http]\nmax_connections = 4\nheader_timeout_ms = 1500\n",
    );
    let server = i.start(None, "serve");
    let idle: Vec<std::net::TcpStream> = (0..4)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(("127.0.0.1", i.port)).expect("connect");
            s.write_all(b"GET /api/v1/health HTTP/1.1\r\nHo")
                .expect("write");
            s
        })
        .collect();
    // The fifth connection waits for a slot, then is served.
    let answer = raw(
        i.port,
        b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Duration::from_secs(20),
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
    // The idle ones were closed by the server.
    for mut s in idle {
        s.set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        let mut rest = Vec::new();
        let read = std::io::Read::read_to_end(&mut s, &mut rest);
        assert!(read.is_ok(), "an idle connection stayed open: {read:?}");
    }
    finish(&i, server);
}

/// syslog over TCP: a BSD line without `<PRI>` that starts with digits stays one event (the
/// connection's framing is decided once, by its first byte), and a connection whose octet
/// count is bogus ends there, counted, without swallowing another connection's messages.
#[test]
fn syslog_lines_starting_with_digits_are_lines_and_bogus_counts_end_their_stream() {
    let port = support::free_port();
    let i = Instance::new(
        &["a", "b"],
        &format!(
            "[[syslog]]\nname = \"a-tcp\"\nprotocol = \"tcp\"\nlisten = \"127.0.0.1:{port}\"\ntenant = \"a\"\n"
        ),
    );
    let server = i.start(Some(MEMORY), "serve");
    let a = &i.tokens["a"];
    let mut lines = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    lines
        .write_all(b"<13>Dec  7 09:00:00 host app: first lf line\n2026-12-07 09:00:01 host app: digitsfirst one\n12345 host app: digitsfirst two\n")
        .expect("write");
    let mut counted = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let m = "<13>Dec  7 09:00:02 host app: countedcanary";
    write!(counted, "{} {m}", m.len()).expect("write");
    counted.write_all(b"99999999999 junk\n").expect("write");
    let _ = counted.write_all(b"20 <13>never framed!");
    drop(counted);
    drop(lines);
    i.wait_count(a, "digitsfirst", 2, Duration::from_secs(30));
    i.wait_count(a, "countedcanary", 1, Duration::from_secs(30));
    assert_eq!(i.count(a, "%22first%20lf%20line%22"), 1);
    assert_eq!(i.count(a, "junk"), 0);
    let (_, metrics) = i.get("/metrics", &i.operator());
    assert!(
        metrics.contains(
            "vigie_dropped_messages_total{tenant=\"a\",source=\"a-tcp\",reason=\"framing\"} 1"
        ),
        "{metrics}"
    );
    finish(&i, server);
}

/// A tenant firing many expensive searches at once gets 429 past its query slots, and the
/// others' searches still run.
#[test]
fn concurrent_queries_are_bounded_per_tenant() {
    let i = Instance::new(
        &["a", "b"],
        "[limits.tenant.a]\nmax_concurrent_queries = 2\n",
    );
    let server = i.start(Some(MEMORY), "serve");
    let a = i.tokens["a"].clone();
    let body: String = (0..20_000)
        .map(|n| format!("{{\"CommandLine\":\"cmd.exe /c task-{n} --verbose\",\"n\":{n}}}\n"))
        .collect();
    let (s, b) = i.ingest(&a, body.as_bytes());
    assert_eq!(s, 200, "{b}");
    i.wait_count(&a, "n:*", 20_000, Duration::from_secs(60));
    let reader = i.as_reader(&a);
    type Answer = (u16, Vec<(String, String)>, String);
    let answers: Vec<Answer> = std::thread::scope(|scope| {
        let senders: Vec<_> = (0..12)
            .map(|k| {
                let (i, reader) = (&i, &reader);
                scope.spawn(move || {
                    let path = format!("/api/v1/events?q=CommandLine:*task-{k}*&limit=1");
                    i.exchange("GET", &path, Some(reader), &[], None)
                })
            })
            .collect();
        senders
            .into_iter()
            .map(|h| h.join().expect("sender"))
            .collect()
    });
    let refused = answers.iter().filter(|(s, _, _)| *s == 429).count();
    for (s, headers, b) in &answers {
        if *s == 429 {
            assert_error(*s, b, 429, "query_quota");
            assert!(
                headers.iter().any(|(k, v)| k == "retry-after" && v == "1"),
                "{headers:?}"
            );
        } else {
            assert_eq!(*s, 200, "{b}");
        }
    }
    eprintln!("{refused} of 12 concurrent searches refused");
    assert!(
        refused > 0,
        "12 slow searches at once never met the limit of 2"
    );
    finish(&i, server);
}
