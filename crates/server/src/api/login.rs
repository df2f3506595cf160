//! Signing in and out, and enrolment (a new user's one-time token sets their password).
//!
//! A sign-in spends an Argon2id hash (19 MiB, ~50 ms of a core): at most one per core runs
//! at once and at most [`MAX_WAITING`] wait, beyond which the answer is 503 — a login
//! flood slows sign-ins, never the API. Failed sign-ins are throttled per account and per
//! address (`vigie_govern::throttle`), before any hash is spent. Every attempt, good or
//! bad, is an audit record of the platform chain.

use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;
use vigie_event::time::Timestamp;
use vigie_govern::audit::record::{Outcome, Who};
use vigie_govern::totp::Totp;
use vigie_govern::{password, session, throttle};
use vigie_state::{User, UserStatus};

use super::App;
use super::access::{Need, entry, finish};
use super::error::{ApiError, ApiResult};

/// A failure count whose last failure is older than this starts again (the longest
/// throttle wait: by then a guesser has gained nothing from waiting).
const FORGET_FAILURES: std::time::Duration =
    std::time::Duration::from_secs(vigie_govern::throttle::MAX_WAIT_SECS);

/// Sign-ins waiting for a hashing slot at most; beyond: 503.
pub(crate) const MAX_WAITING: usize = 64;

/// The bound on concurrent password hashes.
#[derive(Debug)]
pub struct Hashing {
    slots: Semaphore,
    waiting: AtomicUsize,
}

impl Hashing {
    /// One slot per core.
    pub fn new() -> Hashing {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        Hashing {
            slots: Semaphore::new(cores),
            waiting: AtomicUsize::new(0),
        }
    }

    /// Runs `f` (a hash) on the blocking pool once a slot is free; `None` when too many
    /// wait already.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= MAX_WAITING {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        let permit = self.slots.acquire().await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        let _permit = permit.ok()?;
        tokio::task::spawn_blocking(f).await.ok()
    }
}

impl Default for Hashing {
    fn default() -> Self {
        Hashing::new()
    }
}

/// A PHC string no password matches, hashed when the login is unknown so that an unknown
/// login costs the same time as a wrong password.
const DUMMY_PHC: &str = "$argon2id$v=19$m=19456,t=2,p=1$dmlnaWVkdW1teXNhbHQ$\
                         0V4Udk1sa6PQkbV6ydXXn8Un0wIDLO1jwAZ6rnSiJTo";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoginBody {
    login: String,
    password: String,
    /// A TOTP code or a recovery code, for an enrolled user.
    code: Option<String>,
}

fn too_many(wait: std::time::Duration) -> ApiError {
    let secs = wait.as_secs().max(1);
    ApiError::coded(
        StatusCode::TOO_MANY_REQUESTS,
        "throttled",
        format!("too many failed sign-ins: try again in {secs} s"),
    )
    .with_retry_after(u32::try_from(secs).unwrap_or(u32::MAX))
}

fn wrong() -> ApiError {
    ApiError::coded(
        StatusCode::UNAUTHORIZED,
        "bad_credentials",
        "wrong login, password or code",
    )
}

