//! The reader's own things: language, sessions, API tokens, and the second factor
//! (enrolment with a QR code, recovery codes shown once, step-up), through the API's
//! `/me` handlers.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form, Json};
use serde::Deserialize;

use super::chrome::{Chrome, see_other};
use super::i18n::Lang;
use super::signin::remember;
use super::view::{Me, Mfa, Page, SessionRow, TokenRow};
use super::{DoneParams, text, through};
use crate::api::App;
use crate::api::access::{Authorized, Caller};
use crate::api::me as api;

/// What the account page says was done (`?done=`), as a catalog key.
fn done_key(done: Option<&str>) -> Option<&'static str> {
    match done? {
        "language" => Some("done.language"),
        "revoked" => Some("done.token.revoked"),
        "stepped-up" => Some("done.steppedup"),
        _ => None,
    }
}

async fn account(
    app: &App,
    auth: &Authorized,
    headers: &HeaderMap,
    done: Option<&'static str>,
    new_token: Option<String>,
) -> Response {
    let Some(user) = auth.caller.user() else {
        return see_other("/console/signin");
    };
    let chrome = match Chrome::of(app, auth, headers, "me.title", "/console/me").await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let sessions =
        match through(api::sessions(State(app.clone()), Extension(auth.clone())).await).await {
            Ok((json, _)) => json["sessions"].as_array().cloned().unwrap_or_default(),
            Err(response) => return response,
        };
    let tokens = match through(api::tokens(State(app.clone()), Extension(auth.clone())).await).await
    {
        Ok((json, _)) => json["tokens"].as_array().cloned().unwrap_or_default(),
        Err(response) => return response,
    };
    Me {
        chrome,
        done,
        login: user.login.clone(),
        role: user.role.as_str().to_owned(),
        mfa: user.mfa_enrolled,
        langs: Lang::ALL.iter().map(|l| (l.code(), l.name())).collect(),
        sessions: sessions
            .iter()
            .map(|s| SessionRow {
                since: text(&s["since"]),
                last_used: text(&s["last_used"]),
                address: text(&s["address"]),
                current: s["current"].as_bool().unwrap_or(false),
            })
            .collect(),
        tokens: tokens
            .iter()
            .filter(|t| t["revoked"].as_bool() != Some(true))
            .map(|t| TokenRow {
                id: text(&t["id"]),
                label: text(&t["label"]),
                expires: text(&t["expires"]),
            })
            .collect(),
        new_token,
    }
    .page()
}

/// `GET /console/me`.
pub(crate) async fn page(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    headers: HeaderMap,
    Query(p): Query<DoneParams>,
) -> Response {
    account(&app, &auth, &headers, done_key(p.done.as_deref()), None).await
}

#[derive(Deserialize)]
pub(crate) struct LanguageForm {
    lang: String,
}

/// `POST /console/me/language`.
pub(crate) async fn language(Form(f): Form<LanguageForm>) -> Response {
    let mut response = see_other("/console/me?done=language");
    if let Some(lang) = Lang::parse(&f.lang) {
        remember(&mut response, lang);
    }
    response
}

#[derive(Deserialize)]
pub(crate) struct TokenForm {
    label: String,
    days: u32,
}

/// `POST /console/me/tokens`: the new token is shown once, on the page this answers.
pub(crate) async fn create_token(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    headers: HeaderMap,
    Form(f): Form<TokenForm>,
) -> Response {
    let body = serde_json::json!({"label": f.label, "days": f.days});
    let body = match serde_json::from_value(body) {
        Ok(b) => b,
        Err(e) => return crate::api::error::ApiError::bad_request(e.to_string()).into_response(),
    };
    let api = api::create_token(State(app.clone()), Extension(auth.clone()), Ok(Json(body))).await;
    let (json, carry) = match through(api).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let token = text(&json["token"]);
    carry.onto(
        account(
            &app,
            &auth,
            &headers,
            Some("done.token.created"),
            Some(token),
        )
        .await,
    )
}

