//! The state's tests. Each scenario is an `async fn` taking a [`Fresh`] database and runs
//! twice: on SQLite (one `#[test]` each, in module `sqlite`) and on PostgreSQL (all in one
//! `#[test]`, `postgres_suite`, which starts one throwaway cluster and gives each scenario
//! a database of its own; it skips visibly without the `postgresql` package, and fails
//! under `CI=true`).

use vigie_event::time::Timestamp;
use vigie_event::{EventIdGenerator, TenantId};
use vigie_testkit::postgres::Cluster;

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
    organisations_own_tenants_and_users_belong_to_one,
    grants_and_elevations_change_status_once,
    sessions_and_personal_tokens_end_when_they_should,
    second_factors_are_spent_once,
    the_audit_trail_chains_and_verifies,
    alerts_move_through_triage_and_keep_their_history,
    alerts_are_grouped_as_they_are_written,
    priority_weighs_the_rule_record_and_the_host,
    alerts_are_assigned_commented_and_acted_on_in_bulk,
    concurrent_writers_wait_for_each_other,
    the_source_inventory_counts_bounds_and_raises_silences,
    notifications_are_queued_with_what_happened_and_delivered_once,
    a_tenant_with_many_deliveries_waiting_never_hides_another,
);

use vigie_govern::grant::{GrantStatus, UserId, Widening};
use vigie_govern::{OrgKind, Role, Tier};

const HOUR: i64 = 3_600_000_000_000;

async fn people(state: &State) -> (UserId, UserId, UserId, TenantId) {
    let client = state
        .create_org("Mutuelle Exemple", OrgKind::Client)
        .await
        .expect("client");
    let provider = state
        .create_org("Veille SOC", OrgKind::Provider)
        .await
        .expect("provider");
    let tenant = TenantId::new("mutuelle").expect("tenant");
    state
        .create_tenant_for(&tenant, client)
        .await
        .expect("tenant");
    let user = |org, login: &str, role| NewUser {
        org,
        login: login.to_owned(),
        name: login.to_owned(),
        role,
        password: None,
        contract_end: None,
    };
    let admin = state
        .create_user(&user(client, "claire", Role::ClientAdmin))
        .await
        .expect("client admin");
    let padmin = state
        .create_user(&user(provider, "paul", Role::ProviderAdmin))
        .await
        .expect("provider admin");
    let analyst = state
        .create_user(&user(provider, "lea", Role::ProviderAnalyst(Tier::L1)))
        .await
        .expect("analyst");
    (admin, padmin, analyst, tenant)
}

async fn organisations_own_tenants_and_users_belong_to_one(db: Fresh) {
    let state = db.open().await;
    // A tenant made the old way is adopted by a client organisation of its name.
    let legacy = TenantId::new("legacy").expect("tenant");
    state.create_tenant(&legacy).await.expect("legacy");
    let org = state
        .org_by_name("legacy")
        .await
        .expect("read")
        .expect("adopted");
    assert_eq!(org.kind, OrgKind::Client);
    assert_eq!(
        state.tenant_owner(&legacy).await.expect("owner"),
        Some(org.id)
    );
    let (_, _, _, tenant) = people(&state).await;
    let provider = state
        .org_by_name("Veille SOC")
        .await
        .expect("read")
        .expect("provider");
    assert!(matches!(
        state.create_org("Veille SOC", OrgKind::Client).await,
        Err(StateError::Exists(_))
    ));
    // Only clients own tenants; a role must be one of the organisation's kind.
    let t2 = TenantId::new("t2").expect("tenant");
    assert!(matches!(
        state.create_tenant_for(&t2, provider.id).await,
        Err(StateError::Invalid(_))
    ));
    let wrong = NewUser {
        org: provider.id,
        login: "x".into(),
        name: "x".into(),
        role: Role::Ciso,
        password: None,
        contract_end: None,
    };
    assert!(matches!(
        state.create_user(&wrong).await,
        Err(StateError::Invalid(_))
    ));
    let dup = NewUser {
        role: Role::ProviderAdmin,
        login: "lea".into(),
        ..wrong.clone()
    };
    assert!(matches!(
        state.create_user(&dup).await,
        Err(StateError::Exists(_))
    ));
    let bad = NewUser {
        role: Role::ProviderAdmin,
        login: "a b".into(),
        ..wrong
    };
    assert!(matches!(
        state.create_user(&bad).await,
        Err(StateError::Invalid(_))
    ));
    assert_eq!(state.users_of(provider.id).await.expect("users").len(), 2);
    let client = state
        .tenant_owner(&tenant)
        .await
        .expect("owner")
        .expect("some");
    assert_eq!(
        state.tenants_of(client).await.expect("tenants"),
        vec![tenant.clone()]
    );
    let settings = TenantSettings {
        sensitive_fields: vec!["User".into(), "SourceIp".into()],
        max_elevation_hours: 2,
        grouping: Default::default(),
    };
    state
        .set_tenant_settings(&tenant, &settings)
        .await
        .expect("settings");
    assert_eq!(
        state.tenant_settings(&tenant).await.expect("read"),
        Some(settings)
    );
}

async fn grants_and_elevations_change_status_once(db: Fresh) {
    let state = db.open().await;
    let (admin, padmin, analyst, tenant) = people(&state).await;
    let now = Timestamp::now();
    let id = state
        .insert_grant(&NewGrant {
            analyst,
            requester: padmin,
            tenant: tenant.clone(),
            tier: Tier::L1,
            from: now,
            until: Timestamp::from_nanos(now.as_nanos() + 24 * HOUR),
            justification: "contrat de supervision 2027".into(),
        })
        .await
        .expect("request");
    let stored = state.grant(id).await.expect("read").expect("exists");
    assert_eq!(stored.grant.status, GrantStatus::Pending);
    assert_eq!(stored.grant.analyst.user, analyst);
    assert_eq!(stored.grant.requester.user, padmin);
    assert_eq!(
        Some(stored.grant.tenant_owner),
        state.tenant_owner(&tenant).await.expect("owner")
    );
    // Two decisions race: one wins.
    assert!(
        state
            .set_grant_status(id, GrantStatus::Pending, GrantStatus::Approved, admin, now)
            .await
            .expect("approve")
    );
    assert!(
        !state
            .set_grant_status(id, GrantStatus::Pending, GrantStatus::Refused, admin, now)
            .await
            .expect("refuse late")
    );
    let on = state.grants_on(&tenant).await.expect("on tenant");
    assert_eq!(on.len(), 1);
    assert_eq!(on[0].grant.status, GrantStatus::Approved);
    assert_eq!(on[0].decided_by, Some(admin));
    let provider = state.user(padmin).await.expect("read").expect("user").org;
    assert_eq!(
        state
            .grants_of_provider(provider)
            .await
            .expect("provider")
            .len(),
        1
    );

    let e = state
        .insert_elevation(
            id,
            "alert-1",
            Widening::Tier(Tier::L2),
            2,
            "needs L2 eyes on it",
        )
        .await
        .expect("elevation");
    assert_eq!(
        state
            .elevation(e)
            .await
            .expect("read")
            .expect("some")
            .status,
        "pending"
    );
    assert!(
        state
            .decide_elevation(e, true, admin, now)
            .await
            .expect("approve")
    );
    assert!(
        !state
            .decide_elevation(e, false, admin, now)
            .await
            .expect("again")
    );
    let all = state.elevations_of(&[id]).await.expect("list");
    assert_eq!(all.len(), 1);
    let el = &all[0].elevation;
    assert!(el.approved);
    assert_eq!(el.grant_tier, Tier::L1);
    assert_eq!(el.until.as_nanos() - el.from.as_nanos(), 2 * HOUR);
    assert!(vigie_govern::grant::elevation_active(el, now));
    assert!(!vigie_govern::grant::elevation_active(
        el,
        Timestamp::from_nanos(now.as_nanos() + 2 * HOUR)
    ));
}

