//! Intake: where events enter the server, up to the journal.
//!
//! - [`body`]: an HTTP ingest body (NDJSON or a JSON array, gzip or not) into checked
//!   messages — the HTTP route itself is an API resource (`api::ingest`), which calls it;
//! - [`syslog`]: the UDP, TCP and TLS syslog listeners and their framing;
//! - [`tls`]: certificates of the TLS listeners;
//! - [`hand_over`]: the one way a batch goes to the journal, under an explicit
//!   [`Backpressure`] policy.
//!
//! Every transport ends in [`hand_over`], so what happens when the journal's queue is full is
//! a choice each caller names rather than a copy of the same loop with a different ending.

pub mod body;
pub mod syslog;
pub mod tls;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use vigie_journal::committer::{Appender, Refused};
use vigie_journal::record::Batch;

use crate::metrics::{DropReason, SourceCounters};

/// What to do with a batch when the journal's queue in front of the writer is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backpressure {
    /// Answer at once: the sender can retry (HTTP: 503 with Retry-After). Nothing is counted
    /// as dropped — the client still has the batch.
    Refuse,
    /// Drop the batch and count it, and do not wait for its fsync (UDP: the sender cannot
    /// be slowed down nor told).
    DropAndCount,
    /// Wait until the queue has room (TCP and TLS: while we wait we stop reading, and the
    /// sender's TCP window fills — the push back reaches it).
    Wait,
}

/// What became of a batch handed over.
#[derive(Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Durable in the journal (fsynced), at this position.
    Durable(u64),
    /// Queued; its fsync is awaited in the background ([`Backpressure::DropAndCount`]).
    Queued,
    /// Not taken: the queue was full ([`Backpressure::Refuse`] and
    /// [`Backpressure::DropAndCount`]) or the journal is closing.
    Refused(Refused),
    /// The journal failed to write it.
    Failed(String),
}

/// How long [`Backpressure::Wait`] sleeps between two tries.
const RETRY_EVERY: Duration = Duration::from_millis(10);

/// Hands `batch` of `messages` messages to the journal under `policy`, and counts it on
/// `counters`: journaled once durable, or dropped with its reason (for every policy but
/// [`Backpressure::Refuse`], whose sender keeps the batch).
pub async fn hand_over(
    appender: &Appender,
    batch: &Batch,
    messages: u64,
    policy: Backpressure,
    counters: &Arc<SourceCounters>,
) -> Delivery {
    let counts_drops = policy != Backpressure::Refuse;
    let drop = |reason| {
        if counts_drops {
            counters.count_drop(reason, messages);
        }
    };
    let mut payload = batch.encode();
    let durable = loop {
        match appender.try_append(payload) {
            Ok(rx) => break rx,
            Err((Refused::Full, back)) if policy == Backpressure::Wait => {
                payload = back;
                tokio::time::sleep(RETRY_EVERY).await;
            }
            Err((refused, _)) => {
                drop(match refused {
                    Refused::Full => DropReason::QueueFull,
                    Refused::Closed => DropReason::Shutdown,
                });
                return Delivery::Refused(refused);
            }
        }
    };
    if policy == Backpressure::DropAndCount {
        let counters = Arc::clone(counters);
        tokio::spawn(async move {
            match durable.await {
                Ok(Ok(_)) => {
                    counters.journaled.fetch_add(messages, Ordering::Relaxed);
                }
                _ => counters.count_drop(DropReason::JournalError, messages),
            }
        });
        return Delivery::Queued;
    }
    match durable.await {
        Ok(Ok(position)) => {
            counters.journaled.fetch_add(messages, Ordering::Relaxed);
            Delivery::Durable(position)
        }
        Ok(Err(e)) => {
            drop(DropReason::JournalError);
            Delivery::Failed(e)
        }
        Err(_) => {
            drop(DropReason::JournalError);
            Delivery::Failed("the journal writer stopped".to_owned())
        }
    }
}
