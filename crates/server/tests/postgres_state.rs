//! `vigie serve` with its state in PostgreSQL (`state = "postgres://…"`): a throwaway
//! cluster, a server on it, an event ingested, its alert read by a person, the audit
//! trail written and verified — the same server as on SQLite, on the other database.

mod common;

use std::sync::Arc;

use vigie_event::TenantId;
use vigie_event::time::Timestamp;
use vigie_govern::Role;
use vigie_server::secrets::{KEY_NAME, Secrets};
use vigie_server::verify::verify_audit;
use vigie_server::{Config, Server};
use vigie_state::{NewUser, State};
use vigie_testkit::postgres::Cluster;

#[test]
fn the_server_runs_on_postgres() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let url = cluster.url("postgres");
    let mut config = Config {
        data_dir: dir.path().join("data"),
        state: Some(url.clone()),
        ..Config::default()
    };
    config.http.listen = "127.0.0.1:0".parse().expect("addr");
    config.rules.paths = vec![common::rules_dir()];
    config.pipeline.commit_interval_ms = 100;
    let (server, started, ingest, reader) = rt.block_on(async {
        let state = State::connect(&url, 4).await.expect("connect");
        let tenant = TenantId::new("acme").expect("tenant");
        state.create_tenant(&tenant).await.expect("tenant");
        let ingest = state
            .create_tenant_token(&tenant, "test")
            .await
            .expect("token");
        let org = state
            .org_by_name("acme")
            .await
            .expect("org")
            .expect("adopted")
            .id;
        let user = state
            .create_user(&NewUser {
                org,
                login: "reader".into(),
                name: "reader".into(),
                role: Role::ClientAnalyst,
                password: None,
                contract_end: None,
            })
            .await
            .expect("user");
        let reader = state
            .create_personal_token(
                user,
                "test",
                Timestamp::from_nanos(Timestamp::now().as_nanos() + 3_600_000_000_000),
            )
            .await
            .expect("token");
        state.close().await;
        let (server, started) = Server::start(config).await.expect("server on postgres");
        (server, started, ingest.to_string(), reader.to_string())
    });
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let base = format!("http://{}", started.http);
    let event = format!("{}\n", common::alerting_event("pgcanary", "ws-pg"));
    let response = agent
        .post(format!("{base}/api/v1/ingest"))
        .header("Authorization", format!("Bearer {ingest}"))
        .send(event.as_bytes())
        .expect("ingest");
    assert_eq!(response.status(), 200);
    let start = std::time::Instant::now();
    let alert = loop {
        let mut r = agent
            .get(format!("{base}/api/v1/alerts"))
            .header("Authorization", format!("Bearer {reader}"))
            .call()
            .expect("alerts");
        assert_eq!(r.status(), 200);
        let body: serde_json::Value =
            serde_json::from_str(&r.body_mut().read_to_string().expect("body")).expect("json");
        if let Some(id) = body["alerts"][0]["id"].as_str() {
            break id.to_owned();
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "no alert: {body}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let r = agent
        .get(format!("{base}/api/v1/alerts/{alert}"))
        .header("Authorization", format!("Bearer {reader}"))
        .call()
        .expect("alert");
    assert_eq!(r.status(), 200);
    rt.block_on(async {
        server.auditor().checkpoint_now().await.expect("checkpoint");
        let rows = server
            .state()
            .audit_rows("tenant:acme", &vigie_state::audit::AuditFilter::default())
            .await
            .expect("audit");
        assert!(
            rows.iter()
                .any(|r| r.record["objects"][0] == format!("alert:{alert}")),
            "the read of the alert is in the trail"
        );
        let secrets =
            Arc::new(Secrets::load_or_create(&dir.path().join("data/secrets")).expect("secrets"));
        let reports = verify_audit(server.state(), KEY_NAME, secrets.public_key(), &[])
            .await
            .expect("verify");
        assert!(!reports.is_empty());
        for r in &reports {
            assert_eq!(r.problem, None, "{r:?}");
            assert!(r.checkpoints > 0, "{r:?}");
        }
        server.shutdown().await.expect("shutdown");
    });
}