async fn sessions_and_personal_tokens_end_when_they_should(db: Fresh) {
    let state = db.open().await;
    let (admin, _, analyst, _) = people(&state).await;
    let now = Timestamp::now();
    let one = state
        .create_session(analyst, true, Some("127.0.0.1"), now)
        .await
        .expect("s1");
    let two = state
        .create_session(analyst, true, None, now)
        .await
        .expect("s2");
    assert_eq!(one.len(), 43);
    assert_ne!(one, two);
    let s1 = state.session(&one).await.expect("read").expect("open");
    assert_eq!(s1.user, analyst);
    assert!(s1.mfa);
    assert_ne!(s1.hash, one, "the id itself is never stored");
    // Ending all but the current one (a password change) keeps it.
    assert_eq!(
        state
            .end_sessions_of(analyst, Some(&s1.hash))
            .await
            .expect("end"),
        1
    );
    assert!(state.session(&two).await.expect("read").is_none());
    assert!(state.session(&one).await.expect("read").is_some());

    let token = state
        .create_personal_token(analyst, "cli", Timestamp::from_nanos(now.as_nanos() + HOUR))
        .await
        .expect("token");
    assert!(token.as_str().starts_with("vgp_"));
    let Some(Principal::User { user, token: id }) =
        state.authenticate(token.as_str()).await.expect("auth")
    else {
        panic!("a personal token authenticates its user");
    };
    assert_eq!(user, analyst);
    assert_eq!(
        state.personal_tokens(analyst).await.expect("list")[0].id,
        id
    );
    // Another user cannot revoke it; its owner can.
    assert!(
        !state
            .revoke_personal_token(admin, &id)
            .await
            .expect("other")
    );
    assert!(
        state
            .revoke_personal_token(analyst, &id)
            .await
            .expect("own")
    );
    assert_eq!(
        state.authenticate(token.as_str()).await.expect("auth"),
        None
    );
    // An expired one is refused.
    let old = state
        .create_personal_token(analyst, "old", Timestamp::from_nanos(now.as_nanos() - 1))
        .await
        .expect("token");
    assert_eq!(state.authenticate(old.as_str()).await.expect("auth"), None);

    // An enrolment token works once, and a newer one retires the older.
    let later = Timestamp::from_nanos(now.as_nanos() + HOUR);
    let first = state
        .create_enrolment_token(analyst, later)
        .await
        .expect("enrol");
    let second = state
        .create_enrolment_token(analyst, later)
        .await
        .expect("enrol");
    assert!(first.as_str().starts_with("vge_"));
    assert_eq!(
        state
            .redeem_enrolment(first.as_str(), now)
            .await
            .expect("old"),
        None
    );
    assert_eq!(
        state.authenticate(second.as_str()).await.expect("auth"),
        None
    );
    assert_eq!(
        state
            .redeem_enrolment(second.as_str(), now)
            .await
            .expect("redeem"),
        Some(analyst)
    );
    assert_eq!(
        state
            .redeem_enrolment(second.as_str(), now)
            .await
            .expect("again"),
        None
    );
    let expired = state
        .create_enrolment_token(analyst, now)
        .await
        .expect("enrol");
    assert_eq!(
        state
            .redeem_enrolment(expired.as_str(), now)
            .await
            .expect("expired"),
        None
    );

    // Suspension ends every session.
    state
        .set_user_status(analyst, UserStatus::Suspended)
        .await
        .expect("suspend");
    assert!(state.session(&one).await.expect("read").is_none());
    assert_eq!(
        state
            .user(analyst)
            .await
            .expect("read")
            .expect("user")
            .status,
        UserStatus::Suspended
    );
}

async fn second_factors_are_spent_once(db: Fresh) {
    let state = db.open().await;
    let (_, _, analyst, _) = people(&state).await;
    state
        .enrol_totp(analyst, "v1.sealed", &["h1".into(), "h2".into()])
        .await
        .expect("enrol");
    let user = state.user(analyst).await.expect("read").expect("user");
    assert!(user.mfa_enrolled);
    assert_eq!(user.totp_seed.as_deref(), Some("v1.sealed"));
    assert!(state.use_totp_step(analyst, 100).await.expect("first"));
    assert!(!state.use_totp_step(analyst, 100).await.expect("replay"));
    assert!(!state.use_totp_step(analyst, 99).await.expect("older"));
    assert!(state.use_totp_step(analyst, 101).await.expect("next"));
    assert!(state.use_recovery_code(analyst, "h1").await.expect("code"));
    assert!(!state.use_recovery_code(analyst, "h1").await.expect("spent"));
    assert!(
        !state
            .use_recovery_code(analyst, "nope")
            .await
            .expect("unknown")
    );
    // Failed sign-ins count up, forget themselves after a while, and clear.
    let t = Timestamp::now();
    let forget = std::time::Duration::from_secs(900);
    for _ in 0..2 {
        state
            .record_login_failure("user:lea", t, forget)
            .await
            .expect("fail");
    }
    assert_eq!(
        state.login_failures("user:lea").await.expect("read"),
        (2, Some(t))
    );
    // Fifteen minutes to the nanosecond: still counted; one more: the count starts again.
    let edge = Timestamp::from_nanos(t.as_nanos() + 900_000_000_000);
    state
        .record_login_failure("user:lea", edge, forget)
        .await
        .expect("fail");
    assert_eq!(
        state.login_failures("user:lea").await.expect("read"),
        (3, Some(edge))
    );
    let later = Timestamp::from_nanos(edge.as_nanos() + 900_000_000_001);
    state
        .record_login_failure("user:lea", later, forget)
        .await
        .expect("fail");
    assert_eq!(
        state.login_failures("user:lea").await.expect("read"),
        (1, Some(later))
    );
    state.clear_login_failures("user:lea").await.expect("clear");
    assert_eq!(
        state.login_failures("user:lea").await.expect("read"),
        (0, None)
    );
}

async fn the_audit_trail_chains_and_verifies(db: Fresh) {
    use vigie_govern::audit::record::{Outcome, Record, Who};
    let state = db.open().await;
    let record = |n: u64, action: &str| Record {
        time: format!("2026-12-07T10:00:{n:02}Z"),
        who: Who {
            user: Some(n % 2 + 1),
            org: Some(7),
            ..Who::default()
        },
        action: action.to_owned(),
        tenant: Some("mutuelle".into()),
        objects: vec![format!("alert-{n}")],
        query: None,
        count: Some(n),
        outcome: Outcome::Allowed,
        before: None,
        after: None,
    };
    let chain = audit::tenant_chain("mutuelle");
    let entries: Vec<audit::AuditEntry> = (0..5)
        .map(|n| audit::AuditEntry {
            chain: if n == 4 {
                audit::PLATFORM_CHAIN.into()
            } else {
                chain.clone()
            },
            record: record(
                n,
                if n % 2 == 0 {
                    "read-alerts"
                } else {
                    "search-events"
                },
            ),
            time: Timestamp::from_nanos(n as i64),
        })
        .collect();
    let seqs = |a: &[audit::Appended]| a.iter().map(|x| x.seq).collect::<Vec<_>>();
    let first = state.append_audit(&entries[..2]).await.expect("append");
    assert_eq!(seqs(&first), vec![1, 2]);
    let appended = state.append_audit(&entries[2..]).await.expect("append");
    assert_eq!(seqs(&appended), vec![3, 4, 1]);
    assert_eq!(
        state.audit_chains().await.expect("chains"),
        vec![("platform".to_owned(), 1), (chain.clone(), 4)]
    );
    let stored = state.audit_stored(&chain, 0, 100).await.expect("stored");
    assert_eq!(stored.len(), 4);
    vigie_govern::audit::verify(&stored, &[]).expect("an untouched chain verifies");
    assert_eq!(appended[1].head, stored[3].chain);
    assert_eq!(appended[1].leaf, stored[3].leaf);
    // Pages of the verifier's read join up.
    let tail = state.audit_stored(&chain, 2, 100).await.expect("tail");
    assert_eq!(tail, stored[2..]);

    let reads = state
        .audit_rows(
            &chain,
            &audit::AuditFilter {
                action: Some("read-alerts".into()),
                ..audit::AuditFilter::default()
            },
        )
        .await
        .expect("filter");
    assert_eq!(reads.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![3, 1]);
    let by_actor = state
        .audit_rows(
            &chain,
            &audit::AuditFilter {
                actor: Some(2),
                before: Some(4),
                limit: Some(1),
                ..audit::AuditFilter::default()
            },
        )
        .await
        .expect("filter");
    assert_eq!(by_actor.len(), 1);
    assert_eq!(by_actor[0].seq, 2);
    assert_eq!(by_actor[0].record["objects"][0], "alert-1");

    // A field edited in SQL is found.
    sqlx::query("UPDATE audit SET record = REPLACE(record, 'alert-2', 'alert-9') WHERE seq = 3 AND chain = $1")
        .bind(&chain)
        .execute(&state.pool)
        .await
        .expect("tamper");
    let stored = state.audit_stored(&chain, 0, 100).await.expect("stored");
    assert_eq!(
        vigie_govern::audit::verify(&stored, &[]),
        Err(vigie_govern::audit::Tamper::Edited { seq: 3 })
    );

    state
        .insert_checkpoint(&chain, 4, "note")
        .await
        .expect("checkpoint");
    state
        .insert_checkpoint(&chain, 4, "note")
        .await
        .expect("idempotent");
    assert_eq!(
        state.checkpoints().await.expect("read"),
        vec![(chain, 4, "note".into())]
    );
}

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
        user: None,
        source: None,
        matched: serde_json::json!({"Image": "C:\\x.exe"}),
    }
}

