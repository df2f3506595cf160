//! The store end to end: every query form, tenant isolation (including aggregations),
//! idempotent re-ingest, pagination, fetches, retention and rebuilt fields.

use std::collections::BTreeSet;
use std::time::Duration;

use bytes::Bytes;
use vigie_event::{Decoder, Event, Origin, Source, SourceKind, TenantId, Timestamp};
use vigie_store::{
    Aggregation, AggregationResult, DropReason, Order, RetentionPolicy, Search, Store, StoreConfig,
    TimeRange, parse,
};

const DAY: i64 = 86_400_000_000_000;
/// 2026-11-20T00:00:00Z.
const BASE: i64 = 1_795_132_800 * 1_000_000_000;

fn tenant(name: &str) -> TenantId {
    TenantId::new(name).unwrap()
}

fn decoder(t: &TenantId) -> Decoder {
    Decoder::new(Origin::new(
        t.clone(),
        Source::new(SourceKind::Http, "test"),
    ))
}

fn json(d: &mut Decoder, line: &str) -> Event {
    d.decode_json(Bytes::from(line.to_owned()))
        .unwrap_or_else(|e| panic!("{line}: {e}"))
}

fn rfc3339(nanos: i64) -> String {
    Timestamp::from_nanos(nanos).to_rfc3339(vigie_event::UtcOffset::UTC)
}

/// The corpus of the query tests: each event has a unique `tag`.
fn corpus(t: &TenantId) -> Vec<Event> {
    let mut d = decoder(t);
    let at = |h: i64| rfc3339(BASE + h * 3_600_000_000_000);
    let lines = [
        format!(
            r#"{{"@timestamp":"{}","tag":"e1","host":{{"name":"DC01"}},"Computer":"DC01","EventID":4688,"Image":"C:\\Windows\\System32\\cmd.exe","CommandLine":"cmd.exe /c whoami","User":"CORP\\admin","message":"process created by admin"}}"#,
            at(1)
        ),
        format!(
            r#"{{"@timestamp":"{}","tag":"e2","Computer":"WS01","EventID":4624,"User":"CORP\\alice","source":{{"ip":"10.1.2.3"}},"LogonType":3,"message":"an account logged on"}}"#,
            at(2)
        ),
        format!(
            r#"{{"@timestamp":"{}","tag":"e3","Computer":"WS02","EventID":4625,"User":"CORP\\bob","source":{{"ip":"192.168.7.9"}},"LogonType":10,"message":"an account failed to log on"}}"#,
            at(3)
        ),
        format!(
            r#"{{"@timestamp":"{}","tag":"e4","Computer":"WS01","EventID":1,"Image":"C:\\Tools\\mimikatz.exe","CommandLine":"mimikatz.exe sekurlsa::logonpasswords","bytes":1500.5,"message":"Mimikatz credential dumping"}}"#,
            at(4)
        ),
        format!(
            r#"{{"@timestamp":"{}","tag":"e5","query":"aGVsbG8.tunnel.example.com","dns":{{"answer":"fe80::1"}},"bytes":42,"message":"dns query","ok":true}}"#,
            at(30)
        ),
        format!(
            r#"{{"@timestamp":"{}","tag":"e6","action":"deny","src_ip":"10.200.0.1","dst_port":445,"bytes":"n/a","message":"firewall deny smb"}}"#,
            at(50)
        ),
    ];
    lines.iter().map(|l| json(&mut d, l)).collect()
}

fn open(dir: &std::path::Path) -> Store {
    let config = StoreConfig {
        writer_heap_bytes: 32 << 20,
        writer_threads: 1,
        ..StoreConfig::default()
    };
    Store::open(dir, config).unwrap()
}

fn tags(store: &Store, t: &TenantId, q: &str) -> BTreeSet<String> {
    let mut s = Search::new(parse(q).unwrap_or_else(|e| panic!("{q}: {e}")), 1000);
    s.range = TimeRange::ALL;
    let page = store.search(t, &s).unwrap_or_else(|e| panic!("{q}: {e}"));
    assert_eq!(page.total as usize, page.events.len(), "{q}");
    page.events
        .iter()
        .map(|e| {
            e.fields
                .get_by_name("tag")
                .and_then(|v| v.as_str())
                .unwrap_or("?")
                .to_owned()
        })
        .collect()
}

