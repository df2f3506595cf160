//! The source inventory page: every source and host of the tenant with its last event,
//! rates, a week of hourly counts, owner, silence threshold (set or learnt) and state,
//! through `api::sources`.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use vigie_govern::permission::{Action, Cell, allows};

use super::chrome::Chrome;
use super::view::{Page, SourceView, SourcesPage};
use super::{DoneParams, after, svg, text, through};
use crate::api::App;
use crate::api::access::Authorized;
use crate::api::error::ApiError;

/// `3600` → `1 h`, `5400` → `90 min`.
fn duration(seconds: u64) -> String {
    if seconds >= 3600 && seconds.is_multiple_of(3600) {
        format!("{} h", seconds / 3600)
    } else if seconds >= 60 {
        format!("{} min", seconds / 60)
    } else {
        format!("{seconds} s")
    }
}

/// `GET /console/t/{tenant}/sources`.
pub(crate) async fn page(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    headers: HeaderMap,
    Query(p): Query<DoneParams>,
) -> Response {
    let Some(tenant) = auth.tenant.clone() else {
        return ApiError::bad_request("no tenant").into_response();
    };
    let base = format!("/console/t/{}/sources", tenant.as_str());
    let api = crate::api::sources::list(State(app.clone()), Extension(auth.clone())).await;
    let (json, carry) = match through(api).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let chrome = match Chrome::of(&app, &auth, &headers, "sources.title", &base).await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let rows = json["sources"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            let hours: Vec<f64> = s["hours"]
                .as_array()
                .map(|h| h.iter().map(|v| v.as_f64().unwrap_or(0.0)).collect())
                .unwrap_or_default();
            SourceView {
                source: text(&s["source"]),
                host: text(&s["host"]),
                first: text(&s["first_seen"]),
                last: text(&s["last_seen"]),
                events: s["events"].as_u64().unwrap_or(0),
                per_hour: text(&s["per_hour_24h"]),
                per_day: text(&s["per_day_7d"]),
                owner: text(&s["owner"]),
                threshold: s["threshold_s"].as_u64().map(duration).unwrap_or_default(),
                learnt: s["threshold_set_s"].is_null() && !s["threshold_s"].is_null(),
                state: text(&s["state"]),
                alert_href: s["silent_alert"]
                    .as_str()
                    .map(|a| format!("/console/t/{}/alerts/{a}", tenant.as_str())),
                spark: svg::sparkline(&hours, chrome.t.t("sources.week")),
            }
        })
        .collect();
    let page = SourcesPage {
        may_manage: auth
            .role
            .is_some_and(|r| allows(r, Action::ManageRules) != Cell::Deny),
        done: p.done.as_deref() == Some("saved"),
        chrome,
        base,
        rows,
    };
    carry.onto(page.page())
}

/// `POST /console/t/{tenant}/sources`: a source's owner and threshold (minutes; empty:
/// learnt).
pub(crate) async fn set(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Response {
    let mut request = crate::api::sources::SetBody {
        source: String::new(),
        host: String::new(),
        owner: None,
        threshold_s: None,
    };
    let mut minutes_bad = false;
    for (k, v) in form_urlencoded::parse(&body) {
        match k.as_ref() {
            "source" => request.source = v.into_owned(),
            "host" => request.host = v.into_owned(),
            "owner" => request.owner = Some(v.into_owned()),
            "minutes" if !v.trim().is_empty() => match v.trim().parse::<u64>() {
                Ok(m) => request.threshold_s = Some(m.saturating_mul(60)),
                Err(_) => minutes_bad = true,
            },
            _ => {}
        }
    }
    if minutes_bad {
        request.threshold_s = Some(0);
    }
    let api = crate::api::sources::set(State(app), Extension(auth), Ok(axum::Json(request))).await;
    after(api, &format!("/console/t/{tenant}/sources?done=saved")).await
}
