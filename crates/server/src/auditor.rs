//! The audit writer: requests hand their records over and wait until they are committed;
//! one task appends whatever has gathered in one transaction (group commit), so a busy API
//! pays one database commit per batch rather than one per request, and the records of one
//! chain are appended in the order they arrived.
//!
//! A request's answer leaves only after its record is committed: a read that could not be
//! audited is answered with an error, never silently.
//!
//! The same task signs checkpoints: for each chain it keeps the head and the Merkle root
//! (a compact range, O(log n)), and every `audit.checkpoint_every` records, or
//! `audit.checkpoint_interval_s` after the last checkpoint of a chain that grew, it signs
//! one with the instance key, keeps it in the database, appends it to
//! `audit.checkpoint_file` and hands it to the delivery to `audit.checkpoint_url`. A chain that another node appended to in between is read again
//! from the database before its next checkpoint.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use vigie_govern::audit::checkpoint::{Checkpoint, sign};
use vigie_govern::audit::{CompactRange, GENESIS, Hash};
use vigie_state::State;
use vigie_state::audit::{Appended, AuditEntry};

use crate::config::Audit as AuditConfig;
use crate::secrets::{KEY_NAME, Secrets};

/// Records waiting for the writer at most; beyond, requests wait for room (backpressure
/// rather than memory growth).
pub const QUEUE: usize = 4096;

/// Records appended in one transaction at most.
pub const BATCH: usize = 512;

type Reply = oneshot::Sender<Result<u64, String>>;

enum Message {
    Record(Box<AuditEntry>, Reply),
    Checkpoint(oneshot::Sender<Result<usize, String>>),
}

/// The front door of the audit writer. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Auditor {
    tx: mpsc::Sender<Message>,
    written: Arc<AtomicU64>,
}

/// The origin line of a chain's checkpoints.
pub fn origin(chain: &str) -> String {
    format!("vigie/{chain}")
}

impl Auditor {
    /// Starts the writer on `state`; it stops when every `Auditor` is dropped.
    pub fn start(state: State, secrets: Arc<Secrets>, config: AuditConfig) -> Auditor {
        let (tx, rx) = mpsc::channel(QUEUE);
        let written = Arc::new(AtomicU64::new(0));
        let pusher = config
            .checkpoint_url
            .clone()
            .map(crate::checkpoint_push::Pusher::start);
        let writer = Writer {
            state,
            secrets,
            config,
            chains: HashMap::new(),
            pusher,
        };
        tokio::spawn(writer.run(rx, written.clone()));
        Auditor { tx, written }
    }

    /// Appends `entry` and waits until it is committed; returns its sequence number.
    pub async fn record(&self, entry: AuditEntry) -> Result<u64, String> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Message::Record(Box::new(entry), reply))
            .await
            .map_err(|_| "the audit writer stopped".to_owned())?;
        answer
            .await
            .map_err(|_| "the audit writer stopped".to_owned())?
    }

    /// Signs a checkpoint of every chain that grew since its last one, now (at shutdown,
    /// and for tests); returns how many.
    pub async fn checkpoint_now(&self) -> Result<usize, String> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Message::Checkpoint(reply))
            .await
            .map_err(|_| "the audit writer stopped".to_owned())?;
        answer
            .await
            .map_err(|_| "the audit writer stopped".to_owned())?
    }

    /// Records committed since the start.
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }
}

/// What the writer knows of one chain.
struct Chain {
    range: CompactRange,
    head: Hash,
    checkpointed: u64,
    checkpointed_at: Instant,
    /// Another writer appended in between: read it again before the next checkpoint.
    stale: bool,
}

struct Writer {
    state: State,
    secrets: Arc<Secrets>,
    config: AuditConfig,
    chains: HashMap<String, Chain>,
    pusher: Option<crate::checkpoint_push::Pusher>,
}

