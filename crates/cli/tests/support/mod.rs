//! A child `vigie serve` for the end-to-end tests: its own data folder and port, tenants and
//! tokens made with `vigie admin`, started (optionally under a memory limit with `prlimit`),
//! stopped by PID.

#![allow(dead_code, unreachable_pub, clippy::print_stderr)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn vigie() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vigie"))
}

pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// The project's rules folder.
pub fn rules_dir() -> PathBuf {
    PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()),
    )
    .join("../../rules")
}

/// Whether `prlimit` (util-linux) is here; under `CI=true` its absence fails the test.
pub fn have_prlimit() -> bool {
    let found = Command::new("prlimit")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "prlimit (util-linux) is missing under CI=true"
        );
        eprintln!("SKIPPED memory limit: prlimit (util-linux) is not installed");
    }
    found
}

/// One server's folder, configuration and credentials.
pub struct Instance {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub port: u16,
    pub base: String,
    /// Each tenant's ingest token.
    pub tokens: BTreeMap<String, String>,
    /// One-time enrolment tokens of the people `vigie admin` made: the operator and each
    /// tenant's reader (a client analyst of its owner), by login.
    enrolments: BTreeMap<String, String>,
    /// Their personal tokens, once enrolled through the API (the server must run).
    personal: std::sync::Mutex<BTreeMap<String, String>>,
    extra: String,
}

/// The password the test people choose at enrolment.
const PASSWORD: &str = "vigie test passphrase, not a real one 7f3a";

/// A running child.
pub struct Running {
    pub child: Child,
    pub log: PathBuf,
}

impl Instance {
    /// A data folder with `tenants` and a configuration made of the test defaults and
    /// `extra` (TOML sections appended).
    pub fn new(tenants: &[&str], extra: &str) -> Instance {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let mut instance = Instance {
            config: dir.path().join("vigie.toml"),
            base: format!("http://127.0.0.1:{port}"),
            dir,
            port,
            tokens: BTreeMap::new(),
            enrolments: BTreeMap::new(),
            personal: std::sync::Mutex::new(BTreeMap::new()),
            extra: extra.to_owned(),
        };
        instance.write_config(extra);
        let enrolment = |out: &str| {
            out.lines()
                .find(|l| l.contains("enrolment token"))
                .and_then(|l| l.split_whitespace().last())
                .expect("an enrolment token printed")
                .to_owned()
        };
        let out = instance.admin(&["init", "--login", "operator"]);
        instance
            .enrolments
            .insert("operator".to_owned(), enrolment(&out));
        for t in tenants {
            let out = instance.admin(&["tenant", "create", t]);
            let token = out
                .lines()
                .find(|l| l.contains("ingest token"))
                .and_then(|l| l.split_whitespace().last())
                .expect("an ingest token printed");
            instance.tokens.insert((*t).to_owned(), token.to_owned());
            let login = format!("reader-{t}");
            let out = instance.admin(&[
                "user",
                "create",
                "--org",
                t,
                "--login",
                &login,
                "--name",
                &login,
                "--role",
                "client-analyst",
            ]);
            instance.enrolments.insert(login, enrolment(&out));
        }
        instance
    }

