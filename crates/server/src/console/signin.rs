//! Signing in and out: the password, then (for an enrolled account) the code of the
//! authenticator app or a recovery code; or the organisation's identity provider.
//!
//! The two steps share the API's sign-in code (`api::login`): its throttle, its password
//! check against a dummy hash for unknown logins, its second-factor check and its session.
//! Between the steps the browser holds a **pending proof**: the user's id, the address and
//! a five-minute deadline, sealed (ChaCha20-Poly1305) under an instance key, so the password
//! is neither kept by the server nor sent again, and the proof is useless elsewhere or later.
//!
//! Decision: a right password without its code counts against the account's throttle (as
//! in the API), not against the address's: an office behind one address signs in all day
//! in two steps, and must not throttle itself. A successful code clears the account's count.

use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form};
use serde::Deserialize;
use vigie_event::time::Timestamp;
use vigie_govern::audit::record::Who;
use vigie_govern::seal::SealKey;
use vigie_govern::session;

use super::chrome::{Chrome, see_other};
use super::i18n::{self, Lang};
use super::view::{Page, SignIn};
use crate::api::App;
use crate::api::access::Authorized;
use crate::api::error::{ApiError, ApiResult};
use crate::api::login;

/// How long the code step may follow the password.
const PENDING_SECS: i64 = 300;

/// The sign-in page's address that comes back to `target` after.
pub(crate) fn url_back_to(target: &str) -> String {
    let encoded: String = form_urlencoded::byte_serialize(target.as_bytes()).collect();
    format!("/console/signin?next={encoded}")
}

/// A `next` that stays on this console (no open redirect): a path under `/console`.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if (n == "/console" || n.starts_with("/console/") || n.starts_with("/console?"))
                && !n.contains('\\')
                && !n.contains("://") =>
        {
            n.to_owned()
        }
        _ => "/console".to_owned(),
    }
}

fn langs() -> Vec<(&'static str, &'static str)> {
    Lang::ALL.iter().map(|l| (l.code(), l.name())).collect()
}

#[derive(Deserialize, Default)]
pub(crate) struct PageParams {
    next: Option<String>,
    /// Sign in with this organisation's identity provider.
    org: Option<String>,
    /// Show the page in this language (and remember it).
    lang: Option<String>,
}

fn form(app: &App, lang: Lang, next: String) -> SignIn {
    SignIn {
        chrome: Chrome::bare(app, lang, "signin.title"),
        error: None,
        pending: None,
        next,
        login: String::new(),
        langs: langs(),
    }
}

/// `GET /console/signin`.
pub(crate) async fn page(
    State(app): State<App>,
    headers: HeaderMap,
    Query(p): Query<PageParams>,
) -> Response {
    if let Some(org) = p.org.as_deref().map(str::trim).filter(|o| !o.is_empty()) {
        let encoded: String = form_urlencoded::byte_serialize(org.as_bytes()).collect();
        return see_other(&format!("/api/v1/oidc/{encoded}/start"));
    }
    let chosen = p.lang.as_deref().and_then(Lang::parse);
    let lang = chosen.unwrap_or_else(|| Lang::of(&headers));
    let mut response = form(&app, lang, safe_next(p.next.as_deref())).page();
    if let Some(lang) = chosen {
        remember(&mut response, lang);
    }
    response
}

