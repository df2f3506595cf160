//! A server started in-process on ephemeral ports, with tenants and tokens, for the
//! integration tests.

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use vigie_event::TenantId;
use vigie_govern::{OrgKind, Role};
use vigie_server::config::Syslog;
use vigie_server::{Config, Server};
use vigie_state::{NewUser, State};

pub struct Harness {
    pub rt: tokio::runtime::Runtime,
    pub server: Option<Server>,
    pub http: SocketAddr,
    pub syslog: BTreeMap<String, SocketAddr>,
    /// The operator's personal token (instance routes: metrics, quarantine, rules reload).
    pub admin: String,
    /// Each tenant's ingest token.
    pub tokens: BTreeMap<String, String>,
    /// Each tenant's reader: a client analyst of its owner, by personal token.
    pub readers: BTreeMap<String, String>,
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

/// A user `login` with `role` in the organisation `org` (made when missing), enrolled in a
/// second factor when the role needs one (a sealed seed no code opens: they use their
/// personal token, never sign in), and their personal token.
pub async fn person(state: &State, org: &str, kind: OrgKind, login: &str, role: Role) -> String {
    let org = match state.org_by_name(org).await.expect("org") {
        Some(o) => o.id,
        None => state.create_org(org, kind).await.expect("create org"),
    };
    let id = state
        .create_user(&NewUser {
            org,
            login: login.to_owned(),
            name: login.to_owned(),
            role,
            password: None,
            contract_end: None,
        })
        .await
        .expect("user");
    if role.requires_mfa() {
        state.enrol_totp(id, "v1.test", &[]).await.expect("enrol");
    }
    let until = vigie_event::Timestamp::from_nanos(
        vigie_event::Timestamp::now().as_nanos() + 86_400_000_000_000,
    );
    state
        .create_personal_token(id, "test", until)
        .await
        .expect("token")
        .to_string()
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
        let (server, started, admin, tokens, readers) = rt.block_on(async {
            std::fs::create_dir_all(&config.data_dir).expect("data dir");
            let state = State::open(&config.state_path()).await.expect("state");
            let admin = person(
                &state,
                "Operator",
                OrgKind::Operator,
                "operator",
                Role::Operator,
            )
            .await;
            let mut tokens = BTreeMap::new();
            let mut readers = BTreeMap::new();
            for name in tenants {
                let tenant = TenantId::new(name).expect("tenant");
                state.create_tenant(&tenant).await.expect("create");
                let token = state
                    .create_tenant_token(&tenant, "test")
                    .await
                    .expect("token");
                tokens.insert((*name).to_owned(), token.to_string());
                let reader = person(
                    &state,
                    name,
                    OrgKind::Client,
                    &format!("reader-{name}"),
                    Role::ClientAnalyst,
                )
                .await;
                readers.insert((*name).to_owned(), reader);
            }
            state.close().await;
            let (server, started) = Server::start(config).await.expect("server starts");
            (server, started, admin, tokens, readers)
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
            readers,
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

    /// POST a JSON body with a token: (status, body).
    pub fn post_json(
        &self,
        path: &str,
        token: &str,
        tenant: Option<&str>,
        body: &str,
    ) -> (u16, String) {
        let mut request = self
            .agent
            .post(self.url(path))
            .header("Authorization", format!("Bearer {token}"))
            .header("Content-Type", "application/json");
        if let Some(t) = tenant {
            request = request.header("Vigie-Tenant", t);
        }
        let mut response = request.send(body.as_bytes()).expect("request");
        let status = response.status().as_u16();
        (
            status,
            response.body_mut().read_to_string().unwrap_or_default(),
        )
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

/// One request the receiver took.
#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A webhook receiver on 127.0.0.1 (a plain HTTP/1.1 server of ours, recording what it is
/// sent): answers 204, or 500 to its first request when `fail_first`.
pub fn receiver(fail_first: bool) -> (u16, Arc<Mutex<Vec<Received>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let seen: Arc<Mutex<Vec<Received>>> = Arc::default();
    let keep = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let path = line.split(' ').nth(1).unwrap_or("").to_owned();
            let mut headers = Vec::new();
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
                if let Some((n, v)) = h.trim_end().split_once(':') {
                    headers.push((n.trim().to_owned(), v.trim().to_owned()));
                }
            }
            let length: usize = headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let first = {
                let mut all = keep.lock().expect("lock");
                all.push(Received {
                    path,
                    headers,
                    body: String::from_utf8_lossy(&body).into_owned(),
                });
                fail_first && all.len() == 1
            };
            let answer = if first {
                "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            } else {
                "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n"
            };
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    (port, seen)
}
