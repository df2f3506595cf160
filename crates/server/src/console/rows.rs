//! An alert of an API answer as the console shows it: a row of the queue (and of a group,
//! and of the live stream), its lifecycle state and the transitions a reader may offer.

use serde_json::Value;

use super::text;
use super::view::AlertRow;

/// `2026-12-07T10:11:12.123Z` → `12-07 10:11:12`.
fn short_time(rfc3339: &str) -> String {
    match (rfc3339.get(5..10), rfc3339.get(11..19)) {
        (Some(day), Some(time)) => format!("{day} {time}"),
        _ => rfc3339.to_owned(),
    }
}

/// The rows of the alerts of an API answer (`{"alerts": […]}`).
pub(crate) fn rows_of(json: &Value, tenant: &str) -> Vec<AlertRow> {
    json["alerts"]
        .as_array()
        .map(|alerts| alerts.iter().map(|a| row_of(a, tenant)).collect())
        .unwrap_or_default()
}

pub(crate) fn row_of(a: &Value, tenant: &str) -> AlertRow {
    let id = text(&a["id"]);
    let time = text(&a["event_time"]);
    AlertRow {
        href: format!("/console/t/{tenant}/alerts/{id}"),
        time_short: short_time(&time),
        time,
        level: text(&a["level"]),
        title: text(&a["rule_title"]),
        host: text(&a["host"]),
        status: text(&a["status"]),
        priority: text(&a["priority"]),
        assignee: String::new(),
        id,
    }
}

/// The lifecycle state of an alert of an API answer.
pub(crate) fn state_of(a: &Value) -> Option<vigie_govern::triage::AlertState> {
    Some(vigie_govern::triage::AlertState {
        status: vigie_govern::triage::Status::parse(a["status"].as_str()?)?,
        queue: a["queue"].as_str()?.parse().ok()?,
        qualification: a["qualification"]
            .as_str()
            .and_then(vigie_govern::triage::Qualification::parse),
    })
}

/// The transitions `role` may make on an alert in `state` (with a note, which the form
/// asks for): (the API's action name, catalog key).
pub(crate) fn possible_actions(
    state: vigie_govern::triage::AlertState,
    role: vigie_govern::Role,
) -> Vec<(&'static str, &'static str)> {
    use vigie_govern::Tier;
    use vigie_govern::triage::{Qualification, Transition, apply};
    let candidates: [(&str, &str, &[Transition]); 6] = [
        (
            "acknowledge",
            "triage.acknowledge",
            &[Transition::Acknowledge],
        ),
        (
            "qualify",
            "triage.qualify",
            &[Transition::Qualify(Qualification::FalsePositive)],
        ),
        (
            "escalate",
            "triage.escalate",
            &[
                Transition::Escalate(Tier::L2),
                Transition::Escalate(Tier::L3),
            ],
        ),
        (
            "deescalate",
            "triage.deescalate",
            &[
                Transition::Deescalate(Tier::L1),
                Transition::Deescalate(Tier::L2),
            ],
        ),
        ("close", "triage.close", &[Transition::Close]),
        ("reopen", "triage.reopen", &[Transition::Reopen]),
    ];
    candidates
        .into_iter()
        .filter(|(_, _, ts)| {
            ts.iter()
                .any(|t| apply(state, *t, role, Some("note")).is_ok())
        })
        .map(|(name, key, _)| (name, key))
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn rows_and_links() {
        let rows = rows_of(
            &json!({"alerts": [{"id": "01X", "event_time": "2026-12-07T10:11:12Z",
                "level": "high", "rule_title": "T", "host": null, "status": "new"}]}),
            "acme",
        );
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].href, "/console/t/acme/alerts/01X");
        assert_eq!(rows[0].time_short, "12-07 10:11:12");
        assert_eq!(rows[0].host, "");
    }
}
