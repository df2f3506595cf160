//! `vigie hunt`: Sigma rules over EVTX and JSON files, every core busy, a report out.
//!
//! How a run goes:
//! 1. The paths are walked into files ([`inputs::find`]) and the files cut into jobs
//!    ([`inputs::plan`]: large EVTX files into runs of chunks).
//! 2. One thread loads, filters and compiles the rules while `--threads` workers start
//!    decoding: until the rules are ready each worker keeps up to [`PREDECODE_BYTES`] of
//!    decoded input, so compilation (single-threaded) overlaps decoding.
//! 3. Each worker decodes a job, matches every event ([`vigie_sigma::RuleMatcher`], one per
//!    worker) and sends the job's detections to the main thread, which reports errors and
//!    progress and, with `--unordered`, writes detections as they come.
//! 4. Events of rules that correlations listen to are kept; at the end they are fed in time
//!    order to the correlation engine, whose matches join the detections.
//! 5. Detections are sorted ([`detection::report_order`]: time, rule, file, record), written,
//!    and a summary goes to stderr.
//!
//! Exit code: 0 when every input was read, 1 when a path or a file could not be read at all
//! (the run goes on with the others). Damaged records inside a file are reported and counted
//! but do not change the exit code: real evidence often has a few.

mod detection;
mod inputs;
mod output;

use std::collections::BTreeMap;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bytes::Bytes;
use clap::Args;
use rustc_hash::FxHashMap;
use serde_json::Value as Json;
use vigie_event::decode::json::JsonSplitter;
use vigie_event::time::Timestamp;
use vigie_event::{Decoder, Event, Origin as EventOrigin, Source, SourceKind, TenantId};
use vigie_sigma::{CorrelationEngine, CorrelationMatch, CorrelationSet, Rule, RuleSet};

use crate::{render, rules};
use detection::{Detection, Level, RuleInfo};
use inputs::{Input, Job, Kind, Part};
use output::{Format, Writer};

/// Input bytes a worker decodes ahead while the rules are still compiling.
const PREDECODE_BYTES: u64 = 16 << 20;

/// Decode errors printed per file; the rest are counted.
const ERRORS_SHOWN_PER_FILE: usize = 5;

#[derive(Debug, Args)]
pub(crate) struct HuntArgs {
    /// Rule folders or files (repeatable); default ./rules.
    #[arg(long = "rules", value_name = "DIR")]
    rules: Vec<PathBuf>,
    /// YAML file of `%placeholder%` values for rules using `|expand`.
    #[arg(long, value_name = "FILE")]
    placeholders: Option<PathBuf>,
    /// Report format; default `table` on a terminal, `jsonl` otherwise.
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Write the report to FILE instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Worker threads; default one per core.
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Report only detections at this level or above.
    #[arg(long, value_enum, value_name = "LEVEL")]
    min_level: Option<Level>,
    /// Run only the rule (or correlation) with this id (repeatable).
    #[arg(long = "rule", value_name = "ID")]
    rule_ids: Vec<String>,
    /// Write detections as they are found, in no particular order (less memory).
    #[arg(long)]
    unordered: bool,
    /// EVTX files, JSON/NDJSON files, or folders walked recursively.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
}

/// The rules, compiled and annotated for reporting.
struct Prepared {
    set: Arc<RuleSet>,
    infos: Vec<Arc<RuleInfo>>,
    /// Per rule: its detections are reported (it passes the filters and a correlation with
    /// `generate: false` does not swallow it).
    report: Vec<bool>,
    /// Per rule: a correlation listens to it.
    listened: Vec<bool>,
    correlations: Arc<CorrelationSet>,
    correlation_infos: Vec<Arc<RuleInfo>>,
    correlation_report: Vec<bool>,
    rejected: usize,
    elapsed: Duration,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("rules", &self.infos.len())
            .field("correlations", &self.correlation_infos.len())
            .finish()
    }
}