fn set(tags: &[&str]) -> BTreeSet<String> {
    tags.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn every_query_form_finds_exactly_its_events() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let a = tenant("acme");
    let report = store.add_batch(&corpus(&a)).unwrap();
    assert_eq!(report.added, 6);
    store.commit().unwrap();

    let cases: &[(&str, &[&str])] = &[
        ("*", &["e1", "e2", "e3", "e4", "e5", "e6"]),
        ("", &["e1", "e2", "e3", "e4", "e5", "e6"]),
        // Full text: words, case-insensitive, phrases, wildcards.
        ("mimikatz", &["e4"]),
        ("MIMIKATZ", &["e4"]),
        ("\"account logged\"", &["e2"]),
        ("\"logged account\"", &[]),
        ("cmd.exe", &["e1"]),
        ("logon*", &["e4"]),
        ("whoam?", &["e1"]),
        // field:value, case-insensitive whole values.
        ("User:corp\\\\admin", &["e1"]),
        ("User:\"CORP\\admin\"", &["e1"]),
        ("Computer:ws01", &["e2", "e4"]),
        ("User:admin", &[]),
        ("EventID:4624", &["e2"]),
        ("EventID:\"4624\"", &["e2"]),
        ("ok:true", &["e5"]),
        // Nested JSON flattened to dotted names.
        ("host.name:dc01", &["e1"]),
        ("fields.host.name:dc01", &["e1"]),
        // Wildcards on values.
        ("Image:*\\\\cmd.exe", &["e1"]),
        ("CommandLine:*sekurlsa*", &["e4"]),
        ("Image:c?\\\\*", &["e1", "e4"]),
        ("query:*.tunnel.example.com", &["e5"]),
        // Exists.
        ("CommandLine:*", &["e1", "e4"]),
        ("source.ip:*", &["e2", "e3"]),
        ("EventID:*", &["e1", "e2", "e3", "e4"]),
        ("bytes:*", &["e4", "e5", "e6"]),
        ("ok:*", &["e5"]),
        ("LogonType:[* TO *]", &["e2", "e3"]),
        // Ranges: numeric, mixed integer/float columns, text.
        ("EventID:[4624 TO 4625]", &["e2", "e3"]),
        ("EventID:{4624 TO 4625]", &["e3"]),
        ("EventID:>=4625", &["e3", "e1"]),
        ("EventID:<10", &["e4"]),
        ("bytes:>100", &["e4"]),
        ("bytes:[0 TO 50]", &["e5"]),
        ("LogonType:[3 TO *]", &["e2", "e3"]),
        ("Computer:[wa TO wt]", &["e2", "e3", "e4"]),
        // Networks.
        ("source.ip:10.0.0.0/8", &["e2"]),
        ("source.ip:192.168.0.0/16", &["e3"]),
        ("src_ip:10.0.0.0/8", &["e6"]),
        ("source.ip:11.0.0.0/8", &[]),
        ("dns.answer:fe80::/10", &["e5"]),
        ("source.ip:10.1.2.3", &["e2"]),
        // Boolean logic.
        ("Computer:ws01 AND EventID:4624", &["e2"]),
        ("Computer:ws01 EventID:4624", &["e2"]),
        ("EventID:4624 OR EventID:4625", &["e2", "e3"]),
        ("NOT Computer:*", &["e5", "e6"]),
        ("-Computer:* -query:*", &["e6"]),
        (
            "(EventID:4624 OR EventID:1) AND NOT Computer:ws02",
            &["e2", "e4"],
        ),
        ("User:(\"corp\\alice\" OR \"corp\\bob\")", &["e2", "e3"]),
        // Metadata fields.
        ("format:json", &["e1", "e2", "e3", "e4", "e5", "e6"]),
        ("source_kind:http", &["e1", "e2", "e3", "e4", "e5", "e6"]),
        ("event_id:4688", &["e1"]),
        ("event_id:[1 TO 4624]", &["e2", "e4"]),
        // Time.
        (
            "time:[2026-11-20T00:00:00Z TO 2026-11-20T02:30:00Z]",
            &["e1", "e2"],
        ),
        ("time:>=2026-11-21T00:00:00Z", &["e5", "e6"]),
        // Event fields holding times are typed: ranges and equality to the second.
        (
            "@timestamp:[2026-11-20T00:30:00Z TO 2026-11-20T02:30:00Z]",
            &["e1", "e2"],
        ),
        ("@timestamp:\"2026-11-20T03:00:00Z\"", &["e3"]),
        ("@timestamp:*", &["e1", "e2", "e3", "e4", "e5", "e6"]),
        ("timestamp:*", &[]),
    ];
    for (q, expected) in cases {
        assert_eq!(tags(&store, &a, q), set(expected), "query {q}");
    }

    // The time window of a search prunes partitions and filters inside them.
    let mut s = Search::new(parse("*").unwrap(), 100);
    s.range = TimeRange::between(
        Timestamp::from_nanos(BASE + DAY),
        Timestamp::from_nanos(BASE + 2 * DAY),
    );
    let page = store.search(&a, &s).unwrap();
    assert_eq!(page.total, 1);

    // Field selection.
    let mut s = Search::new(parse("tag:e1").unwrap(), 10);
    s.fields = Some(vec!["tag".into(), "Image".into()]);
    let page = store.search(&a, &s).unwrap();
    let names: Vec<&str> = page.events[0]
        .fields
        .iter()
        .map(|(id, _)| id.name())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");

    // Errors that parse but cannot run.
    for bad in ["time:abc", "host:10.0.0.0/8", "event_id:x", "id:notanid"] {
        // Invalid for a tenant with data and for one without alike.
        for t in [&a, &tenant("nobody")] {
            let err = store
                .search(t, &Search::new(parse(bad).unwrap(), 10))
                .unwrap_err();
            assert!(err.to_string().contains("invalid query"), "{bad}: {err}");
        }
    }
}

