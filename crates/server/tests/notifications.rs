//! Notifications end to end, against real peers on loopback: a webhook receiver (ours, a
//! plain HTTP/1.1 server that records what it is sent and fails its first answer) and an
//! SMTP sink (aiosmtpd, STARTTLS required). New alerts, an escalation and a grant request
//! are told to the rules that ask for them, signed, retried, and never to a destination
//! off the operator's allow-list.

mod common;

use std::time::{Duration, Instant};

use common::{Harness, Received, alerting_event, person, receiver};
use serde_json::{Value, json};
use vigie_event::TenantId;
use vigie_event::time::Timestamp;
use vigie_govern::notify::verify;
use vigie_govern::{OrgKind, Role, Tier};
use vigie_server::config::Smtp;
use vigie_state::{NewGrant, State};

fn parse(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// A quoted-printable body in plain text (soft line breaks joined, `=XX` decoded).
fn unquote(text: &str) -> String {
    let joined = text.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'=', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn wait_for<T>(what: &str, within: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(start.elapsed() < within, "{what}: not within {within:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn alerts_escalations_and_approvals_are_told_signed_retried_and_only_where_allowed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).expect("cert");
    let (cert_pem, key_pem) = (dir.path().join("relay.pem"), dir.path().join("relay.key"));
    std::fs::write(&cert_pem, cert.cert.pem()).expect("cert");
    std::fs::write(&key_pem, cert.signing_key.serialize_pem()).expect("key");
    let Some(sink) =
        vigie_testkit::smtp::Sink::start(&cert_pem, &key_pem, &dir.path().join("mail"))
    else {
        return;
    };
    let (port, received) = receiver(true);
    let smtp_port = sink.port();
    let ca = cert_pem;
    let h = Harness::start(&["tenant-a", "tenant-b"], Vec::new(), |c| {
        c.notify.webhook_allow = vec![format!("http://127.0.0.1:{port}/hooks/")];
        c.notify.email_domains = vec!["client.example".into()];
        c.notify.poll_ms = 100;
        c.notify.timeout_s = 5;
        c.notify.smtp = Some(Smtp {
            host: "127.0.0.1".into(),
            port: smtp_port,
            from: "Vigie <vigie@soc.example>".into(),
            username: None,
            password_file: None,
            ca_file: Some(ca),
        });
    });
    let state_path = h.dir.path().join("data/state.db");
    let (admin, admin_b, analyst, padmin) = h.rt.block_on(async {
        let state = State::open(&state_path).await.expect("state");
        let admin = person(
            &state,
            "tenant-a",
            OrgKind::Client,
            "ciso-a",
            Role::ClientAdmin,
        )
        .await;
        let admin_b = person(
            &state,
            "tenant-b",
            OrgKind::Client,
            "ciso-b",
            Role::ClientAdmin,
        )
        .await;
        let provider = state
            .create_org("Veille SOC", OrgKind::Provider)
            .await
            .expect("provider");
        let user = |login: &str, role| vigie_state::NewUser {
            org: provider,
            login: login.into(),
            name: login.into(),
            role,
            password: None,
            contract_end: None,
        };
        let analyst = state
            .create_user(&user("lea", Role::ProviderAnalyst(Tier::L1)))
            .await
            .expect("analyst");
        let padmin = state
            .create_user(&user("paul", Role::ProviderAdmin))
            .await
            .expect("provider admin");
        state.close().await;
        (admin, admin_b, analyst, padmin)
    });
    let post = |path: &str, token: &str, body: Value| {
        let (status, answer) = h.post_json(path, token, None, &body.to_string());
        (status, parse(&answer))
    };
    let hook = |path: &str| format!("http://127.0.0.1:{port}{path}");

    // Refused: destinations off the allow-list, unknown levels, a reader, mail elsewhere.
    for (body, words) in [
        (
            json!({"name": "x", "trigger": {"on": "approval"},
                   "channel": {"kind": "webhook", "url": hook("/other")}}),
            "allow-list",
        ),
        (
            json!({"name": "x", "trigger": {"on": "approval"},
                   "channel": {"kind": "webhook", "url": "http://10.0.0.1/hooks/"}}),
            "allow-list",
        ),
        (
            json!({"name": "x", "trigger": {"on": "approval"},
                   "channel": {"kind": "webhook", "url": hook("/hooks/../admin")}}),
            "allow-list",
        ),
        (
            json!({"name": "x", "trigger": {"on": "approval"},
                   "channel": {"kind": "email", "to": ["boss@evil.example"]}}),
            "evil.example",
        ),
        (
            json!({"name": "x", "trigger": {"on": "alert", "min_level": "severe"},
                   "channel": {"kind": "webhook", "url": hook("/hooks/a")}}),
            "min_level",
        ),
    ] {
        let (status, answer) = post("/api/v1/notification-rules", &admin, body);
        assert_eq!(status, 400, "{answer}");
        assert!(answer.to_string().contains(words), "{words}: {answer}");
    }
    // Malformed bodies and ids: a JSON error, nothing stored; too many recipients refused
    // after a bounded parse; the deliveries' limit is clamped.
    for body in [
        "{not json",
        r#"{"name":"x","trigger":{"on":"approval"},"channel":{"kind":"pigeon"}}"#,
        r#"{"name":"x","trigger":{"on":"approval"},"channel":{"kind":"webhook","url":"u"},"extra":1}"#,
    ] {
        let (status, answer) = h.post_json("/api/v1/notification-rules", &admin, None, body);
        assert_eq!(status, 400, "{body}: {answer}");
        assert!(parse(&answer)["error"]["code"].is_string(), "{answer}");
    }
    let many: Vec<String> = (0..10_000)
        .map(|i| format!("a{i}@client.example"))
        .collect();
    let (status, answer) = post(
        "/api/v1/notification-rules",
        &admin,
        json!({"name": "x", "trigger": {"on": "approval"},
               "channel": {"kind": "email", "to": many}}),
    );
    assert_eq!(status, 400, "{answer}");
    assert!(answer.to_string().contains("1 to 20 addresses"), "{answer}");
    for path in [
        "/api/v1/notification-rules/abc",
        "/api/v1/notification-rules/99999999999999999999",
    ] {
        let (status, answer) = h.get(path, &admin, None);
        assert_eq!(status, 400, "{path}: {answer}");
    }
    let (status, _) = h.get("/api/v1/notification-rules/12345", &admin, None);
    assert_eq!(status, 404);
    for q in ["?limit=0", "?limit=100000", "?limit=x", "?other=1"] {
        let (status, answer) = h.get(&format!("/api/v1/notification-deliveries{q}"), &admin, None);
        let expected = if q.contains("x") || q.contains("other") {
            400
        } else {
            200
        };
        assert_eq!(status, expected, "{q}: {answer}");
    }
    let (status, listed) = h.get("/api/v1/notification-rules", &admin, None);
    assert_eq!(status, 200);
    assert_eq!(
        parse(&listed)["rules"],
        json!([]),
        "nothing stored by the refusals"
    );
    let (status, _) = post(
        "/api/v1/notification-rules",
        &h.readers["tenant-a"],
        json!({"name": "x", "trigger": {"on": "approval"},
               "channel": {"kind": "webhook", "url": hook("/hooks/a")}}),
    );
    assert_eq!(status, 403, "an analyst does not decide who is told");

    // The rules: high alerts and approvals by webhook, escalations to L2 by mail.
    let (status, high) = post(
        "/api/v1/notification-rules",
        &admin,
        json!({"name": "SOC high", "trigger": {"on": "alert", "min_level": "high"},
               "channel": {"kind": "webhook", "url": hook("/hooks/soc")}}),
    );
    assert_eq!(status, 201, "{high}");
    let secret = high["secret"].as_str().expect("secret").to_owned();
    let (status, mail) = post(
        "/api/v1/notification-rules",
        &admin,
        json!({"name": "CISO on L2", "trigger": {"on": "escalation", "tier": "l2"},
               "channel": {"kind": "email", "to": ["ciso@client.example"]}}),
    );
    assert_eq!(status, 201, "{mail}");
    assert!(mail.get("secret").is_none(), "a mail rule has no secret");
    let (status, approvals) = post(
        "/api/v1/notification-rules",
        &admin,
        json!({"name": "approvals", "trigger": {"on": "approval"},
               "channel": {"kind": "webhook", "url": hook("/hooks/approvals")}}),
    );
    assert_eq!(status, 201, "{approvals}");
    // Another tenant neither sees nor changes them.
    let id = high["id"].as_str().expect("id");
    let (status, _) = h.get(&format!("/api/v1/notification-rules/{id}"), &admin_b, None);
    assert_eq!(status, 404);
    let (status, _) = h.delete(&format!("/api/v1/notification-rules/{id}"), &admin_b, None);
    assert_eq!(status, 404);
    let (status, listed) = h.get("/api/v1/notification-rules", &admin_b, None);
    assert_eq!(status, 200);
    assert!(!listed.contains(id), "{listed}");
    let (status, listed) = h.get("/api/v1/notification-rules", &admin, None);
    assert_eq!(status, 200);
    assert_eq!(parse(&listed)["rules"].as_array().expect("rules").len(), 3);
    assert!(
        !listed.contains("whsec_"),
        "secrets are shown one rule at a time"
    );

    // Two high alerts of tenant-a (and one of tenant-b, whose admin has no rule).
    let canary = "canary-9f1c2e";
    let body = format!(
        "{}\n{}\n",
        alerting_event(&format!("{canary}-1"), "ws-1.corp.local"),
        alerting_event(&format!("{canary}-2"), "ws-2.corp.local")
    );
    let (status, text) = h.post(
        "/api/v1/ingest",
        &h.tokens["tenant-a"],
        None,
        body.as_bytes(),
    );
    assert_eq!(status, 200, "{text}");
    let other = alerting_event("canary-b", "ws-9.corp.local");
    let (status, _) = h.post(
        "/api/v1/ingest",
        &h.tokens["tenant-b"],
        None,
        other.as_bytes(),
    );
    assert_eq!(status, 200);
    h.settle();
    // The first attempt meets a 500; the retry (10 s later) is taken.
    let started = Instant::now();
    let hits = wait_for("the webhook's retry", Duration::from_secs(40), || {
        let all = received.lock().expect("lock").clone();
        let soc: Vec<Received> = all.into_iter().filter(|r| r.path == "/hooks/soc").collect();
        (soc.len() >= 2).then_some(soc)
    });
    assert!(
        started.elapsed() >= Duration::from_secs(5),
        "retried after a wait"
    );
    let (first, second) = (&hits[0], &hits[1]);
    assert_eq!(
        first.body, second.body,
        "a retry sends the same notification"
    );
    assert_eq!(
        first.header("X-Vigie-Delivery"),
        second.header("X-Vigie-Delivery")
    );
    let now = Timestamp::now().as_nanos() / 1_000_000_000;
    let signature = second.header("X-Vigie-Signature").expect("signed");
    assert!(verify(
        secret.as_bytes(),
        signature,
        second.body.as_bytes(),
        now,
        300
    ));
    assert!(!verify(
        b"whsec_other",
        signature,
        second.body.as_bytes(),
        now,
        300
    ));
    let payload = parse(&second.body);
    assert_eq!(payload["tenant"], "tenant-a");
    assert_eq!(payload["on"], "alert");
    assert_eq!(payload["total"], 2, "{payload}");
    let items = payload["items"].as_array().expect("items");
    assert_eq!(items[0]["level"], "high");
    assert!(
        items[0]["url"]
            .as_str()
            .expect("url")
            .contains("/console/t/tenant-a/alerts/")
    );
    assert!(
        !second.body.contains(canary),
        "no event value leaves in a notification: {}",
        second.body
    );

    // An escalation to L2 by the client's analyst: the CISO gets a mail, over TLS.
    let reader = &h.readers["tenant-a"];
    let alert = items[0]["alert"].as_str().expect("alert id").to_owned();
    for body in [
        json!({"action": "acknowledge"}),
        json!({"action": "escalate", "tier": "l2",
               "note": "parent process is Word; suspect a macro dropper"}),
    ] {
        let (status, answer) = post(&format!("/api/v1/alerts/{alert}/transitions"), reader, body);
        assert_eq!(status, 200, "{answer}");
    }
    let message = wait_for("the escalation mail", Duration::from_secs(30), || {
        sink.messages().first().map(|m| parse(m))
    });
    assert_eq!(message["tls"], true, "STARTTLS before the mail");
    assert_eq!(message["to"], json!(["ciso@client.example"]));
    assert_eq!(message["from"], "vigie@soc.example");
    let data = &unquote(message["data"].as_str().expect("data"));
    assert!(data.contains("tenant-a: 1 alert escalated to L2"), "{data}");
    assert!(data.contains(&alert), "{data}");
    assert!(
        !data.contains("macro dropper"),
        "the handover note stays in the console"
    );

    // A grant request waits for the tenant owner: the approvals hook is told.
    h.rt.block_on(async {
        let state = State::open(&state_path).await.expect("state");
        let now = Timestamp::now();
        state
            .insert_grant(&NewGrant {
                analyst,
                requester: padmin,
                tenant: TenantId::new("tenant-a").expect("tenant"),
                tier: Tier::L1,
                from: now,
                until: Timestamp::from_nanos(now.as_nanos() + 3_600_000_000_000),
                justification: "renfort de nuit".into(),
            })
            .await
            .expect("grant request");
        state.close().await;
    });
    let approval = wait_for("the approval hook", Duration::from_secs(30), || {
        received
            .lock()
            .expect("lock")
            .iter()
            .find(|r| r.path == "/hooks/approvals")
            .cloned()
    });
    let payload = parse(&approval.body);
    assert_eq!(payload["on"], "approval");
    assert_eq!(payload["items"][0]["request"], "grant");
    assert_eq!(payload["items"][0]["tier"], "l1");
    let approvals_secret = {
        let id = approvals["id"].as_str().expect("id");
        let (_, shown) = h.get(&format!("/api/v1/notification-rules/{id}"), &admin, None);
        parse(&shown)["secret"].as_str().expect("secret").to_owned()
    };
    assert_ne!(
        approvals_secret, secret,
        "each rule signs with its own secret"
    );
    assert!(verify(
        approvals_secret.as_bytes(),
        approval.header("X-Vigie-Signature").expect("signed"),
        approval.body.as_bytes(),
        Timestamp::now().as_nanos() / 1_000_000_000,
        300
    ));

    // The deliveries list says what happened to each; tenant-b has none.
    let (status, listed) = h.get("/api/v1/notification-deliveries", &admin, None);
    assert_eq!(status, 200, "{listed}");
    let deliveries = parse(&listed)["deliveries"]
        .as_array()
        .expect("list")
        .clone();
    assert_eq!(deliveries.len(), 3, "{listed}");
    assert!(
        deliveries.iter().all(|d| d["status"] == "delivered"),
        "{listed}"
    );
    let retried = deliveries
        .iter()
        .find(|d| d["channel"] == "webhook" && d["payload"]["on"] == "alert")
        .expect("the alert delivery");
    assert_eq!(retried["attempts"], 2);
    assert_eq!(retried["last_error"], "HTTP 500 Internal Server Error");
    let (status, listed) = h.get("/api/v1/notification-deliveries", &admin_b, None);
    assert_eq!(status, 200);
    assert_eq!(parse(&listed)["deliveries"], json!([]));
    // Nothing went anywhere else.
    assert!(
        received
            .lock()
            .expect("lock")
            .iter()
            .all(|r| r.path == "/hooks/soc" || r.path == "/hooks/approvals")
    );
    assert_eq!(sink.messages().len(), 1);

    // Turned off, a rule tells nothing more; deleted, it is gone.
    let (status, _) = post(
        &format!("/api/v1/notification-rules/{id}/enabled"),
        &admin,
        json!({"enabled": false}),
    );
    assert_eq!(status, 200);
    let body = alerting_event("canary-after", "ws-3.corp.local");
    let (status, _) = h.post(
        "/api/v1/ingest",
        &h.tokens["tenant-a"],
        None,
        body.as_bytes(),
    );
    assert_eq!(status, 200);
    h.settle();
    std::thread::sleep(Duration::from_millis(600));
    let soc = received
        .lock()
        .expect("lock")
        .iter()
        .filter(|r| r.path == "/hooks/soc")
        .count();
    assert_eq!(soc, 2, "a rule turned off tells nothing");
    let (status, _) = h.delete(&format!("/api/v1/notification-rules/{id}"), &admin, None);
    assert_eq!(status, 200);
    let (status, _) = h.get(&format!("/api/v1/notification-rules/{id}"), &admin, None);
    assert_eq!(status, 404);
    h.stop();
}
