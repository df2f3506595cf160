//! Field mappings per event source, as data (`data/field-mappings.tsv`): the same rule runs on
//! Sysmon events and on Security 4688 events (`Image` is `NewProcessName` there).

use std::sync::OnceLock;

use vigie_event::{Event, FieldId, Value};

/// The embedded mapping table.
const TABLE: &str = include_str!("../data/field-mappings.tsv");

#[derive(Debug)]
struct Row {
    channel: String,
    event_ids: Vec<u32>,
    rule_field: String,
    event_field: String,
}

fn rows() -> &'static [Row] {
    static ROWS: OnceLock<Vec<Row>> = OnceLock::new();
    ROWS.get_or_init(|| {
        TABLE
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .filter_map(|l| {
                let cols: Vec<&str> = l.split('\t').collect();
                let [channel, ids, rule_field, event_field] = cols[..] else {
                    return None;
                };
                Some(Row {
                    channel: channel.to_ascii_lowercase(),
                    event_ids: ids
                        .split(',')
                        .filter_map(|i| i.trim().parse().ok())
                        .collect(),
                    rule_field: rule_field.to_owned(),
                    event_field: event_field.to_owned(),
                })
            })
            .collect()
    })
}

/// The mappings of rule field `name`: (channel in lower case, EventIDs, event field).
pub(crate) fn rows_for(
    name: &str,
) -> impl Iterator<Item = (&'static str, &'static [u32], &'static str)> + '_ {
    rows()
        .iter()
        .filter(move |r| r.rule_field == name)
        .map(|r| {
            (
                r.channel.as_str(),
                r.event_ids.as_slice(),
                r.event_field.as_str(),
            )
        })
}

/// The value a rule calls `name` in `event`: the field itself, or the field that holds the same
/// value in this event's source.
pub fn field<'e>(event: &'e Event, name: &str) -> Option<Value<'e>> {
    if let Some(v) = event.fields.get_by_name(name) {
        return Some(v);
    }
    // Interned once: a lookup by name takes the interner's shared lock.
    static IDS: OnceLock<[Option<FieldId>; 2]> = OnceLock::new();
    let [channel, event_id] =
        *IDS.get_or_init(|| ["Channel", "EventID"].map(|n| FieldId::intern(n).ok()));
    let channel = event.fields.get(channel?)?.as_text()?;
    let event_id: u32 = event.fields.get(event_id?)?.as_text()?.parse().ok()?;
    rows()
        .iter()
        .find(|r| {
            r.rule_field == name
                && r.event_ids.contains(&event_id)
                && r.channel.eq_ignore_ascii_case(channel)
        })
        .and_then(|r| event.fields.get_by_name(&r.event_field))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_parses() {
        let data_lines = TABLE
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .count();
        assert_eq!(rows().len(), data_lines);
        assert!(rows().iter().all(|r| !r.event_ids.is_empty()));
    }
}
