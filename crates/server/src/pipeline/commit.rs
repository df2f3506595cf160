//! Making progress durable: the commit (store, then alerts, then checkpoint) and setting a
//! failed record aside.

use std::sync::atomic::Ordering;

use vigie_state::NewAlert;

use super::Parts;
use crate::ServerError;
use crate::quarantine;

/// Store commit, then alerts, then checkpoint (see the module documentation of the pipeline:
/// a crash between two steps replays, and each step skips what it already has).
pub(super) fn commit(
    parts: &Parts,
    alerts: &mut Vec<NewAlert>,
    suppressed: &mut std::collections::HashMap<i64, (u64, i64)>,
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
