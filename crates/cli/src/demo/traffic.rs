//! The demo's senders: real clients on the real listeners. Windows and DNS logs are posted
//! over HTTP (NDJSON, gzip, bearer token), Linux syslog and CEF go over syslog TCP (Acme,
//! octet counting), UDP (Globex) and TLS (Globex's firewall).

use std::io::Write;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rustls::pki_types::{CertificateDer, ServerName};

use super::story::Channel;
use vigie_testkit::synth::{Generator, Wire};

/// Where to send.
#[derive(Clone, Debug)]
pub(crate) struct Targets {
    pub(crate) http: SocketAddr,
    /// Ingest tokens of the two tenants (acme, globex).
    pub(crate) tokens: [String; 2],
    pub(crate) acme_tcp: SocketAddr,
    pub(crate) globex_udp: SocketAddr,
    pub(crate) globex_tls: SocketAddr,
    /// The TLS listener's self-signed certificate, trusted by the client.
    pub(crate) tls_cert: Vec<u8>,
}

/// What the senders have done.
#[derive(Debug, Default)]
pub(crate) struct Sent {
    pub(crate) events: AtomicU64,
    pub(crate) http_errors: AtomicU64,
}

/// Posts NDJSON batches.
pub(crate) struct Http {
    agent: ureq::Agent,
    base: String,
}

impl Http {
    pub(crate) fn new(addr: SocketAddr) -> Http {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        Http {
            agent,
            base: format!("http://{addr}"),
        }
    }

    /// Posts `lines` gzip-compressed; returns the HTTP status.
    pub(crate) fn post(
        &self,
        token: &str,
        logsource: Option<&str>,
        lines: &[String],
    ) -> Result<u16> {
        let mut body = Vec::new();
        for l in lines {
            body.extend_from_slice(l.as_bytes());
            body.push(b'\n');
        }
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&body)?;
        let body = gz.finish()?;
        let mut request = self
            .agent
            .post(format!("{}/api/v1/ingest", self.base))
            .header("Authorization", format!("Bearer {token}"))
            .header("Content-Encoding", "gzip")
            .header("Content-Type", "application/x-ndjson");
        if let Some(ls) = logsource {
            request = request.query("logsource", ls);
        }
        let response = request.send(&body[..]).context("POST /api/v1/ingest")?;
        Ok(response.status().as_u16())
    }
}

fn octet_counted(out: &mut Vec<u8>, line: &str) {
    out.extend_from_slice(format!("{} ", line.len()).as_bytes());
    out.extend_from_slice(line.as_bytes());
}

type TlsStream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

fn tls_connect(addr: SocketAddr, cert: &[u8]) -> Result<TlsStream> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(cert) {
        roots.add(c.context("demo certificate")?)?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connection = rustls::ClientConnection::new(
        Arc::new(config),
        ServerName::try_from("localhost")?.to_owned(),
    )?;
    let tcp = TcpStream::connect(addr)?;
    Ok(rustls::StreamOwned::new(connection, tcp))
}

/// One failed root login of the client's vulnerability scanner, as sshd logs it (RFC 3164).
fn scanner_line(now: i64, n: u64) -> String {
    let civil = vigie_event::Timestamp::from_nanos(now).to_civil(vigie_event::UtcOffset::UTC);
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = months[(civil.month.clamp(1, 12) - 1) as usize];
    format!(
        "<38>{month} {:>2} {:02}:{:02}:{:02} srv-0001 sshd[{}]: Failed password for root from 10.20.0.5 port {} ssh2",
        civil.day,
        civil.hour,
        civil.minute,
        civil.second,
        20_000 + n % 10_000,
        50_000 + n % 10_000
    )
}

