//! The web console: server-rendered pages (askama templates, checked at compile time) over
//! the same handlers as the JSON API.
//!
//! How it holds together (DESIGN.md §3b, "The web console"):
//!
//! - **One access path.** Every page is a row of [`PAGES`] with the same [`Need`] as the API
//!   route it reads or writes, behind the same middleware (`api::access::authorize`): the
//!   permission check and the audit record of a page view are those of the API read it
//!   performs. A page's handler calls the API's handler function and renders its JSON
//!   ([`through`]), so masks of sensitive fields, quotas and the audit note come along.
//! - **The tenant is in the path** (`/console/t/{tenant}/…`); [`guard`] turns it into the
//!   `Vigie-Tenant` header the access middleware reads, and drops any such header a client
//!   sends to a console page.
//! - **Forms.** Every state-changing request is a POST that [`guard`] checks twice before
//!   any handler runs: the browser's origin (`vigie_govern::csrf::same_origin`) and, when a
//!   session cookie comes with it, the form's `csrf` token (derived from the session). The
//!   handlers answer with a redirect (303) to the page that shows the result, so every page
//!   works without JavaScript; `console.js` only makes it faster.
//! - **Answers.** [`guard`] adds the security headers to every answer (a CSP with no inline
//!   script or style, `frame-ancestors 'none'`), turns an API error into an HTML page in the
//!   reader's language, and a missing or ended session into a redirect to the sign-in page.

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use vigie_govern::permission::Action;

use crate::api::error::ErrorMessage;
use crate::api::{App, AuditNote, Need};

#[cfg(test)]
mod a11y;
mod admin;
pub mod assets;
mod audit;
mod chrome;
mod governance;
mod home;
mod hunts;
pub mod i18n;
mod live;
mod me;
mod notifications;
pub mod qr;
mod queue;
mod rows;
mod rules;
mod search;
mod signin;
mod sources;
mod suppressions;
pub mod svg;
mod triage;
mod view;

use chrome::Chrome;
use i18n::Lang;
use view::Page as _;

/// The largest form body read (the guard reads it to check the token).
pub const MAX_FORM_BYTES: usize = 64 * 1024;

