// criterion_group! generates undocumented items; a bench may tell why it skipped and print
// the figures criterion does not measure (candidates and allocations per event).
#![allow(missing_docs, clippy::print_stderr)]

//! The compiled engine over all SigmaHQ Windows rules (method and figures in BENCHMARKS.md):
//! matching the regression samples (dense, mostly malicious events: the worst case) and a
//! synthetic production mix (mostly benign), with the heap allocations per event counted by
//! an instrumented allocator (which is why loading and compiling are measured in
//! `benches/reference.rs`, under the plain allocator).

use std::alloc::System;
use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use vigie_event::Event;
use vigie_sigma::{Loaded, RuleSet, load_dir};

#[path = "common/corpus.rs"]
mod corpus;
#[path = "common/synthetic.rs"]
mod synthetic;

use corpus::{decoder, regression_events, shared};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Candidates, matches and heap allocations per event over one pass (after a warm-up pass,
/// so that the matcher's buffers and route cache have grown).
fn report(name: &str, set: &Arc<RuleSet>, events: &[Event]) {
    let mut matcher = set.matcher();
    for e in events {
        matcher.for_each_match(e, |_| {});
    }
    let before = matcher.stats();
    let region = Region::new(GLOBAL);
    for e in events {
        matcher.for_each_match(e, |i| {
            black_box(i);
        });
    }
    let allocs = region.change();
    let after = matcher.stats();
    let n = (after.events - before.events) as f64;
    eprintln!(
        "{name}: {} events; per event: {:.2} candidates, {:.3} matches, {:.3} allocations ({} bytes in all)",
        events.len(),
        (after.candidates - before.candidates) as f64 / n,
        (after.matches - before.matches) as f64 / n,
        allocs.allocations as f64 / n,
        allocs.bytes_allocated
    );
}

fn bench(c: &mut Criterion) {
    let rules_dir = shared().join("rules/windows");
    if !rules_dir.is_dir() {
        eprintln!("SKIPPED: {} is missing", rules_dir.display());
        return;
    }
    let mut group = c.benchmark_group("sigma_engine");
    group.sample_size(10);
    let mut loaded = Loaded::default();
    load_dir(&rules_dir, &mut loaded).unwrap();
    let region = Region::new(GLOBAL);
    let set = Arc::new(RuleSet::new(loaded.rules.clone()));
    let heap = region.change();
    eprintln!(
        "{:?}; compiling allocated {} MiB net",
        set.shape(),
        (heap.bytes_allocated as isize - heap.bytes_deallocated as isize) / (1 << 20)
    );

    let regression = regression_events();
    let synthetic = synthetic::events(&mut decoder(), 20_000);
    report("regression", &set, &regression);
    report("synthetic", &set, &synthetic);
    group.sample_size(20);
    for (name, events) in [("regression", &regression), ("synthetic", &synthetic)] {
        let mut matcher = set.matcher();
        group.throughput(Throughput::Elements(events.len() as u64));
        group.bench_function(format!("match_{name}_events"), |b| {
            b.iter(|| {
                let mut hits = 0;
                for e in events.iter() {
                    matcher.for_each_match(e, |_| hits += 1);
                }
                hits
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
