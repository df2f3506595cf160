//! The coordinator: feeds the workers, applies their results in journal order, commits.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, channel, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use vigie_journal::{Entry, Reader};
use vigie_state::NewAlert;

use super::commit::{Settle, Settler, commit, set_aside};
use super::correlate::Correlations;
use super::worker::{Done, Job, work};
use super::{Parts, PipelineConfig};
use crate::ServerError;
use crate::quarantine;

/// A quarantined record, by (tenant, id).
type QuarantineKey = (String, String);

/// Starts the workers, runs the coordinator loop until asked to stop (after draining), then
/// waits for the workers.
pub(super) fn coordinate(
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
    let settler = Settler::start(parts)?;
    let mut coordinator = Coordinator::new(parts, config, jobs_tx, done_rx, workers * 8, settler);
    let mut result = coordinator.run(stop);
    // The last windows handed over are written (and the last checkpoint saved) before the
    // pipeline says it stopped.
    let settled = coordinator.settler.finish();
    if result.is_ok() {
        result = settled;
    }
    drop(coordinator);
    for h in handles {
        let _ = h.join();
    }
    result
}

/// The coordinator's state between two turns of its loop.
struct Coordinator<'p> {
    parts: &'p Parts,
    config: &'p PipelineConfig,
    jobs: SyncSender<Job>,
    done: Receiver<Done>,
    max_in_flight: usize,
    reader: Reader,
    /// The sequence number of the next job, and of the next result to apply.
    next_seq: u64,
    apply_seq: u64,
    /// Results that came back before an earlier one.
    waiting: BTreeMap<u64, Done>,
    in_flight: usize,
    /// The journal position up to which results are applied.
    applied: u64,
    /// Alerts of applied results, not yet committed.
    alerts: Vec<NewAlert>,
    /// Alerts kept back by suppressions, not yet counted: id → (count, last event time).
    suppressed: std::collections::HashMap<i64, (u64, i64)>,
    /// What each (tenant, source, host) sent since the last commit, per hour.
    seen: super::commit::SeenSince,
    last_commit: Instant,
    correlations: Correlations,
    /// Quarantined records retried since the last commit, removed once it is done.
    retried: Vec<quarantine::Entry>,
    /// Quarantined records handed to a worker and not yet settled (never handed out twice).
    retrying: HashSet<QuarantineKey>,
    last_retry_scan: Option<Instant>,
    /// Writes each commit's share of the state, then the checkpoint.
    settler: Settler,
    /// The position of the last window handed to the settler.
    handed: u64,
}

fn stopped() -> ServerError {
    ServerError::Pipeline("every worker stopped".to_owned())
}