async fn tokens_authenticate_to_their_principal_only(db: Fresh) {
    {
        let state = db.open().await;
        // An administrator token left by a version before people existed opens nothing.
        let legacy = format!("vgi_{}", "ab".repeat(32));
        sqlx::query(
            "INSERT INTO tokens (hash, role, tenant, label, created_at) \
             VALUES ($1, 'admin', NULL, 'first start', 0)",
        )
        .bind(tokens::digest(&legacy))
        .execute(&state.pool)
        .await
        .expect("legacy row");
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
        assert_eq!(state.authenticate(&legacy).await.expect("auth"), None);
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

const DAY: i64 = 86_400_000_000_000;

/// Idempotency keys: the first attempt's time, then its answer, for a day.
async fn a_key_keeps_its_first_time_then_its_answer_for_a_day(db: Fresh) {
    {
        let state = db.open().await;
        let a = TenantId::new("a").expect("tenant");
        let b = TenantId::new("b").expect("tenant");
        state.create_tenant(&a).await.expect("a");
        state.create_tenant(&b).await.expect("b");
        let t0 = Timestamp::from_nanos(1_795_132_800 * 1_000_000_000);
        let later = Timestamp::from_nanos(t0.as_nanos() + 5_000_000_000);
        assert_eq!(
            state
                .idempotency_begin(&a, "k1", t0, 10)
                .await
                .expect("begin"),
            Idempotent::Process(t0)
        );
        // Retried before an answer: the first attempt's time.
        assert_eq!(
            state
                .idempotency_begin(&a, "k1", later, 10)
                .await
                .expect("begin"),
            Idempotent::Process(t0)
        );
        // Another tenant's same key is its own.
        assert_eq!(
            state
                .idempotency_begin(&b, "k1", later, 10)
                .await
                .expect("begin"),
            Idempotent::Process(later)
        );
        state
            .idempotency_finish(&a, "k1", "{\"accepted\":3}")
            .await
            .expect("finish");
        assert_eq!(
            state
                .idempotency_begin(&a, "k1", later, 10)
                .await
                .expect("begin"),
            Idempotent::Answered("{\"accepted\":3}".to_owned())
        );
        assert_eq!(state.idempotency_keys(&a).await.expect("count"), 1);
        // A day and a nanosecond later, the key is new again.
        let next_day = Timestamp::from_nanos(t0.as_nanos() + DAY + 1);
        assert_eq!(
            state
                .idempotency_begin(&a, "k1", next_day, 10)
                .await
                .expect("begin"),
            Idempotent::Process(next_day)
        );
        // Exactly a day after it was made, b's key is still remembered.
        let b_day = Timestamp::from_nanos(later.as_nanos() + DAY);
        assert_eq!(
            state
                .idempotency_begin(&b, "k1", b_day, 10)
                .await
                .expect("begin"),
            Idempotent::Process(later)
        );
        // At the limit, a new key is refused; an expired one frees a place.
        assert_eq!(
            state
                .idempotency_begin(&a, "k2", next_day, 1)
                .await
                .expect("begin"),
            Idempotent::OverQuota
        );
        assert_eq!(
            state
                .idempotency_begin(&a, "k1", next_day, 1)
                .await
                .expect("begin"),
            Idempotent::Process(next_day)
        );
        let much_later = Timestamp::from_nanos(next_day.as_nanos() + 2 * DAY);
        assert_eq!(
            state
                .idempotency_begin(&a, "k3", much_later, 1)
                .await
                .expect("begin"),
            Idempotent::Process(much_later)
        );
        assert_eq!(state.idempotency_keys(&a).await.expect("count"), 1);
        assert_eq!(
            state
                .idempotency_purge(Timestamp::from_nanos(later.as_nanos() + DAY + 1))
                .await
                .expect("purge"),
            1
        );
        assert_eq!(state.idempotency_keys(&b).await.expect("count"), 0);
        assert_eq!(state.idempotency_keys(&a).await.expect("count"), 1);
    }
}

async fn alerts_move_through_triage_and_keep_their_history(db: Fresh) {
    use vigie_govern::triage::{Qualification, Refusal, Status, Transition};

    use crate::triage::Outcome;
    let (state, tenants) = db.with(&["a", "b"]).await;
    let (a, b) = (tenants[0].clone(), tenants[1].clone());
    let mut ids = EventIdGenerator::new();
    state
        .insert_alerts(&[alert(&a, "r1", "high", ids.next_now(), 1)])
        .await
        .expect("insert");
    let id = state
        .alerts(&a, &AlertFilter::default())
        .await
        .expect("list")
        .alerts[0]
        .id
        .clone();
    let l1 = Role::ProviderAnalyst(Tier::L1);
    let l2 = Role::ProviderAnalyst(Tier::L2);
    let (lea, hugo) = (UserId(11), UserId(22));
    let at = |s: i64| Timestamp::from_nanos(s * 1_000_000_000);
    let go = |t: Transition, role: Role, who: UserId, note: Option<&'static str>, s: i64| {
        let (state, a, id) = (state.clone(), a.clone(), id.clone());
        async move {
            state
                .transition_alert(&a, &id, t, role, Some(who), note, at(s))
                .await
                .expect("transition")
        }
    };
    // Acknowledged once; the second time is refused by the lifecycle, nothing written.
    assert!(matches!(
        go(Transition::Acknowledge, l1, lea, None, 10).await,
        Outcome::Done { seq: 1, .. }
    ));
    assert!(matches!(
        go(Transition::Acknowledge, l1, lea, None, 11).await,
        Outcome::Refused(Refusal::Status(_))
    ));
    // Escalation needs its note; then L1 no longer reaches it, L2 does.
    assert!(matches!(
        go(Transition::Escalate(Tier::L2), l1, lea, None, 12).await,
        Outcome::Refused(Refusal::Note(_))
    ));
    let done = go(
        Transition::Escalate(Tier::L2),
        l1,
        lea,
        Some("lsass read by rundll32"),
        13,
    )
    .await;
    let Outcome::Done { from, to, seq } = done else {
        panic!("{done:?}")
    };
    assert_eq!(
        (from.status, to.status, to.queue, seq),
        (Status::Acknowledged, Status::Escalated, Tier::L2, 2)
    );
    assert_eq!(
        go(
            Transition::Qualify(Qualification::TruePositive),
            l1,
            lea,
            Some("x"),
            14
        )
        .await,
        Outcome::Refused(Refusal::Queue)
    );
    assert!(matches!(
        go(
            Transition::Qualify(Qualification::TruePositive),
            l2,
            hugo,
            Some("credential dumping"),
            15
        )
        .await,
        Outcome::Done { seq: 3, .. }
    ));
    assert!(matches!(
        go(Transition::Close, l2, hugo, None, 16).await,
        Outcome::Done { seq: 4, .. }
    ));
    // The alert's row says where it is now.
    let now = state.alert(&a, &id).await.expect("read").expect("alert");
    assert_eq!(now.status, AlertStatus::Closed);
    // The history, in order, with who and what.
    let history = state.alert_history(&a, &id).await.expect("history");
    let steps: Vec<(&str, &str, &str)> = history
        .iter()
        .map(|h| (h.action.as_str(), h.from.as_str(), h.to.as_str()))
        .collect();
    assert_eq!(
        steps,
        [
            ("acknowledge", "new", "acknowledged"),
            ("escalate", "acknowledged", "escalated"),
            ("qualify", "escalated", "qualified"),
            ("close", "qualified", "closed"),
        ]
    );
    assert_eq!(history[0].actor, Some(11));
    assert_eq!(history[0].at, 10_000_000_000);
    assert_eq!(history[1].note.as_deref(), Some("lsass read by rundll32"));
    assert_eq!(history[1].queue, "l2");
    assert_eq!(history[2].qualification.as_deref(), Some("true-positive"));
    assert_eq!(history[2].actor, Some(22));
    assert_eq!(history[3].note, None);
    // Another tenant neither moves nor reads it.
    assert_eq!(
        state
            .transition_alert(
                &b,
                &id,
                Transition::Reopen,
                l2,
                Some(hugo),
                Some("x"),
                at(20)
            )
            .await
            .expect("other tenant"),
        Outcome::NoAlert
    );
    assert!(
        state
            .alert_history(&b, &id)
            .await
            .expect("history")
            .is_empty()
    );
    // The status filter knows the new statuses.
    let closed = AlertFilter {
        status: Some(AlertStatus::Closed),
        ..AlertFilter::default()
    };
    assert_eq!(
        state
            .alerts(&a, &closed)
            .await
            .expect("closed")
            .alerts
            .len(),
        1
    );
    state.close().await;
}

fn on_host(mut a: NewAlert, host: &str, user: Option<&str>) -> NewAlert {
    a.host = Some(host.to_owned());
    a.user = user.map(str::to_owned);
    a
}

async fn alerts_are_grouped_as_they_are_written(db: Fresh) {
    use vigie_govern::grouping::{Entity, Grouping, WhenClosed};
    use vigie_govern::triage::{Qualification, Transition};
    let (state, tenants) = db.with(&["a", "b"]).await;
    let (a, b) = (tenants[0].clone(), tenants[1].clone());
    let mut ids = EventIdGenerator::new();
    let min = 60_000_000_000i64;
    // One rule on one host within the window: one group, even across batches; another
    // host, another rule or another tenant: other groups.
    let first = vec![
        on_host(
            alert(&a, "r1", "high", ids.next_now(), 10 * min),
            "ws-1",
            None,
        ),
        on_host(
            alert(&a, "r1", "high", ids.next_now(), 11 * min),
            "ws-1",
            None,
        ),
        on_host(
            alert(&a, "r1", "high", ids.next_now(), 12 * min),
            "ws-2",
            None,
        ),
        on_host(
            alert(&a, "r2", "low", ids.next_now(), 12 * min),
            "ws-1",
            None,
        ),
        on_host(
            alert(&b, "r1", "high", ids.next_now(), 12 * min),
            "ws-1",
            None,
        ),
    ];
    assert_eq!(state.insert_alerts(&first).await.expect("insert"), 5);
    // A replay adds nothing, to the alerts or to the groups' counts.
    assert_eq!(state.insert_alerts(&first).await.expect("replay"), 0);
    let late = on_host(
        alert(&a, "r1", "high", ids.next_now(), 9 * min),
        "ws-1",
        None,
    );
    assert_eq!(state.insert_alerts(&[late]).await.expect("late"), 1);
    let groups = state
        .alert_groups(&a, &GroupFilter::default())
        .await
        .expect("groups");
    assert_eq!(groups.len(), 3, "{groups:?}");
    let g = groups
        .iter()
        .find(|g| g.rule_id == "r1" && g.entity_value == "ws-1")
        .expect("r1 on ws-1");
    assert_eq!((g.count, g.open), (3, 3));
    assert_eq!(g.entity, "host");
    assert_eq!(g.first, "1970-01-01T00:09:00Z");
    assert_eq!(g.last, "1970-01-01T00:11:00Z");
    assert_eq!(
        state
            .alert_groups(&b, &GroupFilter::default())
            .await
            .expect("b")
            .len(),
        1
    );
    assert!(state.alert_group(&b, &g.id).await.expect("read").is_none());
    // Closing every alert closes the group (its open count); a new alert reopens it.
    let members = state
        .alerts(
            &a,
            &AlertFilter {
                group: Some(g.id.to_string()),
                ..AlertFilter::default()
            },
        )
        .await
        .expect("members")
        .alerts;
    assert_eq!(members.len(), 3);
    let ids_of: Vec<AlertId> = members.iter().map(|m| m.id.clone()).collect();
    let l1 = Role::ProviderAnalyst(Tier::L1);
    let now = Timestamp::from_nanos(HOUR);
    for (t, note) in [
        (Transition::Acknowledge, None),
        (
            Transition::Qualify(Qualification::FalsePositive),
            Some("backup job"),
        ),
        (Transition::Close, None),
    ] {
        let out = state
            .transition_alerts(&a, &ids_of, t, l1, Some(UserId(1)), note, now)
            .await
            .expect("bulk");
        assert_eq!(out.done, 3, "{t:?} {out:?}");
    }
    let closed = state
        .alert_group(&a, &g.id)
        .await
        .expect("read")
        .expect("group");
    assert_eq!((closed.count, closed.open), (3, 0));
    let open_only = GroupFilter {
        open: true,
        ..GroupFilter::default()
    };
    assert!(
        !state
            .alert_groups(&a, &open_only)
            .await
            .expect("open")
            .iter()
            .any(|x| x.id == g.id)
    );
    let again = on_host(
        alert(&a, "r1", "high", ids.next_now(), 11 * min + 5),
        "ws-1",
        None,
    );
    state.insert_alerts(&[again]).await.expect("insert");
    let reopened = state
        .alert_group(&a, &g.id)
        .await
        .expect("read")
        .expect("group");
    assert_eq!((reopened.count, reopened.open), (4, 1));
    // Beyond the window (a day by default), a new group.
    let next_day = on_host(
        alert(&a, "r1", "high", ids.next_now(), 12 * min + 24 * 60 * min),
        "ws-1",
        None,
    );
    state.insert_alerts(&[next_day]).await.expect("insert");
    assert_eq!(
        state
            .alert_groups(
                &a,
                &GroupFilter {
                    rule: Some("r1".into()),
                    ..GroupFilter::default()
                }
            )
            .await
            .expect("groups")
            .len(),
        3
    );
    // With `when_closed = new` and grouping by user, a closed group stays closed.
    let mut settings = state
        .tenant_settings(&a)
        .await
        .expect("settings")
        .expect("tenant");
    settings.grouping = Grouping {
        when_closed: WhenClosed::New,
        entity: Entity::User,
        ..Grouping::default()
    };
    state.set_tenant_settings(&a, &settings).await.expect("set");
    let by_user = vec![
        on_host(
            alert(&a, "r9", "high", ids.next_now(), 10 * min),
            "ws-1",
            Some("alice"),
        ),
        on_host(
            alert(&a, "r9", "high", ids.next_now(), 10 * min),
            "ws-2",
            Some("alice"),
        ),
        on_host(
            alert(&a, "r9", "high", ids.next_now(), 10 * min),
            "ws-2",
            Some("bob"),
        ),
    ];
    state.insert_alerts(&by_user).await.expect("insert");
    let r9 = state
        .alert_groups(
            &a,
            &GroupFilter {
                rule: Some("r9".into()),
                ..GroupFilter::default()
            },
        )
        .await
        .expect("groups");
    let mut seen: Vec<(String, String, u64)> = r9
        .iter()
        .map(|g| (g.entity.clone(), g.entity_value.clone(), g.count))
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("user".into(), "alice".into(), 2),
            ("user".into(), "bob".into(), 1)
        ]
    );
    let alice = r9
        .iter()
        .find(|g| g.entity_value == "alice")
        .expect("alice");
    let of_alice: Vec<AlertId> = state
        .alerts(
            &a,
            &AlertFilter {
                group: Some(alice.id.to_string()),
                ..AlertFilter::default()
            },
        )
        .await
        .expect("alice's")
        .alerts
        .iter()
        .map(|x| x.id.clone())
        .collect();
    for (t, note) in [
        (Transition::Acknowledge, None),
        (Transition::Qualify(Qualification::Benign), Some("admin")),
        (Transition::Close, None),
    ] {
        state
            .transition_alerts(&a, &of_alice, t, l1, Some(UserId(1)), note, now)
            .await
            .expect("bulk");
    }
    let more = on_host(
        alert(&a, "r9", "high", ids.next_now(), 10 * min + 1),
        "ws-3",
        Some("alice"),
    );
    state.insert_alerts(&[more]).await.expect("insert");
    let r9 = state
        .alert_groups(
            &a,
            &GroupFilter {
                rule: Some("r9".into()),
                ..GroupFilter::default()
            },
        )
        .await
        .expect("groups");
    assert_eq!(r9.len(), 3, "a closed group stays closed: {r9:?}");
    // Grouping settings are checked.
    settings.grouping.window_minutes = 0;
    assert!(state.set_tenant_settings(&a, &settings).await.is_err());
    state.close().await;
}

