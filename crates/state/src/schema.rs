//! The schema and its migrations: an ordered list of SQL scripts, each applied once in a
//! transaction and recorded in `schema_version`.
//!
//! Written in the common subset of SQLite and PostgreSQL.

use sqlx::{AnyPool, Row};

use crate::{Backend, StateError};

/// Migration `i` brings the schema to version `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: tenants, tokens, alerts.
    "CREATE TABLE tenants (
        id TEXT PRIMARY KEY,
        created_at BIGINT NOT NULL
    );
    CREATE TABLE tokens (
        hash TEXT PRIMARY KEY,
        role TEXT NOT NULL,
        tenant TEXT REFERENCES tenants (id),
        label TEXT NOT NULL,
        created_at BIGINT NOT NULL
    );
    CREATE TABLE alerts (
        id TEXT PRIMARY KEY,
        tenant TEXT NOT NULL REFERENCES tenants (id),
        kind TEXT NOT NULL,
        rule_id TEXT NOT NULL,
        rule_title TEXT NOT NULL,
        level TEXT NOT NULL,
        tags TEXT NOT NULL,
        status TEXT NOT NULL,
        event_id TEXT NOT NULL,
        event_time BIGINT NOT NULL,
        host TEXT,
        matched TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        UNIQUE (tenant, rule_id, event_id)
    );
    CREATE INDEX alerts_by_time ON alerts (tenant, event_time);
    CREATE INDEX alerts_by_rule ON alerts (tenant, rule_id);",
    // 2: (tenant, rule_id) served no query (a rule filter walks `alerts_by_time`, by the
    // query plan, and the unique (tenant, rule_id, event_id) index covers the same prefix);
    // it only cost a B-tree insert per alert.
    "DROP INDEX alerts_by_rule;",
    // 3: ingest retries with an `Idempotency-Key`: the receive time the first attempt chose
    // (ids are minted from it and the key, so a retry mints the same ones) and, once
    // acknowledged, the answer given. Rows older than a day are purged.
    "CREATE TABLE idempotency (
        tenant TEXT NOT NULL REFERENCES tenants (id),
        key TEXT NOT NULL,
        received BIGINT NOT NULL,
        answer TEXT,
        created_at BIGINT NOT NULL,
        PRIMARY KEY (tenant, key)
    );
    CREATE INDEX idempotency_by_age ON idempotency (created_at);",
];

/// Applies the migrations the database has not seen.
pub(crate) async fn migrate(pool: &AnyPool, backend: Backend) -> Result<(), StateError> {
    migrate_to(pool, backend, MIGRATIONS.len()).await
}

/// An arbitrary constant naming Vigie's migration lock among PostgreSQL's advisory locks.
const MIGRATION_LOCK: i64 = 0x7669_6769_6500;

/// Applies the migrations the database has not seen, up to schema version `target`.
///
/// Each migration runs in its own transaction, which re-reads the version first: on
/// PostgreSQL under a transaction-scoped advisory lock, so that nodes starting together
/// apply each migration once; on SQLite the write transaction serialises them.
async fn migrate_to(pool: &AnyPool, backend: Backend, target: usize) -> Result<(), StateError> {
    sqlx::query("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")
        .execute(pool)
        .await
        .map_err(StateError::sql("create schema_version"))?;
    let known = MIGRATIONS.len() as i64;
    for (i, script) in MIGRATIONS[..target].iter().enumerate() {
        let mut tx = pool
            .begin()
            .await
            .map_err(StateError::sql("begin a migration"))?;
        if backend == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(MIGRATION_LOCK)
                .execute(&mut *tx)
                .await
                .map_err(StateError::sql("take the migration lock"))?;
        }
        let row = sqlx::query("SELECT COALESCE(MAX(version), 0) FROM schema_version")
            .fetch_one(&mut *tx)
            .await
            .map_err(StateError::sql("read the schema version"))?;
        let found: i64 = row.get(0);
        if found > known {
            return Err(StateError::NewerSchema { found, known });
        }
        if found > i as i64 {
            continue;
        }
        for statement in script.split(';').filter(|s| !s.trim().is_empty()) {
            sqlx::query(sqlx::AssertSqlSafe(statement))
                .execute(&mut *tx)
                .await
                .map_err(StateError::sql("apply a migration"))?;
        }
        sqlx::query("INSERT INTO schema_version (version) VALUES ($1)")
            .bind(i as i64 + 1)
            .execute(&mut *tx)
            .await
            .map_err(StateError::sql("record a migration"))?;
        tx.commit()
            .await
            .map_err(StateError::sql("commit a migration"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use sqlx::ConnectOptions;
    use sqlx::sqlite::SqliteConnectOptions;

    use super::*;
    use crate::{DATABASE_FILE, State};

    /// A database left by a version-1 binary gets migration 2 on open: its unused rule
    /// index goes, and the alert indexes the queries use stay.
    #[test]
    fn a_version_1_database_is_brought_up_to_date() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join(DATABASE_FILE);
            sqlx::any::install_default_drivers();
            let url = SqliteConnectOptions::new()
                .filename(&path)
                .create_if_missing(true)
                .to_url_lossy();
            let pool = AnyPool::connect(url.as_str()).await.expect("pool");
            migrate_to(&pool, Backend::Sqlite, 1).await.expect("v1");
            pool.close().await;

            let state = State::open(&path).await.expect("open and migrate");
            let version: i64 = sqlx::query("SELECT MAX(version) FROM schema_version")
                .fetch_one(&state.pool)
                .await
                .expect("version")
                .get(0);
            assert_eq!(version, MIGRATIONS.len() as i64);
            let indexes: Vec<String> = sqlx::query(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'alerts' \
                 ORDER BY name",
            )
            .fetch_all(&state.pool)
            .await
            .expect("indexes")
            .iter()
            .map(|row| row.get(0))
            .collect();
            assert!(
                indexes.contains(&"alerts_by_time".to_owned()),
                "{indexes:?}"
            );
            assert!(
                !indexes.contains(&"alerts_by_rule".to_owned()),
                "{indexes:?}"
            );
        });
    }
}
