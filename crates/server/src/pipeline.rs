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
//! 2. writes the alerts of the applied records (deduplicated by rule and event),
//! 3. saves the checkpoint (the position after the last applied record).
//!
//! A crash between any two steps replays records after the checkpoint: the store skips ids
//! it has, the state skips alerts it has. Correlation windows are in memory: a restart
//! loses the part of a window before the checkpoint (documented limit).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, SyncSender, channel, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use vigie_event::{Decoder, Event, Origin, Source, TenantId};
use vigie_sigma::{CorrelationEngine, CorrelationMatch, Limits, RuleMatcher};
use vigie_state::{AlertKind, NewAlert, State};
use vigie_store::Store;

use crate::journal::{Entry, Reader, Shared};
use crate::metrics::Metrics;
use crate::record::{Batch, Framing, event_id};
use crate::rules::{RuleBook, Rules};
use crate::{ServerError, ingest, render};

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
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// The runtime the state database's async calls run on.
    pub runtime: tokio::runtime::Handle,
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
                    if let Err(e) = coordinate(&parts, &config, &stop) {
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
            Some(message) => Err(ServerError::Io {
                what: "pipeline".to_owned(),
                source: std::io::Error::other(message),
            }),
            None => Ok(()),
        }
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

/// A record handed to a worker.
struct Job {
    seq: u64,
    entry: Entry,
}

/// What a worker returns for a record.
struct Done {
    seq: u64,
    next: u64,
    generation: u64,
    alerts: Vec<NewAlert>,
    /// Events at least one correlation listens to, with the rules they matched.
    correlate: Vec<(Vec<usize>, Event)>,
    error: Option<String>,
}

fn coordinate(
    parts: &Parts,
    config: &PipelineConfig,
    stop: &AtomicBool,
) -> Result<(), ServerError> {
    let workers = config.workers.max(1);
    let (jobs_tx, jobs_rx) = sync_channel::<Job>(workers * 4);
    let jobs_rx = Arc::new(Mutex::new(jobs_rx));
    let (done_tx, done_rx) = channel::<Done>();
    let mut handles = Vec::new();
    for i in 0..workers {
        let jobs = Arc::clone(&jobs_rx);
        let done = done_tx.clone();
        let parts = parts.clone();
        handles.push(
            std::thread::Builder::new()
                .name(format!("vigie-worker-{i}"))
                .spawn(move || work(&parts, &jobs, &done))
                .map_err(ServerError::io("cannot start a pipeline worker"))?,
        );
    }
    drop(done_tx);
    let result = run(parts, config, stop, &jobs_tx, &done_rx, workers * 8);
    drop(jobs_tx);
    for h in handles {
        let _ = h.join();
    }
    result
}

/// Correlation engines per tenant, of one rule generation.
struct Correlations {
    generation: u64,
    engines: HashMap<TenantId, CorrelationEngine>,
}

