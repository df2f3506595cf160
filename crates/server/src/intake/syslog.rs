//! syslog listeners: UDP (one message per datagram), TCP and TLS (RFC 6587 octet counting
//! or LF framing, fixed per connection: see `framing` in the configuration).
//!
//! Messages are gathered into journal batches (up to [`BATCH_MESSAGES`] or
//! [`BATCH_BYTES`], or whatever one read returned). syslog has no acknowledgement:
//!
//! - UDP cannot push back: when the journal queue is full the batch is dropped and counted
//!   (`vigie_dropped_messages_total{reason="queue_full"}`).
//! - TCP and TLS push back: a connection waits for its batch to be durable before reading
//!   more, and waits for room when the queue is full, so a fast sender is slowed down by
//!   TCP flow control instead of losing messages.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use vigie_event::decode::framing::{Method, SyslogFramer};
use vigie_event::time::Timestamp;
use vigie_event::{SourceKind, TenantId};

use crate::ServerError;
use crate::config::{Protocol, StreamFraming, Syslog};
use crate::metrics::{DropReason, Metrics, SourceCounters};
use vigie_journal::committer::Appender;

use super::{Backpressure, Delivery, hand_over};
use vigie_journal::record::{Batch, Framing};

/// Messages per journal batch at most.
pub const BATCH_MESSAGES: usize = 2000;
/// Bytes per journal batch at most.
pub const BATCH_BYTES: usize = 1 << 20;
/// How long a UDP listener waits to fill a batch.
const UDP_LINGER: Duration = Duration::from_millis(20);
/// A TCP/TLS client that sends nothing for this long is disconnected.
const IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// A TLS handshake must finish within this.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What every connection of a listener shares.
#[derive(Clone, Debug)]
struct Context {
    name: Arc<str>,
    tenant: TenantId,
    kind: SourceKind,
    logsource: Arc<str>,
    max_message: usize,
    appender: Appender,
    metrics: Arc<Metrics>,
    counters: Arc<SourceCounters>,
    /// Tenant per client certificate fingerprint (TLS).
    client_tenants: Arc<BTreeMap<String, TenantId>>,
    /// How TCP and TLS streams are framed.
    framing: Method,
    /// Connections served at once (TCP, TLS): a permit per connection.
    connections: Arc<tokio::sync::Semaphore>,
}

impl Context {
    fn batch(&self, tenant: &TenantId, messages: Vec<Bytes>) -> Batch {
        Batch {
            tenant: tenant.clone(),
            kind: self.kind,
            source: self.name.to_string(),
            logsource: self.logsource.to_string(),
            framing: Framing::Syslog,
            received: Timestamp::now(),
            idempotency_key: String::new(),
            messages,
        }
    }
}

/// A bound listener, ready to run.
pub struct Bound {
    /// The address it listens on (the real port when the config said 0).
    pub local: SocketAddr,
    socket: Socket,
    context: Context,
}

enum Socket {
    Udp(UdpSocket),
    Tcp(TcpListener, Option<TlsAcceptor>),
}

