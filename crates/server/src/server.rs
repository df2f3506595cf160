//! Starting and stopping the whole service.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use vigie_event::TenantId;
use vigie_state::State;
use vigie_store::{RetentionPolicy, RetentionTask, Store, StoreConfig};

use crate::ServerError;
use crate::api::{self, App};
use crate::config::{Config, Protocol};
use crate::intake::syslog;
use crate::limits::Quotas;
use crate::metrics::Metrics;
use crate::pipeline::{Parts, Pipeline, PipelineConfig};
use crate::quarantine::Quarantine;
use vigie_detect::Rules;
use vigie_journal::record::IdKey;
use vigie_journal::{self as journal, JournalConfig, committer};

/// What a caller needs to know once the server runs.
#[derive(Debug)]
pub struct Started {
    /// The HTTP address (the real port when the config said 0).
    pub http: SocketAddr,
    /// Each syslog listener: name, protocol, address.
    pub syslog: Vec<(String, Protocol, SocketAddr)>,
    /// Rules loaded and rejected.
    pub rules: (usize, usize),
}

/// The running service.
#[derive(Debug)]
pub struct Server {
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    pipeline: Option<Pipeline>,
    retention: Option<RetentionTask>,
    state: State,
    store: Arc<Store>,
    appender: Option<committer::Appender>,
    metrics: Arc<Metrics>,
    rules: Arc<Rules>,
    quarantine: Quarantine,
    auditor: crate::auditor::Auditor,
}

