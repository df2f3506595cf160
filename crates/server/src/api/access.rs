//! Who is calling and what they may do: every route declares a [`Need`] in the route table
//! (`super::ROUTES`); [`authorize`] runs before its handler, resolves the caller once
//! (bearer token or session cookie, user, organisation, grants on the tenant), asks
//! `vigie_govern::access::decide`, and either refuses or hands the handler an
//! [`Authorized`]. After the handler, it writes the request's audit record (with what the
//! handler noted in an [`AuditNote`]) and waits for it to be committed before answering.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use vigie_event::TenantId;
use vigie_event::time::Timestamp;
use vigie_govern::access::{Decision, decide};
use vigie_govern::audit::record::{Outcome, Record, Who};
use vigie_govern::grant::Actor;
use vigie_govern::permission::{Action, Cell, allows};
use vigie_govern::{Role, session};
use vigie_state::audit::{AuditEntry, PLATFORM_CHAIN, tenant_chain};
use vigie_state::{Principal, Session, User, UserStatus};

use super::App;
use super::auth::bearer;
use super::error::{ApiError, ApiResult};

/// What a route needs of its caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Nothing: health, readiness, the OpenAPI document, the sign-in itself.
    Public,
    /// An ingest token of the tenant (or a legacy administrator token naming it).
    Ingest,
    /// A signed-in person, for their own things (session, tokens, second factor); allowed
    /// before a required second factor is enrolled, so that they can enrol.
    Own,
    /// A person whose role allows `action` in their own organisation (users, grants).
    Org(Action),
    /// A person whose role on the tenant named by `Vigie-Tenant` allows `action`.
    Tenant(Action),
    /// The instance operator (`Action::AdministerInstance`).
    Instance,
    /// The operator (any tenant, or all), or else a caller allowed `action` on the tenant
    /// (the quarantine: the operator's to manage, each tenant's to read).
    TenantOrInstance(Action),
}

impl Need {
    /// The action it checks, for the audit record and the documentation.
    pub fn action_name(self) -> &'static str {
        match self {
            Need::Public => "public",
            Need::Ingest => "ingest",
            Need::Own => "own-account",
            Need::Org(a) | Need::Tenant(a) => a.as_str(),
            Need::Instance => Action::AdministerInstance.as_str(),
            Need::TenantOrInstance(a) => a.as_str(),
        }
    }
}

/// The caller, once authenticated.
#[derive(Clone, Debug)]
pub enum Caller {
    /// A person, by personal token or session.
    Person {
        /// The user (active).
        user: Box<User>,
        /// Their session, when they came with the cookie.
        session: Option<Session>,
        /// Their token's id, when they came with a personal token.
        token: Option<String>,
    },
    /// A tenant's ingest token.
    Ingest(TenantId),
}

impl Caller {
    /// The person, if it is one.
    pub fn user(&self) -> Option<&User> {
        match self {
            Caller::Person { user, .. } => Some(user),
            _ => None,
        }
    }

    /// The person as an actor of the access rules.
    pub fn actor(&self) -> Option<Actor> {
        self.user().map(|u| Actor {
            user: u.id,
            org: u.org,
            role: u.role,
        })
    }
}

/// What [`authorize`] found, for the handler.
#[derive(Clone, Debug)]
pub struct Authorized {
    /// Who.
    pub caller: Arc<Caller>,
    /// The tenant, for a tenant route.
    pub tenant: Option<TenantId>,
    /// The role the caller acts with there (their own, or their grant's tier).
    pub role: Option<Role>,
    /// Whether the table allows the action on the caller's own records only.
    pub own_only: bool,
    /// Whether the caller acts as the instance's operator (may see every tenant).
    pub instance: bool,
}

impl Authorized {
    /// The tenant of a tenant route (set by [`authorize`] for [`Need::Tenant`],
    /// [`Need::Ingest`], and [`Need::Instance`] when the request names one).
    pub(crate) fn tenant_id(&self) -> ApiResult<TenantId> {
        self.tenant.clone().ok_or_else(|| {
            ApiError::coded(
                StatusCode::BAD_REQUEST,
                "bad_tenant",
                "name the tenant in the Vigie-Tenant header",
            )
        })
    }
}