#[test]
fn fetched_events_are_the_events_added() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let t = tenant("acme");
    let mut d = Decoder::new(Origin::new(
        t.clone(),
        Source::new(SourceKind::SyslogTcp, "fw1"),
    ));
    let mut events = corpus(&t);
    for raw in [
        "<34>1 2026-11-20T10:00:00.123Z mymachine su - ID47 [exampleSDID@32473 iut=\"3\"] 'su root' failed",
        "<13>Nov 20 10:00:01 host1 sshd[42]: Accepted password for root from 10.0.0.9 port 22",
    ] {
        events.push(d.decode_syslog(Bytes::from(raw)).unwrap());
    }
    events.push(
        d.decode_cef(Bytes::from(
            "CEF:0|Vendor|FW|1.0|100|blocked|5|src=10.0.0.1 dst=10.0.0.2 spt=1234 act=deny",
        ))
        .unwrap(),
    );
    events.push(
        d.decode_leef(Bytes::from(
            "LEEF:1.0|Vendor|IDS|2.0|4625|src=10.0.0.5\tusrName=bob",
        ))
        .unwrap(),
    );
    store.add_batch(&events).unwrap();
    store.commit().unwrap();
    for e in &events {
        let got = store.get(&t, e.id).unwrap().expect("stored");
        assert_eq!(got.id, e.id);
        assert_eq!(got.time, e.time);
        assert_eq!(got.time_offset, e.time_offset);
        assert_eq!(got.received, e.received);
        assert_eq!(got.format, e.format);
        assert_eq!(got.source, e.source);
        assert_eq!(got.host, e.host);
        assert_eq!(got.logsource, e.logsource);
        assert_eq!(got.raw, e.raw);
        assert_eq!(got.fields, e.fields, "fields of {:?}", e.format);
    }
    // Levels where the source gives one: syslog severity, CEF's scale.
    let count = |q: &str| {
        store
            .search(&t, &Search::new(parse(q).unwrap(), 100))
            .unwrap()
            .total
    };
    assert_eq!(count("level:crit"), 1);
    assert_eq!(count("level:notice"), 1);
    assert_eq!(count("level:warning"), 1);
    assert_eq!(count("level:*"), 3);
    // Another tenant cannot fetch them by id.
    assert!(store.get(&tenant("other"), events[0].id).unwrap().is_none());
}

