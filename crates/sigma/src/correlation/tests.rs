//! Correlation tests restated from the specification's examples, with event streams that
//! cover window edges, out-of-order events and wrong groups.

use std::sync::Arc;

use bytes::Bytes;
use vigie_event::{Decoder, Event, Timestamp};

use super::*;
use crate::load::{Loaded, parse_rules};
use crate::{Code, RuleSet};

struct Harness {
    rules: Arc<RuleSet>,
    engine: CorrelationEngine,
    decoder: Decoder,
    /// Standalone rule matches that were not suppressed, by rule title.
    rule_alerts: Vec<String>,
}

impl Harness {
    fn new(yaml: &str) -> Harness {
        Harness::with_limits(yaml, Limits::default())
    }

    fn with_limits(yaml: &str, limits: Limits) -> Harness {
        let mut loaded = Loaded::default();
        parse_rules(yaml, "test.yml", &mut loaded);
        assert!(loaded.rejected.is_empty(), "{:?}", loaded.rejected);
        let rules = Arc::new(RuleSet::new(loaded.rules));
        let (set, diagnostics) = CorrelationSet::new(loaded.correlations, rules.rules());
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        Harness {
            rules,
            engine: CorrelationEngine::new(Arc::new(set), limits),
            decoder: crate::testing::decoder("t"),
            rule_alerts: Vec::new(),
        }
    }

    fn event(&mut self, seconds: i64, json: &str) -> Event {
        let mut e = self
            .decoder
            .decode_json(Bytes::copy_from_slice(json.as_bytes()))
            .unwrap();
        e.time = Timestamp::from_nanos(seconds * 1_000_000_000);
        e
    }

    /// Feeds `(seconds, json)` events in the order given; returns the titles of the
    /// correlation matches with their group values.
    fn run(&mut self, events: &[(i64, &str)]) -> Vec<String> {
        let mut out = Vec::new();
        let mut matcher = self.rules.matcher();
        for (seconds, json) in events {
            let event = self.event(*seconds, json);
            let mut matched = Vec::new();
            matcher.for_each_match(&event, |i| matched.push(i));
            matched.sort_unstable();
            for i in matched {
                if self.engine.set().rule_emitted(i) {
                    self.rule_alerts.push(self.rules.rules()[i].title.clone());
                }
                self.engine.on_rule_match(i, &event, &mut out);
            }
        }
        out.iter().map(describe).collect()
    }

    fn finish(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        self.engine
            .advance(Timestamp::from_nanos(i64::MAX), &mut out);
        out.iter().map(describe).collect()
    }
}

fn describe(m: &CorrelationMatch) -> String {
    let group: Vec<String> = m.group.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{} [{}] {}", m.title, group.join(","), m.value)
}

const FAILED_THEN_SUCCESS: &str = r"
title: Correlation - Multiple Failed Logins Followed by Successful Login
id: b180ead8-d58f-40b2-ae54-c8940995b9b6
correlation:
    type: temporal_ordered
    rules:
        - multiple_failed_login
        - successful_login
    group-by:
        - User
    timespan: 10m
level: high
---
title: Multiple failed logons
id: a8418a5a-5fc4-46b5-b23b-6c73beb19d41
name: multiple_failed_login
correlation:
    type: event_count
    rules:
        - failed_login
    group-by:
        - User
    timespan: 10m
    condition:
        gte: 10
---
title: Single failed login
id: 53ba33fd-3a50-4468-a5ef-c583635cfa92
name: failed_login
logsource:
    product: windows
    service: security
detection:
    selection:
        EventID:
            - 529
            - 4625
    condition: selection
---
title: Successful login
id: 4d0a2c83-c62c-4ed4-b475-c7e23a9269b8
name: successful_login
logsource:
    product: windows
    service: security
detection:
    selection:
        EventID:
            - 528
            - 4624
    condition: selection
";

