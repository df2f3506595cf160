//! `vigie bench store`: ingest generated events into a store, then time its queries.
//!
//! Method: events are generated ([`crate::generate`]) and decoded with the real decoders
//! (JSON, syslog, CEF) `--commit-every` at a time, untimed; each chunk is then added to the
//! store, committed, and the writers closed (which waits for the merges the commit
//! started): that is the timed ingest, so all indexing work is inside it and nothing else
//! competes for the cores. Raw size is the NDJSON (or syslog/CEF line) bytes plus one line end
//! per event; disk is every file under the store directory after the merges.
//!
//! Each query kind then runs `--queries` times with varying parameters on a random
//! tenant; latencies are wall times of the whole call (search, fetch of the page and
//! rebuild of its events).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use bytes::Bytes;
use clap::Args;
use vigie_event::{Decoder, EventId, Origin, Source, SourceKind, TenantId, Timestamp};
use vigie_store::{Aggregation, Search, Store, StoreConfig, TimeRange, parse};

use vigie_testkit::synth::{Generator, Rng, Wire};

#[derive(Debug, Args)]
pub(crate) struct StoreArgs {
    /// Events to generate and ingest.
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// Tenants (companies) the events are spread over.
    #[arg(long, default_value_t = 4)]
    tenants: usize,
    /// Days the events span (ending now).
    #[arg(long, default_value_t = 7)]
    days: u32,
    /// Runs of each query kind.
    #[arg(long, default_value_t = 50)]
    queries: usize,
    /// Events generated, then ingested and committed, at a time.
    #[arg(long, default_value_t = 250_000)]
    commit_every: u64,
    /// Indexing memory per writer, MiB.
    #[arg(long, default_value_t = 256)]
    heap_mib: usize,
    /// zstd level of the document store.
    #[arg(long, default_value_t = 3)]
    zstd_level: i32,
    /// Block size of the document store, KiB.
    #[arg(long, default_value_t = 64)]
    block_kib: usize,
    /// Indexing threads per writer.
    #[arg(long, default_value_t = 2)]
    writer_threads: usize,
    /// Segments of about one size merged at once (the store's `merge_segments`).
    #[arg(long, default_value_t = 16)]
    merge_segments: usize,
    /// Store directory (default: a temporary directory, deleted at the end).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Print the figures as one JSON object.
    #[arg(long)]
    json: bool,
    /// Seed of the generator.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

/// What the producer keeps aside for the queries: a sample of stored events.
#[derive(Default)]
struct Samples {
    ids: Vec<(usize, EventId)>,
    /// Tenant, host and time of sampled events: a term + time range query around each.
    hosts: Vec<(usize, String, i64)>,
}

/// Events kept aside per sample.
const SAMPLE: usize = 2048;

/// Reservoir sampling: fills `sample` up to [`SAMPLE`], then replaces the item at `slot`
/// (drawn uniformly among the events seen) when it falls inside.
fn keep<T>(sample: &mut Vec<T>, slot: usize, item: impl FnOnce() -> T) {
    if sample.len() < SAMPLE {
        sample.push(item());
    } else if slot < SAMPLE {
        sample[slot] = item();
    }
}

pub(super) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

pub(crate) fn run(args: &StoreArgs) -> Result<ExitCode> {
    anyhow::ensure!(args.events > 0, "--events must be at least 1");
    anyhow::ensure!(args.tenants > 0, "--tenants must be at least 1");
    let temp;
    let dir = match &args.dir {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
            anyhow::ensure!(
                std::fs::read_dir(d)?.next().is_none(),
                "{} is not empty; give an empty or new folder",
                d.display()
            );
            d.clone()
        }
        None => {
            temp = tempfile::Builder::new()
                .prefix("vigie-bench-store-")
                .tempdir()
                .context("creating a temporary store directory")?;
            temp.path().to_owned()
        }
    };
    let config = StoreConfig {
        writer_heap_bytes: args.heap_mib << 20,
        writer_threads: args.writer_threads.max(1),
        max_open_writers: args.tenants.max(2) * 2,
        docstore_zstd_level: args.zstd_level,
        docstore_block_bytes: args.block_kib.max(4) << 10,
        merge_segments: args.merge_segments,
        ..StoreConfig::default()
    };
    let store = Store::open(&dir, config).context("opening the store")?;
    let tenants: Vec<TenantId> = (0..args.tenants)
        .map(|i| TenantId::new(&format!("tenant-{i:02}")))
        .collect::<Result<_, _>>()?;
    let span = i64::from(args.days.max(1)) * 86_400_000_000_000;
    let end = Timestamp::now().as_nanos();
    let start = end - span;

