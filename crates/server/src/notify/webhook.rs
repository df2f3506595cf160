//! Webhooks: the notification's JSON POSTed to a URL on the operator's allow-list, signed
//! (`X-Vigie-Signature: t=<unix seconds>,v1=<hex HMAC-SHA-256 of "t.body">`), with the
//! delivery's id (`X-Vigie-Delivery`, the same on every attempt, for receivers that
//! deduplicate). No redirect is followed and no proxy from the environment is used: the
//! request goes to the allowed address or nowhere.

use std::time::Duration;

use vigie_govern::notify::sign;
use vigie_state::notify::Delivery;

/// The client every attempt goes through (made once: its TLS roots are loaded once, and
/// it keeps connections to a receiver between attempts): no redirect, no proxy, each
/// attempt bounded by `timeout`.
pub fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .proxy(None)
        .timeout_global(Some(timeout))
        .user_agent(concat!("vigie/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

/// One attempt with `agent` ([`agent`]): `Ok` when the receiver answered 2xx.
pub fn send(
    agent: &ureq::Agent,
    url: &str,
    secret: &str,
    delivery: &Delivery,
) -> Result<(), String> {
    let now = vigie_event::time::Timestamp::now().as_nanos() / 1_000_000_000;
    let body = delivery.payload.as_bytes();
    let response = agent
        .post(url)
        .header("Content-Type", "application/json")
        .header("X-Vigie-Signature", sign(secret.as_bytes(), now, body))
        .header("X-Vigie-Delivery", delivery.id.0.to_string())
        .send(body)
        .map_err(|e| e.to_string())?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("HTTP {status}"))
    }
}
