//! `vigie serve`, `vigie config check` and `vigie admin …`: running the service and
//! administering its state database.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use vigie_event::TenantId;
use vigie_server::{Config, Server};

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
    /// Writes a documented configuration to start from: every section, the project's rules
    /// folder, a commented line for SigmaHQ's rules.
    Init {
        /// The file to write.
        #[arg(default_value = DEFAULT_CONFIG)]
        file: PathBuf,
        /// Replace the file if it exists.
        #[arg(long)]
        force: bool,
        /// The data directory the configuration names (default: ./vigie-data beside the file).
        #[arg(long)]
        data_dir: Option<PathBuf>,
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
    /// First start: the operator organisation, the first operator and their one-time
    /// enrolment token, the instance's secrets (and the audit checkpoint key).
    Init {
        /// The operator's login.
        #[arg(long, default_value = "operator")]
        login: String,
        /// The operator's display name.
        #[arg(long, default_value = "Instance operator")]
        name: String,
    },
    /// Organisations (`create`, `list`).
    Org {
        #[command(subcommand)]
        command: crate::people::OrgCommand,
    },
    /// Users (`create`, `suspend`, `activate`, `enrol`, `list`).
    User {
        #[command(subcommand)]
        command: crate::people::UserCommand,
    },
    /// Grants (`list`, `request`, `approve`, `refuse`, `revoke`).
    Grant {
        #[command(subcommand)]
        command: crate::people::GrantCommand,
    },
    /// Journal records the pipeline set aside (`list`, `show`, `retry`, `drop`).
    Quarantine {
        #[command(subcommand)]
        command: QuarantineCommand,
    },
}

