//! `vigie.toml`: every key, its default and why. Unknown keys are rejected with their line.
//!
//! ```toml
//! data_dir = "./vigie-data"        # state.db, journal/, events/ live here
//! state = "postgres://vigie@db.internal:5432/vigie"  # optional: the state in PostgreSQL
//!                                   #   (several nodes); no key = state.db in data_dir
//! secrets_dir = "/etc/vigie/secrets"  # optional: instance.key, audit-ed25519.pk8 (0600);
//!                                   #   default data_dir/secrets
//!
//! [http]
//! listen = "127.0.0.1:8080"
//! max_body_bytes = 33554432         # a request body over this (compressed) gets 413
//! max_decoded_bytes = 134217728     # a gzip body inflating past this gets 413
//! max_connections = 1024            # open connections at once; more wait in the OS backlog
//! header_timeout_ms = 10000         # a request's headers must arrive within this
//! body_timeout_ms = 60000           # and its body within this, once authenticated
//! max_buffered_mib = 1024           # ingest bodies held in memory at once (as sent + inflated);
//!                                   #   a tenant may hold a quarter; beyond: 429
//!
//! [limits]                          # per tenant; every key and its default: crates/server/src/limits.rs
//! max_events_per_batch = 100000     # an HTTP batch over this: 413
//! max_field_names = 20000           # distinct field names per tenant
//! max_event_age_days = 400          # event times older than this (before their receive time)…
//! max_event_future_hours = 24       # …or further ahead than this…
//! out_of_window = "clamp"           # …are clamped to the receive time, or "reject"ed
//! max_sources = 1000                # distinct `source` names per tenant (metric series)
//! max_idempotency_keys = 100000     # live `Idempotency-Key`s per tenant (each kept a day)
//! max_concurrent_queries = 4        # searches, histograms, fetches running at once; beyond: 429
//!
//! [limits.tenant.acme]              # one tenant's overrides, key by key
//! max_field_names = 50000
//!
//! [journal]
//! segment_mib = 64                  # a new segment file past this size
//! queue = 1024                      # batches waiting for the writer; beyond: 503
//! max_lag_mib = 1024                # durable but unprocessed bytes; beyond: 429
//!
//! [pipeline]
//! workers = 0                       # decode + detect threads; 0 = one per core
//! commit_interval_ms = 1000         # how often events become searchable and alerts land
//!
//! [store]
//! period_hours = 24                 # one index per tenant per period
//! writer_heap_mib = 128             # indexing memory per open partition writer
//! retention_days = 90               # optional; no key = keep forever
//! max_gib = 500                     # optional; per tenant
//!
//! [audit]
//! checkpoint_every = 1000           # a signed checkpoint of a chain after this many records…
//! checkpoint_interval_s = 60        # …or this long after its last one, when it grew
//! checkpoint_file = "/mnt/worm/vigie-checkpoints.txt"  # optional: every checkpoint is also
//!                                   #   appended here (a place the database's admins cannot
//!                                   #   rewrite); `vigie audit verify --checkpoints` reads it
//! checkpoint_url = "https://soc.client.example/vigie-checkpoints"  # optional: every
//!                                   #   checkpoint is also POSTed there (text/plain)
//!
//! [access]
//! session_idle_minutes = 30         # a session unused this long ends
//! session_absolute_hours = 12       # and any session ends this long after sign-in
//! governance_interval_s = 60        # deactivations (inactivity, contract end) and review
//!                                   #   deadlines are applied this often
//! public_url = "https://vigie.example.org"  # optional: where browsers reach the server
//!                                   #   (identity providers send them back there)
//!
//! [notify]                        # notifications (tenants keep their rules; the operator
//!                                   #   bounds where they may go)
//! webhook_allow = ["https://hooks.client.example/vigie/"]  # webhook URLs must fall under
//!                                   #   one of these prefixes (scheme, host, port, path)
//! email_domains = ["client.example"] # mail goes only to addresses in these domains
//! poll_ms = 2000                    # how often the outbox is read and deliveries tried
//! timeout_s = 10                    # each attempt (connection and answer)
//! [notify.smtp]                     # optional: the relay mail goes through, STARTTLS always
//! host = "smtp.example.org"
//! port = 587
//! from = "Vigie <vigie@soc.example>"
//! username = "vigie"                # optional, with password_file
//! password_file = "/etc/vigie/smtp.pass"
//! ca_file = "relay-ca.pem"          # optional: trust this CA (default: the web's roots)
//!
//! [rules]
//! paths = ["rules"]                 # Sigma rule folders or files
//! placeholders = "placeholders.yml" # optional values for %placeholders%
//! reload_poll_ms = 2000             # how often the folders are checked for changes
//!
//! [[syslog]]                        # any number of listeners
//! name = "firewalls"                # the source name in events and metrics
//! protocol = "udp"                  # udp | tcp | tls
//! listen = "127.0.0.1:5514"
//! tenant = "acme"                   # the tenant every message belongs to
//! logsource = "linux/auth"          # optional product/service/category; default: classify
//! max_message_bytes = 65536         # a longer message is cut off (TCP) or dropped, counted
//! framing = "auto"                  # tcp/tls: "octet" (RFC 6587 counts), "lf" (one per line),
//!                                   #   "auto" (decided once per connection by its first byte)
//! max_connections = 256             # tcp/tls: connections at once; more wait in the OS backlog
//! cert = "server.pem"               # tls: certificate chain (PEM)
//! key = "server.key"                # tls: private key (PEM)
//! client_ca = "clients.pem"         # tls, optional: require client certificates from this CA
//! client_tenants = { "sha256:…" = "acme" }  # tls, optional: tenant by client certificate
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use vigie_event::TenantId;