/// What a handler tells the audit record: the objects it touched, the query it ran, how
/// many results it gave, and before/after of an administrative change.
#[derive(Clone, Debug, Default)]
pub struct AuditNote {
    /// Object ids.
    pub objects: Vec<String>,
    /// The query text.
    pub query: Option<String>,
    /// The number of results.
    pub count: Option<u64>,
    /// State before a change.
    pub before: Option<serde_json::Value>,
    /// State after it.
    pub after: Option<serde_json::Value>,
    /// The action's name when more precise than the route's need (e.g. `grant-approve`).
    pub action: Option<&'static str>,
    /// The tenant whose chain the record joins, for a route that names none (a grant's or
    /// an elevation's decision concerns its tenant).
    pub tenant: Option<TenantId>,
}

/// The address of the client, as the audit record names it.
fn address(request: &Request) -> Option<String> {
    request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip().to_string())
}

/// The value of cookie `name` the request brings (not empty).
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value)
        .filter(|v| !v.is_empty())
}

/// The session id in the request's cookie.
pub(crate) fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    cookie(headers, session::COOKIE)
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, message)
}

/// Resolves the caller of a request; `None` when it brings no credentials.
pub(crate) async fn resolve(app: &App, headers: &HeaderMap) -> ApiResult<Option<Caller>> {
    resolve_as(app, headers, true).await
}

/// Whether the caller of `headers` still may do what `need` asks, without counting as use
/// of the session (a live view re-checks at each poll; an idle reader's session must still
/// end at its idle timeout).
pub(crate) async fn still_allowed(app: &App, headers: &HeaderMap, need: Need) -> bool {
    match resolve_as(app, headers, false).await {
        Ok(Some(caller)) => decide_need(app, need, &caller, headers).await.is_ok(),
        _ => false,
    }
}

async fn resolve_as(app: &App, headers: &HeaderMap, touch: bool) -> ApiResult<Option<Caller>> {
    let now = Timestamp::now();
    if let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer)
    {
        return match app.state.authenticate(token).await {
            Ok(Some(Principal::User { user, token })) => {
                let user = active_user(app, user).await?;
                Ok(Some(Caller::Person {
                    user: Box::new(user),
                    session: None,
                    token: Some(token),
                }))
            }
            Ok(Some(Principal::Tenant(t))) => Ok(Some(Caller::Ingest(t))),
            Ok(None) => Err(unauthorized(
                "unknown, expired or revoked token (administrator tokens of versions before \
                 people existed no longer work: `vigie admin init` makes the operator)",
            )),
            Err(e) => Err(ApiError::internal(e)),
        };
    }
    let Some(id) = session_cookie(headers) else {
        return Ok(None);
    };
    let session = app
        .state
        .session(id)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| unauthorized("the session ended; sign in again"))?;
    if session::check_live(
        session.created_at,
        session.last_used,
        now,
        app.config.access.idle(),
        app.config.access.absolute(),
    )
    .is_err()
    {
        app.state
            .end_session(&session.hash)
            .await
            .map_err(ApiError::internal)?;
        return Err(unauthorized("the session expired; sign in again"));
    }
    if touch {
        app.state
            .touch_session(&session.hash, now)
            .await
            .map_err(ApiError::internal)?;
    }
    let user = active_user(app, session.user).await?;
    Ok(Some(Caller::Person {
        user: Box::new(user),
        session: Some(session),
        token: None,
    }))
}

async fn active_user(app: &App, id: vigie_govern::grant::UserId) -> ApiResult<User> {
    let user = app
        .state
        .user(id)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| unauthorized("the account no longer exists"))?;
    if user.status != UserStatus::Active {
        return Err(unauthorized("the account is suspended or deactivated"));
    }
    Ok(user)
}

