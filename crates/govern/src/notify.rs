//! Notifications: who is told what, where a notification may go, how it is signed and when
//! a failed one is tried again.
//!
//! A tenant keeps rules ([`Trigger`] × [`Channel`]). The destinations are bounded by the
//! operator, not by the tenant: a webhook URL must fall under a prefix of the operator's
//! allow-list and an e-mail address must be in one of its domains ([`Allowlist`]), checked
//! when a rule is written and again before every attempt — no request goes to any other
//! address, and no tenant can turn the instance's mail relay on strangers.
//!
//! A webhook body is signed with HMAC-SHA-256 over `timestamp.body` ([`sign`]), the scheme
//! receivers already know from payment and chat platforms: the timestamp in the signed
//! text lets a receiver refuse replays ([`verify`] takes a tolerance).
//!
//! Notifications carry no event values: an alert's title, level, priority, host, tier and a
//! link; the link leads to the console, where access is checked again.

use std::time::Duration;

use ring::hmac;

use crate::{GovernError, Tier};

/// Notification rules a tenant may keep.
pub const MAX_RULES: usize = 50;

/// E-mail recipients of one rule.
pub const MAX_RECIPIENTS: usize = 20;

/// Items (alerts, escalations, requests) listed in one notification; a notification for
/// more says how many more there were.
pub const MAX_LISTED: usize = 50;

/// Attempts of one notification before it is marked failed.
pub const MAX_ATTEMPTS: u32 = 8;

/// The longest a rule's name may be.
pub const MAX_NAME: usize = 200;

/// What a rule is about.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "on", rename_all = "snake_case", deny_unknown_fields)]
pub enum Trigger {
    /// New alerts at or above a level.
    Alert {
        /// `informational`, `low`, `medium`, `high` or `critical`.
        min_level: String,
    },
    /// Alerts escalated to a tier (or moved back down to it).
    Escalation {
        /// The tier whose queue receives the alert.
        tier: Tier,
    },
    /// Approvals waiting: grant requests on the tenant.
    Approval,
}

/// Where a rule's notifications go.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Channel {
    /// A JSON POST, signed.
    Webhook {
        /// The destination (on the allow-list).
        url: String,
    },
    /// An e-mail through the instance's SMTP relay (STARTTLS).
    Email {
        /// The recipients (in the allow-list's domains).
        to: Vec<String>,
    },
}

/// Something that happened, as a rule sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Happening<'a> {
    /// A new alert of this level.
    Alert {
        /// Its level.
        level: &'a str,
    },
    /// An alert moved into a tier's queue by an escalation or de-escalation.
    Escalation {
        /// The tier now holding it.
        tier: Tier,
    },
    /// A grant request waits for the tenant owner's decision.
    Approval,
}

/// The rank of a Sigma level (`informational` 0 … `critical` 4), `None` for anything else.
pub fn level_rank(level: &str) -> Option<u8> {
    match level {
        "informational" => Some(0),
        "low" => Some(1),
        "medium" => Some(2),
        "high" => Some(3),
        "critical" => Some(4),
        _ => None,
    }
}

/// Whether an alert of `level` reaches a rule's `floor` (a level rank): an alert of a level
/// Vigie does not rank reaches every floor (better told than missed). The pipeline asks
/// this with a tenant's lowest floor before writing an alert to the outbox.
pub fn reaches(level: &str, floor: u8) -> bool {
    level_rank(level).is_none_or(|rank| rank >= floor)
}

impl Trigger {
    /// Whether `what` is something this rule tells of ([`reaches`] for alerts).
    pub fn concerns(&self, what: Happening<'_>) -> bool {
        match (self, what) {
            (Trigger::Alert { min_level }, Happening::Alert { level }) => {
                level_rank(min_level).is_none_or(|floor| reaches(level, floor))
            }
            (Trigger::Escalation { tier }, Happening::Escalation { tier: to }) => *tier == to,
            (Trigger::Approval, Happening::Approval) => true,
            _ => false,
        }
    }

    /// Its kind's stable name (`alert`, `escalation`, `approval`).
    pub fn kind(&self) -> &'static str {
        match self {
            Trigger::Alert { .. } => "alert",
            Trigger::Escalation { .. } => "escalation",
            Trigger::Approval => "approval",
        }
    }
}

/// One allowed webhook destination: scheme, host, port, and a path prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Prefix {
    scheme: String,
    host: String,
    port: u16,
    path: String,
}