/// Every console page and form: method, path, and what it needs of its caller (the same
/// [`Need`] as the API route it goes through). The router is built from this table only,
/// and the route × role × tenant test walks it with the API's.
pub const PAGES: &[(&str, &str, Need)] = &[
    ("GET", "/", Need::Public),
    ("GET", "/console", Need::Own),
    ("GET", "/console/assets/{name}", Need::Public),
    ("GET", "/console/signin", Need::Public),
    ("POST", "/console/signin", Need::Public),
    ("POST", "/console/signin/code", Need::Public),
    ("POST", "/console/signout", Need::Own),
    ("GET", "/console/me", Need::Own),
    ("POST", "/console/me/language", Need::Own),
    ("GET", "/console/me/mfa", Need::Own),
    ("POST", "/console/me/mfa", Need::Own),
    ("POST", "/console/me/mfa/confirm", Need::Own),
    ("POST", "/console/me/step-up", Need::Own),
    ("POST", "/console/me/tokens", Need::Own),
    ("POST", "/console/me/tokens/{id}/revoke", Need::Own),
    (
        "GET",
        "/console/t/{tenant}/alerts",
        Need::Tenant(Action::ReadAlerts),
    ),
    (
        "GET",
        "/console/t/{tenant}/alerts/live",
        Need::Tenant(Action::ReadAlerts),
    ),
    (
        "GET",
        "/console/t/{tenant}/alerts/{id}",
        Need::Tenant(Action::ReadAlerts),
    ),
    (
        "POST",
        "/console/t/{tenant}/alerts/{id}/elevation",
        Need::Tenant(Action::RequestElevation),
    ),
    (
        "POST",
        "/console/t/{tenant}/alerts/{id}/transition",
        Need::Tenant(Action::TriageAlerts),
    ),
    (
        "POST",
        "/console/t/{tenant}/alerts/{id}/assign",
        Need::Tenant(Action::TriageAlerts),
    ),
    (
        "POST",
        "/console/t/{tenant}/alerts/{id}/comment",
        Need::Tenant(Action::TriageAlerts),
    ),
    (
        "POST",
        "/console/t/{tenant}/alerts/bulk",
        Need::Tenant(Action::TriageAlerts),
    ),
    (
        "GET",
        "/console/t/{tenant}/groups/{id}",
        Need::Tenant(Action::ReadAlerts),
    ),
    (
        "GET",
        "/console/t/{tenant}/sources",
        Need::Tenant(Action::ReadAlerts),
    ),
    (
        "POST",
        "/console/t/{tenant}/sources",
        Need::Tenant(Action::ManageRules),
    ),
    (
        "GET",
        "/console/t/{tenant}/hunts",
        Need::Tenant(Action::SearchEvents),
    ),
    (
        "POST",
        "/console/t/{tenant}/hunts",
        Need::Tenant(Action::SearchEvents),
    ),
    (
        "GET",
        "/console/t/{tenant}/hunts/{id}",
        Need::Tenant(Action::SearchEvents),
    ),
    (
        "POST",
        "/console/t/{tenant}/hunts/{id}/cancel",
        Need::Tenant(Action::SearchEvents),
    ),
    (
        "POST",
        "/console/t/{tenant}/hunts/{id}/alerts",
        Need::Tenant(Action::SearchEvents),
    ),
    (
        "GET",
        "/console/t/{tenant}/notifications",
        Need::Tenant(Action::ManageNotifications),
    ),
    (
        "POST",
        "/console/t/{tenant}/notifications",
        Need::Tenant(Action::ManageNotifications),
    ),
    (
        "POST",
        "/console/t/{tenant}/notifications/{id}/enabled",
        Need::Tenant(Action::ManageNotifications),
    ),
    (
        "POST",
        "/console/t/{tenant}/notifications/{id}/delete",
        Need::Tenant(Action::ManageNotifications),
    ),
    (
        "GET",
        "/console/t/{tenant}/suppressions",
        Need::Tenant(Action::ReadAlerts),
    ),
    (
        "POST",
        "/console/t/{tenant}/suppressions",
        Need::Tenant(Action::ManageRules),
    ),
    (
        "POST",
        "/console/t/{tenant}/suppressions/preview",
        Need::Tenant(Action::ManageRules),
    ),
    (
        "POST",
        "/console/t/{tenant}/suppressions/{id}/remove",
        Need::Tenant(Action::ManageRules),
    ),
    (
        "POST",
        "/console/t/{tenant}/groups/{id}/transition",
        Need::Tenant(Action::TriageAlerts),
    ),
    (
        "GET",
        "/console/t/{tenant}/search",
        Need::Tenant(Action::SearchEvents),
    ),
    (
        "GET",
        "/console/t/{tenant}/search/export",
        Need::Tenant(Action::SearchEvents),
    ),
    (
        "GET",
        "/console/t/{tenant}/rules",
        Need::Tenant(Action::ReadAlerts),
    ),
    (
        "GET",
        "/console/t/{tenant}/rules/navigator.json",
        Need::Tenant(Action::ReadAlerts),
    ),
    (
        "GET",
        "/console/t/{tenant}/audit",
        Need::TenantOrInstance(Action::ReadAudit),
    ),
    (
        "POST",
        "/console/t/{tenant}/audit/verify",
        Need::TenantOrInstance(Action::ReadAudit),
    ),
    (
        "GET",
        "/console/t/{tenant}/governance",
        Need::Tenant(Action::ReadAudit),
    ),
    (
        "POST",
        "/console/t/{tenant}/settings",
        Need::Tenant(Action::ApproveGrants),
    ),
    (
        "POST",
        "/console/t/{tenant}/reviews",
        Need::Tenant(Action::ApproveGrants),
    ),
    (
        "POST",
        "/console/t/{tenant}/reviews/{id}/grants/{grant}/confirm",
        Need::Tenant(Action::ApproveGrants),
    ),
    (
        "POST",
        "/console/t/{tenant}/reviews/{id}/grants/{grant}/remove",
        Need::Tenant(Action::ApproveGrants),
    ),
    ("GET", "/console/access", Need::Own),
    (
        "POST",
        "/console/access/grants",
        Need::Org(Action::RequestGrants),
    ),
    (
        "POST",
        "/console/access/grants/{id}/approve",
        Need::Org(Action::ApproveGrants),
    ),
    (
        "POST",
        "/console/access/grants/{id}/refuse",
        Need::Org(Action::ApproveGrants),
    ),
    (
        "POST",
        "/console/access/grants/{id}/revoke",
        Need::Org(Action::RevokeGrants),
    ),
    (
        "POST",
        "/console/access/elevations/{id}/approve",
        Need::Org(Action::ApproveGrants),
    ),
    (
        "POST",
        "/console/access/elevations/{id}/refuse",
        Need::Org(Action::ApproveGrants),
    ),
    ("GET", "/console/users", Need::Org(Action::ManageUsers)),
    ("POST", "/console/users", Need::Org(Action::ManageUsers)),
    (
        "POST",
        "/console/users/{id}/suspend",
        Need::Org(Action::ManageUsers),
    ),
    (
        "POST",
        "/console/users/{id}/activate",
        Need::Org(Action::ManageUsers),
    ),
    (
        "POST",
        "/console/users/{id}/mfa/reset",
        Need::Org(Action::ManageUsers),
    ),
    ("GET", "/console/health", Need::Instance),
    ("GET", "/console/orgs", Need::Instance),
    ("POST", "/console/orgs", Need::Instance),
    ("GET", "/console/audit", Need::Instance),
    ("POST", "/console/audit/verify", Need::Instance),
];

