//! Signing in through an organisation's identity provider: OpenID Connect, authorization
//! code flow with PKCE (S256), a nonce, and the ID token verified against the provider's
//! published keys (`openidconnect`). An issuer belongs to one organisation; the login the
//! configured claim names must be a user of *that* organisation, so a token from issuer A
//! can never sign anyone into organisation B. The provider's HTTP calls (discovery, token,
//! keys) go through ureq (rustls on ring) on the blocking pool, bounded to 10 s each.

use std::time::Duration;

use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use vigie_event::time::Timestamp;
use vigie_govern::grant::OrgId;
use vigie_state::oidc::{IdentityProvider, Pending};
use vigie_state::{State, User, UserStatus};

use crate::ServerError;
use crate::people::Refusal;
use crate::secrets::Secrets;

/// How long a sign-in may take between the redirect and the callback.
pub const PENDING_MINUTES: i64 = 10;

fn refuse(kind: Refusal, message: impl Into<String>) -> ServerError {
    ServerError::Refused(kind, message.into())
}

/// The HTTP client `openidconnect` calls: ureq, no redirects (a provider's answers are not
/// followed elsewhere), 10 s.
fn http_client()
-> impl Fn(openidconnect::HttpRequest) -> Result<openidconnect::HttpResponse, std::io::Error> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    move |request: openidconnect::HttpRequest| {
        let response = agent.run(request).map_err(std::io::Error::other)?;
        let (parts, mut body) = response.into_parts();
        let bytes = body
            .with_config()
            .limit(1 << 20)
            .read_to_vec()
            .map_err(std::io::Error::other)?;
        Ok(openidconnect::HttpResponse::from_parts(parts, bytes))
    }
}

/// The sealing purpose of client secrets.
pub const SECRET_PURPOSE: &str = "oidc client secrets";

fn client_secret(
    secrets: &Secrets,
    p: &IdentityProvider,
) -> Result<Option<ClientSecret>, ServerError> {
    p.client_secret
        .as_deref()
        .map(|sealed| {
            vigie_govern::seal::SealKey::new(secrets.instance_secret(), SECRET_PURPOSE)
                .open(sealed, &format!("org:{}", p.org.0))
                .map_err(|e| ServerError::Pipeline(e.to_string()))
                .and_then(|b| {
                    String::from_utf8(b).map_err(|e| ServerError::Pipeline(e.to_string()))
                })
                .map(ClientSecret::new)
        })
        .transpose()
}

fn discover(p: &IdentityProvider) -> Result<CoreProviderMetadata, ServerError> {
    let issuer = IssuerUrl::new(p.issuer.clone())
        .map_err(|e| refuse(Refusal::Invalid, format!("issuer {:?}: {e}", p.issuer)))?;
    CoreProviderMetadata::discover(&issuer, &http_client()).map_err(|e| {
        refuse(
            Refusal::Forbidden,
            format!(
                "the identity provider {:?} did not answer discovery: {e}",
                p.issuer
            ),
        )
    })
}

/// Starts a sign-in for the organisation named `org`: the provider's authorization URL to
/// send the browser to (`redirect` is Vigie's callback URL).
pub async fn start(
    state: &State,
    secrets: &Secrets,
    org: &str,
    redirect: &str,
) -> Result<String, ServerError> {
    let organisation = state
        .org_by_name(org)
        .await?
        .ok_or_else(|| refuse(Refusal::NotFound, format!("no organisation {org:?}")))?;
    let provider = state
        .identity_provider(organisation.id)
        .await?
        .ok_or_else(|| {
            refuse(
                Refusal::NotFound,
                format!("{org:?} signs in with passwords only"),
            )
        })?;
    let secret = client_secret(secrets, &provider)?;
    let redirect = RedirectUrl::new(redirect.to_owned())
        .map_err(|e| ServerError::Pipeline(format!("callback URL: {e}")))?;
    let (url, csrf, nonce, verifier) = tokio::task::spawn_blocking(move || {
        let metadata = discover(&provider)?;
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(provider.client_id.clone()),
            secret,
        )
        .set_redirect_uri(redirect);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, csrf, nonce) = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("email".into()))
            .add_scope(Scope::new("profile".into()))
            .set_pkce_challenge(challenge)
            .url();
        Ok::<_, ServerError>((url, csrf, nonce, verifier))
    })
    .await
    .map_err(|e| ServerError::Pipeline(e.to_string()))??;
    state
        .put_oidc_pending(
            csrf.secret(),
            &Pending {
                org: organisation.id,
                verifier: verifier.secret().clone(),
                nonce: nonce.secret().clone(),
            },
            Timestamp::from_nanos(Timestamp::now().as_nanos() + PENDING_MINUTES * 60_000_000_000),
        )
        .await?;
    Ok(url.to_string())
}

