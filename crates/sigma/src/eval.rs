//! The reference interpreter: evaluates a rule against an event by walking the condition and
//! the items, with no precomputation. It defines behaviour; the fast engine to come is tested
//! against it.
//!
//! Event-side decisions (the specification leaves them to the engine):
//! - strings compare case-insensitively (simple per-character folding) unless `cased`;
//!   numbers compare by their text, so `4688` and `"4688"` are equal;
//! - a field holding an array matches when any element matches;
//! - `null` matches an absent field or a JSON null; `exists` tests presence only;
//! - keywords match when any field's text contains them;
//! - regular expressions search (unanchored) and are case-sensitive unless `|i`;
//! - `lt`/`gt` read the event value as a number, and fail when it is not one.

use std::net::IpAddr;

use vigie_event::{Event, Value};

use crate::condition::Condition;
use crate::detection::{CompareOp, Item, Matcher, RefMode};
use crate::rule::{Detection, Rule};
use crate::value::fold;

/// Whether `rule` applies to `event`'s logsource and its condition holds.
pub fn rule_matches(rule: &Rule, event: &Event) -> bool {
    let ls = &rule.logsource;
    if !event.logsource.matches(
        ls.product.as_deref(),
        ls.category.as_deref(),
        ls.service.as_deref(),
    ) {
        return false;
    }
    condition_holds(rule, &rule.condition, event)
}

/// The fields that made `rule` match `event`, for an alert: each field of an item that holds
/// in a part of the condition that holds and is not negated, with the event's value (the
/// mapped field's value when the rule's name is mapped), in rule order, each field once. For
/// keywords, the event fields that contain them. Call it on matches only (it re-evaluates).
pub fn matched_fields<'e>(rule: &Rule, event: &'e Event) -> Vec<(String, Value<'e>)> {
    collect_fields(rule, event, true)
}

/// [`matched_fields`], told (`matched`) or not that the rule matches: what is known to hold
/// (the whole condition, the terms of a conjunction that holds, the items of a map that
/// holds) is not evaluated again, and a negation known to hold has nothing to show. Most
/// rules are `selection and not filter`: their filters, often long lists, are never
/// evaluated, and their selections' values are only read.
pub(crate) fn collect_fields<'e>(
    rule: &Rule,
    event: &'e Event,
    matched: bool,
) -> Vec<(String, Value<'e>)> {
    let mut out = Vec::new();
    collect_condition(rule, &rule.condition, event, &mut out, matched);
    // Each field once, first occurrence kept (lists are short: a linear check is cheapest).
    let mut kept = 0;
    for i in 0..out.len() {
        if !out[..kept].iter().any(|(name, _)| *name == out[i].0) {
            out.swap(kept, i);
            kept += 1;
        }
    }
    out.truncate(kept);
    out
}

/// Evaluates `c` once (unless `known` to hold), collecting the fields of what holds; what a
/// failing part collected is dropped. Returns whether `c` holds.
fn collect_condition<'e>(
    rule: &Rule,
    c: &Condition,
    event: &'e Event,
    out: &mut Vec<(String, Value<'e>)>,
    known: bool,
) -> bool {
    let mark = out.len();
    let holds = match c {
        Condition::Ref(name) => rule
            .detection(name)
            .is_some_and(|d| collect_detection(d, event, out, known)),
        Condition::And(terms) => terms
            .iter()
            .all(|t| collect_condition(rule, t, event, out, known)),
        // Which branches hold is not known: each is evaluated.
        Condition::Or(terms) => terms.iter().fold(false, |any, t| {
            collect_condition(rule, t, event, out, false) | any
        }),
        // What a negation matched is an absence: nothing to show.
        Condition::Not(inner) => known || !condition_holds(rule, inner, event),
    };
    if !holds {
        out.truncate(mark);
    }
    holds
}

