//! Organisations and their users: who exists, in which organisation, with which role, and
//! the secrets they sign in with (stored as the server hands them over: an Argon2id PHC
//! string, a sealed TOTP seed, SHA-256 of recovery codes — never anything in clear).

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;
use vigie_event::TenantId;
use vigie_event::time::Timestamp;
use vigie_govern::grant::{OrgId, UserId};
use vigie_govern::{OrgKind, Role};

use crate::{State, StateError, new_id};

/// An organisation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Organisation {
    /// Its id.
    #[serde(serialize_with = "crate::ser_org")]
    pub id: OrgId,
    /// Its unique name.
    pub name: String,
    /// Client, provider or operator.
    #[serde(serialize_with = "crate::ser_kind")]
    pub kind: OrgKind,
    /// Its users are deactivated after this many days without signing in.
    pub inactivity_days: u32,
}

/// Where a user account stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UserStatus {
    /// May sign in.
    Active,
    /// Suspended by an admin (may be reactivated).
    Suspended,
    /// Deactivated by the governance task (inactivity, contract end).
    Deactivated,
}

impl UserStatus {
    /// Its stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Active => "active",
            UserStatus::Suspended => "suspended",
            UserStatus::Deactivated => "deactivated",
        }
    }

    fn parse(text: &str) -> Option<UserStatus> {
        [
            UserStatus::Active,
            UserStatus::Suspended,
            UserStatus::Deactivated,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// A user, as the server reads it to authenticate and authorise.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct User {
    /// Its id.
    #[serde(serialize_with = "crate::ser_user")]
    pub id: UserId,
    /// The organisation.
    #[serde(serialize_with = "crate::ser_org")]
    pub org: OrgId,
    /// The sign-in name, unique on the instance.
    pub login: String,
    /// The display name.
    pub name: String,
    /// The role in the organisation.
    #[serde(serialize_with = "crate::ser_role")]
    pub role: Role,
    /// Where the account stands.
    pub status: UserStatus,
    /// The Argon2id PHC string (`None`: no password yet, or OIDC only).
    #[serde(skip)]
    pub password: Option<String>,
    /// The sealed TOTP seed (`None`: not enrolled).
    #[serde(skip)]
    pub totp_seed: Option<String>,
    /// A sealed seed shown for enrolment, not yet confirmed by a code.
    #[serde(skip)]
    pub totp_pending: Option<String>,
    /// The last TOTP step accepted (a code is never accepted twice).
    #[serde(skip)]
    pub totp_last_step: Option<u64>,
    /// Whether a second factor is enrolled.
    pub mfa_enrolled: bool,
    /// A provider user's contract end: deactivated from then on.
    pub contract_end: Option<i64>,
    /// The last successful sign-in.
    pub last_login: Option<i64>,
    /// When the account was made.
    pub created_at: i64,
}

/// A user to create.
#[derive(Clone, Debug)]
pub struct NewUser {
    /// The organisation.
    pub org: OrgId,
    /// The sign-in name.
    pub login: String,
    /// The display name.
    pub name: String,
    /// The role; must belong to the organisation's kind.
    pub role: Role,
    /// An Argon2id PHC string, or `None` (set at enrolment).
    pub password: Option<String>,
    /// A provider user's contract end.
    pub contract_end: Option<Timestamp>,
}

const USER_COLUMNS: &str = "id, org, login, name, role, status, password, totp_seed, \
                            totp_pending, totp_last_step, contract_end, last_login, created_at";

fn user_of(row: &AnyRow) -> Result<User, StateError> {
    let role: String = row.get("role");
    let status: String = row.get("status");
    let seed: Option<String> = row.get("totp_seed");
    Ok(User {
        id: UserId(row.get::<i64, _>("id") as u64),
        org: OrgId(row.get::<i64, _>("org") as u64),
        login: row.get("login"),
        name: row.get("name"),
        role: role
            .parse()
            .map_err(|_| StateError::Corrupt(format!("user role {role:?}")))?,
        status: UserStatus::parse(&status)
            .ok_or_else(|| StateError::Corrupt(format!("user status {status:?}")))?,
        password: row.get("password"),
        mfa_enrolled: seed.is_some(),
        totp_seed: seed,
        totp_pending: row.get("totp_pending"),
        totp_last_step: row
            .get::<Option<i64>, _>("totp_last_step")
            .map(|s| s as u64),
        contract_end: row.get("contract_end"),
        last_login: row.get("last_login"),
        created_at: row.get("created_at"),
    })
}

fn org_of(row: &AnyRow) -> Result<Organisation, StateError> {
    let kind: String = row.get("kind");
    Ok(Organisation {
        id: OrgId(row.get::<i64, _>("id") as u64),
        name: row.get("name"),
        kind: kind
            .parse()
            .map_err(|_| StateError::Corrupt(format!("organisation kind {kind:?}")))?,
        inactivity_days: u32::try_from(row.get::<i64, _>("inactivity_days")).unwrap_or(90),
    })
}

/// What a login name may be: 1 to 64 characters of letters, digits and `.-_@`.
pub fn check_login(login: &str) -> Result<(), StateError> {
    let ok = !login.is_empty()
        && login.len() <= 64
        && login
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@'));
    if ok {
        Ok(())
    } else {
        Err(StateError::Invalid(format!(
            "login {login:?}: 1 to 64 letters, digits, '.', '-', '_' or '@'"
        )))
    }
}

impl State {
    /// Creates an organisation; fails when the name is taken.
    pub async fn create_org(&self, name: &str, kind: OrgKind) -> Result<OrgId, StateError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 128 {
            return Err(StateError::Invalid(
                "an organisation's name has 1 to 128 characters".into(),
            ));
        }
        let id = new_id()?;
        let done = sqlx::query(
            "INSERT INTO organisations (id, name, kind, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(id)
        .bind(name)
        .bind(kind.as_str())
        .bind(Timestamp::now().as_nanos())
        .execute(&self.pool)
        .await
        .map_err(StateError::sql("create an organisation"))?;
        if done.rows_affected() == 0 {
            return Err(StateError::Exists(format!("organisation {name:?}")));
        }
        Ok(OrgId(id as u64))
    }

    /// The organisation `id`.
    pub async fn org(&self, id: OrgId) -> Result<Option<Organisation>, StateError> {
        let row =
            sqlx::query("SELECT id, name, kind, inactivity_days FROM organisations WHERE id = $1")
                .bind(id.0 as i64)
                .fetch_optional(&self.pool)
                .await
                .map_err(StateError::sql("read an organisation"))?;
        row.as_ref().map(org_of).transpose()
    }

    /// The organisation named `name`.
    pub async fn org_by_name(&self, name: &str) -> Result<Option<Organisation>, StateError> {
        let row = sqlx::query(
            "SELECT id, name, kind, inactivity_days FROM organisations WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(&self.pool)
        .await
        .map_err(StateError::sql("read an organisation"))?;
        row.as_ref().map(org_of).transpose()
    }

    /// Every organisation, by name.
    pub async fn orgs(&self) -> Result<Vec<Organisation>, StateError> {
        let rows =
            sqlx::query("SELECT id, name, kind, inactivity_days FROM organisations ORDER BY name")
                .fetch_all(&self.pool)
                .await
                .map_err(StateError::sql("list organisations"))?;
        rows.iter().map(org_of).collect()
    }

    /// The organisation that owns `tenant`.
    pub async fn tenant_owner(&self, tenant: &TenantId) -> Result<Option<OrgId>, StateError> {
        let row = sqlx::query("SELECT owner FROM tenants WHERE id = $1")
            .bind(tenant.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(StateError::sql("read a tenant's owner"))?;
        Ok(row
            .and_then(|r| r.get::<Option<i64>, _>(0))
            .map(|o| OrgId(o as u64)))
    }

    /// The tenants `org` owns.
    pub async fn tenants_of(&self, org: OrgId) -> Result<Vec<TenantId>, StateError> {
        let rows = sqlx::query("SELECT id FROM tenants WHERE owner = $1 ORDER BY id")
            .bind(org.0 as i64)
            .fetch_all(&self.pool)
            .await
            .map_err(StateError::sql("list an organisation's tenants"))?;
        rows.iter()
            .map(|r| {
                TenantId::new(&r.get::<String, _>(0))
                    .map_err(|e| StateError::Corrupt(e.to_string()))
            })
            .collect()
    }

    /// Gives every tenant without an owner a client organisation of its own name (created
    /// when missing): tenants made before organisations existed, and those made by
    /// `vigie admin tenant create` without `--org`.
    pub async fn adopt_orphan_tenants(&self) -> Result<u64, StateError> {
        let rows = sqlx::query("SELECT id FROM tenants WHERE owner IS NULL")
            .fetch_all(&self.pool)
            .await
            .map_err(StateError::sql("list tenants without an owner"))?;
        let mut adopted = 0;
        for row in rows {
            let tenant: String = row.get(0);
            let org = match self.org_by_name(&tenant).await? {
                Some(org) if org.kind == OrgKind::Client => org.id,
                Some(_) => {
                    return Err(StateError::Invalid(format!(
                        "tenant {tenant:?} has no owner and the organisation of its name is \
                         not a client: give it one with `vigie admin tenant create --org`"
                    )));
                }
                None => self.create_org(&tenant, OrgKind::Client).await?,
            };
            sqlx::query("UPDATE tenants SET owner = $1 WHERE id = $2 AND owner IS NULL")
                .bind(org.0 as i64)
                .bind(&tenant)
                .execute(&self.pool)
                .await
                .map_err(StateError::sql("give a tenant its owner"))?;
            adopted += 1;
        }
        Ok(adopted)
    }

    /// Creates a user; the role must belong to the organisation's kind and the login be new.
    pub async fn create_user(&self, user: &NewUser) -> Result<UserId, StateError> {
        check_login(&user.login)?;
        let org = self
            .org(user.org)
            .await?
            .ok_or_else(|| StateError::Invalid(format!("no organisation {}", user.org.0)))?;
        if user.role.org_kind() != org.kind {
            return Err(StateError::Invalid(format!(
                "role {} is not a role of a {} organisation",
                user.role,
                org.kind.as_str()
            )));
        }
        let id = new_id()?;
        let done = sqlx::query(
            "INSERT INTO users (id, org, login, name, role, password, status, contract_end, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (login) DO NOTHING",
        )
        .bind(id)
        .bind(user.org.0 as i64)
        .bind(&user.login)
        .bind(&user.name)
        .bind(user.role.as_str())
        .bind(user.password.as_deref())
        .bind(UserStatus::Active.as_str())
        .bind(user.contract_end.map(Timestamp::as_nanos))
        .bind(Timestamp::now().as_nanos())
        .execute(&self.pool)
        .await
        .map_err(StateError::sql("create a user"))?;
        if done.rows_affected() == 0 {
            return Err(StateError::Exists(format!("login {:?}", user.login)));
        }
        Ok(UserId(id as u64))
    }

    /// The user `id`.
    pub async fn user(&self, id: UserId) -> Result<Option<User>, StateError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.0 as i64)
            .fetch_optional(&self.pool)
            .await
            .map_err(StateError::sql("read a user"))?;
        row.as_ref().map(user_of).transpose()
    }

    /// The user who signs in as `login`.
    pub async fn user_by_login(&self, login: &str) -> Result<Option<User>, StateError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE login = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(login)
            .fetch_optional(&self.pool)
            .await
            .map_err(StateError::sql("read a user"))?;
        row.as_ref().map(user_of).transpose()
    }

    /// The users of `org`, by login.
    pub async fn users_of(&self, org: OrgId) -> Result<Vec<User>, StateError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE org = $1 ORDER BY login");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org.0 as i64)
            .fetch_all(&self.pool)
            .await
            .map_err(StateError::sql("list users"))?;
        rows.iter().map(user_of).collect()
    }

    /// Every user, by login (for the governance task).
    pub async fn all_users(&self) -> Result<Vec<User>, StateError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY login");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await
            .map_err(StateError::sql("list users"))?;
        rows.iter().map(user_of).collect()
    }

    /// Sets a user's status; leaving `Active` ends every session and personal token use at
    /// once (tokens are refused while the user is not active, sessions are ended here).
    pub async fn set_user_status(&self, id: UserId, status: UserStatus) -> Result<(), StateError> {
        let done = sqlx::query("UPDATE users SET status = $1 WHERE id = $2")
            .bind(status.as_str())
            .bind(id.0 as i64)
            .execute(&self.pool)
            .await
            .map_err(StateError::sql("set a user's status"))?;
        if done.rows_affected() == 0 {
            return Err(StateError::Invalid(format!("no user {}", id.0)));
        }
        if status != UserStatus::Active {
            self.end_sessions_of(id, None).await?;
        }
        Ok(())
    }

    /// Sets (or clears) a provider user's contract end.
    pub async fn set_contract_end(
        &self,
        id: UserId,
        end: Option<Timestamp>,
    ) -> Result<(), StateError> {
        sqlx::query("UPDATE users SET contract_end = $1 WHERE id = $2")
            .bind(end.map(Timestamp::as_nanos))
            .bind(id.0 as i64)
            .execute(&self.pool)
            .await
            .map_err(StateError::sql("set a contract end"))?;
        Ok(())
    }

    /// Replaces a user's password hash.
    pub async fn set_password(&self, id: UserId, phc: &str) -> Result<(), StateError> {
        sqlx::query("UPDATE users SET password = $1 WHERE id = $2")
            .bind(phc)
            .bind(id.0 as i64)
            .execute(&self.pool)
            .await
            .map_err(StateError::sql("set a password"))?;
        Ok(())
    }

    /// Keeps (or clears) the sealed seed of an enrolment in progress.
    pub async fn set_totp_pending(
        &self,
        id: UserId,
        sealed: Option<&str>,
    ) -> Result<(), StateError> {
        sqlx::query("UPDATE users SET totp_pending = $1 WHERE id = $2")
            .bind(sealed)
            .bind(id.0 as i64)
            .execute(&self.pool)
            .await
            .map_err(StateError::sql("keep an enrolment seed"))?;
        Ok(())
    }

    /// Enrols a second factor: the sealed seed and the hashes of the recovery codes
    /// (replacing any earlier ones), in one transaction.
    pub async fn enrol_totp(
        &self,
        id: UserId,
        sealed_seed: &str,
        recovery_hashes: &[String],
    ) -> Result<(), StateError> {
        let mut tx = self
            .begin_write()
            .await
            .map_err(StateError::sql("begin an enrolment"))?;
        sqlx::query(
            "UPDATE users SET totp_seed = $1, totp_pending = NULL, totp_last_step = NULL \
             WHERE id = $2",
        )
        .bind(sealed_seed)
        .bind(id.0 as i64)
        .execute(&mut *tx)
        .await
        .map_err(StateError::sql("store a TOTP seed"))?;
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(id.0 as i64)
            .execute(&mut *tx)
            .await
            .map_err(StateError::sql("drop old recovery codes"))?;
        for hash in recovery_hashes {
            sqlx::query("INSERT INTO recovery_codes (user_id, hash) VALUES ($1, $2)")
                .bind(id.0 as i64)
                .bind(hash)
                .execute(&mut *tx)
                .await
                .map_err(StateError::sql("store a recovery code"))?;
        }
        tx.commit()
            .await
            .map_err(StateError::sql("commit an enrolment"))
    }

    /// Removes a user's second factor (seed, pending enrolment, recovery codes) and ends
    /// their sessions: a user who lost their device enrols again at their next sign-in.
    pub async fn reset_mfa(&self, id: UserId) -> Result<(), StateError> {
        let mut tx = self
            .begin_write()
            .await
            .map_err(StateError::sql("begin a second-factor reset"))?;
        sqlx::query(
            "UPDATE users SET totp_seed = NULL, totp_pending = NULL, totp_last_step = NULL \
             WHERE id = $1",
        )
        .bind(id.0 as i64)
        .execute(&mut *tx)
        .await
        .map_err(StateError::sql("reset a second factor"))?;
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(id.0 as i64)
            .execute(&mut *tx)
            .await
            .map_err(StateError::sql("drop recovery codes"))?;
        sqlx::query("UPDATE sessions SET ended_at = $1 WHERE user_id = $2 AND ended_at IS NULL")
            .bind(Timestamp::now().as_nanos())
            .bind(id.0 as i64)
            .execute(&mut *tx)
            .await
            .map_err(StateError::sql("end the sessions of a reset user"))?;
        tx.commit()
            .await
            .map_err(StateError::sql("commit a second-factor reset"))
    }

    /// Records TOTP step `step` as used, if it is later than the last one used: `false`
    /// when it was already used (a replay), atomically, so two requests racing with one
    /// code cannot both pass.
    pub async fn use_totp_step(&self, id: UserId, step: u64) -> Result<bool, StateError> {
        let done = sqlx::query(
            "UPDATE users SET totp_last_step = $1 WHERE id = $2 \
             AND (totp_last_step IS NULL OR totp_last_step < $3)",
        )
        .bind(step as i64)
        .bind(id.0 as i64)
        .bind(step as i64)
        .execute(&self.pool)
        .await
        .map_err(StateError::sql("record a TOTP step"))?;
        Ok(done.rows_affected() == 1)
    }

    /// Spends the recovery code whose hash is `hash`: `false` when it does not exist or was
    /// spent already.
    pub async fn use_recovery_code(&self, id: UserId, hash: &str) -> Result<bool, StateError> {
        let done = sqlx::query(
            "UPDATE recovery_codes SET used_at = $1 WHERE user_id = $2 AND hash = $3 \
             AND used_at IS NULL",
        )
        .bind(Timestamp::now().as_nanos())
        .bind(id.0 as i64)
        .bind(hash)
        .execute(&self.pool)
        .await
        .map_err(StateError::sql("spend a recovery code"))?;
        Ok(done.rows_affected() == 1)
    }

    /// Records a successful sign-in.
    pub async fn record_login(&self, id: UserId, now: Timestamp) -> Result<(), StateError> {
        sqlx::query("UPDATE users SET last_login = $1 WHERE id = $2")
            .bind(now.as_nanos())
            .bind(id.0 as i64)
            .execute(&self.pool)
            .await
            .map_err(StateError::sql("record a sign-in"))?;
        Ok(())
    }

    /// The failed sign-ins counted under `key` (`user:<login>` or `addr:<address>`) and the
    /// time of the last one.
    pub async fn login_failures(&self, key: &str) -> Result<(u32, Option<Timestamp>), StateError> {
        let row = sqlx::query("SELECT failures, last_at FROM login_failures WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(StateError::sql("read failed sign-ins"))?;
        Ok(row.map_or((0, None), |r| {
            (
                u32::try_from(r.get::<i64, _>(0)).unwrap_or(u32::MAX),
                Some(Timestamp::from_nanos(r.get(1))),
            )
        }))
    }

    /// Counts one more failed sign-in under `key`; a count whose last failure is older
    /// than `forget_after` starts again at one (an address shared by many people is not
    /// throttled for ever by typos spread over weeks).
    pub async fn record_login_failure(
        &self,
        key: &str,
        now: Timestamp,
        forget_after: std::time::Duration,
    ) -> Result<(), StateError> {
        let horizon = now
            .as_nanos()
            .saturating_sub(i64::try_from(forget_after.as_nanos()).unwrap_or(i64::MAX));
        sqlx::query(
            "INSERT INTO login_failures (key, failures, last_at) VALUES ($1, 1, $2) \
             ON CONFLICT (key) DO UPDATE SET failures = CASE \
             WHEN login_failures.last_at < $3 THEN 1 ELSE login_failures.failures + 1 END, \
             last_at = excluded.last_at",
        )
        .bind(key)
        .bind(now.as_nanos())
        .bind(horizon)
        .execute(&self.pool)
        .await
        .map_err(StateError::sql("count a failed sign-in"))?;
        Ok(())
    }

    /// Forgets the failures under `key` (after a successful sign-in).
    pub async fn clear_login_failures(&self, key: &str) -> Result<(), StateError> {
        sqlx::query("DELETE FROM login_failures WHERE key = $1")
            .bind(key)
            .execute(&self.pool)
            .await
            .map_err(StateError::sql("clear failed sign-ins"))?;
        Ok(())
    }
}
