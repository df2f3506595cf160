//! Group commit: one thread owns the [`Writer`]; requests queued while it fsyncs share the
//! next fsync, so the fsync cost is paid once per group, not once per request.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError, sync_channel};
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use super::{Shared, Writer};

/// Bytes gathered into one group at most (a group is written then fsynced once).
const MAX_GROUP_BYTES: usize = 32 << 20;

/// The answer to an append: the record's position once durable, or why it is not.
pub type Durable = Result<u64, String>;

struct Request {
    payload: Vec<u8>,
    reply: oneshot::Sender<Durable>,
}

/// Why an append was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The queue in front of the writer is full: the caller should push back (HTTP 503,
    /// slower TCP reads) or drop and count (UDP).
    Full,
    /// The journal is shutting down.
    Closed,
}

/// Queues records for the writer thread. Cheap to clone.
#[derive(Clone)]
pub struct Appender {
    tx: SyncSender<Request>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Appender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Appender").finish_non_exhaustive()
    }
}

impl Appender {
    /// Queues `payload`; the receiver resolves once it is durable. Never blocks; a refused
    /// payload is handed back (to retry it).
    pub fn try_append(
        &self,
        payload: Vec<u8>,
    ) -> Result<oneshot::Receiver<Durable>, (Refused, Vec<u8>)> {
        let (reply, rx) = oneshot::channel();
        match self.tx.try_send(Request { payload, reply }) {
            Ok(()) => Ok(rx),
            Err(TrySendError::Full(r)) => Err((Refused::Full, r.payload)),
            Err(TrySendError::Disconnected(r)) => Err((Refused::Closed, r.payload)),
        }
    }

    /// The journal's shared state.
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }
}

/// Starts the writer thread with a queue of `queue` requests. The thread ends (after
/// answering everything queued) when every [`Appender`] is dropped.
pub fn spawn(writer: Writer, queue: usize) -> std::io::Result<(Appender, JoinHandle<()>)> {
    let (tx, rx) = sync_channel(queue.max(1));
    let shared = Arc::clone(writer.shared());
    let handle = std::thread::Builder::new()
        .name("vigie-journal".to_owned())
        .spawn(move || run(writer, rx))?;
    Ok((Appender { tx, shared }, handle))
}

fn run(mut writer: Writer, rx: Receiver<Request>) {
    let mut group: Vec<Request> = Vec::new();
    let mut positions: Vec<Durable> = Vec::new();
    while let Ok(first) = rx.recv() {
        let mut bytes = first.payload.len();
        group.push(first);
        while bytes < MAX_GROUP_BYTES {
            match rx.try_recv() {
                Ok(request) => {
                    bytes += request.payload.len();
                    group.push(request);
                }
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        positions.clear();
        for request in &group {
            positions.push(writer.append(&request.payload).map_err(|e| e.to_string()));
        }
        let synced = writer.sync();
        for (request, position) in group.drain(..).zip(positions.drain(..)) {
            let answer = match &synced {
                Ok(_) => position,
                Err(e) => Err(format!("journal fsync failed: {e}")),
            };
            if let Err(e) = &answer {
                tracing::error!(error = %e, "journal: append failed");
            }
            // A caller that gave up (client gone) does not need the answer.
            let _ = request.reply.send(answer);
        }
    }
}