fn collect_detection<'e>(
    d: &Detection,
    event: &'e Event,
    out: &mut Vec<(String, Value<'e>)>,
    known: bool,
) -> bool {
    let mark = out.len();
    let holds = match d {
        Detection::AllOf(items) => items.iter().all(|i| collect_item(i, event, out, known)),
        Detection::AnyOf(alternatives) => alternatives.iter().fold(false, |any, a| {
            collect_detection(a, event, out, false) | any
        }),
        Detection::Keywords(item) => collect_item(item, event, out, known),
    };
    if !holds {
        out.truncate(mark);
    }
    holds
}

fn collect_item<'e>(
    item: &Item,
    event: &'e Event,
    out: &mut Vec<(String, Value<'e>)>,
    known: bool,
) -> bool {
    if !known && !item_holds(item, event) {
        return false;
    }
    if item.negated {
        return true;
    }
    match &item.field {
        Some(field) => {
            if let Some(v) = crate::mapping::field(event, field) {
                out.push((field.clone(), v));
            }
        }
        None => {
            for (id, v) in event.fields.iter() {
                let hit = item
                    .values
                    .iter()
                    .any(|alts| alts.iter().any(|m| matcher_holds(m, Some(v), event)));
                if hit {
                    out.push((id.name().to_owned(), v));
                }
            }
        }
    }
    true
}

fn condition_holds(rule: &Rule, c: &Condition, event: &Event) -> bool {
    match c {
        Condition::Ref(name) => rule
            .detection(name)
            .is_some_and(|d| detection_holds(d, event)),
        Condition::And(terms) => terms.iter().all(|t| condition_holds(rule, t, event)),
        Condition::Or(terms) => terms.iter().any(|t| condition_holds(rule, t, event)),
        Condition::Not(inner) => !condition_holds(rule, inner, event),
    }
}

fn detection_holds(d: &Detection, event: &Event) -> bool {
    match d {
        Detection::AllOf(items) => items.iter().all(|i| item_holds(i, event)),
        Detection::AnyOf(alternatives) => alternatives.iter().any(|a| detection_holds(a, event)),
        Detection::Keywords(item) => item_holds(item, event),
    }
}

fn item_holds(item: &Item, event: &Event) -> bool {
    let value_holds = |alternatives: &Vec<std::sync::Arc<Matcher>>| match &item.field {
        Some(field) => {
            let value = crate::mapping::field(event, field);
            alternatives.iter().any(|m| matcher_holds(m, value, event))
        }
        None => event.fields.iter().any(|(_, v)| {
            alternatives
                .iter()
                .any(|m| matcher_holds(m, Some(v), event))
        }),
    };
    let result = if item.all {
        item.values.iter().all(value_holds)
    } else {
        item.values.iter().any(value_holds)
    };
    result != item.negated
}

pub(crate) fn matcher_holds(m: &Matcher, value: Option<Value<'_>>, event: &Event) -> bool {
    match m {
        Matcher::Null => value.is_none_or(|v| v.is_null()),
        Matcher::Exists(want) => value.is_some() == *want,
        _ => match value {
            None | Some(Value::Null) => false,
            Some(Value::Array(items)) => items.iter().any(|v| matcher_holds(m, Some(v), event)),
            Some(v) => scalar_holds(m, v, event),
        },
    }
}

