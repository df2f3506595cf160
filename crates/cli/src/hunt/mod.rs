//! `vigie hunt`: Sigma rules over EVTX and JSON files, every core busy, a report out.
//!
//! How a run goes:
//! 1. The paths are walked into files ([`inputs::find`]) and the files cut into jobs
//!    ([`inputs::plan`]: large EVTX files into runs of chunks).
//! 2. One thread loads, filters and compiles the rules while `--threads` workers start
//!    decoding: until the rules are ready each worker keeps up to 4 MiB of input decoded
//!    ahead, so compilation (single-threaded) overlaps decoding.
//! 3. Each worker decodes a job, matches every event ([`vigie_sigma::RuleMatcher`], one per
//!    worker), writes each detection's report line into the job's buffer with a sort key,
//!    and sends the job to the main thread, which reports errors and progress and keeps the
//!    lines ([`report::Report`], spilled to a temporary file past a memory budget) or, with
//!    `--unordered`, writes them at once.
//! 4. Events of rules that correlations listen to are kept; at the end they are fed in time
//!    order to the correlation engine ([`correlate`]), whose matches join the report.
//! 5. The lines are written sorted (time, rule title, file, record) and a summary goes to
//!    stderr.
//!
//! Exit code: 0 when every input was read, 1 when a path or a file could not be read at all
//! (the run goes on with the others). Damaged records inside a file are reported and counted
//! but do not change the exit code: real evidence often has a few.

mod correlate;
mod detection;
pub(crate) mod inputs;
mod output;
mod prepare;
mod report;
mod work;

use std::collections::BTreeSet;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, mpsc};
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use rustc_hash::FxHashMap;

use crate::rules;
use detection::Detection;
use output::Format;
use prepare::{Prepared, Selection};
use report::Report;
use vigie_detect::Level;
use work::{Done, Kept, Rules};

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
    #[arg(long, value_name = "LEVEL", value_parser = level_parser())]
    min_level: Option<Level>,
    /// Run only the rule (or correlation) with this id (repeatable).
    #[arg(long = "rule", value_name = "ID")]
    rule_ids: Vec<String>,
    /// Write detections as they are found, in no particular order.
    #[arg(long)]
    unordered: bool,
    /// EVTX files, JSON/NDJSON files, or folders walked recursively.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
}

/// Everything the run counts, for the summary.
#[derive(Debug, Default)]
struct Totals {
    files: usize,
    events: usize,
    damaged: usize,
    /// Inputs that could not be read (a file cut into several jobs counts once).
    unreadable: BTreeSet<usize>,
    /// Detections by level, in [`Level`] order.
    by_level: [usize; 5],
}

impl Totals {
    fn detections(&self) -> usize {
        self.by_level.iter().sum()
    }
}

/// What the main thread does with each finished job.
struct Collector<'a> {
    args: &'a HuntArgs,
    files: &'a [String],
    jobs: &'a [inputs::Job],
    totals: Totals,
    report: Report,
    kept: Vec<Kept>,
    /// Errors seen per file (the first few are printed).
    errors: FxHashMap<usize, usize>,
    progress: indicatif::ProgressBar,
    /// Whether the header line was written (unordered mode).
    header: bool,
}

impl Collector<'_> {
    #[allow(clippy::print_stderr)]
    fn take(&mut self, done: Done, rules: Option<&Prepared>, sink: &mut dyn Write) -> Result<()> {
        let job = &self.jobs[done.job];
        self.progress.inc(job.bytes);
        self.totals.events += done.events;
        if done.unreadable {
            self.totals.unreadable.insert(job.input);
        } else {
            self.totals.damaged += done.errors.len();
        }
        let seen = self.errors.entry(job.input).or_default();
        for e in &done.errors {
            if *seen < ERRORS_SHOWN_PER_FILE {
                self.progress.suspend(|| eprintln!("vigie: {e}"));
            }
            *seen += 1;
        }
        for (total, n) in self.totals.by_level.iter_mut().zip(done.by_level) {
            *total += n;
        }
        self.progress.set_message(format!(
            "{} events, {} detections",
            self.totals.events,
            self.totals.detections()
        ));
        self.kept.extend(done.kept);
        if self.args.unordered {
            if let (false, false, Some(p)) = (self.header, done.keys.is_empty(), rules) {
                p.writer.header(sink)?;
                self.header = true;
            }
            for k in &done.keys {
                let (head, tail) = report::parts(&done.lines, k);
                sink.write_all(head)?;
                sink.write_all(tail)?;
            }
        } else {
            self.report
                .add(done.job, done.lines, &done.keys)
                .context("cannot keep the report lines")?;
        }
        Ok(())
    }

    #[allow(clippy::print_stderr)]
    fn report_hidden_errors(&self) {
        for (file, seen) in &self.errors {
            if *seen > ERRORS_SHOWN_PER_FILE {
                eprintln!(
                    "vigie: {}: {} more errors not shown",
                    self.files[*file],
                    seen - ERRORS_SHOWN_PER_FILE
                );
            }
        }
    }
}