fn info(id: Option<&str>, title: &str, level: Option<&str>, tags: &[String]) -> Arc<RuleInfo> {
    Arc::new(RuleInfo {
        id: id.unwrap_or("").to_owned(),
        title: title.to_owned(),
        level: Level::of(level),
        tags: tags.to_vec(),
    })
}

/// Loads the rules, applies `--rule` and `--min-level`, compiles.
///
/// A rule that fails the filters is still compiled when a correlation listens to it (a
/// high-level correlation over low-level rules needs them), but its own detections are not
/// reported.
fn prepare(args: &HuntArgs, paths: &[PathBuf]) -> Result<Arc<Prepared>> {
    let start = Instant::now();
    let (loaded, _notes, correlations) = rules::load(paths, args.placeholders.as_deref())?;
    let min = args.min_level.unwrap_or(Level::Informational);
    for id in &args.rule_ids {
        let known = loaded.rules.iter().any(|r| r.id.as_deref() == Some(id))
            || correlations
                .correlations()
                .iter()
                .any(|c| c.id.as_deref() == Some(id));
        anyhow::ensure!(
            known,
            "--rule {id}: no rule or correlation with this id among the {} loaded",
            loaded.rules.len() + correlations.correlations().len()
        );
    }
    let wanted = |id: Option<&str>, level: Option<&str>| {
        Level::of(level) >= min
            && (args.rule_ids.is_empty()
                || id.is_some_and(|id| args.rule_ids.iter().any(|r| r == id)))
    };
    let rejected = loaded.rejected.len();
    let filtered = args.min_level.is_some() || !args.rule_ids.is_empty();
    let (rules, correlations): (Vec<Rule>, CorrelationSet) = if filtered {
        let mut kept = Vec::new();
        for (i, rule) in loaded.rules.into_iter().enumerate() {
            if wanted(rule.id.as_deref(), rule.level.as_deref()) || correlations.listens_to(i) {
                kept.push(rule);
            }
        }
        // Rule indexes changed: resolve the correlations again against the rules kept.
        let (set, diagnostics) = CorrelationSet::new(correlations.correlations().to_vec(), &kept);
        anyhow::ensure!(
            diagnostics.is_empty(),
            "correlations no longer resolve once rules are filtered: {}",
            diagnostics[0]
        );
        (kept, set)
    } else {
        (loaded.rules, correlations)
    };
    let infos: Vec<_> = rules
        .iter()
        .map(|r| info(r.id.as_deref(), &r.title, r.level.as_deref(), &r.tags))
        .collect();
    let report = rules
        .iter()
        .enumerate()
        .map(|(i, r)| wanted(r.id.as_deref(), r.level.as_deref()) && correlations.rule_emitted(i))
        .collect();
    let listened = (0..rules.len())
        .map(|i| correlations.listens_to(i))
        .collect();
    let correlation_infos = correlations
        .correlations()
        .iter()
        .map(|c| info(c.id.as_deref(), &c.title, c.level.as_deref(), &c.tags))
        .collect();
    let correlation_report = correlations
        .correlations()
        .iter()
        .map(|c| wanted(c.id.as_deref(), c.level.as_deref()))
        .collect();
    let set = Arc::new(RuleSet::new(rules));
    Ok(Arc::new(Prepared {
        set,
        infos,
        report,
        listened,
        correlations: Arc::new(correlations),
        correlation_infos,
        correlation_report,
        rejected,
        elapsed: start.elapsed(),
    }))
}

/// A value set once, awaited by many threads.
struct Latch<T> {
    value: Mutex<Option<T>>,
    ready: Condvar,
}

impl<T: Clone> Latch<T> {
    fn new() -> Latch<T> {
        Latch {
            value: Mutex::new(None),
            ready: Condvar::new(),
        }
    }

    fn set(&self, value: T) {
        let mut slot = self.value.lock().unwrap_or_else(|e| e.into_inner());
        *slot = Some(value);
        self.ready.notify_all();
    }

