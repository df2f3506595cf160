//! Triage in the console beyond one transition: groups (the queue's group view, a group's
//! page, a transition on the whole group), bulk actions on a selection or a filter (with
//! the API's count confirmation as a page), assignment and comments on an alert.

use std::collections::HashMap;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::chrome::Chrome;
use super::view::{AlertRow, BulkConfirm, BulkDone, GroupPage, GroupRow, Page};
use super::{DoneParams, after, text, through};
use crate::api::App;
use crate::api::access::Authorized;
use crate::api::alerts::{AlertsParams, TransitionBody};
use crate::api::error::ApiError;

/// The rows of an API answer's groups (`{"groups": […]}`).
pub(crate) fn group_rows(json: &Value, tenant: &str) -> Vec<GroupRow> {
    json["groups"]
        .as_array()
        .map(|g| g.iter().map(|g| group_row(g, tenant)).collect())
        .unwrap_or_default()
}

fn group_row(g: &Value, tenant: &str) -> GroupRow {
    GroupRow {
        href: format!("/console/t/{tenant}/groups/{}", text(&g["id"])),
        title: text(&g["rule_title"]),
        level: text(&g["level"]),
        entity: text(&g["entity"]),
        value: text(&g["entity_value"]),
        count: g["count"].as_u64().unwrap_or(0),
        open: g["open"].as_u64().unwrap_or(0),
        first: text(&g["first"]),
        last: text(&g["last"]),
        priority: text(&g["priority"]),
    }
}

/// Names of the users `ids` (their id when unknown), read once each.
pub(crate) async fn names(app: &App, ids: impl Iterator<Item = u64>) -> HashMap<u64, String> {
    let mut out = HashMap::new();
    for id in ids {
        if out.contains_key(&id) {
            continue;
        }
        let name = match app.state.user(vigie_govern::grant::UserId(id)).await {
            Ok(Some(u)) => u.name,
            _ => id.to_string(),
        };
        out.insert(id, name);
    }
    out
}

/// Fills each row's assignee (a user id in the API's answer) with the person's name.
pub(crate) async fn name_assignees(app: &App, json: &Value, rows: &mut [AlertRow]) {
    let ids: Vec<Option<u64>> = json["alerts"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|a| a["assignee"].as_str().and_then(|s| s.parse().ok()))
                .collect()
        })
        .unwrap_or_default();
    let known = names(app, ids.iter().flatten().copied()).await;
    for (row, id) in rows.iter_mut().zip(ids) {
        row.assignee = id.and_then(|i| known.get(&i).cloned()).unwrap_or_default();
    }
}

/// The people an alert of `tenant` in `state` could be assigned to: the tenant owner's
/// users and the analysts with a grant on it, each as their role there allows
/// (`vigie_govern::triage::assign`), by name.
pub(crate) async fn assignees(
    app: &App,
    tenant: &vigie_event::TenantId,
    state: vigie_govern::triage::AlertState,
    role: vigie_govern::Role,
) -> Vec<(String, String)> {
    let mut candidates = Vec::new();
    if let Ok(Some(owner)) = app.state.tenant_owner(tenant).await
        && let Ok(users) = app.state.users_of(owner).await
    {
        candidates.extend(users);
    }
    if let Ok(grants) = app.state.grants_on(tenant).await {
        let now = vigie_event::Timestamp::now();
        for g in grants {
            if vigie_govern::grant::is_active(&g.grant, now)
                && !candidates.iter().any(|u| u.id == g.grant.analyst.user)
                && let Ok(Some(u)) = app.state.user(g.grant.analyst.user).await
            {
                candidates.push(u);
            }
        }
    }
    let mut out = Vec::new();
    for user in candidates {
        if user.status != vigie_state::UserStatus::Active {
            continue;
        }
        if let Ok(Some(theirs)) = crate::api::access::role_on(app, &user, tenant).await
            && vigie_govern::triage::assign(state, role, Some(theirs)).is_ok()
        {
            out.push((user.id.0.to_string(), user.name));
        }
    }
    out.sort_by(|a, b| a.1.cmp(&b.1));
    out
}

