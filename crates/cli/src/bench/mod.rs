//! `vigie bench …`: workloads for measuring Vigie on this machine.
//!
//! - `corpus`: builds hunt corpora from real EVTX chunks ([`corpus`]);
//! - `ingest`: drives a child `vigie serve` over HTTP and syslog TCP and measures
//!   throughput and latencies ([`ingest`]);
//! - `console`: the web console's pages on a tenant of a million events and alerts
//!   ([`console`]);
//! - `store`: generates mixed events for several tenants, ingests them into a store and
//!   times the store's queries ([`store`]).

#[cfg(feature = "server")]
mod console;
mod corpus;
#[cfg(feature = "server")]
mod hunt;
#[cfg(feature = "server")]
mod ingest;
mod store;

use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Subcommand};

#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    #[command(subcommand)]
    command: BenchCommand,
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Builds a hunt corpus of real EVTX records: chunks of the EVTX files under --from
    /// copied into new files until --events events are written.
    Corpus(corpus::CorpusArgs),
    /// Generates realistic mixed events (Windows, Linux, DNS, firewall) for several tenants,
    /// ingests them into an event store and measures ingest, disk and query latencies.
    Store(store::StoreArgs),
    /// Drives a child `vigie serve` over HTTP and syslog TCP and measures sustained
    /// events/s, acknowledgement latency, ack → searchable and ack → alert.
    #[cfg(feature = "server")]
    Ingest(ingest::IngestArgs),
    /// Fills one tenant with events and alerts, starts a server, and measures the web
    /// console's pages (alert queue, event search): p50/p95/p99.
    #[cfg(feature = "server")]
    Console(console::ConsoleArgs),
    /// Fills one tenant's store with generated events (10 M by default) and measures
    /// retro-hunts over them: events in range per second, candidates after narrowing.
    #[cfg(feature = "server")]
    Hunt(hunt::HuntArgs),
}

pub(crate) fn run(args: &BenchArgs) -> Result<ExitCode> {
    match &args.command {
        BenchCommand::Corpus(c) => corpus::corpus(c),
        BenchCommand::Store(s) => store::run(s),
        #[cfg(feature = "server")]
        BenchCommand::Ingest(i) => ingest::run(i),
        #[cfg(feature = "server")]
        BenchCommand::Console(c) => console::run(c),
        #[cfg(feature = "server")]
        BenchCommand::Hunt(h) => hunt::run(h),
    }
}
