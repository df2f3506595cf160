// criterion_group! generates undocumented items; a bench may tell why it skipped.
#![allow(missing_docs, clippy::print_stderr)]

//! Loading and compiling all SigmaHQ Windows rules, and the reference interpreter over them:
//! the baseline the compiled engine (`benches/engine.rs`) is measured against (method and
//! figures in BENCHMARKS.md).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use vigie_sigma::eval::rule_matches;
use vigie_sigma::{Loaded, load_dir};

#[path = "common/corpus.rs"]
mod corpus;
use corpus::{regression_events, shared};

fn bench(c: &mut Criterion) {
    let rules_dir = shared().join("rules/windows");
    if !rules_dir.is_dir() {
        eprintln!("SKIPPED: {} is missing", rules_dir.display());
        return;
    }
    let mut group = c.benchmark_group("sigma_reference");
    group.sample_size(10);
    group.bench_function("load_windows_rules", |b| {
        b.iter(|| {
            let mut loaded = Loaded::default();
            load_dir(&rules_dir, &mut loaded).unwrap();
            black_box(loaded.rules.len())
        })
    });
    group.bench_function("load_and_compile_windows_rules", |b| {
        b.iter(|| {
            let mut loaded = Loaded::default();
            load_dir(&rules_dir, &mut loaded).unwrap();
            black_box(vigie_sigma::RuleSet::new(loaded.rules).shape())
        })
    });
    let mut loaded = Loaded::default();
    load_dir(&rules_dir, &mut loaded).unwrap();
    group.bench_function("compile_windows_rules", |b| {
        b.iter(|| black_box(vigie_sigma::RuleSet::new(loaded.rules.clone()).shape()))
    });
    let events = regression_events();
    group.throughput(Throughput::Elements(events.len() as u64));
    group.bench_function("all_windows_rules_per_event", |b| {
        b.iter(|| {
            let mut hits = 0;
            for e in &events {
                for r in &loaded.rules {
                    hits += usize::from(rule_matches(r, e));
                }
            }
            hits
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
