//! The workers: a record in, its events stored and its alerts and correlation input out.
//!
//! Stages of one record: [`read_record`] → per message [`decode_message`] (with the decoder
//! of [`decoder_for`]) → the [`Detector`] → [`Store::add`](vigie_store::Store::add). A panic
//! anywhere in them is caught per record and sets the record aside.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use vigie_detect::{Alert, Detector};
use vigie_event::{Decoder, Event, LogSource, Origin, Source, TenantId};
use vigie_journal::Entry;
use vigie_journal::record::{Batch, Framing, RecordIds};
use vigie_state::{AlertKind, NewAlert};

use super::Parts;
use super::suppress::Suppress;
use crate::ServerError;
use crate::limits::{TenantLimits, TenantQuota, TimeVerdict, judge_time};
use crate::quarantine;
use vigie_state::sources::Seen;

/// A record handed to a worker.
pub(super) struct Job {
    pub(super) seq: u64,
    pub(super) entry: Entry,
    /// The journal epoch its ids are minted with.
    pub(super) epoch: u8,
    /// Set when this is a quarantined record processed again.
    pub(super) retry: Option<quarantine::Entry>,
}

/// What a worker returns for a record.
pub(super) struct Done {
    pub(super) seq: u64,
    /// The position after the record (`None` for a retry, which moves no checkpoint).
    pub(super) next: Option<u64>,
    /// The rule generation the record was matched with.
    pub(super) generation: u64,
    pub(super) alerts: Vec<NewAlert>,
    /// Alerts a tenant's suppression kept from being raised: (suppression id, event time).
    pub(super) suppressed: Vec<(i64, i64)>,
    /// What each (source, host) sent (the source inventory).
    pub(super) seen: Vec<Seen>,
    /// Events at least one correlation listens to, with the rules they matched.
    pub(super) correlate: Vec<(Vec<usize>, Event)>,
    /// The storage failed: the pipeline stops.
    pub(super) error: Option<String>,
    /// The record failed: (the entry to quarantine, its payload).
    pub(super) quarantine: Option<(quarantine::Entry, Bytes)>,
    /// The quarantine entry this record came from, when it was a retry.
    pub(super) retry: Option<quarantine::Entry>,
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

/// Decoders of one worker, by (tenant, source kind, source name, logsource).
type Decoders = HashMap<(TenantId, u8, String, String), Decoder>;

/// Decoders a worker keeps at most; past it they are all dropped (rebuilding one is cheap).
const MAX_DECODERS: usize = 256;

/// One worker: takes jobs until the channel closes.
pub(super) fn work(parts: &Parts, jobs: &Mutex<Receiver<Job>>, done: &Sender<Done>) {
    let mut detector = Detector::new(parts.rules.current());
    let mut suppress = Suppress::new(&parts.suppressions);
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
        suppress.refresh(&parts.suppressions);
        let mut result = Done {
            seq,
            next: retry.is_none().then_some(entry.next),
            generation: detector.book().generation,
            alerts: Vec::new(),
            suppressed: Vec::new(),
            seen: Vec::new(),
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
                &mut Matchers {
                    detector: &mut detector,
                    suppress: &mut suppress,
                },
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
            result.suppressed.clear();
            result.seen.clear();
            result.quarantine =
                Some((quarantine_entry(position, epoch, reason, &payload), payload));
        }
        if done.send(result).is_err() {
            return;
        }
    }
}

/// The quarantine entry of a record that failed for `reason`.
fn quarantine_entry(
    position: u64,
    epoch: u8,
    reason: String,
    payload: &Bytes,
) -> quarantine::Entry {
    let (tenant, messages) = peek(payload);
    quarantine::Entry {
        id: quarantine::id_of(position),
        tenant,
        position,
        epoch,
        reason,
        messages,
        bytes: payload.len() as u64,
        quarantined_at: vigie_event::Timestamp::now().to_rfc3339(vigie_event::UtcOffset::UTC),
        attempts: 1,
        retry_requested: false,
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

/// Read: the record's batch, within its tenant's `max_events_per_batch`, and the tenant's
/// quota (looked up once per record: it takes the quotas' lock). The messages are slices of
/// the one payload buffer: no copy per message.
fn read_record(parts: &Parts, payload: Bytes) -> Result<(Batch, Arc<TenantQuota>), Failure> {
    let batch = Batch::decode(payload).map_err(|e| {
        parts
            .metrics
            .pipeline
            .bad_records
            .fetch_add(1, Ordering::Relaxed);
        Failure::Record(e.to_string())
    })?;
    let quota = parts.quotas.tenant(&batch.tenant);
    let limit = quota.limits.max_events_per_batch;
    if batch.messages.len() > limit {
        return Err(Failure::Record(format!(
            "{} messages in one record; the tenant's limits.max_events_per_batch is {limit}",
            batch.messages.len(),
        )));
    }
    Ok((batch, quota))
}

/// The decoder of the batch's tenant, source and logsource, stamped with its receive time.
fn decoder_for<'d>(
    decoders: &'d mut Decoders,
    batch: &Batch,
    quota: &TenantQuota,
) -> &'d mut Decoder {
    if decoders.len() > MAX_DECODERS {
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
        origin.logsource = LogSource::parse_path(&batch.logsource)
            .ok()
            .flatten()
            .map(Arc::new);
        let mut decoder = Decoder::new(origin);
        decoder.set_name_budget(Some(Arc::clone(&quota.names)));
        decoder
    });
    decoder.set_received(Some(batch.received));
    decoder
}