impl Writer {
    async fn run(mut self, mut rx: mpsc::Receiver<Message>, written: Arc<AtomicU64>) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut batch = Vec::with_capacity(BATCH);
        loop {
            tokio::select! {
                n = rx.recv_many(&mut batch, BATCH) => {
                    if n == 0 {
                        break;
                    }
                    let mut entries = Vec::new();
                    let mut replies = Vec::new();
                    for message in batch.drain(..) {
                        match message {
                            Message::Record(entry, reply) => {
                                entries.push(*entry);
                                replies.push(reply);
                            }
                            Message::Checkpoint(reply) => {
                                let _ = reply.send(self.checkpoint(true).await);
                            }
                        }
                    }
                    if entries.is_empty() {
                        continue;
                    }
                    match self.state.append_audit(&entries).await {
                        Ok(appended) => {
                            written.fetch_add(appended.len() as u64, Ordering::Relaxed);
                            for (entry, a) in entries.iter().zip(&appended) {
                                self.track(&entry.chain, a).await;
                            }
                            for (reply, a) in replies.into_iter().zip(appended) {
                                let _ = reply.send(Ok(a.seq));
                            }
                            // A failed checkpoint is retried at the next tick; the records
                            // are committed and their answers already sent.
                            let _ = self.checkpoint(false).await;
                        }
                        Err(e) => {
                            let message = e.to_string();
                            for reply in replies {
                                let _ = reply.send(Err(message.clone()));
                            }
                        }
                    }
                }
                _ = tick.tick() => {
                    let _ = self.checkpoint(false).await;
                }
            }
        }
        let _ = self.checkpoint(true).await;
    }

    /// Follows `chain` after `appended` was written to it. The first time this process
    /// sees a chain it reads it whole (the record just written included).
    async fn track(&mut self, chain: &str, appended: &Appended) {
        let Some(entry) = self.chains.get_mut(chain) else {
            if self.reload(chain).await.is_err()
                && let Some(c) = self.chains.get_mut(chain)
            {
                c.stale = true;
            }
            return;
        };
        if !entry.stale && entry.range.size() + 1 == appended.seq {
            entry.range.push(appended.leaf);
            entry.head = appended.head;
        } else {
            entry.stale = true;
        }
    }

    /// Reads `chain` from the database into `self.chains` (after another writer, or at
    /// the first record of this process).
    async fn reload(&mut self, name: &str) -> Result<(), String> {
        let mut range = CompactRange::new();
        let mut head = GENESIS;
        loop {
            let page = self
                .state
                .audit_stored(name, range.size(), 10_000)
                .await
                .map_err(|e| e.to_string())?;
            if page.is_empty() {
                break;
            }
            for r in &page {
                range.push(r.leaf);
                head = r.chain;
            }
        }
        let checkpointed = self
            .state
            .checkpoints()
            .await
            .map_err(|e| e.to_string())?
            .iter()
            .filter(|(c, _, _)| c == name)
            .map(|(_, size, _)| *size)
            .max()
            .unwrap_or(0);
        let chain = self.chains.entry(name.to_owned()).or_insert_with(|| Chain {
            range: CompactRange::new(),
            head: GENESIS,
            checkpointed: 0,
            checkpointed_at: Instant::now(),
            stale: true,
        });
        chain.range = range;
        chain.head = head;
        chain.checkpointed = checkpointed;
        chain.stale = false;
        Ok(())
    }

    /// Signs the checkpoints due (all that grew when `force`).
    async fn checkpoint(&mut self, force: bool) -> Result<usize, String> {
        let every = self.config.checkpoint_every.max(1);
        let interval = Duration::from_secs(self.config.checkpoint_interval_s.max(1));
        let due: Vec<String> = self
            .chains
            .iter()
            .filter(|(_, c)| {
                let grown = c.stale || c.range.size() > c.checkpointed;
                grown
                    && (force
                        || c.range.size() >= c.checkpointed + every
                        || c.checkpointed_at.elapsed() >= interval)
            })
            .map(|(name, _)| name.clone())
            .collect();
        let mut signed = 0;
        for name in due {
            if self.chains.get(&name).is_some_and(|c| c.stale) {
                self.reload(&name).await?;
            }
            let Some(chain) = self.chains.get_mut(&name) else {
                continue;
            };
            chain.checkpointed_at = Instant::now();
            if chain.range.size() <= chain.checkpointed {
                continue;
            }
            let checkpoint = Checkpoint {
                origin: origin(&name),
                size: chain.range.size(),
                root: chain.range.root(),
                head: chain.head,
            };
            let note =
                sign(&checkpoint, KEY_NAME, self.secrets.signing()).map_err(|e| e.to_string())?;
            self.state
                .insert_checkpoint(&name, checkpoint.size, &note)
                .await
                .map_err(|e| e.to_string())?;
            if let Some(path) = &self.config.checkpoint_file {
                append_note(path, &note).map_err(|e| format!("{}: {e}", path.display()))?;
            }
            if let Some(pusher) = &self.pusher {
                pusher.push(&name, &note);
            }
            chain.checkpointed = checkpoint.size;
            signed += 1;
        }
        Ok(signed)
    }
}

/// Appends a signed note to the checkpoint file, notes separated by a blank line, synced.
fn append_note(path: &std::path::Path, note: &str) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    file.write_all(note.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_data()
}