    /// The personal token of `login`, enrolling them through the API on first use (set a
    /// password with the enrolment token, sign in, enrol TOTP when the role needs it,
    /// mint a token): the server must be running.
    pub fn personal_token(&self, login: &str) -> String {
        if let Some(t) = self.personal.lock().expect("lock").get(login) {
            return t.clone();
        }
        let enrol = &self.enrolments[login];
        let body = serde_json::json!({"token": enrol, "password": PASSWORD}).to_string();
        let (status, answer) = self.call(
            "POST",
            "/api/v1/enrol",
            None,
            &[("Content-Type", "application/json")],
            Some(body.as_bytes()),
        );
        assert_eq!(status, 200, "enrol {login}: {answer}");
        let cookie = self.sign_in(login, None);
        let (_, me) = self.call("GET", "/api/v1/me", None, &[("Cookie", &cookie)], None);
        let cookie = if json(&me)["user"]["must_enrol_mfa"] == true {
            let (status, started) = self.call(
                "POST",
                "/api/v1/me/totp",
                None,
                &[("Cookie", &cookie)],
                None,
            );
            assert_eq!(status, 200, "totp {login}: {started}");
            let secret = json(&started)["secret"]
                .as_str()
                .expect("secret")
                .to_owned();
            let seed = vigie_govern::totp::base32_decode(&secret).expect("base32");
            let code = totp_now(&seed);
            let body = serde_json::json!({"code": code}).to_string();
            let (status, headers, confirmed) = self.exchange(
                "POST",
                "/api/v1/me/totp/confirm",
                None,
                &[("Cookie", &cookie), ("Content-Type", "application/json")],
                Some(body.as_bytes()),
            );
            assert_eq!(status, 200, "confirm {login}: {confirmed}");
            cookie_of(&headers)
        } else {
            cookie
        };
        let body = serde_json::json!({"label": "tests", "days": 2}).to_string();
        let (status, minted) = self.call(
            "POST",
            "/api/v1/me/tokens",
            None,
            &[("Cookie", &cookie), ("Content-Type", "application/json")],
            Some(body.as_bytes()),
        );
        assert_eq!(status, 201, "token {login}: {minted}");
        let token = json(&minted)["token"].as_str().expect("token").to_owned();
        self.personal
            .lock()
            .expect("lock")
            .insert(login.to_owned(), token.clone());
        token
    }

    /// Signs `login` in (with a TOTP `seed` when given); the session cookie.
    pub fn sign_in(&self, login: &str, seed: Option<&[u8]>) -> String {
        let mut body = serde_json::json!({"login": login, "password": PASSWORD});
        if let Some(seed) = seed {
            body["code"] = serde_json::json!(totp_now(seed));
        }
        let (status, headers, answer) = self.exchange(
            "POST",
            "/api/v1/login",
            None,
            &[("Content-Type", "application/json")],
            Some(body.to_string().as_bytes()),
        );
        assert_eq!(status, 200, "sign in {login}: {answer}");
        cookie_of(&headers)
    }

    /// The operator's personal token (instance routes).
    pub fn operator(&self) -> String {
        self.personal_token("operator")
    }

