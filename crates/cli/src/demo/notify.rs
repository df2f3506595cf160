//! The demo's notifications: the client's people keep three rules (new high alerts to the
//! SOC's on-call webhook, escalations to L2 by mail to the CISO, approvals waiting by mail to
//! the client's admin), and two receivers on loopback, the demo's own, take what the server
//! sends: a webhook receiver that checks each signature, and a mail relay that speaks SMTP
//! and requires STARTTLS (with the demo's certificate) before it takes a message — the same
//! path as a real relay, so the summary shows what the people would have received.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use vigie_event::TenantId;
use vigie_govern::Tier;
use vigie_govern::grant::UserId;
use vigie_govern::notify::{Channel, RuleSpec, Trigger, verify};
use vigie_state::State;

/// One webhook request received.
#[derive(Clone, Debug)]
pub(crate) struct Hook {
    pub(crate) path: String,
    pub(crate) signature: String,
    pub(crate) body: String,
}

/// One message the relay took.
#[derive(Clone, Debug)]
pub(crate) struct Mail {
    pub(crate) to: Vec<String>,
    pub(crate) tls: bool,
    pub(crate) data: String,
}

/// What the receivers got.
#[derive(Clone, Debug, Default)]
pub(crate) struct Inbox {
    pub(crate) hooks: Arc<Mutex<Vec<Hook>>>,
    pub(crate) mails: Arc<Mutex<Vec<Mail>>>,
    /// (rule id, its signing secret) of the webhook rules.
    pub(crate) secrets: Arc<Mutex<Vec<(String, String)>>>,
}

/// The mail domain of the client's people in the demo.
pub(crate) const DOMAIN: &str = "mutuelle.example";

/// The webhook receiver: records each POST, answers 204.
pub(crate) fn start_webhook(inbox: &Inbox) -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("the demo's webhook receiver")?;
    let port = listener.local_addr()?.port();
    let hooks = Arc::clone(&inbox.hooks);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            if let Some(hook) = take_request(stream)
                && let Ok(mut all) = hooks.lock()
            {
                all.push(hook);
            }
        }
    });
    Ok(port)
}

fn take_request(mut stream: TcpStream) -> Option<Hook> {
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let path = line.split(' ').nth(1)?.to_owned();
    let (mut length, mut signature) = (0usize, String::new());
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 || h == "\r\n" {
            break;
        }
        if let Some((name, value)) = h.trim_end().split_once(':') {
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().ok()?,
                "x-vigie-signature" => signature = value.trim().to_owned(),
                _ => {}
            }
        }
    }
    let mut body = vec![0; length.min(1 << 20)];
    reader.read_exact(&mut body).ok()?;
    stream
        .write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
        .ok()?;
    Some(Hook {
        path,
        signature,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// The mail relay: SMTP on 127.0.0.1, STARTTLS with `cert`/`key` before any mail.
pub(crate) fn start_relay(inbox: &Inbox, cert: Vec<u8>, key: Vec<u8>) -> Result<u16> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(cert)],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)),
        )
        .context("the demo relay's certificate")?;
    let tls = Arc::new(tls);
    let listener = TcpListener::bind("127.0.0.1:0").context("the demo's mail relay")?;
    let port = listener.local_addr()?.port();
    let mails = Arc::clone(&inbox.mails);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (tls, mails) = (Arc::clone(&tls), Arc::clone(&mails));
            std::thread::spawn(move || {
                if let Ok(Some(mail)) = smtp_session(stream, tls)
                    && let Ok(mut all) = mails.lock()
                {
                    all.push(mail);
                }
            });
        }
    });
    Ok(port)
}

