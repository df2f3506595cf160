//! The rules in force: each with its level, logsource and this tenant's hits in the last
//! day and month; the rules that did not load with their diagnostic; the ATT&CK coverage
//! matrix of the enabled rules and its Navigator layer.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use vigie_detect::coverage::{coverage, navigator_layer};
use vigie_event::time::Timestamp;

use super::chrome::Chrome;
use super::view::{Page, RejectedRow, RuleRow, Rules, TacticColumn};
use crate::api::App;
use crate::api::access::{AuditNote, Authorized};
use crate::api::error::ApiError;

const DAY_NANOS: i64 = 86_400 * 1_000_000_000;

/// `GET /console/t/{tenant}/rules`.
pub(crate) async fn page(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    headers: HeaderMap,
) -> Response {
    let Some(tenant) = auth.tenant.clone() else {
        return ApiError::bad_request("no tenant").into_response();
    };
    let base = format!("/console/t/{}/rules", tenant.as_str());
    let chrome = match Chrome::of(&app, &auth, &headers, "rules.title", &base).await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let now = Timestamp::now().as_nanos();
    let (day, month) = match (
        app.state
            .alert_counts_since(&tenant, Timestamp::from_nanos(now - DAY_NANOS))
            .await,
        app.state
            .alert_counts_since(&tenant, Timestamp::from_nanos(now - 30 * DAY_NANOS))
            .await,
    ) {
        (Ok(d), Ok(m)) => (d, m),
        (Err(e), _) | (_, Err(e)) => return ApiError::internal(e).into_response(),
    };
    // Alerts each rule's suppressions kept back (those in force), and a link to tune it.
    let suppressions = match app.state.suppressions(&tenant).await {
        Ok(s) => s,
        Err(e) => return ApiError::internal(e).into_response(),
    };
    let mut suppressed: std::collections::HashMap<&str, (u64, usize)> =
        std::collections::HashMap::new();
    for s in suppressions
        .iter()
        .filter(|s| s.removed_at.is_none() && s.expires_at > now)
    {
        for r in &s.rules {
            let e = suppressed.entry(r.as_str()).or_default();
            e.0 += s.hits;
            e.1 += 1;
        }
    }
    let suppressions_href = format!("/console/t/{}/suppressions", tenant.as_str());
    let book = app.rules.current();
    let mut rules: Vec<RuleRow> = book
        .rules
        .iter()
        .chain(book.correlation_rules.iter())
        .filter(|r| r.alerts)
        .map(|r| {
            let id = r.alert_id().to_owned();
            let (kept, count) = suppressed.get(id.as_str()).copied().unwrap_or((0, 0));
            RuleRow {
                suppressed: kept,
                suppressions: count,
                tune: format!("{suppressions_href}?rule={id}"),
                day: day.get(&id).copied().unwrap_or(0),
                month: month.get(&id).copied().unwrap_or(0),
                title: r.title.clone(),
                level: r.level.as_str().to_owned(),
                logsource: r.logsource.clone(),
                id,
            }
        })
        .collect();
    // The noisiest first: what a tuning session starts from.
    rules.sort_by(|a, b| b.month.cmp(&a.month).then_with(|| a.title.cmp(&b.title)));
    let matrix = coverage(book.rules.iter().map(AsRef::as_ref))
        .into_iter()
        .map(|c| TacticColumn {
            tactic: c.tactic,
            techniques: c.techniques,
        })
        .collect();
    let page = Rules {
        chrome,
        base,
        loaded: rules.len(),
        rejected: book
            .rejected
            .iter()
            .map(|d| RejectedRow {
                file: d.file.clone(),
                line: d.line,
                message: d.message.clone(),
            })
            .collect(),
        matrix,
        rules,
    };
    let mut response = page.page();
    response.extensions_mut().insert(AuditNote {
        query: Some("rules and hits".into()),
        count: Some(month.values().sum()),
        ..AuditNote::default()
    });
    response
}

/// `GET /console/t/{tenant}/rules/navigator.json`: the coverage as an ATT&CK Navigator
/// layer.
pub(crate) async fn navigator(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
) -> Response {
    let tenant = auth.tenant.as_ref().map_or("vigie", |t| t.as_str());
    let book = app.rules.current();
    let layer = navigator_layer(
        &coverage(book.rules.iter().map(AsRef::as_ref)),
        &format!("Vigie coverage, {tenant}"),
    );
    let mut response = Json(layer).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"vigie-{tenant}-attack-layer.json\""
    )) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, v);
    }
    response
}
