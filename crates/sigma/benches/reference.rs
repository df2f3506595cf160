// criterion_group! generates undocumented items; a bench may tell why it skipped.
#![allow(missing_docs, clippy::print_stderr)]

//! Loading and compiling all SigmaHQ Windows rules, and the reference interpreter over them:
//! the baseline the compiled engine (`benches/engine.rs`) is measured against (method and
//! figures in BENCHMARKS.md).

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
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
    // What is timed is producing the rules: each routine returns them, and criterion drops
    // them after timing (freeing a compiled set is work for whichever thread releases it
    // last, not part of loading), and the compile bench clones its input outside timing.
    group.bench_function("load_windows_rules", |b| {
        b.iter_with_large_drop(|| {
            let mut loaded = Loaded::default();
            load_dir(&rules_dir, &mut loaded).unwrap();
            loaded
        })
    });
    group.bench_function("load_and_compile_windows_rules", |b| {
        b.iter_with_large_drop(|| {
            let mut loaded = Loaded::default();
            load_dir(&rules_dir, &mut loaded).unwrap();
            vigie_sigma::RuleSet::new(loaded.rules)
        })
    });
    let mut loaded = Loaded::default();
    load_dir(&rules_dir, &mut loaded).unwrap();
    group.bench_function("compile_windows_rules", |b| {
        b.iter_batched(
            || loaded.rules.clone(),
            vigie_sigma::RuleSet::new,
            BatchSize::LargeInput,
        )
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
