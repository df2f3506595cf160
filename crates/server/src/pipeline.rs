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
//!
//! No record can stop the pipeline. A record that fails — a panic while decoding, matching
//! or storing it (caught per record), more messages than its tenant's
//! `max_events_per_batch`, a payload that does not read back — is written to the
//! [`Quarantine`] with the reason before the checkpoint passes it, counted, and the pipeline
//! goes on. Only a failure of the server's own storage (store, state, quarantine, journal)
//! stops it, shown at `/api/v1/ready`; a restart then retries, as nothing was lost.
//! Quarantined records asked to be retried are handed to the workers again with their
//! original position, so their event ids are the same and the store drops what a first,
//! failed attempt had stored.
//!
//! A record's events go to the store as they are decoded, so a worker holds one event at a
//! time (and the record's alerts), not the decoded record.

use std::collections::{BTreeMap, HashMap};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, SyncSender, channel, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use vigie_detect::{Alert, Detector, RuleBook, Rules};
use vigie_event::{Decoder, Event, Origin, Source, TenantId};
use vigie_sigma::{CorrelationEngine, CorrelationMatch, Limits};
use vigie_state::{AlertKind, NewAlert, State};
use vigie_store::Store;

use crate::ServerError;
use crate::limits::{Quotas, TimeVerdict, judge_time};
use crate::metrics::Metrics;
use crate::quarantine::{self, Quarantine};
use vigie_journal::record::{Batch, Framing, IdKey};
use vigie_journal::{Entry, Reader, Shared};

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
    /// Per-tenant bounds and budgets.
    pub quotas: Arc<Quotas>,
    /// Where failing records go.
    pub quarantine: Quarantine,
    /// The key event ids are minted with.
    pub id_key: Arc<IdKey>,
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
    /// The journal epoch its ids are minted with.
    epoch: u8,
    /// Set when this is a quarantined record processed again.
    retry: Option<quarantine::Entry>,
}

/// Why a record failed: the record's fault, or the server's.
enum Failure {
    /// The record cannot be processed (bound, unreadable, panic): it goes to the quarantine.
    Record(String),
    /// The server's storage failed: the pipeline stops, the record stays in the journal.
    Server(ServerError),
}

impl From<ServerError> for Failure {
    fn from(e: ServerError) -> Failure {
        Failure::Server(e)
    }
}

/// What a worker returns for a record.
struct Done {
    seq: u64,
    /// The position after the record (`None` for a retry, which moves no checkpoint).
    next: Option<u64>,
    generation: u64,
    alerts: Vec<NewAlert>,
    /// Events at least one correlation listens to, with the rules they matched.
    correlate: Vec<(Vec<usize>, Event)>,
    /// The storage failed: the pipeline stops.
    error: Option<String>,
    /// The record failed: (the entry to quarantine, its payload).
    quarantine: Option<(quarantine::Entry, Bytes)>,
    /// The quarantine entry this record came from, when it was a retry.
    retry: Option<quarantine::Entry>,
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
    // Quarantined records retried since the last commit, removed once it is done.
    let mut retried: Vec<quarantine::Entry> = Vec::new();
    // Quarantined records handed to a worker and not yet settled (never handed out twice).
    let mut retrying: std::collections::HashSet<(String, String)> =
        std::collections::HashSet::new();
    let mut last_retry_scan: Option<Instant> = None;
    loop {
        let stopping = stop.load(Ordering::Acquire);
        // Quarantined records asked to be retried, once per commit interval.
        if !stopping
            && in_flight < max_in_flight
            && last_retry_scan.is_none_or(|t| t.elapsed() >= config.commit_interval)
        {
            last_retry_scan = Some(Instant::now());
            for job in retry_jobs(parts, &mut next_seq, max_in_flight - in_flight, &retrying) {
                if let Some(entry) = &job.retry {
                    retrying.insert((entry.tenant.clone(), entry.id.clone()));
                }
                in_flight += 1;
                if jobs.send(job).is_err() {
                    return Err(ServerError::Io {
                        what: "pipeline".to_owned(),
                        source: std::io::Error::other("every worker stopped"),
                    });
                }
            }
        }
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
                        epoch: journal.epoch(),
                        retry: None,
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
            if let Some((entry, payload)) = d.quarantine {
                if d.retry.is_some() {
                    retrying.remove(&(entry.tenant.clone(), entry.id.clone()));
                }
                set_aside(parts, entry, &payload)?;
            } else if let Some(entry) = d.retry.clone() {
                retried.push(entry);
            }
            if let Some(next) = d.next {
                applied = next;
            }
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
                        alerts.push(alert_record(
                            Alert::of_correlation(&book, &event.tenant, m),
                            event,
                        ));
                    }
                }
            }
        }
        let due = last_commit.elapsed() >= config.commit_interval;
        let drained = in_flight == 0 && caught_up;
        let progress = applied > journal.checkpoint() || !alerts.is_empty() || !retried.is_empty();
        if (due || (stopping && drained)) && progress {
            commit(parts, &mut alerts, applied)?;
            for entry in retried.drain(..) {
                retrying.remove(&(entry.tenant.clone(), entry.id.clone()));
                parts.quarantine.remove(&entry.tenant, &entry.id)?;
                parts
                    .metrics
                    .pipeline
                    .retried
                    .fetch_add(1, Ordering::Relaxed);
                tracing::info!(tenant = %entry.tenant, id = %entry.id, "quarantined record processed again: removed from the quarantine");
            }
        }
        if due {
            last_commit = Instant::now();
        }
        if stopping && drained {
            return Ok(());
        }
    }
}