fn parse_url(text: &str) -> Result<Prefix, String> {
    let url = url::Url::parse(text.trim()).map_err(|e| format!("{text:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{text:?}: only http and https are allowed"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("{text:?}: credentials in a URL are refused"));
    }
    let host = url
        .host_str()
        .ok_or_else(|| format!("{text:?} has no host"))?
        .to_ascii_lowercase();
    let port = url
        .port_or_known_default()
        .ok_or_else(|| format!("{text:?} has no port"))?;
    Ok(Prefix {
        scheme: url.scheme().to_owned(),
        host,
        port,
        path: url.path().to_owned(),
    })
}

impl Prefix {
    /// Whether `url` falls under this prefix: same scheme, host and port, and its path is
    /// the prefix's or below it (at a `/` boundary: `/hooks` allows `/hooks/a`, never
    /// `/hooksmith`). Paths are compared after the URL parser removed `.` and `..`.
    fn covers(&self, url: &Prefix) -> bool {
        if self.scheme != url.scheme || self.host != url.host || self.port != url.port {
            return false;
        }
        if url.path == self.path {
            return true;
        }
        let base = self.path.trim_end_matches('/');
        url.path
            .strip_prefix(base)
            .is_some_and(|rest| rest.starts_with('/'))
    }
}

/// The operator's bounds on destinations (`[notify]` in `vigie.toml`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allowlist {
    webhooks: Vec<Prefix>,
    domains: Vec<String>,
}

impl Allowlist {
    /// Reads the allowed webhook URL prefixes and e-mail domains; an entry that cannot be
    /// read is an error naming it.
    pub fn new(webhooks: &[String], domains: &[String]) -> Result<Allowlist, GovernError> {
        let webhooks = webhooks
            .iter()
            .map(|w| parse_url(w))
            .collect::<Result<Vec<_>, _>>()
            .map_err(GovernError::Notify)?;
        let domains = domains
            .iter()
            .map(|d| {
                let d = d.trim().trim_start_matches('@').to_ascii_lowercase();
                if d.is_empty() || d.contains(['@', ' ', '/']) {
                    Err(GovernError::Notify(format!("{d:?} is not a mail domain")))
                } else {
                    Ok(d)
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Allowlist { webhooks, domains })
    }

    /// Whether a webhook may be sent to `url`; the error says why not.
    pub fn webhook(&self, url: &str) -> Result<(), String> {
        let parsed = parse_url(url)?;
        if self.webhooks.iter().any(|p| p.covers(&parsed)) {
            Ok(())
        } else {
            Err(format!(
                "{url:?} is not on the operator's allow-list of webhook destinations"
            ))
        }
    }

    /// Whether mail may be sent to `address`; the error says why not.
    pub fn email(&self, address: &str) -> Result<(), String> {
        let domain = check_address(address)?;
        if self.domains.contains(&domain) {
            Ok(())
        } else {
            Err(format!(
                "{address:?}: the domain {domain:?} is not on the operator's allow-list of mail domains"
            ))
        }
    }
}

/// Checks the shape of an e-mail address (`local@domain`, nothing that could end a header
/// or add a recipient) and returns its domain in lower case.
fn check_address(address: &str) -> Result<String, String> {
    let bad = |why: &str| Err(format!("{address:?} is not an e-mail address: {why}"));
    if address.len() > 254 {
        return bad("longer than 254 bytes");
    }
    if address
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || matches!(c, ',' | ';' | '<' | '>' | '"'))
    {
        return bad("it holds a space, a control character or a separator");
    }
    let Some((local, domain)) = address.split_once('@') else {
        return bad("no @");
    };
    // An empty domain has no dot either.
    if local.is_empty() || domain.contains('@') || !domain.contains('.') {
        return bad("it needs one @ between a name and a domain with a dot");
    }
    Ok(domain.to_ascii_lowercase())
}

/// A rule as a tenant writes it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// A name for people.
    pub name: String,
    /// What it is about.
    pub trigger: Trigger,
    /// Where it goes.
    pub channel: Channel,
}