/// Decode: message `index` of `batch` into an event with its id, judged against the
/// tenant's time window. `None` when it is not an event (it does not decode, or its time is
/// outside the window); with the event, whether its time was clamped into the window.
fn decode_message(
    decoder: &mut Decoder,
    batch: &Batch,
    limits: &TenantLimits,
    ids: &RecordIds,
    index: usize,
    message: Bytes,
) -> Option<(Event, bool)> {
    let decoded = match batch.framing {
        Framing::Json => decoder.decode_json(message),
        Framing::Syslog => decoder.decode_syslog_line(message),
    };
    let mut event = match decoded {
        Ok(e) => e,
        Err(e) => {
            tracing::debug!(tenant = %batch.tenant, source = %batch.source, error = %e, "message does not decode");
            return None;
        }
    };
    let clamped = match judge_time(limits, event.time, batch.received) {
        TimeVerdict::Keep => false,
        TimeVerdict::Clamp(at) => {
            crate::intake::body::clamp_time(&mut event, at);
            true
        }
        TimeVerdict::Reject(why) => {
            tracing::debug!(tenant = %batch.tenant, source = %batch.source, why, "event outside the time window");
            return None;
        }
    };
    event.id = ids.event(batch.received, index);
    Some((event, clamped))
}

/// What a record's events are matched with: the rules, and the tenants' suppressions.
struct Matchers<'a> {
    detector: &'a mut Detector,
    suppress: &'a mut Suppress,
}

/// Reads, decodes, detects on and stores the messages of one record.
fn process(
    parts: &Parts,
    position: u64,
    epoch: u8,
    payload: Bytes,
    matchers: &mut Matchers<'_>,
    decoders: &mut Decoders,
    out: &mut Done,
) -> Result<(), Failure> {
    let Matchers { detector, suppress } = matchers;
    let now = vigie_event::Timestamp::now();
    let (mut batch, quota) = read_record(parts, payload)?;
    let ids = if batch.idempotency_key.is_empty() {
        parts.id_key.record(epoch, position)
    } else {
        parts.id_key.keyed(&batch.tenant, &batch.idempotency_key)
    };
    let messages = std::mem::take(&mut batch.messages);
    let decoder = decoder_for(decoders, &batch, &quota);
    let (mut rejected, mut clamped, mut stored) = (0u64, 0u64, 0u64);
    // Few hosts per record (one for most sources): a list beats a map.
    let mut by_host: Vec<(Option<String>, u64)> = Vec::new();
    for (index, message) in messages.into_iter().enumerate() {
        let event = match decode_message(decoder, &batch, &quota.limits, &ids, index, message) {
            Some((event, c)) => {
                clamped += u64::from(c);
                event
            }
            None => {
                rejected += 1;
                continue;
            }
        };
        let hits = detector.detect(&event);
        for alert in hits.alerts(&event) {
            // A tenant's suppression keeps a rule's alert from being raised (counted).
            if alert.kind == vigie_detect::AlertKind::Rule
                && let Some(id) = suppress.check(alert.rule.alert_id(), &event, now)
            {
                out.suppressed.push((id, event.time.as_nanos()));
                continue;
            }
            out.alerts.push(alert_record(alert, &event));
        }
        let listened: Vec<usize> = hits.listened().collect();
        if !listened.is_empty() {
            out.correlate.push((listened, event.clone()));
        }
        // The inventory counts what was heard from each host of the source.
        match by_host
            .iter_mut()
            .find(|(h, _)| h.as_deref() == event.host.as_deref())
        {
            Some((_, n)) => *n += 1,
            None => by_host.push((event.host.as_deref().map(str::to_owned), 1)),
        }
        parts.store.add(event).map_err(ServerError::from)?;
        stored += 1;
    }
    let received = batch.received.as_nanos();
    out.seen
        .extend(by_host.into_iter().map(|(host, events)| Seen {
            tenant: batch.tenant.clone(),
            source: batch.source.clone(),
            host: host.unwrap_or_default(),
            events,
            first: received,
            last: received,
        }));
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

/// The alert record the state keeps, of an alert of `event` (for a correlation: the
/// event that completed its window, whose host and id stand in where the window has none).
pub(super) fn alert_record(mut alert: Alert, event: &Event) -> NewAlert {
    let (user, source) = vigie_detect::alert::entities(event);
    NewAlert {
        user,
        source,
        matched: alert.take_matched_json(),
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
    }
}