#[test]
fn tenants_never_see_each_others_events_even_through_aggregations() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let a = tenant("tenant-a");
    let b = tenant("tenant-b");
    store.add_batch(&corpus(&a)).unwrap();
    let mut db = decoder(&b);
    let canary: Vec<Event> = (0..20)
        .map(|i| {
            json(
                &mut db,
                &format!(
                    r#"{{"@timestamp":"{}","tag":"canary","Computer":"WS01","EventID":4624,"User":"CORP\\alice","source":{{"ip":"10.1.2.{i}"}},"message":"canary mimikatz logged"}}"#,
                    rfc3339(BASE + 3_600_000_000_000 * 2 + i)
                ),
            )
        })
        .collect();
    store.add_batch(&canary).unwrap();
    store.commit().unwrap();

    for q in [
        "*",
        "canary",
        "tag:canary",
        "mimikatz",
        "Computer:ws01",
        "EventID:4624",
        "source.ip:10.0.0.0/8",
        "tag:canar*",
        "source.ip:*",
        "NOT tag:e1",
        "EventID:[0 TO 99999]",
    ] {
        assert!(
            !tags(&store, &a, q).contains("canary"),
            "tenant A saw B's canary via {q}"
        );
        // And B sees its own.
        assert!(
            tags(&store, &b, q).contains("canary") || q == "tag:e1",
            "{q}"
        );
    }
    let all = parse("*").unwrap();
    let count = store
        .aggregate(&a, &all, TimeRange::ALL, &Aggregation::Count)
        .unwrap();
    assert_eq!(count, AggregationResult::Count(6));
    let terms = store
        .aggregate(
            &a,
            &all,
            TimeRange::ALL,
            &Aggregation::Terms {
                field: "tag".into(),
                size: 100,
                then: Some(("Computer".into(), 10)),
            },
        )
        .unwrap();
    let AggregationResult::Terms { buckets, other } = terms else {
        panic!("{terms:?}")
    };
    assert_eq!(other, 0);
    assert!(buckets.iter().all(|b| b.key != "canary"), "{buckets:?}");
    assert_eq!(buckets.len(), 6);
    let card = store
        .aggregate(
            &a,
            &all,
            TimeRange::ALL,
            &Aggregation::Cardinality {
                field: "source.ip".into(),
            },
        )
        .unwrap();
    assert_eq!(card, AggregationResult::Cardinality(2));
    let hist = store
        .aggregate(
            &a,
            &all,
            TimeRange::ALL,
            &Aggregation::DateHistogram { interval: None },
        )
        .unwrap();
    let AggregationResult::DateHistogram { buckets, .. } = hist else {
        panic!()
    };
    assert_eq!(buckets.iter().map(|b| b.count).sum::<u64>(), 6);
    // A tenant without data has nothing.
    let none = store
        .aggregate(&tenant("nobody"), &all, TimeRange::ALL, &Aggregation::Count)
        .unwrap();
    assert_eq!(none, AggregationResult::Count(0));
}

#[test]
fn aggregations_count_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let t = tenant("acme");
    let mut d = decoder(&t);
    let hosts = ["alpha", "beta", "gamma"];
    let users = ["u1", "u2"];
    let mut events = Vec::new();
    // 3 days × 24 hours; host i gets (i + 1) events per hour; user alternates.
    for hour in 0..72i64 {
        for (i, h) in hosts.iter().enumerate() {
            for k in 0..=i {
                let time = BASE + hour * 3_600_000_000_000 + (k as i64) * 1_000_000_000;
                events.push(json(
                    &mut d,
                    &format!(
                        r#"{{"@timestamp":"{}","hostname":"{h}","user":"{}","n":{k}}}"#,
                        rfc3339(time),
                        users[(hour as usize + k) % 2]
                    ),
                ));
            }
        }
    }
    store.add_batch(&events).unwrap();
    store.commit().unwrap();
    let all = parse("*").unwrap();
    assert_eq!(
        store
            .aggregate(&t, &all, TimeRange::ALL, &Aggregation::Count)
            .unwrap(),
        AggregationResult::Count(72 * 6)
    );
    let AggregationResult::DateHistogram { interval, buckets } = store
        .aggregate(
            &t,
            &all,
            TimeRange::ALL,
            &Aggregation::DateHistogram {
                interval: Some(DAY),
            },
        )
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(interval, DAY);
    assert_eq!(buckets.len(), 3);
    assert!(buckets.iter().all(|b| b.count == 24 * 6));
    assert_eq!(buckets[0].start.as_nanos(), BASE);
    // Auto interval over 3 days: ~60 buckets or fewer, all events counted.
    let AggregationResult::DateHistogram { interval, buckets } = store
        .aggregate(
            &t,
            &all,
            TimeRange::between(
                Timestamp::from_nanos(BASE),
                Timestamp::from_nanos(BASE + 3 * DAY),
            ),
            &Aggregation::DateHistogram { interval: None },
        )
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(interval, 3 * 3_600_000_000_000);
    assert!(buckets.len() <= 60, "{}", buckets.len());
    assert_eq!(buckets.iter().map(|b| b.count).sum::<u64>(), 72 * 6);
    // Terms top-N, nested.
    let AggregationResult::Terms { buckets, other } = store
        .aggregate(
            &t,
            &all,
            TimeRange::ALL,
            &Aggregation::Terms {
                field: "hostname".into(),
                size: 2,
                then: Some(("user".into(), 5)),
            },
        )
        .unwrap()
    else {
        panic!()
    };
    let keys: Vec<(&str, u64)> = buckets.iter().map(|b| (b.key.as_str(), b.count)).collect();
    assert_eq!(keys, [("gamma", 72 * 3), ("beta", 72 * 2)]);
    assert_eq!(other, 72);
    let sub: u64 = buckets[0].sub.iter().map(|s| s.count).sum();
    assert_eq!(sub, 72 * 3);
    assert_eq!(buckets[0].sub.len(), 2);
    // Terms on a metadata field and a query filter.
    let AggregationResult::Terms { buckets, .. } = store
        .aggregate(
            &t,
            &parse("hostname:alpha").unwrap(),
            TimeRange::ALL,
            &Aggregation::Terms {
                field: "format".into(),
                size: 5,
                then: None,
            },
        )
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(buckets.len(), 1);
    assert_eq!((buckets[0].key.as_str(), buckets[0].count), ("json", 72));
    assert_eq!(
        store
            .aggregate(
                &t,
                &all,
                TimeRange::ALL,
                &Aggregation::Cardinality {
                    field: "hostname".into()
                }
            )
            .unwrap(),
        AggregationResult::Cardinality(3)
    );
    assert!(
        store
            .aggregate(
                &t,
                &all,
                TimeRange::ALL,
                &Aggregation::Terms {
                    field: "time".into(),
                    size: 5,
                    then: None
                }
            )
            .is_err()
    );
}