/// `GET /console/t/{tenant}/groups/{id}`.
pub(crate) async fn group(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    headers: HeaderMap,
    Path((_tenant, id)): Path<(String, String)>,
    Query(p): Query<DoneParams>,
) -> Response {
    let Some(tenant) = auth.tenant.clone() else {
        return ApiError::bad_request("no tenant").into_response();
    };
    let api = crate::api::groups::group(
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
    let chrome = match Chrome::of(&app, &auth, &headers, "groups.title", &base).await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let mut alerts = super::rows::rows_of(&json, tenant.as_str());
    name_assignees(&app, &json, &mut alerts).await;
    // What the reader may try on the group: what the lifecycle allows them on at least
    // one of the alerts shown.
    let mut actions: Vec<(&'static str, &'static str)> = Vec::new();
    if let Some(role) = auth.role {
        for a in json["alerts"].as_array().into_iter().flatten() {
            if let Some(state) = super::rows::state_of(a) {
                for action in super::rows::possible_actions(state, role) {
                    if !actions.contains(&action) {
                        actions.push(action);
                    }
                }
            }
        }
    }
    let done = p
        .done
        .as_deref()
        .and_then(|d| d.parse::<u64>().ok())
        .map(|n| chrome.t.f("groups.done", n));
    let page = GroupPage {
        self_href: format!("/console/t/{}/groups/{id}", tenant.as_str()),
        back: format!("{base}?view=groups"),
        done,
        group: group_row(&json["group"], tenant.as_str()),
        alerts,
        actions,
        chrome,
    };
    carry.onto(page.page())
}

/// The fields of a posted form, in order (a selection repeats `alert`).
fn fields_of(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.trim().is_empty())
}

