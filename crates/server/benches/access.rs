//! What access control and the audit trail cost: an audit append alone (one record per
//! transaction, as a lone request pays on SQLite with `synchronous = FULL`) and in a group
//! commit of 64; a password check (Argon2id, 19 MiB, t = 2); and over HTTP on loopback to
//! a real server, an unauthenticated route (health) against an authenticated, audited one
//! (`/api/v1/me`: token lookup, user, decision, one audit record committed before the
//! answer) and a sign-in (password + session).

// criterion_group! generates undocumented items.
#![allow(missing_docs)]

use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use vigie_event::time::Timestamp;
use vigie_govern::audit::record::{Outcome, Record, Who};
use vigie_govern::{OrgKind, Role, password};
use vigie_server::{Config, Server};
use vigie_state::audit::AuditEntry;
use vigie_state::{NewUser, State};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn entry(n: u64) -> AuditEntry {
    let now = Timestamp::now();
    AuditEntry {
        chain: "tenant:bench".to_owned(),
        record: Record {
            time: now.to_rfc3339(vigie_event::UtcOffset::UTC),
            who: Who {
                user: Some(4_242_424_242),
                org: Some(77),
                session: Some("0123456789abcdef".into()),
                address: Some("192.0.2.10".into()),
                ..Who::default()
            },
            action: "search-events".to_owned(),
            tenant: Some("bench".into()),
            objects: vec![format!("alert:01M98E7VAJVMA90WSZKW0T{n:04}")],
            query: Some("EventID:4624 AND host:ws-0042".into()),
            count: Some(n),
            outcome: Outcome::Allowed,
            before: None,
            after: None,
        },
        time: now,
    }
}

fn audit(c: &mut Criterion) {
    let rt = rt();
    let dir = tempfile::tempdir().expect("tempdir");
    let state = rt
        .block_on(State::open(&dir.path().join("state.db")))
        .expect("state");
    let mut group = c.benchmark_group("audit");
    group.sample_size(30);
    let mut n = 0;
    group.bench_function("append_1", |b| {
        b.iter(|| {
            n += 1;
            rt.block_on(state.append_audit(&[entry(n)]))
                .expect("append")
        });
    });
    group.bench_function("append_64", |b| {
        b.iter_batched(
            || (0..64).map(entry).collect::<Vec<_>>(),
            |batch| rt.block_on(state.append_audit(&batch)).expect("append"),
            BatchSize::SmallInput,
        );
    });
    group.finish();
}

fn passwords(c: &mut Criterion) {
    let phc = password::hash("a passphrase of several words 42", &[7; 16]).expect("hash");
    let mut group = c.benchmark_group("password");
    group.sample_size(20);
    group.bench_function("verify_argon2id", |b| {
        b.iter(|| assert!(password::verify("a passphrase of several words 42", &phc)));
    });
    group.finish();
}

fn api(c: &mut Criterion) {
    let rt = rt();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = Config {
        data_dir: dir.path().join("data"),
        ..Config::default()
    };
    config.http.listen = "127.0.0.1:0".parse().expect("addr");
    config.rules.paths = Vec::new();
    let phc = password::hash("a passphrase of several words 42", &[7; 16]).expect("hash");
    let (server, started, token) = rt.block_on(async {
        std::fs::create_dir_all(&config.data_dir).expect("data dir");
        let state = State::open(&config.state_path()).await.expect("state");
        let org = state
            .create_org("Bench", OrgKind::Client)
            .await
            .expect("org");
        let user = state
            .create_user(&NewUser {
                org,
                login: "bench".into(),
                name: "bench".into(),
                role: Role::ClientAnalyst,
                password: Some(phc),
                contract_end: None,
            })
            .await
            .expect("user");
        let token = state
            .create_personal_token(
                user,
                "bench",
                Timestamp::from_nanos(Timestamp::now().as_nanos() + 86_400_000_000_000),
            )
            .await
            .expect("token");
        state.close().await;
        let (server, started) = Server::start(config).await.expect("server");
        (server, started, token.to_string())
    });
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let base = format!("http://{}", started.http);
    let mut group = c.benchmark_group("api");
    group.sample_size(50);
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("health_unauthenticated", |b| {
        b.iter(|| {
            let r = agent
                .get(format!("{base}/api/v1/health"))
                .call()
                .expect("get");
            assert_eq!(r.status(), 200);
        });
    });
    group.bench_function("me_authenticated_audited", |b| {
        b.iter(|| {
            let r = agent
                .get(format!("{base}/api/v1/me"))
                .header("Authorization", format!("Bearer {token}"))
                .call()
                .expect("get");
            assert_eq!(r.status(), 200);
        });
    });
    group.sample_size(20);
    group.bench_function("sign_in", |b| {
        b.iter(|| {
            let r = agent
                .post(format!("{base}/api/v1/login"))
                .header("Content-Type", "application/json")
                .send(r#"{"login":"bench","password":"a passphrase of several words 42"}"#)
                .expect("post");
            assert_eq!(r.status(), 200);
        });
    });
    group.finish();
    rt.block_on(server.shutdown()).expect("shutdown");
}

criterion_group!(benches, audit, passwords, api);
criterion_main!(benches);