async fn priority_weighs_the_rule_record_and_the_host(db: Fresh) {
    use vigie_govern::assets::Asset;
    use vigie_govern::priority::Criticality;
    use vigie_govern::triage::{Qualification, Transition};
    let (state, tenants) = db.with(&["a", "b"]).await;
    let (a, b) = (tenants[0].clone(), tenants[1].clone());
    state
        .replace_assets(
            &a,
            &[
                Asset {
                    host: "dc01".into(),
                    criticality: Criticality::Critical,
                    owner: Some("it".into()),
                },
                Asset {
                    host: "kiosk".into(),
                    criticality: Criticality::Low,
                    owner: None,
                },
            ],
        )
        .await
        .expect("assets");
    assert_eq!(state.assets(&a).await.expect("list").len(), 2);
    assert!(state.assets(&b).await.expect("list").is_empty());
    let mut ids = EventIdGenerator::new();
    let t = Timestamp::now().as_nanos();
    let batch = vec![
        on_host(
            alert(&a, "r1", "high", ids.next_now(), t),
            "DC01.corp.example",
            None,
        ),
        on_host(alert(&a, "r1", "high", ids.next_now(), t), "kiosk", None),
        on_host(alert(&a, "r1", "high", ids.next_now(), t), "ws-9", None),
        on_host(alert(&b, "r1", "high", ids.next_now(), t), "dc01", None),
    ];
    state.insert_alerts(&batch).await.expect("insert");
    let prio = |tenant: TenantId, host: &'static str| {
        let state = state.clone();
        async move {
            state
                .alerts(
                    &tenant,
                    &AlertFilter {
                        host: Some(host.into()),
                        ..AlertFilter::default()
                    },
                )
                .await
                .expect("list")
                .alerts
                .iter()
                .map(|x| x.priority)
                .max()
                .expect("one")
        }
    };
    assert_eq!(prio(a.clone(), "DC01.corp.example").await, 98);
    assert_eq!(prio(a.clone(), "kiosk").await, 56);
    assert_eq!(prio(a.clone(), "ws-9").await, 70);
    // Another tenant's list does not count.
    assert_eq!(prio(b.clone(), "dc01").await, 70);
    // Five false positives of r1 in this tenant: its next alerts sink (40 % of the base).
    let mut fp = Vec::new();
    for _ in 0..5 {
        fp.push(on_host(
            alert(&a, "r1", "high", ids.next_now(), t),
            "fp-host",
            None,
        ));
    }
    state.insert_alerts(&fp).await.expect("insert");
    let fp_ids: Vec<AlertId> = state
        .alerts(
            &a,
            &AlertFilter {
                host: Some("fp-host".into()),
                ..AlertFilter::default()
            },
        )
        .await
        .expect("list")
        .alerts
        .iter()
        .map(|x| x.id.clone())
        .collect();
    let l1 = Role::ProviderAnalyst(Tier::L1);
    let now = Timestamp::now();
    for (tr, note) in [
        (Transition::Acknowledge, None),
        (
            Transition::Qualify(Qualification::FalsePositive),
            Some("noise"),
        ),
    ] {
        let out = state
            .transition_alerts(&a, &fp_ids, tr, l1, Some(UserId(1)), note, now)
            .await
            .expect("bulk");
        assert_eq!(out.done, 5);
    }
    state
        .insert_alerts(&[on_host(
            alert(&a, "r1", "high", ids.next_now(), t),
            "after",
            None,
        )])
        .await
        .expect("insert");
    assert_eq!(prio(a.clone(), "after").await, 28);
    // Not in the other tenant, whose record of r1 is its own.
    state
        .insert_alerts(&[on_host(
            alert(&b, "r1", "high", ids.next_now(), t),
            "after",
            None,
        )])
        .await
        .expect("insert");
    assert_eq!(prio(b.clone(), "after").await, 70);
    // Requalified as true positives, the rule recovers (the counts follow the change).
    for id in &fp_ids {
        state
            .transition_alert(
                &a,
                id,
                Transition::Qualify(Qualification::TruePositive),
                l1,
                Some(UserId(1)),
                Some("real"),
                now,
            )
            .await
            .expect("requalify");
    }
    state
        .insert_alerts(&[on_host(
            alert(&a, "r1", "high", ids.next_now(), t),
            "later",
            None,
        )])
        .await
        .expect("insert");
    assert_eq!(prio(a.clone(), "later").await, 70);
    // An import replaces the list.
    state.replace_assets(&a, &[]).await.expect("clear");
    assert!(state.assets(&a).await.expect("list").is_empty());
    state.close().await;
}