/// The hash of a recovery code as stored (normalised: lower case, no dashes or spaces).
pub(crate) fn recovery_hash(code: &str) -> String {
    let normal: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    Sha256::digest(normal.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Checks a second-factor `code` of `user`: a TOTP code (recorded as used) or an unused
/// recovery code (spent).
pub(crate) async fn second_factor(app: &App, user: &User, code: &str) -> ApiResult<bool> {
    let Some(sealed) = &user.totp_seed else {
        return Ok(false);
    };
    let code = code.trim();
    if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
        let seed = app
            .secrets
            .totp()
            .open(sealed, &format!("user:{}", user.id.0))
            .map_err(ApiError::internal)?;
        let totp = Totp::standard(&seed).map_err(ApiError::internal)?;
        let now = u64::try_from(Timestamp::now().as_nanos() / 1_000_000_000).unwrap_or(0);
        let Some(step) = totp.verify(code, now, user.totp_last_step) else {
            return Ok(false);
        };
        return app
            .state
            .use_totp_step(user.id, step)
            .await
            .map_err(ApiError::internal);
    }
    app.state
        .use_recovery_code(user.id, &recovery_hash(code))
        .await
        .map_err(ApiError::internal)
}

/// Answers `result` after committing the audit record of a public route that signs
/// someone in (its caller is known only once it succeeds): `action`, by `who`, allowed or
/// refused with the error's message.
pub(crate) async fn audited(
    app: &App,
    who: Who,
    action: &str,
    result: ApiResult<Response>,
) -> Response {
    let outcome = match &result {
        Ok(_) => Outcome::Allowed,
        Err(e) => Outcome::Refused(e.message.clone()),
    };
    let mut record = entry(Need::Public, who, None, outcome);
    action.clone_into(&mut record.record.action);
    let response = result.unwrap_or_else(IntoResponse::into_response);
    finish(app, record, response).await
}

/// `POST /api/v1/login`.
pub(crate) async fn login(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    body: Result<Json<LoginBody>, JsonRejection>,
) -> Response {
    let address = peer.ip().to_string();
    let mut who = Who {
        address: Some(address.clone()),
        ..Who::default()
    };
    let result = attempt(&app, &address, &headers, body, &mut who).await;
    audited(&app, who, "sign-in", result).await
}

async fn attempt(
    app: &App,
    address: &str,
    headers: &HeaderMap,
    body: Result<Json<LoginBody>, JsonRejection>,
    who: &mut Who,
) -> ApiResult<Response> {
    let Json(body) = body?;
    let user = check_password(app, address, &body.login, &body.password, who).await?;
    if user.mfa_enrolled {
        let Some(code) = body.code.as_deref() else {
            // The password was right: counted all the same, so that this answer is no
            // faster an oracle than a wrong password.
            record_failure(app, &failure_keys(&body.login, address)).await?;
            return Err(ApiError::coded(
                StatusCode::UNAUTHORIZED,
                "code_required",
                "enter the code of your authenticator app (or a recovery code)",
            ));
        };
        if !second_factor(app, &user, code).await? {
            record_failure(app, &failure_keys(&body.login, address)).await?;
            return Err(wrong());
        }
    }
    let id = open_session(app, headers, &user, user.mfa_enrolled, address).await?;
    let mut response = Json(json!({
        "user": {
            "id": user.id.0.to_string(), "login": user.login, "name": user.name,
            "role": user.role.as_str(), "org": user.org.0.to_string(),
        },
        "must_enrol_mfa": user.role.requires_mfa() && !user.mfa_enrolled,
    }))
    .into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&session::cookie(&id)).map_err(ApiError::internal)?,
    );
    Ok(response)
}

/// The throttle's keys of a sign-in: the account, and the address it comes from.
pub(crate) fn failure_keys(login: &str, address: &str) -> [String; 2] {
    [format!("user:{login}"), format!("addr:{address}")]
}

/// Refuses when any of `keys` failed too often lately (429 with the wait).
pub(crate) async fn check_throttle(app: &App, keys: &[String]) -> ApiResult<()> {
    let now = Timestamp::now();
    for key in keys {
        let (failures, last) = app
            .state
            .login_failures(key)
            .await
            .map_err(ApiError::internal)?;
        if let Err(wait) = throttle::check(failures, last, now) {
            return Err(too_many(wait));
        }
    }
    Ok(())
}

/// Counts a failure against each of `keys`.
pub(crate) async fn record_failure(app: &App, keys: &[String]) -> ApiResult<()> {
    let now = Timestamp::now();
    for key in keys {
        app.state
            .record_login_failure(key, now, FORGET_FAILURES)
            .await
            .map_err(ApiError::internal)?;
    }
    Ok(())
}

/// The first step of every password sign-in (API and console): the throttle, then the
/// password, checked against a dummy hash when the login does not exist (the same time
/// either way). A wrong one counts against the account and the address. Gives the user,
/// active, and names them in `who`.
pub(crate) async fn check_password(
    app: &App,
    address: &str,
    login: &str,
    password: &str,
    who: &mut Who,
) -> ApiResult<User> {
    let keys = failure_keys(login, address);
    check_throttle(app, &keys).await?;
    let user = app
        .state
        .user_by_login(login)
        .await
        .map_err(ApiError::internal)?;
    let stored = user
        .as_ref()
        .and_then(|u| u.password.clone())
        .unwrap_or_else(|| DUMMY_PHC.to_owned());
    let given = password.to_owned();
    let matches = app
        .hashing
        .run(move || password::verify(&given, &stored))
        .await
        .ok_or_else(|| {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "too many sign-ins at once")
                .retry_later()
        })?;
    let Some(user) = user.filter(|u| matches && u.password.is_some()) else {
        record_failure(app, &keys).await?;
        return Err(wrong());
    };
    who.user = Some(user.id.0);
    who.org = Some(user.org.0);
    if user.status != UserStatus::Active {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "the account is suspended or deactivated",
        ));
    }
    Ok(user)
}