/// The tenant a request names in `Vigie-Tenant`.
pub(crate) fn named_tenant(headers: &HeaderMap) -> ApiResult<Option<TenantId>> {
    headers
        .get("vigie-tenant")
        .map(|v| {
            v.to_str()
                .ok()
                .and_then(|t| TenantId::new(t).ok())
                .ok_or_else(|| {
                    ApiError::coded(
                        StatusCode::BAD_REQUEST,
                        "bad_tenant",
                        "Vigie-Tenant: not a valid tenant name",
                    )
                })
        })
        .transpose()
}

fn refused(message: &str) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, message)
}

/// The decision for `need` by `caller` on the request's headers.
async fn decide_need(
    app: &App,
    need: Need,
    caller: &Caller,
    headers: &HeaderMap,
) -> ApiResult<(Option<TenantId>, Option<Role>, bool)> {
    let named = named_tenant(headers)?;
    let need = match need {
        Need::TenantOrInstance(_) if is_operator(caller) => Need::Instance,
        Need::TenantOrInstance(action) => Need::Tenant(action),
        need => need,
    };
    if let Caller::Person { user, session, .. } = caller {
        // A session carries whether the second factor was given (a code at sign-in or a
        // step-up, or an identity provider that says so); a token, whether its user
        // enrolled one (tokens are minted only from such a session).
        let enrolled = match session {
            Some(s) => s.mfa,
            None => user.mfa_enrolled,
        };
        if user.role.requires_mfa() && !enrolled && need != Need::Own {
            return Err(ApiError::coded(
                StatusCode::FORBIDDEN,
                "mfa_required",
                "enrol a second factor first (POST /api/v1/me/totp)",
            ));
        }
    }
    match (need, caller) {
        (Need::Public, _) => Ok((None, None, false)),
        (Need::Ingest, Caller::Ingest(own)) => match named {
            Some(other) if other != *own => Err(refused("this token belongs to another tenant")),
            _ => Ok((Some(own.clone()), None, false)),
        },
        (Need::Ingest, Caller::Person { .. }) => Err(refused(
            "ingest takes an ingest token (vigie admin tenant token), not a person's",
        )),
        (_, Caller::Ingest(_)) => Err(refused(
            "an ingest token may only ingest; reading takes a person's token or session",
        )),
        (Need::Own, Caller::Person { .. }) => Ok((None, None, false)),
        (Need::TenantOrInstance(_), Caller::Person { .. }) => {
            Err(ApiError::internal("a need left unresolved"))
        }
        (Need::Org(action), Caller::Person { user, .. }) => match allows(user.role, action) {
            Cell::Allow => Ok((None, Some(user.role), false)),
            Cell::Own => Ok((None, Some(user.role), true)),
            Cell::Deny => Err(refused("the role does not allow this action")),
        },
        (Need::Instance, Caller::Person { user, .. }) => {
            match allows(user.role, Action::AdministerInstance) {
                Cell::Allow => Ok((existing(app, named).await?, Some(user.role), false)),
                _ => Err(refused("only the instance operator may do this")),
            }
        }
        (Need::Tenant(action), Caller::Person { .. }) => {
            let actor = caller.actor().ok_or_else(|| refused("not a person"))?;
            let tenant = match named {
                Some(t) => t,
                None => only_tenant(app, &actor).await?,
            };
            // A tenant that does not exist and one the caller may not reach get the same
            // answer: no oracle of other clients' tenant names.
            let no_access = || refused("no access to this tenant");
            let owner = app
                .state
                .tenant_owner(&tenant)
                .await
                .map_err(ApiError::internal)?
                .ok_or_else(no_access)?;
            let grants: Vec<_> = app
                .state
                .grants_on(&tenant)
                .await
                .map_err(ApiError::internal)?
                .into_iter()
                .map(|g| g.grant)
                .collect();
            match decide(&actor, Some(owner), &grants, action, Timestamp::now()) {
                Decision::Allow(role) => Ok((Some(tenant), Some(role), false)),
                Decision::Own(role) => Ok((Some(tenant), Some(role), true)),
                Decision::Deny(why) => Err(refused(why)),
            }
        }
    }
}