#[test]
fn pages_by_cursor_cover_every_event_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let t = tenant("acme");
    let mut d = decoder(&t);
    // 250 events over 3 days, many sharing the same timestamp.
    let events: Vec<Event> = (0..250i64)
        .map(|i| {
            json(
                &mut d,
                &format!(
                    r#"{{"@timestamp":"{}","i":{i}}}"#,
                    rfc3339(BASE + (i / 7) * 2 * 3_600_000_000_000)
                ),
            )
        })
        .collect();
    store.add_batch(&events[..100]).unwrap();
    store.commit().unwrap();
    store.add_batch(&events[100..]).unwrap();
    store.commit().unwrap();
    for order in [Order::Desc, Order::Asc] {
        let mut s = Search::new(parse("*").unwrap(), 17);
        s.order = order;
        let mut seen = Vec::new();
        loop {
            let page = store.search(&t, &s).unwrap();
            assert_eq!(page.total, 250);
            seen.extend(page.events.iter().map(|e| (e.time, e.id)));
            match page.next {
                Some(c) => s.cursor = Some(c.to_string().parse().unwrap()),
                None => break,
            }
        }
        assert_eq!(seen.len(), 250, "{order:?}");
        let mut sorted = seen.clone();
        sorted.sort();
        if order == Order::Desc {
            sorted.reverse();
        }
        assert_eq!(seen, sorted, "{order:?}");
        let unique: BTreeSet<_> = seen.iter().collect();
        assert_eq!(unique.len(), 250);
    }
}