    /// The reader of the tenant whose ingest token is `token` (reads take a person's
    /// token; tests name the tenant by its ingest token), or `token` itself when it is
    /// not an ingest token.
    pub fn as_reader(&self, token: &str) -> String {
        match self.tokens.iter().find(|(_, t)| t.as_str() == token) {
            Some((tenant, _)) => self.personal_token(&format!("reader-{tenant}")),
            None => token.to_owned(),
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Rewrites the configuration with other `extra` sections.
    pub fn write_config(&mut self, extra: &str) {
        self.extra = extra.to_owned();
        let text = format!(
            "data_dir = \"{}\"\n\n[http]\nlisten = \"127.0.0.1:{}\"\n\n[pipeline]\ncommit_interval_ms = 200\n\n[store]\nwriter_heap_mib = 32\n\n[rules]\npaths = [\"{}\"]\nreload_poll_ms = 0\n\n{extra}\n",
            self.data_dir().display(),
            self.port,
            rules_dir().display(),
        );
        // A table of `extra` that the defaults have too merges into theirs, its keys winning.
        let text = merge_tables(&text);
        std::fs::write(&self.config, text).expect("config");
    }

    /// `vigie admin --config … ARGS`: its stdout; fails the test on a non-zero exit.
    pub fn admin(&self, args: &[&str]) -> String {
        let out = vigie()
            .args(["admin", "--config"])
            .arg(&self.config)
            .args(args)
            .output()
            .expect("vigie admin");
        assert!(
            out.status.success(),
            "vigie admin {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    }

    /// Starts `vigie serve`, with at most `data_limit` bytes of data memory (RLIMIT_DATA:
    /// heap and anonymous mappings, reserved or not; not the index files tantivy maps) when
    /// given and `prlimit` is here, and waits until it answers. RLIMIT_DATA counts address
    /// space, not resident memory (tantivy's indexing tables are reserved zeroed and touched
    /// page by page): it is the hard ceiling a runaway allocation hits; the resident peak is
    /// checked against a tighter bound by [`Running::assert_memory_under`].
    pub fn start(&self, data_limit: Option<u64>, name: &str) -> Running {
        let log = self.dir.path().join(format!("{name}.log"));
        let file = std::fs::File::create(&log).expect("log");
        let mut command = match data_limit {
            Some(bytes) if have_prlimit() => {
                let mut c = Command::new("prlimit");
                c.arg(format!("--data={bytes}"))
                    .arg("--")
                    .arg(env!("CARGO_BIN_EXE_vigie"));
                c
            }
            _ => vigie(),
        };
        let child = command
            .args(["serve", "--config"])
            .arg(&self.config)
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("vigie serve starts");
        let mut running = Running { child, log };
        self.wait_healthy(&mut running);
        running
    }

    fn wait_healthy(&self, running: &mut Running) {
        let agent = agent();
        let start = Instant::now();
        loop {
            if let Ok(r) = agent.get(format!("{}/api/v1/health", self.base)).call()
                && r.status() == 200
            {
                return;
            }
            if let Some(status) = running.child.try_wait().expect("wait") {
                panic!(
                    "vigie serve exited ({status}):\n{}",
                    std::fs::read_to_string(&running.log).unwrap_or_default()
                );
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "vigie serve never answered"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A request: (status, body). `headers` are (name, value) pairs.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> (u16, String) {
        let (status, _, body) = self.exchange(method, path, token, headers, body);
        (status, body)
    }

    /// A request: (status, response headers, body).
    pub fn exchange(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> (u16, Vec<(String, String)>, String) {
        let agent = agent();
        let url = format!("{}{path}", self.base);
        let mut builder = ureq::http::Request::builder().method(method).uri(&url);
        if let Some(t) = token {
            builder = builder.header("Authorization", format!("Bearer {t}"));
        }
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        let mut response = match body {
            Some(b) => agent.run(builder.body(b.to_vec()).expect("request")),
            None => agent.run(builder.body(()).expect("request")),
        }
        .expect("response");
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect();
        (
            status,
            headers,
            response.body_mut().read_to_string().unwrap_or_default(),
        )
    }

    /// GET by the reader of the tenant of `token` (see [`Instance::as_reader`]).
    pub fn get(&self, path: &str, token: &str) -> (u16, String) {
        let reader = self.as_reader(token);
        self.call("GET", path, Some(&reader), &[], None)
    }

    pub fn ingest(&self, token: &str, body: &[u8]) -> (u16, String) {
        self.call("POST", "/api/v1/ingest", Some(token), &[], Some(body))
    }

    /// Events of the token's tenant matching `q` (URL-encoded by the caller where needed).
    pub fn count(&self, token: &str, q: &str) -> u64 {
        let (status, body) = self.get(&format!("/api/v1/events?q={q}&limit=1"), token);
        assert_eq!(status, 200, "{body}");
        json(&body)["total"].as_u64().expect("total")
    }

    /// Waits until `q` finds `n` events (fails after `within`).
    pub fn wait_count(&self, token: &str, q: &str, n: u64, within: Duration) {
        let start = Instant::now();
        loop {
            let got = self.count(token, q);
            if got == n {
                return;
            }
            assert!(got < n, "{q}: {got} events, more than {n}");
            assert!(
                start.elapsed() < within,
                "{q}: {got} of {n} events after {within:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Tenant `tenant`'s ingest → searchable latency: one event with a fresh canary, then
    /// searches until it is found (fails past `bound`).
    pub fn probe(&self, tenant: &str, bound: Duration) -> Duration {
        let token = &self.tokens[tenant];
        let canary = format!(
            "probe{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        );
        let start = Instant::now();
        let (status, body) = self.ingest(token, format!("{{\"probe\":\"{canary}\"}}\n").as_bytes());
        assert_eq!(status, 200, "probe ingest: {body}");
        loop {
            if self.count(token, &format!("probe:{canary}")) == 1 {
                let took = start.elapsed();
                eprintln!("{tenant}: ingest → searchable in {took:?}");
                return took;
            }
            assert!(
                start.elapsed() < bound,
                "{tenant}'s event was not searchable within {bound:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Running {
    /// The child's peak resident memory so far (`VmHWM`), in bytes.
    pub fn peak_rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("/proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .expect("VmHWM")
            * 1024
    }

    /// Fails the test if the server exited, or if its peak resident memory passed `bound`.
    pub fn assert_memory_under(&mut self, bound: u64) {
        self.assert_alive();
        let peak = self.peak_rss();
        eprintln!("peak resident memory: {} MiB", peak >> 20);
        assert!(
            peak <= bound,
            "peak resident memory {} MiB over the bound of {} MiB",
            peak >> 20,
            bound >> 20
        );
    }

    /// Fails the test if the server exited.
    pub fn assert_alive(&mut self) {
        if let Some(status) = self.child.try_wait().expect("wait") {
            panic!(
                "vigie serve exited ({status}):\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
        }
    }

    /// SIGTERM, then waits for a clean exit.
    pub fn stop(mut self) {
        self.assert_alive();
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let status = self.child.wait().expect("wait");
        assert!(
            status.success(),
            "vigie serve did not stop cleanly ({status}):\n{}",
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }

    /// SIGKILL.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// Asserts `body` is the API's JSON error with `code`.
pub fn assert_error(status: u16, body: &str, want_status: u16, code: &str) {
    assert_eq!(status, want_status, "{body}");
    let v = json(body);
    assert_eq!(v["error"]["code"], code, "{body}");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|e| !e.is_empty()),
        "{body}"
    );
}

/// A raw HTTP/1.1 exchange on a fresh connection: what the server answered (status line
/// and all) within `wait`.
pub fn raw(port: u16, request: &[u8], wait: Duration) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(wait)).expect("timeout");
    let _ = s.write_all(request);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// The session cookie a response set (`name=value`).
fn cookie_of(headers: &[(String, String)]) -> String {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
        .and_then(|(_, v)| v.split(';').next())
        .expect("a session cookie")
        .to_owned()
}

/// The TOTP code of `seed` now.
pub fn totp_now(seed: &[u8]) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    vigie_govern::totp::Totp::standard(seed)
        .expect("seed")
        .code_at(now)
}

/// Merges tables of `text` that appear more than once into the first, a later key replacing
/// an earlier one of the same name (the test's `extra` sections over the defaults).
fn merge_tables(text: &str) -> String {
    let mut tables: Vec<(String, Vec<(String, String)>)> = vec![(String::new(), Vec::new())];
    let mut current = 0;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            current = match tables.iter().position(|(n, _)| n == trimmed) {
                Some(i) if !trimmed.starts_with("[[") => i,
                _ => {
                    tables.push((trimmed.to_owned(), Vec::new()));
                    tables.len() - 1
                }
            };
            continue;
        }
        if trimmed.is_empty() {
            continue;
        }
        let key = trimmed
            .split_once('=')
            .map_or(trimmed, |(k, _)| k)
            .trim()
            .to_owned();
        let lines = &mut tables[current].1;
        match lines.iter_mut().find(|(k, _)| *k == key) {
            Some(existing) => existing.1 = line.to_owned(),
            None => lines.push((key, line.to_owned())),
        }
    }
    let mut out = String::new();
    for (name, lines) in tables {
        if !name.is_empty() {
            out.push_str(&name);
            out.push('\n');
        }
        for (_, line) in lines {
            out.push_str(&line);
            out.push('\n');
        }
        out.push('\n');
    }
    out
}

/// An HTTP batch of JSON `lines` for `tenant`, as the server journals it.
pub fn batch(
    tenant: &str,
    idempotency_key: &str,
    received: vigie_event::Timestamp,
    lines: impl IntoIterator<Item = String>,
) -> vigie_journal::record::Batch {
    vigie_journal::record::Batch {
        tenant: vigie_event::TenantId::new(tenant).expect("tenant"),
        kind: vigie_event::SourceKind::Http,
        source: "http".to_owned(),
        logsource: String::new(),
        framing: vigie_journal::record::Framing::Json,
        received,
        idempotency_key: idempotency_key.to_owned(),
        messages: lines.into_iter().map(bytes::Bytes::from).collect(),
    }
}

/// Appends `payloads` to the journal of the data folder `data` (the server stopped), synced:
/// what a server leaves when it dies after making records durable and before processing
/// them.
pub fn write_journal(data: &Path, payloads: &[Vec<u8>]) {
    let (mut writer, _shared) = vigie_journal::open(
        &data.join("journal"),
        vigie_journal::JournalConfig::default(),
    )
    .expect("journal");
    for p in payloads {
        writer.append(p).expect("append");
    }
    writer.sync().expect("sync");
}
