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
    pub admin: String,
    pub tokens: BTreeMap<String, String>,
    extra: String,
}

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
            admin: String::new(),
            tokens: BTreeMap::new(),
            extra: extra.to_owned(),
        };
        instance.write_config(extra);
        for t in tenants {
            let out = instance.admin(&["tenant", "create", t]);
            for line in out.lines() {
                if let Some(token) =
                    line.strip_prefix("administrator token (shown once, keep it): ")
                {
                    instance.admin = token.trim().to_owned();
                }
                if line.contains("ingest token") {
                    let token = line.split_whitespace().last().expect("token");
                    instance.tokens.insert((*t).to_owned(), token.to_owned());
                }
            }
        }
        assert!(!instance.admin.is_empty(), "no administrator token printed");
        instance
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

    pub fn get(&self, path: &str, token: &str) -> (u16, String) {
        self.call("GET", path, Some(token), &[], None)
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