use crate::ServerError;

/// The whole configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where everything is kept.
    pub data_dir: PathBuf,
    /// A PostgreSQL URL for the state database; `None`: SQLite in `data_dir`.
    pub state: Option<String>,
    /// Where the instance's secrets are (`None`: `data_dir/secrets`).
    pub secrets_dir: Option<PathBuf>,
    /// The audit trail's checkpoints.
    pub audit: Audit,
    /// The HTTP API and ingest.
    pub http: Http,
    /// The ingest journal.
    pub journal: Journal,
    /// Decoding and detection.
    pub pipeline: Pipeline,
    /// The event store.
    pub store: Store,
    /// Sigma rules.
    pub rules: Rules,
    /// People's sessions.
    pub access: Access,
    /// `[console]`: the web console's bounds.
    pub console: Console,
    /// `[triage]`: the source inventory's silence check.
    pub triage: Triage,
    /// `[notify]`: where notifications may go, and the mail relay.
    pub notify: Notify,
    /// syslog listeners.
    pub syslog: Vec<Syslog>,
    /// Per-tenant bounds.
    pub limits: crate::limits::LimitsConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./vigie-data"),
            state: None,
            secrets_dir: None,
            audit: Audit::default(),
            http: Http::default(),
            journal: Journal::default(),
            pipeline: Pipeline::default(),
            store: Store::default(),
            rules: Rules::default(),
            access: Access::default(),
            console: Console::default(),
            triage: Triage::default(),
            notify: Notify::default(),
            syslog: Vec::new(),
            limits: crate::limits::LimitsConfig::default(),
        }
    }
}

/// `[http]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Http {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Largest request body as sent.
    pub max_body_bytes: usize,
    /// Largest request body once gzip is undone.
    pub max_decoded_bytes: usize,
    /// Connections served at once.
    pub max_connections: usize,
    /// Milliseconds for a request's headers to arrive.
    pub header_timeout_ms: u64,
    /// Milliseconds for an authenticated request's body to arrive.
    pub body_timeout_ms: u64,
    /// MiB of ingest bodies (as sent, plus `max_decoded_bytes` while one inflates) held at
    /// once; one tenant may hold a quarter of it.
    pub max_buffered_mib: usize,
}

impl Default for Http {
    fn default() -> Self {
        Http {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_body_bytes: 32 << 20,
            max_decoded_bytes: 128 << 20,
            max_connections: 1024,
            header_timeout_ms: 10_000,
            body_timeout_ms: 60_000,
            max_buffered_mib: 1024,
        }
    }
}

/// `[journal]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Journal {
    /// Segment size.
    pub segment_mib: u64,
    /// Batches queued for the writer thread.
    pub queue: usize,
    /// Durable but unprocessed bytes beyond which ingest answers 429.
    pub max_lag_mib: u64,
}

impl Default for Journal {
    fn default() -> Self {
        Journal {
            segment_mib: 64,
            queue: 1024,
            max_lag_mib: 1024,
        }
    }
}