/// `POST /console/t/{tenant}/groups/{id}/transition`.
pub(crate) async fn group_transition(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    Path((tenant, id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let f = fields_of(&body);
    let body = TransitionBody {
        action: field(&f, "action").unwrap_or("").to_owned(),
        qualification: field(&f, "qualification").map(str::to_owned),
        tier: field(&f, "tier").map(str::to_owned),
        note: field(&f, "note").map(str::to_owned),
    };
    let api = crate::api::groups::transition(
        State(app),
        Extension(auth),
        Path(id.clone()),
        Ok(axum::Json(body)),
    )
    .await;
    match through(api).await {
        Ok((json, carry)) => carry.onto(super::chrome::see_other(&format!(
            "/console/t/{tenant}/groups/{id}?done={}",
            json["done"].as_u64().unwrap_or(0)
        ))),
        Err(response) => response,
    }
}

/// The filter fields a bulk form carries (`f_level`, …) as the API's list parameters.
fn filter_params(f: &[(String, String)]) -> AlertsParams {
    let get = |name: &str| field(f, &format!("f_{name}")).map(str::to_owned);
    AlertsParams {
        level: get("level"),
        rule: get("rule"),
        status: get("status"),
        host: get("host"),
        q: get("q"),
        from: get("from"),
        to: get("to"),
        queue: get("queue"),
        open: get("open").map(|o| o == "1" || o == "true"),
        assignee: get("assignee"),
        group: get("group"),
        ..AlertsParams::default()
    }
}

/// `POST /console/t/{tenant}/alerts/bulk`: the queue's bulk form. A selection is acted on
/// at once; "every alert of the filter" first answers the confirmation page with the
/// API's count, whose form posts again with `confirm`.
pub(crate) async fn bulk(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    headers: HeaderMap,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Response {
    let f = fields_of(&body);
    let base = format!("/console/t/{tenant}/alerts");
    let by_filter = field(&f, "scope") == Some("filter");
    let selection: Vec<String> = f
        .iter()
        .filter(|(k, _)| k == "alert")
        .map(|(_, v)| v.clone())
        .collect();
    let request = crate::api::bulk::BulkBody {
        ids: (!by_filter).then_some(selection),
        filter: by_filter.then(|| filter_params(&f)),
        confirm: field(&f, "confirm").and_then(|c| c.parse().ok()),
        action: field(&f, "action").unwrap_or("").to_owned(),
        qualification: field(&f, "qualification").map(str::to_owned),
        tier: field(&f, "tier").map(str::to_owned),
        note: field(&f, "note").map(str::to_owned),
        assignee: field(&f, "assignee").map(str::to_owned),
    };
    let api = crate::api::bulk::bulk(
        State(app.clone()),
        Extension(auth.clone()),
        Ok(axum::Json(request)),
    )
    .await
    .into_response();
    if api.status() == StatusCode::CONFLICT {
        // The count to confirm (any other conflict is an error page, as usual).
        let (parts, body) = api.into_parts();
        let bytes = axum::body::to_bytes(body, 64 * 1024)
            .await
            .unwrap_or_default();
        let json: Value = serde_json::from_slice(&bytes).unwrap_or_default();
        let Some(count) = json["error"]["details"]["count"].as_u64() else {
            return axum::response::Response::from_parts(parts, axum::body::Body::from(bytes));
        };
        let chrome = match Chrome::of(&app, &auth, &headers, "bulk.confirm.title", &base).await {
            Ok(c) => c,
            Err(e) => return e.into_response(),
        };
        let fields = f
            .into_iter()
            .filter(|(k, _)| k != "csrf" && k != "confirm" && k != "alert")
            .collect();
        return BulkConfirm {
            chrome,
            action_href: format!("{base}/bulk"),
            back: base,
            count,
            fields,
        }
        .page();
    }
    let (json, carry) = match through(api).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let chrome = match Chrome::of(&app, &auth, &headers, "bulk.done.title", &base).await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let refused = json["refused"]
        .as_object()
        .map(|r| {
            r.iter()
                .map(|(why, n)| (why.clone(), n.as_u64().unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default();
    carry.onto(
        BulkDone {
            chrome,
            back: base,
            done: json["done"].as_u64().unwrap_or(0),
            refused,
        }
        .page(),
    )
}

/// `POST /console/t/{tenant}/alerts/{id}/assign`.
pub(crate) async fn assign(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    Path((tenant, id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let f = fields_of(&body);
    let body = crate::api::alerts::AssignBody {
        assignee: field(&f, "assignee").map(str::to_owned),
        note: field(&f, "note").map(str::to_owned),
    };
    let api = crate::api::alerts::assign(
        State(app),
        Extension(auth),
        Path(id.clone()),
        Ok(axum::Json(body)),
    )
    .await;
    after(api, &format!("/console/t/{tenant}/alerts/{id}?done=assign")).await
}

/// `POST /console/t/{tenant}/alerts/{id}/comment`.
pub(crate) async fn comment(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    Path((tenant, id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let f = fields_of(&body);
    let body = crate::api::alerts::CommentBody {
        text: field(&f, "text").unwrap_or("").to_owned(),
    };
    let api = crate::api::alerts::comment(
        State(app),
        Extension(auth),
        Path(id.clone()),
        Ok(axum::Json(body)),
    )
    .await;
    after(
        api,
        &format!("/console/t/{tenant}/alerts/{id}?done=comment"),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_selection_repeats_its_field() {
        let f = fields_of(b"csrf=x&alert=A&alert=B&scope=selection&note=&f_level=high");
        let ids: Vec<&str> = f
            .iter()
            .filter(|(k, _)| k == "alert")
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(ids, ["A", "B"]);
        assert_eq!(field(&f, "note"), None);
        assert_eq!(field(&f, "scope"), Some("selection"));
        let p = filter_params(&f);
        assert_eq!(p.level.as_deref(), Some("high"));
        assert_eq!(p.status, None);
    }
}