/// Jobs for the quarantined records waiting for a retry (at most `room`), but those in
/// `retrying`.
fn retry_jobs(
    parts: &Parts,
    next_seq: &mut u64,
    room: usize,
    retrying: &std::collections::HashSet<(String, String)>,
) -> Vec<Job> {
    let waiting = match parts.quarantine.retries() {
        Ok(w) => w,
        Err(e) => {
            tracing::error!(error = %e, "cannot list the quarantine's retries");
            return Vec::new();
        }
    };
    let mut jobs = Vec::new();
    let waiting = waiting
        .into_iter()
        .filter(|e| !retrying.contains(&(e.tenant.clone(), e.id.clone())));
    for entry in waiting.take(room) {
        let payload = match parts.quarantine.payload(&entry.tenant, &entry.id) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "cannot read a quarantined record");
                continue;
            }
        };
        jobs.push(Job {
            seq: *next_seq,
            entry: Entry {
                position: entry.position,
                next: entry.position,
                payload,
            },
            epoch: entry.epoch,
            retry: Some(entry),
        });
        *next_seq += 1;
    }
    jobs
}

/// Writes a failed record to the quarantine and counts it.
fn set_aside(parts: &Parts, entry: quarantine::Entry, payload: &[u8]) -> Result<(), ServerError> {
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

/// The alert record the state keeps, of an alert of `event` (for a correlation: the
/// event that completed its window, whose host and id stand in where the window has none).
fn alert_record(alert: Alert, event: &Event) -> NewAlert {
    NewAlert {
        tenant: alert.tenant.clone(),
        kind: match alert.kind {
            vigie_detect::AlertKind::Rule => AlertKind::Rule,
            vigie_detect::AlertKind::Correlation => AlertKind::Correlation,
        },
        rule_id: alert.rule.alert_id().to_owned(),
        rule_title: alert.rule.title.clone(),
        level: alert.rule.level.as_str().to_owned(),
        tags: alert.rule.tags.clone(),
        event_id: alert.event_id.unwrap_or(event.id),
        event_time: alert.time,
        host: event.host.as_deref().map(str::to_owned),
        matched: alert.matched_json(),
    }
}

/// Decoders of one worker, by (tenant, source kind, source name, logsource).
type Decoders = HashMap<(TenantId, u8, String, String), Decoder>;

fn work(parts: &Parts, jobs: &Mutex<Receiver<Job>>, done: &Sender<Done>) {
    let mut detector = Detector::new(parts.rules.current());
    let mut decoders: Decoders = HashMap::new();
    loop {
        let job = {
            let rx = jobs.lock().unwrap_or_else(|p| p.into_inner());
            rx.recv()
        };
        let Ok(Job {
            seq,
            entry,
            epoch,
            retry,
        }) = job
        else {
            return;
        };
        if parts.rules.generation() != detector.book().generation {
            detector.set_book(parts.rules.current());
        }
        let mut result = Done {
            seq,
            next: retry.is_none().then_some(entry.next),
            generation: detector.book().generation,
            alerts: Vec::new(),
            correlate: Vec::new(),
            error: None,
            quarantine: None,
            retry: retry.clone(),
        };
        let position = entry.position;
        let payload = Bytes::from(entry.payload);
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            process(
                parts,
                position,
                epoch,
                payload.clone(),
                &mut detector,
                &mut decoders,
                &mut result,
            )
        }));
        let failure = match outcome {
            Ok(Ok(())) => None,
            Ok(Err(Failure::Server(e))) => {
                result.error = Some(e.to_string());
                None
            }
            Ok(Err(Failure::Record(reason))) => Some(reason),
            Err(panic) => {
                // What the panic left half-done is not reused.
                detector.set_book(Arc::clone(detector.book()));
                decoders.clear();
                Some(format!(
                    "panic while processing the record: {}",
                    panic_text(&*panic)
                ))
            }
        };
        if let Some(reason) = failure {
            // Alerts and correlation input of a failed record are dropped: a retry makes them.
            result.alerts.clear();
            result.correlate.clear();
            let (tenant, messages) = peek(&payload);
            let entry = quarantine::Entry {
                id: quarantine::id_of(position),
                tenant,
                position,
                epoch,
                reason,
                messages,
                bytes: payload.len() as u64,
                quarantined_at: vigie_event::Timestamp::now()
                    .to_rfc3339(vigie_event::UtcOffset::UTC),
                attempts: 1,
                retry_requested: false,
            };
            result.quarantine = Some((entry, payload));
        }
        if done.send(result).is_err() {
            return;
        }
    }
}

