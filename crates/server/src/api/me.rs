//! The signed-in person's own things: who they are and what they reach, their second
//! factor (enrolment with recovery codes), their API tokens and their sessions.

use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{Value, json};
use vigie_event::time::Timestamp;
use vigie_govern::grant::is_active;
use vigie_govern::session;
use vigie_govern::totp::{Totp, base32};
use vigie_govern::{OrgKind, Role};
use vigie_state::User;

use super::App;
use super::access::{AuditNote, Authorized};
use super::error::{ApiError, ApiResult};
use super::login::{recovery_hash, second_factor};

/// Recovery codes made at enrolment.
pub(crate) const RECOVERY_CODES: usize = 10;

/// The longest a personal token may live, in days.
pub(crate) const MAX_TOKEN_DAYS: u32 = 365;

fn person(auth: &Authorized) -> ApiResult<&User> {
    auth.caller
        .user()
        .ok_or_else(|| ApiError::new(StatusCode::FORBIDDEN, "only a person has an account"))
}

/// A tenant a person reaches now.
#[derive(Clone, Debug)]
pub(crate) struct Reached {
    /// The tenant.
    pub tenant: vigie_event::TenantId,
    /// A provider analyst's tier there (their active grant's).
    pub tier: Option<&'static str>,
    /// Until when (the grant's end).
    pub until: Option<Timestamp>,
}

/// The tenants `user` reaches now: a client's organisation's, a provider analyst's active
/// grants'. Nobody else reaches a tenant as a person of it (the operator administers them).
pub(crate) async fn reached(app: &App, user: &User) -> ApiResult<Vec<Reached>> {
    let now = Timestamp::now();
    Ok(match (user.role.org_kind(), user.role) {
        (OrgKind::Client, _) => app
            .state
            .tenants_of(user.org)
            .await
            .map_err(ApiError::internal)?
            .into_iter()
            .map(|tenant| Reached {
                tenant,
                tier: None,
                until: None,
            })
            .collect(),
        (OrgKind::Provider, Role::ProviderAnalyst(_)) => app
            .state
            .grants_of_provider(user.org)
            .await
            .map_err(ApiError::internal)?
            .into_iter()
            .filter(|g| g.grant.analyst.user == user.id && is_active(&g.grant, now))
            .map(|g| Reached {
                tenant: g.tenant,
                tier: Some(g.grant.tier.as_str()),
                until: Some(g.grant.until),
            })
            .collect(),
        _ => Vec::new(),
    })
}

/// `GET /api/v1/me`: the user, their organisation and the tenants they reach now.
pub(crate) async fn me(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
) -> ApiResult<Json<Value>> {
    let user = person(&auth)?;
    let org = app
        .state
        .org(user.org)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::internal("the user's organisation vanished"))?;
    let tenants: Vec<Value> = reached(&app, user)
        .await?
        .into_iter()
        .map(|r| match r.tier {
            Some(tier) => json!({
                "tenant": r.tenant.as_str(), "tier": tier,
                "until": r.until.map(|u| u.to_rfc3339(vigie_event::UtcOffset::UTC)),
            }),
            None => json!({"tenant": r.tenant.as_str(), "role": user.role.as_str()}),
        })
        .collect();
    Ok(Json(json!({
        "user": {
            "id": user.id.0.to_string(), "login": user.login, "name": user.name,
            "role": user.role.as_str(), "status": user.status.as_str(),
            "mfa_enrolled": user.mfa_enrolled,
            "must_enrol_mfa": user.role.requires_mfa() && !user.mfa_enrolled,
        },
        "organisation": {"id": org.id.0.to_string(), "name": org.name, "kind": org.kind.as_str()},
        "tenants": tenants,
    })))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct CodeBody {
    code: Option<String>,
}

fn code_body(body: &Bytes) -> ApiResult<CodeBody> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(CodeBody::default());
    }
    serde_json::from_slice(body).map_err(|e| {
        ApiError::coded(
            StatusCode::BAD_REQUEST,
            "bad_body",
            format!("request body: {e}"),
        )
    })
}