impl<'p> Coordinator<'p> {
    fn new(
        parts: &'p Parts,
        config: &'p PipelineConfig,
        jobs: SyncSender<Job>,
        done: Receiver<Done>,
        max_in_flight: usize,
        settler: Settler,
    ) -> Coordinator<'p> {
        let journal = &parts.journal;
        Coordinator {
            parts,
            config,
            jobs,
            done,
            max_in_flight,
            reader: Reader::new(Arc::clone(journal), journal.checkpoint()),
            next_seq: 0,
            apply_seq: 0,
            waiting: BTreeMap::new(),
            in_flight: 0,
            applied: journal.checkpoint(),
            alerts: Vec::new(),
            suppressed: std::collections::HashMap::new(),
            seen: super::commit::SeenSince::default(),
            last_commit: Instant::now(),
            correlations: Correlations::new(parts.rules.current()),
            retried: Vec::new(),
            retrying: HashSet::new(),
            last_retry_scan: None,
            settler,
            handed: journal.checkpoint(),
        }
    }

    /// The loop: feed, collect, apply in order, commit when due; on stop, drain then return.
    fn run(&mut self, stop: &AtomicBool) -> Result<(), ServerError> {
        loop {
            let stopping = stop.load(Ordering::Acquire);
            if !stopping {
                self.feed_retries()?;
            }
            let caught_up = self.feed_journal(stopping)?;
            self.collect()?;
            self.apply_in_order()?;
            let due = self.last_commit.elapsed() >= self.config.commit_interval;
            let drained = self.in_flight == 0 && caught_up;
            if due || (stopping && drained) {
                self.commit_progress()?;
            }
            if due {
                self.last_commit = Instant::now();
            }
            if stopping && drained {
                return Ok(());
            }
        }
    }

    /// Sends `job` to the workers.
    fn send(&mut self, job: Job) -> Result<(), ServerError> {
        self.in_flight += 1;
        self.jobs.send(job).map_err(|_| stopped())
    }

    /// Feed (retries): quarantined records asked to be retried, once per commit interval,
    /// within the room left in flight, never one already handed out.
    fn feed_retries(&mut self) -> Result<(), ServerError> {
        if self.in_flight >= self.max_in_flight
            || self
                .last_retry_scan
                .is_some_and(|t| t.elapsed() < self.config.commit_interval)
        {
            return Ok(());
        }
        self.last_retry_scan = Some(Instant::now());
        let waiting = match self.parts.quarantine.retries() {
            Ok(w) => w,
            Err(e) => {
                tracing::error!(error = %e, "cannot list the quarantine's retries");
                return Ok(());
            }
        };
        let room = self.max_in_flight - self.in_flight;
        let fresh: Vec<quarantine::Entry> = waiting
            .into_iter()
            .filter(|e| !self.retrying.contains(&(e.tenant.clone(), e.id.clone())))
            .take(room)
            .collect();
        for entry in fresh {
            let payload = match self.parts.quarantine.payload(&entry.tenant, &entry.id) {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read a quarantined record");
                    continue;
                }
            };
            self.retrying
                .insert((entry.tenant.clone(), entry.id.clone()));
            let job = Job {
                seq: self.next_seq,
                entry: Entry {
                    position: entry.position,
                    next: entry.position,
                    payload,
                },
                epoch: entry.epoch,
                retry: Some(entry),
            };
            self.next_seq += 1;
            self.send(job)?;
        }
        Ok(())
    }

    /// Feed (journal): records after the last one handed out, while there is room in
    /// flight. Returns whether the reader caught up with the durable end.
    fn feed_journal(&mut self, stopping: bool) -> Result<bool, ServerError> {
        while self.in_flight < self.max_in_flight {
            let wait = if self.in_flight == 0 && !stopping {
                Duration::from_millis(50)
            } else {
                Duration::ZERO
            };
            let Some(entry) = self
                .reader
                .next(wait)
                .map_err(ServerError::io("cannot read the journal"))?
            else {
                return Ok(true);
            };
            let job = Job {
                seq: self.next_seq,
                entry,
                epoch: self.parts.journal.epoch(),
                retry: None,
            };
            self.next_seq += 1;
            self.send(job)?;
        }
        Ok(false)
    }

    /// Takes the results the workers sent back (waiting a little for the first).
    fn collect(&mut self) -> Result<(), ServerError> {
        if self.in_flight == 0 {
            return Ok(());
        }
        match self.done.recv_timeout(Duration::from_millis(20)) {
            Ok(d) => {
                self.waiting.insert(d.seq, d);
                while let Ok(d) = self.done.try_recv() {
                    self.waiting.insert(d.seq, d);
                }
                Ok(())
            }
            Err(RecvTimeoutError::Timeout) => Ok(()),
            Err(RecvTimeoutError::Disconnected) => Err(stopped()),
        }
    }

    /// Apply: the results in journal order — a storage failure stops the pipeline, a failed
    /// record goes to the quarantine, alerts are kept for the commit, listened events go to
    /// the correlations.
    fn apply_in_order(&mut self) -> Result<(), ServerError> {
        while let Some(d) = self.waiting.remove(&self.apply_seq) {
            self.apply_seq += 1;
            self.in_flight -= 1;
            if let Some(e) = d.error {
                return Err(ServerError::Pipeline(e));
            }
            if let Some((entry, payload)) = d.quarantine {
                if d.retry.is_some() {
                    self.retrying
                        .remove(&(entry.tenant.clone(), entry.id.clone()));
                }
                set_aside(self.parts, entry, &payload)?;
            } else if let Some(entry) = d.retry {
                self.retried.push(entry);
            }
            if let Some(next) = d.next {
                self.applied = next;
            }
            self.alerts.extend(d.alerts);
            for s in d.seen {
                self.seen.add(s);
            }
            for (id, time) in d.suppressed {
                let e = self.suppressed.entry(id).or_insert((0, time));
                e.0 += 1;
                e.1 = e.1.max(time);
            }
            if !d.correlate.is_empty() {
                self.correlations
                    .feed(self.parts, d.generation, &d.correlate, &mut self.alerts);
            }
        }
        Ok(())
    }

    /// Commit, when there is progress: then retried records leave the quarantine.
    fn commit_progress(&mut self) -> Result<(), ServerError> {
        let progress = self.applied > self.handed
            || !self.alerts.is_empty()
            || !self.suppressed.is_empty()
            || !self.seen.is_empty()
            || !self.retried.is_empty();
        if !progress {
            return Ok(());
        }
        let window = Settle {
            alerts: std::mem::take(&mut self.alerts),
            suppressed: self
                .suppressed
                .drain()
                .map(|(id, (n, t))| (id, n, t))
                .collect(),
            seen: self.seen.take(),
            applied: self.applied,
            retried: std::mem::take(&mut self.retried),
        };
        commit(self.parts, &mut self.settler, window)?;
        self.handed = self.applied;
        // Retried records stay "handed out" until the settler removed them from the
        // quarantine, so that a scan in between never hands one out twice.
        for key in self.settler.settled() {
            self.retrying.remove(&key);
        }
        Ok(())
    }
}
