//! The suppression editor: a tenant's suppressions with their counts, and the form that
//! previews a Sigma filter document over the last 30 days before creating it
//! (`api::suppressions`).

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use vigie_govern::permission::{Action, Cell, allows};

use super::chrome::Chrome;
use super::rows::row_of;
use super::view::{Page, PreviewView, SuppressionRow, SuppressionsPage};
use super::{after, text, through};
use crate::api::App;
use crate::api::access::Authorized;
use crate::api::error::ApiError;
use crate::api::suppressions::{CreateBody, DEFAULT_DAYS};

/// The editor's starting document for `rule` (what a tuning of that rule looks like).
fn template(rule: &str) -> String {
    format!(
        "title: what this suppression keeps back\nlogsource:\n  product: windows\nfilter:\n  \
         rules:\n    - {rule}\n  selection:\n    Image|endswith: '\\\\expected.exe'\n  \
         condition: not selection\n"
    )
}

fn utc(nanos: i64) -> String {
    vigie_event::Timestamp::from_nanos(nanos).to_rfc3339(vigie_event::UtcOffset::UTC)
}

#[derive(serde::Deserialize, Default)]
pub(crate) struct EditorParams {
    rule: Option<String>,
    done: Option<String>,
}

/// The form's fields, kept when the page is shown again.
struct Form {
    document: String,
    justification: String,
    days: u32,
}

async fn render(
    app: &App,
    auth: &Authorized,
    headers: &HeaderMap,
    form: Form,
    preview: Option<PreviewView>,
    done: Option<&'static str>,
) -> Response {
    let Some(tenant) = auth.tenant.clone() else {
        return ApiError::bad_request("no tenant").into_response();
    };
    let base = format!("/console/t/{}/suppressions", tenant.as_str());
    let api = crate::api::suppressions::list(State(app.clone()), Extension(auth.clone())).await;
    let (json, carry) = match through(api).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let chrome = match Chrome::of(app, auth, headers, "suppressions.title", &base).await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let preview = preview.map(|mut p| {
        p.summary = chrome
            .t
            .fs("suppressions.preview.result", &[&p.suppressed, &p.checked]);
        p
    });
    let list = json["suppressions"].as_array().cloned().unwrap_or_default();
    let authors = super::triage::names(app, list.iter().filter_map(|s| s["author"].as_u64())).await;
    let rows = list
        .iter()
        .map(|s| SuppressionRow {
            id: text(&s["id"]),
            title: text(&s["title"]),
            rules: s["rules"]
                .as_array()
                .map(|r| r.iter().map(text).collect::<Vec<_>>().join(", "))
                .unwrap_or_default(),
            justification: text(&s["justification"]),
            author: s["author"]
                .as_u64()
                .and_then(|a| authors.get(&a).cloned())
                .unwrap_or_default(),
            created: s["created_at"].as_i64().map(utc).unwrap_or_default(),
            expires: s["expires_at"].as_i64().map(utc).unwrap_or_default(),
            state: text(&s["state"]),
            hits: s["hits"].as_u64().unwrap_or(0),
            last_hit: s["last_hit"].as_i64().map(utc).unwrap_or_default(),
            document: text(&s["document"]),
        })
        .collect();
    let page = SuppressionsPage {
        chrome,
        base,
        done,
        may_manage: auth
            .role
            .is_some_and(|r| allows(r, Action::ManageRules) != Cell::Deny),
        rows,
        document: form.document,
        justification: form.justification,
        days: form.days,
        preview,
    };
    carry.onto(page.page())
}

/// `GET /console/t/{tenant}/suppressions`.
pub(crate) async fn page(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    headers: HeaderMap,
    Query(p): Query<EditorParams>,
) -> Response {
    let rule = p.rule.as_deref().map(str::trim).filter(|r| !r.is_empty());
    let form = Form {
        document: template(rule.unwrap_or("rule-id")),
        justification: String::new(),
        days: DEFAULT_DAYS,
    };
    let done = match p.done.as_deref() {
        Some("created") => Some("done.suppression.created"),
        Some("removed") => Some("done.suppression.removed"),
        _ => None,
    };
    render(&app, &auth, &headers, form, None, done).await
}

fn form_of(body: &[u8]) -> Form {
    let mut form = Form {
        document: String::new(),
        justification: String::new(),
        days: DEFAULT_DAYS,
    };
    for (k, v) in form_urlencoded::parse(body) {
        match k.as_ref() {
            "document" => form.document = v.replace("\r\n", "\n"),
            "justification" => form.justification = v.into_owned(),
            // A number the API refuses (0, 9999) is passed on for it to say why.
            "days" => form.days = v.trim().parse().unwrap_or(0),
            _ => {}
        }
    }
    form
}

/// `POST /console/t/{tenant}/suppressions/preview`: the page again, with what the
/// document would have kept back and the form as it was.
pub(crate) async fn preview(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = form_of(&body);
    let p = match crate::api::suppressions::run_preview(&app, &auth, &form.document).await {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let tenant = auth
        .tenant
        .as_ref()
        .map(|t| t.as_str().to_owned())
        .unwrap_or_default();
    let view = PreviewView {
        summary: String::new(),
        checked: p.checked,
        suppressed: p.suppressed,
        missing: p.missing,
        samples: p
            .samples
            .iter()
            .map(|s| {
                let alert = serde_json::json!({
                    "id": s["alert"], "event_time": s["event_time"], "level": "",
                    "rule_title": s["rule_title"], "host": s["host"], "status": "",
                });
                row_of(&alert, &tenant)
            })
            .collect(),
    };
    render(&app, &auth, &headers, form, Some(view), None).await
}

/// `POST /console/t/{tenant}/suppressions`.
pub(crate) async fn create(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Response {
    let form = form_of(&body);
    let request = CreateBody {
        document: form.document,
        justification: form.justification,
        days: Some(form.days),
    };
    let api =
        crate::api::suppressions::create(State(app), Extension(auth), Ok(axum::Json(request)))
            .await;
    after(
        api,
        &format!("/console/t/{tenant}/suppressions?done=created"),
    )
    .await
}

/// `POST /console/t/{tenant}/suppressions/{id}/remove`.
pub(crate) async fn remove(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    Path((tenant, id)): Path<(String, String)>,
) -> Response {
    let api = crate::api::suppressions::remove(State(app), Extension(auth), Path(id)).await;
    after(
        api,
        &format!("/console/t/{tenant}/suppressions?done=removed"),
    )
    .await
}
