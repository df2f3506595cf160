//! The HTTP API end to end: tenant scoping of every route, ingest answers and limits.

mod common;

use std::collections::BTreeSet;
use std::io::Write;

use common::{Harness, alerting_event};
use serde_json::Value;

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// Ingests one alerting event with a canary per tenant; returns (event id, alert id) per tenant.
fn seed(h: &Harness) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for (tenant, token) in &h.tokens {
        let canary = format!("canary-{tenant}");
        let body = format!("{}\n", alerting_event(&canary, &format!("host-{tenant}")));
        let (status, answer) = h.post("/api/v1/ingest", token, None, body.as_bytes());
        assert_eq!(status, 200, "{answer}");
        assert_eq!(json(&answer)["accepted"], 1);
        out.push((tenant.clone(), canary, String::new()));
    }
    h.settle();
    for (tenant, _, ids) in &mut out {
        let token = &h.readers[tenant.as_str()];
        let (status, body) = h.get("/api/v1/alerts", token, None);
        assert_eq!(status, 200, "{body}");
        let alerts = json(&body);
        let alert = &alerts["alerts"][0];
        *ids = format!(
            "{} {}",
            alert["event_id"].as_str().expect("event id"),
            alert["id"].as_str().expect("alert id")
        );
    }
    out
}