/// The last step of a sign-in: forgets the account's failures, records the sign-in, ends
/// any session the browser brought (session fixation) and opens a new one. Gives its id.
pub(crate) async fn open_session(
    app: &App,
    headers: &HeaderMap,
    user: &User,
    mfa: bool,
    address: &str,
) -> ApiResult<String> {
    let now = Timestamp::now();
    // A success forgets the account's failures, not the address's: owning one account
    // must not reset the throttle of an address guessing at others.
    app.state
        .clear_login_failures(&format!("user:{}", user.login))
        .await
        .map_err(ApiError::internal)?;
    app.state
        .record_login(user.id, now)
        .await
        .map_err(ApiError::internal)?;
    if let Some(old) = super::access::session_cookie(headers)
        && let Ok(Some(s)) = app.state.session(old).await
    {
        let _ = app.state.end_session(&s.hash).await;
    }
    app.state
        .create_session(user.id, mfa, Some(address), now)
        .await
        .map_err(ApiError::internal)
}

/// `POST /api/v1/logout`: ends the session of the cookie.
pub(crate) async fn logout(State(app): State<App>, headers: HeaderMap) -> ApiResult<Response> {
    if let Some(id) = super::access::session_cookie(&headers)
        && let Some(s) = app.state.session(id).await.map_err(ApiError::internal)?
    {
        app.state
            .end_session(&s.hash)
            .await
            .map_err(ApiError::internal)?;
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&session::cookie_cleared()).map_err(ApiError::internal)?,
    );
    Ok(response)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EnrolBody {
    token: String,
    password: String,
}

/// `POST /api/v1/enrol`: a one-time enrolment token and the new password.
pub(crate) async fn enrol(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    body: Result<Json<EnrolBody>, JsonRejection>,
) -> Response {
    let mut who = Who {
        address: Some(peer.ip().to_string()),
        ..Who::default()
    };
    let result = enrol_inner(&app, body, &mut who).await;
    audited(&app, who, "enrol", result).await
}

async fn enrol_inner(
    app: &App,
    body: Result<Json<EnrolBody>, JsonRejection>,
    who: &mut Who,
) -> ApiResult<Response> {
    let Json(body) = body?;
    let now = Timestamp::now();
    if vigie_govern::session::token_kind(&body.token)
        != Some(vigie_govern::session::TokenKind::Enrolment)
    {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "not an enrolment token",
        ));
    }
    let unknown = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unknown, used or expired enrolment token (ask an admin for another)",
        )
    };
    // The policy is checked, with the user's own words, before the token is spent: a
    // refused password is corrected with the same token.
    let account = match app
        .state
        .enrolment_user(&body.token, now)
        .await
        .map_err(ApiError::internal)?
    {
        Some(id) => app
            .state
            .user(id)
            .await
            .map_err(ApiError::internal)?
            .ok_or_else(unknown)?,
        None => return Err(unknown()),
    };
    password::check_policy(&body.password, &[&account.login, &account.name])
        .map_err(|e| ApiError::coded(StatusCode::BAD_REQUEST, "weak_password", e.to_string()))?;
    let user = app
        .state
        .redeem_enrolment(&body.token, now)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unknown, used or expired enrolment token (ask an admin for another)",
            )
        })?;
    who.user = Some(user.0);
    let mut salt = [0u8; password::SALT_BYTES];
    getrandom::fill(&mut salt).map_err(ApiError::internal)?;
    let given = body.password;
    let phc = app
        .hashing
        .run(move || password::hash(&given, &salt))
        .await
        .ok_or_else(|| {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "too many sign-ins at once")
                .retry_later()
        })?
        .map_err(ApiError::internal)?;
    app.state
        .set_password(user, &phc)
        .await
        .map_err(ApiError::internal)?;
    // A new password ends every session that the old one opened.
    app.state
        .end_sessions_of(user, None)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(json!({"enrolled": true, "next": "POST /api/v1/login"})).into_response())
}

