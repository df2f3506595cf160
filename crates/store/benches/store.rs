// criterion_group! generates undocumented items.
#![allow(missing_docs)]

//! The store's hot paths at a size criterion can repeat (method and the 10M-event figures of
//! `vigie bench store` in BENCHMARKS.md): ingest of decoded events (add + commit), query
//! parsing, a term + time-range search, a full-text search, a date histogram, a terms
//! top-10 and a fetch by id over 100k events of one tenant.

use std::hint::black_box;

use bytes::Bytes;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use vigie_event::{Decoder, Event, Origin, Source, SourceKind, TenantId, Timestamp};
use vigie_store::{Aggregation, Search, Store, StoreConfig, TimeRange, parse};

const HOUR: i64 = 3_600_000_000_000;
/// 2026-11-20T00:00:00Z.
const BASE: i64 = 1_795_132_800 * 1_000_000_000;

/// `n` Sysmon-like process events over two days, deterministic.
fn events(tenant: &TenantId, n: u64) -> Vec<Event> {
    let mut d = Decoder::new(Origin::new(
        tenant.clone(),
        Source::new(SourceKind::Http, "bench"),
    ));
    let images = [
        "cmd.exe",
        "powershell.exe",
        "svchost.exe",
        "chrome.exe",
        "winword.exe",
    ];
    let users = ["alice", "bob", "carol", "dave", "mallory"];
    (0..n)
        .map(|i| {
            let t = Timestamp::from_nanos(BASE + (i as i64) * (48 * HOUR / n as i64))
                .to_rfc3339(vigie_event::UtcOffset::UTC);
            let image = images[(i % 5) as usize];
            let user = users[(i * 7 % 5) as usize];
            let line = format!(
                r#"{{"@timestamp":"{t}","Computer":"ws-{:04}.corp.local","EventID":1,"Image":"C:\\Windows\\System32\\{image}","CommandLine":"{image} /c job-{i} --user {user}","User":"CORP\\{user}","ProcessId":{},"SourceIp":"10.0.{}.{}","message":"process {image} started by {user}"}}"#,
                i * 31 % 200,
                1000 + i % 50_000,
                i % 16,
                i % 250
            );
            d.decode_json(Bytes::from(line)).expect("bench events decode")
        })
        .collect()
}

fn config() -> StoreConfig {
    StoreConfig {
        writer_heap_bytes: 64 << 20,
        ..StoreConfig::default()
    }
}

fn ingest(c: &mut Criterion) {
    let tenant = TenantId::new("bench").expect("valid tenant");
    let batch = events(&tenant, 20_000);
    let mut g = c.benchmark_group("ingest");
    g.sample_size(10);
    g.throughput(Throughput::Elements(batch.len() as u64));
    g.bench_function("add+commit 20k events", |b| {
        b.iter_batched(
            || tempfile::tempdir().expect("temp dir"),
            |dir| {
                let store = Store::open(dir.path(), config()).expect("store opens");
                store.add_batch(&batch).expect("adds");
                store.close().expect("commits");
                dir
            },
            BatchSize::PerIteration,
        );
    });
    g.finish();
}

fn queries(c: &mut Criterion) {
    let tenant = TenantId::new("bench").expect("valid tenant");
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path(), config()).expect("store opens");
    let all = events(&tenant, 100_000);
    store.add_batch(&all).expect("adds");
    store.close().expect("commits");
    let id = all[54_321].id;
    drop(all);

    let mut g = c.benchmark_group("query");
    g.bench_function("parse", |b| {
        b.iter(|| {
            parse(black_box(
                "host:ws-0042 AND (CommandLine:*job-1* OR mimikatz) NOT User:svc_*",
            ))
        })
    });
    let mut term = Search::new(parse("host:ws-0042.corp.local").expect("parses"), 100);
    term.range = TimeRange::between(
        Timestamp::from_nanos(BASE + 10 * HOUR),
        Timestamp::from_nanos(BASE + 13 * HOUR),
    );
    g.bench_function("term + 3 h range", |b| {
        b.iter(|| store.search(&tenant, &term).expect("searches"))
    });
    let text = Search::new(parse("mallory").expect("parses"), 100);
    g.bench_function("full text, 100 newest", |b| {
        b.iter(|| store.search(&tenant, &text).expect("searches"))
    });
    let star = parse("*").expect("parses");
    g.bench_function("date histogram, 100k", |b| {
        b.iter(|| {
            store
                .aggregate(
                    &tenant,
                    &star,
                    TimeRange::ALL,
                    &Aggregation::DateHistogram { interval: None },
                )
                .expect("aggregates")
        })
    });
    let top = Aggregation::Terms {
        field: "User".into(),
        size: 10,
        then: None,
    };
    g.bench_function("terms top-10, 100k", |b| {
        b.iter(|| {
            store
                .aggregate(&tenant, &star, TimeRange::ALL, &top)
                .expect("aggregates")
        })
    });
    g.bench_function("fetch by id", |b| {
        b.iter(|| store.get(&tenant, black_box(id)).expect("fetches"))
    });
    g.finish();
}

criterion_group!(benches, ingest, queries);
criterion_main!(benches);
