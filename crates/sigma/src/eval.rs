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
    let value_holds = |alternatives: &Vec<Matcher>| match &item.field {
        Some(field) => {
            let value = event.fields.get_by_name(field);
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

fn matcher_holds(m: &Matcher, value: Option<Value<'_>>, event: &Event) -> bool {
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

fn scalar_holds(m: &Matcher, v: Value<'_>, event: &Event) -> bool {
    let Some(text) = v.as_text() else {
        return false;
    };
    match m {
        Matcher::Glob { pattern, cased } => {
            if *cased {
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
            let Some(other) = event.fields.get_by_name(field).and_then(|o| o.as_text()) else {
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
        Matcher::Null | Matcher::Exists(_) => false,
    }
}

fn in_network(ip: IpAddr, network: IpAddr, prefix: u8) -> bool {
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
