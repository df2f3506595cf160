//! The state's tests. Each scenario is an `async fn` taking a [`Fresh`] database and runs
//! twice: on SQLite (one `#[test]` each, in module `sqlite`) and on PostgreSQL (all in one
//! `#[test]`, `postgres_suite`, which starts one throwaway cluster and gives each scenario
//! a database of its own; it skips visibly without the `postgresql` package, and fails
//! under `CI=true`).

use vigie_event::time::Timestamp;
use vigie_event::{EventIdGenerator, TenantId};
use vigie_testkit::postgres::Cluster;

use crate::idempotency::tests::a_key_keeps_its_first_time_then_its_answer_for_a_day;
use crate::*;

pub(crate) fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// An empty database for one scenario, which it may open (and reopen) as often as it likes.
pub(crate) enum Fresh {
    /// An SQLite file in a temporary folder.
    Sqlite(tempfile::TempDir),
    /// A database of its own in the suite's PostgreSQL cluster.
    Postgres(String),
}

impl Fresh {
    fn sqlite() -> Fresh {
        Fresh::Sqlite(tempfile::tempdir().expect("tempdir"))
    }

    async fn postgres(cluster: &Cluster, name: &str) -> Fresh {
        sqlx::any::install_default_drivers();
        let admin = sqlx::AnyPool::connect(&cluster.url("postgres"))
            .await
            .expect("connect to the cluster");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&admin)
            .await
            .expect("create database");
        admin.close().await;
        Fresh::Postgres(cluster.url(name))
    }

    /// Opens the database (migrating it).
    pub(crate) async fn open(&self) -> State {
        match self {
            Fresh::Sqlite(dir) => State::open(&dir.path().join(DATABASE_FILE))
                .await
                .expect("open"),
            Fresh::Postgres(url) => State::connect(url, 4).await.expect("connect"),
        }
    }

    /// Opens the database with the tenants `names`.
    async fn with(&self, names: &[&str]) -> (State, Vec<TenantId>) {
        let state = self.open().await;
        let mut tenants = Vec::new();
        for name in names {
            let t = TenantId::new(name).expect("tenant");
            state.create_tenant(&t).await.expect("create tenant");
            tenants.push(t);
        }
        (state, tenants)
    }
}

/// Declares scenarios to run on both databases.
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $name() {
                    super::rt().block_on(super::$name(super::Fresh::sqlite()));
                }
            )*
        }

        #[test]
        fn postgres_suite() {
            let Some(cluster) = Cluster::start() else { return };
            let rt = rt();
            $(
                rt.block_on(async {
                    let db = Fresh::postgres(&cluster, stringify!($name)).await;
                    $name(db).await;
                });
            )*
        }
    };
}

on_both!(
    tokens_authenticate_to_their_principal_only,
    alerts_are_deduplicated_filtered_paged_and_tenant_scoped,
    alert_batches_over_one_statement_keep_every_row_once,
    a_key_keeps_its_first_time_then_its_answer_for_a_day,
    the_connection_settings_hold,
);