/// Completes a sign-in: the pending sign-in of `csrf` (once), the code exchanged with its
/// PKCE verifier, the ID token verified (signature, issuer, audience, expiry, nonce), and
/// the user of that organisation the configured claim names. Returns the user and whether
/// the provider says a second factor was used (`amr` holding `mfa`, `otp`, `hwk` or `sms`).
pub async fn finish(
    state: &State,
    secrets: &Secrets,
    csrf: &str,
    code: &str,
    redirect: &str,
) -> Result<(User, bool), ServerError> {
    let pending = state
        .take_oidc_pending(csrf, Timestamp::now())
        .await?
        .ok_or_else(|| {
            refuse(
                Refusal::Forbidden,
                "unknown, used or expired sign-in (start again)",
            )
        })?;
    let provider: IdentityProvider =
        state.identity_provider(pending.org).await?.ok_or_else(|| {
            refuse(
                Refusal::Forbidden,
                "the organisation no longer signs in this way",
            )
        })?;
    let secret = client_secret(secrets, &provider)?;
    let redirect = RedirectUrl::new(redirect.to_owned())
        .map_err(|e| ServerError::Pipeline(format!("callback URL: {e}")))?;
    let code = code.to_owned();
    let claim = provider.claim.clone();
    let (login, strong) = tokio::task::spawn_blocking(move || {
        let metadata = discover(&provider)?;
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(provider.client_id.clone()),
            secret,
        )
        .set_redirect_uri(redirect);
        let http = http_client();
        let token = client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|e| {
                refuse(
                    Refusal::Forbidden,
                    format!("the provider has no token endpoint: {e}"),
                )
            })?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier.clone()))
            .request(&http)
            .map_err(|e| {
                refuse(
                    Refusal::Forbidden,
                    format!("the provider refused the code: {e}"),
                )
            })?;
        let id_token = token
            .id_token()
            .ok_or_else(|| refuse(Refusal::Forbidden, "the provider sent no ID token"))?;
        let claims = id_token
            .claims(
                &client.id_token_verifier(),
                &Nonce::new(pending.nonce.clone()),
            )
            .map_err(|e| {
                refuse(
                    Refusal::Forbidden,
                    format!("the ID token does not verify: {e}"),
                )
            })?;
        let login = match claim.as_str() {
            "sub" => Some(claims.subject().to_string()),
            "preferred_username" => claims.preferred_username().map(|u| u.to_string()),
            _ => claims.email().map(|e| e.to_string()),
        }
        .ok_or_else(|| {
            refuse(
                Refusal::Forbidden,
                format!("the ID token has no {claim:?} claim"),
            )
        })?;
        let strong = claims.auth_method_refs().is_some_and(|amr| {
            amr.iter()
                .any(|m| matches!(m.as_str(), "mfa" | "otp" | "hwk" | "sms"))
        });
        Ok::<_, ServerError>((login, strong))
    })
    .await
    .map_err(|e| ServerError::Pipeline(e.to_string()))??;
    let user = state
        .user_by_login(&login)
        .await?
        .filter(|u| u.org == pending.org)
        .ok_or_else(|| {
            refuse(
                Refusal::Forbidden,
                format!("{login:?} is not a user of the organisation of this identity provider"),
            )
        })?;
    if user.status != UserStatus::Active {
        return Err(refuse(
            Refusal::Forbidden,
            "the account is suspended or deactivated",
        ));
    }
    Ok((user, strong))
}

/// Sets `org`'s identity provider, sealing the client secret.
pub async fn configure(
    state: &State,
    secrets: &Secrets,
    org: OrgId,
    issuer: &str,
    client_id: &str,
    client_secret: Option<&str>,
    claim: &str,
) -> Result<(), ServerError> {
    if !matches!(claim, "email" | "preferred_username" | "sub") {
        return Err(refuse(
            Refusal::Invalid,
            format!("claim {claim:?}: email, preferred_username or sub"),
        ));
    }
    IssuerUrl::new(issuer.to_owned())
        .map_err(|e| refuse(Refusal::Invalid, format!("issuer {issuer:?}: {e}")))?;
    let sealed =
        match client_secret {
            Some(secret) => {
                let mut nonce = [0u8; 12];
                getrandom::fill(&mut nonce).map_err(|e| ServerError::Pipeline(e.to_string()))?;
                Some(
                    vigie_govern::seal::SealKey::new(secrets.instance_secret(), SECRET_PURPOSE)
                        .seal(secret.as_bytes(), &format!("org:{}", org.0), nonce),
                )
            }
            None => None,
        };
    state
        .set_identity_provider(&IdentityProvider {
            org,
            issuer: issuer.to_owned(),
            client_id: client_id.to_owned(),
            client_secret: sealed,
            claim: claim.to_owned(),
        })
        .await
        .map_err(crate::people::state_refusal)
}