/// `GET /api/v1/oidc/{org}/start`: sends the browser to the organisation's identity
/// provider (303).
pub(crate) async fn oidc_start(
    State(app): State<App>,
    axum::extract::Path(org): axum::extract::Path<String>,
) -> ApiResult<Response> {
    let callback = format!(
        "{}/api/v1/oidc/callback",
        app.public_url.trim_end_matches('/')
    );
    let url = crate::oidc::start(&app.state, &app.secrets, &org, &callback).await?;
    let mut response = StatusCode::SEE_OTHER.into_response();
    response.headers_mut().insert(
        header::LOCATION,
        HeaderValue::from_str(&url).map_err(ApiError::internal)?,
    );
    Ok(response)
}

#[derive(Deserialize)]
pub(crate) struct CallbackParams {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// `GET /api/v1/oidc/callback`: the provider sends the browser back with a code; a
/// session for the user of that organisation its ID token names. Every attempt is an audit
/// record of the platform chain.
pub(crate) async fn oidc_callback(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    params: Result<axum::extract::Query<CallbackParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let address = peer.ip().to_string();
    let mut who = Who {
        address: Some(address.clone()),
        ..Who::default()
    };
    let result = async {
        let axum::extract::Query(p) = params?;
        if let Some(error) = p.error {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                format!("the identity provider refused: {error}"),
            ));
        }
        let (Some(code), Some(csrf)) = (p.code, p.state) else {
            return Err(ApiError::bad_request("code and state are required"));
        };
        let callback = format!(
            "{}/api/v1/oidc/callback",
            app.public_url.trim_end_matches('/')
        );
        let (user, strong) =
            crate::oidc::finish(&app.state, &app.secrets, &csrf, &code, &callback).await?;
        who.user = Some(user.id.0);
        who.org = Some(user.org.0);
        let now = Timestamp::now();
        app.state
            .record_login(user.id, now)
            .await
            .map_err(ApiError::internal)?;
        if let Some(old) = super::access::session_cookie(&headers)
            && let Ok(Some(s)) = app.state.session(old).await
        {
            let _ = app.state.end_session(&s.hash).await;
        }
        // The provider's word counts as the second factor only when its `amr` says one
        // was used; otherwise a user who must have one steps up with their own
        // (`POST /api/v1/me/step-up`).
        let id = app
            .state
            .create_session(user.id, strong, Some(&address), now)
            .await
            .map_err(ApiError::internal)?;
        // A browser (it asks for HTML) goes on to the console, which asks for a step-up
        // when one is due; a client of the API gets the JSON.
        let wants_html = headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/html"));
        let mut response = if wants_html {
            let mut r = StatusCode::SEE_OTHER.into_response();
            r.headers_mut()
                .insert(header::LOCATION, HeaderValue::from_static("/console"));
            r
        } else {
            Json(json!({
                "user": {
                    "id": user.id.0.to_string(), "login": user.login, "name": user.name,
                    "role": user.role.as_str(), "org": user.org.0.to_string(),
                },
                "second_factor_given": strong,
                "must_step_up": user.role.requires_mfa() && !strong,
            }))
            .into_response()
        };
        response.headers_mut().insert(
            header::SET_COOKIE,
            HeaderValue::from_str(&session::cookie(&id)).map_err(ApiError::internal)?,
        );
        Ok(response)
    }
    .await;
    audited(&app, who, "sign-in-oidc", result).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dummy_hash_is_well_formed_and_matches_nothing_typed() {
        assert!(
            !password::needs_rehash(DUMMY_PHC),
            "same parameters as real hashes"
        );
        assert!(!password::verify("", DUMMY_PHC));
        assert!(!password::verify("password1234", DUMMY_PHC));
    }

    #[test]
    fn recovery_codes_are_compared_normalised() {
        assert_eq!(recovery_hash("ABCDE-12345"), recovery_hash("abcde 12345"));
        assert_ne!(recovery_hash("abcde-12345"), recovery_hash("abcde-12346"));
    }
}