/// The handler of a page of [`PAGES`].
fn handler(method: &str, path: &str) -> Option<MethodRouter<App>> {
    Some(match (method, path) {
        ("GET", "/") => get(home::root),
        ("GET", "/console") => get(home::home),
        ("GET", "/console/assets/{name}") => get(assets::serve),
        ("GET", "/console/signin") => get(signin::page),
        ("POST", "/console/signin") => post(signin::password),
        ("POST", "/console/signin/code") => post(signin::code),
        ("POST", "/console/signout") => post(signin::signout),
        ("GET", "/console/me") => get(me::page),
        ("POST", "/console/me/language") => post(me::language),
        ("GET", "/console/me/mfa") => get(me::mfa_page),
        ("POST", "/console/me/mfa") => post(me::mfa_start),
        ("POST", "/console/me/mfa/confirm") => post(me::mfa_confirm),
        ("POST", "/console/me/step-up") => post(me::step_up),
        ("POST", "/console/me/tokens") => post(me::create_token),
        ("POST", "/console/me/tokens/{id}/revoke") => post(me::revoke_token),
        ("GET", "/console/t/{tenant}/alerts") => get(queue::queue),
        ("GET", "/console/t/{tenant}/alerts/live") => get(live::stream),
        ("GET", "/console/t/{tenant}/alerts/{id}") => get(queue::alert),
        ("POST", "/console/t/{tenant}/alerts/{id}/elevation") => post(queue::request_elevation),
        ("POST", "/console/t/{tenant}/alerts/{id}/transition") => post(queue::transition),
        ("POST", "/console/t/{tenant}/alerts/{id}/assign") => post(triage::assign),
        ("POST", "/console/t/{tenant}/alerts/{id}/comment") => post(triage::comment),
        ("POST", "/console/t/{tenant}/alerts/bulk") => post(triage::bulk),
        ("GET", "/console/t/{tenant}/groups/{id}") => get(triage::group),
        ("GET", "/console/t/{tenant}/sources") => get(sources::page),
        ("POST", "/console/t/{tenant}/sources") => post(sources::set),
        ("GET", "/console/t/{tenant}/hunts") => get(hunts::page),
        ("POST", "/console/t/{tenant}/hunts") => post(hunts::start),
        ("GET", "/console/t/{tenant}/hunts/{id}") => get(hunts::job),
        ("POST", "/console/t/{tenant}/hunts/{id}/cancel") => post(hunts::cancel),
        ("POST", "/console/t/{tenant}/hunts/{id}/alerts") => post(hunts::alerts),
        ("GET", "/console/t/{tenant}/notifications") => get(notifications::page),
        ("POST", "/console/t/{tenant}/notifications") => post(notifications::create),
        ("POST", "/console/t/{tenant}/notifications/{id}/enabled") => {
            post(notifications::set_enabled)
        }
        ("POST", "/console/t/{tenant}/notifications/{id}/delete") => post(notifications::delete),
        ("GET", "/console/t/{tenant}/suppressions") => get(suppressions::page),
        ("POST", "/console/t/{tenant}/suppressions") => post(suppressions::create),
        ("POST", "/console/t/{tenant}/suppressions/preview") => post(suppressions::preview),
        ("POST", "/console/t/{tenant}/suppressions/{id}/remove") => post(suppressions::remove),
        ("POST", "/console/t/{tenant}/groups/{id}/transition") => post(triage::group_transition),
        ("GET", "/console/t/{tenant}/search") => get(search::page),
        ("GET", "/console/t/{tenant}/search/export") => get(search::export),
        ("GET", "/console/t/{tenant}/rules") => get(rules::page),
        ("GET", "/console/t/{tenant}/rules/navigator.json") => get(rules::navigator),
        ("GET", "/console/t/{tenant}/audit") => get(audit::page),
        ("POST", "/console/t/{tenant}/audit/verify") => post(audit::verify),
        ("GET", "/console/t/{tenant}/governance") => get(governance::page),
        ("POST", "/console/t/{tenant}/settings") => post(governance::settings),
        ("POST", "/console/t/{tenant}/reviews") => post(governance::open_review),
        ("POST", "/console/t/{tenant}/reviews/{id}/grants/{grant}/confirm") => {
            post(governance::confirm)
        }
        ("POST", "/console/t/{tenant}/reviews/{id}/grants/{grant}/remove") => {
            post(governance::remove)
        }
        ("GET", "/console/access") => get(admin::access),
        ("POST", "/console/access/grants") => post(admin::request_grant),
        ("POST", "/console/access/grants/{id}/approve") => post(admin::approve_grant),
        ("POST", "/console/access/grants/{id}/refuse") => post(admin::refuse_grant),
        ("POST", "/console/access/grants/{id}/revoke") => post(admin::revoke_grant),
        ("POST", "/console/access/elevations/{id}/approve") => post(admin::approve_elevation),
        ("POST", "/console/access/elevations/{id}/refuse") => post(admin::refuse_elevation),
        ("GET", "/console/users") => get(admin::users),
        ("POST", "/console/users") => post(admin::create_user),
        ("POST", "/console/users/{id}/suspend") => post(admin::suspend),
        ("POST", "/console/users/{id}/activate") => post(admin::activate),
        ("POST", "/console/users/{id}/mfa/reset") => post(admin::reset_mfa),
        ("GET", "/console/health") => get(home::health),
        ("GET", "/console/orgs") => get(admin::orgs),
        ("POST", "/console/orgs") => post(admin::create_org),
        ("GET", "/console/audit") => get(audit::page),
        ("POST", "/console/audit/verify") => post(audit::verify),
        _ => return None,
    })
}