/// Sets the language cookie.
pub(crate) fn remember(response: &mut Response, lang: Lang) {
    let cookie = format!(
        "{}={}; Path=/; Max-Age=31536000; SameSite=Lax",
        i18n::COOKIE,
        lang.code()
    );
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

#[derive(Deserialize)]
pub(crate) struct PasswordForm {
    login: String,
    password: String,
    next: Option<String>,
}

fn pending_key(app: &App) -> SealKey {
    SealKey::new(
        app.secrets.instance_secret(),
        "console sign-in, pending code",
    )
}

/// Seals the proof that `user`'s password was right, from `address`, until five minutes
/// from now.
fn seal_pending(app: &App, user: u64, address: &str) -> ApiResult<String> {
    let mut nonce = [0u8; 12];
    getrandom::fill(&mut nonce).map_err(ApiError::internal)?;
    Ok(seal_proof(&pending_key(app), user, address, now_s(), nonce))
}

/// The user of a pending proof made for `address`, if it opens and has not expired.
fn open_pending(app: &App, sealed: &str, address: &str) -> Option<u64> {
    open_proof(&pending_key(app), sealed, address, now_s())
}

fn now_s() -> i64 {
    Timestamp::now().as_nanos() / 1_000_000_000
}

/// The proof: `user:deadline` sealed for `address` (the address is the seal's associated
/// data: the proof opens for that address only).
fn seal_proof(key: &SealKey, user: u64, address: &str, now: i64, nonce: [u8; 12]) -> String {
    let until = now + PENDING_SECS;
    key.seal(format!("{user}:{until}").as_bytes(), address, nonce)
}

/// The user of a proof sealed for `address`, at `now` (seconds), if its deadline has not
/// passed.
fn open_proof(key: &SealKey, sealed: &str, address: &str, now: i64) -> Option<u64> {
    let plain = key.open(sealed, address).ok()?;
    let text = String::from_utf8(plain).ok()?;
    let (user, until) = text.split_once(':')?;
    let until: i64 = until.parse().ok()?;
    if now > until {
        return None;
    }
    user.parse().ok()
}

/// The session cookie, and a 303 to `next`.
fn signed_in(id: &str, next: &str) -> ApiResult<Response> {
    let mut response = see_other(next);
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&session::cookie(id)).map_err(ApiError::internal)?,
    );
    Ok(response)
}