async fn alerts_are_assigned_commented_and_acted_on_in_bulk(db: Fresh) {
    use vigie_govern::triage::{Refusal, Transition};

    use crate::triage::{MAX_BULK, Outcome};
    let (state, tenants) = db.with(&["a", "b"]).await;
    let (a, b) = (tenants[0].clone(), tenants[1].clone());
    let mut ids = EventIdGenerator::new();
    let batch: Vec<NewAlert> = (0..4)
        .map(|i| alert(&a, &format!("r{i}"), "medium", ids.next_now(), i))
        .collect();
    state.insert_alerts(&batch).await.expect("insert");
    let all: Vec<AlertId> = state
        .alerts(&a, &AlertFilter::default())
        .await
        .expect("list")
        .alerts
        .iter()
        .map(|x| x.id.clone())
        .collect();
    let l1 = Role::ProviderAnalyst(Tier::L1);
    let l2 = Role::ProviderAnalyst(Tier::L2);
    let now = Timestamp::from_nanos(5 * HOUR);
    // Assigned to a person who can work it, then back to the queue.
    let out = state
        .assign_alert(
            &a,
            &all[0],
            l1,
            Some(UserId(1)),
            Some((UserId(7), l1)),
            Some("yours"),
            now,
        )
        .await
        .expect("assign");
    assert!(matches!(out, Outcome::Done { seq: 1, .. }), "{out:?}");
    let read = state
        .alert(&a, &all[0])
        .await
        .expect("read")
        .expect("alert");
    assert_eq!(read.assignee.as_deref(), Some("7"));
    let mine = AlertFilter {
        assignee: Some(7),
        ..AlertFilter::default()
    };
    assert_eq!(state.alerts(&a, &mine).await.expect("mine").alerts.len(), 1);
    assert_eq!(state.count_alerts(&a, &mine, 10).await.expect("count"), 1);
    assert_eq!(state.count_alerts(&b, &mine, 10).await.expect("count"), 0);
    // Not to an auditor; not by a role that does not triage; not in another tenant.
    assert_eq!(
        state
            .assign_alert(
                &a,
                &all[0],
                l1,
                Some(UserId(1)),
                Some((UserId(8), Role::Auditor)),
                None,
                now
            )
            .await
            .expect("assign"),
        Outcome::Refused(Refusal::Assignee)
    );
    assert_eq!(
        state
            .assign_alert(&a, &all[0], Role::Ciso, Some(UserId(1)), None, None, now)
            .await
            .expect("assign"),
        Outcome::Refused(Refusal::Role)
    );
    assert_eq!(
        state
            .assign_alert(&b, &all[0], l1, Some(UserId(1)), None, None, now)
            .await
            .expect("assign"),
        Outcome::NoAlert
    );
    state
        .assign_alert(&a, &all[0], l1, Some(UserId(1)), None, None, now)
        .await
        .expect("unassign");
    assert_eq!(
        state
            .alert(&a, &all[0])
            .await
            .expect("read")
            .expect("alert")
            .assignee,
        None
    );
    // A comment is a history row; an empty one is refused.
    let out = state
        .comment_alert(
            &a,
            &all[0],
            l1,
            Some(UserId(1)),
            "seen on the proxy too",
            now,
        )
        .await
        .expect("comment");
    assert!(matches!(out, Outcome::Done { seq: 3, .. }), "{out:?}");
    assert!(matches!(
        state
            .comment_alert(&a, &all[0], l1, Some(UserId(1)), " ", now)
            .await
            .expect("comment"),
        Outcome::Refused(Refusal::Note(_))
    ));
    let history = state.alert_history(&a, &all[0]).await.expect("history");
    let actions: Vec<(&str, Option<u64>, Option<&str>)> = history
        .iter()
        .map(|h| (h.action.as_str(), h.assignee, h.note.as_deref()))
        .collect();
    assert_eq!(
        actions,
        [
            ("assign", Some(7), Some("yours")),
            ("assign", None, None),
            ("comment", None, Some("seen on the proxy too")),
        ]
    );
    // Bulk: what the lifecycle refuses is counted, the rest done, all in one go; another
    // tenant's ids are missing, never touched.
    state
        .transition_alert(
            &a,
            &all[1],
            Transition::Acknowledge,
            l1,
            Some(UserId(1)),
            None,
            now,
        )
        .await
        .expect("ack one");
    let mut mixed = all.clone();
    mixed.push("01ARZ3NDEKTSV4RRFFQ69G5FAV".parse().expect("an id"));
    let out = state
        .transition_alerts(
            &a,
            &mixed,
            Transition::Acknowledge,
            l1,
            Some(UserId(1)),
            None,
            now,
        )
        .await
        .expect("bulk");
    assert_eq!(out.done, 3);
    assert_eq!(out.refused.values().sum::<u64>(), 1);
    assert_eq!(out.missing, 1);
    let out = state
        .transition_alerts(
            &b,
            &all,
            Transition::Acknowledge,
            l2,
            Some(UserId(1)),
            None,
            now,
        )
        .await
        .expect("bulk other tenant");
    assert_eq!((out.done, out.missing), (0, 4));
    let out = state
        .assign_alerts(
            &a,
            &all,
            l1,
            Some(UserId(1)),
            Some((UserId(9), l2)),
            None,
            now,
        )
        .await
        .expect("bulk assign");
    assert_eq!(out.done, 4);
    // The queue filter: escalated ones are in L2's.
    state
        .transition_alert(
            &a,
            &all[2],
            Transition::Escalate(Tier::L2),
            l1,
            Some(UserId(1)),
            Some("why"),
            now,
        )
        .await
        .expect("escalate");
    let l2_queue = AlertFilter {
        queue: Some("l2".into()),
        open: true,
        ..AlertFilter::default()
    };
    assert_eq!(
        state.alerts(&a, &l2_queue).await.expect("l2").alerts.len(),
        1
    );
    assert_eq!(
        state
            .count_alerts(&a, &AlertFilter::default(), 2)
            .await
            .expect("count"),
        3,
        "counts stop at max + 1"
    );
    let (page, next) = state
        .alert_ids(&a, &AlertFilter::default(), 3)
        .await
        .expect("ids");
    assert_eq!(page.len(), 3);
    let rest = AlertFilter {
        after: next,
        ..AlertFilter::default()
    };
    assert_eq!(
        state.alert_ids(&a, &rest, 3).await.expect("rest").0.len(),
        1
    );
    // The size of a bulk action is bounded.
    let too_many = vec![all[0].clone(); MAX_BULK + 1];
    assert!(
        state
            .transition_alerts(&a, &too_many, Transition::Acknowledge, l1, None, None, now)
            .await
            .is_err()
    );
    state.close().await;
}