/// The text of a caught panic.
fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_owned()
    }
}

/// The tenant and message count of a payload, as far as they read (for a quarantine entry).
fn peek(payload: &Bytes) -> (String, u64) {
    match Batch::decode(payload.clone()) {
        Ok(b) => (b.tenant.as_str().to_owned(), b.messages.len() as u64),
        Err(_) => (quarantine::UNREADABLE.to_owned(), 0),
    }
}

/// Decodes, matches and stores the messages of one record.
#[allow(clippy::too_many_arguments)]
fn process(
    parts: &Parts,
    position: u64,
    epoch: u8,
    payload: Bytes,
    detector: &mut Detector,
    decoders: &mut Decoders,
    out: &mut Done,
) -> Result<(), Failure> {
    // The messages of the batch are slices of this one buffer: no copy per message.
    let batch = match Batch::decode(payload) {
        Ok(b) => b,
        Err(e) => {
            parts
                .metrics
                .pipeline
                .bad_records
                .fetch_add(1, Ordering::Relaxed);
            return Err(Failure::Record(e.to_string()));
        }
    };
    let quota = parts.quotas.tenant(&batch.tenant);
    let limits = &quota.limits;
    if batch.messages.len() > limits.max_events_per_batch {
        return Err(Failure::Record(format!(
            "{} messages in one record; the tenant's limits.max_events_per_batch is {}",
            batch.messages.len(),
            limits.max_events_per_batch
        )));
    }
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
        origin.logsource = vigie_event::LogSource::parse_path(&batch.logsource)
            .ok()
            .flatten()
            .map(Arc::new);
        let mut decoder = Decoder::new(origin);
        decoder.set_name_budget(Some(Arc::clone(&quota.names)));
        decoder
    });
    decoder.set_received(Some(batch.received));
    let ids = if batch.idempotency_key.is_empty() {
        parts.id_key.record(epoch, position)
    } else {
        parts.id_key.keyed(&batch.tenant, &batch.idempotency_key)
    };
    let mut rejected = 0u64;
    let mut clamped = 0u64;
    let mut stored = 0u64;
    for (index, message) in batch.messages.into_iter().enumerate() {
        let decoded = match batch.framing {
            Framing::Json => decoder.decode_json(message),
            Framing::Syslog => decoder.decode_syslog_line(message),
        };
        let mut event = match decoded {
            Ok(e) => e,
            Err(e) => {
                rejected += 1;
                tracing::debug!(tenant = %batch.tenant, source = %batch.source, error = %e, "message does not decode");
                continue;
            }
        };
        match judge_time(limits, event.time, batch.received) {
            TimeVerdict::Keep => {}
            TimeVerdict::Clamp(at) => {
                crate::intake::body::clamp_time(&mut event, at);
                clamped += 1;
            }
            TimeVerdict::Reject(why) => {
                rejected += 1;
                tracing::debug!(tenant = %batch.tenant, source = %batch.source, why, "event outside the time window");
                continue;
            }
        }
        event.id = ids.event(batch.received, index);
        let hits = detector.detect(&event);
        out.alerts
            .extend(hits.alerts(&event).map(|a| alert_record(a, &event)));
        let listened: Vec<usize> = hits.listened().collect();
        if !listened.is_empty() {
            out.correlate.push((listened, event.clone()));
        }
        parts.store.add(event).map_err(ServerError::from)?;
        stored += 1;
    }
    if rejected > 0 || clamped > 0 {
        let counters = parts.metrics.source(batch.tenant.as_str(), &batch.source);
        counters.rejected.fetch_add(rejected, Ordering::Relaxed);
        counters.clamped.fetch_add(clamped, Ordering::Relaxed);
    }
    parts
        .metrics
        .pipeline
        .events
        .fetch_add(stored, Ordering::Relaxed);
    Ok(())
}

/// Whether the pipeline has processed everything made durable so far.
pub fn caught_up(journal: &Shared) -> bool {
    journal.checkpoint() >= journal.durable_end()
}