impl RuleSpec {
    /// Checks a rule against the bounds and the operator's allow-list; the error names the
    /// field and the value.
    pub fn check(&self, allow: &Allowlist) -> Result<(), GovernError> {
        let fail = |m: String| Err(GovernError::Notify(m));
        let name = self.name.trim();
        if name.is_empty() || name.len() > MAX_NAME {
            return fail(format!("name: 1 to {MAX_NAME} bytes"));
        }
        if let Trigger::Alert { min_level } = &self.trigger
            && level_rank(min_level).is_none()
        {
            return fail(format!(
                "trigger.min_level: {min_level:?} is not informational, low, medium, high or critical"
            ));
        }
        match &self.channel {
            Channel::Webhook { url } => allow
                .webhook(url)
                .or_else(|m| fail(format!("channel.url: {m}"))),
            Channel::Email { to } => {
                if to.is_empty() || to.len() > MAX_RECIPIENTS {
                    return fail(format!("channel.to: 1 to {MAX_RECIPIENTS} addresses"));
                }
                for address in to {
                    allow
                        .email(address)
                        .or_else(|m| fail(format!("channel.to: {m}")))?;
                }
                Ok(())
            }
        }
    }
}

/// The signature header's value for `body` sent at `timestamp` (Unix seconds):
/// `t=<timestamp>,v1=<hex HMAC-SHA-256(secret, "<timestamp>." ‖ body)>`.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(timestamp.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    let tag = ctx.sign();
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("t={timestamp},v1={hex}")
}