/// `POST /api/v1/me/totp`: a new TOTP secret to put in an authenticator app (replacing an
/// enrolled one takes a code of the current one).
pub(crate) async fn totp_start(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    body: Bytes,
) -> ApiResult<Response> {
    let user = person(&auth)?;
    let body = code_body(&body)?;
    if user.mfa_enrolled {
        let code = body.code.ok_or_else(|| {
            ApiError::coded(
                StatusCode::FORBIDDEN,
                "code_required",
                "replacing the second factor takes a code of the current one",
            )
        })?;
        if !second_factor(&app, user, &code).await? {
            return Err(ApiError::new(StatusCode::FORBIDDEN, "wrong code"));
        }
    }
    let mut seed = [0u8; 20];
    getrandom::fill(&mut seed).map_err(ApiError::internal)?;
    let mut nonce = [0u8; 12];
    getrandom::fill(&mut nonce).map_err(ApiError::internal)?;
    let sealed = app
        .secrets
        .totp()
        .seal(&seed, &format!("user:{}", user.id.0), nonce);
    app.state
        .set_totp_pending(user.id, Some(&sealed))
        .await
        .map_err(ApiError::internal)?;
    let secret = base32(&seed);
    let uri = format!(
        "otpauth://totp/Vigie:{login}?secret={secret}&issuer=Vigie&algorithm=SHA1&digits=6&period=30",
        login = user.login
    );
    let note = AuditNote {
        action: Some("mfa-enrol-start"),
        objects: vec![format!("user:{}", user.id.0)],
        ..AuditNote::default()
    };
    Ok((
        Extension(note),
        Json(json!({"secret": secret, "uri": uri, "next": "POST /api/v1/me/totp/confirm"})),
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConfirmBody {
    code: String,
}

/// `POST /api/v1/me/totp/confirm`: a code from the new secret enrols it; the answer holds
/// the recovery codes, shown once. Every other session of the user ends, and this one is
/// replaced (its privilege changed).
pub(crate) async fn totp_confirm(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    body: Result<Json<ConfirmBody>, JsonRejection>,
) -> ApiResult<Response> {
    let Json(body) = body?;
    let user = person(&auth)?;
    let owner = format!("user:{}", user.id.0);
    let sealed = user.totp_pending.as_deref().ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "no enrolment in progress (POST /api/v1/me/totp)",
        )
    })?;
    let seed = app
        .secrets
        .totp()
        .open(sealed, &owner)
        .map_err(ApiError::internal)?;
    let totp = Totp::standard(&seed).map_err(ApiError::internal)?;
    let now = Timestamp::now();
    let seconds = u64::try_from(now.as_nanos() / 1_000_000_000).unwrap_or(0);
    let Some(step) = totp.verify(&body.code, seconds, None) else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "wrong code (check the device's clock)",
        ));
    };
    let mut codes = Vec::with_capacity(RECOVERY_CODES);
    let mut hashes = Vec::with_capacity(RECOVERY_CODES);
    for _ in 0..RECOVERY_CODES {
        let mut random = [0u8; 7];
        getrandom::fill(&mut random).map_err(ApiError::internal)?;
        let text = base32(&random).to_ascii_lowercase();
        let code = format!("{}-{}", &text[..5], &text[5..10]);
        hashes.push(recovery_hash(&code));
        codes.push(code);
    }
    app.state
        .enrol_totp(user.id, sealed, &hashes)
        .await
        .map_err(ApiError::internal)?;
    // The code just used cannot serve again.
    app.state
        .use_totp_step(user.id, step)
        .await
        .map_err(ApiError::internal)?;
    app.state
        .end_sessions_of(user.id, None)
        .await
        .map_err(ApiError::internal)?;
    let note = AuditNote {
        action: Some("mfa-enrol"),
        objects: vec![owner],
        after: Some(json!({"mfa_enrolled": true, "recovery_codes": RECOVERY_CODES})),
        ..AuditNote::default()
    };
    let mut response = (
        Extension(note),
        Json(json!({"enrolled": true, "recovery_codes": codes})),
    )
        .into_response();
    // A session (not a token) is replaced by one that carries the second factor.
    if let super::access::Caller::Person {
        session: Some(s), ..
    } = auth.caller.as_ref()
    {
        let id = app
            .state
            .create_session(user.id, true, s.address.as_deref(), now)
            .await
            .map_err(ApiError::internal)?;
        response.headers_mut().insert(
            header::SET_COOKIE,
            HeaderValue::from_str(&session::cookie(&id)).map_err(ApiError::internal)?,
        );
    }
    Ok(response)
}

