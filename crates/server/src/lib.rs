//! The service: configuration, the ingest journal, the listeners, the pipeline that decodes,
//! detects and stores, and the HTTP API.
//!
//! Only this crate and the `vigie` binary know about async runtimes, HTTP and configuration
//! files. The flow, and where each part lives:
//!
//! ```text
//! http ingest (api::ingest) ─┐
//! syslog udp/tcp/tls (syslog)┼─► journal (group commit, fsync) ──► pipeline workers
//!                            │    ack after fsync                  decode, classify, detect
//!                            │                                     │ events        │ alerts
//!                            │                                     ▼               ▼
//!                            │                                  vigie-store     vigie-state
//!                            └── metrics per tenant and source     (commit, then checkpoint)
//! ```
//!
//! [`Server::start`] wires everything and returns the bound addresses; [`Server::shutdown`]
//! stops the listeners, lets the pipeline drain the journal, and closes the store.

pub mod api;
pub mod auditor;
pub mod checkpoint_push;
pub mod config;
pub mod console;
mod error;
pub mod governance;
pub mod hunts;
pub mod intake;
pub mod limits;
pub mod metrics;
pub mod notify;
pub mod oidc;
pub mod people;
pub mod pipeline;
pub mod quarantine;
pub mod secrets;
mod server;
pub mod silence;
pub mod suppressions;
pub mod verify;

pub use config::Config;
pub use error::ServerError;
pub use server::{Server, Started};
