//! The pipeline: journal → decode → detect → store, alerts → state, then checkpoint.
//!
//! One coordinator thread reads the journal from the last checkpoint and hands records to
//! worker threads (bounded queue). A worker decodes each message of its record (event ids
//! derived from the record position, so a replay mints the same ids), matches it against the
//! current [`RuleBook`], adds the event to the store and returns the record's alerts and the
//! events correlations listen to. The coordinator takes results back in journal order, feeds
//! the per-tenant correlation engines, and every `commit_interval`:
//!
//! 1. commits the store (events up to the applied position become searchable and durable),
//! 2. hands the window to the settler thread, which writes the alerts of the applied
//!    records (deduplicated by rule and event, with their groups and priorities), the
//!    suppressions' counts and the source inventory,
//! 3. which then saves the checkpoint (the position after the last applied record).
//!
//! The workers go on with the next window meanwhile; at most one window waits for the
//! settler, beyond which the coordinator waits.
//!
//! A crash between any two steps replays records after the checkpoint: the store skips ids
//! it has, the state skips alerts it has. Correlation windows are in memory: a restart
//! loses the part of a window before the checkpoint (documented limit).
//!
//! No record can stop the pipeline. A record that fails — a panic while decoding, matching
//! or storing it (caught per record), more messages than its tenant's
//! `max_events_per_batch`, a payload that does not read back — is written to the
//! [`Quarantine`] with the reason before the checkpoint passes it, counted, and the pipeline
//! goes on. Only a failure of the server's own storage (store, state, quarantine, journal)
//! stops it, shown at `/api/v1/ready`; a restart then retries, as nothing was lost.
//! Quarantined records asked to be retried are handed to the workers again with their
//! original position, so their event ids are the same and the store drops what a first,
//! failed attempt had stored.
//!
//! A record's events go to the store as they are decoded, so a worker holds one event at a
//! time (and the record's alerts), not the decoded record.
//!
//! The stages, each a named function:
//!
//! | stage | where | what |
//! |---|---|---|
//! | feed | `coordinator.rs`: `Coordinator::feed_retries`, `feed_journal` | quarantined records asked to be retried, then journal records, to the workers (bounded) |
//! | read | `worker.rs`: `read_record` | the record's batch, within its tenant's `max_events_per_batch` |
//! | decode | `worker.rs`: `decoder_for`, `decode_message` | one decoder per (tenant, source, logsource); each message decoded, judged against the time window, given its id |
//! | detect | `worker.rs`, through `vigie_detect::Detector` | the rule hits of the event: its alerts, and whether correlations listen to it |
//! | store | `worker.rs`: `Store::add` | the event, as soon as it is decoded |
//! | apply | `coordinator.rs`: `Coordinator::apply_in_order` | results in journal order: quarantine, alerts, correlations (`correlate.rs`) |
//! | commit | `commit.rs`: `commit` | store commit, every `commit_interval`, then the window to the settler |
//! | settle | `commit.rs`: `Settler`, `settle` | alerts, counts, inventory → retried records leave the quarantine → checkpoint |
//! | set aside | `commit.rs`: `set_aside` | a failed record into the quarantine |

mod commit;
mod coordinator;
mod correlate;
mod suppress;
mod worker;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use vigie_detect::Rules;
use vigie_journal::Shared;
use vigie_journal::record::IdKey;
use vigie_state::State;
use vigie_store::Store;

use crate::ServerError;
use crate::limits::Quotas;
use crate::metrics::Metrics;
use crate::quarantine::Quarantine;

/// Pipeline settings.
#[derive(Clone, Debug)]
pub struct PipelineConfig {
    /// Worker threads.
    pub workers: usize,
    /// Time between store commits.
    pub commit_interval: Duration,
}

/// What the pipeline needs.
#[derive(Clone, Debug)]
pub struct Parts {
    /// The journal it consumes.
    pub journal: Arc<Shared>,
    /// Where events go.
    pub store: Arc<Store>,
    /// Where alerts go.
    pub state: State,
    /// The rules.
    pub rules: Arc<Rules>,
    /// The tenants' suppressions.
    pub suppressions: Arc<vigie_detect::suppress::Suppressions>,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// The runtime the state database's async calls run on.
    pub runtime: tokio::runtime::Handle,
    /// Per-tenant bounds and budgets.
    pub quotas: Arc<Quotas>,
    /// Where failing records go.
    pub quarantine: Quarantine,
    /// The key event ids are minted with.
    pub id_key: Arc<IdKey>,
}

/// The running pipeline.
#[derive(Debug)]
pub struct Pipeline {
    stop: Arc<AtomicBool>,
    failed: Arc<Mutex<Option<String>>>,
    coordinator: Option<JoinHandle<()>>,
}

impl Pipeline {
    /// Starts the coordinator and the workers.
    pub fn start(parts: Parts, config: PipelineConfig) -> Result<Pipeline, ServerError> {
        let stop = Arc::new(AtomicBool::new(false));
        let failed = Arc::new(Mutex::new(None));
        let coordinator = {
            let stop = Arc::clone(&stop);
            let failed = Arc::clone(&failed);
            std::thread::Builder::new()
                .name("vigie-pipeline".to_owned())
                .spawn(move || {
                    if let Err(e) = coordinator::coordinate(&parts, &config, &stop) {
                        tracing::error!(error = %e, "pipeline stopped");
                        *failed.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
                    }
                })
                .map_err(ServerError::io("cannot start the pipeline thread"))?
        };
        Ok(Pipeline {
            stop,
            failed,
            coordinator: Some(coordinator),
        })
    }

    /// Where the pipeline records why it stopped (shared with `/api/v1/ready`).
    pub fn failure_handle(&self) -> Arc<Mutex<Option<String>>> {
        Arc::clone(&self.failed)
    }

    /// Why the pipeline stopped, when it did on an error.
    pub fn failure(&self) -> Option<String> {
        self.failed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Processes everything durable, commits, checkpoints and stops.
    pub fn stop(mut self) -> Result<(), ServerError> {
        self.stop.store(true, Ordering::Release);
        if let Some(handle) = self.coordinator.take() {
            let _ = handle.join();
        }
        match self.failure() {
            Some(message) => Err(ServerError::Pipeline(message)),
            None => Ok(()),
        }
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

/// Whether the pipeline has processed everything made durable so far.
pub fn caught_up(journal: &Shared) -> bool {
    journal.checkpoint() >= journal.durable_end()
}
