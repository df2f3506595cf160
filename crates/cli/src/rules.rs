//! `vigie rules …`: the Sigma rule tools.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use vigie_sigma::{Loaded, load_dir, parse_rules};

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
    /// Rule files or folders (walked recursively for .yml/.yaml).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
}

pub(crate) fn run(args: &RulesArgs) -> Result<ExitCode> {
    match &args.command {
        RulesCommand::Lint(lint) => run_lint(lint),
    }
}

fn run_lint(args: &LintArgs) -> Result<ExitCode> {
    let mut loaded = Loaded::default();
    for path in &args.paths {
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
    let total = loaded.rules.len() + loaded.rejected.len();
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
            "rules": total, "loaded": loaded.rules.len(), "rejected": loaded.rejected.len(),
        });
        writeln!(out, "{summary}")?;
    } else {
        writeln!(
            out,
            "{total} rules: {} loaded, {} rejected",
            loaded.rules.len(),
            loaded.rejected.len()
        )?;
    }
    Ok(if loaded.rejected.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
