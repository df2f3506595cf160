//! Correlation rules over a hunt: the events of the rules they listen to, fed in time order
//! once every file is read (files are read in parallel and in any order, so windows can
//! only be judged at the end).

use std::sync::Arc;

use rustc_hash::FxHashMap;
use serde_json::Value as Json;
use vigie_detect::Alert;
use vigie_detect::alert::Window;
use vigie_event::EventId;
use vigie_event::time::Timestamp;
use vigie_sigma::{CorrelationEngine, CorrelationMatch};

use super::detection::{self, Detection};
use super::prepare::Prepared;
use super::work::Kept;

/// Runs the correlations over the kept events; returns the matches to report (correlation
/// index, detection, and the `event` text to attach to it), as detections whose `matched` is the group and value and whose `event` names the window
/// and the events (`file#record`).
pub(crate) fn correlate(
    p: &Prepared,
    mut kept: Vec<Kept>,
    files: &[String],
) -> Vec<(usize, Detection<'static>, Vec<u8>)> {
    if kept.is_empty() {
        return Vec::new();
    }
    kept.sort_by_cached_key(|k| {
        let record = detection::json(&k.event, detection::Known::RecordId).as_u64();
        (k.event.time, k.file, record)
    });
    let mut engine = CorrelationEngine::new(Arc::clone(&p.book.correlations), Default::default());
    let mut found: Vec<CorrelationMatch> = Vec::new();
    let mut names: FxHashMap<EventId, String> = FxHashMap::default();
    for k in &kept {
        let name = match detection::json(&k.event, detection::Known::RecordId) {
            Json::Null => files[k.file].clone(),
            record => format!("{}#{record}", files[k.file]),
        };
        names.insert(k.event.id, name);
        for &rule in &k.rules {
            engine.on_rule_match(rule, &k.event, &mut found);
        }
    }
    engine.advance(Timestamp::from_nanos(i64::MAX), &mut found);
    let tenant = kept[0].event.tenant.clone();
    found
        .into_iter()
        .filter(|m| p.book.correlation_rules[m.correlation].alerts)
        .map(|m| {
            let correlation = m.correlation;
            let alert = Alert::of_correlation(&p.book, &tenant, m);
            // A correlation alert always has its window; an empty one at its time otherwise.
            let window = alert.window.unwrap_or(Window {
                first: alert.time,
                last: alert.time,
                events: Vec::new(),
            });
            let events: Vec<Json> = window
                .events
                .iter()
                .map(|id| Json::String(names.get(id).cloned().unwrap_or_else(|| id.to_string())))
                .collect();
            let event = serde_json::json!({
                "first": detection::utc(window.first),
                "last": detection::utc(window.last),
                "events": events,
            });
            let d = Detection {
                rule: alert.rule,
                time: alert.time,
                computer: None,
                channel: None,
                event_id: Json::Null,
                record_id: Json::Null,
                file: None,
                matched: alert.matched,
                event: None,
            };
            (correlation, d, event.to_string().into_bytes())
        })
        .collect()
}