/// Binds the listener `config` describes.
pub async fn bind(
    config: &Syslog,
    appender: Appender,
    metrics: Arc<Metrics>,
) -> Result<Bound, ServerError> {
    let what = || {
        format!(
            "syslog listener {:?}: cannot listen on {}",
            config.name, config.listen
        )
    };
    let tenant = TenantId::new(&config.tenant).map_err(|e| ServerError::Config {
        file: "syslog".into(),
        message: e.to_string(),
    })?;
    let client_tenants = config
        .client_tenants
        .iter()
        .filter_map(|(k, v)| Some((k.to_ascii_lowercase(), TenantId::new(v).ok()?)))
        .collect();
    let (kind, socket) = match config.protocol {
        Protocol::Udp => {
            let socket = UdpSocket::bind(config.listen)
                .await
                .map_err(ServerError::io(what()))?;
            (SourceKind::SyslogUdp, Socket::Udp(socket))
        }
        Protocol::Tcp => {
            let listener = TcpListener::bind(config.listen)
                .await
                .map_err(ServerError::io(what()))?;
            (SourceKind::SyslogTcp, Socket::Tcp(listener, None))
        }
        Protocol::Tls => {
            let acceptor = crate::intake::tls::acceptor(config)?;
            let listener = TcpListener::bind(config.listen)
                .await
                .map_err(ServerError::io(what()))?;
            (SourceKind::SyslogTls, Socket::Tcp(listener, Some(acceptor)))
        }
    };
    let local = match &socket {
        Socket::Udp(s) => s.local_addr(),
        Socket::Tcp(l, _) => l.local_addr(),
    }
    .map_err(ServerError::io(what()))?;
    let counters = metrics.source(tenant.as_str(), &config.name);
    Ok(Bound {
        local,
        socket,
        context: Context {
            name: config.name.as_str().into(),
            tenant,
            kind,
            logsource: config.logsource.as_deref().unwrap_or("").into(),
            max_message: config.max_message_bytes,
            appender,
            metrics,
            counters,
            client_tenants: Arc::new(client_tenants),
            framing: match config.framing {
                StreamFraming::Octet => Method::OctetCounting,
                StreamFraming::Lf => Method::LineFeed,
                StreamFraming::Auto => Method::Auto,
            },
            connections: Arc::new(tokio::sync::Semaphore::new(config.max_connections)),
        },
    })
}

impl std::fmt::Debug for Bound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bound")
            .field("local", &self.local)
            .field("name", &self.context.name)
            .finish_non_exhaustive()
    }
}

impl Bound {
    /// Serves until `shutdown` turns true.
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        match self.socket {
            Socket::Udp(socket) => udp(socket, self.context, shutdown).await,
            Socket::Tcp(listener, tls) => tcp(listener, tls, self.context, shutdown).await,
        }
    }
}

async fn udp(socket: UdpSocket, ctx: Context, mut shutdown: watch::Receiver<bool>) {
    let mut buf = vec![0u8; 65_536];
    let mut messages: Vec<Bytes> = Vec::new();
    let mut bytes = 0usize;
    loop {
        let received = if messages.is_empty() {
            tokio::select! {
                r = socket.recv_from(&mut buf) => Some(r),
                _ = shutdown.changed() => None,
            }
        } else {
            match tokio::time::timeout(UDP_LINGER, socket.recv_from(&mut buf)).await {
                Ok(r) => Some(r),
                Err(_) => {
                    flush_udp(&ctx, &mut messages, &mut bytes).await;
                    continue;
                }
            }
        };
        let Some(received) = received else {
            flush_udp(&ctx, &mut messages, &mut bytes).await;
            return;
        };
        let Ok((n, _peer)) = received else { continue };
        ctx.counters.received.fetch_add(1, Ordering::Relaxed);
        ctx.counters.bytes.fetch_add(n as u64, Ordering::Relaxed);
        if n > ctx.max_message {
            ctx.counters.count_drop(DropReason::Oversize, 1);
            continue;
        }
        messages.push(Bytes::copy_from_slice(&buf[..n]));
        bytes += n;
        if messages.len() >= BATCH_MESSAGES || bytes >= BATCH_BYTES {
            flush_udp(&ctx, &mut messages, &mut bytes).await;
        }
    }
}

/// Hands a UDP batch to the journal without waiting: nobody could be told anyway.
async fn flush_udp(ctx: &Context, messages: &mut Vec<Bytes>, bytes: &mut usize) {
    if messages.is_empty() {
        return;
    }
    let batch = ctx.batch(&ctx.tenant, std::mem::take(messages));
    *bytes = 0;
    hand_over(
        &ctx.appender,
        &batch,
        Backpressure::DropAndCount,
        &ctx.counters,
    )
    .await;
}