    // Generation and decoding, chunk by chunk, untimed; then the chunk's ingest, timed:
    // adds, the commit, and the wait for the merges the commit started (the writers are
    // closed), so no indexing work spills into the next untimed phase.
    let mut decoders: Vec<[Decoder; 3]> = tenants
        .iter()
        .map(|t| {
            let d = |kind, name| Decoder::new(Origin::new(t.clone(), Source::new(kind, name)));
            [
                d(SourceKind::Http, "http"),
                d(SourceKind::SyslogUdp, "syslog"),
                d(SourceKind::SyslogTcp, "firewall"),
            ]
        })
        .collect();
    let mut samples = Samples::default();
    let mut sample_rng = Rng::new(args.seed ^ 0xA5A5);
    let mut rejected = 0u64;
    let mut generator = Generator::new(args.seed, tenants.len(), args.events, start, span);
    let mut ingest_s = 0.0;
    let mut generate_s = 0.0;
    let mut merge_s = 0.0;
    let mut ingested = 0u64;
    let mut duplicates = 0u64;
    let mut raw_bytes = 0u64;
    let mut seen = 0u64;
    let chunk = args.commit_every.max(1) as usize;
    loop {
        let t0 = Instant::now();
        let mut events = Vec::with_capacity(chunk);
        for mut g in generator.by_ref().take(chunk) {
            let bytes = Bytes::from(std::mem::take(&mut g.line));
            raw_bytes += bytes.len() as u64 + 1;
            let d = &mut decoders[g.tenant];
            let decoded = match g.wire {
                Wire::Json => d[0].decode_json(bytes),
                Wire::Syslog => d[1].decode_syslog(bytes),
                Wire::Cef => d[2].decode_cef(bytes),
            };
            let Ok(event) = decoded else {
                rejected += 1;
                continue;
            };
            // Reservoir samples for the queries.
            let slot = sample_rng.below(seen + 1) as usize;
            seen += 1;
            keep(&mut samples.ids, slot, || (g.tenant, event.id));
            if let Some(h) = &event.host {
                keep(&mut samples.hosts, slot, || {
                    (g.tenant, h.to_string(), g.time)
                });
            }
            events.push(event);
        }
        generate_s += t0.elapsed().as_secs_f64();
        if events.is_empty() {
            break;
        }
        let t1 = Instant::now();
        // Handed over, as the pipeline hands its events over (no copy per event).
        let report = store.add_all(events.drain(..))?;
        store.commit()?;
        let t2 = Instant::now();
        store.close()?;
        merge_s += t2.elapsed().as_secs_f64();
        ingest_s += t1.elapsed().as_secs_f64();
        ingested += report.added;
        duplicates += report.duplicates;
        if !args.json {
            #[allow(clippy::print_stderr)]
            {
                eprintln!(
                    "  … {ingested} events ingested ({:.0}/s)",
                    ingested as f64 / ingest_s
                );
            }
        }
        drop(events);
    }
    let disk = store.disk_bytes();
    let partitions = store.partitions();
    let segments: usize = partitions.iter().map(|p| p.segments).sum();
    let partitions = partitions.len();