/// Time windows cutting through partitions and segments: totals and pages equal a brute-force
/// filter of the events, for both orders, with and without a query (the window is applied by
/// the collector, which skips segments entirely outside it).
#[test]
fn time_windows_count_and_page_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let t = tenant("acme");
    let mut d = decoder(&t);
    const HOUR: i64 = 3_600_000_000_000;
    let events: Vec<Event> = (0..300i64)
        .map(|i| {
            json(
                &mut d,
                &format!(
                    r#"{{"@timestamp":"{}","i":{i}}}"#,
                    rfc3339(BASE + (i / 3) * HOUR + (i % 3) * 1_000)
                ),
            )
        })
        .collect();
    // Several segments per daily partition.
    for chunk in events.chunks(40) {
        store.add_batch(chunk).unwrap();
        store.commit().unwrap();
    }
    let mut checked = 0;
    for from_h in (-2..104i64).step_by(5) {
        for len_h in [0, 1, 7, 24, 30, 200] {
            let (from, to) = (
                BASE + from_h * HOUR + 500,
                BASE + (from_h + len_h) * HOUR + 1_000,
            );
            for (q, min_i) in [("*", 0), ("i:>=100", 100)] {
                let expected: Vec<(i64, u128)> = events
                    .iter()
                    .filter(|e| (from..to).contains(&e.time.as_nanos()))
                    .filter(|e| {
                        e.fields
                            .get_by_name("i")
                            .and_then(|v| v.as_text()?.parse::<i64>().ok())
                            .is_some_and(|i| i >= min_i)
                    })
                    .map(|e| (e.time.as_nanos(), e.id.as_u128()))
                    .collect();
                for order in [Order::Desc, Order::Asc] {
                    let mut s = Search::new(parse(q).unwrap(), 17);
                    s.order = order;
                    s.range =
                        TimeRange::between(Timestamp::from_nanos(from), Timestamp::from_nanos(to));
                    let page = store.search(&t, &s).unwrap();
                    assert_eq!(
                        page.total,
                        expected.len() as u64,
                        "{q} [{from_h}h, +{len_h}h)"
                    );
                    let mut want = expected.clone();
                    want.sort();
                    if order == Order::Desc {
                        want.reverse();
                    }
                    want.truncate(17);
                    let got: Vec<(i64, u128)> = page
                        .events
                        .iter()
                        .map(|e| (e.time.as_nanos(), e.id.as_u128()))
                        .collect();
                    assert_eq!(got, want, "{q} [{from_h}h, +{len_h}h) {order:?}");
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 400);
}

#[test]
fn re_ingest_is_idempotent_before_and_after_commit_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let t = tenant("acme");
    let events = corpus(&t);
    {
        let store = open(dir.path());
        let r = store.add_batch(&events).unwrap();
        assert_eq!((r.added, r.duplicates), (6, 0));
        // Again before the commit: pending ids are known.
        let r = store.add_batch(&events).unwrap();
        assert_eq!((r.added, r.duplicates), (0, 6));
        store.commit().unwrap();
        let r = store.add_batch(&events).unwrap();
        assert_eq!((r.added, r.duplicates), (0, 6));
        store.commit().unwrap();
        store.close().unwrap();
    }
    let store = open(dir.path());
    let r = store.add_batch(&events).unwrap();
    assert_eq!((r.added, r.duplicates), (0, 6));
    store.commit().unwrap();
    assert_eq!(tags(&store, &t, "*").len(), 6);
    let page = store
        .search(&t, &Search::new(parse("*").unwrap(), 100))
        .unwrap();
    assert_eq!(page.total, 6);
}

#[test]
fn around_gives_the_context_on_the_same_host() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let t = tenant("acme");
    let mut d = decoder(&t);
    let events: Vec<Event> = (0..40i64)
        .map(|i| {
            let host = if i % 2 == 0 { "web1" } else { "web2" };
            json(
                &mut d,
                &format!(
                    r#"{{"@timestamp":"{}","hostname":"{host}","i":{i}}}"#,
                    rfc3339(BASE + DAY - 20_000_000_000 + i * 1_000_000_000)
                ),
            )
        })
        .collect();
    store.add_batch(&events).unwrap();
    store.commit().unwrap();
    let at = events[20].time; // web1, i = 20, across the day boundary.
    let around = store.around(&t, "WEB1", at, 3, 2).unwrap();
    let is: Vec<i64> = around
        .iter()
        .map(|e| {
            e.fields
                .get_by_name("i")
                .and_then(|v| v.as_number())
                .and_then(|n| n.as_i64())
                .unwrap()
        })
        .collect();
    assert_eq!(is, [16, 18, 20, 22, 24]);
}

#[test]
fn retention_drops_whole_partitions_by_age_and_size() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let a = tenant("acme");
    let b = tenant("beta");
    for t in [&a, &b] {
        let mut d = decoder(t);
        let events: Vec<Event> = (0..10i64)
            .map(|day| {
                json(
                    &mut d,
                    &format!(
                        r#"{{"@timestamp":"{}","day":{day}}}"#,
                        rfc3339(BASE + day * DAY + 1)
                    ),
                )
            })
            .collect();
        store.add_batch(&events).unwrap();
    }
    store.commit().unwrap();
    assert_eq!(store.partitions().len(), 20);
    let now = Timestamp::from_nanos(BASE + 10 * DAY);
    store.set_retention(
        &a,
        Some(RetentionPolicy {
            max_age: Some(Duration::from_secs(3 * 86_400)),
            max_bytes: None,
        }),
    );
    let dropped = store.apply_retention(now).unwrap();
    assert_eq!(dropped.len(), 7, "{dropped:?}");
    assert!(
        dropped
            .iter()
            .all(|d| d.tenant == a && d.reason == DropReason::Age)
    );
    let left = store
        .search(&a, &Search::new(parse("*").unwrap(), 100))
        .unwrap();
    assert_eq!(left.total, 3);
    assert_eq!(
        store
            .search(&b, &Search::new(parse("*").unwrap(), 100))
            .unwrap()
            .total,
        10
    );
    // Size: keep about two partitions of beta.
    let one = store
        .partitions()
        .iter()
        .find(|p| p.tenant == b)
        .unwrap()
        .bytes;
    store.set_retention(
        &b,
        Some(RetentionPolicy {
            max_age: None,
            max_bytes: Some(one * 2 + one / 2),
        }),
    );
    let dropped = store.apply_retention(now).unwrap();
    assert!(
        dropped
            .iter()
            .all(|d| d.tenant == b && d.reason == DropReason::Size)
    );
    let kept: Vec<_> = store
        .partitions()
        .into_iter()
        .filter(|p| p.tenant == b)
        .collect();
    assert!(kept.len() <= 3 && !kept.is_empty(), "{kept:?}");
    // The newest partition is the one kept last.
    assert!(kept.iter().any(|p| p.start.as_nanos() == BASE + 9 * DAY));
    // Dropped partitions are gone from disk and stay gone after a reopen.
    drop(store);
    let store = open(dir.path());
    assert_eq!(
        store
            .search(&a, &Search::new(parse("*").unwrap(), 100))
            .unwrap()
            .total,
        3
    );
}