#[derive(Debug, Subcommand)]
enum QuarantineCommand {
    /// Lists the quarantined records (of one tenant, or of all).
    List {
        /// Only this tenant's.
        #[arg(long)]
        tenant: Option<String>,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Shows one record: why it was set aside, and its first messages.
    Show {
        /// Its tenant.
        tenant: String,
        /// Its id (16 hex digits, from `list`).
        id: String,
        /// Messages shown (each cut at 1,000 bytes).
        #[arg(long, default_value_t = 20)]
        messages: usize,
    },
    /// Asks the pipeline to process the record again (a running server takes it within a
    /// commit interval; a stopped one at its next start).
    Retry {
        /// Its tenant.
        tenant: String,
        /// Its id.
        id: String,
    },
    /// Deletes the record for good: its events are lost.
    Drop {
        /// Its tenant.
        tenant: String,
        /// Its id.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
enum TenantCommand {
    /// Creates a tenant and prints its ingest token (shown once).
    Create {
        /// The tenant's name: lower-case letters, digits, `-` and `_`, starting with a letter
        /// or a digit; at most 64.
        name: String,
        /// The client organisation that owns it (default: one of the tenant's name, made
        /// when missing).
        #[arg(long)]
        org: Option<String>,
    },
    /// Sets a tenant's sensitive fields (their values reach provider users as pseudonyms)
    /// and its longest elevation; prints them.
    Settings {
        /// The tenant.
        name: String,
        /// Field names, comma-separated (an empty string clears them).
        #[arg(long)]
        sensitive: Option<String>,
        /// The longest elevation a client admin may approve, in hours (1 to 72).
        #[arg(long)]
        max_elevation_hours: Option<u32>,
    },
    /// Prints a new ingest token for an existing tenant.
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
        println!("HTTP API on http://{}/api/v1/", started.http);
        for (name, protocol, addr) in &started.syslog {
            println!("syslog {protocol:?} listener {name:?} on {addr}");
        }
        println!(
            "rules: {} loaded, {} rejected",
            started.rules.0, started.rules.1
        );
        if started.rules.0 == 0 {
            #[allow(clippy::print_stderr)]
            {
                eprintln!(
                    "warning: no Sigma rule is loaded, so nothing will alert: set [rules] paths in the \
                     configuration (`vigie config init` writes one with the project's rules)"
                );
            }
        }
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
        ConfigCommand::Init {
            file,
            force,
            data_dir,
        } => {
            if file.exists() && !force {
                anyhow::bail!("{} exists; pass --force to replace it", file.display());
            }
            // Absolute paths, so that `vigie serve --config FILE` works from any folder.
            let folder = file
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let folder = std::fs::canonicalize(folder)
                .with_context(|| format!("cannot find the folder of {}", file.display()))?;
            let data_dir = data_dir
                .clone()
                .unwrap_or_else(|| folder.join("vigie-data"));
            let rules = crate::manifest_dir().join("../../rules");
            let rules = std::fs::canonicalize(&rules).ok();
            let text = initial_config(&data_dir, rules.as_deref());
            Config::parse(&text, file).context("the written configuration does not check")?;
            std::fs::write(file, text)
                .with_context(|| format!("cannot write {}", file.display()))?;
            println!("{} written", file.display());
            if rules.is_none() {
                println!("note: the project's rules folder was not found; set [rules] paths");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The configuration `vigie config init` writes.
fn initial_config(data_dir: &Path, rules: Option<&Path>) -> String {
    let quote = |p: &Path| toml_string(&p.display().to_string());
    let rules_line = match rules {
        Some(r) => format!("paths = [{}]", quote(r)),
        None => "paths = []                        # the project's rules/ folder was not found"
            .to_owned(),
    };
    let sigmahq = rules
        .and_then(|r| r.parent())
        .and_then(|checkout| checkout.parent())
        .map(|above| above.join("shared/sigma/rules"))
        .map_or_else(|| "\"/path/to/sigma/rules\"".to_owned(), |p| quote(&p));
    format!(
        r#"# Vigie configuration, written by `vigie config init`. Every key, its default and why:
# crates/server/src/config.rs and crates/server/src/limits.rs. Check it with
# `vigie config check FILE`.

data_dir = {data_dir}           # state.db, journal/, events/, quarantine/

[http]
listen = "127.0.0.1:8080"
max_body_bytes = 33554432         # a request body over this gets 413
max_decoded_bytes = 134217728     # a gzip body inflating past this gets 413

[pipeline]
workers = 0                       # decode + detect threads; 0 = one per core
commit_interval_ms = 1000         # how often events become searchable and alerts land

[store]
period_hours = 24                 # one index per tenant per day
# retention_days = 90             # drop older partitions

[rules]
{rules_line}
# SigmaHQ's rules (https://github.com/SigmaHQ/sigma), when you have them:
# paths = [{first}, {sigmahq}]

[limits]                          # what one tenant may make the server spend
max_events_per_batch = 100000
max_field_names = 20000
max_event_age_days = 400
max_event_future_hours = 24
out_of_window = "clamp"           # or "reject"
max_sources = 1000

# [notify]                        # where tenants' notifications may go (nothing by default)
# webhook_allow = ["https://hooks.example.org/vigie/"]   # URL prefixes
# email_domains = ["example.org"]
# [notify.smtp]                   # the mail relay, always with STARTTLS
# host = "smtp.example.org"
# port = 587
# from = "Vigie <vigie@example.org>"

# [[syslog]]                      # a listener; the tenant must exist (`vigie admin tenant create`)
# name = "firewalls"
# protocol = "tcp"                # udp | tcp | tls
# listen = "127.0.0.1:5514"
# tenant = "acme"
# framing = "auto"                # tcp/tls: octet | lf | auto
"#,
        data_dir = quote(data_dir),
        first = rules.map_or_else(|| "\"rules\"".to_owned(), quote),
    )
}

/// `text` as a TOML basic string.
fn toml_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[allow(clippy::print_stdout)]
pub(crate) fn run_admin(args: &AdminArgs) -> Result<ExitCode> {
    let config = load_config(args.config.as_deref())?;
    if let AdminCommand::Quarantine { command } = &args.command {
        return run_quarantine(&config, command);
    }
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create {}", config.data_dir.display()))?;
    let rt = runtime()?;
    rt.block_on(async {
        let state = config.open_state().await?;
        match &args.command {
            AdminCommand::Init { login, name } => {
                crate::people::init(&state, &config, login, name).await?;
            }
            AdminCommand::Org { command } => {
                crate::people::org(&state, &config, command).await?;
            }
            AdminCommand::User { command } => {
                crate::people::user(&state, command).await?;
            }
            AdminCommand::Grant { command } => {
                crate::people::grant(&state, command).await?;
            }
            AdminCommand::Tenant { command } => match command {
                TenantCommand::Settings {
                    name,
                    sensitive,
                    max_elevation_hours,
                } => {
                    crate::people::tenant_settings(
                        &state,
                        name,
                        sensitive.as_deref(),
                        *max_elevation_hours,
                    )
                    .await?;
                }
                TenantCommand::Create { name, org } => {
                    let tenant = TenantId::new(name)?;
                    match org {
                        Some(org) => {
                            let owner = state.org_by_name(org).await?.with_context(|| {
                                format!("no organisation {org:?} (vigie admin org create)")
                            })?;
                            state.create_tenant_for(&tenant, owner.id).await?;
                        }
                        None => state.create_tenant(&tenant).await?,
                    }
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
            AdminCommand::Quarantine { .. } => unreachable!("handled before the state opens"),
        }
        state.close().await;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// `vigie admin quarantine …`: works on the files, with or without a running server.
#[allow(clippy::print_stdout)]
fn run_quarantine(config: &Config, command: &QuarantineCommand) -> Result<ExitCode> {
    use vigie_server::quarantine::Quarantine;
    let q = Quarantine::new(config.quarantine_dir());
    let line = |e: &vigie_server::quarantine::Entry| {
        format!(
            "{} {} {} messages, {} bytes, {} attempt(s){}, since {}: {}",
            e.tenant,
            e.id,
            e.messages,
            e.bytes,
            e.attempts,
            if e.retry_requested {
                ", retry asked"
            } else {
                ""
            },
            e.quarantined_at,
            e.reason
        )
    };
    match command {
        QuarantineCommand::List { tenant, json } => {
            let entries = q.list(tenant.as_deref())?;
            for e in &entries {
                if *json {
                    println!("{}", serde_json::to_string(e)?);
                } else {
                    println!("{}", line(e));
                }
            }
            if !json {
                println!("{} quarantined record(s)", entries.len());
            }
        }
        QuarantineCommand::Show {
            tenant,
            id,
            messages,
        } => {
            let entry = q.get(tenant, id)?;
            println!("{}", serde_json::to_string_pretty(&entry)?);
            let payload = q.payload(tenant, id)?;
            match vigie_journal::record::Batch::decode(bytes::Bytes::from(payload)) {
                Ok(batch) => {
                    println!(
                        "source {:?}, {} message(s); the first {}:",
                        batch.source,
                        batch.messages.len(),
                        messages.min(&batch.messages.len())
                    );
                    for (i, m) in batch.messages.iter().take(*messages).enumerate() {
                        let cut = &m[..m.len().min(1000)];
                        println!("{:>6}: {}", i + 1, String::from_utf8_lossy(cut));
                    }
                }
                Err(e) => println!("the payload does not read as a batch: {e}"),
            }
        }
        QuarantineCommand::Retry { tenant, id } => {
            let e = q.request_retry(tenant, id)?;
            println!("retry asked: {}", line(&e));
        }
        QuarantineCommand::Drop { tenant, id } => {
            let e = q.drop_entry(tenant, id)?;
            println!("dropped: {}", line(&e));
        }
    }
    Ok(ExitCode::SUCCESS)
}
