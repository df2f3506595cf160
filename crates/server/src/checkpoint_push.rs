//! Delivery of audit checkpoints to a URL the client controls (`audit.checkpoint_url`): each
//! signed note is POSTed as `text/plain`. Delivery runs apart from the audit writer, so a
//! slow or absent receiver never delays a request. A chain's later checkpoint covers all
//! that its earlier ones did, so only the latest undelivered note of each chain is kept and
//! retried (every 5 s, each attempt bounded to 10 s); the database and the checkpoint file
//! keep them all.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::sync::mpsc;

/// Notes waiting for the delivery task at most (beyond, the newest are kept per chain).
const QUEUE: usize = 256;

/// The delivery task's front door.
#[derive(Clone, Debug)]
pub struct Pusher {
    tx: mpsc::Sender<(String, String)>,
}

impl Pusher {
    /// Starts delivering to `url`.
    pub fn start(url: String) -> Pusher {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(url, rx));
        Pusher { tx }
    }

    /// Hands over the note of `chain` (never waits: a full queue drops it, and the next
    /// checkpoint of the chain supersedes it).
    pub fn push(&self, chain: &str, note: &str) {
        let _ = self.tx.try_send((chain.to_owned(), note.to_owned()));
    }
}

fn post(agent: &ureq::Agent, url: &str, note: &str) -> Result<(), String> {
    let response = agent
        .post(url)
        .header("Content-Type", "text/plain; charset=utf-8")
        .send(note.as_bytes())
        .map_err(|e| e.to_string())?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("HTTP {}", response.status()))
    }
}

async fn run(url: String, mut rx: mpsc::Receiver<(String, String)>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let mut pending: BTreeMap<String, String> = BTreeMap::new();
    loop {
        // Wait for a note, or retry what is pending every five seconds.
        let next = if pending.is_empty() {
            rx.recv().await
        } else {
            match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
                Ok(n) => n,
                Err(_) => Some((String::new(), String::new())),
            }
        };
        match next {
            None => return,
            Some((chain, note)) if !chain.is_empty() => {
                pending.insert(chain, note);
                while let Ok((chain, note)) = rx.try_recv() {
                    pending.insert(chain, note);
                }
            }
            Some(_) => {}
        }
        let batch: Vec<(String, String)> = pending.clone().into_iter().collect();
        let (agent, url) = (agent.clone(), url.clone());
        let delivered = tokio::task::spawn_blocking(move || {
            batch
                .into_iter()
                .filter_map(|(chain, note)| match post(&agent, &url, &note) {
                    Ok(()) => Some((chain, note)),
                    Err(e) => {
                        tracing::warn!(%url, %chain, error = %e, "audit checkpoint not delivered; retrying");
                        None
                    }
                })
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_default();
        for (chain, note) in delivered {
            if pending.get(&chain) == Some(&note) {
                pending.remove(&chain);
            }
        }
    }
}
