//! Access governance of a tenant: its sensitive fields and longest elevation (set by the
//! client admin), and the access review campaigns with their progress (each grant confirmed
//! or removed by the deadline). Through the API's `/settings` and `/reviews` handlers.

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form, Json};
use serde::Deserialize;
use vigie_govern::permission::{Action, Cell, allows};

use super::chrome::Chrome;
use super::view::{Governance, Page, ReviewItemRow, ReviewRow};
use super::{DoneParams, after, text, through};
use crate::api::App;
use crate::api::access::Authorized;
use crate::api::error::ApiError;
use crate::api::people as api;

fn done_key(done: Option<&str>) -> Option<&'static str> {
    Some(match done? {
        "settings" => "done.settings",
        "review-opened" => "done.review.opened",
        "confirmed" => "done.review.confirmed",
        "removed" => "done.review.removed",
        _ => return None,
    })
}

fn base(auth: &Authorized) -> String {
    format!(
        "/console/t/{}",
        auth.tenant.as_ref().map_or("", |t| t.as_str())
    )
}

/// `GET /console/t/{tenant}/governance`.
pub(crate) async fn page(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    headers: HeaderMap,
    Query(p): Query<DoneParams>,
) -> Response {
    let (settings, _) =
        match through(api::settings(State(app.clone()), Extension(auth.clone())).await).await {
            Ok(found) => found,
            Err(response) => return response,
        };
    let (reviews, carry) =
        match through(api::reviews(State(app.clone()), Extension(auth.clone())).await).await {
            Ok(found) => found,
            Err(response) => return response,
        };
    let base = base(&auth);
    let path = format!("{base}/governance");
    let chrome = match Chrome::of(&app, &auth, &headers, "gov.title", &path).await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    // Names of the analysts, once each.
    let mut names = std::collections::HashMap::new();
    let mut rows = Vec::new();
    for r in reviews["reviews"].as_array().cloned().unwrap_or_default() {
        let mut items = Vec::new();
        for i in r["items"].as_array().cloned().unwrap_or_default() {
            let analyst = text(&i["grant"]["analyst"]);
            if !names.contains_key(&analyst)
                && let Ok(id) = analyst.parse::<u64>()
                && let Ok(Some(u)) = app.state.user(vigie_govern::grant::UserId(id)).await
            {
                names.insert(analyst.clone(), format!("{} ({})", u.name, u.login));
            }
            items.push(ReviewItemRow {
                grant: text(&i["grant"]["id"]),
                analyst: names.get(&analyst).cloned().unwrap_or(analyst),
                tier: text(&i["grant"]["tier"]),
                until: text(&i["grant"]["until"]),
                decision: text(&i["decision"]),
            });
        }
        rows.push(ReviewRow {
            id: text(&r["id"]),
            deadline: text(&r["deadline"]),
            closed: r["closed_at"].as_str().map(str::to_owned),
            decided: items.iter().filter(|i| i.decision != "pending").count(),
            items,
        });
    }
    let may_decide = auth
        .role
        .is_some_and(|r| allows(r, Action::ApproveGrants) == Cell::Allow);
    let page = Governance {
        chrome,
        base,
        done: done_key(p.done.as_deref()),
        fields: settings["sensitive_fields"]
            .as_array()
            .map(|f| f.iter().map(text).collect::<Vec<_>>().join(", "))
            .unwrap_or_default(),
        hours: settings["max_elevation_hours"].as_u64().unwrap_or(0),
        window: settings["grouping"]["window_minutes"].as_u64().unwrap_or(0),
        entity: text(&settings["grouping"]["entity"]),
        when_closed: text(&settings["grouping"]["when_closed"]),
        per_rule: settings["grouping"]["rules"]
            .as_object()
            .map_or(0, serde_json::Map::len),
        may_decide,
        reviews: rows,
    };
    carry.onto(page.page())
}

#[derive(Deserialize)]
pub(crate) struct SettingsForm {
    sensitive_fields: String,
    max_elevation_hours: u32,
    /// Grouping (absent from an older form: the settings stay as they are).
    window_minutes: Option<u32>,
    entity: Option<vigie_govern::grouping::Entity>,
    when_closed: Option<vigie_govern::grouping::WhenClosed>,
}

/// `POST /console/t/{tenant}/settings`.
pub(crate) async fn settings(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    Form(f): Form<SettingsForm>,
) -> Response {
    let fields: Vec<String> = f
        .sensitive_fields
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    // The form sets the window, the default entity and what a closed group does; the
    // per-rule entities (set through the API) are kept.
    let grouping = match (f.window_minutes, f.entity, f.when_closed) {
        (Some(window_minutes), Some(entity), Some(when_closed)) => {
            let (current, _) =
                match through(api::settings(State(app.clone()), Extension(auth.clone())).await)
                    .await
                {
                    Ok(found) => found,
                    Err(response) => return response,
                };
            let mut g: vigie_govern::grouping::Grouping =
                serde_json::from_value(current["grouping"].clone()).unwrap_or_default();
            g.window_minutes = window_minutes;
            g.entity = entity;
            g.when_closed = when_closed;
            Some(g)
        }
        _ => None,
    };
    let body = api::SettingsBody {
        sensitive_fields: Some(fields),
        max_elevation_hours: Some(f.max_elevation_hours),
        grouping,
    };
    let to = format!("{}/governance?done=settings", base(&auth));
    after(
        api::set_settings(State(app), Extension(auth), Ok(Json(body))).await,
        &to,
    )
    .await
}

#[derive(Deserialize)]
pub(crate) struct ReviewForm {
    deadline: String,
}

/// `POST /console/t/{tenant}/reviews`.
pub(crate) async fn open_review(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    Form(f): Form<ReviewForm>,
) -> Response {
    let body = match serde_json::from_value(serde_json::json!({"deadline": f.deadline.trim()})) {
        Ok(b) => b,
        Err(e) => return ApiError::bad_request(e.to_string()).into_response(),
    };
    let to = format!("{}/governance?done=review-opened", base(&auth));
    after(
        api::open_review(State(app), Extension(auth), Ok(Json(body))).await,
        &to,
    )
    .await
}

/// `POST /console/t/{tenant}/reviews/{id}/grants/{grant}/confirm`.
pub(crate) async fn confirm(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    Path((_, review, grant)): Path<(String, String, String)>,
) -> Response {
    let to = format!("{}/governance?done=confirmed", base(&auth));
    after(
        api::confirm_item(State(app), Extension(auth), Path((review, grant))).await,
        &to,
    )
    .await
}

/// `POST /console/t/{tenant}/reviews/{id}/grants/{grant}/remove`.
pub(crate) async fn remove(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    Path((_, review, grant)): Path<(String, String, String)>,
) -> Response {
    let to = format!("{}/governance?done=removed", base(&auth));
    after(
        api::remove_item(State(app), Extension(auth), Path((review, grant))).await,
        &to,
    )
    .await
}
