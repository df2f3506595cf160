//! The alert queue and the alert page, rendered from `GET /api/v1/alerts` and
//! `GET /api/v1/alerts/{id}` (the same handlers, masks and audit records).
//!
//! Pagination is the API's keyset cursor (event time, alert id): the page after the
//! thousandth costs what the first does, with a million alerts in the tenant.

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::chrome::Chrome;
use super::rows::{possible_actions, row_of, rows_of, state_of};
use super::view::{AlertPage, ContextRow, FieldRow, Page, Queue, QueueFilter};
use super::{DoneParams, text, through};
use crate::api::App;
use crate::api::access::Authorized;
use crate::api::alerts::AlertsParams;
use crate::api::error::ApiError;
use vigie_govern::permission::{Action, Cell, allows};

/// Alerts per page of the queue.
pub(crate) const PAGE: usize = 50;

fn non_empty(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// The query string of `filter` (and a cursor), for the next page's link.
fn query_of(filter: &QueueFilter, cursor: Option<&str>) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (name, value) in [
        ("level", &filter.level),
        ("status", &filter.status),
        ("rule", &filter.rule),
        ("host", &filter.host),
        ("from", &filter.from),
        ("to", &filter.to),
        ("q", &filter.q),
        ("queue", &filter.queue),
        ("open", &filter.open),
        ("assignee", &filter.assignee),
        ("view", &filter.view),
    ] {
        if let Some(v) = non_empty(value) {
            out.append_pair(name, &v);
        }
    }
    if let Some(c) = cursor {
        out.append_pair("cursor", c);
    }
    out.finish()
}