/// The sign-in page again, with what went wrong (and the status of the API's answer).
fn again(app: &App, lang: Lang, next: String, login: String, e: &ApiError) -> Response {
    let mut page = form(app, lang, next);
    page.login = login;
    page.error = Some(match e.code {
        "bad_credentials" => i18n::Tr { lang }.t("signin.wrong").to_owned(),
        _ => e.message.clone(),
    });
    let mut response = page.page();
    *response.status_mut() = e.status;
    if let Some(secs) = e.retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

/// `POST /console/signin`: the password.
pub(crate) async fn password(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    Form(f): Form<PasswordForm>,
) -> Response {
    let lang = Lang::of(&headers);
    let address = peer.ip().to_string();
    let next = safe_next(f.next.as_deref());
    let mut who = Who {
        address: Some(address.clone()),
        ..Who::default()
    };
    // The first of two steps is its own record: the password was right, no session yet.
    let mut action = "sign-in";
    let result = async {
        let user = login::check_password(&app, &address, &f.login, &f.password, &mut who).await?;
        if user.mfa_enrolled {
            action = "sign-in-password";
            login::record_failure(&app, &[format!("user:{}", f.login)]).await?;
            let mut page = form(&app, lang, next.clone());
            page.pending = Some(seal_pending(&app, user.id.0, &address)?);
            return Ok(page.page());
        }
        let id = login::open_session(&app, &headers, &user, false, &address).await?;
        signed_in(&id, &next)
    }
    .await;
    let result =
        result.map_err(|e| Failed(again(&app, lang, next.clone(), f.login.clone(), &e), e));
    finish_audited(&app, who, action, result).await
}

/// An error, with the page that shows it.
struct Failed(Response, ApiError);

/// The API's audited answer for a public sign-in route, with the console's page.
async fn finish_audited(
    app: &App,
    who: Who,
    action: &str,
    result: Result<Response, Failed>,
) -> Response {
    match result {
        Ok(page) => login::audited(app, who, action, Ok(page)).await,
        Err(Failed(page, e)) => {
            // The record says why; the page says it to the reader.
            let recorded = login::audited(app, who, action, Err(e)).await;
            if recorded.status() == StatusCode::SERVICE_UNAVAILABLE {
                return recorded;
            }
            page
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct CodeForm {
    pending: String,
    code: String,
    next: Option<String>,
}

/// `POST /console/signin/code`: the second step.
pub(crate) async fn code(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    Form(f): Form<CodeForm>,
) -> Response {
    let lang = Lang::of(&headers);
    let address = peer.ip().to_string();
    let next = safe_next(f.next.as_deref());
    let mut who = Who {
        address: Some(address.clone()),
        ..Who::default()
    };
    let mut login_name = String::new();
    let result = async {
        let expired = || {
            ApiError::coded(
                StatusCode::UNAUTHORIZED,
                "pending_expired",
                "the sign-in took too long or came from elsewhere: enter the password again",
            )
        };
        let user = open_pending(&app, &f.pending, &address).ok_or_else(expired)?;
        let user = app
            .state
            .user(vigie_govern::grant::UserId(user))
            .await
            .map_err(ApiError::internal)?
            .ok_or_else(expired)?;
        who.user = Some(user.id.0);
        who.org = Some(user.org.0);
        login_name.clone_from(&user.login);
        let keys = login::failure_keys(&user.login, &address);
        login::check_throttle(&app, &keys).await?;
        if user.status != vigie_state::UserStatus::Active {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "the account is suspended or deactivated",
            ));
        }
        if !login::second_factor(&app, &user, &f.code).await? {
            login::record_failure(&app, &keys).await?;
            return Err(ApiError::coded(
                StatusCode::UNAUTHORIZED,
                "bad_code",
                "wrong code",
            ));
        }
        let id = login::open_session(&app, &headers, &user, true, &address).await?;
        signed_in(&id, &next)
    }
    .await;
    let result = result.map_err(|e| {
        let page = if e.code == "bad_code" {
            // The proof still holds: the code again, without the password.
            let mut page = form(&app, lang, next.clone());
            page.pending = Some(f.pending.clone());
            page.error = Some(i18n::Tr { lang }.t("signin.badcode").to_owned());
            let mut r = page.page();
            *r.status_mut() = e.status;
            r
        } else {
            again(&app, lang, next.clone(), login_name.clone(), &e)
        };
        Failed(page, e)
    });
    finish_audited(&app, who, "sign-in", result).await
}

/// `POST /console/signout`: ends the session (the API's logout), back to the sign-in page.
pub(crate) async fn signout(
    State(app): State<App>,
    Extension(_auth): Extension<Authorized>,
    headers: HeaderMap,
) -> Response {
    let api = login::logout(State(app), headers).await.into_response();
    let mut response = see_other("/console/signin");
    for cookie in api.headers().get_all(header::SET_COOKIE) {
        response
            .headers_mut()
            .append(header::SET_COOKIE, cookie.clone());
    }
    let mut response = response;
    response.extensions_mut().insert(crate::api::AuditNote {
        action: Some("sign-out"),
        ..crate::api::AuditNote::default()
    });
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_the_console() {
        assert_eq!(
            safe_next(Some("/console/t/a/alerts?x=1")),
            "/console/t/a/alerts?x=1"
        );
        for bad in [
            "https://evil.example/console",
            "//evil.example",
            "/consolex/../x",
            "/console\\..\\",
            "/api/v1/me",
            "",
        ] {
            let got = safe_next(Some(bad));
            assert!(
                got == "/console" || (got.starts_with("/console") && !got.contains("://")),
                "{bad} → {got}"
            );
        }
        assert_eq!(safe_next(Some("//evil.example")), "/console");
        assert_eq!(safe_next(Some("/console/x?u=https://evil")), "/console");
        assert_eq!(safe_next(None), "/console");
    }

    #[test]
    fn a_pending_proof_opens_for_its_address_until_its_deadline() {
        let key = SealKey::new(&[9; 32], "test");
        let proof = seal_proof(&key, 42, "10.0.0.1", 1_000, [1; 12]);
        assert_eq!(open_proof(&key, &proof, "10.0.0.1", 1_000), Some(42));
        assert_eq!(
            open_proof(&key, &proof, "10.0.0.1", 1_000 + PENDING_SECS),
            Some(42)
        );
        assert_eq!(
            open_proof(&key, &proof, "10.0.0.1", 1_001 + PENDING_SECS),
            None,
            "expired"
        );
        assert_eq!(
            open_proof(&key, &proof, "10.0.0.2", 1_000),
            None,
            "another address"
        );
        let other = SealKey::new(&[8; 32], "test");
        assert_eq!(
            open_proof(&other, &proof, "10.0.0.1", 1_000),
            None,
            "another key"
        );
        let mut forged = proof.into_bytes();
        let last = forged.len() - 2;
        forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            open_proof(&key, &String::from_utf8(forged).unwrap(), "10.0.0.1", 1_000),
            None
        );
        // What is sealed must be a user and a deadline.
        let junk = key.seal(b"nonsense", "10.0.0.1", [2; 12]);
        assert_eq!(open_proof(&key, &junk, "10.0.0.1", 0), None);
        let no_user = key.seal(b"x:5000", "10.0.0.1", [3; 12]);
        assert_eq!(open_proof(&key, &no_user, "10.0.0.1", 0), None);
    }

    #[test]
    fn the_way_back_is_encoded() {
        assert_eq!(
            url_back_to("/console/t/a/alerts?level=high&q=x y"),
            "/console/signin?next=%2Fconsole%2Ft%2Fa%2Falerts%3Flevel%3Dhigh%26q%3Dx+y"
        );
    }
}