#[test]
fn a_store_reopens_with_its_period_only() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path()));
    let err = Store::open(
        dir.path(),
        StoreConfig {
            period_hours: 6,
            ..StoreConfig::default()
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("period"), "{err}");
    let err = Store::open(
        tempfile::tempdir().unwrap().path(),
        StoreConfig {
            period_hours: 7,
            ..StoreConfig::default()
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("7 hours"), "{err}");
}

#[test]
fn the_retention_task_applies_policies_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(open(dir.path()));
    let t = tenant("acme");
    let mut d = decoder(&t);
    // One event 30 days old and one from now.
    let now = Timestamp::now().as_nanos();
    for at in [now - 30 * DAY, now] {
        let e = json(
            &mut d,
            &format!(r#"{{"@timestamp":"{}","x":1}}"#, rfc3339(at)),
        );
        store.add(e).unwrap();
    }
    store.commit().unwrap();
    store.set_default_retention(RetentionPolicy {
        max_age: Some(Duration::from_secs(7 * 86_400)),
        max_bytes: None,
    });
    let task =
        vigie_store::RetentionTask::spawn(std::sync::Arc::clone(&store), Duration::from_secs(3600))
            .unwrap();
    // The task applies retention as soon as it starts.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while store.partitions().len() > 1 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(task);
    assert_eq!(store.partitions().len(), 1);
    assert_eq!(
        store
            .search(&t, &Search::new(parse("*").unwrap(), 10))
            .unwrap()
            .total,
        1
    );
}

/// The writers use the configured merge width: with 2, four one-commit segments are merged
/// down; with 100, they stay four.
#[test]
fn writers_merge_as_many_segments_as_configured() {
    let segments_after = |merge_segments: usize| {
        let dir = tempfile::tempdir().unwrap();
        let config = StoreConfig {
            writer_heap_bytes: 32 << 20,
            writer_threads: 1,
            merge_segments,
            ..StoreConfig::default()
        };
        let store = Store::open(dir.path(), config.clone()).unwrap();
        let t = tenant("acme");
        let mut d = decoder(&t);
        // Noon, far from a partition boundary.
        let noon = 1_795_176_000 * 1_000_000_000i64;
        for round in 0..4 {
            for i in 0..10 {
                let e = json(
                    &mut d,
                    &format!(
                        r#"{{"@timestamp":"{}","round":{round},"i":{i}}}"#,
                        rfc3339(noon + (round * 10 + i) * 1_000_000)
                    ),
                );
                store.add(e).unwrap();
            }
            store.commit().unwrap();
        }
        store.close().unwrap();
        drop(store);
        let reopened = Store::open(dir.path(), config).unwrap();
        let partitions = reopened.partitions();
        assert_eq!(partitions.iter().map(|p| p.events).sum::<u64>(), 40);
        partitions.iter().map(|p| p.segments).sum::<usize>()
    };
    assert_eq!(segments_after(100), 4);
    assert!(segments_after(2) < 4);
}

/// Two events at the ends of the accepted times (1678 and 2261, 584 years apart): an
/// automatic histogram stays small, a tiny interval is refused with a reason instead of
/// building billions of buckets, and a tiny interval over a narrow range still works.
#[test]
fn histograms_are_bounded_at_the_extremes_of_time() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let t = tenant("acme");
    let mut d = decoder(&t);
    let events = vec![
        json(
            &mut d,
            r#"{"@timestamp":"1678-01-01T00:00:00Z","tag":"old"}"#,
        ),
        json(
            &mut d,
            r#"{"@timestamp":"2261-12-31T23:59:59Z","tag":"new"}"#,
        ),
        json(
            &mut d,
            &format!(r#"{{"@timestamp":"{}","tag":"now"}}"#, rfc3339(BASE)),
        ),
        json(
            &mut d,
            &format!(
                r#"{{"@timestamp":"{}","tag":"now2"}}"#,
                rfc3339(BASE + 90 * 1_000_000_000)
            ),
        ),
    ];
    store.add_batch(&events).unwrap();
    store.commit().unwrap();
    let all = parse("*").unwrap();
    let AggregationResult::DateHistogram { interval, buckets } = store
        .aggregate(
            &t,
            &all,
            TimeRange::ALL,
            &Aggregation::DateHistogram { interval: None },
        )
        .unwrap()
    else {
        panic!("not a histogram")
    };
    assert!(interval > 0);
    assert!(buckets.len() <= 61, "{} buckets", buckets.len());
    assert_eq!(buckets.iter().map(|b| b.count).sum::<u64>(), 4);
    // One second over 584 years: refused, whatever the range says.
    for range in [
        TimeRange::ALL,
        TimeRange {
            from: Some(Timestamp::from_nanos(i64::MIN)),
            to: Some(Timestamp::from_nanos(i64::MAX)),
        },
    ] {
        let refused = store.aggregate(
            &t,
            &all,
            range,
            &Aggregation::DateHistogram {
                interval: Some(1_000_000_000),
            },
        );
        let message = refused.expect_err("too many buckets").to_string();
        assert!(message.contains("10000 buckets"), "{message}");
    }
    // One second over the two recent events: 91 buckets.
    let AggregationResult::DateHistogram { buckets, .. } = store
        .aggregate(
            &t,
            &all,
            TimeRange {
                from: Some(Timestamp::from_nanos(BASE - DAY)),
                to: Some(Timestamp::from_nanos(BASE + DAY)),
            },
            &Aggregation::DateHistogram {
                interval: Some(1_000_000_000),
            },
        )
        .unwrap()
    else {
        panic!("not a histogram")
    };
    assert_eq!(buckets.len(), 91);
    assert_eq!(buckets[0].count + buckets[90].count, 2);
}

/// Queries that cannot match because of how they are written are errors that say why, not
/// empty pages that look like "no such events".
#[test]
fn impossible_ranges_and_networks_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let t = tenant("acme");
    store.add_batch(&corpus(&t)).unwrap();
    store.commit().unwrap();
    let run = |q: &str| {
        let mut s = Search::new(parse(q)?, 10);
        s.range = TimeRange::ALL;
        store.search(&t, &s).map(|p| p.total)
    };
    for (q, why) in [
        ("EventID:[a TO 5]", "one bound is a number"),
        ("EventID:[10 TO 5]", "lower bound is above"),
        ("User:[zz TO aa]", "lower bound is above"),
        ("source.ip:999.1.1.1/99", "not a valid network"),
        ("source.ip:10.0.0.0/33", "not a valid network"),
    ] {
        let err = run(q).expect_err(q).to_string();
        assert!(err.contains(why), "{q}: {err}");
    }
    // Their valid neighbours still run.
    assert_eq!(run("EventID:[4624 TO 4625]").unwrap(), 2);
    assert_eq!(run("source.ip:10.0.0.0/8").unwrap(), 1);
    assert_eq!(run("User:[a TO z]").unwrap(), 3);
    assert_eq!(run("path:\"10.0.0.0/33\"").unwrap(), 0);
}

