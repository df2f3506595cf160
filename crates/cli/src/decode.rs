//! `vigie decode`: files in, events out (NDJSON on stdout), errors on stderr with the file,
//! the line or record, the byte offset and what was expected.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use bytes::Bytes;
use clap::{Args, ValueEnum};
use vigie_event::decode::json::JsonSplitter;
use vigie_event::{Decoder, Event, EventError, Origin, Source, SourceKind, TenantId};

use vigie_event::render;

#[derive(Debug, Args)]
pub(crate) struct DecodeArgs {
    /// Input format; `auto` picks by file extension (.evtx, .json/.jsonl/.ndjson) and, for
    /// text, by the look of each line (CEF:, LEEF:, JSON object, else syslog).
    #[arg(long, value_enum, default_value_t = InputFormat::Auto)]
    format: InputFormat,
    /// Tenant the events are decoded for.
    #[arg(long, default_value = "default")]
    tenant: String,
    /// Print only a per-file summary (events, errors, logsources), not the events.
    #[arg(long)]
    summary: bool,
    /// Files to decode.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum InputFormat {
    Auto,
    Evtx,
    Json,
    Syslog,
    Cef,
    Leef,
}

/// What decoding one file (or part of one) produced.
#[derive(Debug, Default)]
pub(crate) struct FileReport {
    pub(crate) events: Vec<Event>,
    /// Each error with the file and the position.
    pub(crate) errors: Vec<String>,
    /// The file is not in its format at all (an EVTX file without an EVTX header).
    pub(crate) unreadable: bool,
}

/// Decodes a whole EVTX file held in memory into `report`, `name` naming it in errors.
pub(crate) fn decode_evtx(
    decoder: &mut Decoder,
    name: &str,
    data: Vec<u8>,
    report: &mut FileReport,
) {
    match decoder.decode_evtx_file(data) {
        Ok(events) => {
            for (n, item) in events.enumerate() {
                match item {
                    Ok(e) => report.events.push(e),
                    Err(e) => report
                        .errors
                        .push(format!("{name}: record #{}: {e}", n + 1)),
                }
            }
        }
        Err(e) => {
            report.errors.push(format!("{name}: {e}"));
            report.unreadable = true;
        }
    }
}

/// Decodes JSON objects (NDJSON, concatenated, an array, evtx_dump renderings) into
/// `report`, `name` naming the file in errors.
pub(crate) fn decode_json(decoder: &mut Decoder, name: &str, data: Bytes, report: &mut FileReport) {
    for item in JsonSplitter::new(data) {
        match item {
            Ok((offset, slice)) => match decoder.decode_json(slice) {
                Ok(e) => report.events.push(e),
                Err(e) => report
                    .errors
                    .push(format!("{name}: object at byte {offset}: {e}")),
            },
            Err(e) => report.errors.push(format!("{name}: {e}")),
        }
    }
}

fn decode_one(
    decoder: &mut Decoder,
    format: InputFormat,
    bytes: Bytes,
) -> Result<Event, EventError> {
    match format {
        InputFormat::Json => decoder.decode_json(bytes),
        InputFormat::Cef => decoder.decode_cef(bytes),
        InputFormat::Leef => decoder.decode_leef(bytes),
        // The one choice the server makes too (`vigie_event::decode::sniff`).
        InputFormat::Auto => decoder.decode_line(bytes),
        InputFormat::Syslog | InputFormat::Evtx => decoder.decode_syslog(bytes),
    }
}

/// Decodes one file; decode errors are collected (with their position), I/O errors returned.
pub(crate) fn decode_file(
    decoder: &mut Decoder,
    path: &Path,
    format: InputFormat,
) -> Result<FileReport> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let format = match format {
        InputFormat::Auto => match ext.as_str() {
            "evtx" => InputFormat::Evtx,
            "json" | "jsonl" | "ndjson" => InputFormat::Json,
            _ => InputFormat::Auto,
        },
        other => other,
    };
    let data = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut report = FileReport::default();
    let name = path.display().to_string();
    match format {
        InputFormat::Evtx => decode_evtx(decoder, &name, data, &mut report),
        InputFormat::Json => decode_json(decoder, &name, Bytes::from(data), &mut report),
        InputFormat::Auto | InputFormat::Syslog | InputFormat::Cef | InputFormat::Leef => {
            let data = Bytes::from(data);
            let mut start = 0;
            for (n, line) in data.split(|b| *b == b'\n').enumerate() {
                let range = start..start + line.len();
                start = range.end + 1;
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                match decode_one(decoder, format, data.slice(range)) {
                    Ok(e) => report.events.push(e),
                    Err(e) => report.errors.push(format!("{name}: line {}: {e}", n + 1)),
                }
            }
        }
    }
    Ok(report)
}

pub(crate) fn run(args: &DecodeArgs) -> Result<ExitCode> {
    let tenant = TenantId::new(&args.tenant)?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut failed = false;
    for path in &args.files {
        let origin = Origin::new(
            tenant.clone(),
            Source::new(SourceKind::File, &path.display().to_string()),
        );
        let mut decoder = Decoder::new(origin);
        let report = match decode_file(&mut decoder, path, args.format) {
            Ok(r) => r,
            Err(e) => {
                #[allow(clippy::print_stderr)]
                {
                    eprintln!("vigie: {e:#}");
                }
                failed = true;
                continue;
            }
        };
        for err in &report.errors {
            #[allow(clippy::print_stderr)]
            {
                eprintln!("vigie: {err}");
            }
        }
        failed |= !report.errors.is_empty();
        if args.summary {
            let mut by_ls = std::collections::BTreeMap::<String, usize>::new();
            for e in &report.events {
                *by_ls.entry(e.logsource.to_string()).or_default() += 1;
            }
            writeln!(
                out,
                "{}: {} events, {} errors",
                path.display(),
                report.events.len(),
                report.errors.len()
            )?;
            for (ls, n) in by_ls {
                writeln!(out, "  {n:>7}  {ls}")?;
            }
        } else {
            for e in &report.events {
                serde_json::to_writer(&mut out, &render::event(e))?;
                out.write_all(b"\n")?;
            }
        }
    }
    out.flush()?;
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