/// `[pipeline]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Pipeline {
    /// Worker threads (0: one per core).
    pub workers: usize,
    /// Milliseconds between store commits (and alert writes).
    pub commit_interval_ms: u64,
}

impl Default for Pipeline {
    fn default() -> Self {
        Pipeline {
            workers: 0,
            commit_interval_ms: 1000,
        }
    }
}

/// `[store]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Store {
    /// Partition period in hours.
    pub period_hours: u32,
    /// Indexing memory per partition writer.
    pub writer_heap_mib: usize,
    /// Drop partitions older than this.
    pub retention_days: Option<u32>,
    /// Drop a tenant's oldest partitions beyond this size.
    pub max_gib: Option<f64>,
}

impl Default for Store {
    fn default() -> Self {
        Store {
            period_hours: 24,
            writer_heap_mib: 128,
            retention_days: None,
            max_gib: None,
        }
    }
}

/// `[audit]`: signed checkpoints of the audit chains.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Audit {
    /// A checkpoint after this many records of a chain.
    pub checkpoint_every: u64,
    /// Or this many seconds after the chain's last one, when it grew.
    pub checkpoint_interval_s: u64,
    /// A file every checkpoint is appended to.
    pub checkpoint_file: Option<PathBuf>,
    /// A URL every checkpoint is POSTed to (`http://` or `https://`), kept by the client.
    pub checkpoint_url: Option<String>,
}

impl Default for Audit {
    fn default() -> Self {
        Audit {
            checkpoint_every: 1000,
            checkpoint_interval_s: 60,
            checkpoint_file: None,
            checkpoint_url: None,
        }
    }
}

/// `[access]`: how long sessions live (ASVS V7: idle and absolute timeouts).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Access {
    /// A session unused for this long ends.
    pub session_idle_minutes: u64,
    /// Any session ends this long after sign-in.
    pub session_absolute_hours: u64,
    /// How often the governance task runs (deactivations, review deadlines).
    pub governance_interval_s: u64,
    /// The URL browsers reach the server at (identity providers redirect to its
    /// `/api/v1/oidc/callback`); default: `http://` and the bound address.
    pub public_url: Option<String>,
}

impl Default for Access {
    fn default() -> Self {
        Access {
            session_idle_minutes: 30,
            session_absolute_hours: 12,
            governance_interval_s: 60,
            public_url: None,
        }
    }
}

impl Access {
    /// The idle timeout.
    pub fn idle(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.session_idle_minutes.saturating_mul(60))
    }

    /// The absolute lifetime.
    pub fn absolute(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.session_absolute_hours.saturating_mul(3600))
    }
}

/// `[console]`: what the web console may hold open.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Console {
    /// Live alert queues (server-sent event streams) open at once per tenant; one more
    /// is refused with 429 and the page still works, refreshed by hand.
    pub max_live_per_tenant: usize,
    /// How often an open live queue looks for new alerts, in milliseconds.
    pub live_poll_ms: u64,
    /// How long a live queue stays open before the browser reconnects (it re-checks the
    /// session and the grant at each new connection as well as at each poll), in seconds.
    pub live_max_s: u64,
}

impl Default for Console {
    fn default() -> Self {
        Console {
            max_live_per_tenant: 32,
            live_poll_ms: 2000,
            live_max_s: 600,
        }
    }
}

/// `[triage]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Triage {
    /// How often the silence check reads the source inventory and raises or closes
    /// `source_silent` alerts, in milliseconds (0: never).
    pub silence_check_ms: u64,
}

impl Default for Triage {
    fn default() -> Self {
        Triage {
            silence_check_ms: 60_000,
        }
    }
}

/// `[notify]`: the operator's bounds on notifications (`vigie_govern::notify::Allowlist`)
/// and the mail relay.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Notify {
    /// URL prefixes webhooks may be sent under.
    pub webhook_allow: Vec<String>,
    /// Domains mail may be sent to.
    pub email_domains: Vec<String>,
    /// How often the notifier reads the outbox and tries what is due, in milliseconds
    /// (0: never — notifications wait in the database).
    pub poll_ms: u64,
    /// The longest one attempt may take, in seconds.
    pub timeout_s: u64,
    /// The mail relay; without it, e-mail rules are refused.
    pub smtp: Option<Smtp>,
}

impl Default for Notify {
    fn default() -> Self {
        Notify {
            webhook_allow: Vec::new(),
            email_domains: Vec::new(),
            poll_ms: 2000,
            timeout_s: 10,
            smtp: None,
        }
    }
}

