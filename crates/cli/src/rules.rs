//! `vigie rules …`: the Sigma rule tools.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use vigie_sigma::{CorrelationSet, Diagnostic, Loaded, Placeholders, load_dir, parse_rules};

#[derive(Debug, Args)]
pub(crate) struct RulesArgs {
    #[command(subcommand)]
    command: RulesCommand,
}

#[derive(Debug, Subcommand)]
enum RulesCommand {
    /// Loads every rule and prints a diagnostic for each one that cannot run exactly.
    Lint(LintArgs),
}

#[derive(Debug, Args)]
struct LintArgs {
    /// Print one JSON object per diagnostic, then a summary object.
    #[arg(long)]
    json: bool,
    /// YAML file of `%placeholder%` values for rules using `|expand` (name: [values]).
    #[arg(long, value_name = "FILE")]
    placeholders: Option<PathBuf>,
    /// Rule files or folders (walked recursively for .yml/.yaml).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
}

pub(crate) fn run(args: &RulesArgs) -> Result<ExitCode> {
    match &args.command {
        RulesCommand::Lint(lint) => run_lint(lint),
    }
}

/// Loads rule files and folders (with placeholder values from `placeholders`), applies the
/// filters and resolves the correlations; their diagnostics join `rejected`.
pub(crate) fn load(
    paths: &[PathBuf],
    placeholders: Option<&std::path::Path>,
) -> Result<(Loaded, Vec<Diagnostic>, CorrelationSet)> {
    let mut loaded = Loaded::default();
    if let Some(file) = placeholders {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        loaded.placeholders =
            Placeholders::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    }
    for path in paths {
        if path.is_dir() {
            load_dir(path, &mut loaded)
                .with_context(|| format!("cannot read {}", path.display()))?;
        } else {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            parse_rules(&text, &path.display().to_string(), &mut loaded);
        }
    }
    let notes = loaded.apply_filters();
    let (correlations, diagnostics) =
        CorrelationSet::new(std::mem::take(&mut loaded.correlations), &loaded.rules);
    loaded.correlations = correlations.correlations().to_vec();
    loaded.rejected.extend(diagnostics);
    Ok((loaded, notes, correlations))
}

fn run_lint(args: &LintArgs) -> Result<ExitCode> {
    let (loaded, notes, _) = load(&args.paths, args.placeholders.as_deref())?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for note in &notes {
        if args.json {
            let line = serde_json::json!({
                "file": note.file, "line": note.line, "code": note.code.as_str(),
                "rule_id": note.rule_id, "message": note.message, "note": true,
            });
            writeln!(out, "{line}")?;
        } else {
            writeln!(out, "note: {note}")?;
        }
    }
    let total = loaded.rules.len() + loaded.correlations.len() + loaded.rejected.len();
    let loaded_count = loaded.rules.len() + loaded.correlations.len();
    for d in &loaded.rejected {
        if args.json {
            let line = serde_json::json!({
                "file": d.file, "line": d.line, "code": d.code.as_str(),
                "rule_id": d.rule_id, "message": d.message,
            });
            writeln!(out, "{line}")?;
        } else {
            writeln!(out, "{d}")?;
        }
    }
    if args.json {
        let summary = serde_json::json!({
            "rules": total, "loaded": loaded_count, "rejected": loaded.rejected.len(),
            "correlations": loaded.correlations.len(),
        });
        writeln!(out, "{summary}")?;
    } else {
        writeln!(
            out,
            "{total} rules: {loaded_count} loaded, {} rejected",
            loaded.rejected.len()
        )?;
    }
    Ok(if loaded.rejected.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