/// Whether `header` (from [`sign`]) signs `body` with `secret`, at a time within
/// `tolerance_s` of `now` (Unix seconds). Compared in constant time.
pub fn verify(secret: &[u8], header: &str, body: &[u8], now: i64, tolerance_s: i64) -> bool {
    let mut timestamp = None;
    let mut signature = None;
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => timestamp = v.parse::<i64>().ok(),
            Some(("v1", v)) => signature = decode_hex(v),
            _ => {}
        }
    }
    let (Some(t), Some(sig)) = (timestamp, signature) else {
        return false;
    };
    if now.abs_diff(t) > tolerance_s.unsigned_abs() {
        return false;
    }
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let mut signed = t.to_string().into_bytes();
    signed.push(b'.');
    signed.extend_from_slice(body);
    hmac::verify(&key, &signed, &sig).is_ok()
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// How long to wait after failed attempt number `attempt` (from 1) before the next, or
/// `None` when it was the last ([`MAX_ATTEMPTS`]): 10 s, then three times longer each time,
/// at most an hour (10 s, 30 s, 90 s, 4.5 min, 13.5 min, 40.5 min, 1 h: about 2 h 40 in all,
/// long enough to outlast a receiver's restart or a short outage, short enough that a
/// notification is not delivered when it no longer matters).
pub fn retry_after(attempt: u32) -> Option<Duration> {
    if attempt == 0 || attempt >= MAX_ATTEMPTS {
        return None;
    }
    let factor = 3u64.saturating_pow(attempt - 1);
    Some(Duration::from_secs(10u64.saturating_mul(factor).min(3600)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allow() -> Allowlist {
        Allowlist::new(
            &[
                "https://hooks.client.example/vigie/".into(),
                "http://127.0.0.1:9000".into(),
                "https://exact.example/one".into(),
            ],
            &["client.example".into(), "@Provider.example".into()],
        )
        .expect("allow-list")
    }

    #[test]
    fn webhooks_go_only_under_an_allowed_prefix() {
        let a = allow();
        for ok in [
            "https://hooks.client.example/vigie/",
            "https://hooks.client.example/vigie/soc?x=1",
            "https://HOOKS.client.example:443/vigie/a/b",
            "http://127.0.0.1:9000/",
            "http://127.0.0.1:9000/anything",
            "https://exact.example/one",
            "https://exact.example/one/two",
        ] {
            assert_eq!(a.webhook(ok), Ok(()), "{ok}");
        }
        for refused in [
            "https://hooks.client.example/other",
            "https://hooks.client.example/vigie/../admin",
            "https://hooks.client.example/vigie/%2e%2e/admin",
            "http://hooks.client.example/vigie/",
            "https://hooks.client.example:8443/vigie/",
            "https://hooks.client.example.evil.example/vigie/",
            "https://user:pw@hooks.client.example/vigie/",
            "https://user@hooks.client.example/vigie/",
            "https://:pw@hooks.client.example/vigie/",
            "http://127.0.0.1:9001/",
            "http://127.0.0.2:9000/",
            "http://[::1]:9000/",
            "https://exact.example/oneself",
            "https://exact.example/",
            "ftp://127.0.0.1:9000/",
            "file:///etc/passwd",
            "not a url",
            "",
        ] {
            assert!(a.webhook(refused).is_err(), "{refused}");
        }
        assert!(
            Allowlist::default()
                .webhook("http://127.0.0.1:9000/")
                .is_err()
        );
        assert!(Allowlist::new(&["nope".into()], &[]).is_err());
        assert!(Allowlist::new(&[], &["a@b".into()]).is_err());
        assert!(Allowlist::new(&[], &[" ".into()]).is_err());
        assert!(Allowlist::new(&[], &["a b".into()]).is_err());
        assert!(Allowlist::new(&[], &["a/b".into()]).is_err());
    }

    #[test]
    fn mail_goes_only_to_allowed_domains() {
        let a = allow();
        assert_eq!(a.email("ciso@client.example"), Ok(()));
        assert_eq!(a.email("soc@PROVIDER.example"), Ok(()));
        for refused in [
            "ciso@other.example",
            "ciso@sub.client.example",
            "ciso@client.example\r\nBcc: x@evil.example",
            "a@client.example, b@evil.example",
            "<a@client.example>",
            "a b@client.example",
            "@client.example",
            "ciso@",
            "ciso",
            "a@b@client.example",
            "a@localhost",
            "\"x\"@client.example",
        ] {
            assert!(a.email(refused).is_err(), "{refused:?}");
        }
        // The shape alone, before any allow-list.
        assert_eq!(
            check_address("a@Client.Example"),
            Ok("client.example".into())
        );
        for bad in [
            "a@b@client.example",
            "a@localhost",
            "a@",
            "@client.example",
            "a",
        ] {
            assert!(check_address(bad).is_err(), "{bad}");
        }
        let long = format!("{}@client.example", "a".repeat(240));
        assert!(a.email(&long).is_err());
        let fits = format!("{}@client.example", "a".repeat(254 - 15));
        assert_eq!(fits.len(), 254);
        assert_eq!(a.email(&fits), Ok(()));
    }

    #[test]
    fn rules_are_checked_field_by_field() {
        let a = allow();
        let rule = |trigger, channel| RuleSpec {
            name: "SOC".into(),
            trigger,
            channel,
        };
        let hook = Channel::Webhook {
            url: "http://127.0.0.1:9000/h".into(),
        };
        let high = Trigger::Alert {
            min_level: "high".into(),
        };
        assert_eq!(rule(high.clone(), hook.clone()).check(&a), Ok(()));
        assert_eq!(rule(Trigger::Approval, hook.clone()).check(&a), Ok(()));
        let bad_level = rule(
            Trigger::Alert {
                min_level: "severe".into(),
            },
            hook.clone(),
        )
        .check(&a);
        assert!(format!("{bad_level:?}").contains("trigger.min_level"));
        let bad_url = rule(
            high.clone(),
            Channel::Webhook {
                url: "http://10.0.0.1/".into(),
            },
        )
        .check(&a);
        assert!(format!("{bad_url:?}").contains("channel.url"));
        let mail = |to: Vec<String>| rule(high.clone(), Channel::Email { to }).check(&a);
        assert_eq!(mail(vec!["a@client.example".into()]), Ok(()));
        assert!(mail(vec![]).is_err());
        assert!(mail(vec!["a@client.example".into(), "b@evil.example".into()]).is_err());
        assert_eq!(
            mail(vec!["a@client.example".into(); MAX_RECIPIENTS]),
            Ok(())
        );
        assert!(mail(vec!["a@client.example".into(); MAX_RECIPIENTS + 1]).is_err());
        let mut named = rule(high.clone(), hook);
        named.name = " ".into();
        assert!(named.check(&a).is_err());
        named.name = "n".repeat(MAX_NAME);
        assert_eq!(named.check(&a), Ok(()));
        named.name = "n".repeat(MAX_NAME + 1);
        assert!(named.check(&a).is_err());
    }

    #[test]
    fn rules_are_read_from_json() {
        let spec: RuleSpec = serde_json::from_str(
            r#"{"name":"n","trigger":{"on":"escalation","tier":"l2"},
                "channel":{"kind":"email","to":["a@client.example"]}}"#,
        )
        .expect("parses");
        assert_eq!(spec.trigger, Trigger::Escalation { tier: Tier::L2 });
        assert!(
            serde_json::from_str::<RuleSpec>(
                r#"{"name":"n","trigger":{"on":"alert","min_level":"high","x":1},"channel":{"kind":"webhook","url":"u"}}"#
            )
            .is_err()
        );
    }

    #[test]
    fn triggers_concern_their_happenings() {
        let high = Trigger::Alert {
            min_level: "high".into(),
        };
        assert!(high.concerns(Happening::Alert { level: "high" }));
        assert!(high.concerns(Happening::Alert { level: "critical" }));
        assert!(!high.concerns(Happening::Alert { level: "medium" }));
        assert!(high.concerns(Happening::Alert { level: "strange" }));
        assert!(!high.concerns(Happening::Approval));
        assert!(!high.concerns(Happening::Escalation { tier: Tier::L2 }));
        let l2 = Trigger::Escalation { tier: Tier::L2 };
        assert!(l2.concerns(Happening::Escalation { tier: Tier::L2 }));
        assert!(!l2.concerns(Happening::Escalation { tier: Tier::L3 }));
        assert!(!l2.concerns(Happening::Alert { level: "critical" }));
        assert!(Trigger::Approval.concerns(Happening::Approval));
        assert!(!Trigger::Approval.concerns(Happening::Alert { level: "high" }));
        assert_eq!(high.kind(), "alert");
        assert_eq!(l2.kind(), "escalation");
        assert_eq!(Trigger::Approval.kind(), "approval");
        let levels = ["informational", "low", "medium", "high", "critical"];
        for (i, l) in levels.iter().enumerate() {
            assert_eq!(level_rank(l), Some(i as u8));
        }
        assert_eq!(level_rank("High"), None);
        assert!(reaches("high", 3) && reaches("critical", 3) && reaches("odd", 4));
        assert!(!reaches("medium", 3) && reaches("informational", 0));
    }

    #[test]
    fn signatures_verify_and_refuse_changes_and_replays() {
        let secret = b"0123456789abcdef0123456789abcdef";
        let body = br#"{"event":"alert"}"#;
        let header = sign(secret, 1_700_000_000, body);
        assert!(header.starts_with("t=1700000000,v1="));
        assert_eq!(header.len(), "t=1700000000,v1=".len() + 64);
        // Known answer: HMAC-SHA-256 of "1700000000.{...}" (computed with Python's hmac).
        assert_eq!(
            header,
            "t=1700000000,v1=8b9fa0817edc923287999c002c72b2371878618b97781f2a00e87db13d8acdd9"
        );
        assert!(verify(secret, &header, body, 1_700_000_000, 300));
        assert!(verify(secret, &header, body, 1_700_000_300, 300));
        assert!(verify(secret, &header, body, 1_699_999_700, 300));
        assert!(!verify(secret, &header, body, 1_700_000_301, 300));
        assert!(!verify(secret, &header, body, 1_699_999_699, 300));
        assert!(!verify(
            secret,
            &header,
            br#"{"event":"alerts"}"#,
            1_700_000_000,
            300
        ));
        assert!(!verify(
            b"another secret",
            &header,
            body,
            1_700_000_000,
            300
        ));
        let moved = header.replace("t=1700000000", "t=1700000001");
        assert!(!verify(secret, &moved, body, 1_700_000_000, 300));
        assert!(!verify(secret, "t=1700000000", body, 1_700_000_000, 300));
        assert!(!verify(secret, "v1=00", body, 1_700_000_000, 300));
        assert!(!verify(
            secret,
            "t=1700000000,v1=zz",
            body,
            1_700_000_000,
            300
        ));
        assert!(!verify(
            secret,
            "t=1700000000,v1=abc",
            body,
            1_700_000_000,
            300
        ));
        assert_eq!(decode_hex("0aff"), Some(vec![10, 255]));
        assert_eq!(decode_hex("é0"), None);
    }

    #[test]
    fn retries_wait_longer_each_time_then_stop() {
        let waits: Vec<u64> = (1..MAX_ATTEMPTS)
            .map(|a| retry_after(a).expect("retried").as_secs())
            .collect();
        assert_eq!(waits, [10, 30, 90, 270, 810, 2430, 3600]);
        assert_eq!(retry_after(MAX_ATTEMPTS), None);
        assert_eq!(retry_after(MAX_ATTEMPTS + 1), None);
        assert_eq!(retry_after(0), None);
        assert_eq!(retry_after(u32::MAX), None);
    }
}
