//! `vigie audit verify` and `vigie audit key`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use vigie_server::Config;
use vigie_server::secrets::{Secrets, parse_verifier_key};
use vigie_server::verify::{split_notes, verify_audit};

use crate::serve::{load_config, runtime};

#[derive(Debug, Args)]
pub(crate) struct AuditArgs {
    #[command(subcommand)]
    command: AuditCommand,
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Verifies every chain of the audit trail: each record's hash and link, every
    /// checkpoint's signature, and the checkpoints kept outside; names the first record of a
    /// chain that was altered, removed, inserted or reordered, and a truncation. Exits 1 on
    /// any problem.
    Verify {
        /// The data directory (its state.db and secrets/), instead of a configuration.
        #[arg(long, conflicts_with = "config")]
        data: Option<PathBuf>,
        /// A configuration file (for a PostgreSQL state).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// A file of checkpoints kept outside (`audit.checkpoint_file`, or a copy).
        #[arg(long)]
        checkpoints: Option<PathBuf>,
        /// The checkpoint key (`vigie audit key`'s output, or a file holding it) kept
        /// outside; default: the instance's own key file.
        #[arg(long)]
        key: Option<String>,
    },
    /// Prints the audit checkpoint key (a signed-note verifier key) to keep outside.
    Key {
        /// The data directory.
        #[arg(long, conflicts_with = "config")]
        data: Option<PathBuf>,
        /// A configuration file.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

fn config_of(data: Option<&PathBuf>, config: Option<&PathBuf>) -> Result<Config> {
    match data {
        Some(dir) => Ok(Config {
            data_dir: dir.clone(),
            ..Config::default()
        }),
        None => load_config(config.map(PathBuf::as_path)),
    }
}

#[allow(clippy::print_stdout)]
pub(crate) fn run(args: &AuditArgs) -> Result<ExitCode> {
    match &args.command {
        AuditCommand::Key { data, config } => {
            let config = config_of(data.as_ref(), config.as_ref())?;
            let secrets = Secrets::load_or_create(&Secrets::dir(&config))?;
            println!("{}", secrets.verifier_key());
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Verify {
            data,
            config,
            checkpoints,
            key,
        } => {
            let config = config_of(data.as_ref(), config.as_ref())?;
            if config.state.is_none() && !config.state_path().exists() {
                bail!("no state database at {}", config.state_path().display());
            }
            let (name, public) = match key {
                Some(text) => {
                    let text = match std::fs::read_to_string(text) {
                        Ok(file) => file,
                        Err(_) => text.clone(),
                    };
                    parse_verifier_key(&text).with_context(|| {
                        format!("--key: not a checkpoint key ({:?})", text.trim())
                    })?
                }
                None => {
                    let dir = Secrets::dir(&config);
                    if !dir.join("audit-ed25519.pk8").exists() {
                        bail!("no checkpoint key in {} (give --key)", dir.display());
                    }
                    let secrets = Secrets::load_or_create(&dir)?;
                    (
                        vigie_server::secrets::KEY_NAME.to_owned(),
                        secrets.public_key().to_vec(),
                    )
                }
            };
            let external = match checkpoints {
                Some(file) => split_notes(
                    &std::fs::read_to_string(file)
                        .with_context(|| format!("cannot read {}", file.display()))?,
                ),
                None => Vec::new(),
            };
            let rt = runtime()?;
            let reports = rt.block_on(async {
                let state = config.open_state().await?;
                let reports = verify_audit(&state, &name, &public, &external).await;
                state.close().await;
                anyhow::Ok(reports?)
            })?;
            let mut bad = 0;
            for r in &reports {
                match &r.problem {
                    None => println!(
                        "{}: {} records, {} checkpoints: intact",
                        r.chain, r.records, r.checkpoints
                    ),
                    Some(p) => {
                        bad += 1;
                        println!("{}: {p}", r.chain);
                    }
                }
            }
            println!(
                "{} chain(s), {} with a problem; {} checkpoint(s) kept outside read",
                reports.len(),
                bad,
                external.len()
            );
            Ok(if bad == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}