async fn tcp(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    ctx: Context,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        // A connection slot first: past `max_connections`, new clients wait in the kernel's
        // backlog (TCP pushes back on them) instead of costing memory and a task each.
        let permit = tokio::select! {
            p = Arc::clone(&ctx.connections).acquire_owned() => p,
            _ = shutdown.changed() => return,
        };
        let Ok(permit) = permit else { return };
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => return,
        };
        let Ok((stream, peer)) = accepted else {
            // Out of file descriptors and the like: do not spin.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let ctx = ctx.clone();
        let tls = tls.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let _permit = permit;
            match tls {
                None => {
                    let tenant = ctx.tenant.clone();
                    connection(stream, &ctx, &tenant, shutdown).await;
                }
                Some(acceptor) => {
                    let handshake =
                        tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await;
                    let stream = match handshake {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            tracing::info!(listener = %ctx.name, %peer, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::info!(listener = %ctx.name, %peer, "TLS handshake timed out");
                            return;
                        }
                    };
                    let tenant = {
                        let (_, session) = stream.get_ref();
                        crate::intake::tls::client_fingerprint(session)
                            .and_then(|f| ctx.client_tenants.get(&f).cloned())
                            .unwrap_or_else(|| ctx.tenant.clone())
                    };
                    connection(stream, &ctx, &tenant, shutdown).await;
                }
            }
        });
    }
}

/// Reads frames from one connection; each read's frames become one batch, made durable
/// before the next read (backpressure).
async fn connection<S: AsyncRead + Unpin>(
    mut stream: S,
    ctx: &Context,
    tenant: &TenantId,
    mut shutdown: watch::Receiver<bool>,
) {
    let counters = if *tenant == ctx.tenant {
        Arc::clone(&ctx.counters)
    } else {
        ctx.metrics.source(tenant.as_str(), &ctx.name)
    };
    let mut framer = SyslogFramer::with_method(ctx.max_message, ctx.framing);
    let mut buf = vec![0u8; 256 << 10];
    loop {
        let read = tokio::select! {
            r = tokio::time::timeout(IDLE_TIMEOUT, stream.read(&mut buf)) => r,
            _ = shutdown.changed() => return,
        };
        let n = match read {
            Ok(Ok(n)) => n,
            // Reset, TLS alert, idle timeout: the connection ends; what was read is kept.
            Ok(Err(_)) | Err(_) => 0,
        };
        counters.bytes.fetch_add(n as u64, Ordering::Relaxed);
        framer.push(&buf[..n]);
        let mut messages = Vec::new();
        let mut frames = |framer: &mut SyslogFramer, end: bool| loop {
            let next = if end {
                framer.finish()
            } else {
                framer.next_frame()
            };
            match next {
                Some(Ok(frame)) => {
                    counters.received.fetch_add(1, Ordering::Relaxed);
                    if !frame.is_empty() {
                        messages.push(frame);
                    }
                }
                Some(Err(e)) => {
                    counters.received.fetch_add(1, Ordering::Relaxed);
                    let why = match e {
                        vigie_event::EventError::FrameTooLarge { .. } => DropReason::Oversize,
                        _ => DropReason::Framing,
                    };
                    counters.count_drop(why, 1);
                    tracing::debug!(listener = %ctx.name, error = %e, "syslog frame dropped");
                }
                None => break,
            }
        };
        frames(&mut framer, n == 0);
        for chunk in messages.chunks(BATCH_MESSAGES) {
            if !durable(ctx, &counters, tenant, chunk.to_vec()).await {
                return;
            }
        }
        if framer.is_broken() {
            // An octet-counted stream whose framing is lost: the rest cannot be cut into
            // messages (counted above as a framing drop). The client reconnects.
            tracing::info!(listener = %ctx.name, "syslog connection closed: octet counting lost");
            return;
        }
        if n == 0 {
            return;
        }
    }
}

/// Makes a batch durable, waiting for room in the journal queue. Returns false when the
/// journal is gone (shutting down).
async fn durable(
    ctx: &Context,
    counters: &Arc<SourceCounters>,
    tenant: &TenantId,
    messages: Vec<Bytes>,
) -> bool {
    let batch = ctx.batch(tenant, messages);
    let delivery = hand_over(&ctx.appender, &batch, Backpressure::Wait, counters).await;
    !matches!(delivery, Delivery::Refused(_))
}