/// The pipeline writes alert batches while analysts triage, each on a connection of its
/// own: every write must wait its turn, never fail with "database is locked" (SQLite's
/// snapshot rule fails a transaction that read and then writes after another wrote).
async fn concurrent_writers_wait_for_each_other(db: Fresh) {
    use vigie_govern::triage::Transition;
    let (state, tenants) = db.with(&["a"]).await;
    let a = tenants[0].clone();
    let mut ids = EventIdGenerator::new();
    let first: Vec<NewAlert> = (0..40)
        .map(|i| alert(&a, &format!("r{}", i % 4), "high", ids.next_now(), i))
        .collect();
    state.insert_alerts(&first).await.expect("insert");
    let all: Vec<AlertId> = state
        .alerts(&a, &AlertFilter::default())
        .await
        .expect("list")
        .alerts
        .iter()
        .map(|x| x.id.clone())
        .collect();
    let l1 = Role::ProviderAnalyst(Tier::L1);
    let mut work = Vec::new();
    for (i, id) in all.iter().enumerate() {
        let (state, a, id) = (state.clone(), a.clone(), id.clone());
        work.push(tokio::spawn(async move {
            let now = Timestamp::from_nanos(HOUR);
            state
                .transition_alert(
                    &a,
                    &id,
                    Transition::Acknowledge,
                    l1,
                    Some(UserId(1)),
                    None,
                    now,
                )
                .await
                .map(|_| ())?;
            state
                .comment_alert(&a, &id, l1, Some(UserId(1)), &format!("look {i}"), now)
                .await
                .map(|_| ())
        }));
    }
    for round in 0..10i64 {
        let (state, a) = (state.clone(), a.clone());
        let batch: Vec<NewAlert> = (0..20)
            .map(|i| {
                alert(
                    &a,
                    &format!("r{}", i % 4),
                    "high",
                    ids.next_now(),
                    1000 + round * 20 + i,
                )
            })
            .collect();
        work.push(tokio::spawn(async move {
            state.insert_alerts(&batch).await.map(|_| ())
        }));
    }
    for w in work {
        w.await.expect("task").expect("every write succeeds");
    }
    assert_eq!(
        state
            .count_alerts(&a, &AlertFilter::default(), 10_000)
            .await
            .expect("count"),
        240
    );
    state.close().await;
}