/// `[notify.smtp]`: the relay, always spoken to with STARTTLS (a relay that does not offer
/// it gets no mail: notifications name hosts and alerts).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Smtp {
    /// Its host name (checked against its certificate).
    pub host: String,
    /// Its submission port.
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    /// The sender (`Name <address>` or an address).
    pub from: String,
    /// The account, if the relay wants one.
    pub username: Option<String>,
    /// A file holding its password.
    pub password_file: Option<PathBuf>,
    /// A CA certificate (PEM) to trust for the relay, besides the web's roots.
    pub ca_file: Option<PathBuf>,
}

fn default_smtp_port() -> u16 {
    587
}

/// `[rules]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Rules {
    /// Folders or files of Sigma rules.
    pub paths: Vec<PathBuf>,
    /// Placeholder values file.
    pub placeholders: Option<PathBuf>,
    /// Milliseconds between checks of the rule files for changes (0: never).
    pub reload_poll_ms: u64,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            paths: Vec::new(),
            placeholders: None,
            reload_poll_ms: 2000,
        }
    }
}

/// The transport of a syslog listener.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// One message per datagram.
    Udp,
    /// RFC 6587: octet counting or LF framing.
    Tcp,
    /// RFC 5425: TCP framing inside TLS.
    Tls,
}

/// `[[syslog]]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Syslog {
    /// The source name.
    pub name: String,
    /// The transport.
    pub protocol: Protocol,
    /// Address to listen on.
    pub listen: SocketAddr,
    /// The tenant of every message.
    pub tenant: String,
    /// An explicit logsource.
    #[serde(default)]
    pub logsource: Option<String>,
    /// Longest message.
    #[serde(default = "default_max_message")]
    pub max_message_bytes: usize,
    /// TLS certificate chain.
    #[serde(default)]
    pub cert: Option<PathBuf>,
    /// TLS private key.
    #[serde(default)]
    pub key: Option<PathBuf>,
    /// CA of accepted client certificates (TLS); when set, clients must present one.
    #[serde(default)]
    pub client_ca: Option<PathBuf>,
    /// Tenant per client certificate, keyed by `sha256:<hex of the DER>`.
    #[serde(default)]
    pub client_tenants: BTreeMap<String, String>,
    /// How a TCP or TLS stream is cut into messages.
    #[serde(default)]
    pub framing: StreamFraming,
    /// TCP or TLS connections served at once.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
}

/// How a syslog stream is cut into messages (RFC 6587).
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum StreamFraming {
    /// Octet counting: `LEN SP MSG`. A frame that does not start with a count ends the
    /// connection's stream, counted.
    Octet,
    /// Non-transparent framing: one message per line (LF), whatever it starts with.
    Lf,
    /// Decided once per connection by its first byte: a digit 1–9 means octet counting,
    /// anything else (`<`, a letter) line framing; a line framed connection never switches.
    #[default]
    Auto,
}

fn default_max_message() -> usize {
    64 << 10
}

fn default_max_connections() -> usize {
    256
}

impl Config {
    /// Parses `text` (read from `file`, named in errors) and checks it.
    pub fn parse(text: &str, file: &Path) -> Result<Config, ServerError> {
        let config: Config = toml::from_str(text).map_err(|e| ServerError::Config {
            file: file.to_path_buf(),
            message: e.to_string(),
        })?;
        config.check(file)?;
        Ok(config)
    }

    /// Reads and checks `file`.
    pub fn load(file: &Path) -> Result<Config, ServerError> {
        let text = std::fs::read_to_string(file).map_err(|e| ServerError::Config {
            file: file.to_path_buf(),
            message: e.to_string(),
        })?;
        Config::parse(&text, file)
    }

