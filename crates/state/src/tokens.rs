//! API tokens: minted from 256 random bits, shown once, stored as SHA-256.

use std::fmt;

use sha2::{Digest, Sha256};
use sqlx::Row;
use vigie_event::TenantId;
use vigie_event::time::Timestamp;
use vigie_govern::grant::UserId;
use vigie_govern::session::{TokenKind, token_kind, token_text};

use crate::{State, StateError};

/// The prefix of every Vigie token, so that secret scanners can recognise leaked ones.
const PREFIX: &str = "vgi_";

/// What an ingest token's row says it is (`role` column): `tenant`. Rows `admin` (tokens
/// of versions before people existed), `personal` and `enrolment` are read elsewhere.
const INGEST_ROLE: &str = "tenant";

/// Who a request comes from, once its token is checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// A tenant's ingest token: it may only ingest, for that tenant.
    Tenant(TenantId),
    /// A person's API token: that user's rights, checked per request.
    User {
        /// The user.
        user: UserId,
        /// The first 16 hex digits of the token's hash (for audit records).
        token: String,
    },
}

/// A personal API token as listed to its owner (never its text).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PersonalToken {
    /// The first 16 hex digits of its hash: how it is named and revoked.
    pub id: String,
    /// Its label.
    pub label: String,
    /// When it was made (ns since the epoch).
    pub created_at: i64,
    /// When it stops working.
    pub expires_at: Option<i64>,
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

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

/// The stored form of a token's text.
pub(crate) fn digest(text: &str) -> String {
    hex(&Sha256::digest(text.as_bytes()))
}