    // Queries.
    let mut rng = Rng::new(args.seed ^ 0x5EED);
    let hour = 3_600_000_000_000i64;
    let all = parse("*")?;
    let mut kinds: Vec<(&str, Vec<f64>, u64)> = Vec::new();
    let mut time = |name: &'static str, f: &mut dyn FnMut(&mut Rng) -> Result<u64>| -> Result<()> {
        let mut lat = Vec::with_capacity(args.queries);
        let mut hits = 0;
        for _ in 0..args.queries {
            let t0 = Instant::now();
            hits += f(&mut rng)?;
            lat.push(t0.elapsed().as_secs_f64() * 1000.0);
        }
        lat.sort_by(f64::total_cmp);
        kinds.push((name, lat, hits));
        Ok(())
    };
    let pick_tenant = |rng: &mut Rng| &tenants[rng.below(tenants.len() as u64) as usize];
    time("term_time_range", &mut |rng| {
        let (t, host, at) = &samples.hosts[rng.below(samples.hosts.len().max(1) as u64) as usize];
        let from = at - rng.below(3 * hour as u64) as i64;
        let mut s = Search::new(parse(&format!("host:{host}"))?, 100);
        s.range = TimeRange::between(
            Timestamp::from_nanos(from),
            Timestamp::from_nanos(from + 3 * hour),
        );
        Ok(store.search(&tenants[*t], &s)?.total)
    })?;
    let words = [
        "mallory",
        "powershell",
        "nxdomain",
        "sekurlsa",
        "invoice",
        "denied",
        "backup",
    ];
    time("full_text", &mut |rng| {
        let word = *rng.pick(&words);
        let s = Search::new(parse(word)?, 100);
        Ok(store.search(pick_tenant(rng), &s)?.total)
    })?;
    time("wildcard", &mut |rng| {
        let q = format!("CommandLine:*invoice-{}*", rng.below(100_000));
        let s = Search::new(parse(&q)?, 100);
        Ok(store.search(pick_tenant(rng), &s)?.total)
    })?;
    time("date_histogram", &mut |rng| {
        let r = store.aggregate(
            pick_tenant(rng),
            &all,
            TimeRange::ALL,
            &Aggregation::DateHistogram { interval: None },
        )?;
        Ok(match r {
            vigie_store::AggregationResult::DateHistogram { buckets, .. } => buckets.len() as u64,
            _ => 0,
        })
    })?;
    time("terms_top10", &mut |rng| {
        let r = store.aggregate(
            pick_tenant(rng),
            &all,
            TimeRange::ALL,
            &Aggregation::Terms {
                field: "host".into(),
                size: 10,
                then: None,
            },
        )?;
        Ok(match r {
            vigie_store::AggregationResult::Terms { buckets, .. } => buckets.len() as u64,
            _ => 0,
        })
    })?;
    time("fetch_by_id", &mut |rng| {
        let (t, id) = samples.ids[rng.below(samples.ids.len().max(1) as u64) as usize];
        Ok(u64::from(store.get(&tenants[t], id)?.is_some()))
    })?;

    let per_tenant = ingested / tenants.len() as u64;
    let ingest_rate = ingested as f64 / ingest_s;
    let bytes_per_event = disk as f64 / ingested.max(1) as f64;
    let ratio = disk as f64 / raw_bytes.max(1) as f64;
    let mut out = std::io::stdout().lock();
    if args.json {
        let mut p50 = serde_json::Map::new();
        let mut p99 = serde_json::Map::new();
        for (name, lat, _) in &kinds {
            p50.insert(
                (*name).into(),
                serde_json::json!(round3(percentile(lat, 50.0))),
            );
            p99.insert(
                (*name).into(),
                serde_json::json!(round3(percentile(lat, 99.0))),
            );
        }
        let doc = serde_json::json!({
            "events": ingested,
            "tenants": tenants.len(),
            "events_per_tenant": per_tenant,
            "rejected": rejected,
            "duplicates": duplicates,
            "ingest_seconds": round3(ingest_s),
            "generate_decode_seconds": round3(generate_s),
            "ingest_events_per_s": ingest_rate.round(),
            "merge_wait_seconds": round3(merge_s),
            "raw_ndjson_bytes": raw_bytes,
            "disk_bytes": disk,
            "bytes_per_event": round3(bytes_per_event),
            "disk_ratio_vs_ndjson": round3(ratio),
            "partitions": partitions,
            "segments": segments,
            "queries_per_kind": args.queries,
            "p50_ms": p50,
            "p99_ms": p99,
        });
        writeln!(out, "{doc}")?;
    } else {
        writeln!(
            out,
            "ingest: {ingested} events ({} tenants, {per_tenant} each, {rejected} rejected) in {ingest_s:.1} s: {ingest_rate:.0} events/s (of which waiting for merges {merge_s:.1} s; generation and decoding, untimed: {generate_s:.1} s)",
            tenants.len()
        )?;
        writeln!(
            out,
            "disk:   {:.1} MiB for {:.1} MiB of raw lines: {bytes_per_event:.0} bytes/event, {ratio:.3}× raw ({partitions} partitions, {segments} segments)",
            disk as f64 / 1_048_576.0,
            raw_bytes as f64 / 1_048_576.0
        )?;
        writeln!(
            out,
            "queries ({} runs each, one tenant of {per_tenant} events):",
            args.queries
        )?;
        if std::env::var_os("VIGIE_BENCH_SPACE").is_some() {
            for ((component, field), bytes) in store.space_by_field()? {
                writeln!(
                    out,
                    "  space {component:<10} {field:<12} {:>8.2} B/event",
                    bytes as f64 / ingested.max(1) as f64
                )?;
            }
        }
        for (name, lat, hits) in &kinds {
            writeln!(
                out,
                "  {name:<16} p50 {:>8.2} ms   p99 {:>8.2} ms   (mean result {:.0})",
                percentile(lat, 50.0),
                percentile(lat, 99.0),
                *hits as f64 / args.queries.max(1) as f64
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
