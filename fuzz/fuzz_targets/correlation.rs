#![no_main]
//! Correlation rules (fuzzed YAML, before a NUL) over a fuzzed stream of events (after it:
//! 4 bytes each — time step, user, host, event kind) and fixed base rules: loading,
//! resolving and running never panic, groups stay within the caps, and a final `advance`
//! decides every open window.
use std::sync::Arc;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use vigie_event::Timestamp;
use vigie_sigma::{CorrelationEngine, CorrelationSet, Limits, Loaded, RuleSet, parse_rules};

mod common;

const BASE: &str = "title: failed\nname: failed\nlogsource: {}\ndetection:\n  s:\n    EventID: 4625\n  condition: s\n---\ntitle: ok\nname: ok\nlogsource: {}\ndetection:\n  s:\n    EventID: 4624\n  condition: s\n---\ntitle: any\nname: any\nlogsource: {}\ndetection:\n  s:\n    Kind: x\n  condition: s\n";

fuzz_target!(|data: &[u8]| {
    let (yaml, stream) = match data.iter().position(|b| *b == 0) {
        Some(nul) => (&data[..nul], &data[nul + 1..]),
        None => (data, &[][..]),
    };
    let Ok(text) = std::str::from_utf8(yaml) else { return };
    let mut loaded = Loaded::default();
    parse_rules(BASE, "base.yml", &mut loaded);
    parse_rules(text, "fuzz.yml", &mut loaded);
    let rules = Arc::new(RuleSet::new(loaded.rules));
    let (set, _) = CorrelationSet::new(loaded.correlations, rules.rules());
    let limits = Limits {
        max_groups: 4,
        max_events_per_group: 8,
        max_event_ids: 4,
    };
    let mut engine = CorrelationEngine::new(Arc::new(set), limits);
    let mut decoder = common::decoder();
    let mut matcher = rules.matcher();
    let mut out = Vec::new();
    let mut time: i64 = 0;
    for chunk in stream.chunks_exact(4) {
        // Mostly forward in time, sometimes back (out of order).
        time += i64::from(chunk[0] as i8) * 7;
        let json = format!(
            r#"{{"EventID":{},"User":"u{}","Computer":"h{}","Kind":"x","Bytes":{},"Image":"i{}"}}"#,
            [4625, 4624, 1, 4625][usize::from(chunk[3] % 4)],
            chunk[1] % 3,
            chunk[2] % 3,
            chunk[1],
            chunk[2] % 5
        );
        let Ok(mut event) = decoder.decode_json(Bytes::from(json)) else {
            continue;
        };
        event.time = Timestamp::from_nanos(time.saturating_mul(1_000_000_000));
        let mut matched = Vec::new();
        matcher.for_each_match(&event, |i| matched.push(i));
        for i in matched {
            engine.on_rule_match(i, &event, &mut out);
        }
        assert!(engine.groups() <= limits.max_groups * engine.set().correlations().len());
    }
    engine.advance(Timestamp::from_nanos(i64::MAX), &mut out);
    for m in &out {
        assert!(m.first <= m.last, "{m:?}");
        assert!(m.events.len() <= limits.max_event_ids);
    }
});