/// `POST /console/me/tokens/{id}/revoke`.
pub(crate) async fn revoke_token(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    Path(id): Path<String>,
) -> Response {
    let api = api::revoke_token(State(app), Extension(auth), Path(id)).await;
    match through(api).await {
        Ok((_, carry)) => carry.onto(see_other("/console/me?done=revoked")),
        Err(response) => response,
    }
}

fn mfa_view(chrome: Chrome, auth: &Authorized) -> Mfa {
    let (enrolled, step_up) = match auth.caller.as_ref() {
        Caller::Person { user, session, .. } => (
            user.mfa_enrolled,
            user.mfa_enrolled && session.as_ref().is_some_and(|s| !s.mfa),
        ),
        Caller::Ingest(_) => (false, false),
    };
    Mfa {
        chrome,
        error: None,
        enrolled,
        step_up,
        secret: None,
        qr: String::new(),
        codes: Vec::new(),
    }
}

/// `GET /console/me/mfa`.
pub(crate) async fn mfa_page(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    headers: HeaderMap,
) -> Response {
    match Chrome::of(&app, &auth, &headers, "mfa.title", "/console/me").await {
        Ok(chrome) => mfa_view(chrome, &auth).page(),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
pub(crate) struct CodeForm {
    #[serde(default)]
    code: String,
}

/// `POST /console/me/mfa`: a new secret, shown as a QR code and as text.
pub(crate) async fn mfa_start(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    headers: HeaderMap,
    Form(f): Form<CodeForm>,
) -> Response {
    let body = if f.code.trim().is_empty() {
        Bytes::new()
    } else {
        Bytes::from(serde_json::json!({"code": f.code.trim()}).to_string())
    };
    let api = api::totp_start(State(app.clone()), Extension(auth.clone()), body).await;
    let chrome = match Chrome::of(&app, &auth, &headers, "mfa.title", "/console/me").await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let mut view = mfa_view(chrome, &auth);
    match through(api).await {
        Ok((json, carry)) => {
            let uri = text(&json["uri"]);
            view.qr = super::qr::svg(&uri, view.chrome.t.t("mfa.qr")).unwrap_or_default();
            view.secret = Some(text(&json["secret"]));
            carry.onto(view.page())
        }
        Err(response) => response,
    }
}

/// `POST /console/me/mfa/confirm`: the recovery codes, shown once.
pub(crate) async fn mfa_confirm(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    headers: HeaderMap,
    Form(f): Form<CodeForm>,
) -> Response {
    let body = serde_json::from_value(serde_json::json!({"code": f.code.trim()}));
    let body = match body {
        Ok(b) => b,
        Err(e) => return crate::api::error::ApiError::bad_request(e.to_string()).into_response(),
    };
    let api = api::totp_confirm(State(app.clone()), Extension(auth.clone()), Ok(Json(body))).await;
    let (json, carry) = match through(api).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let chrome = match Chrome::of(&app, &auth, &headers, "mfa.title", "/console/me").await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let mut view = mfa_view(chrome, &auth);
    view.enrolled = true;
    view.codes = json["recovery_codes"]
        .as_array()
        .map(|c| c.iter().map(text).collect())
        .unwrap_or_default();
    // The session was replaced by one that carries the second factor: the new page's
    // forms need the new session's token.
    if let Some(id) = carry.cookie_value(vigie_govern::session::COOKIE) {
        view.chrome.csrf =
            vigie_govern::csrf::token(&super::csrf_key(&app), &super::session_hash(&id));
    }
    carry.onto(view.page())
}

/// `POST /console/me/step-up`: a session opened by an identity provider that did not say
/// a second factor was used gives it now.
pub(crate) async fn step_up(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    Form(f): Form<CodeForm>,
) -> Response {
    let body = serde_json::from_value(serde_json::json!({"code": f.code.trim()}));
    let body = match body {
        Ok(b) => b,
        Err(e) => return crate::api::error::ApiError::bad_request(e.to_string()).into_response(),
    };
    let api = api::step_up(State(app), Extension(auth), Ok(Json(body))).await;
    match through(api).await {
        Ok((_, carry)) => carry.onto(see_other("/console")),
        Err(response) => response,
    }
}