    fn check(&self, file: &Path) -> Result<(), ServerError> {
        let bad = |message: String| ServerError::Config {
            file: file.to_path_buf(),
            message,
        };
        if self.store.period_hours == 0
            || (self.store.period_hours < 24 && !24u32.is_multiple_of(self.store.period_hours))
            || (self.store.period_hours > 24 && !self.store.period_hours.is_multiple_of(24))
        {
            return Err(bad(format!(
                "store.period_hours = {}: must divide 24 or be whole days",
                self.store.period_hours
            )));
        }
        self.limits.check().map_err(bad)?;
        vigie_govern::notify::Allowlist::new(
            &self.notify.webhook_allow,
            &self.notify.email_domains,
        )
        .map_err(|e| bad(format!("[notify]: {e}")))?;
        if self.notify.timeout_s == 0 || self.notify.timeout_s > 300 {
            return Err(bad(format!(
                "notify.timeout_s = {}: from 1 to 300",
                self.notify.timeout_s
            )));
        }
        if let Some(smtp) = &self.notify.smtp
            && smtp.password_file.is_some() != smtp.username.is_some()
        {
            return Err(bad(
                "notify.smtp: username and password_file go together".to_owned()
            ));
        }
        if let Some(url) = &self.audit.checkpoint_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(bad(format!(
                "audit.checkpoint_url = {url:?}: an http:// or https:// URL"
            )));
        }
        if let Some(url) = &self.state
            && !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            return Err(bad(format!(
                "state = {:?}: not a PostgreSQL URL (postgres://user@host:port/database); \
                 leave the key out for the SQLite file in data_dir",
                vigie_state::redact(url)
            )));
        }
        // tantivy refuses an indexing arena under 15 MB per thread; each partition writer
        // indexes with two threads (`StoreConfig::writer_threads`).
        let threads = vigie_store::StoreConfig::default().writer_threads.max(1);
        if self.store.writer_heap_mib * (1 << 20) < 15_000_000 * threads {
            return Err(bad(format!(
                "store.writer_heap_mib = {}: at least {} (15 MB per indexing thread, {threads} threads)",
                self.store.writer_heap_mib,
                (15_000_000 * threads).div_ceil(1 << 20)
            )));
        }
        if self.http.max_connections == 0 {
            return Err(bad("http.max_connections must be > 0".to_owned()));
        }
        let need = (self.http.max_body_bytes + self.http.max_decoded_bytes).div_ceil(1 << 20);
        if self.http.max_buffered_mib / 4 < need {
            return Err(bad(format!(
                "http.max_buffered_mib = {}: a tenant's quarter must hold one body as sent and \
                 inflated ({need} MiB with max_body_bytes and max_decoded_bytes)",
                self.http.max_buffered_mib
            )));
        }
        if self.journal.segment_mib == 0 || self.journal.queue == 0 {
            return Err(bad(
                "journal.segment_mib and journal.queue must be > 0".to_owned()
            ));
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, l) in self.syslog.iter().enumerate() {
            let at = format!("syslog listener #{} ({:?})", i + 1, l.name);
            if l.name.is_empty() || !names.insert(&l.name) {
                return Err(bad(format!("{at}: name must be non-empty and unique")));
            }
            TenantId::new(&l.tenant).map_err(|e| bad(format!("{at}: {e}")))?;
            for tenant in l.client_tenants.values() {
                TenantId::new(tenant).map_err(|e| bad(format!("{at}: client_tenants: {e}")))?;
            }
            if let Some(ls) = &l.logsource {
                vigie_event::LogSource::parse_path(ls).map_err(|e| bad(format!("{at}: {e}")))?;
            }
            let tls = l.protocol == Protocol::Tls;
            if tls != (l.cert.is_some() && l.key.is_some()) {
                return Err(bad(format!(
                    "{at}: cert and key are required with protocol = \"tls\" and only then"
                )));
            }
            if !tls && (l.client_ca.is_some() || !l.client_tenants.is_empty()) {
                return Err(bad(format!(
                    "{at}: client_ca and client_tenants need protocol = \"tls\""
                )));
            }
            for fingerprint in l.client_tenants.keys() {
                let hex = fingerprint.strip_prefix("sha256:").unwrap_or("");
                if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(bad(format!(
                        "{at}: client_tenants key {fingerprint:?}: expected sha256:<64 hex digits>"
                    )));
                }
            }
            if l.max_connections == 0 {
                return Err(bad(format!("{at}: max_connections must be > 0")));
            }
            if l.max_message_bytes < 480 {
                return Err(bad(format!(
                    "{at}: max_message_bytes below 480 (RFC 5426 says every receiver takes 480)"
                )));
            }
        }
        Ok(())
    }

    /// The state database file (when `state` names no PostgreSQL database).
    pub fn state_path(&self) -> PathBuf {
        self.data_dir.join(vigie_state::DATABASE_FILE)
    }

    /// Opens the state database this configuration names: PostgreSQL at `state`, or the
    /// SQLite file in `data_dir`.
    pub async fn open_state(&self) -> Result<vigie_state::State, vigie_state::StateError> {
        match &self.state {
            Some(url) => vigie_state::State::connect(url, 8).await,
            None => vigie_state::State::open(&self.state_path()).await,
        }
    }

    /// The journal folder.
    pub fn journal_dir(&self) -> PathBuf {
        self.data_dir.join("journal")
    }

    /// The quarantine folder (see [`crate::quarantine`]).
    pub fn quarantine_dir(&self) -> PathBuf {
        self.data_dir.join("quarantine")
    }

    /// The event store folder.
    pub fn store_dir(&self) -> PathBuf {
        self.data_dir.join("events")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_example_parses() {
        let doc = include_str!("config.rs");
        let example: String = doc
            .lines()
            .skip_while(|l| !l.starts_with("//! ```toml"))
            .skip(1)
            .take_while(|l| !l.starts_with("//! ```"))
            .map(|l| l.trim_start_matches("//!").trim_start_matches(' '))
            .map(|l| format!("{l}\n"))
            .collect();
        let example = example.replace(
            "client_tenants = { \"sha256:…\" = \"acme\" }",
            &format!(
                "client_tenants = {{ \"sha256:{}\" = \"acme\" }}",
                "ab".repeat(32)
            ),
        );
        let example = example.replace("protocol = \"udp\"", "protocol = \"tls\"");
        let config = Config::parse(&example, Path::new("example.toml")).expect("example parses");
        assert_eq!(config.syslog.len(), 1);
        assert_eq!(config.store.retention_days, Some(90));
    }

    #[test]
    fn the_state_is_a_postgres_url_or_nothing() {
        let ok = Config::parse(
            "state = \"postgres://vigie:pw@127.0.0.1:5432/vigie\"\n",
            Path::new("vigie.toml"),
        )
        .expect("a PostgreSQL URL");
        assert!(ok.state.is_some());
        let err = Config::parse("state = \"mysql://u:pw@h/db\"\n", Path::new("vigie.toml"))
            .expect_err("not PostgreSQL");
        let message = err.to_string();
        assert!(message.contains("not a PostgreSQL URL"), "{message}");
        assert!(!message.contains("pw@"), "the password leaked: {message}");
    }

    #[test]
    fn the_checkpoint_url_is_http_or_https() {
        let ok = Config::parse(
            "[audit]\ncheckpoint_url = \"https://soc.example/cp\"\n",
            Path::new("vigie.toml"),
        )
        .expect("https");
        assert!(ok.audit.checkpoint_url.is_some());
        let err = Config::parse(
            "[audit]\ncheckpoint_url = \"file:///etc/passwd\"\n",
            Path::new("vigie.toml"),
        )
        .expect_err("not http");
        assert!(err.to_string().contains("checkpoint_url"), "{err}");
    }

    #[test]
    fn unknown_keys_are_rejected_with_their_line() {
        let text = "data_dir = \"x\"\n[http]\nlisten = \"127.0.0.1:1\"\nlisten_port = 3\n";
        let err = Config::parse(text, Path::new("vigie.toml")).expect_err("unknown key");
        let message = err.to_string();
        assert!(message.contains("vigie.toml"), "{message}");
        assert!(message.contains("line 4"), "{message}");
        assert!(message.contains("listen_port"), "{message}");
    }

    #[test]
    fn inconsistent_listeners_are_rejected() {
        let tls_without_cert = "[[syslog]]\nname = \"a\"\nprotocol = \"tls\"\nlisten = \"127.0.0.1:1\"\ntenant = \"t\"\n";
        assert!(Config::parse(tls_without_cert, Path::new("x")).is_err());
        let bad_tenant = "[[syslog]]\nname = \"a\"\nprotocol = \"udp\"\nlisten = \"127.0.0.1:1\"\ntenant = \"no spaces\"\n";
        assert!(Config::parse(bad_tenant, Path::new("x")).is_err());
        assert!(Config::parse("", Path::new("x")).is_ok());
        let small_heap = "[store]\nwriter_heap_mib = 16\n";
        let err = Config::parse(small_heap, Path::new("x")).expect_err("too small");
        assert!(err.to_string().contains("at least 29"), "{err}");
        assert!(Config::parse("[store]\nwriter_heap_mib = 29\n", Path::new("x")).is_ok());
    }
}
