//! `vigie rules …`: the Sigma rule tools.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use vigie_sigma::{CorrelationSet, Diagnostic, Loaded};

#[derive(Debug, Args)]
pub(crate) struct RulesArgs {
    #[command(subcommand)]
    command: RulesCommand,
}

#[derive(Debug, Subcommand)]
enum RulesCommand {
    /// Loads every rule and prints a diagnostic for each one that cannot run exactly.
    Lint(LintArgs),
    /// Runs SigmaHQ-format regression tests: each info.yml names a rule id and EVTX samples
    /// the rule must fire on (at least match_count times).
    Test(TestArgs),
}

#[derive(Debug, Args)]
struct TestArgs {
    /// Rule folders or files (repeatable); default ./rules.
    #[arg(long = "rules", value_name = "DIR")]
    rules: Vec<PathBuf>,
    /// YAML file of `%placeholder%` values for rules using `|expand`.
    #[arg(long, value_name = "FILE")]
    placeholders: Option<PathBuf>,
    /// Folders holding info.yml files (walked recursively).
    #[arg(required = true, value_name = "REGRESSION_DIR")]
    regression: Vec<PathBuf>,
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
        RulesCommand::Test(test) => run_test(test),
    }
}

/// Loads rule files and folders (with placeholder values from `placeholders`), applies the
/// filters and resolves the correlations (see [`vigie_detect::load`]).
pub(crate) fn load(
    paths: &[PathBuf],
    placeholders: Option<&std::path::Path>,
) -> Result<(Loaded, Vec<Diagnostic>, CorrelationSet)> {
    let source = vigie_detect::load(paths, placeholders)?;
    Ok((source.loaded, source.notes, source.correlations))
}

fn run_lint(args: &LintArgs) -> Result<ExitCode> {
    let (loaded, notes, correlations) = load(&args.paths, args.placeholders.as_deref())?;
    let correlation_count = correlations.correlations().len();
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
    let loaded_count = loaded.rules.len() + correlation_count;
    let total = loaded_count + loaded.rejected.len();
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
            "correlations": correlation_count,
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

/// `--rules` as given, or `./rules` when present.
pub(crate) fn rule_paths(given: &[PathBuf]) -> Result<Vec<PathBuf>> {
    if !given.is_empty() {
        return Ok(given.to_vec());
    }
    let default = PathBuf::from("rules");
    anyhow::ensure!(
        default.is_dir(),
        "no --rules given and no ./rules folder: pass --rules DIR (for example a clone of \
         https://github.com/SigmaHQ/sigma, or ../shared/sigma/rules)"
    );
    Ok(vec![default])
}

fn run_test(args: &TestArgs) -> Result<ExitCode> {
    use vigie_sigma::conformance::regression_cases;
    let paths = rule_paths(&args.rules)?;
    let (loaded, _, _) = load(&paths, args.placeholders.as_deref())?;
    let rejected = loaded.rejected;
    let set = std::sync::Arc::new(vigie_sigma::RuleSet::new(loaded.rules));
    let mut matcher = set.matcher();
    let mut decoder = vigie_event::Decoder::new(vigie_event::Origin::new(
        vigie_event::TenantId::new("rules-test").expect("valid tenant name"),
        vigie_event::Source::new(vigie_event::SourceKind::File, "rules-test"),
    ));
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let (mut passed, mut failed, mut skipped) = (0usize, 0usize, 0usize);
    for dir in &args.regression {
        let (cases, errors) =
            regression_cases(dir).with_context(|| format!("cannot read {}", dir.display()))?;
        for e in errors {
            writeln!(out, "FAIL {e}")?;
            failed += 1;
        }
        for case in cases {
            let name = format!(
                "{} ({})",
                case.rule_id,
                case.title.as_deref().unwrap_or("untitled")
            );
            let Some(index) = set
                .rules()
                .iter()
                .position(|r| r.id.as_deref() == Some(&case.rule_id))
            else {
                // A rule that was given but rejected fails its test; a rule that is not in
                // the folders given at all (the regression tree covers every SigmaHQ rule
                // folder) is skipped, and counted on stderr.
                match rejected
                    .iter()
                    .find(|d| d.rule_id.as_deref() == Some(&case.rule_id))
                {
                    Some(d) => {
                        writeln!(
                            out,
                            "FAIL {}: {name}: rule rejected: {d}",
                            case.info.display()
                        )?;
                        failed += 1;
                    }
                    None => skipped += 1,
                }
                continue;
            };
            let events = std::fs::read(&case.evtx)
                .map_err(|e| e.to_string())
                .and_then(|bytes| decoder.decode_evtx_file(bytes).map_err(|e| e.to_string()));
            let records = match events {
                Ok(records) => records,
                Err(e) => {
                    writeln!(
                        out,
                        "FAIL {}: {name}: sample {}: {e}",
                        case.info.display(),
                        case.evtx.display()
                    )?;
                    failed += 1;
                    continue;
                }
            };
            let (mut hits, mut bad) = (0usize, 0usize);
            for record in records {
                match record {
                    Ok(event) => {
                        matcher.for_each_match(&event, |i| hits += usize::from(i == index))
                    }
                    Err(_) => bad += 1,
                }
            }
            if hits >= case.match_count {
                passed += 1;
            } else {
                let note = if bad > 0 {
                    format!(" ({bad} records of the sample did not decode)")
                } else {
                    String::new()
                };
                writeln!(
                    out,
                    "FAIL {}: {name}: fired {hits} times on {}, expected at least {}{note}",
                    case.info.display(),
                    case.evtx.display(),
                    case.match_count
                )?;
                failed += 1;
            }
        }
    }
    if skipped > 0 {
        #[allow(clippy::print_stderr)]
        {
            eprintln!(
                "skipped {skipped} tests whose rule is not in the rules given (add their folders \
                 with --rules)"
            );
        }
    }
    writeln!(out, "{passed} passed, {failed} failed")?;
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