async fn the_source_inventory_counts_bounds_and_raises_silences(db: Fresh) {
    use crate::sources::{HOURS, MAX_SOURCES, OTHER, Seen};
    let (state, tenants) = db.with(&["a", "b"]).await;
    let (a, b) = (tenants[0].clone(), tenants[1].clone());
    let seen = |t: &TenantId, host: &str, events: u64, at: i64| Seen {
        tenant: t.clone(),
        source: "http".into(),
        host: host.into(),
        events,
        first: at,
        last: at,
    };
    let now = Timestamp::from_nanos(1000 * HOUR + 30 * 60_000_000_000);
    let at = now.as_nanos();
    // One key in two hours of the same batch, and in two batches.
    state
        .record_sources(&[
            seen(&a, "web", 3, at - HOUR),
            seen(&a, "web", 4, at),
            seen(&b, "web", 1, at),
        ])
        .await
        .expect("record");
    state
        .record_sources(&[seen(&a, "web", 5, at)])
        .await
        .expect("again");
    let inv = state.sources(&a, now).await.expect("inventory");
    assert_eq!(inv.len(), 1);
    assert_eq!(inv[0].events, 12);
    assert_eq!(inv[0].first_seen, at - HOUR);
    assert_eq!(inv[0].last_seen, at);
    assert_eq!(inv[0].hours.len(), HOURS as usize);
    assert_eq!(inv[0].hours[HOURS as usize - 1], 9, "this hour");
    assert_eq!(inv[0].hours[HOURS as usize - 2], 3, "the hour before");
    assert_eq!(state.sources(&b, now).await.expect("b")[0].events, 1);
    // Settings, and a silence raised once and cleared.
    assert!(
        state
            .set_source(&a, "http", "web", Some("IT"), Some(60))
            .await
            .expect("set")
    );
    assert!(
        !state
            .set_source(&a, "http", "nope", None, None)
            .await
            .expect("set")
    );
    let row = state.sources(&a, now).await.expect("inventory").remove(0);
    assert_eq!(
        (row.owner.as_deref(), row.threshold_s),
        (Some("IT"), Some(60))
    );
    let id = state.raise_silent(&row, 60, now).await.expect("raise");
    let alert = state
        .alert(&a, &id.parse().expect("id"))
        .await
        .expect("read")
        .expect("the alert");
    assert_eq!(alert.kind, AlertKind::SourceSilent);
    assert_eq!(alert.status, AlertStatus::New);
    let row = state.sources(&a, now).await.expect("inventory").remove(0);
    assert_eq!(row.silent_alert.as_deref(), Some(id.as_str()));
    state.clear_silent(&row, now).await.expect("clear");
    let alert = state
        .alert(&a, &id.parse().expect("id"))
        .await
        .expect("read")
        .expect("the alert");
    assert_eq!(alert.status, AlertStatus::Closed);
    let history = state.alert_history(&a, &alert.id).await.expect("history");
    assert_eq!(
        history.last().map(|h| h.action.as_str()),
        Some("source-returned")
    );
    assert_eq!(history.last().and_then(|h| h.actor), None);
    assert_eq!(
        state.sources(&a, now).await.expect("inventory")[0].silent_alert,
        None
    );
    // Past the bound, new hosts are counted under one.
    let many: Vec<Seen> = (0..MAX_SOURCES + 5)
        .map(|i| seen(&b, &format!("h{i}"), 1, at))
        .collect();
    state.record_sources(&many).await.expect("many");
    let inv = state.sources(&b, now).await.expect("b");
    assert_eq!(
        inv.len() as i64,
        MAX_SOURCES + 1,
        "the bound, and the others' row"
    );
    let other = inv.iter().find(|s| s.host == OTHER).expect("the others");
    assert_eq!(other.events, 6, "the known host web counts as itself");
    assert_eq!(
        state.all_sources(now).await.expect("all").len() as i64,
        MAX_SOURCES + 2
    );
    state.close().await;
}

async fn notifications_are_queued_with_what_happened_and_delivered_once(db: Fresh) {
    use vigie_govern::notify::{Channel, MAX_ATTEMPTS, MAX_RULES, RuleSpec, Trigger};
    use vigie_govern::triage::Transition;

    use crate::notify::{DeliveryStatus, MAX_PENDING, NewDelivery};
    let state = db.open().await;
    let (_admin, padmin, analyst, tenant) = people(&state).await;
    let other = TenantId::new("other").expect("tenant");
    state.create_tenant(&other).await.expect("other");
    let hook = |name: &str, trigger| RuleSpec {
        name: name.into(),
        trigger,
        channel: Channel::Webhook {
            url: "http://127.0.0.1:9/h".into(),
        },
    };
    // Without rules, alerts queue nothing.
    let mut ids = EventIdGenerator::new();
    state
        .insert_alerts(&[alert(&tenant, "r0", "critical", ids.next_now(), 1)])
        .await
        .expect("insert");
    assert!(
        state
            .tenants_with_notify_events()
            .await
            .expect("tenants")
            .is_empty()
    );
    let high = state
        .insert_notify_rule(
            &tenant,
            &hook(
                "high",
                Trigger::Alert {
                    min_level: "high".into(),
                },
            ),
            Some(padmin),
        )
        .await
        .expect("rule");
    let l2 = state
        .insert_notify_rule(
            &tenant,
            &hook("l2", Trigger::Escalation { tier: Tier::L2 }),
            None,
        )
        .await
        .expect("rule");
    let approvals = state
        .insert_notify_rule(&tenant, &hook("approvals", Trigger::Approval), None)
        .await
        .expect("rule");
    // Another tenant's rule at every level does not make this tenant's alerts queue more.
    state
        .insert_notify_rule(
            &other,
            &hook(
                "all",
                Trigger::Alert {
                    min_level: "informational".into(),
                },
            ),
            None,
        )
        .await
        .expect("other rule");
    assert_eq!(state.notify_rules(&tenant).await.expect("rules").len(), 3);
    assert!(
        state
            .notify_rule(&other, high)
            .await
            .expect("read")
            .is_none(),
        "another tenant's rule is not found"
    );
    let read = state
        .notify_rule(&tenant, high)
        .await
        .expect("read")
        .expect("its own rule");
    assert_eq!(read.spec.name, "high");
    assert_eq!(read.created_by, Some(padmin.0));
    assert!(read.enabled);
    // A batch: a high and a medium alert of this tenant; the medium one is below the floor.
    let batch = [
        alert(&tenant, "r1", "high", ids.next_now(), 2),
        alert(&tenant, "r2", "medium", ids.next_now(), 3),
    ];
    assert_eq!(state.insert_alerts(&batch).await.expect("insert"), 2);
    // A replay inserts nothing and queues nothing twice.
    assert_eq!(state.insert_alerts(&batch).await.expect("replay"), 0);
    // An escalation to L2 and a grant request.
    let page = state
        .alerts(&tenant, &AlertFilter::default())
        .await
        .expect("list");
    let high_alert = page
        .alerts
        .iter()
        .find(|a| a.rule_id == "r1")
        .expect("r1")
        .id
        .clone();
    let l1 = Role::ProviderAnalyst(Tier::L1);
    for (t, note) in [
        (Transition::Acknowledge, None),
        (
            Transition::Escalate(Tier::L2),
            Some("checked the parent process; suspect credential theft"),
        ),
    ] {
        let outcome = state
            .transition_alert(
                &tenant,
                &high_alert,
                t,
                l1,
                Some(analyst),
                note,
                Timestamp::now(),
            )
            .await
            .expect("transition");
        assert!(
            matches!(outcome, crate::triage::Outcome::Done { .. }),
            "{outcome:?}"
        );
    }
    let now = Timestamp::now();
    let grant = state
        .insert_grant(&NewGrant {
            analyst,
            requester: padmin,
            tenant: tenant.clone(),
            tier: Tier::L2,
            from: now,
            until: Timestamp::from_nanos(now.as_nanos() + HOUR),
            justification: "renfort".into(),
        })
        .await
        .expect("grant");
    assert_eq!(
        state.tenants_with_notify_events().await.expect("tenants"),
        vec![tenant.clone()]
    );
    // Routing takes every outbox row once, with the tenant's enabled rules.
    let mut seen = Vec::new();
    let routed = state
        .route_notify_events(&tenant, 100, |events, rules| {
            seen = events.to_vec();
            assert_eq!(rules.len(), 3);
            rules
                .iter()
                .map(|r| NewDelivery {
                    rule: r.id,
                    channel: "webhook",
                    payload: serde_json::json!({"rule": r.spec.name, "n": events.len()}),
                })
                .collect()
        })
        .await
        .expect("route");
    assert_eq!(
        (routed.taken, routed.queued, routed.dropped),
        (3, 3, 0),
        "{seen:?}"
    );
    let kinds: Vec<&str> = seen.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["alert", "escalation", "approval"]);
    assert_eq!(seen[0].detail["alert"], high_alert.as_str());
    assert_eq!(seen[0].detail["level"], "high");
    assert!(seen[0].detail.get("matched").is_none(), "no event values");
    assert_eq!(seen[1].detail["queue"], "l2");
    assert_eq!(seen[1].detail["from"], "l1");
    assert_eq!(seen[2].detail["id"], grant.0.to_string());
    assert_eq!(seen[2].reference, format!("grant:{}", grant.0));
    // Taken means gone: a second round finds nothing.
    let again = state
        .route_notify_events(&tenant, 100, |_, _| panic!("nothing to route"))
        .await
        .expect("route again");
    assert_eq!(again.taken, 0);
    // Claims: one per tenant, each claimed once.
    let soon = Timestamp::from_nanos(Timestamp::now().as_nanos() + 1_000_000_000);
    let claimed = state
        .claim_due_deliveries(soon, 60 * 1_000_000_000, 4, &Default::default())
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 1, "one delivery per tenant per round");
    let first = claimed[0].clone();
    // Claimed: not due again within the lease.
    let more = state
        .claim_due_deliveries(soon, 60 * 1_000_000_000, 4, &Default::default())
        .await
        .expect("claim more");
    assert!(more.iter().all(|d| d.id != first.id));
    assert_eq!(
        state
            .finish_delivery(&first, Ok(()), soon)
            .await
            .expect("delivered"),
        DeliveryStatus::Delivered
    );
    // A failure waits, then out of attempts it fails for good.
    let later = Timestamp::from_nanos(soon.as_nanos() + 120 * 1_000_000_000);
    let second = state
        .claim_due_deliveries(later, 60 * 1_000_000_000, 1, &Default::default())
        .await
        .expect("claim")
        .remove(0);
    let mut d = second.clone();
    for attempt in 1..=MAX_ATTEMPTS {
        let status = state
            .finish_delivery(&d, Err(format!("HTTP 500 #{attempt}")), later)
            .await
            .expect("failed attempt");
        d.attempts = attempt;
        let expected = if attempt < MAX_ATTEMPTS {
            DeliveryStatus::Pending
        } else {
            DeliveryStatus::Failed
        };
        assert_eq!(status, expected, "attempt {attempt}");
    }
    let listed = state.notify_deliveries(&tenant, 10).await.expect("list");
    assert_eq!(listed.len(), 3);
    let failed = listed.iter().find(|x| x.id == second.id).expect("listed");
    assert_eq!(failed.status, DeliveryStatus::Failed);
    assert_eq!(failed.attempts, MAX_ATTEMPTS);
    assert_eq!(
        failed.last_error.as_deref(),
        Some(format!("HTTP 500 #{MAX_ATTEMPTS}").as_str())
    );
    let done = listed.iter().find(|x| x.id == first.id).expect("listed");
    assert_eq!(done.status, DeliveryStatus::Delivered);
    assert!(
        state
            .notify_deliveries(&other, 10)
            .await
            .expect("other")
            .is_empty()
    );
    // Turned off, a rule routes nothing; deleted, it is gone; another tenant's is untouched.
    assert!(
        state
            .set_notify_rule_enabled(&tenant, l2, false)
            .await
            .expect("off")
    );
    assert!(
        !state
            .set_notify_rule_enabled(&other, l2, false)
            .await
            .expect("not other's")
    );
    assert!(
        !state
            .delete_notify_rule(&other, approvals)
            .await
            .expect("not other's")
    );
    assert!(
        state
            .delete_notify_rule(&tenant, approvals)
            .await
            .expect("delete")
    );
    let rules = state.notify_rules(&tenant).await.expect("rules");
    assert_eq!(rules.len(), 2);
    assert!(!rules.iter().find(|r| r.id == l2).expect("l2").enabled);
    // The bound on waiting deliveries: past it, new ones are recorded as dropped.
    state
        .insert_alerts(&[alert(&tenant, "r3", "critical", ids.next_now(), 9)])
        .await
        .expect("insert");
    let flood = state
        .route_notify_events(&tenant, 100, |_, rules| {
            (0..MAX_PENDING + 5)
                .map(|_| NewDelivery {
                    rule: rules[0].id,
                    channel: "webhook",
                    payload: serde_json::json!({}),
                })
                .collect()
        })
        .await
        .expect("flood");
    // One delivery of the first round is still pending (the third, never claimed).
    assert_eq!(flood.queued, MAX_PENDING - 1);
    assert_eq!(flood.dropped, 6);
    let listed = state.notify_deliveries(&tenant, 2000).await.expect("list");
    let dropped: Vec<_> = listed
        .iter()
        .filter(|d| d.status == DeliveryStatus::Dropped)
        .collect();
    assert_eq!(dropped.len(), 6);
    assert!(
        dropped[0]
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("waiting")
    );
    // The bound on rules.
    for i in 2..MAX_RULES {
        state
            .insert_notify_rule(&tenant, &hook(&format!("r{i}"), Trigger::Approval), None)
            .await
            .expect("within the bound");
    }
    assert!(
        state
            .insert_notify_rule(&tenant, &hook("one too many", Trigger::Approval), None)
            .await
            .is_err()
    );
    // Finished deliveries are forgotten after the retention (30 days), waiting ones never.
    let within = Timestamp::from_nanos(Timestamp::now().as_nanos() + 29 * 24 * HOUR);
    assert_eq!(state.purge_deliveries(within).await.expect("purge"), 0);
    let far = Timestamp::from_nanos(Timestamp::now().as_nanos() + 31 * 24 * HOUR);
    let purged = state.purge_deliveries(far).await.expect("purge");
    assert_eq!(purged, 2 + 6);
    assert!(
        state
            .notify_deliveries(&tenant, 2000)
            .await
            .expect("list")
            .iter()
            .all(|d| d.status == DeliveryStatus::Pending)
    );
}