/// One SMTP session (RFC 5321 with RFC 3207's STARTTLS): refuses everything but EHLO,
/// STARTTLS and QUIT in clear; after the handshake, takes one message.
fn smtp_session(
    stream: TcpStream,
    tls: Arc<rustls::ServerConfig>,
) -> std::io::Result<Option<Mail>> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut out = stream.try_clone()?;
    let mut plain = BufReader::new(stream);
    out.write_all(b"220 demo-relay ESMTP\r\n")?;
    loop {
        let mut line = String::new();
        if plain.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        let verb = line
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        match verb.as_str() {
            "EHLO" => out.write_all(b"250-demo-relay\r\n250 STARTTLS\r\n")?,
            "STARTTLS" => {
                out.write_all(b"220 2.0.0 ready for TLS\r\n")?;
                break;
            }
            "QUIT" => {
                out.write_all(b"221 bye\r\n")?;
                return Ok(None);
            }
            _ => out.write_all(b"530 5.7.0 STARTTLS first\r\n")?,
        }
    }
    let connection =
        rustls::ServerConnection::new(tls).map_err(|e| std::io::Error::other(e.to_string()))?;
    let mut session = BufReader::new(rustls::StreamOwned::new(connection, out));
    let mut mail = Mail {
        to: Vec::new(),
        tls: true,
        data: String::new(),
    };
    loop {
        let mut line = String::new();
        if session.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        let verb = line
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" => b"250-demo-relay\r\n250 8BITMIME\r\n",
            "MAIL" | "RSET" | "NOOP" => b"250 2.0.0 ok\r\n",
            "RCPT" => {
                let to = line
                    .split_once(':')
                    .map(|(_, a)| a.trim().trim_start_matches('<').trim_end_matches('>'))
                    .unwrap_or("");
                mail.to.push(to.to_owned());
                b"250 2.1.5 ok\r\n"
            }
            "DATA" => {
                session
                    .get_mut()
                    .write_all(b"354 end with <CRLF>.<CRLF>\r\n")?;
                loop {
                    let mut l = String::new();
                    if session.read_line(&mut l)? == 0 || l == ".\r\n" || l == ".\n" {
                        break;
                    }
                    mail.data.push_str(l.strip_prefix('.').unwrap_or(&l));
                }
                b"250 2.0.0 kept\r\n"
            }
            "QUIT" => {
                session.get_mut().write_all(b"221 bye\r\n")?;
                let _ = session.get_mut().flush();
                return Ok(Some(mail));
            }
            _ => b"502 5.5.2 not here\r\n",
        };
        session.get_mut().write_all(reply)?;
        session.get_mut().flush()?;
    }
}

/// The client's rules, written as the client's admin and CISO would through the console.
pub(crate) async fn rules(
    state: &State,
    tenant: &str,
    hook: &str,
    claire: UserId,
    marc: UserId,
) -> Result<Vec<(i64, RuleSpec)>> {
    let tenant = TenantId::new(tenant)?;
    let plan = [
        (
            marc,
            RuleSpec {
                name: "SOC on call: high alerts".into(),
                trigger: Trigger::Alert {
                    min_level: "high".into(),
                },
                channel: Channel::Webhook { url: hook.into() },
            },
        ),
        (
            marc,
            RuleSpec {
                name: "CISO: escalations to L2".into(),
                trigger: Trigger::Escalation { tier: Tier::L2 },
                channel: Channel::Email {
                    to: vec![format!("marc.rssi@{DOMAIN}")],
                },
            },
        ),
        (
            claire,
            RuleSpec {
                name: "Admin: approvals waiting".into(),
                trigger: Trigger::Approval,
                channel: Channel::Email {
                    to: vec![format!("claire.admin@{DOMAIN}")],
                },
            },
        ),
    ];
    let mut made = Vec::new();
    for (by, spec) in plan {
        let id = state.insert_notify_rule(&tenant, &spec, Some(by)).await?;
        made.push((id.0, spec));
    }
    Ok(made)
}

/// Prints what the receivers got (waiting up to `wait` for deliveries still on the way).
#[allow(clippy::print_stdout)]
pub(crate) fn report(inbox: &Inbox, wait: Duration) {
    let start = std::time::Instant::now();
    while start.elapsed() < wait {
        let hooks = inbox.hooks.lock().map(|h| h.len()).unwrap_or(0);
        let mails = inbox.mails.lock().map(|m| m.len()).unwrap_or(0);
        if hooks > 0 && mails >= 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    println!("  notifications (the demo's webhook receiver and mail relay on loopback)");
    let secrets = inbox.secrets.lock().map(|s| s.clone()).unwrap_or_default();
    let now = vigie_event::Timestamp::now().as_nanos() / 1_000_000_000;
    let hooks = inbox.hooks.lock().map(|h| h.clone()).unwrap_or_default();
    let (mut alerts, mut verified) = (0, 0);
    for hook in &hooks {
        let payload: serde_json::Value = serde_json::from_str(&hook.body).unwrap_or_default();
        let rule = payload["rule"]["id"].as_str().unwrap_or("");
        alerts += payload["total"].as_u64().unwrap_or(0);
        if secrets.iter().any(|(id, secret)| {
            id == rule
                && verify(
                    secret.as_bytes(),
                    &hook.signature,
                    hook.body.as_bytes(),
                    now,
                    600,
                )
        }) {
            verified += 1;
        }
    }
    if let Some(first) = hooks.first() {
        println!(
            "    webhook {}: {} notifications of \"SOC on call: high alerts\" listing {alerts} alerts, \
             {verified} of {} signatures verified (HMAC-SHA-256)",
            first.path,
            hooks.len(),
            hooks.len()
        );
    } else {
        println!("    webhook: nothing received yet");
    }
    for mail in inbox.mails.lock().map(|m| m.clone()).unwrap_or_default() {
        let subject = mail
            .data
            .lines()
            .find_map(|l| l.strip_prefix("Subject: "))
            .unwrap_or("?");
        println!(
            "    mail to {} ({}): {subject}",
            mail.to.join(", "),
            if mail.tls {
                "over STARTTLS"
            } else {
                "in clear"
            }
        );
    }
}