fn run(
    parts: &Parts,
    config: &PipelineConfig,
    stop: &AtomicBool,
    jobs: &SyncSender<Job>,
    done: &Receiver<Done>,
    max_in_flight: usize,
) -> Result<(), ServerError> {
    let journal = &parts.journal;
    let mut reader = Reader::new(Arc::clone(journal), journal.checkpoint());
    let mut next_seq = 0u64;
    let mut apply_seq = 0u64;
    let mut waiting: BTreeMap<u64, Done> = BTreeMap::new();
    let mut in_flight = 0usize;
    let mut applied = journal.checkpoint();
    let mut alerts: Vec<NewAlert> = Vec::new();
    let mut last_commit = Instant::now();
    let mut book = parts.rules.current();
    let mut correlations = Correlations {
        generation: book.generation,
        engines: HashMap::new(),
    };
    let mut found: Vec<CorrelationMatch> = Vec::new();
    loop {
        let stopping = stop.load(Ordering::Acquire);
        // Feed the workers.
        let mut caught_up = false;
        while in_flight < max_in_flight {
            let wait = if in_flight == 0 && !stopping {
                Duration::from_millis(50)
            } else {
                Duration::ZERO
            };
            match reader
                .next(wait)
                .map_err(ServerError::io("cannot read the journal"))?
            {
                Some(entry) => {
                    let job = Job {
                        seq: next_seq,
                        entry,
                    };
                    next_seq += 1;
                    in_flight += 1;
                    if jobs.send(job).is_err() {
                        return Err(ServerError::Io {
                            what: "pipeline".to_owned(),
                            source: std::io::Error::other("every worker stopped"),
                        });
                    }
                }
                None => {
                    caught_up = true;
                    break;
                }
            }
        }
        // Take results back, in order.
        if in_flight > 0 {
            match done.recv_timeout(Duration::from_millis(20)) {
                Ok(d) => {
                    waiting.insert(d.seq, d);
                    while let Ok(d) = done.try_recv() {
                        waiting.insert(d.seq, d);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(ServerError::Io {
                        what: "pipeline".to_owned(),
                        source: std::io::Error::other("every worker stopped"),
                    });
                }
            }
        }
        while let Some(d) = waiting.remove(&apply_seq) {
            apply_seq += 1;
            in_flight -= 1;
            if let Some(e) = d.error {
                return Err(ServerError::Io {
                    what: "pipeline worker".to_owned(),
                    source: std::io::Error::other(e),
                });
            }
            applied = d.next;
            alerts.extend(d.alerts);
            if !d.correlate.is_empty() {
                if parts.rules.generation() != correlations.generation {
                    book = parts.rules.current();
                    reload_correlations(&mut correlations, &book);
                }
                if d.generation != correlations.generation {
                    parts
                        .metrics
                        .pipeline
                        .stale_matches
                        .fetch_add(d.correlate.len() as u64, Ordering::Relaxed);
                    continue;
                }
                for (rules, event) in &d.correlate {
                    let engine = correlations
                        .engines
                        .entry(event.tenant.clone())
                        .or_insert_with(|| {
                            CorrelationEngine::new(
                                Arc::clone(&book.correlations),
                                Limits::default(),
                            )
                        });
                    for &rule in rules {
                        engine.on_rule_match(rule, event, &mut found);
                    }
                    for m in found.drain(..) {
                        alerts.push(correlation_alert(&book, &event.tenant, m, event));
                    }
                }
            }
        }
        let due = last_commit.elapsed() >= config.commit_interval;
        let drained = in_flight == 0 && caught_up;
        let progress = applied > journal.checkpoint() || !alerts.is_empty();
        if (due || (stopping && drained)) && progress {
            commit(parts, &mut alerts, applied)?;
        }
        if due {
            last_commit = Instant::now();
        }
        if stopping && drained {
            return Ok(());
        }
    }
}

fn reload_correlations(correlations: &mut Correlations, book: &RuleBook) {
    correlations.generation = book.generation;
    for engine in correlations.engines.values_mut() {
        engine.reload(Arc::clone(&book.correlations));
    }
}

/// Store commit, then alerts, then checkpoint: see the module documentation.
fn commit(parts: &Parts, alerts: &mut Vec<NewAlert>, applied: u64) -> Result<(), ServerError> {
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
    parts
        .journal
        .save_checkpoint(applied)
        .map_err(ServerError::io("cannot save the journal checkpoint"))
}

fn correlation_alert(
    book: &RuleBook,
    tenant: &TenantId,
    m: CorrelationMatch,
    last: &Event,
) -> NewAlert {
    let meta = &book.correlation_rules[m.correlation];
    let mut matched = serde_json::Map::new();
    for (k, v) in &m.group {
        matched.insert(k.clone(), v.clone().into());
    }
    matched.insert("value".to_owned(), m.value.into());
    matched.insert(
        "first".to_owned(),
        m.first.to_rfc3339(vigie_event::UtcOffset::UTC).into(),
    );
    matched.insert(
        "events".to_owned(),
        m.events
            .iter()
            .map(|id| serde_json::Value::from(id.to_string()))
            .collect::<Vec<_>>()
            .into(),
    );
    NewAlert {
        tenant: tenant.clone(),
        kind: AlertKind::Correlation,
        rule_id: meta.id.clone(),
        rule_title: meta.title.clone(),
        level: meta.level.clone(),
        tags: meta.tags.clone(),
        event_id: m.events.last().copied().unwrap_or(last.id),
        event_time: m.last,
        host: last.host.as_deref().map(str::to_owned),
        matched: serde_json::Value::Object(matched),
    }
}

/// Decoders of one worker, by (tenant, source kind, source name, logsource).
type Decoders = HashMap<(TenantId, u8, String, String), Decoder>;

fn work(parts: &Parts, jobs: &Mutex<Receiver<Job>>, done: &Sender<Done>) {
    let mut book = parts.rules.current();
    let mut matcher = RuleMatcher::new(Arc::clone(&book.set));
    let mut decoders: Decoders = HashMap::new();
    let mut matches: Vec<usize> = Vec::new();
    loop {
        let job = {
            let rx = jobs.lock().unwrap_or_else(|p| p.into_inner());
            rx.recv()
        };
        let Ok(Job { seq, entry }) = job else { return };
        if parts.rules.generation() != book.generation {
            book = parts.rules.current();
            matcher = RuleMatcher::new(Arc::clone(&book.set));
        }
        let mut result = Done {
            seq,
            next: entry.next,
            generation: book.generation,
            alerts: Vec::new(),
            correlate: Vec::new(),
            error: None,
        };
        if let Err(e) = process(
            parts,
            entry,
            &book,
            &mut matcher,
            &mut decoders,
            &mut matches,
            &mut result,
        ) {
            result.error = Some(e.to_string());
        }
        if done.send(result).is_err() {
            return;
        }
    }
}

fn process(
    parts: &Parts,
    entry: Entry,
    book: &RuleBook,
    matcher: &mut RuleMatcher,
    decoders: &mut Decoders,
    matches: &mut Vec<usize>,
    out: &mut Done,
) -> Result<(), ServerError> {
    let position = entry.position;
    // The messages of the batch are slices of this one buffer: no copy per message.
    let batch = match Batch::decode(Bytes::from(entry.payload)) {
        Ok(b) => b,
        Err(e) => {
            parts
                .metrics
                .pipeline
                .bad_records
                .fetch_add(1, Ordering::Relaxed);
            tracing::error!(position, error = %e, "pipeline: journal record skipped");
            return Ok(());
        }
    };
    if decoders.len() > 256 {
        decoders.clear();
    }
    let key = (
        batch.tenant.clone(),
        batch.kind as u8,
        batch.source.clone(),
        batch.logsource.clone(),
    );
    let decoder = decoders.entry(key).or_insert_with(|| {
        let mut origin = Origin::new(batch.tenant.clone(), Source::new(batch.kind, &batch.source));
        // Checked when the batch was accepted; a bad one here means "classify".
        origin.logsource = ingest::parse_logsource(&batch.logsource).ok().flatten();
        Decoder::new(origin)
    });
    decoder.set_received(Some(batch.received));
    let epoch = parts.journal.epoch();
    let mut rejected = 0u64;
    let mut stored = 0u64;
    let mut events = Vec::with_capacity(batch.messages.len());
    for (index, message) in batch.messages.into_iter().enumerate() {
        let decoded = match batch.framing {
            Framing::Json => decoder.decode_json(message),
            Framing::Syslog => decode_syslog(decoder, message),
        };
        let mut event = match decoded {
            Ok(e) => e,
            Err(e) => {
                rejected += 1;
                tracing::debug!(tenant = %batch.tenant, source = %batch.source, error = %e, "message does not decode");
                continue;
            }
        };
        event.id = event_id(batch.received, epoch, position, index);
        matches.clear();
        matcher.for_each_match(&event, |r| matches.push(r));
        let mut listened = Vec::new();
        for &r in matches.iter() {
            let meta = &book.rules[r];
            if meta.alerts {
                let matched: serde_json::Map<String, serde_json::Value> = book
                    .set
                    .matched_fields(r, &event)
                    .into_iter()
                    .map(|(k, v)| (k, render::value(v)))
                    .collect();
                out.alerts.push(NewAlert {
                    tenant: event.tenant.clone(),
                    kind: AlertKind::Rule,
                    rule_id: meta.id.clone(),
                    rule_title: meta.title.clone(),
                    level: meta.level.clone(),
                    tags: meta.tags.clone(),
                    event_id: event.id,
                    event_time: event.time,
                    host: event.host.as_deref().map(str::to_owned),
                    matched: serde_json::Value::Object(matched),
                });
            }
            if book.listened[r] {
                listened.push(r);
            }
        }
        if !listened.is_empty() {
            out.correlate.push((listened, event.clone()));
        }
        events.push(event);
    }
    for event in events {
        parts.store.add(event)?;
        stored += 1;
    }
    if rejected > 0 {
        parts
            .metrics
            .source(batch.tenant.as_str(), &batch.source)
            .rejected
            .fetch_add(rejected, Ordering::Relaxed);
    }
    parts
        .metrics
        .pipeline
        .events
        .fetch_add(stored, Ordering::Relaxed);
    Ok(())
}

/// A syslog message, with CEF or LEEF inside when it carries their marker.
pub fn decode_syslog(
    decoder: &mut Decoder,
    message: Bytes,
) -> Result<Event, vigie_event::DecodeError> {
    let head = &message[..message.len().min(1024)];
    // A message that only mentions a marker in its text is plain syslog.
    if memchr::memmem::find(head, b"CEF:").is_some()
        && let Ok(event) = decoder.decode_cef(message.clone())
    {
        return Ok(event);
    }
    if memchr::memmem::find(head, b"LEEF:").is_some()
        && let Ok(event) = decoder.decode_leef(message.clone())
    {
        return Ok(event);
    }
    decoder.decode_syslog(message)
}

/// Whether the pipeline has processed everything made durable so far.
pub fn caught_up(journal: &Shared) -> bool {
    journal.checkpoint() >= journal.durable_end()
}
