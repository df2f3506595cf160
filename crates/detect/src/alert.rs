//! The one function from a Sigma match or a correlation result to an alert: the server
//! stores what it makes, `vigie hunt` reports it, so the two cannot show different values.

use std::sync::Arc;

use serde_json::{Map, Value as Json};
use vigie_event::render;
use vigie_event::{Event, EventId, TenantId, Timestamp, UtcOffset};
use vigie_sigma::CorrelationMatch;

use crate::{RuleBook, RuleMeta};

/// What raised an alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlertKind {
    /// A detection rule matched one event.
    Rule,
    /// A correlation's condition held over a window of events.
    Correlation,
}

/// The window of a correlation alert.
#[derive(Clone, Debug, PartialEq)]
pub struct Window {
    /// The first event time of the window that satisfied the condition.
    pub first: Timestamp,
    /// The last.
    pub last: Timestamp,
    /// Ids of the events that took part (at most the correlation limits' `max_event_ids`).
    pub events: Vec<EventId>,
}

/// One alert, before it is stored or reported.
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    /// What raised it.
    pub kind: AlertKind,
    /// The rule or correlation.
    pub rule: Arc<RuleMeta>,
    /// Whose event(s).
    pub tenant: TenantId,
    /// The event that matched; for a correlation, the last one of its window (none when the
    /// window kept no ids).
    pub event_id: Option<EventId>,
    /// The event's time; for a correlation, the last event time of its window. (The
    /// event's other fields, its host for one, are the caller's to read: it holds the event,
    /// and copying them here cost `vigie hunt` an allocation per detection.)
    pub time: Timestamp,
    /// What matched, field → value; for a correlation, its `group-by` fields and `value`.
    pub matched: Vec<(String, Json)>,
    /// For a correlation, its window.
    pub window: Option<Window>,
}

/// A correlation's value as JSON: counts are whole numbers, written as such (`3`, not
/// `3.0`); other values (averages, shares) as numbers; a non-finite value as `null`.
pub fn correlation_value(value: f64) -> Json {
    if value.fract() == 0.0 && value.abs() < 9e15 {
        Json::from(value as i64)
    } else {
        serde_json::Number::from_f64(value).map_or(Json::Null, Json::Number)
    }
}

impl Alert {
    /// The alert of rule `rule` of `book` matching `event`, with the fields that matched.
    pub fn of_match(book: &RuleBook, rule: usize, event: &Event) -> Alert {
        let matched = book
            .set
            .matched_fields(rule, event)
            .into_iter()
            .map(|(k, v)| (k, render::value(v)))
            .collect();
        Alert {
            kind: AlertKind::Rule,
            rule: Arc::clone(&book.rules[rule]),
            tenant: event.tenant.clone(),
            event_id: Some(event.id),
            time: event.time,
            matched,
            window: None,
        }
    }

    /// The alert of a correlation result of `book`, for `tenant`.
    pub fn of_correlation(book: &RuleBook, tenant: &TenantId, m: CorrelationMatch) -> Alert {
        let mut matched: Vec<(String, Json)> = m
            .group
            .into_iter()
            .map(|(k, v)| (k, Json::String(v)))
            .collect();
        matched.push(("value".to_owned(), correlation_value(m.value)));
        Alert {
            kind: AlertKind::Correlation,
            rule: Arc::clone(&book.correlation_rules[m.correlation]),
            tenant: tenant.clone(),
            event_id: m.events.last().copied(),
            time: m.last,
            matched,
            window: Some(Window {
                first: m.first,
                last: m.last,
                events: m.events,
            }),
        }
    }

    /// What the alert store keeps as the alert's `matched` object: the matched fields, and
    /// for a correlation its window's `first` time and `events` ids. Takes the fields (the
    /// caller keeps the rest of the alert) rather than copying them.
    pub fn take_matched_json(&mut self) -> Json {
        let mut out: Map<String, Json> = std::mem::take(&mut self.matched).into_iter().collect();
        if let Some(w) = &self.window {
            out.insert(
                "first".to_owned(),
                w.first.to_rfc3339(UtcOffset::UTC).into(),
            );
            out.insert(
                "events".to_owned(),
                w.events
                    .iter()
                    .map(|id| Json::from(id.to_string()))
                    .collect::<Vec<_>>()
                    .into(),
            );
        }
        Json::Object(out)
    }
}