#[test]
fn every_route_is_scoped_to_the_tenant_of_the_token() {
    let h = Harness::start(&["tenant-a", "tenant-b"], Vec::new(), |_| {});
    let seeded = seed(&h);
    let (a, b) = (&seeded[0], &seeded[1]);
    let (a_event, a_alert) = a.2.split_once(' ').expect("ids");
    let (b_event, b_alert) = b.2.split_once(' ').expect("ids");
    let token_a = &h.tokens["tenant-a"];
    let reader_a = &h.readers["tenant-a"];
    let covered = std::cell::RefCell::new(BTreeSet::new());
    let check = |route: &str, path: &str, expect: u16, token: &str, tenant: Option<&str>| {
        covered.borrow_mut().insert(route.to_owned());
        let (status, body) = h.get(path, token, tenant);
        assert_eq!(status, expect, "GET {path}: {body}");
        assert!(
            !body.contains(&b.1),
            "GET {path} with tenant A's token shows B's canary: {body}"
        );
        body
    };

    // Reads by A's reader (a client analyst of A's owner) see A's data and never B's.
    let body = check("/api/v1/events", "/api/v1/events?q=*", 200, reader_a, None);
    assert_eq!(json(&body)["total"], 1);
    assert!(body.contains(&a.1));
    let body = check(
        "/api/v1/events",
        &format!("/api/v1/events?q={}", b.1),
        200,
        reader_a,
        None,
    );
    assert_eq!(json(&body)["total"], 0);
    let body = check(
        "/api/v1/events/histogram",
        "/api/v1/events/histogram",
        200,
        reader_a,
        None,
    );
    let total: u64 = json(&body)["buckets"]
        .as_array()
        .expect("buckets")
        .iter()
        .map(|b| b["count"].as_u64().expect("count"))
        .sum();
    assert_eq!(total, 1);
    let body = check(
        "/api/v1/events/terms",
        "/api/v1/events/terms?field=CommandLine",
        200,
        reader_a,
        None,
    );
    assert!(body.contains(&a.1), "A's values: {body}");
    check(
        "/api/v1/events/{id}",
        &format!("/api/v1/events/{a_event}"),
        200,
        reader_a,
        None,
    );
    check(
        "/api/v1/events/{id}",
        &format!("/api/v1/events/{b_event}"),
        404,
        reader_a,
        None,
    );
    let body = check("/api/v1/alerts", "/api/v1/alerts", 200, reader_a, None);
    assert_eq!(json(&body)["alerts"].as_array().expect("alerts").len(), 1);
    let body = check(
        "/api/v1/alerts/{id}",
        &format!("/api/v1/alerts/{a_alert}"),
        200,
        reader_a,
        None,
    );
    assert!(body.contains(&a.1), "the alert shows its event: {body}");
    check(
        "/api/v1/alerts/{id}",
        &format!("/api/v1/alerts/{b_alert}"),
        404,
        reader_a,
        None,
    );
    // Triage: A's reader acknowledges A's alert, then escalates it without the note the
    // lifecycle wants (400), then with it; the history has both rows. B's alert is not
    // found from A.
    covered
        .borrow_mut()
        .insert("/api/v1/alerts/{id}/transitions".to_owned());
    let (status, body) = h.post_json(
        &format!("/api/v1/alerts/{a_alert}/transitions"),
        reader_a,
        None,
        r#"{"action":"acknowledge"}"#,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["to"]["status"], "acknowledged");
    let (status, body) = h.post_json(
        &format!("/api/v1/alerts/{a_alert}/transitions"),
        reader_a,
        None,
        r#"{"action":"escalate","tier":"l2"}"#,
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("handover note"), "{body}");
    let (status, body) = h.post_json(
        &format!("/api/v1/alerts/{a_alert}/transitions"),
        reader_a,
        None,
        r#"{"action":"acknowledge"}"#,
    );
    assert_eq!(status, 409, "{body}");
    let (status, body) = h.post_json(
        &format!("/api/v1/alerts/{a_alert}/transitions"),
        reader_a,
        None,
        r#"{"action":"escalate","tier":"l2","note":"checked the parent process"}"#,
    );
    assert_eq!(status, 200, "{body}");
    let body = check(
        "/api/v1/alerts/{id}/history",
        &format!("/api/v1/alerts/{a_alert}/history"),
        200,
        reader_a,
        None,
    );
    let history = json(&body)["history"].as_array().expect("history").clone();
    assert_eq!(history.len(), 2, "{body}");
    assert_eq!(history[1]["note"], "checked the parent process");
    assert_eq!(history[1]["queue"], "l2");
    check(
        "/api/v1/alerts/{id}/history",
        &format!("/api/v1/alerts/{b_alert}/history"),
        404,
        reader_a,
        None,
    );
    let (status, _) = h.post_json(
        &format!("/api/v1/alerts/{b_alert}/transitions"),
        reader_a,
        None,
        r#"{"action":"acknowledge"}"#,
    );
    assert_eq!(status, 404);
    // Assignment and comments on A's alert; B's alert is not found from A.
    for route in [
        "/api/v1/alerts/{id}/assign",
        "/api/v1/alerts/{id}/comments",
        "/api/v1/alerts/bulk",
    ] {
        covered.borrow_mut().insert(route.to_owned());
    }
    let (status, body) = h.post_json(
        &format!("/api/v1/alerts/{a_alert}/assign"),
        reader_a,
        None,
        r#"{"assignee":"me","note":"mine"}"#,
    );
    assert_eq!(status, 200, "{body}");
    let (status, body) = h.get(
        "/api/v1/alerts?assignee=me&open=true&queue=l2",
        reader_a,
        None,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        json(&body)["alerts"].as_array().expect("alerts").len(),
        1,
        "{body}"
    );
    for (path, body) in [
        (format!("/api/v1/alerts/{b_alert}/assign"), "{}"),
        (
            format!("/api/v1/alerts/{b_alert}/comments"),
            r#"{"text":"x"}"#,
        ),
    ] {
        let (status, answer) = h.post_json(&path, reader_a, None, body);
        assert_eq!(status, 404, "{path}: {answer}");
    }
    let (status, body) = h.post_json(
        &format!("/api/v1/alerts/{a_alert}/assign"),
        reader_a,
        None,
        r#"{"assignee":"999999999"}"#,
    );
    assert_eq!(status, 400, "an unknown assignee: {body}");
    let (status, body) = h.post_json(
        &format!("/api/v1/alerts/{a_alert}/comments"),
        reader_a,
        None,
        r#"{"text":"seen on the proxy"}"#,
    );
    assert_eq!(status, 201, "{body}");
    let (status, body) = h.post_json(
        &format!("/api/v1/alerts/{a_alert}/comments"),
        reader_a,
        None,
        &format!(r#"{{"text":"{}"}}"#, "x".repeat(4001)),
    );
    assert_eq!(status, 400, "a comment too long: {body}");
    // Bulk by ids: B's id is missing from A, never touched.
    let (status, body) = h.post_json(
        "/api/v1/alerts/bulk",
        reader_a,
        None,
        &format!(r#"{{"ids":["{a_alert}","{b_alert}"],"action":"qualify","qualification":"true-positive","note":"confirmed"}}"#),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["done"], 1, "{body}");
    assert_eq!(json(&body)["missing"], 1, "{body}");
    // Bulk by filter: the count first (409 with it), then with the count confirmed.
    let filter = r#"{"filter":{"status":"qualified"},"action":"close"}"#;
    let (status, body) = h.post_json("/api/v1/alerts/bulk", reader_a, None, filter);
    assert_eq!(status, 409, "{body}");
    assert_eq!(json(&body)["error"]["code"], "confirm_count");
    assert_eq!(json(&body)["error"]["details"]["count"], 1, "{body}");
    let wrong = r#"{"filter":{"status":"qualified"},"action":"close","confirm":5}"#;
    let (status, _) = h.post_json("/api/v1/alerts/bulk", reader_a, None, wrong);
    assert_eq!(status, 409);
    let right = r#"{"filter":{"status":"qualified"},"action":"close","confirm":1}"#;
    let (status, body) = h.post_json("/api/v1/alerts/bulk", reader_a, None, right);
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["done"], 1, "{body}");
    // Hostile bulk requests: an unknown action costs nothing, neither ids nor filter, both,
    // too many ids, a malformed id.
    for bad in [
        r#"{"ids":["x"],"action":"delete"}"#.to_owned(),
        r#"{"action":"close"}"#.to_owned(),
        format!(r#"{{"ids":["{a_alert}"],"filter":{{}},"action":"close"}}"#),
        format!(
            r#"{{"ids":[{}],"action":"close"}}"#,
            vec![format!("\"{a_alert}\""); 10_001].join(",")
        ),
        r#"{"ids":["../../etc"],"action":"close"}"#.to_owned(),
        r#"{"ids":[],"action":"close"}"#.to_owned(),
        r#"{"filter":{"status":"nope"},"action":"close"}"#.to_owned(),
    ] {
        let (status, body) = h.post_json("/api/v1/alerts/bulk", reader_a, None, &bad);
        assert_eq!(
            status,
            400,
            "{}: {body}",
            bad.chars().take(80).collect::<String>()
        );
    }
    // The alert's group: listed for A, not found from A with B's.
    let (status, body) = h.get("/api/v1/alerts?open=false", reader_a, None);
    assert_eq!(status, 200);
    let group = json(&body)["alerts"][0]["group"]
        .as_str()
        .expect("a group")
        .to_owned();
    let (status, body) = h.get("/api/v1/alert-groups", reader_a, None);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(&group), "{body}");
    let (status, body) = h.get(&format!("/api/v1/alert-groups/{group}"), reader_a, None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["group"]["count"], 1, "{body}");
    let (status, body) = h.get("/api/v1/alerts", &h.readers["tenant-b"], None);
    assert_eq!(status, 200);
    let b_group = json(&body)["alerts"][0]["group"]
        .as_str()
        .expect("B's group")
        .to_owned();
    let (status, _) = h.get(&format!("/api/v1/alert-groups/{b_group}"), reader_a, None);
    assert_eq!(status, 404);
    let (status, _) = h.post_json(
        &format!("/api/v1/alert-groups/{b_group}/transitions"),
        reader_a,
        None,
        r#"{"action":"acknowledge"}"#,
    );
    assert_eq!(status, 404);
    // A group's transition with nothing left to change says why (A's only alert is closed).
    let (status, body) = h.post_json(
        &format!("/api/v1/alert-groups/{group}/transitions"),
        reader_a,
        None,
        r#"{"action":"acknowledge"}"#,
    );
    assert_eq!(status, 409, "{body}");
    // Naming the other tenant is refused on every tenant route (no access to it).
    for path in [
        "/api/v1/events",
        "/api/v1/events/histogram",
        "/api/v1/events/terms",
        "/api/v1/alerts",
    ] {
        check(path, path, 403, reader_a, Some("tenant-b"));
    }
    check(
        "/api/v1/events/{id}",
        &format!("/api/v1/events/{b_event}"),
        403,
        reader_a,
        Some("tenant-b"),
    );
    check(
        "/api/v1/alerts/{id}",
        &format!("/api/v1/alerts/{b_alert}"),
        403,
        reader_a,
        Some("tenant-b"),
    );
    let (status, _) = h.post("/api/v1/ingest", token_a, Some("tenant-b"), b"{}\n");
    assert_eq!(status, 403);
    covered.borrow_mut().insert("/api/v1/ingest".to_owned());
    // Administrator routes refuse tenant tokens.
    check("/metrics", "/metrics", 403, token_a, None);
    let (status, _) = h.post("/api/v1/rules/reload", token_a, None, b"");
    assert_eq!(status, 403);
    covered
        .borrow_mut()
        .insert("/api/v1/rules/reload".to_owned());
    let body = check("/api/v1/rules", "/api/v1/rules", 200, reader_a, None);
    assert_eq!(json(&body)["rules"], 6);
    // Open routes.
    check("/api/v1/health", "/api/v1/health", 200, reader_a, None);
    check("/api/v1/ready", "/api/v1/ready", 200, reader_a, None);
    check(
        "/api/v1/openapi.json",
        "/api/v1/openapi.json",
        200,
        reader_a,
        None,
    );

    // Without a token, or with an unknown one: 401.
    for path in ["/api/v1/events", "/api/v1/alerts", "/metrics"] {
        let (status, _) = h.get(path, "vgi_0000", None);
        assert_eq!(status, 401, "{path}");
    }
    // An ingest token only ingests.
    for path in ["/api/v1/events?q=*", "/api/v1/alerts", "/api/v1/rules"] {
        let (status, _) = h.get(path, token_a, None);
        assert_eq!(status, 403, "{path}");
    }
    // The operator reaches no tenant's data (people of the client and its provider do,
    // under their role and grants); the instance routes are theirs.
    for tenant in [None, Some("tenant-b"), Some("nobody")] {
        let (status, _) = h.get("/api/v1/events?q=*", &h.admin, tenant);
        assert_eq!(status, 403, "{tenant:?}");
    }
    let (status, body) = h.get("/metrics", &h.admin, None);
    assert_eq!(status, 200);
    assert!(
        body.contains("vigie_journaled_messages_total{tenant=\"tenant-a\",source=\"http\"} 1"),
        "{body}"
    );
    let (status, body) = h.post("/api/v1/rules/reload", &h.admin, None, b"");
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["generation"], 2);

    // The quarantine: a tenant's people read its own records; retrying and dropping are
    // the operator's; naming another tenant is refused.
    let none = "0000000000000001";
    let body = check(
        "/api/v1/quarantine",
        "/api/v1/quarantine",
        200,
        reader_a,
        None,
    );
    assert_eq!(json(&body)["records"], serde_json::json!([]));
    check(
        "/api/v1/quarantine",
        "/api/v1/quarantine",
        403,
        reader_a,
        Some("tenant-b"),
    );
    check(
        "/api/v1/quarantine",
        "/api/v1/quarantine?all=true",
        403,
        reader_a,
        None,
    );
    let (status, body) = h.get("/api/v1/quarantine?all=true", &h.admin, None);
    assert_eq!(status, 200, "{body}");
    check(
        "/api/v1/quarantine/{id}",
        &format!("/api/v1/quarantine/{none}"),
        404,
        reader_a,
        None,
    );
    check(
        "/api/v1/quarantine/{id}",
        "/api/v1/quarantine/..%2F..%2Fetc",
        400,
        reader_a,
        None,
    );
    check(
        "/api/v1/quarantine/{id}",
        &format!("/api/v1/quarantine/{none}"),
        403,
        reader_a,
        Some("tenant-b"),
    );
    let retry = format!("/api/v1/quarantine/{none}/retry");
    let (status, _) = h.post(&retry, token_a, None, b"");
    assert_eq!(status, 403);
    let (status, _) = h.post(&retry, &h.admin, Some("tenant-a"), b"");
    assert_eq!(status, 404);
    covered
        .borrow_mut()
        .insert("/api/v1/quarantine/{id}/retry".to_owned());
    let (status, _) = h.delete(&format!("/api/v1/quarantine/{none}"), token_a, None);
    assert_eq!(status, 403);
    let (status, _) = h.delete(
        &format!("/api/v1/quarantine/{none}"),
        &h.admin,
        Some("tenant-a"),
    );
    assert_eq!(status, 404);

    // The routes of people and access are walked by the route × role × tenant matrix
    // (tests/access_matrix.rs), which enumerates every route; these are the data routes.
    let doc = json(vigie_server::api::OPENAPI);
    let documented: BTreeSet<String> = doc["paths"]
        .as_object()
        .expect("paths")
        .keys()
        .filter(|p| {
            [
                "/api/v1/events",
                "/api/v1/alerts",
                "/api/v1/rules",
                "/api/v1/quarantine",
                "/api/v1/ingest",
                "/api/v1/health",
                "/api/v1/ready",
                "/api/v1/openapi.json",
                "/metrics",
            ]
            .iter()
            .any(|prefix| p.starts_with(prefix))
        })
        .cloned()
        .collect();
    assert_eq!(covered.into_inner(), documented);
    h.stop();
}

#[test]
fn ingest_reports_rejected_lines_and_enforces_limits() {
    let h = Harness::start(&["acme"], Vec::new(), |c| c.http.max_body_bytes = 64 << 10);
    let token = &h.tokens["acme"];
    // NDJSON with a bad line, invalid UTF-8 and a blank line.
    let mut body = Vec::new();
    body.extend_from_slice(alerting_event("one", "h1").as_bytes());
    body.extend_from_slice(b"\n{\"broken\": \n\n{\"s\":\"\xff\xfe\"}\n{\"ok\":1}\n");
    let (status, answer) = h.post("/api/v1/ingest", token, None, &body);
    assert_eq!(status, 200, "{answer}");
    let answer = json(&answer);
    assert_eq!(answer["accepted"], 2);
    assert_eq!(answer["rejected"], 2);
    let lines: Vec<u64> = answer["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["line"].as_u64().expect("line"))
        .collect();
    assert_eq!(lines, vec![2, 4]);

    // A JSON array, gzip-compressed, with a logsource.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(b"[{\"query\":\"a.example.org\"},{\"query\":\"b.example.org\"}]")
        .expect("gzip");
    let compressed = gz.finish().expect("gzip");
    let mut response = h
        .agent
        .post(h.url("/api/v1/ingest?source=dns-01&logsource=//dns"))
        .header("Authorization", format!("Bearer {token}"))
        .header("Content-Encoding", "gzip")
        .send(&compressed[..])
        .expect("post");
    assert_eq!(response.status().as_u16(), 200);
    let answer = json(&response.body_mut().read_to_string().expect("body"));
    assert_eq!(answer["accepted"], 2);

    // Over the size limit: 413; a bad token: 401; not gzip though it says so: 400.
    let big = vec![b' '; 65 << 10];
    assert_eq!(h.post("/api/v1/ingest", token, None, &big).0, 413);
    assert_eq!(h.post("/api/v1/ingest", "vgi_nope", None, b"{}").0, 401);
    let mut response = h
        .agent
        .post(h.url("/api/v1/ingest"))
        .header("Authorization", format!("Bearer {token}"))
        .header("Content-Encoding", "gzip")
        .send(&b"plain"[..])
        .expect("post");
    assert_eq!(response.status().as_u16(), 400);
    let _ = response.body_mut().read_to_string();
    let (status, _) = h.post("/api/v1/ingest?logsource=a/b/c/d", token, None, b"{}");
    assert_eq!(status, 400);

    // Accepted events are searchable once processed, with their logsource.
    h.settle();
    let (status, body) = h.get("/api/v1/events?q=source:dns-01", &h.readers["acme"], None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["total"], 2, "{body}");
    let (_, body) = h.get("/api/v1/events?q=*", &h.readers["acme"], None);
    assert_eq!(json(&body)["total"], 4, "{body}");
    // A bad query names its position.
    let (status, body) = h.get("/api/v1/events?q=a:(b", &h.readers["acme"], None);
    assert_eq!(status, 400);
    // The documented shape: {"error": {"code", "message"}}.
    let error = &json(&body)["error"];
    assert_eq!(error["code"], "bad_query", "{body}");
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("character 3")),
        "{body}"
    );
    h.stop();
}

#[test]
fn a_restart_replays_nothing_twice() {
    let h = Harness::start(&["acme"], Vec::new(), |_| {});
    let token = h.tokens["acme"].clone();
    let reader = h.readers["acme"].clone();
    let body: String = (0..50).map(|i| format!("{{\"n\":{i}}}\n")).collect();
    assert_eq!(
        h.post("/api/v1/ingest", &token, None, body.as_bytes()).0,
        200
    );
    h.settle();
    let data = h.dir.path().join("data");
    let Harness {
        rt, server, dir, ..
    } = h;
    rt.block_on(server.expect("server").shutdown())
        .expect("shutdown");
    // Forget the checkpoint: the whole journal is replayed into a store that has it all.
    std::fs::remove_file(data.join("journal/checkpoint")).expect("checkpoint exists");
    let (server, started) = rt
        .block_on(vigie_server::Server::start({
            let mut c = vigie_server::Config {
                data_dir: data,
                ..vigie_server::Config::default()
            };
            c.http.listen = "127.0.0.1:0".parse().expect("addr");
            c.pipeline.commit_interval_ms = 100;
            c
        }))
        .expect("restart");
    while !server.caught_up() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut response = agent
        .get(format!(
            "http://{}/api/v1/events?q=*&limit=1000",
            started.http
        ))
        .header("Authorization", format!("Bearer {reader}"))
        .call()
        .expect("get");
    let page = json(&response.body_mut().read_to_string().expect("body"));
    assert_eq!(page["total"], 50, "replay duplicated events");
    rt.block_on(server.shutdown()).expect("shutdown");
    drop(dir);
}

#[test]
fn a_pipeline_behind_the_journal_gets_429_with_retry_after() {
    // No lag allowed, and no checkpoint for a minute: the second batch finds lag.
    let h = Harness::start(&["acme"], Vec::new(), |c| {
        c.journal.max_lag_mib = 0;
        c.pipeline.commit_interval_ms = 60_000;
    });
    let token = &h.tokens["acme"];
    assert_eq!(h.post("/api/v1/ingest", token, None, b"{\"a\":1}\n").0, 200);
    let mut response = h
        .agent
        .post(h.url("/api/v1/ingest"))
        .header("Authorization", format!("Bearer {token}"))
        .send(&b"{\"a\":2}\n"[..])
        .expect("post");
    assert_eq!(response.status().as_u16(), 429);
    assert_eq!(
        response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().ok()),
        Some(Some("1"))
    );
    let body = json(&response.body_mut().read_to_string().expect("body"));
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|e| e.contains("behind")),
        "{body}"
    );
    h.stop();
}