/// The role `user` would triage alerts of `tenant` with now (a provider analyst's: their
/// active grant's tier), or `None` when they may not triage there (no access, or a role
/// that does not triage): who an alert may be assigned to.
pub(crate) async fn role_on(app: &App, user: &User, tenant: &TenantId) -> ApiResult<Option<Role>> {
    let actor = Actor {
        user: user.id,
        org: user.org,
        role: user.role,
    };
    let Some(owner) = app
        .state
        .tenant_owner(tenant)
        .await
        .map_err(ApiError::internal)?
    else {
        return Ok(None);
    };
    let grants: Vec<_> = app
        .state
        .grants_on(tenant)
        .await
        .map_err(ApiError::internal)?
        .into_iter()
        .map(|g| g.grant)
        .collect();
    Ok(
        match decide(
            &actor,
            Some(owner),
            &grants,
            Action::TriageAlerts,
            Timestamp::now(),
        ) {
            Decision::Allow(role) => Some(role),
            Decision::Own(_) | Decision::Deny(_) => None,
        },
    )
}

/// Whether `caller` acts as the instance's operator.
fn is_operator(caller: &Caller) -> bool {
    caller.user().is_some_and(|u| u.role == Role::Operator)
}

/// The one tenant `actor` reaches, for a request that names none: a client's
/// organisation's only tenant, a provider analyst's only active grant. Several, or none:
/// the request must name one.
async fn only_tenant(app: &App, actor: &Actor) -> ApiResult<TenantId> {
    let now = Timestamp::now();
    let reached: Vec<TenantId> = match actor.role.org_kind() {
        vigie_govern::OrgKind::Client => app
            .state
            .tenants_of(actor.org)
            .await
            .map_err(ApiError::internal)?,
        vigie_govern::OrgKind::Provider => {
            let mut tenants: Vec<TenantId> = app
                .state
                .grants_of_provider(actor.org)
                .await
                .map_err(ApiError::internal)?
                .into_iter()
                .filter(|g| {
                    g.grant.analyst.user == actor.user
                        && vigie_govern::grant::is_active(&g.grant, now)
                })
                .map(|g| g.tenant)
                .collect();
            tenants.dedup();
            tenants
        }
        vigie_govern::OrgKind::Operator => Vec::new(),
    };
    match <[TenantId; 1]>::try_from(reached) {
        Ok([tenant]) => Ok(tenant),
        Err(reached) if reached.is_empty() => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "no access to any tenant",
        )),
        Err(_) => Err(ApiError::coded(
            StatusCode::BAD_REQUEST,
            "bad_tenant",
            "name the tenant in the Vigie-Tenant header",
        )),
    }
}

/// `named`, checked to exist (an instance route may name a tenant).
async fn existing(app: &App, named: Option<TenantId>) -> ApiResult<Option<TenantId>> {
    let Some(tenant) = named else { return Ok(None) };
    match app.state.tenant_exists(&tenant).await {
        Ok(true) => Ok(Some(tenant)),
        Ok(false) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no tenant {:?}", tenant.as_str()),
        )),
        Err(e) => Err(ApiError::internal(e)),
    }
}