impl State {
    async fn insert_token(&self, tenant: &TenantId, label: &str) -> Result<Token, StateError> {
        let token = Token::mint()?;
        sqlx::query(
            "INSERT INTO tokens (hash, role, tenant, label, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(digest(token.as_str()))
        .bind(INGEST_ROLE)
        .bind(tenant.as_str())
        .bind(label)
        .bind(Timestamp::now().as_nanos())
        .execute(&self.pool)
        .await
        .map_err(StateError::sql("store a token"))?;
        Ok(token)
    }

    /// Mints an ingest token for `tenant`.
    pub async fn create_tenant_token(
        &self,
        tenant: &TenantId,
        label: &str,
    ) -> Result<Token, StateError> {
        if !self.tenant_exists(tenant).await? {
            return Err(StateError::NoTenant(tenant.to_string()));
        }
        self.insert_token(tenant, label).await
    }

    /// Mints a personal API token for `user`, valid until `expires` (at most a year: a
    /// token is a password that never expires otherwise).
    pub async fn create_personal_token(
        &self,
        user: UserId,
        label: &str,
        expires: Timestamp,
    ) -> Result<Token, StateError> {
        let mut random = [0u8; 32];
        getrandom::fill(&mut random).map_err(|e| StateError::Random(e.to_string()))?;
        let token = Token(token_text(TokenKind::Personal, &random));
        sqlx::query(
            "INSERT INTO tokens (hash, role, tenant, label, created_at, user_id, expires_at) \
             VALUES ($1, $2, NULL, $3, $4, $5, $6)",
        )
        .bind(digest(token.as_str()))
        .bind("personal")
        .bind(label)
        .bind(Timestamp::now().as_nanos())
        .bind(user.0 as i64)
        .bind(expires.as_nanos())
        .execute(&self.pool)
        .await
        .map_err(StateError::sql("store a personal token"))?;
        Ok(token)
    }

    /// Mints a one-time enrolment token for `user` (a new account, or one whose password an
    /// admin reset), valid until `expires`; earlier unused ones of the user stop working.
    pub async fn create_enrolment_token(
        &self,
        user: UserId,
        expires: Timestamp,
    ) -> Result<Token, StateError> {
        let mut random = [0u8; 32];
        getrandom::fill(&mut random).map_err(|e| StateError::Random(e.to_string()))?;
        let token = Token(token_text(TokenKind::Enrolment, &random));
        let now = Timestamp::now().as_nanos();
        sqlx::query(
            "UPDATE tokens SET revoked_at = $1 WHERE user_id = $2 AND role = 'enrolment' \
             AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(user.0 as i64)
        .execute(&self.pool)
        .await
        .map_err(StateError::sql("retire enrolment tokens"))?;
        sqlx::query(
            "INSERT INTO tokens (hash, role, tenant, label, created_at, user_id, expires_at) \
             VALUES ($1, 'enrolment', NULL, 'enrolment', $2, $3, $4)",
        )
        .bind(digest(token.as_str()))
        .bind(now)
        .bind(user.0 as i64)
        .bind(expires.as_nanos())
        .execute(&self.pool)
        .await
        .map_err(StateError::sql("store an enrolment token"))?;
        Ok(token)
    }

    /// The user of a live enrolment token, without spending it (to check a new password
    /// against their own words first).
    pub async fn enrolment_user(
        &self,
        text: &str,
        now: Timestamp,
    ) -> Result<Option<UserId>, StateError> {
        if token_kind(text) != Some(TokenKind::Enrolment) {
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT user_id FROM tokens WHERE hash = $1 AND role = 'enrolment' \
             AND revoked_at IS NULL AND expires_at > $2",
        )
        .bind(digest(text))
        .bind(now.as_nanos())
        .fetch_optional(&self.pool)
        .await
        .map_err(StateError::sql("look up an enrolment token"))?;
        Ok(row
            .and_then(|r| r.get::<Option<i64>, _>(0))
            .map(|u| UserId(u as u64)))
    }

    /// Spends an enrolment token: its user, once; `None` when unknown, spent or expired.
    pub async fn redeem_enrolment(
        &self,
        text: &str,
        now: Timestamp,
    ) -> Result<Option<UserId>, StateError> {
        let Some(user) = self.enrolment_user(text, now).await? else {
            return Ok(None);
        };
        // Only the request whose update spends it gets the user (two at once: one wins).
        let done =
            sqlx::query("UPDATE tokens SET revoked_at = $1 WHERE hash = $2 AND revoked_at IS NULL")
                .bind(now.as_nanos())
                .bind(digest(text))
                .execute(&self.pool)
                .await
                .map_err(StateError::sql("spend an enrolment token"))?;
        Ok((done.rows_affected() == 1).then_some(user))
    }

    /// The live personal tokens of `user`.
    pub async fn personal_tokens(&self, user: UserId) -> Result<Vec<PersonalToken>, StateError> {
        let rows = sqlx::query(
            "SELECT hash, label, created_at, expires_at FROM tokens WHERE user_id = $1 \
             AND role = 'personal' AND revoked_at IS NULL ORDER BY created_at",
        )
        .bind(user.0 as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(StateError::sql("list personal tokens"))?;
        Ok(rows
            .iter()
            .map(|r| {
                let hash: String = r.get(0);
                PersonalToken {
                    id: hash.chars().take(16).collect(),
                    label: r.get(1),
                    created_at: r.get(2),
                    expires_at: r.get(3),
                }
            })
            .collect())
    }

    /// Revokes `user`'s personal token whose id (hash prefix) is `id`.
    pub async fn revoke_personal_token(&self, user: UserId, id: &str) -> Result<bool, StateError> {
        if id.len() != 16 || !id.chars().all(|c| c.is_ascii_hexdigit()) {
            return Ok(false);
        }
        let done = sqlx::query(
            "UPDATE tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL \
             AND substr(hash, 1, 16) = $3",
        )
        .bind(Timestamp::now().as_nanos())
        .bind(user.0 as i64)
        .bind(id.to_ascii_lowercase())
        .execute(&self.pool)
        .await
        .map_err(StateError::sql("revoke a personal token"))?;
        Ok(done.rows_affected() > 0)
    }

    /// Who holds `text`, or `None` for an unknown, revoked or expired token.
    pub async fn authenticate(&self, text: &str) -> Result<Option<Principal>, StateError> {
        if token_kind(text) == Some(TokenKind::Personal) {
            let row = sqlx::query(
                "SELECT hash, user_id, expires_at FROM tokens WHERE hash = $1 \
                 AND role = 'personal' AND revoked_at IS NULL",
            )
            .bind(digest(text))
            .fetch_optional(&self.pool)
            .await
            .map_err(StateError::sql("look up a token"))?;
            let Some(row) = row else { return Ok(None) };
            let expires: Option<i64> = row.get(2);
            if expires.is_some_and(|e| e <= Timestamp::now().as_nanos()) {
                return Ok(None);
            }
            let hash: String = row.get(0);
            let user: Option<i64> = row.get(1);
            let user =
                user.ok_or_else(|| StateError::Corrupt("personal token without a user".into()))?;
            return Ok(Some(Principal::User {
                user: UserId(user as u64),
                token: hash.chars().take(16).collect(),
            }));
        }
        if !text.starts_with(PREFIX) {
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT role, tenant FROM tokens WHERE hash = $1 AND role IN ('admin', 'tenant') \
             AND revoked_at IS NULL",
        )
        .bind(digest(text))
        .fetch_optional(&self.pool)
        .await
        .map_err(StateError::sql("look up a token"))?;
        let Some(row) = row else { return Ok(None) };
        let role: String = row.get(0);
        let tenant: Option<String> = row.get(1);
        match (role.as_str(), tenant) {
            // Administrator tokens of versions before people existed: no longer accepted
            // (the operator is a person, made by `vigie admin init`).
            ("admin", _) => Ok(None),
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