/// Whether one scalar event value satisfies a matcher (shared with the compiled engine).
pub(crate) fn scalar_holds(m: &Matcher, v: Value<'_>, event: &Event) -> bool {
    let Some(text) = v.as_text() else {
        return false;
    };
    match m {
        Matcher::Glob { pattern, cased } => {
            if *cased || pattern.is_wildcards_only() {
                pattern.matches(text)
            } else {
                pattern.matches(&fold(text))
            }
        }
        Matcher::Regex(re) => re.is_match(text),
        Matcher::Cidr { network, prefix } => text
            .trim()
            .parse::<IpAddr>()
            .is_ok_and(|ip| in_network(ip, *network, *prefix)),
        Matcher::Compare(op, want) => {
            let got = match v.as_number() {
                Some(n) => n.as_f64(),
                None => match text.trim().parse::<f64>() {
                    Ok(n) => n,
                    Err(_) => return false,
                },
            };
            match op {
                CompareOp::Lt => got < *want,
                CompareOp::Lte => got <= *want,
                CompareOp::Gt => got > *want,
                CompareOp::Gte => got >= *want,
            }
        }
        Matcher::FieldRef { field, mode, cased } => {
            let Some(other) = crate::mapping::field(event, field).and_then(|o| o.as_text()) else {
                return false;
            };
            let (a, b) = if *cased {
                (text.into(), other.into())
            } else {
                (fold(text), fold(other))
            };
            match mode {
                RefMode::Equal => a == b,
                RefMode::Contains => a.contains(&*b),
                RefMode::StartsWith => a.starts_with(&*b),
                RefMode::EndsWith => a.ends_with(&*b),
            }
        }
        Matcher::DatePart { part, op, value } => part.of(text).is_some_and(|got| match op {
            None => got == *value,
            Some(CompareOp::Lt) => got < *value,
            Some(CompareOp::Lte) => got <= *value,
            Some(CompareOp::Gt) => got > *value,
            Some(CompareOp::Gte) => got >= *value,
        }),
        Matcher::Null | Matcher::Exists(_) => false,
    }
}

