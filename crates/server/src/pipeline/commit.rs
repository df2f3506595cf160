//! Making progress durable: the commit (the store, then — on the settler's thread — alerts,
//! counts, the inventory, then the checkpoint) and setting a failed record aside.

use std::sync::atomic::Ordering;
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use vigie_state::NewAlert;
use vigie_state::sources::Seen;

use super::Parts;
use crate::ServerError;
use crate::quarantine;

/// What a commit leaves to the settler: the state's share of the window, then the
/// checkpoint after it.
#[derive(Debug, Default)]
pub(super) struct Settle {
    /// Alerts of the applied records.
    pub(super) alerts: Vec<NewAlert>,
    /// Suppressions' counts: (id, alerts kept back, last event time).
    pub(super) suppressed: Vec<(i64, u64, i64)>,
    /// The inventory's counts.
    pub(super) seen: Vec<Seen>,
    /// The journal position the window ends at.
    pub(super) applied: u64,
    /// Quarantined records processed again in the window.
    pub(super) retried: Vec<quarantine::Entry>,
}

/// Writes the state's share of each commit on a thread of its own, then the checkpoint
/// (see the module documentation of the pipeline: a crash before the checkpoint replays
/// the window, and each step skips what it already has).
///
/// The coordinator commits the store and hands the rest over, so the workers go on
/// with the next window while alerts, groups, counts and the inventory are written (they
/// took as long as the store's commit under SigmaHQ's rule set, the coordinator waiting).
/// One window may wait while another is written; beyond, the coordinator waits: memory
/// stays bounded to two windows.
#[derive(Debug)]
pub(super) struct Settler {
    tx: Option<SyncSender<Settle>>,
    handle: Option<JoinHandle<Result<(), ServerError>>>,
    /// Quarantined records settled (the coordinator stops tracking them as handed out).
    settled: Arc<Mutex<Vec<(String, String)>>>,
}

impl Settler {
    /// Starts the thread.
    pub(super) fn start(parts: &Parts) -> Result<Settler, ServerError> {
        let (tx, rx) = sync_channel::<Settle>(1);
        let settled: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
        let (parts, done) = (parts.clone(), Arc::clone(&settled));
        let handle = std::thread::Builder::new()
            .name("vigie-settler".to_owned())
            .spawn(move || {
                for window in rx {
                    settle(&parts, window, &done)?;
                }
                Ok(())
            })
            .map_err(ServerError::io("cannot start the pipeline's settler"))?;
        Ok(Settler {
            tx: Some(tx),
            handle: Some(handle),
            settled,
        })
    }

    /// Hands a window over (waiting while another one waits). A settler that stopped on
    /// an error gives its error here.
    pub(super) fn send(&mut self, window: Settle) -> Result<(), ServerError> {
        let sent = self.tx.as_ref().map(|tx| tx.send(window).is_ok());
        if sent == Some(true) {
            return Ok(());
        }
        self.finish()?;
        Err(ServerError::Pipeline("the settler stopped".to_owned()))
    }

    /// The quarantined records settled since the last call.
    pub(super) fn settled(&self) -> Vec<(String, String)> {
        std::mem::take(&mut *self.settled.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Waits until every window handed over is written (the last checkpoint saved).
    pub(super) fn finish(&mut self) -> Result<(), ServerError> {
        self.tx.take();
        match self.handle.take().map(JoinHandle::join) {
            None | Some(Ok(Ok(()))) => Ok(()),
            Some(Ok(Err(e))) => Err(e),
            Some(Err(_)) => Err(ServerError::Pipeline("the settler panicked".to_owned())),
        }
    }
}

impl Drop for Settler {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

/// Commits the store, then hands the window's alerts, counts, inventory and checkpoint to
/// the settler.
pub(super) fn commit(
    parts: &Parts,
    settler: &mut Settler,
    window: Settle,
) -> Result<(), ServerError> {
    parts.store.commit()?;
    parts
        .metrics
        .pipeline
        .commits
        .fetch_add(1, Ordering::Relaxed);
    settler.send(window)
}

/// Writes one window's share of the state; the records it retried leave the quarantine;
/// then its checkpoint.
fn settle(
    parts: &Parts,
    window: Settle,
    settled: &Mutex<Vec<(String, String)>>,
) -> Result<(), ServerError> {
    let Settle {
        alerts,
        suppressed,
        seen,
        applied,
        retried,
    } = window;
    if !alerts.is_empty() {
        let state = parts.state.clone();
        let inserted = parts
            .runtime
            .block_on(async move { state.insert_alerts(&alerts).await })?;
        parts
            .metrics
            .pipeline
            .alerts
            .fetch_add(inserted, Ordering::Relaxed);
    }
    // Suppressions' counts: a crash before the checkpoint replays the records and counts
    // them again (a count, not an alert: over- rather than under-counting).
    if !suppressed.is_empty() {
        let state = parts.state.clone();
        parts
            .runtime
            .block_on(async move { state.count_suppressed(&suppressed).await })?;
    }
    // The inventory: like the counts above, a replay counts again (receive times stay).
    if !seen.is_empty() {
        let state = parts.state.clone();
        parts
            .runtime
            .block_on(async move { state.record_sources(&seen).await })?;
    }
    // A retried record's events and alerts are durable now: it leaves the quarantine
    // (before the checkpoint, so that a reader who sees the pipeline caught up sees it
    // gone; its position is behind the checkpoint already).
    for entry in retried {
        parts.quarantine.remove(&entry.tenant, &entry.id)?;
        parts
            .metrics
            .pipeline
            .retried
            .fetch_add(1, Ordering::Relaxed);
        tracing::info!(tenant = %entry.tenant, id = %entry.id, "quarantined record processed again: removed from the quarantine");
        settled
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((entry.tenant, entry.id));
    }
    parts
        .journal
        .save_checkpoint(applied)
        .map_err(ServerError::io("cannot save the journal checkpoint"))
}

/// Writes a failed record to the quarantine and counts it.
pub(super) fn set_aside(
    parts: &Parts,
    entry: quarantine::Entry,
    payload: &[u8],
) -> Result<(), ServerError> {
    tracing::error!(
        tenant = %entry.tenant,
        id = %entry.id,
        messages = entry.messages,
        reason = %entry.reason,
        "journal record set aside in the quarantine"
    );
    let entry = parts.quarantine.put(entry, payload)?;
    parts
        .metrics
        .pipeline
        .quarantined
        .fetch_add(1, Ordering::Relaxed);
    if entry.tenant != quarantine::UNREADABLE {
        parts
            .metrics
            .source(&entry.tenant, "quarantine")
            .quarantined
            .fetch_add(entry.messages, Ordering::Relaxed);
    }
    Ok(())
}

/// What each (tenant, source, host) sent since the last commit, per hour of receive time.
#[derive(Debug, Default)]
pub(super) struct SeenSince {
    by_key: std::collections::HashMap<(vigie_event::TenantId, String, String, i64), Seen>,
}

impl SeenSince {
    pub(super) fn add(&mut self, s: Seen) {
        let hour = s.last.div_euclid(3_600_000_000_000);
        let key = (s.tenant.clone(), s.source.clone(), s.host.clone(), hour);
        match self.by_key.get_mut(&key) {
            Some(e) => {
                e.events += s.events;
                e.first = e.first.min(s.first);
                e.last = e.last.max(s.last);
            }
            None => {
                self.by_key.insert(key, s);
            }
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    pub(super) fn take(&mut self) -> Vec<Seen> {
        std::mem::take(&mut self.by_key).into_values().collect()
    }
}