/// `GET /api/v1/me/tokens`.
pub(crate) async fn tokens(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
) -> ApiResult<Json<Value>> {
    let user = person(&auth)?;
    let tokens = app
        .state
        .personal_tokens(user.id)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(json!({ "tokens": tokens })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TokenBody {
    label: String,
    days: u32,
}

/// `POST /api/v1/me/tokens`: a personal token (shown once) with the user's rights, for at
/// most [`MAX_TOKEN_DAYS`]. A user who must have a second factor mints one only from a
/// session that gave it.
pub(crate) async fn create_token(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    body: Result<Json<TokenBody>, JsonRejection>,
) -> ApiResult<Response> {
    let Json(body) = body?;
    let user = person(&auth)?;
    let strong = match auth.caller.as_ref() {
        super::access::Caller::Person {
            session: Some(s), ..
        } => s.mfa,
        _ => user.mfa_enrolled,
    };
    if user.role.requires_mfa() && !strong {
        return Err(ApiError::coded(
            StatusCode::FORBIDDEN,
            "mfa_required",
            "enrol a second factor and sign in with it first",
        ));
    }
    if body.days == 0 || body.days > MAX_TOKEN_DAYS {
        return Err(ApiError::bad_request(format!(
            "days = {}: from 1 to {MAX_TOKEN_DAYS}",
            body.days
        )));
    }
    let label = body.label.trim();
    if label.is_empty() || label.chars().count() > 100 {
        return Err(ApiError::bad_request("label: 1 to 100 characters"));
    }
    let expires = Timestamp::from_nanos(
        Timestamp::now()
            .as_nanos()
            .saturating_add(i64::from(body.days) * 86_400 * 1_000_000_000),
    );
    let token = app
        .state
        .create_personal_token(user.id, label, expires)
        .await
        .map_err(ApiError::internal)?;
    let note = AuditNote {
        action: Some("token-create"),
        objects: vec![format!("user:{}", user.id.0)],
        after: Some(json!({"label": label, "days": body.days})),
        ..AuditNote::default()
    };
    Ok((
        StatusCode::CREATED,
        Extension(note),
        Json(json!({"token": token.as_str(), "expires": expires.to_rfc3339(vigie_event::UtcOffset::UTC)})),
    )
        .into_response())
}

/// `DELETE /api/v1/me/tokens/{id}`.
pub(crate) async fn revoke_token(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let user = person(&auth)?;
    if !app
        .state
        .revoke_personal_token(user.id, &id)
        .await
        .map_err(ApiError::internal)?
    {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no token {id:?}"),
        ));
    }
    let note = AuditNote {
        action: Some("token-revoke"),
        objects: vec![format!("token:{id}")],
        ..AuditNote::default()
    };
    Ok((StatusCode::NO_CONTENT, Extension(note)).into_response())
}

/// `GET /api/v1/me/sessions`.
pub(crate) async fn sessions(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
) -> ApiResult<Json<Value>> {
    let user = person(&auth)?;
    let current = match auth.caller.as_ref() {
        super::access::Caller::Person {
            session: Some(s), ..
        } => Some(s.hash.clone()),
        _ => None,
    };
    let sessions: Vec<Value> = app
        .state
        .sessions_of(user.id)
        .await
        .map_err(ApiError::internal)?
        .into_iter()
        .map(|s| {
            json!({
                "id": s.hash.chars().take(16).collect::<String>(),
                "current": current.as_deref() == Some(s.hash.as_str()),
                "address": s.address,
                "since": s.created_at.to_rfc3339(vigie_event::UtcOffset::UTC),
                "last_used": s.last_used.to_rfc3339(vigie_event::UtcOffset::UTC),
            })
        })
        .collect();
    Ok(Json(json!({ "sessions": sessions })))
}

/// `POST /api/v1/me/step-up`: a session opened without the second factor (an identity
/// provider that did not say one was used) gives it now.
pub(crate) async fn step_up(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    body: Result<Json<ConfirmBody>, JsonRejection>,
) -> ApiResult<Response> {
    let Json(body) = body?;
    let user = person(&auth)?;
    let super::access::Caller::Person {
        session: Some(session),
        ..
    } = auth.caller.as_ref()
    else {
        return Err(ApiError::bad_request(
            "a step-up is for a session, not a token",
        ));
    };
    if !user.mfa_enrolled {
        return Err(ApiError::coded(
            StatusCode::CONFLICT,
            "not_enrolled",
            "enrol a second factor first (POST /api/v1/me/totp)",
        ));
    }
    if !second_factor(&app, user, &body.code).await? {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "wrong code"));
    }
    app.state
        .set_session_mfa(&session.hash)
        .await
        .map_err(ApiError::internal)?;
    let note = AuditNote {
        action: Some("mfa-step-up"),
        objects: vec![format!("user:{}", user.id.0)],
        ..AuditNote::default()
    };
    Ok((Extension(note), Json(json!({"second_factor_given": true}))).into_response())
}
