//! The `vigie` binary: one command per job. Exit codes are decided here only.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The global allocator: mimalloc (see ARCHITECTURE.md, "Memory allocator").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(feature = "server")]
mod audit;
mod bench;
mod decode;
#[cfg(feature = "server")]
mod demo;
mod hunt;
#[cfg(feature = "server")]
mod people;
mod rules;
#[cfg(feature = "server")]
mod serve;
#[cfg(feature = "server")]
mod totp;

/// Vigie: a security operations platform for the hybrid SOC, in one binary.
#[derive(Debug, Parser)]
#[command(name = "vigie", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs a live server with two tenants, sends a small company's logs over HTTP and syslog
    /// with an attack story woven in, shows the per-tenant bounds, and reports what was
    /// detected.
    #[cfg(feature = "server")]
    Demo(demo::DemoArgs),
    /// Decodes log files (EVTX, JSON/NDJSON, syslog, CEF, LEEF) and prints the events as NDJSON.
    Decode(decode::DecodeArgs),
    /// Workloads for measuring Vigie (`vigie bench corpus …`, `vigie bench store …`).
    Bench(bench::BenchArgs),
    /// Hunts EVTX and JSON files with Sigma rules and reports every detection.
    Hunt(hunt::HuntArgs),
    /// Sigma rule tools (`vigie rules lint DIR…`).
    Rules(rules::RulesArgs),
    /// Runs the service: HTTP ingest and API, syslog listeners, the detection pipeline.
    #[cfg(feature = "server")]
    Serve(serve::ServeArgs),
    /// Configuration file tools (`vigie config check FILE`).
    #[cfg(feature = "server")]
    Config(serve::ConfigArgs),
    /// Administration of the state database: the first operator, organisations, users,
    /// grants, tenants (`vigie admin init`, `vigie admin user create …`).
    #[cfg(feature = "server")]
    Admin(serve::AdminArgs),
    /// The audit trail: `vigie audit verify` checks every chain against its signatures and
    /// the checkpoints kept outside; `vigie audit key` prints the checkpoint key.
    #[cfg(feature = "server")]
    Audit(audit::AuditArgs),
    /// Prints the current code of a TOTP secret (the demo's people, scripts).
    #[cfg(feature = "server")]
    Totp(totp::TotpArgs),
}

/// The `crates/cli` folder of the checkout: `CARGO_MANIFEST_DIR` as cargo sets it when it
/// runs the binary or its tests, else its compile-time value. A shared `CARGO_TARGET_DIR`
/// may reuse a binary built in another clone, whose baked-in path points there.
#[cfg(feature = "server")]
pub(crate) fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())
        .into()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        #[cfg(feature = "server")]
        Command::Demo(args) => demo::run(&args),
        Command::Decode(args) => decode::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Hunt(args) => hunt::run(&args),
        Command::Rules(args) => rules::run(&args),
        #[cfg(feature = "server")]
        Command::Serve(args) => serve::run_serve(&args),
        #[cfg(feature = "server")]
        Command::Config(args) => serve::run_config(&args),
        #[cfg(feature = "server")]
        Command::Admin(args) => serve::run_admin(&args),
        #[cfg(feature = "server")]
        Command::Audit(args) => audit::run(&args),
        #[cfg(feature = "server")]
        Command::Totp(args) => totp::run(&args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            // A closed pipe (`vigie decode … | head`) is not an error.
            let broken_pipe = err.chain().any(|cause| {
                cause
                    .downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            });
            if broken_pipe {
                return ExitCode::SUCCESS;
            }
            #[allow(clippy::print_stderr)]
            {
                eprintln!("vigie: error: {err:#}");
            }
            ExitCode::from(2)
        }
    }
}
