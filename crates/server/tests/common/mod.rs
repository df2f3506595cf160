//! A server started in-process on ephemeral ports, with tenants and tokens, for the
//! integration tests.

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use vigie_event::TenantId;
use vigie_server::config::Syslog;
use vigie_server::{Config, Server};
use vigie_state::State;

pub struct Harness {
    pub rt: tokio::runtime::Runtime,
    pub server: Option<Server>,
    pub http: SocketAddr,
    pub syslog: BTreeMap<String, SocketAddr>,
    pub admin: String,
    pub tokens: BTreeMap<String, String>,
    pub dir: tempfile::TempDir,
    pub agent: ureq::Agent,
}

/// The project's rules folder.
pub fn rules_dir() -> PathBuf {
    PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()),
    )
    .join("../../rules")
}

impl Harness {
    /// Starts a server with `tenants` and the given listeners; `edit` adjusts the config.
    pub fn start(tenants: &[&str], syslog: Vec<Syslog>, edit: impl FnOnce(&mut Config)) -> Harness {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = Config {
            data_dir: dir.path().join("data"),
            ..Config::default()
        };
        config.http.listen = "127.0.0.1:0".parse().expect("addr");
        config.rules.paths = vec![rules_dir()];
        config.pipeline.commit_interval_ms = 100;
        config.syslog = syslog;
        edit(&mut config);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let (server, started, admin, tokens) = rt.block_on(async {
            std::fs::create_dir_all(&config.data_dir).expect("data dir");
            let state = State::open(&config.state_path()).await.expect("state");
            let admin = state
                .ensure_admin_token()
                .await
                .expect("admin token")
                .expect("first start");
            let mut tokens = BTreeMap::new();
            for name in tenants {
                let tenant = TenantId::new(name).expect("tenant");
                state.create_tenant(&tenant).await.expect("create");
                let token = state
                    .create_tenant_token(&tenant, "test")
                    .await
                    .expect("token");
                tokens.insert((*name).to_owned(), token.to_string());
            }
            state.close().await;
            let (server, started) = Server::start(config).await.expect("server starts");
            (server, started, admin.to_string(), tokens)
        });
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        Harness {
            http: started.http,
            syslog: started
                .syslog
                .iter()
                .map(|(n, _, a)| (n.clone(), *a))
                .collect(),
            server: Some(server),
            rt,
            admin,
            tokens,
            dir,
            agent,
        }
    }

    /// The URL of `path` (spaces in queries encoded).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.http, path.replace(' ', "%20"))
    }

    /// A request without a body, with a token (and a Vigie-Tenant header when given):
    /// (status, body).
    fn bodyless(
        &self,
        request: ureq::RequestBuilder<ureq::typestate::WithoutBody>,
        token: &str,
        tenant: Option<&str>,
    ) -> (u16, String) {
        let mut request = request.header("Authorization", format!("Bearer {token}"));
        if let Some(t) = tenant {
            request = request.header("Vigie-Tenant", t);
        }
        let mut response = request.call().expect("request");
        let status = response.status().as_u16();
        (
            status,
            response.body_mut().read_to_string().unwrap_or_default(),
        )
    }

    /// GET with a token (and a Vigie-Tenant header when given): (status, body).
    pub fn get(&self, path: &str, token: &str, tenant: Option<&str>) -> (u16, String) {
        self.bodyless(self.agent.get(self.url(path)), token, tenant)
    }

    /// DELETE with a token: (status, body).
    pub fn delete(&self, path: &str, token: &str, tenant: Option<&str>) -> (u16, String) {
        self.bodyless(self.agent.delete(self.url(path)), token, tenant)
    }

    /// POST with a token: (status, body).
    pub fn post(
        &self,
        path: &str,
        token: &str,
        tenant: Option<&str>,
        body: &[u8],
    ) -> (u16, String) {
        let mut request = self
            .agent
            .post(self.url(path))
            .header("Authorization", format!("Bearer {token}"));
        if let Some(t) = tenant {
            request = request.header("Vigie-Tenant", t);
        }
        let mut response = request.send(body).expect("request");
        let status = response.status().as_u16();
        (
            status,
            response.body_mut().read_to_string().unwrap_or_default(),
        )
    }

    /// Waits until the pipeline processed everything durable and one commit passed.
    pub fn settle(&self) {
        let server = self.server.as_ref().expect("running");
        let start = Instant::now();
        while !server.caught_up() {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "the pipeline never caught up"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn stop(mut self) {
        if let Some(server) = self.server.take() {
            self.rt.block_on(server.shutdown()).expect("clean shutdown");
        }
    }
}

/// A Sysmon process creation (Word starting PowerShell: the project's rule fires on it)
/// carrying `canary` in its command line.
pub fn alerting_event(canary: &str, host: &str) -> String {
    format!(
        r##"{{"Event":{{"System":{{"Provider":{{"#attributes":{{"Name":"Microsoft-Windows-Sysmon"}}}},"EventID":1,"Channel":"Microsoft-Windows-Sysmon/Operational","Computer":"{host}","TimeCreated":{{"#attributes":{{"SystemTime":"2026-11-23T01:00:00Z"}}}}}},"EventData":{{"Image":"C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe","ParentImage":"C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE","CommandLine":"powershell -nop {canary}"}}}}}}"##
    )
}
