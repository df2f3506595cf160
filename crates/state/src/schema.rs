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
    // 4: people and access (DESIGN.md 3b). Organisations own tenants (existing tenants are
    // given an organisation of their name by `State::adopt_orphan_tenants`, which needs
    // generated ids); users belong to one organisation; grants give a provider analyst a
    // tenant; elevations widen a grant on one alert; sessions and personal tokens are kept
    // as SHA-256; the audit trail is one chain per tenant plus the platform chain.
    "CREATE TABLE organisations (
        id BIGINT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        inactivity_days BIGINT NOT NULL DEFAULT 90,
        created_at BIGINT NOT NULL
    );
    ALTER TABLE tenants ADD COLUMN owner BIGINT REFERENCES organisations (id);
    ALTER TABLE tenants ADD COLUMN sensitive_fields TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE tenants ADD COLUMN max_elevation_hours BIGINT NOT NULL DEFAULT 4;
    CREATE TABLE users (
        id BIGINT PRIMARY KEY,
        org BIGINT NOT NULL REFERENCES organisations (id),
        login TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        role TEXT NOT NULL,
        password TEXT,
        totp_seed TEXT,
        totp_pending TEXT,
        totp_last_step BIGINT,
        status TEXT NOT NULL,
        contract_end BIGINT,
        last_login BIGINT,
        created_at BIGINT NOT NULL
    );
    CREATE INDEX users_by_org ON users (org);
    CREATE TABLE recovery_codes (
        user_id BIGINT NOT NULL REFERENCES users (id),
        hash TEXT NOT NULL,
        used_at BIGINT,
        PRIMARY KEY (user_id, hash)
    );
    CREATE TABLE login_failures (
        key TEXT PRIMARY KEY,
        failures BIGINT NOT NULL,
        last_at BIGINT NOT NULL
    );
    CREATE TABLE grants (
        id BIGINT PRIMARY KEY,
        analyst BIGINT NOT NULL REFERENCES users (id),
        requester BIGINT NOT NULL REFERENCES users (id),
        tenant TEXT NOT NULL REFERENCES tenants (id),
        tier TEXT NOT NULL,
        valid_from BIGINT NOT NULL,
        valid_until BIGINT NOT NULL,
        justification TEXT NOT NULL,
        status TEXT NOT NULL,
        decided_by BIGINT REFERENCES users (id),
        decided_at BIGINT,
        created_at BIGINT NOT NULL
    );
    CREATE INDEX grants_by_tenant ON grants (tenant);
    CREATE INDEX grants_by_analyst ON grants (analyst);
    CREATE TABLE elevations (
        id BIGINT PRIMARY KEY,
        grant_id BIGINT NOT NULL REFERENCES grants (id),
        alert TEXT NOT NULL,
        widening TEXT NOT NULL,
        hours BIGINT NOT NULL,
        justification TEXT NOT NULL,
        status TEXT NOT NULL,
        decided_by BIGINT REFERENCES users (id),
        valid_from BIGINT,
        valid_until BIGINT,
        created_at BIGINT NOT NULL
    );
    CREATE INDEX elevations_by_grant ON elevations (grant_id);
    CREATE TABLE sessions (
        hash TEXT PRIMARY KEY,
        user_id BIGINT NOT NULL REFERENCES users (id),
        mfa BIGINT NOT NULL,
        address TEXT,
        created_at BIGINT NOT NULL,
        last_used BIGINT NOT NULL,
        ended_at BIGINT
    );
    CREATE INDEX sessions_by_user ON sessions (user_id);
    ALTER TABLE tokens ADD COLUMN user_id BIGINT REFERENCES users (id);
    ALTER TABLE tokens ADD COLUMN expires_at BIGINT;
    ALTER TABLE tokens ADD COLUMN revoked_at BIGINT;
    CREATE TABLE audit (
        chain TEXT NOT NULL,
        seq BIGINT NOT NULL,
        time BIGINT NOT NULL,
        actor BIGINT,
        org BIGINT,
        action TEXT NOT NULL,
        record TEXT NOT NULL,
        leaf TEXT NOT NULL,
        hash TEXT NOT NULL,
        PRIMARY KEY (chain, seq)
    );
    CREATE INDEX audit_by_time ON audit (chain, time);
    CREATE TABLE checkpoints (
        chain TEXT NOT NULL,
        size BIGINT NOT NULL,
        note TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        PRIMARY KEY (chain, size)
    );
    CREATE TABLE reviews (
        id BIGINT PRIMARY KEY,
        tenant TEXT NOT NULL REFERENCES tenants (id),
        opened_by BIGINT NOT NULL REFERENCES users (id),
        deadline BIGINT NOT NULL,
        closed_at BIGINT,
        created_at BIGINT NOT NULL
    );
    CREATE TABLE review_items (
        review BIGINT NOT NULL REFERENCES reviews (id),
        grant_id BIGINT NOT NULL REFERENCES grants (id),
        decision TEXT,
        decided_by BIGINT REFERENCES users (id),
        decided_at BIGINT,
        PRIMARY KEY (review, grant_id)
    );",
    // 5: sign-in through an organisation's identity provider (OpenID Connect). An issuer
    // belongs to one organisation (UNIQUE): its tokens can never sign anyone into another.
    // A sign-in in progress is kept under the SHA-256 of its `state`, once, for ten minutes.
    "CREATE TABLE identity_providers (
        org BIGINT PRIMARY KEY REFERENCES organisations (id),
        issuer TEXT NOT NULL UNIQUE,
        client_id TEXT NOT NULL,
        client_secret TEXT,
        claim TEXT NOT NULL,
        created_at BIGINT NOT NULL
    );
    CREATE TABLE oidc_pending (
        state TEXT PRIMARY KEY,
        org BIGINT NOT NULL REFERENCES organisations (id),
        verifier TEXT NOT NULL,
        nonce TEXT NOT NULL,
        expires_at BIGINT NOT NULL
    );",
    // 6: triage (issue 27). An alert sits in a tier's queue and may be qualified; every
    // transition is a row of its history (actor, time, from, to, note), never rewritten:
    // SLA figures are computed from these rows alone.
    "ALTER TABLE alerts ADD COLUMN queue TEXT NOT NULL DEFAULT 'l1';
    ALTER TABLE alerts ADD COLUMN qualification TEXT;
    CREATE TABLE alert_history (
        alert TEXT NOT NULL REFERENCES alerts (id),
        seq BIGINT NOT NULL,
        at BIGINT NOT NULL,
        actor BIGINT,
        action TEXT NOT NULL,
        from_status TEXT NOT NULL,
        to_status TEXT NOT NULL,
        queue TEXT NOT NULL,
        qualification TEXT,
        note TEXT,
        PRIMARY KEY (alert, seq)
    );",
    // 7: triage, continued (issue 27). An alert may be assigned to a person (the history
    // row of an assignment names them; comments are history rows too), belongs to a
    // group (one rule, one entity, a window; `open_count` is kept by the transitions so
    // that "is the group open" reads one row), and has a priority computed when written.
    // `rule_quality` counts qualifications per (tenant, rule, day the alert was recorded),
    // kept by the transitions, so that a rule's false-positive rate over 30 days reads at
    // most 30 rows per rule. `assets` is the tenant's host list with a criticality.
    "ALTER TABLE alerts ADD COLUMN assignee BIGINT;
    ALTER TABLE alert_history ADD COLUMN assignee BIGINT;
    ALTER TABLE alerts ADD COLUMN group_id TEXT;
    ALTER TABLE alerts ADD COLUMN priority BIGINT NOT NULL DEFAULT 0;
    ALTER TABLE tenants ADD COLUMN grouping TEXT NOT NULL DEFAULT '{}';
    CREATE TABLE alert_groups (
        id TEXT PRIMARY KEY,
        tenant TEXT NOT NULL REFERENCES tenants (id),
        key TEXT NOT NULL,
        rule_id TEXT NOT NULL,
        rule_title TEXT NOT NULL,
        level TEXT NOT NULL,
        entity TEXT NOT NULL,
        entity_value TEXT NOT NULL,
        first_at BIGINT NOT NULL,
        last_at BIGINT NOT NULL,
        count BIGINT NOT NULL,
        open_count BIGINT NOT NULL,
        priority BIGINT NOT NULL,
        created_at BIGINT NOT NULL
    );
    CREATE INDEX alert_groups_by_key ON alert_groups (tenant, key);
    CREATE INDEX alert_groups_by_time ON alert_groups (tenant, last_at);
    CREATE INDEX alerts_by_group ON alerts (group_id);
    CREATE TABLE rule_quality (
        tenant TEXT NOT NULL REFERENCES tenants (id),
        rule_id TEXT NOT NULL,
        day BIGINT NOT NULL,
        qualified BIGINT NOT NULL,
        false_positives BIGINT NOT NULL,
        PRIMARY KEY (tenant, rule_id, day)
    );
    CREATE TABLE assets (
        tenant TEXT NOT NULL REFERENCES tenants (id),
        host TEXT NOT NULL,
        criticality TEXT NOT NULL,
        owner TEXT,
        PRIMARY KEY (tenant, host)
    );",
    // 8: suppressions (issue 27): a tenant's Sigma filter documents, with who wrote them,
    // why, until when, and how many alerts each kept from being raised. A removed one stays
    // (removed_at, removed_by): the trail of tuning is part of the audit.
    "CREATE TABLE suppressions (
        id BIGINT PRIMARY KEY,
        tenant TEXT NOT NULL REFERENCES tenants (id),
        title TEXT NOT NULL,
        rules TEXT NOT NULL,
        document TEXT NOT NULL,
        justification TEXT NOT NULL,
        author BIGINT NOT NULL,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        removed_at BIGINT,
        removed_by BIGINT,
        hits BIGINT NOT NULL DEFAULT 0,
        last_hit BIGINT
    );
    CREATE INDEX suppressions_by_tenant ON suppressions (tenant, expires_at);",
    // 9: retro-hunts (issue 27): a rule run over a tenant's stored events for a time
    // range, as a job (its progress kept as it runs) and its results (at most
    // `hunts::MAX_RESULTS` stored; `matched` counts them all).
    "CREATE TABLE hunts (
        id BIGINT PRIMARY KEY,
        tenant TEXT NOT NULL REFERENCES tenants (id),
        rule_id TEXT NOT NULL,
        rule_title TEXT NOT NULL,
        rule_level TEXT NOT NULL,
        rule_tags TEXT NOT NULL,
        document TEXT NOT NULL,
        query TEXT NOT NULL,
        from_at BIGINT NOT NULL,
        to_at BIGINT NOT NULL,
        status TEXT NOT NULL,
        in_range BIGINT NOT NULL DEFAULT 0,
        candidates BIGINT NOT NULL DEFAULT 0,
        checked BIGINT NOT NULL DEFAULT 0,
        matched BIGINT NOT NULL DEFAULT 0,
        alerts_raised BIGINT NOT NULL DEFAULT 0,
        error TEXT,
        created_by BIGINT NOT NULL,
        created_at BIGINT NOT NULL,
        finished_at BIGINT,
        elapsed_ms BIGINT
    );
    CREATE INDEX hunts_by_tenant ON hunts (tenant, created_at);
    CREATE TABLE hunt_results (
        hunt BIGINT NOT NULL REFERENCES hunts (id),
        event_id TEXT NOT NULL,
        event_time BIGINT NOT NULL,
        host TEXT,
        matched TEXT NOT NULL,
        PRIMARY KEY (hunt, event_id)
    );",
    // 10: the source inventory (issue 27): every (source, host) a tenant's events come
    // from, when first and last heard (receive time), its owner and set threshold, the
    // open `source_silent` alert when there is one; and its events per hour (30 days
    // kept), from which a threshold is learnt (`vigie_govern::silence`).
    "CREATE TABLE sources (
        tenant TEXT NOT NULL REFERENCES tenants (id),
        source TEXT NOT NULL,
        host TEXT NOT NULL,
        first_seen BIGINT NOT NULL,
        last_seen BIGINT NOT NULL,
        events BIGINT NOT NULL,
        owner TEXT,
        threshold_s BIGINT,
        silent_alert TEXT,
        PRIMARY KEY (tenant, source, host)
    );
    CREATE TABLE source_hours (
        tenant TEXT NOT NULL,
        source TEXT NOT NULL,
        host TEXT NOT NULL,
        hour BIGINT NOT NULL,
        events BIGINT NOT NULL,
        PRIMARY KEY (tenant, source, host, hour)
    );",
    // 11: notifications (issue 27). A tenant's rules (the `vigie_govern::notify::RuleSpec`
    // as JSON; `min_rank` is an alert rule's level rank, so that the pipeline asks one
    // indexed question per tenant and batch). `notify_events` is an outbox written in the
    // transaction of what happened (alerts inserted, an escalation, a grant or elevation
    // request) and emptied by the notifier, which turns it into `notify_deliveries`: one
    // per rule and round, each tried until delivered or out of attempts.
    "CREATE TABLE notify_rules (
        id BIGINT PRIMARY KEY,
        tenant TEXT NOT NULL REFERENCES tenants (id),
        name TEXT NOT NULL,
        trigger_kind TEXT NOT NULL,
        min_rank BIGINT,
        spec TEXT NOT NULL,
        enabled BIGINT NOT NULL,
        created_by BIGINT,
        created_at BIGINT NOT NULL
    );
    CREATE INDEX notify_rules_by_tenant ON notify_rules (tenant, trigger_kind);
    CREATE TABLE notify_events (
        tenant TEXT NOT NULL,
        kind TEXT NOT NULL,
        reference TEXT NOT NULL,
        at BIGINT NOT NULL,
        detail TEXT NOT NULL,
        PRIMARY KEY (tenant, kind, reference)
    );
    CREATE TABLE notify_deliveries (
        id BIGINT PRIMARY KEY,
        tenant TEXT NOT NULL,
        rule_id BIGINT NOT NULL,
        channel TEXT NOT NULL,
        payload TEXT NOT NULL,
        status TEXT NOT NULL,
        attempts BIGINT NOT NULL,
        next_at BIGINT NOT NULL,
        last_error TEXT,
        created_at BIGINT NOT NULL,
        done_at BIGINT
    );
    CREATE INDEX notify_deliveries_due ON notify_deliveries (status, next_at);
    CREATE INDEX notify_deliveries_waiting ON notify_deliveries (tenant, status, next_at);
    CREATE INDEX notify_deliveries_by_tenant ON notify_deliveries (tenant, created_at);",
    // 12: two queue pages that walked the time index (`vigie bench console`, 1,000,000
    // alerts): a host's alerts (one in two thousand: 55 ms on SQLite, every alert's time
    // read to find fifty), and a higher tier's queue on PostgreSQL (200 ms: with its
    // statistics saying almost no alert is in L2, the planner scanned the whole table).
    // The host index costs a B-tree insert per alert; the escalated alerts' index is
    // partial (never `l1`, where every alert is written), so it costs nothing at ingest.
    "CREATE INDEX alerts_by_host ON alerts (tenant, host, event_time);
    CREATE INDEX alerts_escalated ON alerts (tenant, queue, event_time) WHERE queue <> 'l1';",
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
        // SQLite: the write lock is taken at once (see `State::begin_write`).
        let mut tx = pool
            .begin_with(match backend {
                Backend::Sqlite => "BEGIN IMMEDIATE",
                Backend::Postgres => "BEGIN",
            })
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
