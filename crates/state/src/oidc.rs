//! Organisations' identity providers (OpenID Connect) and the sign-ins in progress.

use sqlx::Row;
use vigie_event::time::Timestamp;
use vigie_govern::grant::OrgId;

use crate::tokens::digest;
use crate::{State, StateError};

/// An organisation's identity provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdentityProvider {
    /// The organisation.
    pub org: OrgId,
    /// The issuer URL (exactly as the provider's discovery document states it).
    pub issuer: String,
    /// Vigie's client id there.
    pub client_id: String,
    /// Vigie's client secret there, sealed (`None` for a public client).
    pub client_secret: Option<String>,
    /// The ID token claim that holds the user's Vigie login (`email`,
    /// `preferred_username` or `sub`).
    pub claim: String,
}

/// A sign-in in progress.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pending {
    /// The organisation whose provider it went to.
    pub org: OrgId,
    /// The PKCE verifier.
    pub verifier: String,
    /// The nonce the ID token must carry.
    pub nonce: String,
}

impl State {
    /// Sets (replacing) `provider.org`'s identity provider; fails when the issuer belongs
    /// to another organisation.
    pub async fn set_identity_provider(&self, p: &IdentityProvider) -> Result<(), StateError> {
        let taken = sqlx::query("SELECT org FROM identity_providers WHERE issuer = $1")
            .bind(&p.issuer)
            .fetch_optional(&self.pool)
            .await
            .map_err(StateError::sql("read an identity provider"))?;
        if let Some(row) = taken
            && row.get::<i64, _>(0) as u64 != p.org.0
        {
            return Err(StateError::Invalid(format!(
                "issuer {:?} already signs in another organisation",
                p.issuer
            )));
        }
        sqlx::query("DELETE FROM identity_providers WHERE org = $1")
            .bind(p.org.0 as i64)
            .execute(&self.pool)
            .await
            .map_err(StateError::sql("replace an identity provider"))?;
        sqlx::query(
            "INSERT INTO identity_providers (org, issuer, client_id, client_secret, claim, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(p.org.0 as i64)
        .bind(&p.issuer)
        .bind(&p.client_id)
        .bind(p.client_secret.as_deref())
        .bind(&p.claim)
        .bind(Timestamp::now().as_nanos())
        .execute(&self.pool)
        .await
        .map_err(StateError::sql("store an identity provider"))?;
        Ok(())
    }

    /// The identity provider of `org`.
    pub async fn identity_provider(
        &self,
        org: OrgId,
    ) -> Result<Option<IdentityProvider>, StateError> {
        let row = sqlx::query(
            "SELECT issuer, client_id, client_secret, claim FROM identity_providers \
             WHERE org = $1",
        )
        .bind(org.0 as i64)
        .fetch_optional(&self.pool)
        .await
        .map_err(StateError::sql("read an identity provider"))?;
        Ok(row.map(|r| IdentityProvider {
            org,
            issuer: r.get(0),
            client_id: r.get(1),
            client_secret: r.get(2),
            claim: r.get(3),
        }))
    }

    /// Keeps a sign-in in progress under `state` until `expires` (expired ones are purged).
    pub async fn put_oidc_pending(
        &self,
        state: &str,
        pending: &Pending,
        expires: Timestamp,
    ) -> Result<(), StateError> {
        sqlx::query("DELETE FROM oidc_pending WHERE expires_at <= $1")
            .bind(Timestamp::now().as_nanos())
            .execute(&self.pool)
            .await
            .map_err(StateError::sql("purge sign-ins in progress"))?;
        sqlx::query(
            "INSERT INTO oidc_pending (state, org, verifier, nonce, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(digest(state))
        .bind(pending.org.0 as i64)
        .bind(&pending.verifier)
        .bind(&pending.nonce)
        .bind(expires.as_nanos())
        .execute(&self.pool)
        .await
        .map_err(StateError::sql("keep a sign-in in progress"))?;
        Ok(())
    }

    /// Takes the sign-in in progress under `state`, once; `None` when unknown, taken or
    /// expired.
    pub async fn take_oidc_pending(
        &self,
        state: &str,
        now: Timestamp,
    ) -> Result<Option<Pending>, StateError> {
        let key = digest(state);
        let row = sqlx::query(
            "SELECT org, verifier, nonce, expires_at FROM oidc_pending WHERE state = $1",
        )
        .bind(&key)
        .fetch_optional(&self.pool)
        .await
        .map_err(StateError::sql("read a sign-in in progress"))?;
        let Some(row) = row else { return Ok(None) };
        let done = sqlx::query("DELETE FROM oidc_pending WHERE state = $1")
            .bind(&key)
            .execute(&self.pool)
            .await
            .map_err(StateError::sql("take a sign-in in progress"))?;
        if done.rows_affected() != 1 || row.get::<i64, _>(3) <= now.as_nanos() {
            return Ok(None);
        }
        Ok(Some(Pending {
            org: OrgId(row.get::<i64, _>(0) as u64),
            verifier: row.get(1),
            nonce: row.get(2),
        }))
    }

    /// Marks the session `hash` as having given the second factor (a step-up).
    pub async fn set_session_mfa(&self, hash: &str) -> Result<(), StateError> {
        sqlx::query("UPDATE sessions SET mfa = 1 WHERE hash = $1")
            .bind(hash)
            .execute(&self.pool)
            .await
            .map_err(StateError::sql("mark a session"))?;
        Ok(())
    }
}
