//! Making progress durable: the commit (store, then alerts, then checkpoint) and setting a
//! failed record aside.

use std::sync::atomic::Ordering;

use vigie_state::NewAlert;
use vigie_state::sources::Seen;

use super::Parts;
use crate::ServerError;
use crate::quarantine;

/// Store commit, then alerts, then checkpoint (see the module documentation of the pipeline:
/// a crash between two steps replays, and each step skips what it already has).
pub(super) fn commit(
    parts: &Parts,
    alerts: &mut Vec<NewAlert>,
    suppressed: &mut std::collections::HashMap<i64, (u64, i64)>,
    seen: &mut SeenSince,
    applied: u64,
) -> Result<(), ServerError> {
    parts.store.commit()?;
    parts
        .metrics
        .pipeline
        .commits
        .fetch_add(1, Ordering::Relaxed);
    if !alerts.is_empty() {
        let state = parts.state.clone();
        let batch = std::mem::take(alerts);
        let inserted = parts
            .runtime
            .block_on(async move { state.insert_alerts(&batch).await })?;
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
        let hits: Vec<(i64, u64, i64)> =
            suppressed.drain().map(|(id, (n, t))| (id, n, t)).collect();
        parts
            .runtime
            .block_on(async move { state.count_suppressed(&hits).await })?;
    }
    // The inventory: like the counts above, a replay counts again (receive times stay).
    if !seen.is_empty() {
        let state = parts.state.clone();
        let batch = seen.take();
        parts
            .runtime
            .block_on(async move { state.record_sources(&batch).await })?;
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

    fn take(&mut self) -> Vec<Seen> {
        std::mem::take(&mut self.by_key).into_values().collect()
    }
}
