//! Alert writing, the pipeline's SQL hot path: the SigmaHQ Windows rules alert on about a
//! fifth of the generated events, so a commit of 40 k events writes some 8 k alerts.
//!
//! Measures `State::insert_alerts` on a database file (WAL, `synchronous = FULL`, as the
//! server opens it): batches of new alerts, and the same batch replayed (every row a
//! conflict, as after a restart from the journal checkpoint).

// criterion_group! generates undocumented items.
#![allow(missing_docs)]

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use vigie_event::{EventIdGenerator, TenantId, Timestamp};
use vigie_state::{AlertKind, DATABASE_FILE, NewAlert, State};

const BATCH: usize = 2_000;

fn batch(tenant: &TenantId, ids: &mut EventIdGenerator) -> Vec<NewAlert> {
    (0..BATCH)
        .map(|i| NewAlert {
            tenant: tenant.clone(),
            kind: AlertKind::Rule,
            rule_id: format!("5f8b3a1c-{:04}-4a8e-9c1d-2b7e6f0a{:04}", i % 97, i % 97),
            rule_title: format!("Suspicious Process Pattern {}", i % 97),
            level: ["low", "medium", "high", "critical"][i % 4].to_owned(),
            tags: vec!["attack.execution".to_owned(), "attack.t1059.001".to_owned()],
            event_id: ids.next_now(),
            event_time: Timestamp::now(),
            host: Some(format!("ws-{:03}.corp.example", i % 40)),
            user: None,
            source: None,
            matched: serde_json::json!({
                "Image": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
                "CommandLine": "powershell.exe -nop -w hidden -enc SQBFAFgA",
            }),
        })
        .collect()
}

fn insert(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let state = rt
        .block_on(State::open(&dir.path().join(DATABASE_FILE)))
        .expect("open");
    let tenant = TenantId::new("bench").expect("tenant");
    rt.block_on(state.create_tenant(&tenant)).expect("tenant");
    let mut ids = EventIdGenerator::new();

    let mut group = c.benchmark_group("alerts");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.sample_size(20);
    group.bench_function("insert_new", |b| {
        b.iter_batched(
            || batch(&tenant, &mut ids),
            |alerts| {
                let n = rt.block_on(state.insert_alerts(&alerts)).expect("insert");
                assert_eq!(n, BATCH as u64);
            },
            BatchSize::LargeInput,
        );
    });
    let replay = batch(&tenant, &mut ids);
    rt.block_on(state.insert_alerts(&replay)).expect("insert");
    group.bench_function("insert_replayed", |b| {
        b.iter(|| {
            let n = rt.block_on(state.insert_alerts(&replay)).expect("replay");
            assert_eq!(n, 0);
        });
    });
    group.finish();
}

criterion_group!(benches, insert);
criterion_main!(benches);
