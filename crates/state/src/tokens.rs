//! API tokens: minted from 256 random bits, shown once, stored as SHA-256.

use std::fmt;

use sha2::{Digest, Sha256};
use sqlx::Row;
use vigie_event::TenantId;
use vigie_event::time::Timestamp;

use crate::{State, StateError};

/// The prefix of every Vigie token, so that secret scanners can recognise leaked ones.
const PREFIX: &str = "vgi_";

/// What a token may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Administers the platform and may act for any tenant (naming it per request).
    Admin,
    /// Ingests and reads one tenant's data.
    Tenant,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Tenant => "tenant",
        }
    }
}

/// Who a request comes from, once its token is checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// An administrator.
    Admin,
    /// A tenant's token: everything it does is scoped to that tenant.
    Tenant(TenantId),
}

/// A freshly minted token: the only time its text exists outside the client.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    fn mint() -> Result<Token, StateError> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| StateError::Random(e.to_string()))?;
        let mut text = String::with_capacity(PREFIX.len() + 64);
        text.push_str(PREFIX);
        text.push_str(&hex(&bytes));
        Ok(Token(text))
    }

    /// The token's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never in logs.
        f.write_str("Token(…)")
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

/// The stored form of a token's text.
fn digest(text: &str) -> String {
    hex(&Sha256::digest(text.as_bytes()))
}

impl State {
    async fn insert_token(
        &self,
        role: Role,
        tenant: Option<&TenantId>,
        label: &str,
    ) -> Result<Token, StateError> {
        let token = Token::mint()?;
        sqlx::query(
            "INSERT INTO tokens (hash, role, tenant, label, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(digest(token.as_str()))
        .bind(role.as_str())
        .bind(tenant.map(TenantId::as_str))
        .bind(label)
        .bind(Timestamp::now().as_nanos())
        .execute(&self.pool)
        .await
        .map_err(StateError::sql("store a token"))?;
        Ok(token)
    }

    /// On first start: mints the administrator token when none exists and returns it (to be
    /// shown once); `None` when one exists already.
    pub async fn ensure_admin_token(&self) -> Result<Option<Token>, StateError> {
        let row = sqlx::query("SELECT COUNT(*) FROM tokens WHERE role = $1")
            .bind(Role::Admin.as_str())
            .fetch_one(&self.pool)
            .await
            .map_err(StateError::sql("count admin tokens"))?;
        if row.get::<i64, _>(0) > 0 {
            return Ok(None);
        }
        self.insert_token(Role::Admin, None, "first start")
            .await
            .map(Some)
    }

    /// Mints another administrator token.
    pub async fn create_admin_token(&self, label: &str) -> Result<Token, StateError> {
        self.insert_token(Role::Admin, None, label).await
    }

    /// Mints a token for `tenant` (ingest and read of that tenant only).
    pub async fn create_tenant_token(
        &self,
        tenant: &TenantId,
        label: &str,
    ) -> Result<Token, StateError> {
        if !self.tenant_exists(tenant).await? {
            return Err(StateError::NoTenant(tenant.to_string()));
        }
        self.insert_token(Role::Tenant, Some(tenant), label).await
    }

    /// Who holds `text`, or `None` for an unknown token.
    pub async fn authenticate(&self, text: &str) -> Result<Option<Principal>, StateError> {
        if !text.starts_with(PREFIX) {
            return Ok(None);
        }
        let row = sqlx::query("SELECT role, tenant FROM tokens WHERE hash = $1")
            .bind(digest(text))
            .fetch_optional(&self.pool)
            .await
            .map_err(StateError::sql("look up a token"))?;
        let Some(row) = row else { return Ok(None) };
        let role: String = row.get(0);
        let tenant: Option<String> = row.get(1);
        match (role.as_str(), tenant) {
            ("admin", _) => Ok(Some(Principal::Admin)),
            ("tenant", Some(t)) => TenantId::new(&t)
                .map(|t| Some(Principal::Tenant(t)))
                .map_err(|e| StateError::Corrupt(e.to_string())),
            (role, _) => Err(StateError::Corrupt(format!("token role {role:?}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_and_digest_are_stable() {
        assert_eq!(super::hex(&[0, 0xab, 0xff]), "00abff");
        assert_eq!(
            super::digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
