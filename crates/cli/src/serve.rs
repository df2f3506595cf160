//! `vigie serve`, `vigie config check` and `vigie admin …`: running the service and
//! administering its state database.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use vigie_event::TenantId;
use vigie_server::{Config, Server};
use vigie_state::State;

/// The configuration file read when none is given, if it exists.
const DEFAULT_CONFIG: &str = "vigie.toml";

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Configuration file (default: ./vigie.toml when present, else built-in defaults:
    /// HTTP on 127.0.0.1:8080, data in ./vigie-data).
    #[arg(long, short)]
    config: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct ConfigArgs {
    #[command(subcommand)]
    command: ConfigCommand,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Checks a configuration file: syntax, unknown keys (with their line), values.
    Check {
        /// The file.
        file: PathBuf,
    },
}

#[derive(Debug, Args)]
pub(crate) struct AdminArgs {
    /// Configuration file whose data directory to administer (default as for `serve`).
    #[arg(long, short)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Tenants.
    Tenant {
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// Another administrator token.
    AdminToken,
}

#[derive(Debug, Subcommand)]
enum TenantCommand {
    /// Creates a tenant and prints its ingest token (shown once).
    Create {
        /// The tenant's name (letters, digits, `-`, `_`, `.`; at most 64).
        name: String,
    },
    /// Prints a new token for an existing tenant.
    Token {
        /// The tenant.
        name: String,
    },
    /// Lists the tenants.
    List,
}

pub(crate) fn load_config(given: Option<&Path>) -> Result<Config> {
    match given {
        Some(file) => Ok(Config::load(file)?),
        None if Path::new(DEFAULT_CONFIG).exists() => Ok(Config::load(Path::new(DEFAULT_CONFIG))?),
        None => Ok(Config::default()),
    }
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("vigie-io")
        .build()
        .context("cannot start the async runtime")
}

/// Logs to stderr, `RUST_LOG`-style filtering (default `default`).
pub(crate) fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

#[allow(clippy::print_stdout)]
pub(crate) fn run_serve(args: &ServeArgs) -> Result<ExitCode> {
    init_logging("info");
    let config = load_config(args.config.as_deref())?;
    let rt = runtime()?;
    rt.block_on(async {
        let (server, started) = Server::start(config).await?;
        if let Some(token) = &started.admin_token {
            println!("administrator token (shown once, keep it): {token}");
        }
        println!("HTTP API on http://{}/api/v1/", started.http);
        for (name, protocol, addr) in &started.syslog {
            println!("syslog {protocol:?} listener {name:?} on {addr}");
        }
        println!(
            "rules: {} loaded, {} rejected",
            started.rules.0, started.rules.1
        );
        wait_for_signal().await;
        println!("stopping: draining the journal…");
        server.shutdown().await?;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Ctrl-C or SIGTERM.
pub(crate) async fn wait_for_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async {
            match term.as_mut() {
                Some(t) => { t.recv().await; }
                None => std::future::pending::<()>().await,
            }
        } => {}
    }
}

#[allow(clippy::print_stdout)]
pub(crate) fn run_config(args: &ConfigArgs) -> Result<ExitCode> {
    match &args.command {
        ConfigCommand::Check { file } => match Config::load(file) {
            Ok(_) => {
                println!("{}: ok", file.display());
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                println!("{e}");
                Ok(ExitCode::from(1))
            }
        },
    }
}

#[allow(clippy::print_stdout)]
pub(crate) fn run_admin(args: &AdminArgs) -> Result<ExitCode> {
    let config = load_config(args.config.as_deref())?;
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create {}", config.data_dir.display()))?;
    let rt = runtime()?;
    rt.block_on(async {
        let state = State::open(&config.state_path()).await?;
        if let Some(token) = state.ensure_admin_token().await? {
            println!("administrator token (shown once, keep it): {token}");
        }
        match &args.command {
            AdminCommand::Tenant { command } => match command {
                TenantCommand::Create { name } => {
                    let tenant = TenantId::new(name)?;
                    state.create_tenant(&tenant).await?;
                    let token = state
                        .create_tenant_token(&tenant, "created with the tenant")
                        .await?;
                    println!("tenant {name} created; ingest token (shown once): {token}");
                }
                TenantCommand::Token { name } => {
                    let tenant = TenantId::new(name)?;
                    let token = state
                        .create_tenant_token(&tenant, "vigie admin tenant token")
                        .await?;
                    println!("{token}");
                }
                TenantCommand::List => {
                    for t in state.tenants().await? {
                        println!("{t}");
                    }
                }
            },
            AdminCommand::AdminToken => {
                let token = state.create_admin_token("vigie admin admin-token").await?;
                println!("{token}");
            }
        }
        state.close().await;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
