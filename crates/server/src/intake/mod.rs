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

/// What to do with a batch the journal's queue refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OnRefusal {
    /// Try again after [`RETRY_EVERY`].
    Retry,
    /// Give up; count the batch as dropped for this reason (or not at all: `None`, the
    /// sender keeps it).
    GiveUp(Option<DropReason>),
}

/// The policy's answer to a refusal: only [`Backpressure::Wait`] retries, and only a full
/// queue (a closing journal will not take it later); only a sender that keeps nothing
/// ([`Backpressure::DropAndCount`], [`Backpressure::Wait`]) has its batch counted as dropped.
fn on_refusal(policy: Backpressure, refused: Refused) -> OnRefusal {
    match (policy, refused) {
        (Backpressure::Wait, Refused::Full) => OnRefusal::Retry,
        (Backpressure::Refuse, _) => OnRefusal::GiveUp(None),
        (_, Refused::Full) => OnRefusal::GiveUp(Some(DropReason::QueueFull)),
        (_, Refused::Closed) => OnRefusal::GiveUp(Some(DropReason::Shutdown)),
    }
}

/// Whether a batch the journal failed to write counts as dropped: not for
/// [`Backpressure::Refuse`], whose sender is told and keeps it.
fn failure_is_a_drop(policy: Backpressure) -> bool {
    policy != Backpressure::Refuse
}

/// Counts a batch the journal failed to write, when it is a drop.
fn count_failure(policy: Backpressure, counters: &SourceCounters, messages: u64) {
    if failure_is_a_drop(policy) {
        counters.count_drop(DropReason::JournalError, messages);
    }
}

/// How long [`Backpressure::Wait`] sleeps between two tries.
const RETRY_EVERY: Duration = Duration::from_millis(10);

/// Hands `batch` to the journal under `policy`, and counts it on
/// `counters`: journaled once durable, or dropped with its reason (for every policy but
/// [`Backpressure::Refuse`], whose sender keeps the batch).
pub async fn hand_over(
    appender: &Appender,
    batch: &Batch,
    policy: Backpressure,
    counters: &Arc<SourceCounters>,
) -> Delivery {
    let messages = batch.messages.len() as u64;
    let mut payload = batch.encode();
    let durable = loop {
        match appender.try_append(payload) {
            Ok(rx) => break rx,
            Err((refused, back)) => match on_refusal(policy, refused) {
                OnRefusal::Retry => {
                    payload = back;
                    tokio::time::sleep(RETRY_EVERY).await;
                }
                OnRefusal::GiveUp(reason) => {
                    if let Some(reason) = reason {
                        counters.count_drop(reason, messages);
                    }
                    return Delivery::Refused(refused);
                }
            },
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
            count_failure(policy, counters, messages);
            Delivery::Failed(e)
        }
        Err(_) => {
            count_failure(policy, counters, messages);
            Delivery::Failed("the journal writer stopped".to_owned())
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use vigie_event::{SourceKind, TenantId, Timestamp};
    use vigie_journal::JournalConfig;
    use vigie_journal::record::Framing;

    use super::*;

    fn batch(messages: usize) -> Batch {
        Batch {
            tenant: TenantId::new("t").unwrap(),
            kind: SourceKind::SyslogTcp,
            source: "s".to_owned(),
            logsource: String::new(),
            framing: Framing::Syslog,
            received: Timestamp::now(),
            idempotency_key: String::new(),
            messages: (0..messages)
                .map(|i| Bytes::from(format!("<13>message {i}")))
                .collect(),
        }
    }

    #[tokio::test]
    async fn a_taken_batch_is_durable_or_queued_and_counted_journaled() {
        let dir = tempfile::tempdir().unwrap();
        let (writer, shared) = vigie_journal::open(dir.path(), JournalConfig::default()).unwrap();
        let (appender, _thread) = vigie_journal::committer::spawn(writer, 16).unwrap();
        for policy in [Backpressure::Refuse, Backpressure::Wait] {
            let counters = Arc::new(SourceCounters::default());
            let delivery = hand_over(&appender, &batch(3), policy, &counters).await;
            assert!(
                matches!(delivery, Delivery::Durable(_)),
                "{policy:?}: {delivery:?}"
            );
            assert_eq!(counters.journaled.load(Ordering::Relaxed), 3);
        }
        let before = shared.durable_end();
        let counters = Arc::new(SourceCounters::default());
        let delivery = hand_over(&appender, &batch(2), Backpressure::DropAndCount, &counters).await;
        assert_eq!(delivery, Delivery::Queued);
        // Counted once the background task saw the fsync.
        for _ in 0..500 {
            if counters.journaled.load(Ordering::Relaxed) == 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(counters.journaled.load(Ordering::Relaxed), 2);
        assert!(shared.durable_end() > before);
    }

    #[test]
    fn each_policy_answers_a_refusal_its_way() {
        use Backpressure::{DropAndCount, Refuse, Wait};
        use OnRefusal::{GiveUp, Retry};
        assert_eq!(on_refusal(Refuse, Refused::Full), GiveUp(None));
        assert_eq!(on_refusal(Refuse, Refused::Closed), GiveUp(None));
        assert_eq!(
            on_refusal(DropAndCount, Refused::Full),
            GiveUp(Some(DropReason::QueueFull))
        );
        assert_eq!(
            on_refusal(DropAndCount, Refused::Closed),
            GiveUp(Some(DropReason::Shutdown))
        );
        assert_eq!(on_refusal(Wait, Refused::Full), Retry);
        assert_eq!(
            on_refusal(Wait, Refused::Closed),
            GiveUp(Some(DropReason::Shutdown))
        );
        assert!(!failure_is_a_drop(Refuse));
        assert!(failure_is_a_drop(DropAndCount));
        assert!(failure_is_a_drop(Wait));
    }

    #[test]
    fn a_failed_write_is_counted_as_a_drop_only_when_the_sender_keeps_nothing() {
        for (policy, dropped) in [
            (Backpressure::Refuse, 0),
            (Backpressure::Wait, 4),
            (Backpressure::DropAndCount, 4),
        ] {
            let counters = SourceCounters::default();
            count_failure(policy, &counters, 4);
            assert_eq!(counters.dropped_total(), dropped, "{policy:?}");
            assert_eq!(
                counters.dropped(DropReason::JournalError),
                dropped,
                "{policy:?}"
            );
        }
    }
}