fn progress_bar(total_bytes: u64) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total_bytes);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{elapsed:>4} [{bar:30}] {binary_bytes}/{binary_total_bytes} {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar
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
    let files: Arc<[String]> = found
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
    // A large buffer: a jsonl report of 107k events is 289 MB, and 8 KiB writes made 35,000
    // system calls of it.
    const SINK_BYTES: usize = 1 << 20;
    let mut sink: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(BufWriter::with_capacity(
            SINK_BYTES,
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => Box::new(BufWriter::with_capacity(
            SINK_BYTES,
            std::io::stdout().lock(),
        )),
    };
    let selection = Selection {
        paths: &rule_paths,
        placeholders: args.placeholders.as_deref(),
        rule_ids: &args.rule_ids,
        min_level: args.min_level,
    };
    let mut collector = Collector {
        args,
        files: &files,
        jobs: &jobs,
        totals: Totals {
            files: files.len(),
            ..Totals::default()
        },
        report: Report::default(),
        kept: Vec::new(),
        errors: FxHashMap::default(),
        progress: progress_bar(jobs.iter().map(|j| j.bytes).sum()),
        header: false,
    };
    if format == Format::Csv {
        output::csv_header(&mut sink)?;
    }
    let rules: Rules = work::Latch::new();
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<Done>();
    let prepared = std::thread::scope(|scope| -> Result<Arc<Prepared>> {
        let loader = scope.spawn(|| {
            let result = prepare::prepare(&selection, format, colour, Arc::clone(&files));
            rules.set(result.as_ref().ok().cloned());
            result
        });
        for _ in 0..threads {
            let tx = tx.clone();
            let (jobs, next, inputs, rules) = (&jobs, &next, &found.inputs, &rules);
            scope.spawn(move || work::worker(jobs, next, inputs, rules, &tx));
        }
        drop(tx);
        for done in rx {
            // A job is only sent once the rules are ready.
            let ready = rules.get().flatten();
            collector.take(done, ready.as_deref(), &mut sink)?;
        }
        loader
            .join()
            .map_err(|_| anyhow::anyhow!("the rule loader panicked"))?
    })?;
    collector.progress.finish_and_clear();
    collector.report_hidden_errors();

    // Correlations: their lines join the report as one more "job".
    let correlated = correlate::correlate(&prepared, std::mem::take(&mut collector.kept), &files);
    let (mut lines, mut keys) = (Vec::new(), Vec::new());
    for (correlation, d, event) in correlated {
        let d = &Detection {
            event: Some(&event),
            ..d
        };
        let start = lines.len();
        prepared.writer.write(&mut lines, d);
        let rank = prepared.correlation_rank[correlation];
        keys.push(work::key(
            d,
            rank,
            jobs.len(),
            keys.len(),
            start,
            lines.len(),
            0..0,
        ));
        collector.totals.by_level[d.rule.level as usize] += 1;
    }
    if args.unordered {
        if !collector.header && !keys.is_empty() {
            prepared.writer.header(&mut sink)?;
        }
        sink.write_all(&lines)?;
    } else {
        collector.report.add(jobs.len(), lines, &keys)?;
        if collector.report.len() > 0 {
            prepared.writer.header(&mut sink)?;
        }
        std::mem::take(&mut collector.report).write_sorted(&mut sink)?;
    }
    sink.flush()?;
    drop(sink);
    summary(
        &collector.totals,
        &prepared,
        args,
        start.elapsed().as_secs_f64(),
    );
    let failed = !found.errors.is_empty() || !collector.totals.unreadable.is_empty();
    // The process ends next: freeing the compiled rule set piece by piece (tens of thousands
    // of allocations, about 120 M instructions for the windows rules) would only delay the
    // exit, so the memory goes back to the system with the process instead.
    std::mem::forget(rules);
    std::mem::forget(prepared);
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

#[allow(clippy::print_stderr)]
fn summary(totals: &Totals, prepared: &Prepared, args: &HuntArgs, wall: f64) {
    let mut problems = Vec::new();
    if totals.damaged > 0 {
        problems.push(plural(totals.damaged, "damaged record"));
    }
    if !totals.unreadable.is_empty() {
        problems.push(plural(totals.unreadable.len(), "unreadable file"));
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
        "rules: {} loaded{}, {} rejected{}, {}; ready in {:.2} s",
        prepared.book.rules.len(),
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
        plural(prepared.book.correlation_rules.len(), "correlation"),
        prepared.elapsed.as_secs_f64()
    );
    let levels: Vec<String> = Level::ALL
        .iter()
        .filter(|l| totals.by_level[**l as usize] > 0)
        .map(|l| format!("{} {}", l.as_str(), totals.by_level[*l as usize]))
        .collect();
    eprintln!(
        "detections: {}{}",
        totals.detections(),
        if levels.is_empty() {
            String::new()
        } else {
            format!(" ({})", levels.join(", "))
        }
    );
}

/// `1 file`, `2 files`.
fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// `--min-level`: one of the five Sigma levels, listed in `--help` and in the error.
fn level_parser() -> impl clap::builder::TypedValueParser<Value = Level> {
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new(Level::ALL.iter().rev().map(|l| l.as_str()))
        .map(|text| Level::of(Some(&text)))
}
