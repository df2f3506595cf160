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
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use vigie_event::Event;
use vigie_sigma::{Loaded, RuleMatcher, RuleSet, load_dir};

#[path = "common/corpus.rs"]
mod corpus;

use corpus::{decoder, regression_events, shared};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Candidates, matches and memo answers per event over one pass of a new matcher (the memo
/// of recent texts starts empty: replaying the same events into a warm memo would answer
/// values that are unique in the mix), then heap allocations per event over a second pass
/// (steady state: the matcher's buffers and route cache have grown).
fn report(name: &str, set: &Arc<RuleSet>, events: &[Event]) {
    let mut matcher = set.matcher();
    first_pass(&mut matcher, events);
    let stats = matcher.stats();
    let region = Region::new(GLOBAL);
    for e in events {
        matcher.for_each_match(e, |i| {
            black_box(i);
        });
    }
    let allocs = region.change();
    let n = stats.events as f64;
    eprintln!(
        "{name}: {} events; per event: {:.2} candidates, {:.3} matches, {:.2} texts scanned of which {:.0} % answered by the memo and {:.0} % by the gate; steady state: {:.3} allocations per event ({} bytes in all)",
        events.len(),
        stats.candidates as f64 / n,
        stats.matches as f64 / n,
        stats.texts as f64 / n,
        100.0 * stats.memo_hits as f64 / stats.texts.max(1) as f64,
        100.0 * stats.gated as f64 / stats.texts.max(1) as f64,
        allocs.allocations as f64 / n,
        allocs.bytes_allocated
    );
}

/// One pass of a new matcher: what BENCHMARKS.md's instruction counts measure (valgrind
/// `--toggle-collect='*first_pass*'`).
#[inline(never)]
fn first_pass(matcher: &mut RuleMatcher, events: &[Event]) {
    for e in events {
        matcher.for_each_match(e, |i| {
            black_box(i);
        });
    }
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
    let synthetic = vigie_testkit::synth::sink::events(&mut decoder(), 20_000);
    report("regression", &set, &regression);
    report("synthetic", &set, &synthetic);
    group.sample_size(20);
    for (name, events) in [("regression", &regression), ("synthetic", &synthetic)] {
        group.throughput(Throughput::Elements(events.len() as u64));
        // Each pass starts with an empty memo (see `report`); the route cache stays warm.
        let mut matcher = set.matcher();
        group.bench_function(format!("match_{name}_events"), |b| {
            b.iter(|| {
                matcher.forget_texts();
                let mut hits = 0;
                for e in events.iter() {
                    matcher.for_each_match(e, |_| hits += 1);
                }
                hits
            })
        });
    }
    // The same production mix as the pipeline sees it: each event has just been built by the
    // worker (here a clone, untimed) and is in the core's caches, where the loop above reads
    // 20,000 events from a 24 MB array, one DRAM miss after another (perf puts a third of
    // that loop's time on the first reads of each event's fields).
    group.throughput(Throughput::Elements(synthetic.len() as u64));
    let mut matcher = set.matcher();
    group.bench_function("match_synthetic_events_just_decoded", |b| {
        b.iter_custom(|iterations| {
            let mut timed = Duration::ZERO;
            let mut hits = 0u64;
            for _ in 0..iterations {
                matcher.forget_texts();
                for e in synthetic.iter() {
                    let event = e.clone();
                    let start = Instant::now();
                    matcher.for_each_match(&event, |_| hits += 1);
                    timed += start.elapsed();
                }
            }
            black_box(hits);
            timed
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
