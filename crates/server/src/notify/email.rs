//! E-mail: a notification in plain text through the operator's relay, always with STARTTLS
//! (`Tls::Required`: a relay that does not offer it, or whose certificate does not verify,
//! gets nothing), to addresses in the allow-list's domains.

use std::time::Duration;

use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{Message, SmtpTransport, Transport};
use serde_json::Value;

use crate::ServerError;
use crate::config::Smtp;

/// The relay, ready to send.
#[derive(Debug)]
pub struct Mailer {
    transport: SmtpTransport,
    from: Mailbox,
}

impl Mailer {
    /// Reads `[notify.smtp]` (its password and CA files).
    pub fn new(smtp: &Smtp, timeout: Duration) -> Result<Mailer, ServerError> {
        let bad = |m: String| ServerError::Notify(format!("notify.smtp: {m}"));
        let from: Mailbox = smtp
            .from
            .parse()
            .map_err(|e| bad(format!("from = {:?}: {e}", smtp.from)))?;
        let mut tls = TlsParameters::builder(smtp.host.clone());
        if let Some(ca) = &smtp.ca_file {
            let pem = std::fs::read(ca).map_err(|e| bad(format!("{}: {e}", ca.display())))?;
            let cert =
                Certificate::from_pem(&pem).map_err(|e| bad(format!("{}: {e}", ca.display())))?;
            tls = tls.add_root_certificate(cert);
        }
        let tls = tls.build().map_err(|e| bad(e.to_string()))?;
        let mut builder = SmtpTransport::builder_dangerous(smtp.host.clone())
            .port(smtp.port)
            .tls(Tls::Required(tls))
            .timeout(Some(timeout));
        if let (Some(user), Some(file)) = (&smtp.username, &smtp.password_file) {
            let password = std::fs::read_to_string(file)
                .map_err(|e| bad(format!("{}: {e}", file.display())))?;
            builder = builder.credentials(Credentials::new(
                user.clone(),
                password.trim_end().to_owned(),
            ));
        }
        Ok(Mailer {
            transport: builder.build(),
            from,
        })
    }

    /// Sends the notification `payload` to `to` (blocking).
    pub fn send(&self, to: &[String], payload: &Value) -> Result<(), String> {
        let mut message = Message::builder()
            .from(self.from.clone())
            .subject(subject(payload));
        for address in to {
            let mailbox: Mailbox = address.parse().map_err(|e| format!("{address:?}: {e}"))?;
            message = message.to(mailbox);
        }
        let message = message
            .header(ContentType::TEXT_PLAIN)
            .body(text(payload))
            .map_err(|e| e.to_string())?;
        self.transport
            .send(&message)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// The subject line: the tenant, how many, and of what.
pub fn subject(payload: &Value) -> String {
    let tenant = payload["tenant"].as_str().unwrap_or("?");
    let total = payload["total"].as_u64().unwrap_or(0);
    let what = match payload["on"].as_str() {
        Some("alert") => format!(
            "{total} new alert{} at or above {}",
            plural(total),
            payload["trigger"]["min_level"].as_str().unwrap_or("?")
        ),
        Some("escalation") => format!(
            "{total} alert{} escalated to {}",
            plural(total),
            payload["trigger"]["tier"]
                .as_str()
                .unwrap_or("?")
                .to_uppercase()
        ),
        Some("approval") => format!("{total} request{} waiting for approval", plural(total)),
        _ => format!("{total} notification{}", plural(total)),
    };
    format!("[Vigie] {tenant}: {what}")
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The body: one paragraph per item (what, where, when, the console link).
pub fn text(payload: &Value) -> String {
    let mut out = format!(
        "{}\nRule: {}\n\n",
        subject(payload),
        payload["rule"]["name"].as_str().unwrap_or("?")
    );
    for item in payload["items"].as_array().into_iter().flatten() {
        let field = |k: &str| match &item[k] {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            v => Some(v.to_string()),
        };
        let title = field("title")
            .or_else(|| {
                field("request").map(|r| format!("{r} request {}", field("id").unwrap_or_default()))
            })
            .unwrap_or_default();
        out.push_str(&format!("- {title}\n"));
        for (label, key) in [
            ("level", "level"),
            ("priority", "priority"),
            ("host", "host"),
            ("queue", "queue"),
            ("tier", "tier"),
            ("at", "at"),
        ] {
            if let Some(v) = field(key) {
                out.push_str(&format!("  {label}: {v}\n"));
            }
        }
        if let Some(url) = field("url") {
            out.push_str(&format!("  {url}\n"));
        }
    }
    let more = payload["more"].as_u64().unwrap_or(0);
    if more > 0 {
        out.push_str(&format!("\n… and {more} more: see the console.\n"));
    }
    out.push_str("\nThis message carries no event data; the links lead to the console, where access is checked.\n");
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_mail_says_what_the_webhook_says() {
        let payload = json!({
            "tenant": "acme", "on": "alert", "trigger": {"on": "alert", "min_level": "high"},
            "rule": {"name": "SOC"}, "total": 52, "more": 2,
            "items": [{"title": "LSASS access", "level": "high", "priority": 80, "host": "dc01",
                       "url": "https://soc/console/t/acme/alerts/x", "at": "2026-12-07T10:00:00Z"}],
        });
        assert_eq!(
            subject(&payload),
            "[Vigie] acme: 52 new alerts at or above high"
        );
        let body = text(&payload);
        for part in [
            "- LSASS access",
            "level: high",
            "priority: 80",
            "host: dc01",
            "https://soc/console/t/acme/alerts/x",
            "and 2 more",
        ] {
            assert!(body.contains(part), "{part} in {body}");
        }
        let one =
            json!({"tenant": "acme", "on": "escalation", "trigger": {"tier": "l2"}, "total": 1});
        assert_eq!(subject(&one), "[Vigie] acme: 1 alert escalated to L2");
        let grant = json!({"tenant": "acme", "on": "approval", "total": 2,
            "items": [{"request": "grant", "id": "7", "tier": "l2"}]});
        assert_eq!(
            subject(&grant),
            "[Vigie] acme: 2 requests waiting for approval"
        );
        assert!(text(&grant).contains("- grant request 7"));
    }
}