/// The bucket cap is exact: 10,000 buckets are answered, 10,001 refused; an interval must be
/// positive.
#[test]
fn the_histogram_cap_is_exact_and_intervals_positive() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let t = tenant("acme");
    let mut d = decoder(&t);
    const S: i64 = 1_000_000_000;
    let events = vec![
        json(
            &mut d,
            &format!(r#"{{"@timestamp":"{}","k":"a"}}"#, rfc3339(BASE)),
        ),
        json(
            &mut d,
            &format!(
                r#"{{"@timestamp":"{}","k":"b"}}"#,
                rfc3339(BASE + 9_999 * S)
            ),
        ),
        json(
            &mut d,
            &format!(
                r#"{{"@timestamp":"{}","k":"c"}}"#,
                rfc3339(BASE + 10_000 * S)
            ),
        ),
    ];
    store.add_batch(&events).unwrap();
    store.commit().unwrap();
    let histogram = |q: &str, interval: Option<i64>| {
        store.aggregate(
            &t,
            &parse(q).unwrap(),
            TimeRange::ALL,
            &Aggregation::DateHistogram { interval },
        )
    };
    let Ok(AggregationResult::DateHistogram { buckets, .. }) = histogram("k:a OR k:b", Some(S))
    else {
        panic!("not a histogram")
    };
    assert_eq!(buckets.len(), 10_000);
    assert!(histogram("k:a OR k:c", Some(S)).is_err());
    assert!(histogram("*", Some(S)).is_err());
    for bad in [0, -1, i64::MIN] {
        let err = histogram("*", Some(bad))
            .expect_err("not positive")
            .to_string();
        assert!(err.contains("must be positive"), "{err}");
    }
    assert!(histogram("*", Some(1)).is_err(), "1 ns over 10,000 s");
    assert!(histogram("*", Some(i64::MAX)).is_ok());
}