/// Sends generated background traffic at `rate` events per second until `stop`.
pub(crate) fn background(
    targets: &Targets,
    rate: u64,
    stop: &AtomicBool,
    sent: &Sent,
) -> Result<()> {
    let http = Http::new(targets.http);
    let mut tcp = TcpStream::connect(targets.acme_tcp).context("syslog TCP")?;
    let udp = UdpSocket::bind("127.0.0.1:0")?;
    let mut tls = tls_connect(targets.globex_tls, &targets.tls_cert).context("syslog TLS")?;
    let tick = Duration::from_millis(100);
    let per_tick = (rate / 10).max(1);
    let start = Instant::now();
    let mut seed = 1u64;
    let mut next = start;
    while !stop.load(Ordering::Acquire) {
        let now = vigie_event::Timestamp::now().as_nanos();
        let mut windows: [Vec<String>; 2] = Default::default();
        let mut dns: [Vec<String>; 2] = Default::default();
        let mut tcp_out = Vec::new();
        let mut tls_out = Vec::new();
        let mut n = 0u64;
        for g in Generator::new(seed, 2, per_tick, now - 100_000_000, 100_000_000).benign() {
            n += 1;
            match (g.wire, g.tenant) {
                (Wire::Json, t) if g.line.starts_with("{\"Event\"") => windows[t].push(g.line),
                (Wire::Json, t) => dns[t].push(g.line),
                (_, 0) => octet_counted(&mut tcp_out, &g.line),
                (Wire::Cef, _) => octet_counted(&mut tls_out, &g.line),
                (Wire::Syslog, _) => {
                    // A full socket buffer loses the datagram, as UDP does; the server
                    // counts what it receives.
                    let _ = udp.send_to(g.line.as_bytes(), targets.globex_udp);
                }
            }
        }
        // Noise a SOC knows well: the internal vulnerability scanner tries root over SSH
        // once a second (the triage story qualifies its group as a false positive).
        if seed.is_multiple_of(10) {
            octet_counted(&mut tcp_out, &scanner_line(now, seed));
            n += 1;
        }
        seed += 1;
        for t in 0..2 {
            for (lines, ls) in [(&windows[t], None), (&dns[t], Some("//dns"))] {
                if lines.is_empty() {
                    continue;
                }
                match http.post(&targets.tokens[t], ls, lines) {
                    Ok(200) => {}
                    Ok(_) | Err(_) => {
                        sent.http_errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
        tcp.write_all(&tcp_out).context("syslog TCP write")?;
        tls.write_all(&tls_out).context("syslog TLS write")?;
        tls.flush()?;
        sent.events.fetch_add(n, Ordering::Relaxed);
        next += tick;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        } else {
            // Behind (a slow machine): do not try to catch up in a burst.
            next = Instant::now();
        }
    }
    // close_notify, half-close, then drain what the server sent (session tickets): closing
    // with unread data would reset the connection and lose the last frames in flight.
    tls.conn.send_close_notify();
    let _ = tls.flush();
    let _ = tls.sock.shutdown(std::net::Shutdown::Write);
    let _ = std::io::Read::read_to_end(&mut tls, &mut Vec::new());
    let _ = tcp.shutdown(std::net::Shutdown::Write);
    let _ = std::io::Read::read_to_end(&mut tcp, &mut Vec::new());
    Ok(())
}

/// Sends the messages of one story step.
pub(crate) fn story_step(targets: &Targets, messages: &[(Channel, String)]) -> Result<()> {
    let http = Http::new(targets.http);
    let udp = UdpSocket::bind("127.0.0.1:0")?;
    let windows: Vec<String> = messages
        .iter()
        .filter(|(c, _)| *c == Channel::AcmeWindows)
        .map(|(_, l)| l.clone())
        .collect();
    let dns: Vec<String> = messages
        .iter()
        .filter(|(c, _)| *c == Channel::AcmeDns)
        .map(|(_, l)| l.clone())
        .collect();
    if !windows.is_empty() {
        let status = http.post(&targets.tokens[0], None, &windows)?;
        anyhow::ensure!(status == 200, "story step: HTTP {status}");
    }
    if !dns.is_empty() {
        let status = http.post(&targets.tokens[0], Some("//dns"), &dns)?;
        anyhow::ensure!(status == 200, "story step: HTTP {status}");
    }
    for (c, line) in messages {
        if *c == Channel::GlobexSyslog {
            udp.send_to(line.as_bytes(), targets.globex_udp)?;
            // Let the datagrams arrive in order and not overrun the socket buffer.
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    Ok(())
}