pub(crate) fn in_network(ip: IpAddr, network: IpAddr, prefix: u8) -> bool {
    match (ip, network) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(prefix))
            };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(prefix))
            };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{event, rule};

    use super::*;
    use crate::load::{Loaded, parse_rules};

    /// (detection YAML, event JSON, expected match)
    fn check(cases: &[(&str, &str, bool)]) {
        for (detection, json, want) in cases {
            let got = rule_matches(&rule(detection), &event(json));
            assert_eq!(got, *want, "\n{detection}\n{json}");
        }
    }

    #[test]
    fn strings_case_wildcards_escapes() {
        check(&[
            (
                "  s:\n    Image: 'C:\\Windows\\cmd.exe'\n  condition: s",
                r#"{"Image":"c:\\windows\\CMD.EXE"}"#,
                true,
            ),
            (
                "  s:\n    Image: 'C:\\Windows\\cmd.exe'\n  condition: s",
                r#"{"Image":"c:\\windows\\cmd.exe2"}"#,
                false,
            ),
            (
                "  s:\n    Image|cased: 'CMD'\n  condition: s",
                r#"{"Image":"cmd"}"#,
                false,
            ),
            (
                "  s:\n    Image|cased: 'CMD'\n  condition: s",
                r#"{"Image":"CMD"}"#,
                true,
            ),
            (
                "  s:\n    Image: '*\\cmd.exe'\n  condition: s",
                r#"{"Image":"C:\\x\\cmd.exe"}"#,
                true,
            ),
            (
                "  s:\n    Image: 'c?d'\n  condition: s",
                r#"{"Image":"cmd"}"#,
                true,
            ),
            (
                "  s:\n    Image: 'a\\*b'\n  condition: s",
                r#"{"Image":"a*b"}"#,
                true,
            ),
            (
                "  s:\n    Image: 'a\\*b'\n  condition: s",
                r#"{"Image":"axxb"}"#,
                false,
            ),
            (
                "  s:\n    Image: 'C:\\\\\\\\share'\n  condition: s",
                r#"{"Image":"C:\\\\share"}"#,
                true,
            ),
            (
                "  s:\n    Image: ''\n  condition: s",
                r#"{"Image":""}"#,
                true,
            ),
            (
                "  s:\n    Image: ''\n  condition: s",
                r#"{"Image":"x"}"#,
                false,
            ),
        ]);
    }

    #[test]
    fn contains_startswith_endswith_all_and_lists() {
        check(&[
            (
                "  s:\n    CommandLine|contains: 'WHOAMI'\n  condition: s",
                r#"{"CommandLine":"cmd /c whoami /all"}"#,
                true,
            ),
            (
                "  s:\n    CommandLine|startswith: 'cmd'\n  condition: s",
                r#"{"CommandLine":"cmd /c x"}"#,
                true,
            ),
            (
                "  s:\n    CommandLine|startswith: 'x'\n  condition: s",
                r#"{"CommandLine":"cmd /c x"}"#,
                false,
            ),
            (
                "  s:\n    CommandLine|endswith: ' x'\n  condition: s",
                r#"{"CommandLine":"cmd /c x"}"#,
                true,
            ),
            (
                "  s:\n    CommandLine|contains|all:\n      - 'a'\n      - 'z'\n  condition: s",
                r#"{"CommandLine":"abc"}"#,
                false,
            ),
            (
                "  s:\n    CommandLine|contains|all:\n      - 'a'\n      - 'c'\n  condition: s",
                r#"{"CommandLine":"abc"}"#,
                true,
            ),
            (
                "  s:\n    CommandLine|contains:\n      - 'zz'\n      - 'b'\n  condition: s",
                r#"{"CommandLine":"abc"}"#,
                true,
            ),
            (
                "  s:\n    - A: 1\n    - B: 2\n  condition: s",
                r#"{"B":2}"#,
                true,
            ),
            (
                "  s:\n    A: 1\n    B: 2\n  condition: s",
                r#"{"B":2}"#,
                false,
            ),
        ]);
    }

    #[test]
    fn matched_fields_of_a_match_are_those_of_a_full_evaluation() {
        let rules = [
            "  s:\n    Image|endswith: '\\cmd.exe'\n    CommandLine|contains: whoami\n  f:\n    User: admin\n  k:\n    - secret\n  condition: s and not f or k",
            "  s:\n    Image|endswith: '\\cmd.exe'\n  f:\n    - User: alice\n    - CommandLine|contains: nothing\n  condition: s and not f",
            "  s:\n    - Image|endswith: '\\cmd.exe'\n    - CommandLine|contains: whoami\n  t:\n    User: bob\n  condition: s and t",
            "  s1:\n    Image|endswith: '\\cmd.exe'\n  s2:\n    User: nobody\n  s3:\n    Note|contains: secret\n  condition: 1 of s*",
            "  s1:\n    Image|endswith: '\\cmd.exe'\n  s2:\n    Note|contains: secret\n  condition: all of s*",
            "  k:\n    - whoami\n    - secret\n  f:\n    Missing: null\n  condition: k and f",
            "  s:\n    Image|endswith: '\\cmd.exe'\n  f:\n    User: admin\n  g:\n    Note: nope\n  condition: s and not (f or g) and not 1 of x*\n  x1:\n    User: admin",
            "  s:\n    Image|endswith: '\\cmd.exe'\n  f:\n    User: bob\n  condition: not (not s or not f)",
        ];
        let e = event(
            r#"{"Image":"C:\\cmd.exe","CommandLine":"cmd /c whoami","User":"bob","Note":"top secret"}"#,
        );
        for text in rules {
            let r = rule(text);
            assert!(rule_matches(&r, &e), "{text}");
            let names = |v: Vec<(String, Value<'_>)>| -> Vec<String> {
                v.into_iter().map(|(k, _)| k).collect()
            };
            let known = names(collect_fields(&r, &e, true));
            assert!(!known.is_empty() || text.contains("not (not"), "{text}");
            assert_eq!(known, names(collect_fields(&r, &e, false)), "{text}");
        }
    }

    #[test]
    fn matched_fields_name_what_fired() {
        let r = rule(
            "  s:\n    Image|endswith: '\\cmd.exe'\n    CommandLine|contains: whoami\n  f:\n    User: admin\n  k:\n    - secret\n  condition: s and not f or k",
        );
        let e = event(
            r#"{"Image":"C:\\cmd.exe","CommandLine":"cmd /c whoami","User":"bob","Note":"top secret"}"#,
        );
        assert!(rule_matches(&r, &e));
        let got: Vec<(String, String)> = matched_fields(&r, &e)
            .into_iter()
            .map(|(k, v)| (k, v.as_text().unwrap_or_default().to_owned()))
            .collect();
        assert_eq!(
            got,
            [
                ("Image".to_owned(), "C:\\cmd.exe".to_owned()),
                ("CommandLine".to_owned(), "cmd /c whoami".to_owned()),
                ("Note".to_owned(), "top secret".to_owned()),
            ]
        );
    }

    #[test]
    fn date_parts() {
        let at = r#"{"t":"2026-11-22T03:15:00Z","u":"yesterday"}"#;
        check(&[
            ("  s:\n    t|hour: 3\n  condition: s", at, true),
            ("  s:\n    t|hour: 4\n  condition: s", at, false),
            ("  s:\n    t|minute: 15\n  condition: s", at, true),
            ("  s:\n    t|day: 22\n  condition: s", at, true),
            ("  s:\n    t|week: 47\n  condition: s", at, true),
            ("  s:\n    t|month: 11\n  condition: s", at, true),
            ("  s:\n    t|year: 2026\n  condition: s", at, true),
            ("  s:\n    t|hour|lt: 6\n  condition: s", at, true),
            ("  s:\n    t|hour|gte: 22\n  condition: s", at, false),
            (
                "  s:\n    t|hour:\n      - 1\n      - 3\n  condition: s",
                at,
                true,
            ),
            ("  s:\n    u|hour: 3\n  condition: s", at, false),
            ("  s:\n    missing|hour: 3\n  condition: s", at, false),
        ]);
    }

    #[test]
    fn numbers_null_exists_arrays() {
        check(&[
            (
                "  s:\n    EventID: 4688\n  condition: s",
                r#"{"EventID":4688}"#,
                true,
            ),
            (
                "  s:\n    EventID: 4688\n  condition: s",
                r#"{"EventID":"4688"}"#,
                true,
            ),
            (
                "  s:\n    EventID: '4688'\n  condition: s",
                r#"{"EventID":4688}"#,
                true,
            ),
            (
                "  s:\n    EventID: 4688\n  condition: s",
                r#"{"EventID":46880}"#,
                false,
            ),
            (
                "  s:\n    Parent: null\n  condition: s",
                r#"{"Other":1}"#,
                true,
            ),
            (
                "  s:\n    Parent: null\n  condition: s",
                r#"{"Parent":null}"#,
                true,
            ),
            (
                "  s:\n    Parent: null\n  condition: s",
                r#"{"Parent":""}"#,
                false,
            ),
            (
                "  s:\n    Parent|exists: true\n  condition: s",
                r#"{"Parent":null}"#,
                true,
            ),
            (
                "  s:\n    Parent|exists: false\n  condition: s",
                r#"{"Other":null}"#,
                true,
            ),
            (
                "  s:\n    Parent|exists: true\n  condition: s",
                r#"{"Other":null}"#,
                false,
            ),
            (
                "  s:\n    tags: 'b'\n  condition: s",
                r#"{"tags":["a","B"]}"#,
                true,
            ),
            (
                "  s:\n    tags: 'c'\n  condition: s",
                r#"{"tags":["a","B"]}"#,
                false,
            ),
            ("  s:\n    n|gt: 10\n  condition: s", r#"{"n":11}"#, true),
            ("  s:\n    n|gte: 10\n  condition: s", r#"{"n":"10"}"#, true),
            ("  s:\n    n|lt: 10\n  condition: s", r#"{"n":10}"#, false),
            (
                "  s:\n    n|lte: 10.5\n  condition: s",
                r#"{"n":"x"}"#,
                false,
            ),
        ]);
    }

    #[test]
    fn keywords() {
        check(&[
            (
                "  k:\n    - 'failed password'\n  condition: k",
                r#"{"message":"sshd: Failed password for root"}"#,
                true,
            ),
            (
                "  k:\n    - 'nope'\n    - 'root'\n  condition: k",
                r#"{"message":"sshd: Failed password for root"}"#,
                true,
            ),
            (
                "  k:\n    '|all':\n      - 'failed'\n      - 'nope'\n  condition: k",
                r#"{"message":"failed"}"#,
                false,
            ),
            (
                "  k:\n    '|all':\n      - 'failed'\n      - 'root'\n  condition: k",
                r#"{"a":"failed","b":"root"}"#,
                true,
            ),
        ]);
    }

    #[test]
    fn regex_cidr_fieldref() {
        check(&[
            (
                "  s:\n    c|re: 'who[a-z]+'\n  condition: s",
                r#"{"c":"x whoami y"}"#,
                true,
            ),
            (
                "  s:\n    c|re: 'WHOAMI'\n  condition: s",
                r#"{"c":"whoami"}"#,
                false,
            ),
            (
                "  s:\n    c|re|i: 'WHOAMI'\n  condition: s",
                r#"{"c":"whoami"}"#,
                true,
            ),
            (
                "  s:\n    c|re: '^a.b$'\n  condition: s",
                r#"{"c":"a\nb"}"#,
                false,
            ),
            (
                "  s:\n    c|re|s: '^a.b$'\n  condition: s",
                r#"{"c":"a\nb"}"#,
                true,
            ),
            (
                "  s:\n    ip|cidr: '10.0.0.0/8'\n  condition: s",
                r#"{"ip":"10.1.2.3"}"#,
                true,
            ),
            (
                "  s:\n    ip|cidr: '10.0.0.0/8'\n  condition: s",
                r#"{"ip":"11.1.2.3"}"#,
                false,
            ),
            (
                "  s:\n    ip|cidr: 'fe80::/10'\n  condition: s",
                r#"{"ip":"fe80::1"}"#,
                true,
            ),
            (
                "  s:\n    ip|cidr: 'fe80::/10'\n  condition: s",
                r#"{"ip":"10.0.0.1"}"#,
                false,
            ),
            (
                "  s:\n    a|fieldref: b\n  condition: s",
                r#"{"a":"X","b":"x"}"#,
                true,
            ),
            (
                "  s:\n    a|fieldref|cased: b\n  condition: s",
                r#"{"a":"X","b":"x"}"#,
                false,
            ),
            (
                "  s:\n    a|fieldref|contains: b\n  condition: s",
                r#"{"a":"wxyz","b":"XY"}"#,
                true,
            ),
            (
                "  s:\n    a|fieldref: b\n  condition: s",
                r#"{"a":"x"}"#,
                false,
            ),
            ("  s:\n    a|neq: x\n  condition: s", r#"{"a":"y"}"#, true),
            ("  s:\n    a|neq: x\n  condition: s", r#"{"a":"X"}"#, false),
        ]);
    }

    #[test]
    fn encodings_and_windash() {
        // "ping" in UTF-16LE, base64: cABpAG4AZwA=
        check(&[
            (
                "  s:\n    c|base64: 'ping'\n  condition: s",
                r#"{"c":"cGluZw=="}"#,
                true,
            ),
            (
                "  s:\n    c|base64offset|contains: 'ping'\n  condition: s",
                r#"{"c":"xx cGluZw== yy"}"#,
                true,
            ),
            (
                "  s:\n    c|base64offset|contains: 'ping'\n  condition: s",
                r#"{"c":"YSBwaW5n"}"#,
                true,
            ),
            (
                "  s:\n    c|wide|base64offset|contains: 'ping'\n  condition: s",
                r#"{"c":"powershell -enc cABpAG4AZwA="}"#,
                true,
            ),
            (
                "  s:\n    c|windash|contains: ' -enc '\n  condition: s",
                r#"{"c":"powershell /enc x"}"#,
                true,
            ),
            (
                "  s:\n    c|windash|contains: ' -enc '\n  condition: s",
                "{\"c\":\"powershell \u{2014}enc x\"}",
                true,
            ),
            (
                "  s:\n    c|windash|contains: ' -enc '\n  condition: s",
                r#"{"c":"powershell +enc x"}"#,
                false,
            ),
        ]);
    }

    #[test]
    fn conditions() {
        let d = "  sel_a:\n    a: 1\n  sel_b:\n    b: 1\n  filter:\n    f: 1\n";
        check(&[
            (
                &format!("{d}  condition: 1 of sel_* and not filter"),
                r#"{"b":1}"#,
                true,
            ),
            (
                &format!("{d}  condition: 1 of sel_* and not filter"),
                r#"{"b":1,"f":1}"#,
                false,
            ),
            (
                &format!("{d}  condition: all of sel_*"),
                r#"{"a":1}"#,
                false,
            ),
            (
                &format!("{d}  condition: all of sel_*"),
                r#"{"a":1,"b":1}"#,
                true,
            ),
            (
                &format!("{d}  condition: all of them"),
                r#"{"a":1,"b":1}"#,
                false,
            ),
            (
                &format!("{d}  condition:\n    - sel_a\n    - filter"),
                r#"{"f":1}"#,
                true,
            ),
            (
                &format!("{d}  condition: not (sel_a or sel_b)"),
                r#"{"f":1}"#,
                true,
            ),
        ]);
    }

    #[test]
    fn security_4688_runs_process_creation_rules() {
        let mut loaded = Loaded::default();
        parse_rules(
            "title: t\nlogsource:\n  product: windows\n  category: process_creation\ndetection:\n  s:\n    Image|endswith: '\\whoami.exe'\n    ParentImage|endswith: '\\cmd.exe'\n  condition: s\n",
            "t.yml",
            &mut loaded,
        );
        let r = &loaded.rules[0];
        let security = event(
            r#"{"Event":{"System":{"Channel":"Security","EventID":4688},"EventData":{"NewProcessName":"C:\\Windows\\System32\\whoami.exe","ParentProcessName":"C:\\Windows\\System32\\cmd.exe"}}}"#,
        );
        let sysmon = event(
            r#"{"Event":{"System":{"Channel":"Microsoft-Windows-Sysmon/Operational","EventID":1},"EventData":{"Image":"C:\\Windows\\System32\\whoami.exe","ParentImage":"C:\\Windows\\System32\\cmd.exe"}}}"#,
        );
        assert!(rule_matches(r, &security));
        assert!(rule_matches(r, &sysmon));
        // The mapping applies to its source only.
        let other = event(
            r#"{"Event":{"System":{"Channel":"Security","EventID":4624},"EventData":{"NewProcessName":"C:\\whoami.exe"}}}"#,
        );
        assert!(crate::mapping::field(&other, "Image").is_none());
    }

    #[test]
    fn logsource_routing() {
        let mut loaded = Loaded::default();
        parse_rules(
            "title: t\nlogsource:\n  product: windows\n  category: process_creation\ndetection:\n  s:\n    EventID: 1\n  condition: s\n",
            "t.yml",
            &mut loaded,
        );
        let r = &loaded.rules[0];
        let sysmon = event(
            r#"{"Event":{"System":{"Channel":"Microsoft-Windows-Sysmon/Operational","EventID":1}}}"#,
        );
        let other = event(
            r#"{"Event":{"System":{"Channel":"Microsoft-Windows-Sysmon/Operational","EventID":3}}}"#,
        );
        let flat = event(r#"{"EventID":1}"#);
        assert!(rule_matches(r, &sysmon));
        assert!(!rule_matches(r, &other));
        assert!(!rule_matches(r, &flat));
    }
}