async fn a_tenant_with_many_deliveries_waiting_never_hides_another(db: Fresh) {
    use std::collections::HashSet;

    use vigie_govern::notify::{Channel, RuleSpec, Trigger};

    use crate::notify::{DeliveryStatus, NewDelivery};
    let (state, tenants) = db.with(&["noisy", "quiet"]).await;
    let spec = RuleSpec {
        name: "r".into(),
        trigger: Trigger::Approval,
        channel: Channel::Webhook {
            url: "http://127.0.0.1:9/h".into(),
        },
    };
    let mut rules = Vec::new();
    for t in &tenants {
        rules.push(
            state
                .insert_notify_rule(t, &spec, None)
                .await
                .expect("rule"),
        );
    }
    // The noisy tenant's 300 deliveries are all older than the quiet one's.
    let route = |tenant: &TenantId, rule, n: usize| {
        let state = state.clone();
        let tenant = tenant.clone();
        async move {
            let mut ids = EventIdGenerator::new();
            let mut tx = state.begin_write().await.expect("begin");
            crate::notify::enqueue(
                &mut tx,
                tenant.as_str(),
                "approval",
                &ids.next_now().to_string(),
                Timestamp::now(),
                &serde_json::json!({}),
            )
            .await
            .expect("enqueue");
            tx.commit().await.expect("commit");
            state
                .route_notify_events(&tenant, 10, |_, _| {
                    (0..n)
                        .map(|_| NewDelivery {
                            rule,
                            channel: "webhook",
                            payload: serde_json::json!({}),
                        })
                        .collect()
                })
                .await
                .expect("route")
        }
    };
    assert_eq!(route(&tenants[0], rules[0], 300).await.queued, 300);
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    assert_eq!(route(&tenants[1], rules[1], 1).await.queued, 1);
    let soon = Timestamp::from_nanos(Timestamp::now().as_nanos() + 1_000_000_000);
    let lease = 60 * 1_000_000_000;
    let claimed = state
        .claim_due_deliveries(soon, lease, 2, &HashSet::new())
        .await
        .expect("claim");
    let owners: Vec<&str> = claimed.iter().map(|d| d.tenant.as_str()).collect();
    assert_eq!(owners, ["noisy", "quiet"], "one each, most overdue first");
    // A busy tenant is passed over; the bound holds.
    let busy: HashSet<String> = ["noisy".to_owned()].into();
    let more = state
        .claim_due_deliveries(soon, lease, 5, &busy)
        .await
        .expect("claim");
    assert!(
        more.is_empty(),
        "quiet's only one is claimed, noisy is busy"
    );
    let one = state
        .claim_due_deliveries(soon, lease, 1, &HashSet::new())
        .await
        .expect("claim");
    assert_eq!(one.len(), 1);
    // What no retry can mend fails at once, with why.
    state
        .abandon_delivery(&one[0], "its rule was deleted", soon)
        .await
        .expect("abandon");
    let listed = state
        .notify_deliveries(&tenants[0], 1000)
        .await
        .expect("list");
    let gone = listed.iter().find(|d| d.id == one[0].id).expect("listed");
    assert_eq!(gone.status, DeliveryStatus::Failed);
    assert_eq!(gone.last_error.as_deref(), Some("its rule was deleted"));
    assert_eq!(gone.done_at, Some(soon.as_nanos()));
    assert_eq!(
        listed
            .iter()
            .filter(|d| d.status == DeliveryStatus::Pending)
            .count(),
        299
    );
}
