//! Correlation rules over a hunt: the events of the rules they listen to, fed in time order
//! once every file is read (files are read in parallel and in any order, so windows can
//! only be judged at the end).

use std::sync::Arc;

use rustc_hash::FxHashMap;
use serde_json::Value as Json;
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
    let mut engine = CorrelationEngine::new(Arc::clone(&p.correlations), Default::default());
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
    found
        .into_iter()
        .filter(|m| p.correlation_report[m.correlation])
        .map(|m| {
            let mut matched: Vec<(String, Json)> = m
                .group
                .iter()
                .map(|(k, v)| (k.clone(), Json::String(v.clone())))
                .collect();
            // Counts are whole numbers: shown as such, not as `3.0`.
            let value = if m.value.fract() == 0.0 && m.value.abs() < 9e15 {
                Json::from(m.value as i64)
            } else {
                serde_json::Number::from_f64(m.value).map_or(Json::Null, Json::Number)
            };
            matched.push(("value".to_owned(), value));
            let events: Vec<Json> = m
                .events
                .iter()
                .map(|id| Json::String(names.get(id).cloned().unwrap_or_else(|| id.to_string())))
                .collect();
            let event = serde_json::json!({
                "first": detection::utc(m.first),
                "last": detection::utc(m.last),
                "events": events,
            });
            let d = Detection {
                rule: Arc::clone(&p.correlation_infos[m.correlation]),
                time: m.last,
                computer: None,
                channel: None,
                event_id: Json::Null,
                record_id: Json::Null,
                file: None,
                matched,
                event: None,
            };
            (m.correlation, d, event.to_string().into_bytes())
        })
        .collect()
}
