//! A detection as `vigie hunt` reports it: a rule (or correlation) that fired, with the
//! event's reference fields copied out, so that the event itself can be dropped.

use std::sync::{Arc, OnceLock};

use serde_json::Value as Json;
use vigie_detect::RuleMeta;
use vigie_event::render;
use vigie_event::time::{Timestamp, UtcOffset};
use vigie_event::{Event, FieldId};

/// One detection.
#[derive(Debug)]
pub(crate) struct Detection<'e> {
    pub(crate) rule: Arc<RuleMeta>,
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
        rule: Arc<RuleMeta>,
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
    fn timestamps_are_utc_with_z() {
        assert_eq!(
            utc(Timestamp::from_nanos(1_500_000_000_123_000_000)),
            "2017-07-14T02:40:00.123Z"
        );
    }
}