/// SQLite runs in WAL mode with full sync and foreign keys (set per connection through the
/// `Any` driver); PostgreSQL refuses a row that breaks a foreign key as well.
async fn the_connection_settings_hold(db: Fresh) {
    let state = db.open().await;
    if state.backend() == Backend::Sqlite {
        for (pragma, want) in [
            ("PRAGMA journal_mode", "wal"),
            ("PRAGMA synchronous", "2"),
            ("PRAGMA foreign_keys", "1"),
        ] {
            let row = sqlx::query(pragma)
                .fetch_one(&state.pool)
                .await
                .expect(pragma);
            let got: String = row
                .try_get::<String, _>(0)
                .or_else(|_| row.try_get::<i64, _>(0).map(|n| n.to_string()))
                .expect("value");
            assert_eq!(got, want, "{pragma}");
        }
    }
    let orphan = sqlx::query(
        "INSERT INTO idempotency (tenant, key, received, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind("no-such-tenant")
    .bind("k")
    .bind(0_i64)
    .bind(0_i64)
    .execute(&state.pool)
    .await;
    assert!(orphan.is_err(), "a foreign key was not enforced");
}

#[test]
fn passwords_are_redacted_from_urls() {
    assert_eq!(
        redact("postgres://vigie:s3cret@db:5432/vigie"),
        "postgres://vigie:***@db:5432/vigie"
    );
    assert_eq!(
        redact("postgres://vigie@db/vigie"),
        "postgres://vigie@db/vigie"
    );
    assert_eq!(redact("not a url"), "not a url");
}

fn alert(
    tenant: &TenantId,
    rule: &str,
    level: &str,
    event: vigie_event::EventId,
    t: i64,
) -> NewAlert {
    NewAlert {
        tenant: tenant.clone(),
        kind: AlertKind::Rule,
        rule_id: rule.to_owned(),
        rule_title: format!("title of {rule}"),
        level: level.to_owned(),
        tags: vec!["attack.t1059".to_owned()],
        event_id: event,
        event_time: Timestamp::from_nanos(t),
        host: Some("ws-1".to_owned()),
        matched: serde_json::json!({"Image": "C:\\x.exe"}),
    }
}

async fn tokens_authenticate_to_their_principal_only(db: Fresh) {
    {
        let state = db.open().await;
        let admin = state
            .ensure_admin_token()
            .await
            .expect("admin")
            .expect("first");
        assert!(state.ensure_admin_token().await.expect("again").is_none());
        let acme = TenantId::new("acme").expect("tenant");
        state.create_tenant(&acme).await.expect("create");
        assert!(matches!(
            state.create_tenant(&acme).await,
            Err(StateError::TenantExists(_))
        ));
        let token = state
            .create_tenant_token(&acme, "ingest")
            .await
            .expect("token");
        assert_eq!(
            state.authenticate(admin.as_str()).await.expect("auth"),
            Some(Principal::Admin)
        );
        assert_eq!(
            state.authenticate(token.as_str()).await.expect("auth"),
            Some(Principal::Tenant(acme.clone()))
        );
        assert_eq!(state.authenticate("vgi_00").await.expect("auth"), None);
        assert_eq!(state.authenticate("").await.expect("auth"), None);
        let ghost = TenantId::new("ghost").expect("tenant");
        assert!(matches!(
            state.create_tenant_token(&ghost, "x").await,
            Err(StateError::NoTenant(_))
        ));
        // Reopening keeps everything (and does not re-run migrations).
        state.close().await;
        let state = db.open().await;
        assert_eq!(state.tenants().await.expect("tenants"), vec![acme.clone()]);
        assert_eq!(
            state.authenticate(token.as_str()).await.expect("auth"),
            Some(Principal::Tenant(acme))
        );
    }
}

async fn alerts_are_deduplicated_filtered_paged_and_tenant_scoped(db: Fresh) {
    {
        let (state, tenants) = db.with(&["a", "b"]).await;
        let (a, b) = (tenants[0].clone(), tenants[1].clone());
        let mut ids = EventIdGenerator::new();
        let events: Vec<_> = (0..5).map(|_| ids.next_now()).collect();
        let batch: Vec<NewAlert> = events
            .iter()
            .enumerate()
            .map(|(i, e)| {
                alert(
                    &a,
                    if i % 2 == 0 { "r1" } else { "r2" },
                    "high",
                    *e,
                    i as i64,
                )
            })
            .chain([alert(&b, "r1", "critical", events[0], 100)])
            .collect();
        assert_eq!(state.insert_alerts(&batch).await.expect("insert"), 6);
        // A replay inserts nothing.
        assert_eq!(state.insert_alerts(&batch).await.expect("replay"), 0);

        let all = state
            .alerts(&a, &AlertFilter::default())
            .await
            .expect("list");
        assert_eq!(all.alerts.len(), 5);
        assert!(all.alerts.iter().all(|x| x.tenant == a));
        assert_eq!(
            all.alerts[0].event_time,
            Timestamp::from_nanos(4).to_rfc3339(vigie_event::UtcOffset::UTC)
        );
        let r1 = AlertFilter {
            rule: Some("r1".to_owned()),
            ..AlertFilter::default()
        };
        assert_eq!(state.alerts(&a, &r1).await.expect("r1").alerts.len(), 3);
        let critical = AlertFilter {
            levels: vec!["critical".to_owned()],
            ..AlertFilter::default()
        };
        assert!(
            state
                .alerts(&a, &critical)
                .await
                .expect("crit")
                .alerts
                .is_empty()
        );
        assert_eq!(
            state
                .alerts(&b, &critical)
                .await
                .expect("crit")
                .alerts
                .len(),
            1
        );
        let window = AlertFilter {
            from: Some(Timestamp::from_nanos(1)),
            to: Some(Timestamp::from_nanos(3)),
            status: Some(AlertStatus::New),
            ..AlertFilter::default()
        };
        assert_eq!(
            state
                .alerts(&a, &window)
                .await
                .expect("window")
                .alerts
                .len(),
            2
        );

        // Pages of two cover everything once.
        let mut seen = Vec::new();
        let mut filter = AlertFilter {
            limit: Some(2),
            ..AlertFilter::default()
        };
        loop {
            let page = state.alerts(&a, &filter).await.expect("page");
            seen.extend(page.alerts.iter().map(|x| x.id.clone()));
            match page.next {
                Some(next) => {
                    let text = next.to_string();
                    filter.after = Some(text.parse().expect("cursor parses"));
                }
                None => break,
            }
        }
        assert_eq!(seen.len(), 5);
        seen.sort_by(|x, y| x.as_str().cmp(y.as_str()));
        seen.dedup();
        assert_eq!(seen.len(), 5);

        // By id, only within the tenant.
        let one = &all.alerts[0];
        assert!(state.alert(&a, &one.id).await.expect("get").is_some());
        assert!(state.alert(&b, &one.id).await.expect("get").is_none());

        let counts = state.alert_counts(&a).await.expect("counts");
        assert_eq!(counts[0].0, "r1");
        assert_eq!(counts[0].3, 3);
    }
}

async fn alert_batches_over_one_statement_keep_every_row_once(db: Fresh) {
    {
        let (state, tenants) = db.with(&["a"]).await;
        let a = tenants[0].clone();
        let mut ids = EventIdGenerator::new();
        // Two full statements and a partial one, with a repeat inside the first statement
        // and one across statements.
        let n = 2 * alerts::INSERT_ROWS + 57;
        let events: Vec<_> = (0..n).map(|_| ids.next_now()).collect();
        let mut batch: Vec<NewAlert> = events
            .iter()
            .enumerate()
            .map(|(i, e)| alert(&a, "r1", "high", *e, i as i64))
            .collect();
        batch.insert(3, batch[1].clone());
        batch.push(batch[0].clone());
        assert_eq!(state.insert_alerts(&batch).await.expect("insert"), n as u64);
        assert_eq!(state.insert_alerts(&batch).await.expect("replay"), 0);
        let mut seen = 0;
        let mut filter = AlertFilter {
            limit: Some(AlertFilter::MAX_LIMIT),
            ..AlertFilter::default()
        };
        loop {
            let page = state.alerts(&a, &filter).await.expect("page");
            seen += page.alerts.len();
            match page.next {
                Some(next) => filter.after = Some(next),
                None => break,
            }
        }
        assert_eq!(seen, n);
    }
}

#[test]
fn the_insert_statement_has_one_parameter_per_column() {
    let names = alerts::COLUMNS.split(',').count();
    assert_eq!(names, alerts::COLUMN_COUNT);
}
