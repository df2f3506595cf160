//! The workers of a hunt: take a job, decode it, match every event, write the lines.

use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};

use bytes::Bytes;
use vigie_detect::{Alert, Detector};
use vigie_event::{Decoder, Event, Origin, Source, SourceKind, TenantId};

use super::detection::Detection;
use super::inputs::{self, Input, Job, Kind, Part};
use super::prepare::Prepared;
use super::report::Key;
use crate::decode::{self, FileReport};
use vigie_event::render;

/// Input bytes a worker decodes ahead while the rules are still compiling.
const PREDECODE_BYTES: u64 = 4 << 20;

/// A value set once, awaited by many threads.
#[derive(Debug)]
pub(crate) struct Latch<T> {
    value: Mutex<Option<T>>,
    ready: Condvar,
}

impl<T: Clone> Latch<T> {
    pub(crate) fn new() -> Latch<T> {
        Latch {
            value: Mutex::new(None),
            ready: Condvar::new(),
        }
    }

    pub(crate) fn set(&self, value: T) {
        let mut slot = self.value.lock().unwrap_or_else(|e| e.into_inner());
        *slot = Some(value);
        self.ready.notify_all();
    }

    pub(crate) fn get(&self) -> Option<T> {
        self.value.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn wait(&self) -> T {
        let mut slot = self.value.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(value) = slot.as_ref() {
                return value.clone();
            }
            slot = self.ready.wait(slot).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// The rules, once ready (`None`: they failed to load and the run stops).
pub(crate) type Rules = Latch<Option<Arc<Prepared>>>;

fn decode(decoder: &mut Decoder, input: &Input, job: &Job) -> FileReport {
    let name = input.path.display().to_string();
    let mut out = FileReport::default();
    let read = |out: &mut FileReport| match std::fs::read(&input.path) {
        Ok(data) => Some(data),
        Err(e) => {
            out.errors.push(format!("cannot read {name}: {e}"));
            out.unreadable = true;
            None
        }
    };
    match (input.kind, job.part) {
        (Kind::Evtx, Part::Chunks { first, count }) => {
            match inputs::chunk_reader(&input.path, first, count) {
                Ok(reader) => {
                    for item in decoder.decode_evtx_reader(reader, first) {
                        match item {
                            Ok(e) => out.events.push(e),
                            Err(e) => out.errors.push(format!("{name}: {e}")),
                        }
                    }
                }
                Err(e) => {
                    out.errors.push(format!("cannot read {name}: {e}"));
                    out.unreadable = true;
                }
            }
        }
        // Planned whole only when the header is not EVTX: the parser says why.
        (Kind::Evtx, Part::Whole) => {
            if let Some(data) = read(&mut out) {
                decode::decode_evtx(decoder, &name, data, &mut out);
            }
        }
        (Kind::Json, _) => {
            if let Some(data) = read(&mut out) {
                decode::decode_json(decoder, &name, Bytes::from(data), &mut out);
            }
        }
    }
    out
}

/// An event kept for the correlation pass, with the file it came from.
#[derive(Debug)]
pub(crate) struct Kept {
    pub(crate) file: usize,
    pub(crate) rules: Vec<usize>,
    pub(crate) event: Event,
}

/// What a worker sends back for one job.
#[derive(Debug)]
pub(crate) struct Done {
    pub(crate) job: usize,
    pub(crate) events: usize,
    /// The report lines of the job's detections, and their keys.
    pub(crate) lines: Vec<u8>,
    pub(crate) keys: Vec<Key>,
    /// Detections by level, in [`detection::Level`] order.
    pub(crate) by_level: [usize; 5],
    pub(crate) kept: Vec<Kept>,
    pub(crate) errors: Vec<String>,
    pub(crate) unreadable: bool,
}

/// The sort key of a detection written at `start..lines.len()`.
pub(crate) fn key(
    d: &Detection,
    rule: u32,
    job: usize,
    seq: usize,
    start: usize,
    end: usize,
    tail: Range<usize>,
) -> Key {
    let narrow = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    Key {
        time: d.time.as_nanos(),
        rule,
        file: d.file.map_or(u32::MAX, narrow),
        record: d.record_id.as_u64().unwrap_or(u64::MAX),
        job: narrow(job),
        seq: narrow(seq),
        start: narrow(start),
        len: narrow(end - start),
        tail: narrow(tail.start),
        tail_len: narrow(tail.len()),
    }
}

fn match_job(
    p: &Prepared,
    detector: &mut Detector,
    json_keys: &mut render::JsonKeys,
    job: usize,
    file: usize,
    decoded: FileReport,
) -> Done {
    let mut done = Done {
        job,
        events: decoded.events.len(),
        lines: Vec::new(),
        keys: Vec::new(),
        by_level: [0; 5],
        kept: Vec::new(),
        errors: decoded.errors,
        unreadable: decoded.unreadable,
    };
    let shows_events = p.writer.format().shows_events();
    let mut event_json = Vec::new();
    for event in decoded.events {
        let hits = detector.detect(&event);
        if hits.is_empty() {
            continue;
        }
        event_json.clear();
        let reported = hits.alerting().next().is_some();
        if shows_events && reported {
            render::write_fields(&mut event_json, &event, json_keys);
        }
        // The event's part of the lines, once for all its detections.
        let tail_start = done.lines.len();
        if reported {
            p.writer.write_tail(
                &mut done.lines,
                shows_events.then_some(event_json.as_slice()),
            );
        }
        let tail = tail_start..done.lines.len();
        for i in hits.alerting() {
            let json = shows_events.then_some(event_json.as_slice());
            let alert = Alert::of_match(&p.book, i, &event);
            let d = Detection::of_event(alert.rule, &event, file, alert.matched, json);
            let start = done.lines.len();
            p.writer.write_head(&mut done.lines, &d);
            let seq = done.keys.len();
            done.keys.push(key(
                &d,
                p.rank[i],
                job,
                seq,
                start,
                done.lines.len(),
                tail.clone(),
            ));
            done.by_level[d.rule.level as usize] += 1;
        }
        let rules: Vec<usize> = hits.listened().collect();
        if !rules.is_empty() {
            done.kept.push(Kept { file, rules, event });
        }
    }
    done
}

/// One worker: takes jobs until none are left, sends what each gave.
pub(crate) fn worker(
    jobs: &[Job],
    next: &AtomicUsize,
    inputs: &[Input],
    rules: &Rules,
    results: &mpsc::Sender<Done>,
) {
    let origin = Origin::new(
        TenantId::new("hunt").expect("a valid tenant name"),
        Source::new(SourceKind::File, "hunt"),
    );
    let mut decoder = Decoder::new(origin);
    // A hunt reports fields and keeps no event: EVTX records skip their JSON rendering.
    decoder.set_evtx_rendering(false);
    let mut detector = None;
    let mut json_keys = render::JsonKeys::default();
    let mut ahead: Vec<(usize, FileReport)> = Vec::new();
    let mut ahead_bytes = 0u64;
    loop {
        let prepared = match rules.get() {
            Some(p) => Some(p),
            None if ahead_bytes >= PREDECODE_BYTES => Some(rules.wait()),
            None => None,
        };
        if let Some(prepared) = prepared {
            let Some(p) = prepared else {
                return; // the rules failed to load: the main thread reports it
            };
            let m = detector.get_or_insert_with(|| Detector::new(Arc::clone(&p.book)));
            for (job, decoded) in ahead.drain(..) {
                let file = jobs[job].input;
                if results
                    .send(match_job(&p, m, &mut json_keys, job, file, decoded))
                    .is_err()
                {
                    return;
                }
            }
        }
        let index = next.fetch_add(1, Ordering::Relaxed);
        let Some(job) = jobs.get(index) else {
            break;
        };
        let decoded = decode(&mut decoder, &inputs[job.input], job);
        ahead_bytes += job.bytes;
        ahead.push((index, decoded));
    }
    if ahead.is_empty() {
        return;
    }
    let Some(p) = rules.wait() else {
        return;
    };
    let m = detector.get_or_insert_with(|| Detector::new(Arc::clone(&p.book)));
    for (job, decoded) in ahead {
        let file = jobs[job].input;
        if results
            .send(match_job(&p, m, &mut json_keys, job, file, decoded))
            .is_err()
        {
            return;
        }
    }
}
