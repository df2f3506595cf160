//! The audit writer: requests hand their records over and wait until they are committed;
//! one task appends whatever has gathered in one transaction (group commit), so a busy API
//! pays one database commit per batch rather than one per request, and the records of one
//! chain are appended in the order they arrived.
//!
//! A request's answer leaves only after its record is committed: a read that could not be
//! audited is answered with an error, never silently.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use vigie_state::State;
use vigie_state::audit::AuditEntry;

/// Records waiting for the writer at most; beyond, requests wait for room (backpressure
/// rather than memory growth).
pub const QUEUE: usize = 4096;

/// Records appended in one transaction at most.
pub const BATCH: usize = 512;

type Reply = oneshot::Sender<Result<u64, String>>;

/// The front door of the audit writer. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Auditor {
    tx: mpsc::Sender<(AuditEntry, Reply)>,
    written: Arc<std::sync::atomic::AtomicU64>,
}

impl Auditor {
    /// Starts the writer on `state`; it stops when every `Auditor` is dropped.
    pub fn start(state: State) -> Auditor {
        let (tx, rx) = mpsc::channel(QUEUE);
        let written = Arc::new(std::sync::atomic::AtomicU64::new(0));
        tokio::spawn(run(state, rx, written.clone()));
        Auditor { tx, written }
    }

    /// Appends `entry` and waits until it is committed; returns its sequence number.
    pub async fn record(&self, entry: AuditEntry) -> Result<u64, String> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send((entry, reply))
            .await
            .map_err(|_| "the audit writer stopped".to_owned())?;
        answer
            .await
            .map_err(|_| "the audit writer stopped".to_owned())?
    }

    /// Records committed since the start.
    pub fn written(&self) -> u64 {
        self.written.load(std::sync::atomic::Ordering::Relaxed)
    }
}

async fn run(
    state: State,
    mut rx: mpsc::Receiver<(AuditEntry, Reply)>,
    written: Arc<std::sync::atomic::AtomicU64>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        let (entries, replies): (Vec<AuditEntry>, Vec<Reply>) = batch.drain(..).unzip();
        match state.append_audit(&entries).await {
            Ok(seqs) => {
                written.fetch_add(seqs.len() as u64, std::sync::atomic::Ordering::Relaxed);
                for (reply, seq) in replies.into_iter().zip(seqs) {
                    let _ = reply.send(Ok(seq));
                }
            }
            Err(e) => {
                let message = e.to_string();
                for reply in replies {
                    let _ = reply.send(Err(message.clone()));
                }
            }
        }
    }
}