impl Server {
    /// Opens everything under the data directory, binds the listeners and starts the
    /// pipeline. Must run inside a multi-threaded tokio runtime.
    pub async fn start(config: Config) -> Result<(Server, Started), ServerError> {
        let config = Arc::new(config);
        std::fs::create_dir_all(&config.data_dir).map_err(ServerError::io(format!(
            "cannot create the data directory {}",
            config.data_dir.display()
        )))?;
        let state = config.open_state().await?;
        let secrets = Arc::new(crate::secrets::Secrets::load_or_create(
            &crate::secrets::Secrets::dir(&config),
        )?);
        let auditor = crate::auditor::Auditor::start(
            state.clone(),
            Arc::clone(&secrets),
            config.audit.clone(),
        );
        for l in &config.syslog {
            let tenant = TenantId::new(&l.tenant).map_err(|e| ServerError::Config {
                file: "syslog".into(),
                message: e.to_string(),
            })?;
            let mut tenants = vec![tenant];
            for t in l.client_tenants.values() {
                tenants.extend(TenantId::new(t).ok());
            }
            for tenant in tenants {
                if !state.tenant_exists(&tenant).await? {
                    return Err(ServerError::UnknownTenant {
                        listener: l.name.clone(),
                        tenant: tenant.to_string(),
                    });
                }
            }
        }

        let store_config = StoreConfig {
            period_hours: config.store.period_hours,
            writer_heap_bytes: config.store.writer_heap_mib << 20,
            ..StoreConfig::default()
        };
        let store = Arc::new(Store::open(config.store_dir(), store_config)?);
        let retention = if config.store.retention_days.is_some() || config.store.max_gib.is_some() {
            store.set_default_retention(RetentionPolicy {
                max_age: config
                    .store
                    .retention_days
                    .map(|d| Duration::from_secs(u64::from(d) * 86_400)),
                max_bytes: config
                    .store
                    .max_gib
                    .map(|g| (g * (1u64 << 30) as f64) as u64),
            });
            Some(
                RetentionTask::spawn(Arc::clone(&store), Duration::from_secs(3600))
                    .map_err(ServerError::io("cannot start the retention task"))?,
            )
        } else {
            None
        };

        let (writer, shared) = journal::open(
            &config.journal_dir(),
            JournalConfig {
                segment_bytes: config.journal.segment_mib << 20,
            },
        )
        .map_err(ServerError::io(format!(
            "cannot open the journal in {}",
            config.journal_dir().display()
        )))?;
        let (appender, _writer_thread) = committer::spawn(writer, config.journal.queue)
            .map_err(ServerError::io("cannot start the journal writer"))?;

        let rules = Arc::new(Rules::load(
            config.rules.paths.clone(),
            config.rules.placeholders.clone(),
        )?);
        let book = rules.current();
        let suppressions = Arc::new(vigie_detect::suppress::Suppressions::default());
        crate::suppressions::load_all(&state, &suppressions).await?;
        let interrupted = state
            .fail_interrupted_hunts(vigie_event::Timestamp::now())
            .await?;
        if interrupted > 0 {
            tracing::warn!(
                interrupted,
                "retro-hunts left running by the last stop marked failed"
            );
        }
        let metrics = Arc::new(Metrics::default());
        let workers = match config.pipeline.workers {
            0 => std::thread::available_parallelism().map_or(2, usize::from),
            n => n,
        };
        let quotas = Arc::new(Quotas::new(config.limits.clone()));
        let quarantine = Quarantine::new(config.quarantine_dir());
        let id_key = Arc::new(
            IdKey::load_or_create(&config.data_dir).map_err(ServerError::io(format!(
                "cannot read or create the event id key in {}",
                config.data_dir.display()
            )))?,
        );
        let pipeline = Pipeline::start(
            Parts {
                journal: Arc::clone(&shared),
                store: Arc::clone(&store),
                state: state.clone(),
                rules: Arc::clone(&rules),
                suppressions: Arc::clone(&suppressions),
                metrics: Arc::clone(&metrics),
                runtime: tokio::runtime::Handle::current(),
                quotas: Arc::clone(&quotas),
                quarantine: quarantine.clone(),
                id_key,
            },
            PipelineConfig {
                workers,
                commit_interval: Duration::from_millis(config.pipeline.commit_interval_ms.max(10)),
            },
        )?;

        let (shutdown, shutdown_rx) = watch::channel(false);
        let mut tasks = Vec::new();
        if config.rules.reload_poll_ms > 0 {
            tasks.push(tokio::spawn(poll_rules(
                Arc::clone(&rules),
                Arc::clone(&metrics),
                Duration::from_millis(config.rules.reload_poll_ms),
                shutdown_rx.clone(),
            )));
        }

        tasks.push(tokio::spawn(sample_metrics(
            Arc::clone(&metrics),
            shutdown_rx.clone(),
        )));
        if config.triage.silence_check_ms > 0 {
            tasks.push(tokio::spawn(crate::silence::run(
                state.clone(),
                Duration::from_millis(config.triage.silence_check_ms),
                shutdown_rx.clone(),
            )));
        }
        tasks.push(tokio::spawn(purge_idempotency_keys(
            state.clone(),
            Duration::from_secs(3600),
            shutdown_rx.clone(),
        )));

        let listener = tokio::net::TcpListener::bind(config.http.listen)
            .await
            .map_err(ServerError::io(format!(
                "cannot listen on {}",
                config.http.listen
            )))?;
        let http = listener
            .local_addr()
            .map_err(ServerError::io("cannot read the HTTP address"))?;
        let public_url = config
            .access
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{http}"));
        let notifier = Arc::new(crate::notify::Notifier::new(
            &config.notify,
            secrets.instance_secret(),
            &public_url,
        )?);
        if config.notify.poll_ms > 0 {
            tasks.push(tokio::spawn(crate::notify::run(
                Arc::clone(&notifier),
                state.clone(),
                Duration::from_millis(config.notify.poll_ms),
                shutdown_rx.clone(),
            )));
        }
        let app = App {
            state: state.clone(),
            store: Arc::clone(&store),
            appender: appender.clone(),
            metrics: Arc::clone(&metrics),
            rules: Arc::clone(&rules),
            suppressions: Arc::clone(&suppressions),
            hunts: Arc::new(crate::hunts::Hunts::default()),
            config: Arc::clone(&config),
            pipeline_failure: pipeline.failure_handle(),
            quotas,
            quarantine: quarantine.clone(),
            buffers: Arc::new(crate::api::Buffers::new(config.http.max_buffered_mib)),
            auditor: auditor.clone(),
            secrets: Arc::clone(&secrets),
            hashing: Arc::new(crate::api::Hashing::new()),
            live: Arc::new(crate::limits::LiveStreams::new(
                config.console.max_live_per_tenant,
            )),
            public_url: Arc::new(public_url),
            notifier,
        };
        // The syslog listeners are bound before HTTP answers, so that a healthy answer
        // means every listener takes connections (a client that waited for /health and
        // then connected was refused under load).
        let mut bound = Vec::new();
        for l in &config.syslog {
            let b = syslog::bind(l, appender.clone(), Arc::clone(&metrics)).await?;
            bound.push((l.name.clone(), l.protocol, b.local));
            tasks.push(tokio::spawn(b.run(shutdown_rx.clone())));
        }
        let router = api::router(app.clone(), crate::console::routes(app));
        tasks.push(tokio::spawn(serve_http(
            listener,
            router,
            config.http.clone(),
            shutdown_rx.clone(),
        )));
        tasks.push(crate::governance::spawn(
            state.clone(),
            auditor.clone(),
            Duration::from_secs(config.access.governance_interval_s.max(1)),
            shutdown_rx.clone(),
        ));
        tracing::info!(%http, rules = book.rules.len(), rejected = book.rejected.len(), "vigie serving");
        let started = Started {
            http,
            syslog: bound,
            rules: (
                book.rules.len() + book.correlation_rules.len(),
                book.rejected.len(),
            ),
        };
        Ok((
            Server {
                shutdown,
                tasks,
                pipeline: Some(pipeline),
                retention,
                state,
                store,
                appender: Some(appender),
                metrics,
                rules,
                quarantine,
                auditor,
            },
            started,
        ))
    }