/// The middleware of every route: see the module documentation.
pub(crate) async fn authorize(
    State((app, need)): State<(App, Need)>,
    mut request: Request,
    next: Next,
) -> Response {
    if need == Need::Public {
        return next.run(request).await;
    }
    let address = address(&request);
    let caller = match resolve(&app, request.headers()).await {
        Ok(Some(caller)) => caller,
        Ok(None) => {
            return unauthorized(
                "sign in (session cookie) or send a token (Authorization: Bearer <token>)",
            )
            .into_response();
        }
        Err(e) => {
            let record = refusal(need, None, address, &e.message, request.headers());
            return finish(&app, record, e.into_response()).await;
        }
    };
    let who = who_of(&caller, address);
    let (tenant, role, own_only) = match decide_need(&app, need, &caller, request.headers()).await {
        Ok(found) => found,
        Err(e) => {
            // The refusal goes to the chain of the tenant asked for: named, or the one the
            // caller would have reached by default.
            let mut tenant = named_tenant(request.headers()).ok().flatten();
            if tenant.is_none()
                && matches!(need, Need::Tenant(_) | Need::TenantOrInstance(_))
                && let Some(actor) = caller.actor()
            {
                tenant = only_tenant(&app, &actor).await.ok();
            }
            let record = entry(
                need,
                who,
                tenant.as_ref(),
                Outcome::Refused(e.message.clone()),
            );
            return finish(&app, record, e.into_response()).await;
        }
    };
    let instance =
        matches!(need, Need::Instance | Need::TenantOrInstance(_)) && is_operator(&caller);
    let authorized = Authorized {
        caller: Arc::new(caller),
        tenant: tenant.clone(),
        role,
        own_only,
        instance,
    };
    request.extensions_mut().insert(authorized);
    let mut response = next.run(request).await;
    // Accepted ingest batches are not audited one by one: they are counted in the metrics
    // and kept in the journal; a refused one is.
    if need == Need::Ingest && response.status().is_success() {
        return response;
    }
    let note = response
        .extensions_mut()
        .remove::<AuditNote>()
        .unwrap_or_default();
    let status = response.status();
    let why = response
        .extensions()
        .get::<super::error::ErrorMessage>()
        .map_or_else(
            || status.to_string(),
            |m| format!("{}: {}", status.as_u16(), m.0),
        );
    let outcome = if status.is_server_error() {
        Outcome::Failed(why)
    } else if status.is_client_error() {
        Outcome::Refused(why)
    } else {
        Outcome::Allowed
    };
    let mut record = entry(need, who, note.tenant.as_ref().or(tenant.as_ref()), outcome);
    if let Some(action) = note.action {
        action.clone_into(&mut record.record.action);
    }
    record.record.objects = note.objects;
    record.record.query = note.query;
    record.record.count = note.count;
    record.record.before = note.before;
    record.record.after = note.after;
    finish(&app, record, response).await
}

pub(crate) fn who_of(caller: &Caller, address: Option<String>) -> Who {
    match caller {
        Caller::Person {
            user,
            session,
            token,
        } => Who {
            user: Some(user.id.0),
            org: Some(user.org.0),
            session: session.as_ref().map(|s| s.hash.chars().take(16).collect()),
            token: token.clone(),
            address,
        },
        Caller::Ingest(_) => Who {
            address,
            ..Who::default()
        },
    }
}

fn refusal(
    need: Need,
    who: Option<Who>,
    address: Option<String>,
    why: &str,
    headers: &HeaderMap,
) -> AuditEntry {
    let tenant = named_tenant(headers).ok().flatten();
    let who = who.unwrap_or(Who {
        address,
        ..Who::default()
    });
    entry(need, who, tenant.as_ref(), Outcome::Refused(why.to_owned()))
}

/// An audit entry for `need` by `who` on `tenant`.
pub(crate) fn entry(
    need: Need,
    who: Who,
    tenant: Option<&TenantId>,
    outcome: Outcome,
) -> AuditEntry {
    let now = Timestamp::now();
    AuditEntry {
        chain: tenant.map_or_else(|| PLATFORM_CHAIN.to_owned(), |t| tenant_chain(t.as_str())),
        record: Record {
            time: now.to_rfc3339(vigie_event::UtcOffset::UTC),
            who,
            action: need.action_name().to_owned(),
            tenant: tenant.map(|t| t.as_str().to_owned()),
            objects: Vec::new(),
            query: None,
            count: None,
            outcome,
            before: None,
            after: None,
        },
        time: now,
    }
}

/// Commits `record`, then answers `response`; a record that cannot be committed turns the
/// answer into a 503 (nothing is answered unaudited).
pub(crate) async fn finish(app: &App, record: AuditEntry, response: Response) -> Response {
    match app.auditor.record(record).await {
        Ok(_) => response,
        Err(e) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the audit trail cannot be written: {e}"),
        )
        .into_response(),
    }
}