/// `GET /console/t/{tenant}/alerts`.
pub(crate) async fn queue(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    headers: HeaderMap,
    Query(filter): Query<QueueFilter>,
) -> Response {
    let Some(tenant) = auth.tenant.clone() else {
        return ApiError::bad_request("no tenant").into_response();
    };
    let params = AlertsParams {
        level: non_empty(&filter.level),
        status: non_empty(&filter.status),
        rule: non_empty(&filter.rule),
        host: non_empty(&filter.host),
        q: non_empty(&filter.q),
        from: non_empty(&filter.from),
        to: non_empty(&filter.to),
        cursor: non_empty(&filter.cursor),
        limit: Some(PAGE),
        after_id: None,
        queue: non_empty(&filter.queue),
        open: non_empty(&filter.open).map(|o| o == "1" || o == "true"),
        assignee: non_empty(&filter.assignee),
        group: None,
    };
    let base = format!("/console/t/{}/alerts", tenant.as_str());
    let tabs = tabs(&base, &filter, auth.role);
    let hidden = form_urlencoded::parse(query_of(&filter, None).as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .filter(|(k, _)| k != "view")
        .collect();
    if non_empty(&filter.view).as_deref() == Some("groups") {
        return group_view(app, auth, headers, filter, base, tabs).await;
    }
    let api = crate::api::alerts::alerts(
        State(app.clone()),
        Extension(auth.clone()),
        Ok(Query(params)),
    )
    .await;
    let (json, carry) = match through(api).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let chrome = match Chrome::of(&app, &auth, &headers, "queue.title", &base).await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let mut alerts = rows_of(&json, tenant.as_str());
    super::triage::name_assignees(&app, &json, &mut alerts).await;
    // Live arrivals on the queue as it opens (no filter, first page): the newest id shown.
    let unfiltered = query_of(&filter, None).is_empty() && non_empty(&filter.cursor).is_none();
    let live = if unfiltered {
        let newest = alerts.iter().map(|a| a.id.as_str()).max().unwrap_or("");
        format!("{base}/live?after={newest}")
    } else {
        String::new()
    };
    let next = json["next"]
        .as_str()
        .map(|c| format!("{base}?{}", query_of(&filter, Some(c))));
    let page = Queue {
        chrome,
        live,
        filter,
        levels: vigie_detect::Level::ALL
            .iter()
            .rev()
            .map(|l| l.as_str().to_owned())
            .collect(),
        statuses: vigie_govern::triage::Status::ALL
            .iter()
            .map(|s| s.as_str().to_owned())
            .collect(),
        alerts,
        next,
        base,
        tabs,
        groups: None,
        hidden,
        bulk_actions: bulk_actions(auth.role),
    };
    carry.onto(page.page())
}

/// The queue's tabs: each tier's open alerts, the reader's own, the group view, all.
fn tabs(
    base: &str,
    filter: &QueueFilter,
    role: Option<vigie_govern::Role>,
) -> Vec<super::view::Tab> {
    let current = (
        non_empty(&filter.queue),
        non_empty(&filter.assignee),
        non_empty(&filter.view),
    );
    let mut out = Vec::new();
    let tiers: &[(&str, &str)] = &[
        ("l1", "queue.tab.l1"),
        ("l2", "queue.tab.l2"),
        ("l3", "queue.tab.l3"),
    ];
    for (tier, key) in tiers {
        out.push((
            *key,
            format!("{base}?queue={tier}&open=1"),
            current == (Some((*tier).to_owned()), None, None),
        ));
    }
    if role.is_some_and(|r| allows(r, Action::TriageAlerts) != Cell::Deny) {
        out.push((
            "queue.tab.mine",
            format!("{base}?assignee=me&open=1"),
            current == (None, Some("me".to_owned()), None),
        ));
    }
    out.push((
        "queue.tab.groups",
        format!("{base}?view=groups&open=1"),
        current.2.as_deref() == Some("groups"),
    ));
    out.push((
        "queue.tab.all",
        base.to_owned(),
        current == (None, None, None),
    ));
    out
}

/// The bulk actions offered to `role`: those of a transition its role may make on some
/// alert (the lifecycle decides for each alert).
fn bulk_actions(role: Option<vigie_govern::Role>) -> Vec<(&'static str, &'static str)> {
    let Some(role) = role else {
        return Vec::new();
    };
    if allows(role, Action::TriageAlerts) == Cell::Deny {
        return Vec::new();
    }
    vec![
        ("acknowledge", "triage.acknowledge"),
        ("qualify", "triage.qualify"),
        ("escalate", "triage.escalate"),
        ("deescalate", "triage.deescalate"),
        ("close", "triage.close"),
        ("reopen", "triage.reopen"),
        ("assign", "bulk.assign.me"),
    ]
}

/// The queue's group view: `GET /api/v1/alert-groups` with the tab's tier and openness.
async fn group_view(
    app: App,
    auth: Authorized,
    headers: HeaderMap,
    filter: QueueFilter,
    base: String,
    tabs: Vec<super::view::Tab>,
) -> Response {
    let Some(tenant) = auth.tenant.clone() else {
        return ApiError::bad_request("no tenant").into_response();
    };
    let params = crate::api::groups::GroupsParams {
        open: non_empty(&filter.open).map(|o| o == "1" || o == "true"),
        queue: non_empty(&filter.queue),
        rule: non_empty(&filter.rule),
        limit: Some(PAGE),
    };
    let api = crate::api::groups::groups(
        State(app.clone()),
        Extension(auth.clone()),
        Ok(Query(params)),
    )
    .await;
    let (json, carry) = match through(api).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let chrome = match Chrome::of(&app, &auth, &headers, "queue.title", &base).await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let page = Queue {
        chrome,
        live: String::new(),
        filter,
        levels: vigie_detect::Level::ALL
            .iter()
            .rev()
            .map(|l| l.as_str().to_owned())
            .collect(),
        statuses: vigie_govern::triage::Status::ALL
            .iter()
            .map(|s| s.as_str().to_owned())
            .collect(),
        alerts: Vec::new(),
        next: None,
        groups: Some(super::triage::group_rows(&json, tenant.as_str())),
        base,
        tabs,
        hidden: Vec::new(),
        bulk_actions: Vec::new(),
    };
    carry.onto(page.page())
}

/// An event's fields as `name=value`, space-separated (the export's column).
pub(crate) fn summary_full(event: &Value) -> String {
    event["fields"]
        .as_object()
        .map(|f| {
            f.iter()
                .map(|(k, v)| format!("{k}={}", text(v)))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// A one-line summary of an event: [`summary_full`] cut at 300 characters.
pub(crate) fn summary(event: &Value) -> String {
    let full = summary_full(event);
    if full.chars().count() <= 300 {
        return full;
    }
    let cut: String = full.chars().take(300).collect();
    format!("{cut}…")
}

/// The text of a rule, from its file at its line, bounded: a rule file is read up to
/// 256 KiB, and the document that starts at `line` up to the next `---`.
fn rule_text(app: &App, rule_id: &str) -> Option<String> {
    let book = app.rules.current();
    let meta = book
        .rules
        .iter()
        .chain(book.correlation_rules.iter())
        .find(|r| r.alert_id() == rule_id)?;
    use std::io::Read as _;
    let mut text = String::new();
    std::fs::File::open(&meta.file)
        .ok()?
        .take(256 * 1024)
        .read_to_string(&mut text)
        .ok()?;
    let mut out = Vec::new();
    for line in text.lines().skip(meta.line.saturating_sub(1)) {
        if line.trim_end() == "---" && !out.is_empty() {
            break;
        }
        out.push(line);
    }
    Some(out.join("\n"))
}

/// `GET /console/t/{tenant}/alerts/{id}`.
pub(crate) async fn alert(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    headers: HeaderMap,
    Path((_tenant, id)): Path<(String, String)>,
    Query(p): Query<DoneParams>,
) -> Response {
    let Some(tenant) = auth.tenant.clone() else {
        return ApiError::bad_request("no tenant").into_response();
    };
    let api = crate::api::alerts::alert(
        State(app.clone()),
        Extension(auth.clone()),
        Path(id.clone()),
    )
    .await;
    let (json, carry) = match through(api).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let base = format!("/console/t/{}/alerts", tenant.as_str());
    let chrome = match Chrome::of(&app, &auth, &headers, "alert.title", &base).await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let a = &json["alert"];
    let matched = a["matched"].as_object().cloned().unwrap_or_default();
    let mut fields: Vec<FieldRow> = json["event"]["fields"]
        .as_object()
        .map(|f| {
            f.iter()
                .map(|(name, value)| FieldRow {
                    name: name.clone(),
                    value: text(value),
                    matched: matched.contains_key(name),
                })
                .collect()
        })
        .unwrap_or_default();
    // What matched but is not a field of the event (a correlation's value, group-by).
    for (name, value) in &matched {
        if !fields.iter().any(|f| &f.name == name) {
            fields.push(FieldRow {
                name: name.clone(),
                value: text(value),
                matched: true,
            });
        }
    }
    // The matched fields first, then the others as the event has them.
    fields.sort_by_key(|f| !f.matched);
    let current = text(&json["event"]["id"]);
    let context = json["context"]
        .as_array()
        .map(|events| {
            events
                .iter()
                .map(|e| ContextRow {
                    time: text(&e["time"]),
                    summary: summary(e),
                    current: text(&e["id"]) == current,
                })
                .collect()
        })
        .unwrap_or_default();
    let masked = json.to_string().contains("\"pz:");
    let rule_id = text(&a["rule_id"]);
    let rules_app = app.clone();
    let rule_for_text = rule_id.clone();
    let rule_text = tokio::task::spawn_blocking(move || rule_text(&rules_app, &rule_for_text))
        .await
        .ok()
        .flatten();
    // Its history, and what the reader may do now (the lifecycle's answer for each
    // transition: the forms it would refuse are not offered).
    let history_json = match through(
        crate::api::alerts::history(
            State(app.clone()),
            Extension(auth.clone()),
            Path(id.clone()),
        )
        .await,
    )
    .await
    {
        Ok((json, _)) => json,
        Err(response) => return response,
    };
    let mut names: std::collections::HashMap<u64, String> = std::collections::HashMap::new();
    let mut history = Vec::new();
    for h in history_json["history"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        let actor = match h["actor"].as_u64() {
            Some(u) => {
                if !names.contains_key(&u)
                    && let Ok(Some(user)) = app.state.user(vigie_govern::grant::UserId(u)).await
                {
                    names.insert(u, user.name);
                }
                names.get(&u).cloned().unwrap_or_else(|| u.to_string())
            }
            None => "Vigie".to_owned(),
        };
        let at = h["at"].as_i64().map_or_else(String::new, |t| {
            vigie_event::Timestamp::from_nanos(t).to_rfc3339(vigie_event::UtcOffset::UTC)
        });
        let qualification = h["qualification"]
            .as_str()
            .map(|q| format!(" ({q})"))
            .unwrap_or_default();
        let action = text(&h["action"]);
        let mut note = text(&h["note"]);
        if action == "assign" {
            let to = match h["assignee"].as_u64() {
                Some(u) => super::triage::names(&app, std::iter::once(u))
                    .await
                    .remove(&u)
                    .unwrap_or_default(),
                None => "—".to_owned(),
            };
            note = if note.is_empty() {
                format!("→ {to}")
            } else {
                format!("→ {to}: {note}")
            };
        }
        history.push((
            at,
            actor,
            action,
            format!("{} → {}{qualification}", text(&h["from"]), text(&h["to"])),
            text(&h["queue"]),
            note,
        ));
    }
    let queue = text(&a["queue"]);
    let qualification = a["qualification"].as_str().map(str::to_owned);
    let actions = match (
        vigie_govern::triage::Status::parse(&text(&a["status"])),
        queue.parse::<vigie_govern::Tier>(),
        auth.role,
    ) {
        (Some(status), Ok(tier), Some(role)) => possible_actions(
            vigie_govern::triage::AlertState {
                status,
                queue: tier,
                qualification: qualification
                    .as_deref()
                    .and_then(vigie_govern::triage::Qualification::parse),
            },
            role,
        ),
        _ => Vec::new(),
    };
    let alert_state = state_of(a);
    let may_triage = match (alert_state, auth.role) {
        (Some(st), Some(role)) => vigie_govern::triage::comment(st.queue, role, Some("x")).is_ok(),
        _ => false,
    };
    let assignees = match (alert_state, auth.role) {
        (Some(st), Some(role)) if may_triage && st.status.is_open() => {
            super::triage::assignees(&app, &tenant, st, role).await
        }
        _ => Vec::new(),
    };
    let assignee = match a["assignee"].as_str().and_then(|s| s.parse::<u64>().ok()) {
        Some(u) => super::triage::names(&app, std::iter::once(u))
            .await
            .remove(&u),
        None => None,
    };
    let group_href = a["group"]
        .as_str()
        .map(|g| format!("/console/t/{}/groups/{g}", tenant.as_str()));
    let may_elevate = auth
        .role
        .is_some_and(|r| allows(r, Action::RequestElevation) != Cell::Deny);
    let page = AlertPage {
        chrome,
        self_href: format!("{base}/{id}"),
        done: match p.done.as_deref() {
            Some("elevation") => Some("done.elevation.requested"),
            Some("transition") => Some("done.transition"),
            Some("assign") => Some("done.assign"),
            Some("comment") => Some("done.comment"),
            _ => None,
        },
        may_elevate,
        queue,
        qualification,
        actions,
        history,
        assignee,
        group_href,
        priority: text(&a["priority"]),
        may_triage,
        assignees,
        back: base,
        alert: row_of(a, tenant.as_str()),
        tags: a["tags"]
            .as_array()
            .map(|t| t.iter().map(text).collect())
            .unwrap_or_default(),
        rule_id,
        masked,
        fields,
        context,
        rule_text,
    };
    carry.onto(page.page())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_next_page_keeps_the_filter() {
        let f = QueueFilter {
            level: Some("high".into()),
            q: Some("a b&c".into()),
            host: Some(" ".into()),
            ..QueueFilter::default()
        };
        assert_eq!(query_of(&f, Some("1.X")), "level=high&q=a+b%26c&cursor=1.X");
        assert_eq!(query_of(&QueueFilter::default(), None), "");
    }

    #[test]
    fn summaries_are_cut() {
        let e = json!({"fields": {"a": "x".repeat(400)}});
        let s = summary(&e);
        assert!(s.ends_with('…'));
        assert_eq!(s.chars().count(), 301);
        assert_eq!(summary(&json!({"fields": {"a": 1, "b": "c"}})), "a=1 b=c");
    }
}

#[derive(serde::Deserialize)]
pub(crate) struct ElevationForm {
    widening: String,
    hours: u32,
    justification: String,
}

/// `POST /console/t/{tenant}/alerts/{id}/elevation`: a provider analyst asks to see this
/// alert in clear (or at a higher tier) for some hours; the client's admin decides.
pub(crate) async fn request_elevation(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    Path((tenant, id)): Path<(String, String)>,
    axum::Form(f): axum::Form<ElevationForm>,
) -> Response {
    let input = crate::people::ElevationInput {
        alert: id.clone(),
        widening: f.widening,
        hours: f.hours,
        justification: f.justification,
    };
    let api =
        crate::api::people::request_elevation(State(app), Extension(auth), Ok(axum::Json(input)))
            .await;
    super::after(
        api,
        &format!("/console/t/{tenant}/alerts/{id}?done=elevation"),
    )
    .await
}

#[derive(serde::Deserialize)]
pub(crate) struct TransitionForm {
    action: String,
    #[serde(default)]
    qualification: String,
    #[serde(default)]
    tier: String,
    #[serde(default)]
    note: String,
}

/// `POST /console/t/{tenant}/alerts/{id}/transition`: the API's transition, back to the
/// alert's page.
pub(crate) async fn transition(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    Path((tenant, id)): Path<(String, String)>,
    axum::Form(f): axum::Form<TransitionForm>,
) -> Response {
    let some = |s: String| (!s.trim().is_empty()).then_some(s);
    let body = crate::api::alerts::TransitionBody {
        action: f.action,
        qualification: some(f.qualification),
        tier: some(f.tier),
        note: some(f.note),
    };
    let api = crate::api::alerts::transition(
        State(app),
        Extension(auth),
        Path(id.clone()),
        Ok(axum::Json(body)),
    )
    .await;
    super::after(
        api,
        &format!("/console/t/{tenant}/alerts/{id}?done=transition"),
    )
    .await
}