fn logon(id: u32, user: &str) -> String {
    format!(r#"{{"Channel":"Security","EventID":{id},"User":"{user}","Computer":"dc1"}}"#)
}

#[test]
fn the_specification_example_chain_fires_once_per_attack() {
    let mut h = Harness::new(FAILED_THEN_SUCCESS);
    let failed = logon(4625, "bob");
    let success = logon(4624, "bob");
    let mut events: Vec<(i64, &str)> = (0..10).map(|i| (i * 30, failed.as_str())).collect();
    events.push((400, success.as_str()));
    assert_eq!(
        h.run(&events),
        ["Correlation - Multiple Failed Logins Followed by Successful Login [User=bob] 2"]
    );
    // generate: false — neither the base rules nor the inner correlation are reported.
    assert!(h.rule_alerts.is_empty(), "{:?}", h.rule_alerts);
}

#[test]
fn the_chain_needs_the_same_user_and_the_order() {
    let mut h = Harness::new(FAILED_THEN_SUCCESS);
    let failed = logon(4625, "bob");
    let other = logon(4624, "alice");
    let mut events: Vec<(i64, &str)> = (0..10).map(|i| (i * 30, failed.as_str())).collect();
    events.push((400, other.as_str()));
    assert!(h.run(&events).is_empty());

    // The success comes before the burst completes: wrong order.
    let mut h = Harness::new(FAILED_THEN_SUCCESS);
    let success = logon(4624, "bob");
    let mut events = vec![(0, success.as_str())];
    events.extend((1..11).map(|i| (i * 10, failed.as_str())));
    assert!(h.run(&events).is_empty());
}

const MANY_FAILED: &str = r"
title: Many failed logins
correlation:
    type: event_count
    rules:
        - failed_login
    group-by:
        - Computer
    timespan: 1h
    condition:
        gte: 3
---
title: Single failed login
name: failed_login
logsource:
    product: windows
    service: security
detection:
    selection:
        EventID: 4625
    condition: selection
";

#[test]
fn event_count_window_edges_are_inclusive() {
    let e = logon(4625, "x");
    // Exactly one hour from first to last: inside.
    let mut h = Harness::new(MANY_FAILED);
    assert_eq!(
        h.run(&[(0, &e), (1800, &e), (3600, &e)]),
        ["Many failed logins [Computer=dc1] 3"]
    );
    // One second more: no window holds three.
    let mut h = Harness::new(MANY_FAILED);
    assert!(h.run(&[(0, &e), (1800, &e), (3601, &e)]).is_empty());
    // A burst fires once; the next needs three fresh events.
    let mut h = Harness::new(MANY_FAILED);
    let got = h.run(&[(0, &e), (1, &e), (2, &e), (3, &e), (4, &e), (5, &e)]);
    assert_eq!(got.len(), 2, "{got:?}");
}

#[test]
fn event_count_counts_out_of_order_events_by_event_time() {
    let e = logon(4625, "x");
    let mut h = Harness::new(MANY_FAILED);
    // Arrives last but belongs between the others.
    assert_eq!(h.run(&[(0, &e), (3000, &e), (1500, &e)]).len(), 1);
    // Far too late: the window it would complete is gone.
    let mut h = Harness::new(MANY_FAILED);
    assert!(h.run(&[(0, &e), (10_000, &e), (5, &e)]).is_empty());
    assert_eq!(h.engine.stats().late, 1);
}

#[test]
fn groups_are_separate() {
    let a = r#"{"Channel":"Security","EventID":4625,"Computer":"a"}"#;
    let b = r#"{"Channel":"Security","EventID":4625,"Computer":"b"}"#;
    let none = r#"{"Channel":"Security","EventID":4625}"#;
    let mut h = Harness::new(MANY_FAILED);
    assert!(
        h.run(&[(0, a), (1, b), (2, a), (3, b), (4, none), (5, none)])
            .is_empty()
    );
    assert_eq!(h.engine.stats().missing_group, 2);
    assert_eq!(h.run(&[(6, b)]), ["Many failed logins [Computer=b] 3"]);
}

#[test]
fn upper_bounds_are_decided_when_the_window_closes() {
    let yaml = MANY_FAILED.replace("gte: 3", "lt: 3");
    let e = logon(4625, "x");
    let other = r#"{"Channel":"Security","EventID":4625,"Computer":"dc2"}"#;
    let mut h = Harness::new(&yaml);
    // dc1 sees two in its hour, dc2 three: only dc1 matches, once its hour has passed.
    assert!(
        h.run(&[(0, &e), (10, &e), (20, other), (30, other), (40, other)])
            .is_empty()
    );
    assert_eq!(
        h.run(&[(3700, other)]),
        ["Many failed logins [Computer=dc1] 2"]
    );
    // dc2's second window (one event) is decided at the end of the input.
    assert_eq!(h.finish(), ["Many failed logins [Computer=dc2] 1"]);
}

#[test]
fn value_count_counts_distinct_values() {
    let yaml = r"
title: Failed login
correlation:
    type: value_count
    rules:
        - failed_login
    group-by:
        - Computer
    timespan: 1d
    condition:
        field: User
        gte: 3
---
title: Single failed login
name: failed_login
logsource:
    product: windows
    service: security
detection:
    selection:
        EventID: 4625
    condition: selection
";
    let mut h = Harness::new(yaml);
    let (a, b, c) = (logon(4625, "a"), logon(4625, "b"), logon(4625, "c"));
    assert!(h.run(&[(0, &a), (1, &a), (2, &b), (3, &b)]).is_empty());
    assert_eq!(h.run(&[(4, &c)]), ["Failed login [Computer=dc1] 3"]);
}

const RECON: &str = r"
title: Recon
correlation:
    type: temporal
    rules:
        - recon_cmd_a
        - recon_cmd_b
        - recon_cmd_c
    group-by:
        - ComputerName
        - User
    timespan: 5m
---
title: a
name: recon_cmd_a
logsource:
    category: process_creation
detection:
    selection:
        CommandLine: whoami
    condition: selection
---
title: b
name: recon_cmd_b
logsource:
    category: process_creation
detection:
    selection:
        CommandLine: ipconfig
    condition: selection
---
title: c
name: recon_cmd_c
logsource:
    category: process_creation
detection:
    selection:
        CommandLine: net view
    condition: selection
";

fn process(cmd: &str, user: &str) -> String {
    format!(
        r#"{{"Channel":"Microsoft-Windows-Sysmon/Operational","EventID":1,"CommandLine":"{cmd}","ComputerName":"ws1","User":"{user}"}}"#
    )
}

#[test]
fn temporal_in_any_order_within_the_timespan() {
    let (a, b, c) = (
        process("whoami", "u"),
        process("ipconfig", "u"),
        process("net view", "u"),
    );
    let mut h = Harness::new(RECON);
    assert_eq!(
        h.run(&[(100, &c), (0, &a), (200, &b)]),
        ["Recon [ComputerName=ws1,User=u] 3"]
    );
    let mut h = Harness::new(RECON);
    assert!(h.run(&[(0, &a), (200, &b), (301, &c)]).is_empty());
    // Another user's command does not complete the set.
    let mut h = Harness::new(RECON);
    let c_other = process("net view", "v");
    assert!(h.run(&[(0, &a), (1, &b), (2, &c_other)]).is_empty());
}

#[test]
fn temporal_ordered_needs_the_listed_order() {
    let yaml = RECON.replace("type: temporal\n", "type: temporal_ordered\n");
    let (a, b, c) = (
        process("whoami", "u"),
        process("ipconfig", "u"),
        process("net view", "u"),
    );
    let mut h = Harness::new(&yaml);
    assert!(h.run(&[(0, &b), (1, &a), (2, &c)]).is_empty());
    assert_eq!(h.run(&[(3, &b), (4, &c)]).len(), 1);
    // Out of order arrival, but in order by event time.
    let mut h = Harness::new(&yaml);
    assert_eq!(h.run(&[(20, &c), (0, &a), (10, &b)]).len(), 1);
}

#[test]
fn value_sum_avg_and_percentile() {
    let rule = r"
---
title: web
name: website_access
logsource: {}
detection:
    selection:
        Method: POST
    condition: selection
";
    let post = |bytes: u64| {
        format!(r#"{{"Method":"POST","SourceIP":"10.0.0.1","User":"u","bytes_sent":{bytes}}}"#)
    };
    let sum = format!(
        "title: Exfil\ncorrelation:\n  type: value_sum\n  rules: [website_access]\n  group-by: [SourceIP, User]\n  timespan: 1h\n  condition:\n    field: bytes_sent\n    gt: 1000000\n{rule}"
    );
    let (big, small) = (post(600_000), post(100));
    let mut h = Harness::new(&sum);
    assert!(h.run(&[(0, &big), (10, &small)]).is_empty());
    assert_eq!(
        h.run(&[(20, &big)]),
        ["Exfil [SourceIP=10.0.0.1,User=u] 1200100"]
    );
    let mut h = Harness::new(&sum);
    assert!(h.run(&[(0, &big), (3601, &big)]).is_empty());

    let avg = sum
        .replace("value_sum", "value_avg")
        .replace("gt: 1000000", "gt: 500");
    let mut h = Harness::new(&avg);
    assert!(h.run(&[(0, &post(100)), (1, &post(200))]).is_empty());
    assert_eq!(h.run(&[(2, &post(2000))]).len(), 1);

    let p90 = sum
        .replace("value_sum", "value_percentile")
        .replace("gt: 1000000", "percentile: 90\n    gte: 1000");
    let mut h = Harness::new(&p90);
    let smalls: Vec<String> = (0..10).map(|_| post(10)).collect();
    let mut events: Vec<(i64, &str)> = smalls.iter().map(|s| (0, s.as_str())).collect();
    let large = post(5000);
    events.push((1, &large));
    // Nearest rank: p90 of 11 values is the 10th smallest, still a small one; of 12, the 11th.
    assert!(h.run(&events).is_empty());
    assert_eq!(h.run(&[(2, &large)]).len(), 1);
}

#[test]
fn value_percentile_without_percentile_is_a_rarity_test() {
    // The specification's example: a process name seen in at most 1 % of a computer's
    // process starts.
    let yaml = r"
title: Rare process
correlation:
    type: value_percentile
    rules:
        - process_creation
    group-by:
        - ComputerName
    timespan: 24h
    condition:
        field: Image
        lte: 1
---
title: any process
name: process_creation
logsource:
    category: process_creation
detection:
    selection:
        EventID: 1
    condition: selection
";
    let common = r#"{"Channel":"Microsoft-Windows-Sysmon/Operational","EventID":1,"ComputerName":"ws1","Image":"svchost.exe"}"#;
    let rare = r#"{"Channel":"Microsoft-Windows-Sysmon/Operational","EventID":1,"ComputerName":"ws1","Image":"mimikatz.exe"}"#;
    let mut h = Harness::new(yaml);
    let events: Vec<(i64, &str)> = (0..150).map(|i| (i, common)).collect();
    assert!(h.run(&events).is_empty());
    assert_eq!(h.run(&[(200, rare)]).len(), 1);
}

#[test]
fn aliases_group_different_fields_together() {
    let yaml = r"
title: error then connection
correlation:
    type: temporal
    rules:
        - internal_error
        - new_network_connection
    group-by:
        - internal_ip
        - remote_ip
    timespan: 10s
    aliases:
        internal_ip:
            internal_error: destination.ip
            new_network_connection: source.ip
        remote_ip:
            internal_error: source.ip
            new_network_connection: destination.ip
---
title: e
name: internal_error
logsource: {}
detection:
    selection:
        http.response.status_code: 500
    condition: selection
---
title: n
name: new_network_connection
logsource: {}
detection:
    selection:
        event.category: network
        event.type: connection
        event.outcome: success
    condition: selection
";
    let error = r#"{"http":{"response":{"status_code":500}},"destination":{"ip":"10.0.0.5"},"source":{"ip":"203.0.113.9"}}"#;
    let conn = |src: &str, dst: &str| {
        format!(
            r#"{{"event":{{"category":"network","type":"connection","outcome":"success"}},"source":{{"ip":"{src}"}},"destination":{{"ip":"{dst}"}}}}"#
        )
    };
    let mut h = Harness::new(yaml);
    let wrong = conn("203.0.113.9", "10.0.0.5");
    assert!(h.run(&[(0, error), (1, &wrong)]).is_empty());
    let right = conn("10.0.0.5", "203.0.113.9");
    assert_eq!(
        h.run(&[(2, &right)]),
        ["error then connection [internal_ip=10.0.0.5,remote_ip=203.0.113.9] 2"]
    );
}

#[test]
fn memory_is_bounded_and_counted() {
    let limits = Limits {
        max_groups: 2,
        max_events_per_group: 2,
        max_event_ids: 1,
    };
    let mut h = Harness::with_limits(MANY_FAILED, limits);
    let on = |c: &str| format!(r#"{{"Channel":"Security","EventID":4625,"Computer":"{c}"}}"#);
    let (a, b, c) = (on("a"), on("b"), on("c"));
    assert!(h.run(&[(0, &a), (1, &b), (2, &c), (3, &a)]).is_empty());
    assert!(h.engine.groups() <= 2);
    let stats = h.engine.stats();
    assert!(stats.evicted_groups >= 1, "{stats:?}");
    // Two entries per group at most: three in an hour can never be seen.
    assert!(h.run(&[(4, &a), (5, &a), (6, &a)]).is_empty());
    assert!(h.engine.stats().dropped_entries >= 1);
}

#[test]
fn state_survives_a_reload_of_the_same_correlation() {
    let mut h = Harness::new(MANY_FAILED);
    let e = logon(4625, "x");
    assert!(h.run(&[(0, &e), (1, &e)]).is_empty());
    let mut loaded = Loaded::default();
    parse_rules(MANY_FAILED, "reloaded.yml", &mut loaded);
    let (set, _) = CorrelationSet::new(loaded.correlations, h.rules.rules());
    h.engine.reload(Arc::new(set));
    assert_eq!(h.run(&[(2, &e)]).len(), 1);

    // A changed definition starts afresh.
    let mut h = Harness::new(MANY_FAILED);
    assert!(h.run(&[(0, &e), (1, &e)]).is_empty());
    let mut loaded = Loaded::default();
    parse_rules(&MANY_FAILED.replace("1h", "2h"), "changed.yml", &mut loaded);
    let (set, _) = CorrelationSet::new(loaded.correlations, h.rules.rules());
    h.engine.reload(Arc::new(set));
    assert!(h.run(&[(2, &e)]).is_empty());
}

#[test]
fn generate_true_keeps_the_base_rules() {
    let yaml = MANY_FAILED.replace(
        "title: Many failed logins\n",
        "title: Many failed logins\ngenerate: true\n",
    );
    let mut h = Harness::new(&yaml);
    let e = logon(4625, "x");
    h.run(&[(0, &e)]);
    assert_eq!(h.rule_alerts, ["Single failed login"]);
}

fn rejected(yaml: &str) -> Vec<String> {
    let mut loaded = Loaded::default();
    parse_rules(yaml, "bad.yml", &mut loaded);
    let (_, diagnostics) = CorrelationSet::new(loaded.correlations, &loaded.rules);
    loaded
        .rejected
        .iter()
        .chain(&diagnostics)
        .map(|d| {
            assert_eq!(d.code, Code::Correlation, "{d:?}");
            d.message.clone()
        })
        .collect()
}

#[test]
fn bad_correlations_are_rejected_with_the_reason() {
    let base = "title: t\ncorrelation:\n  type: event_count\n  rules: [r]\n  group-by: [x]\n  timespan: 1h\n  condition:\n    gte: 2\n---\ntitle: r\nname: r\nlogsource: {}\ndetection:\n  s:\n    a: b\n  condition: s\n";
    assert!(rejected(base).is_empty());
    let cases = [
        (
            base.replace("event_count", "event_sum"),
            "unknown correlation type",
        ),
        (base.replace("1h", "1 hour"), "timespan"),
        (
            base.replace("rules: [r]", "rules: [nope]"),
            "names no loaded rule",
        ),
        (base.replace("gte: 2", "gte: many"), "needs a number"),
        (
            base.replace("gte: 2", "field: User\n    gte: 2"),
            "takes no 'field'",
        ),
        (base.replace("event_count", "value_count"), "needs 'field'"),
        (
            base.replace("    gte: 2\n", "    over: 2\n"),
            "unknown condition key",
        ),
        (
            base.replace("  timespan", "  window: 1\n  timespan"),
            "unknown correlation attribute",
        ),
    ];
    for (yaml, want) in cases {
        let got = rejected(&yaml);
        assert!(
            got.len() == 1 && got[0].contains(want),
            "want {want:?}, got {got:?}\n{yaml}"
        );
    }
    let cycle = "title: a\nname: a\ncorrelation:\n  type: temporal\n  rules: [b]\n  timespan: 1h\n---\ntitle: b\nname: b\ncorrelation:\n  type: temporal\n  rules: [a]\n  timespan: 1h\n";
    let got = rejected(cycle);
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(got.iter().all(|m| m.contains("refers back to itself")));
}

/// Every schema test correlation of the specification loads.
#[test]
fn specification_schema_examples_load() {
    let Some(dir) = crate::testing::shared("spec/tests/schema/correlation") else {
        return;
    };
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 8, "{files:?}");
    for path in files {
        let mut loaded = Loaded::default();
        parse_rules(
            &std::fs::read_to_string(&path).unwrap(),
            &path.display().to_string(),
            &mut loaded,
        );
        assert!(
            loaded.rejected.is_empty(),
            "{}: {:?}",
            path.display(),
            loaded.rejected
        );
        assert_eq!(loaded.correlations.len(), 1, "{}", path.display());
    }
}