    fn get(&self) -> Option<T> {
        self.value.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn wait(&self) -> T {
        let mut slot = self.value.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(value) = slot.as_ref() {
                return value.clone();
            }
            slot = self.ready.wait(slot).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// What decoding one job gave.
#[derive(Debug, Default)]
struct Decoded {
    events: Vec<Event>,
    errors: Vec<String>,
    /// The file could not be read or is not in its format at all.
    unreadable: bool,
}

fn decode(decoder: &mut Decoder, input: &Input, job: &Job) -> Decoded {
    let name = input.path.display();
    let mut out = Decoded::default();
    match (input.kind, job.part) {
        (Kind::Evtx, Part::Whole) => {
            let data = match std::fs::read(&input.path) {
                Ok(data) => data,
                Err(e) => {
                    out.errors.push(format!("cannot read {name}: {e}"));
                    out.unreadable = true;
                    return out;
                }
            };
            match decoder.decode_evtx_file(data) {
                Ok(records) => {
                    for (n, item) in records.enumerate() {
                        match item {
                            Ok(e) => out.events.push(e),
                            Err(e) => out.errors.push(format!("{name}: record #{}: {e}", n + 1)),
                        }
                    }
                }
                Err(e) => {
                    out.errors.push(format!("{name}: {e}"));
                    out.unreadable = true;
                }
            }
        }
        (Kind::Evtx, Part::Chunks { first, count }) => {
            match inputs::read_chunks(&input.path, first, count) {
                Ok(data) => {
                    for item in decoder.decode_evtx_chunks(data, first) {
                        match item {
                            Ok(e) => out.events.push(e),
                            Err(e) => out.errors.push(format!("{name}: {e}")),
                        }
                    }
                }
                Err(e) => {
                    out.errors.push(format!("cannot read {name}: {e}"));
                    out.unreadable = true;
                }
            }
        }
        (Kind::Json, _) => {
            let data = match std::fs::read(&input.path) {
                Ok(data) => data,
                Err(e) => {
                    out.errors.push(format!("cannot read {name}: {e}"));
                    out.unreadable = true;
                    return out;
                }
            };
            for item in JsonSplitter::new(Bytes::from(data)) {
                match item {
                    Ok((offset, slice)) => match decoder.decode_json(slice) {
                        Ok(e) => out.events.push(e),
                        Err(e) => out
                            .errors
                            .push(format!("{name}: object at byte {offset}: {e}")),
                    },
                    Err(e) => out.errors.push(format!("{name}: {e}")),
                }
            }
        }
    }
    out
}

/// An event kept for the correlation pass, with the file it came from.
struct Kept {
    file: usize,
    rules: Vec<usize>,
    event: Event,
}

/// What a worker sends back for one job.
struct Done {
    job: usize,
    events: usize,
    detections: Vec<Detection>,
    kept: Vec<Kept>,
    errors: Vec<String>,
    unreadable: bool,
}

fn match_job(
    p: &Prepared,
    matcher: &mut vigie_sigma::RuleMatcher,
    job: usize,
    file: usize,
    decoded: Decoded,
    shows_events: bool,
) -> Done {
    let mut done = Done {
        job,
        events: decoded.events.len(),
        detections: Vec::new(),
        kept: Vec::new(),
        errors: decoded.errors,
        unreadable: decoded.unreadable,
    };
    let mut hits = Vec::new();
    for event in decoded.events {
        hits.clear();
        matcher.for_each_match(&event, |i| hits.push(i));
        if hits.is_empty() {
            continue;
        }
        let mut event_json = None;
        for &i in &hits {
            if !p.report[i] {
                continue;
            }
            let json = shows_events.then(|| {
                Arc::clone(event_json.get_or_insert_with(|| detection::fields_json(&event)))
            });
            let matched = p
                .set
                .matched_fields(i, &event)
                .into_iter()
                .map(|(k, v)| (k, render::value(v)))
                .collect();
            done.detections.push(Detection::of_event(
                Arc::clone(&p.infos[i]),
                &event,
                file,
                matched,
                json,
            ));
        }
        let listened: Vec<usize> = hits.iter().copied().filter(|&i| p.listened[i]).collect();
        if !listened.is_empty() {
            done.kept.push(Kept {
                file,
                rules: listened,
                event,
            });
        }
    }
    done
}

/// One worker: takes jobs until none are left.
fn worker(
    jobs: &[Job],
    next: &AtomicUsize,
    inputs: &[Input],
    rules: &Latch<Option<Arc<Prepared>>>,
    shows_events: bool,
    results: &mpsc::Sender<Done>,
) {
    let origin = EventOrigin::new(
        TenantId::new("hunt").expect("a valid tenant name"),
        Source::new(SourceKind::File, "hunt"),
    );
    let mut decoder = Decoder::new(origin);
    let mut matcher = None;
    let mut ahead: Vec<(usize, Decoded)> = Vec::new();
    let mut ahead_bytes = 0u64;
    loop {
        let prepared = match rules.get() {
            Some(p) => Some(p),
            None if ahead_bytes >= PREDECODE_BYTES => Some(rules.wait()),
            None => None,
        };
        if let Some(prepared) = prepared {
            let Some(p) = prepared else {
                return; // the rules failed to load: the main thread reports it
            };
            let m = matcher.get_or_insert_with(|| p.set.matcher());
            for (job, decoded) in ahead.drain(..) {
                let file = jobs[job].input;
                if results
                    .send(match_job(&p, m, job, file, decoded, shows_events))
                    .is_err()
                {
                    return;
                }
            }
        }
        let index = next.fetch_add(1, Ordering::Relaxed);
        let Some(job) = jobs.get(index) else {
            break;
        };
        let decoded = decode(&mut decoder, &inputs[job.input], job);
        ahead_bytes += job.bytes;
        ahead.push((index, decoded));
    }
    if ahead.is_empty() {
        return;
    }
    let Some(p) = rules.wait() else {
        return;
    };
    let m = matcher.get_or_insert_with(|| p.set.matcher());
    for (job, decoded) in ahead {
        let file = jobs[job].input;
        if results
            .send(match_job(&p, m, job, file, decoded, shows_events))
            .is_err()
        {
            return;
        }
    }
}

/// Feeds the kept events, in time order, to the correlation engine; returns its matches
/// as detections.
fn correlate(p: &Prepared, mut kept: Vec<Kept>, files: &[String]) -> Vec<Detection> {
    if kept.is_empty() {
        return Vec::new();
    }
    kept.sort_by(|a, b| {
        a.event
            .time
            .cmp(&b.event.time)
            .then(a.file.cmp(&b.file))
            .then_with(|| {
                detection::json(&a.event, "EventRecordID")
                    .as_u64()
                    .cmp(&detection::json(&b.event, "EventRecordID").as_u64())
            })
    });
    let mut engine = CorrelationEngine::new(Arc::clone(&p.correlations), Default::default());
    let mut found: Vec<CorrelationMatch> = Vec::new();
    let mut names: FxHashMap<vigie_event::EventId, String> = FxHashMap::default();
    for k in &kept {
        let record = detection::json(&k.event, "EventRecordID");
        let name = match record {
            Json::Null => files[k.file].clone(),
            record => format!("{}#{record}", files[k.file]),
        };
        names.insert(k.event.id, name);
        for &rule in &k.rules {
            engine.on_rule_match(rule, &k.event, &mut found);
        }
    }
    engine.advance(Timestamp::from_nanos(i64::MAX), &mut found);
    found
        .into_iter()
        .filter(|m| p.correlation_report[m.correlation])
        .map(|m| {
            let mut matched: Vec<(String, Json)> = m
                .group
                .iter()
                .map(|(k, v)| (k.clone(), Json::String(v.clone())))
                .collect();
            // Counts are whole numbers: shown as such, not as `3.0`.
            let value = if m.value.fract() == 0.0 && m.value.abs() < 9e15 {
                Json::from(m.value as i64)
            } else {
                serde_json::Number::from_f64(m.value).map_or(Json::Null, Json::Number)
            };
            matched.push(("value".to_owned(), value));
            let events: Vec<Json> = m
                .events
                .iter()
                .map(|id| Json::String(names.get(id).cloned().unwrap_or_else(|| id.to_string())))
                .collect();
            let event = serde_json::json!({
                "first": detection::utc(m.first),
                "last": detection::utc(m.last),
                "events": events,
            });
            Detection {
                rule: Arc::clone(&p.correlation_infos[m.correlation]),
                time: m.last,
                computer: None,
                channel: None,
                event_id: Json::Null,
                record_id: Json::Null,
                file: None,
                matched,
                event: Some(Arc::from(event.to_string())),
            }
        })
        .collect()
}

/// Everything the run counts, for the summary.
#[derive(Debug, Default)]
struct Totals {
    files: usize,
    events: usize,
    damaged: usize,
    unreadable: usize,
    by_level: BTreeMap<Level, usize>,
    detections: usize,
}

#[allow(clippy::print_stderr)]
pub(crate) fn run(args: &HuntArgs) -> Result<ExitCode> {
    let start = Instant::now();
    let rule_paths = rules::rule_paths(&args.rules)?;
    let found = inputs::find(&args.paths);
    for e in &found.errors {
        eprintln!("vigie: {e}");
    }
    if !found.skipped.is_empty() {
        let list: Vec<String> = found
            .skipped
            .iter()
            .map(|(ext, n)| format!("{ext} {n}"))
            .collect();
        eprintln!(
            "vigie: skipped {} in folders (not .evtx, .json, .jsonl or .ndjson): {}",
            plural(found.skipped_count(), "file"),
            list.join(", ")
        );
    }
    let files: Vec<String> = found
        .inputs
        .iter()
        .map(|i| i.path.display().to_string())
        .collect();
    let jobs = inputs::plan(&found.inputs);
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
        .max(1);
    let to_terminal = args.output.is_none() && std::io::stdout().is_terminal();
    let format = args.format.unwrap_or(if to_terminal {
        Format::Table
    } else {
        Format::Jsonl
    });
    let colour = to_terminal && std::env::var_os("NO_COLOR").is_none();
    let mut sink: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    };
    let total_bytes: u64 = jobs.iter().map(|j| j.bytes).sum();
    let progress = if std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(total_bytes);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{elapsed:>4} [{bar:30}] {binary_bytes}/{binary_total_bytes} {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };

    let latch: Latch<Option<Arc<Prepared>>> = Latch::new();
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<Done>();
    let mut totals = Totals {
        files: files.len(),
        ..Totals::default()
    };
    let mut detections: Vec<Detection> = Vec::new();
    let mut done: Vec<Done> = Vec::new();
    let mut kept: Vec<Kept> = Vec::new();
    let mut shown_errors: FxHashMap<usize, usize> = FxHashMap::default();
    let mut unreadable_files = 0usize;
    let writer_files = files.clone();
    let mut streaming: Option<Writer> = None;
    let prepared = std::thread::scope(|scope| -> Result<Arc<Prepared>> {
        let loader = scope.spawn(|| {
            let result = prepare(args, &rule_paths);
            latch.set(result.as_ref().ok().cloned());
            result
        });
        for _ in 0..threads {
            let tx = tx.clone();
            let (jobs, next, inputs, latch) = (&jobs, &next, &found.inputs, &latch);
            scope.spawn(move || worker(jobs, next, inputs, latch, format.shows_events(), &tx));
        }
        drop(tx);
        for result in rx {
            let file = jobs[result.job].input;
            progress.inc(jobs[result.job].bytes);
            totals.events += result.events;
            if result.unreadable {
                unreadable_files += 1;
            } else {
                totals.damaged += result.errors.len();
            }
            let shown = shown_errors.entry(file).or_default();
            for e in &result.errors {
                if *shown < ERRORS_SHOWN_PER_FILE {
                    progress.suspend(|| eprintln!("vigie: {e}"));
                }
                *shown += 1;
            }
            progress.set_message(format!("{} events", totals.events));
            if args.unordered {
                let writer = streaming
                    .get_or_insert_with(|| Writer::new(format, colour, writer_files.clone(), &[]));
                if totals.detections == 0 && !result.detections.is_empty() {
                    writer.header(&mut sink)?;
                }
                for d in &result.detections {
                    writer.write(&mut sink, d)?;
                    *totals.by_level.entry(d.rule.level).or_default() += 1;
                }
                totals.detections += result.detections.len();
                kept.extend(result.kept);
            } else {
                done.push(result);
            }
        }
        loader
            .join()
            .map_err(|_| anyhow::anyhow!("the rule loader panicked"))?
    })?;
    progress.finish_and_clear();
    for (file, shown) in &shown_errors {
        if *shown > ERRORS_SHOWN_PER_FILE {
            eprintln!(
                "vigie: {}: {} more errors not shown",
                files[*file],
                shown - ERRORS_SHOWN_PER_FILE
            );
        }
    }
    totals.unreadable = unreadable_files;

    // Jobs in input order, so that equal detections keep the order their file gave.
    done.sort_by_key(|d| {
        (
            jobs[d.job].input,
            match jobs[d.job].part {
                Part::Whole => 0,
                Part::Chunks { first, .. } => first,
            },
        )
    });
    for d in done {
        detections.extend(d.detections);
        kept.extend(d.kept);
    }
    let correlated = correlate(&prepared, kept, &files);
    if args.unordered {
        let writer =
            streaming.get_or_insert_with(|| Writer::new(format, colour, files.clone(), &[]));
        if totals.detections == 0 && !correlated.is_empty() {
            writer.header(&mut sink)?;
        }
        for d in &correlated {
            writer.write(&mut sink, d)?;
            *totals.by_level.entry(d.rule.level).or_default() += 1;
        }
        totals.detections += correlated.len();
    } else {
        detections.extend(correlated);
        detections.sort_by(detection::report_order);
        let writer = Writer::new(format, colour, files.clone(), &detections);
        if !detections.is_empty() {
            writer.header(&mut sink)?;
        }
        for d in &detections {
            writer.write(&mut sink, d)?;
            *totals.by_level.entry(d.rule.level).or_default() += 1;
        }
        totals.detections = detections.len();
    }
    sink.flush()?;
    drop(sink);

    let wall = start.elapsed().as_secs_f64();
    let levels: Vec<String> = Level::ALL
        .iter()
        .filter_map(|l| {
            totals
                .by_level
                .get(l)
                .map(|n| format!("{} {n}", l.as_str()))
        })
        .collect();
    let rules_loaded = prepared.infos.len();
    let mut problems = Vec::new();
    if totals.damaged > 0 {
        problems.push(plural(totals.damaged, "damaged record"));
    }
    if totals.unreadable > 0 {
        problems.push(plural(totals.unreadable, "unreadable file"));
    }
    eprintln!(
        "hunt: {}, {}{} in {wall:.2} s ({:.0} events/s)",
        plural(totals.files, "file"),
        plural(totals.events, "event"),
        if problems.is_empty() {
            String::new()
        } else {
            format!(" ({})", problems.join(", "))
        },
        totals.events as f64 / wall.max(1e-9)
    );
    eprintln!(
        "rules: {rules_loaded} loaded{}, {} rejected{}, {}; ready in {:.2} s",
        if args.min_level.is_some() || !args.rule_ids.is_empty() {
            " (after --rule/--min-level)"
        } else {
            ""
        },
        prepared.rejected,
        if prepared.rejected > 0 {
            " (`vigie rules lint DIR` says why)"
        } else {
            ""
        },
        plural(prepared.correlation_infos.len(), "correlation"),
        prepared.elapsed.as_secs_f64()
    );
    eprintln!(
        "detections: {}{}",
        totals.detections,
        if levels.is_empty() {
            String::new()
        } else {
            format!(" ({})", levels.join(", "))
        }
    );
    let failed = !found.errors.is_empty() || totals.unreadable > 0;
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// `1 file`, `2 files`.
fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}
