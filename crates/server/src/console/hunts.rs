//! Retro-hunt pages: the jobs with the form that starts one, and a job's page (progress
//! that refreshes itself while it runs, without script; cancel; results; alerts from
//! them), through `api::hunts`.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::chrome::Chrome;
use super::view::{AlertRow, HuntPage, HuntRow, HuntsPage, Page};
use super::{DoneParams, after, text, through};
use crate::api::App;
use crate::api::access::Authorized;
use crate::api::error::ApiError;

fn utc(nanos: i64) -> String {
    vigie_event::Timestamp::from_nanos(nanos).to_rfc3339(vigie_event::UtcOffset::UTC)
}

fn row_of(h: &Value, tenant: &str) -> HuntRow {
    let n = |k: &str| h[k].as_u64().unwrap_or(0);
    HuntRow {
        href: format!("/console/t/{tenant}/hunts/{}", text(&h["id"])),
        rule: text(&h["rule_title"]),
        range: format!(
            "{} → {}",
            h["from"].as_i64().map(utc).unwrap_or_default(),
            h["to"].as_i64().map(utc).unwrap_or_default()
        ),
        status: text(&h["status"]),
        in_range: n("in_range"),
        candidates: n("candidates"),
        checked: n("checked"),
        matched: n("matched"),
        raised: n("alerts_raised"),
        elapsed: h["elapsed_ms"]
            .as_u64()
            .map(|ms| format!("{:.1} s", ms as f64 / 1000.0))
            .unwrap_or_default(),
        rate: h["events_per_second"]
            .as_f64()
            .map(|r| format!("{r:.0} events/s"))
            .unwrap_or_default(),
        error: text(&h["error"]),
        query: text(&h["query"]),
        document: text(&h["document"]),
    }
}

/// `GET /console/t/{tenant}/hunts`.
pub(crate) async fn page(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    headers: HeaderMap,
) -> Response {
    let Some(tenant) = auth.tenant.clone() else {
        return ApiError::bad_request("no tenant").into_response();
    };
    let base = format!("/console/t/{}/hunts", tenant.as_str());
    let api = crate::api::hunts::list(State(app.clone()), Extension(auth.clone())).await;
    let (json, carry) = match through(api).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let chrome = match Chrome::of(&app, &auth, &headers, "hunts.title", &base).await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let rows = json["hunts"]
        .as_array()
        .map(|h| h.iter().map(|h| row_of(h, tenant.as_str())).collect())
        .unwrap_or_default();
    let book = app.rules.current();
    let mut rules: Vec<(String, String)> = book
        .rules
        .iter()
        .map(|r| (r.alert_id().to_owned(), r.title.clone()))
        .collect();
    rules.sort_by(|a, b| a.1.cmp(&b.1));
    carry.onto(
        HuntsPage {
            chrome,
            base,
            rows,
            rules,
        }
        .page(),
    )
}

/// `POST /console/t/{tenant}/hunts`: starts it, then its page.
pub(crate) async fn start(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Response {
    let mut request = crate::api::hunts::StartBody {
        rule: None,
        document: None,
        from: None,
        to: None,
    };
    for (k, v) in form_urlencoded::parse(&body) {
        let v = v.trim().to_owned();
        if v.is_empty() {
            continue;
        }
        match k.as_ref() {
            "rule" => request.rule = Some(v),
            "document" => request.document = Some(v.replace("\r\n", "\n")),
            "from" => request.from = Some(v),
            "to" => request.to = Some(v),
            _ => {}
        }
    }
    let api = crate::api::hunts::start(State(app), Extension(auth), Ok(axum::Json(request))).await;
    match through(api).await {
        Ok((json, carry)) => carry.onto(super::chrome::see_other(&format!(
            "/console/t/{tenant}/hunts/{}",
            text(&json["id"])
        ))),
        Err(response) => response,
    }
}

/// `GET /console/t/{tenant}/hunts/{id}`.
pub(crate) async fn job(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    headers: HeaderMap,
    Path((_tenant, id)): Path<(String, String)>,
    Query(p): Query<DoneParams>,
) -> Response {
    let Some(tenant) = auth.tenant.clone() else {
        return ApiError::bad_request("no tenant").into_response();
    };
    let api = crate::api::hunts::show(
        State(app.clone()),
        Extension(auth.clone()),
        Path(id.clone()),
    )
    .await;
    let (json, carry) = match through(api).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let back = format!("/console/t/{}/hunts", tenant.as_str());
    let chrome = match Chrome::of(&app, &auth, &headers, "hunts.title", &back).await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let hunt = row_of(&json["hunt"], tenant.as_str());
    let results = json["results"]
        .as_array()
        .map(|r| {
            r.iter()
                .map(|r| {
                    let time = r["event_time"].as_i64().map(utc).unwrap_or_default();
                    AlertRow {
                        id: text(&r["event_id"]),
                        href: String::new(),
                        time_short: time.get(5..19).unwrap_or(&time).replace('T', " "),
                        time,
                        level: String::new(),
                        title: r["matched"].to_string(),
                        host: text(&r["host"]),
                        status: String::new(),
                        priority: String::new(),
                        assignee: String::new(),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let done = match p.done.as_deref() {
        Some("cancel") => Some(chrome.t.t("hunts.done.cancel").to_owned()),
        Some(n) => n
            .parse::<u64>()
            .ok()
            .map(|n| chrome.t.f("hunts.done.raised", n)),
        None => None,
    };
    let page = HuntPage {
        self_href: format!("{back}/{id}"),
        back,
        done,
        running: hunt.status == "running",
        hunt,
        results,
        chrome,
    };
    carry.onto(page.page())
}

/// `POST /console/t/{tenant}/hunts/{id}/cancel`.
pub(crate) async fn cancel(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    Path((tenant, id)): Path<(String, String)>,
) -> Response {
    let api = crate::api::hunts::cancel(State(app), Extension(auth), Path(id.clone())).await;
    after(api, &format!("/console/t/{tenant}/hunts/{id}?done=cancel")).await
}

/// `POST /console/t/{tenant}/hunts/{id}/alerts`.
pub(crate) async fn alerts(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    Path((tenant, id)): Path<(String, String)>,
) -> Response {
    let api = crate::api::hunts::alerts(State(app), Extension(auth), Path(id.clone())).await;
    match through(api).await {
        Ok((json, carry)) => carry.onto(super::chrome::see_other(&format!(
            "/console/t/{tenant}/hunts/{id}?done={}",
            json["raised"].as_u64().unwrap_or(0)
        ))),
        Err(response) => response,
    }
}
