//! The live alert queue: a server-sent event stream that pushes the rows of new alerts to
//! an open queue page (`console.js` inserts them; without JavaScript the page is reloaded by
//! hand and shows the same rows).
//!
//! What a stream may cost is bounded: at most `console.max_live_per_tenant` open per
//! tenant (a tenant's readers cannot hold every connection of the server), one query per
//! `console.live_poll_ms`, and at most `console.live_max_s` per stream (the browser
//! reconnects). At each poll the stream checks again, without counting as the reader's
//! activity, that the session is alive and the grant still allows reading alerts: a
//! revoked grant or an idle session ends the stream at the next poll. Every batch of alerts
//! pushed is an audit record, as the queue's read is.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use axum::Extension;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use vigie_govern::audit::record::Outcome;
use vigie_govern::permission::Action;

use super::chrome::Chrome;
use super::rows::rows_of;
use super::view::LiveRows;
use crate::api::App;
use crate::api::access::{Authorized, Need, entry, still_allowed, who_of};
use crate::api::alerts::AlertsParams;
use crate::api::error::ApiError;
use crate::limits::Slot;

#[derive(Deserialize)]
pub(crate) struct LiveParams {
    /// The newest alert id the page shows.
    after: Option<String>,
}

struct Polling {
    app: App,
    auth: Authorized,
    headers: HeaderMap,
    after: Option<String>,
    until: Instant,
    every: Duration,
    chrome: Chrome,
    _slot: Slot,
    ended: bool,
}

const NEED: Need = Need::Tenant(Action::ReadAlerts);

/// `GET /console/t/{tenant}/alerts/live`.
pub(crate) async fn stream(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    headers: HeaderMap,
    Query(p): Query<LiveParams>,
) -> Response {
    let Some(tenant) = auth.tenant.clone() else {
        return ApiError::bad_request("no tenant").into_response();
    };
    let Some(slot) = app.live.enter(tenant.as_str()) else {
        return ApiError::coded(
            StatusCode::TOO_MANY_REQUESTS,
            "live_quota",
            format!(
                "this tenant has {} live queues open (console.max_live_per_tenant)",
                app.config.console.max_live_per_tenant
            ),
        )
        .retry_later()
        .into_response();
    };
    let chrome = match Chrome::of(&app, &auth, &headers, "queue.title", "").await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let polling = Polling {
        every: Duration::from_millis(app.config.console.live_poll_ms.max(200)),
        until: Instant::now() + Duration::from_secs(app.config.console.live_max_s),
        app,
        auth,
        headers,
        after: p.after.filter(|a| !a.is_empty()),
        chrome,
        _slot: slot,
        ended: false,
    };
    let events = futures_util::stream::unfold(polling, |mut p| async move {
        if p.ended {
            return None;
        }
        loop {
            tokio::time::sleep(p.every).await;
            if Instant::now() >= p.until || !still_allowed(&p.app, &p.headers, NEED).await {
                p.ended = true;
                let end = Event::default().event("end").data("reload");
                return Some((Ok::<_, Infallible>(end), p));
            }
            match poll(&mut p).await {
                Some(event) => return Some((Ok(event), p)),
                None => continue,
            }
        }
    });
    Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// One poll: the rows of alerts newer than the last shown, as an event (and an audit
/// record), or nothing new.
async fn poll(p: &mut Polling) -> Option<Event> {
    let params = AlertsParams {
        after_id: p.after.clone(),
        limit: Some(100),
        ..AlertsParams::default()
    };
    let api = crate::api::alerts::alerts(
        State(p.app.clone()),
        Extension(p.auth.clone()),
        Ok(Query(params)),
    )
    .await;
    let Ok((json, carry)) = super::through(api).await else {
        return None;
    };
    let tenant = p.auth.tenant.clone()?;
    let mut rows = rows_of(&json, tenant.as_str());
    if rows.is_empty() {
        return None;
    }
    // Ids grow with the time of recording: the newest is the largest.
    p.after = rows.iter().map(|r| r.id.clone()).max();
    rows.sort_by(|a, b| b.time.cmp(&a.time));
    let note = carry.into_note();
    let mut record = entry(
        NEED,
        who_of(&p.auth.caller, None),
        Some(&tenant),
        Outcome::Allowed,
    );
    record.record.objects = note.objects;
    record.record.count = note.count;
    record.record.query = Some("live queue".to_owned());
    // Nothing is shown unaudited: a record that cannot be written ends the stream.
    if p.app.auditor.record(record).await.is_err() {
        p.until = Instant::now();
        return None;
    }
    let html = LiveRows {
        chrome: p.chrome.clone(),
        alerts: rows,
    };
    let html = askama::Template::render(&html).ok()?;
    Some(Event::default().event("alerts").data(html))
}