#[test]
fn rules_reload_when_their_folder_changes() {
    let rules = tempfile::tempdir().expect("rules dir");
    let h = Harness::start(&["acme"], Vec::new(), |c| {
        c.rules.paths = vec![rules.path().to_path_buf()];
        c.rules.reload_poll_ms = 50;
    });
    let token = h.tokens["acme"].clone();
    let event = "{\"message\":\"reloadcanary seen\"}\n";
    let ingest = "/api/v1/ingest?logsource=test";
    assert_eq!(h.post(ingest, &token, None, event.as_bytes()).0, 200);
    h.settle();
    let (_, body) = h.get("/api/v1/alerts", &h.readers["acme"], None);
    assert_eq!(json(&body)["alerts"].as_array().expect("alerts").len(), 0);
    std::fs::write(
        rules.path().join("canary.yml"),
        "title: Reload Canary\nid: 0f0e0d0c-0b0a-4909-8807-060504030201\nlogsource:\n    product: test\ndetection:\n    keywords:\n        - reloadcanary\n    condition: keywords\nlevel: low\n",
    )
    .expect("write rule");
    let start = std::time::Instant::now();
    loop {
        let (_, body) = h.get("/api/v1/rules", &h.readers["acme"], None);
        if json(&body)["generation"] == 2 {
            assert_eq!(json(&body)["rules"], 1);
            break;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(20),
            "never reloaded: {body}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(h.post(ingest, &token, None, event.as_bytes()).0, 200);
    h.settle();
    let start = std::time::Instant::now();
    loop {
        let (_, body) = h.get(
            "/api/v1/alerts?rule=0f0e0d0c-0b0a-4909-8807-060504030201",
            &h.readers["acme"],
            None,
        );
        if json(&body)["alerts"].as_array().expect("alerts").len() == 1 {
            break;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(20),
            "no alert: {body}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    h.stop();
}
