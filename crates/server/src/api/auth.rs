//! Who is calling: bearer tokens, the tenant a request is scoped to, the administrator check.

use axum::http::{HeaderMap, StatusCode, header};
use vigie_event::TenantId;
use vigie_state::Principal;

use super::App;
use super::error::{ApiError, ApiResult};

pub(super) async fn principal(app: &App, headers: &HeaderMap) -> ApiResult<Principal> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer);
    let Some(token) = token else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing bearer token (Authorization: Bearer <token>)",
        ));
    };
    match app.state.authenticate(token).await {
        Ok(Some(p)) => Ok(p),
        Ok(None) => Err(ApiError::new(StatusCode::UNAUTHORIZED, "unknown token")),
        Err(e) => Err(ApiError::internal(e)),
    }
}

/// The token of an `Authorization` value: the scheme is case-insensitive (RFC 9110 §11.1).
pub(super) fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim_start().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// The tenant a request acts for.
pub(super) async fn tenant(app: &App, headers: &HeaderMap) -> ApiResult<TenantId> {
    let named = headers
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
        .transpose()?;
    match principal(app, headers).await? {
        Principal::Tenant(own) => match named {
            Some(other) if other != own => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "this token belongs to another tenant",
            )),
            _ => Ok(own),
        },
        Principal::Admin => {
            let Some(tenant) = named else {
                return Err(ApiError::coded(
                    StatusCode::BAD_REQUEST,
                    "bad_tenant",
                    "an administrator token must name the tenant in the Vigie-Tenant header",
                ));
            };
            match app.state.tenant_exists(&tenant).await {
                Ok(true) => Ok(tenant),
                Ok(false) => Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    format!("no tenant {:?}", tenant.as_str()),
                )),
                Err(e) => Err(ApiError::internal(e)),
            }
        }
    }
}

pub(super) async fn admin(app: &App, headers: &HeaderMap) -> ApiResult<()> {
    match principal(app, headers).await? {
        Principal::Admin => Ok(()),
        Principal::Tenant(_) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "this route needs an administrator token",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_scheme_is_case_insensitive_and_the_token_required() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer abc"), Some("abc"));
        assert_eq!(bearer("BEARER   abc  "), Some("abc"));
        assert_eq!(bearer("  Bearer abc"), Some("abc"));
        assert_eq!(bearer("Bearer "), None);
        assert_eq!(bearer("Bearer"), None);
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearerabc"), None);
    }
}