    /// The audit trail's writer.
    pub fn auditor(&self) -> &crate::auditor::Auditor {
        &self.auditor
    }

    /// The state database.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// The event store.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The counters.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The rules.
    pub fn rules(&self) -> &Arc<Rules> {
        &self.rules
    }

    /// The records the pipeline set aside.
    pub fn quarantine(&self) -> &Quarantine {
        &self.quarantine
    }

    /// Whether everything durable in the journal has been processed.
    pub fn caught_up(&self) -> bool {
        self.appender
            .as_ref()
            .is_some_and(|a| crate::pipeline::caught_up(a.shared()))
    }

    /// Stops the listeners, processes what the journal holds, commits and closes.
    pub async fn shutdown(mut self) -> Result<(), ServerError> {
        let _ = self.shutdown.send(true);
        for task in self.tasks.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
        self.appender = None;
        if let Some(pipeline) = self.pipeline.take() {
            tokio::task::spawn_blocking(move || pipeline.stop())
                .await
                .map_err(|e| ServerError::Task {
                    what: "pipeline".to_owned(),
                    message: e.to_string(),
                })??;
        }
        if let Some(retention) = self.retention.take() {
            drop(retention);
        }
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || store.close())
            .await
            .map_err(|e| ServerError::Task {
                what: "store".to_owned(),
                message: e.to_string(),
            })??;
        // The last records get their checkpoint before the database closes.
        let _ = self.auditor.checkpoint_now().await;
        self.state.close().await;
        Ok(())
    }
}

/// Serves the API: at most `http.max_connections` connections at once (past that, clients
/// wait in the kernel's backlog), each of which must send a request's headers within
/// `http.header_timeout_ms` (a client that trickles them, or opens a connection and says
/// nothing, is cut off, freeing its slot). On shutdown, requests in flight finish (up to ten
/// seconds) and idle connections close.
async fn serve_http(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    config: crate::config::Http,
    mut shutdown: watch::Receiver<bool>,
) {
    let slots = Arc::new(tokio::sync::Semaphore::new(config.max_connections));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(Duration::from_millis(config.header_timeout_ms))
        .max_buf_size(64 << 10);
    loop {
        let slot = tokio::select! {
            s = Arc::clone(&slots).acquire_owned() => s,
            _ = shutdown.wait_for(|s| *s) => break,
        };
        let Ok(slot) = slot else { break };
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.wait_for(|s| *s) => break,
        };
        let Ok((stream, peer)) = accepted else {
            // Out of file descriptors and the like: do not spin.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        // The peer's address, for the audit records and the sign-in throttle.
        let routes = router.clone();
        let service = hyper::service::service_fn(
            move |mut request: hyper::Request<hyper::body::Incoming>| {
                request
                    .extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                tower::ServiceExt::oneshot(routes.clone(), request.map(axum::body::Body::new))
            },
        );
        let connection = builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let _slot = slot;
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "HTTP connection ended with an error");
            }
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(Duration::from_secs(10)) => {
            tracing::warn!("HTTP connections still open after 10 s of shutdown: closed");
        }
    }
}

/// Forgets the idempotency keys older than a day, every `every` (the table is bounded per
/// tenant anyway, by `limits.max_idempotency_keys`; this gives the space back).
async fn purge_idempotency_keys(
    state: State,
    every: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        match state
            .idempotency_purge(vigie_event::time::Timestamp::now())
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(keys = n, "idempotency keys older than a day forgotten"),
            Err(e) => tracing::warn!(error = %e, "cannot purge idempotency keys"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Samples the sources' counters for the console's health page.
async fn sample_metrics(metrics: Arc<Metrics>, mut shutdown: watch::Receiver<bool>) {
    loop {
        metrics.sample(vigie_event::time::Timestamp::now().as_nanos() / 1_000_000_000);
        tokio::select! {
            _ = tokio::time::sleep(crate::metrics::SAMPLE_EVERY) => {}
            _ = shutdown.changed() => return,
        }
    }
}

async fn poll_rules(
    rules: Arc<Rules>,
    metrics: Arc<Metrics>,
    every: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => return,
        }
        let r = Arc::clone(&rules);
        let changed = tokio::task::spawn_blocking(move || r.changed())
            .await
            .unwrap_or(false);
        if !changed {
            continue;
        }
        let r = Arc::clone(&rules);
        match tokio::task::spawn_blocking(move || r.reload()).await {
            Ok(Ok(book)) => {
                metrics.pipeline.reloads.fetch_add(1, Ordering::Relaxed);
                tracing::info!(
                    generation = book.generation,
                    rules = book.rules.len(),
                    rejected = book.rejected.len(),
                    "rules changed on disk: reloaded"
                );
            }
            Ok(Err(e)) => {
                tracing::error!(error = %e, "rules changed on disk but cannot be reloaded; the previous set stays")
            }
            Err(e) => tracing::error!(error = %e, "rule reload panicked"),
        }
    }
}
