//! A detection as `vigie hunt` reports it: a rule (or correlation) that fired, with the
//! event's reference fields copied out, so that the event itself can be dropped.

use std::sync::{Arc, OnceLock};

use clap::ValueEnum;
use serde_json::Value as Json;
use vigie_event::time::{Timestamp, UtcOffset};
use vigie_event::{Event, FieldId};

use vigie_event::render;

/// Sigma levels, lowest first. A rule without a level (or with one outside the standard) is
/// ranked with `informational`: it is reported unless `--min-level` asks for more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub(crate) enum Level {
    Informational,
    Low,
    Medium,
    High,
    Critical,
}

impl Level {
    pub(crate) fn of(level: Option<&str>) -> Level {
        match level.map(str::to_ascii_lowercase).as_deref() {
            Some("low") => Level::Low,
            Some("medium") => Level::Medium,
            Some("high") => Level::High,
            Some("critical") => Level::Critical,
            _ => Level::Informational,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Level::Informational => "informational",
            Level::Low => "low",
            Level::Medium => "medium",
            Level::High => "high",
            Level::Critical => "critical",
        }
    }

    pub(crate) const ALL: [Level; 5] = [
        Level::Critical,
        Level::High,
        Level::Medium,
        Level::Low,
        Level::Informational,
    ];
}

/// The rule metadata a detection shows, shared by all its detections.
#[derive(Debug)]
pub(crate) struct RuleInfo {
    pub(crate) id: String,
    pub(crate) title: String,
    pub(crate) level: Level,
    pub(crate) tags: Vec<String>,
}

/// One detection.
#[derive(Debug)]
pub(crate) struct Detection<'e> {
    pub(crate) rule: Arc<RuleInfo>,
    pub(crate) time: Timestamp,
    pub(crate) computer: Option<Box<str>>,
    pub(crate) channel: Option<Box<str>>,
    pub(crate) event_id: Json,
    pub(crate) record_id: Json,
    /// Index of the input file (`None` for a correlation, which spans events).
    pub(crate) file: Option<usize>,
    /// Field → value of what matched (for a correlation: its group and value).
    pub(crate) matched: Vec<(String, Json)>,
    /// All the event's fields as compact JSON (written once for all the detections of
    /// one event), when the output format shows them.
    pub(crate) event: Option<&'e [u8]>,
}

/// A field every detection reads, its name interned once: looking a name up takes the
/// interner's shared lock, which the workers would otherwise take four times a detection.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Known {
    Computer,
    Channel,
    EventId,
    RecordId,
}

impl Known {
    fn id(self) -> Option<FieldId> {
        static IDS: OnceLock<[Option<FieldId>; 4]> = OnceLock::new();
        IDS.get_or_init(|| {
            ["Computer", "Channel", "EventID", "EventRecordID"].map(|n| FieldId::intern(n).ok())
        })[self as usize]
    }
}

/// The text of a field, when it is a scalar.
pub(crate) fn text(event: &Event, field: Known) -> Option<Box<str>> {
    let value = event.fields.get(field.id()?)?;
    value.as_text().map(Box::from)
}

/// A field as JSON (`null` when absent).
pub(crate) fn json(event: &Event, field: Known) -> Json {
    field
        .id()
        .and_then(|id| event.fields.get(id))
        .map_or(Json::Null, render::value)
}

impl<'e> Detection<'e> {
    /// A detection of `rule` on `event`, read from file `file`.
    pub(crate) fn of_event(
        rule: Arc<RuleInfo>,
        event: &Event,
        file: usize,
        matched: Vec<(String, Json)>,
        event_json: Option<&'e [u8]>,
    ) -> Detection<'e> {
        Detection {
            rule,
            time: event.time,
            computer: text(event, Known::Computer).or_else(|| event.host.clone()),
            channel: text(event, Known::Channel),
            event_id: json(event, Known::EventId),
            record_id: json(event, Known::RecordId),
            file: Some(file),
            matched,
            event: event_json,
        }
    }

    /// The time as RFC 3339 UTC (`Z`).
    pub(crate) fn timestamp(&self) -> String {
        utc(self.time)
    }
}

/// RFC 3339 text in UTC, ending in `Z`.
pub(crate) fn utc(time: Timestamp) -> String {
    time.to_rfc3339(UtcOffset::UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_rank_and_unknown_levels_are_informational() {
        assert!(Level::of(Some("critical")) > Level::of(Some("High")));
        assert!(Level::of(Some("low")) > Level::of(None));
        assert_eq!(Level::of(Some("severe")), Level::Informational);
    }

    #[test]
    fn timestamps_are_utc_with_z() {
        assert_eq!(
            utc(Timestamp::from_nanos(1_500_000_000_123_000_000)),
            "2017-07-14T02:40:00.123Z"
        );
    }
}