/// Fields that name the user an event is about, most specific first (Windows Security's
/// target and subject, Sysmon's `User`, ECS, common syslog decoders).
pub const USER_FIELDS: [&str; 7] = [
    "TargetUserName",
    "SubjectUserName",
    "User",
    "user.name",
    "UserName",
    "user",
    "suser",
];

/// Fields that name the source address an event is about (Windows logons, Sysmon network,
/// ECS, Zeek, CEF).
pub const SOURCE_FIELDS: [&str; 7] = [
    "IpAddress",
    "SourceIp",
    "source.ip",
    "src_ip",
    "id.orig_h",
    "src",
    "SourceAddress",
];

/// The first non-empty text of `ids` in `event` ("-", Windows' "none", counts as empty).
fn first_text(event: &Event, ids: &[Option<vigie_event::FieldId>]) -> Option<String> {
    ids.iter().flatten().find_map(|id| {
        let value = event.fields.get(*id)?;
        let text = value.as_text()?;
        let text = text.trim();
        (!text.is_empty() && text != "-").then(|| text.to_owned())
    })
}

/// The field ids of [`USER_FIELDS`] and [`SOURCE_FIELDS`], interned once (a lookup by name
/// takes the interner's shared lock: fourteen of them per alert showed in the pipeline).
fn entity_ids() -> &'static [[Option<vigie_event::FieldId>; 7]; 2] {
    static IDS: std::sync::OnceLock<[[Option<vigie_event::FieldId>; 7]; 2]> =
        std::sync::OnceLock::new();
    IDS.get_or_init(|| {
        [
            USER_FIELDS.map(|n| vigie_event::FieldId::intern(n).ok()),
            SOURCE_FIELDS.map(|n| vigie_event::FieldId::intern(n).ok()),
        ]
    })
}

/// The user and the source address an alert's event names, for grouping alerts by entity
/// (`vigie_govern::grouping`).
pub fn entities(event: &Event) -> (Option<String>, Option<String>) {
    let [user, source] = entity_ids();
    (first_text(event, user), first_text(event, source))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_values_are_integers_and_others_stay_numbers() {
        assert_eq!(correlation_value(3.0).to_string(), "3");
        assert_eq!(correlation_value(-2.0).to_string(), "-2");
        assert_eq!(correlation_value(2.5).to_string(), "2.5");
        assert_eq!(correlation_value(1e16).to_string(), "1e+16");
        assert_eq!(correlation_value(f64::NAN), Json::Null);
        assert_eq!(correlation_value(f64::INFINITY), Json::Null);
    }

    #[test]
    fn entities_are_the_first_named_user_and_source() {
        use vigie_event::{Decoder, Origin, Source, SourceKind};
        let mut d = Decoder::new(Origin::new(
            TenantId::new("t").unwrap(),
            Source::new(SourceKind::File, "f"),
        ));
        let mut event = |data: serde_json::Value| {
            let json = serde_json::json!({"Event": {"System": {
                "Provider": {"#attributes": {"Name": "Microsoft-Windows-Security-Auditing"}},
                "EventID": 4625, "Channel": "Security", "Computer": "dc1"},
                "EventData": data}});
            d.decode_json(bytes::Bytes::from(json.to_string())).unwrap()
        };
        let e = event(serde_json::json!({
            "SubjectUserName": "svc", "TargetUserName": "alice", "IpAddress": "10.0.0.7"}));
        assert_eq!(
            entities(&e),
            (Some("alice".into()), Some("10.0.0.7".into()))
        );
        let e = event(
            serde_json::json!({"TargetUserName": "-", "SubjectUserName": " bob ", "IpAddress": "-"}),
        );
        assert_eq!(entities(&e), (Some("bob".into()), None));
        let e = event(serde_json::json!({"Other": "x"}));
        assert_eq!(entities(&e), (None, None));
    }
}
