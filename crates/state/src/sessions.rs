//! Server-side sessions: an opaque 256-bit id in the browser's cookie, its SHA-256 here.
//! Whether a session is still live (idle, absolute lifetime) is
//! `vigie_govern::session::check_live`'s decision; this module keeps the times.

use sqlx::Row;
use vigie_event::time::Timestamp;
use vigie_govern::grant::UserId;
use vigie_govern::session::stored_hash;

use crate::tokens::hex;
use crate::{State, StateError};

/// A session as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// SHA-256 of the id, hex (what audit records and admin screens name).
    pub hash: String,
    /// Whose.
    pub user: UserId,
    /// Whether the second factor was given (a user who must enrol and has not may only
    /// enrol).
    pub mfa: bool,
    /// Where it was opened from.
    pub address: Option<String>,
    /// Opened at.
    pub created_at: Timestamp,
    /// Last used at.
    pub last_used: Timestamp,
}

impl State {
    /// Opens a session for `user` and returns its id, the only time it exists outside the
    /// browser.
    pub async fn create_session(
        &self,
        user: UserId,
        mfa: bool,
        address: Option<&str>,
        now: Timestamp,
    ) -> Result<String, StateError> {
        let mut random = [0u8; 32];
        getrandom::fill(&mut random).map_err(|e| StateError::Random(e.to_string()))?;
        let id = base64url(&random);
        sqlx::query(
            "INSERT INTO sessions (hash, user_id, mfa, address, created_at, last_used) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(hex(&stored_hash(&id)))
        .bind(user.0 as i64)
        .bind(i64::from(mfa))
        .bind(address)
        .bind(now.as_nanos())
        .bind(now.as_nanos())
        .execute(&self.pool)
        .await
        .map_err(StateError::sql("open a session"))?;
        Ok(id)
    }

    /// The open session whose id is `id` (`None`: unknown or ended).
    pub async fn session(&self, id: &str) -> Result<Option<Session>, StateError> {
        let row = sqlx::query(
            "SELECT hash, user_id, mfa, address, created_at, last_used FROM sessions \
             WHERE hash = $1 AND ended_at IS NULL",
        )
        .bind(hex(&stored_hash(id)))
        .fetch_optional(&self.pool)
        .await
        .map_err(StateError::sql("read a session"))?;
        Ok(row.map(|r| Session {
            hash: r.get(0),
            user: UserId(r.get::<i64, _>(1) as u64),
            mfa: r.get::<i64, _>(2) != 0,
            address: r.get(3),
            created_at: Timestamp::from_nanos(r.get(4)),
            last_used: Timestamp::from_nanos(r.get(5)),
        }))
    }

    /// Records a use of the session (the idle timeout counts from here).
    pub async fn touch_session(&self, hash: &str, now: Timestamp) -> Result<(), StateError> {
        sqlx::query("UPDATE sessions SET last_used = $1 WHERE hash = $2")
            .bind(now.as_nanos())
            .bind(hash)
            .execute(&self.pool)
            .await
            .map_err(StateError::sql("touch a session"))?;
        Ok(())
    }

    /// Ends the session `hash`.
    pub async fn end_session(&self, hash: &str) -> Result<bool, StateError> {
        let done =
            sqlx::query("UPDATE sessions SET ended_at = $1 WHERE hash = $2 AND ended_at IS NULL")
                .bind(Timestamp::now().as_nanos())
                .bind(hash)
                .execute(&self.pool)
                .await
                .map_err(StateError::sql("end a session"))?;
        Ok(done.rows_affected() == 1)
    }

    /// Ends every open session of `user` but `keep` (its hash); returns how many.
    pub async fn end_sessions_of(
        &self,
        user: UserId,
        keep: Option<&str>,
    ) -> Result<u64, StateError> {
        let done = sqlx::query(
            "UPDATE sessions SET ended_at = $1 WHERE user_id = $2 AND ended_at IS NULL \
             AND hash <> $3",
        )
        .bind(Timestamp::now().as_nanos())
        .bind(user.0 as i64)
        .bind(keep.unwrap_or(""))
        .execute(&self.pool)
        .await
        .map_err(StateError::sql("end a user's sessions"))?;
        Ok(done.rows_affected())
    }

    /// The open sessions of `user`, newest first.
    pub async fn sessions_of(&self, user: UserId) -> Result<Vec<Session>, StateError> {
        let rows = sqlx::query(
            "SELECT hash, user_id, mfa, address, created_at, last_used FROM sessions \
             WHERE user_id = $1 AND ended_at IS NULL ORDER BY created_at DESC",
        )
        .bind(user.0 as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(StateError::sql("list sessions"))?;
        Ok(rows
            .iter()
            .map(|r| Session {
                hash: r.get(0),
                user: UserId(r.get::<i64, _>(1) as u64),
                mfa: r.get::<i64, _>(2) != 0,
                address: r.get(3),
                created_at: Timestamp::from_nanos(r.get(4)),
                last_used: Timestamp::from_nanos(r.get(5)),
            })
            .collect())
    }
}

/// Unpadded base64url (RFC 4648 §5), the session id's text.
pub(crate) fn base64url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