/// The console's routes, each behind the access middleware with its need, and all behind
/// [`guard`]. Merged into the API's router (which has the fallback).
pub fn routes(app: App) -> Router<App> {
    let mut router = Router::new();
    for (method, path, need) in PAGES {
        let Some(handler) = handler(method, path) else {
            continue;
        };
        router = router.route(
            path,
            handler.route_layer(axum::middleware::from_fn_with_state(
                (app.clone(), *need),
                crate::api::access::authorize,
            )),
        );
    }
    router.layer(axum::middleware::from_fn_with_state(app, guard))
}

/// The tenant a console path names (`/console/t/{tenant}/…`).
fn path_tenant(path: &str) -> Option<&str> {
    path.strip_prefix("/console/t/")?
        .split('/')
        .next()
        .filter(|t| !t.is_empty())
}

/// The header values every console answer carries.
const SECURITY_HEADERS: &[(&str, &str)] = &[
    (
        "content-security-policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    ("referrer-policy", "same-origin"),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("cross-origin-opener-policy", "same-origin"),
];

/// The console's layer: see the module documentation.
async fn guard(State(app): State<App>, request: Request, next: Next) -> Response {
    let lang = Lang::of(request.headers());
    let path = request.uri().path().to_owned();
    let target = request
        .uri()
        .path_and_query()
        .map_or_else(|| path.clone(), |p| p.as_str().to_owned());
    let method = request.method().clone();
    let request = match admit(&app, request).await {
        Ok(r) => r,
        Err(refusal) => return secure(error_page(&app, lang, refusal.0, &refusal.1)),
    };
    let response = next.run(request).await;
    let status = response.status();
    if status == StatusCode::UNAUTHORIZED && !path.starts_with("/console/signin") {
        // No session, or it ended: the sign-in page, then back here (for a page, not a
        // form: a POST replayed after sign-in would need its token again).
        let back = if method == Method::GET {
            target.as_str()
        } else {
            "/console"
        };
        return secure(chrome::see_other(&signin::url_back_to(back)));
    }
    let message = response.extensions().get::<ErrorMessage>().cloned();
    if let Some(message) = message {
        let mfa = message.0.contains("enrol a second factor");
        if status == StatusCode::FORBIDDEN && mfa {
            return secure(chrome::see_other("/console/me/mfa"));
        }
        // Keep the audit note (the access middleware already took it) and the headers
        // such as Retry-After; the body becomes a page.
        let retry = response.headers().get(header::RETRY_AFTER).cloned();
        let mut page = error_page(&app, lang, status, &message.0);
        if let Some(retry) = retry {
            page.headers_mut().insert(header::RETRY_AFTER, retry);
        }
        return secure(page);
    }
    // An answer of axum's own extractors (a malformed form or path: plain text) is a page
    // too, with its reason.
    let html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if (status.is_client_error() || status.is_server_error()) && !html {
        let bytes = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap_or_default();
        let reason = String::from_utf8_lossy(&bytes).trim().to_owned();
        let reason = if reason.is_empty() {
            status.canonical_reason().unwrap_or("error").to_owned()
        } else {
            reason
        };
        return secure(error_page(&app, lang, status, &reason));
    }
    secure(response)
}

/// The checks before any handler: tenant from the path, and for a POST the origin and the
/// form's token. Gives the request back (its body re-read into it) or the refusal.
async fn admit(app: &App, request: Request) -> Result<Request, (StatusCode, String)> {
    let (mut parts, body) = request.into_parts();
    parts.headers.remove("vigie-tenant");
    if let Some(tenant) = path_tenant(parts.uri.path()) {
        let value = HeaderValue::from_str(tenant)
            .map_err(|_| (StatusCode::BAD_REQUEST, "not a tenant name".to_owned()))?;
        parts.headers.insert("vigie-tenant", value);
    }
    if parts.method != Method::POST {
        return Ok(Request::from_parts(parts, body));
    }
    let header = |name: HeaderName| parts.headers.get(name).and_then(|v| v.to_str().ok());
    if !vigie_govern::csrf::same_origin(
        header(header::ORIGIN),
        header(HeaderName::from_static("sec-fetch-site")),
        header(header::HOST),
        &app.public_url,
    ) {
        return Err((
            StatusCode::FORBIDDEN,
            "this form was sent from another site (Origin); open the console and try again"
                .to_owned(),
        ));
    }
    let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
        .await
        .map_err(|_| {
            (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the form is larger than {MAX_FORM_BYTES} bytes"),
            )
        })?;
    if let Some(session) = crate::api::access::session_cookie(&parts.headers) {
        let hash = session_hash(session);
        let given = form_field(&bytes, vigie_govern::csrf::FIELD).unwrap_or_default();
        if !vigie_govern::csrf::check(&csrf_key(app), &hash, &given) {
            return Err((
                StatusCode::FORBIDDEN,
                "the form's token does not match the session (it may have been opened \
                 before a sign-in); reload the page and try again"
                    .to_owned(),
            ));
        }
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

/// The stored hash of a session id (what the CSRF token is derived from).
pub(crate) fn session_hash(id: &str) -> String {
    vigie_govern::session::stored_hash(id)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The key CSRF tokens are derived under.
pub(crate) fn csrf_key(app: &App) -> [u8; 32] {
    vigie_govern::seal::derive(app.secrets.instance_secret(), "console csrf tokens")
}

/// The first value of `name` in a form body.
pub(crate) fn form_field(body: &[u8], name: &str) -> Option<String> {
    form_urlencoded::parse(body)
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn secure(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        headers.insert(*name, HeaderValue::from_static(value));
    }
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

fn error_page(app: &App, lang: Lang, status: StatusCode, message: &str) -> Response {
    let chrome = Chrome::bare(app, lang, "error.title");
    let mut response = view::ErrorPage {
        chrome,
        status: status.as_u16(),
        message: message.to_owned(),
    }
    .page();
    *response.status_mut() = status;
    response
}

/// What a console handler keeps of the API handler's answer besides its JSON: the audit
/// note (for the access middleware's record) and the cookies it set.
#[derive(Default)]
pub(crate) struct Carry {
    note: Option<AuditNote>,
    cookies: Vec<HeaderValue>,
}

impl Carry {
    /// The value of cookie `name` the API handler set, if it set one.
    pub(crate) fn cookie_value(&self, name: &str) -> Option<String> {
        self.cookies.iter().find_map(|c| {
            let text = c.to_str().ok()?;
            let (pair, _) = text.split_once(';').unwrap_or((text, ""));
            let (n, v) = pair.split_once('=')?;
            (n.trim() == name && !v.is_empty()).then(|| v.to_owned())
        })
    }

    /// The audit note alone (for a record written outside the access middleware).
    pub(crate) fn into_note(self) -> AuditNote {
        self.note.unwrap_or_default()
    }

    /// Puts the note and cookies on the console's answer.
    pub(crate) fn onto(self, mut response: Response) -> Response {
        if let Some(note) = self.note {
            response.extensions_mut().insert(note);
        }
        for cookie in self.cookies {
            response.headers_mut().append(header::SET_COOKIE, cookie);
        }
        response
    }
}

/// A JSON value as a page shows it: a string as is, null as nothing, anything else as
/// JSON text.
pub(crate) fn text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// What a form's redirect says was done (`?done=`).
#[derive(serde::Deserialize, Default)]
pub(crate) struct DoneParams {
    pub(crate) done: Option<String>,
}

/// A form's answer: the API's audit note carried onto a 303 to `to`, or the API's error
/// (which [`guard`] renders).
pub(crate) async fn after(api: impl IntoResponse, to: &str) -> Response {
    match through(api).await {
        Ok((_, carry)) => carry.onto(chrome::see_other(to)),
        Err(response) => response,
    }
}

/// The largest API answer a page renders (a page of results with their events).
const MAX_API_BYTES: usize = 32 * 1024 * 1024;

/// Runs an API handler's answer through: its JSON and what to carry, or (an error) the
/// answer itself, which [`guard`] renders as a page.
pub(crate) async fn through(
    response: impl IntoResponse,
) -> Result<(serde_json::Value, Carry), Response> {
    let response = response.into_response();
    if !response.status().is_success() {
        return Err(response);
    }
    let (mut parts, body) = response.into_parts();
    let carry = Carry {
        note: parts.extensions.remove::<AuditNote>(),
        cookies: parts
            .headers
            .get_all(header::SET_COOKIE)
            .iter()
            .cloned()
            .collect(),
    };
    let bytes = axum::body::to_bytes(body, MAX_API_BYTES)
        .await
        .map_err(|e| crate::api::error::ApiError::internal(e).into_response())?;
    if bytes.is_empty() {
        return Ok((serde_json::Value::Null, carry));
    }
    let value = serde_json::from_slice(&bytes)
        .map_err(|e| crate::api::error::ApiError::internal(e).into_response())?;
    Ok((value, carry))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_has_a_handler_once() {
        let mut seen = std::collections::BTreeSet::new();
        for (method, path, _) in PAGES {
            assert!(handler(method, path).is_some(), "{method} {path}");
            assert!(seen.insert((method, path)), "{method} {path} twice");
        }
    }

    #[test]
    fn every_form_is_a_post_and_every_read_a_get() {
        for (method, path, _) in PAGES {
            assert!(matches!(*method, "GET" | "POST"), "{method} {path}");
        }
    }

    #[test]
    fn the_tenant_of_a_path() {
        assert_eq!(path_tenant("/console/t/mutuelle/alerts"), Some("mutuelle"));
        assert_eq!(path_tenant("/console/t/globex"), Some("globex"));
        assert_eq!(path_tenant("/console/t//alerts"), None);
        assert_eq!(path_tenant("/console/me"), None);
    }

    #[test]
    fn form_fields() {
        assert_eq!(
            form_field(b"a=1&csrf=x%20y&b=2", "csrf").as_deref(),
            Some("x y")
        );
        assert_eq!(form_field(b"a=1", "csrf"), None);
    }
}
