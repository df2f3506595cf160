//! Triage beyond one alert, end to end over HTTP: suppressions (preview, creation, what the
//! pipeline then keeps back, removal), tenant by tenant.

mod common;

use common::{Harness, alerting_event};
use serde_json::Value;

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

const RULE: &str = "5d0c6d21-7d0e-4f35-9a57-3f1c9e1b0a01";

fn document(rule: &str) -> String {
    format!(
        "title: the nightly backup's macro\nlogsource:\n  product: windows\nfilter:\n  rules:\n    - {rule}\n  \
         selection:\n    CommandLine|contains: nightly-backup\n  condition: not selection\n"
    )
}

fn ingest(h: &Harness, tenant: &str, canaries: &[String]) {
    let body: String = canaries
        .iter()
        .map(|c| format!("{}\n", alerting_event(c, "ws-42.corp.local")))
        .collect();
    let (status, text) = h.post("/api/v1/ingest", &h.tokens[tenant], None, body.as_bytes());
    assert_eq!(status, 200, "{text}");
    h.settle();
}

fn alert_count(h: &Harness, tenant: &str) -> usize {
    let (status, body) = h.get("/api/v1/alerts?limit=1000", &h.readers[tenant], None);
    assert_eq!(status, 200, "{body}");
    json(&body)["alerts"].as_array().expect("alerts").len()
}

fn canaries(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

#[test]
fn a_suppression_is_previewed_then_keeps_new_alerts_back_on_its_tenant_only() {
    let h = Harness::start(&["tenant-a", "tenant-b"], Vec::new(), |_| {});
    ingest(&h, "tenant-a", &canaries("nightly-backup", 3));
    ingest(&h, "tenant-a", &canaries("other", 2));
    assert_eq!(alert_count(&h, "tenant-a"), 5);
    let reader = &h.readers["tenant-a"];
    let doc = document(RULE);
    // The preview runs the filter over the stored events of the last 30 days' alerts.
    let body = serde_json::json!({ "document": doc }).to_string();
    let (status, answer) = h.post_json("/api/v1/suppressions/preview", reader, None, &body);
    assert_eq!(status, 200, "{answer}");
    let p = json(&answer);
    assert_eq!(p["alerts_checked"], 5, "{answer}");
    assert_eq!(p["would_suppress"], 3, "{answer}");
    assert_eq!(p["samples"].as_array().expect("samples").len(), 3);
    // Created, it keeps the new matching alerts back, counted; the others still alert.
    let body = serde_json::json!({
        "document": doc, "justification": "the finance team's backup macro, known", "days": 30,
    })
    .to_string();
    let (status, answer) = h.post_json("/api/v1/suppressions", reader, None, &body);
    assert_eq!(status, 201, "{answer}");
    let id = json(&answer)["id"].as_str().expect("id").to_owned();
    ingest(&h, "tenant-a", &canaries("nightly-backup-again", 2));
    ingest(&h, "tenant-a", &canaries("other-again", 1));
    assert_eq!(alert_count(&h, "tenant-a"), 6);
    let (status, answer) = h.get("/api/v1/suppressions", reader, None);
    assert_eq!(status, 200, "{answer}");
    let listed = &json(&answer)["suppressions"][0];
    assert_eq!(listed["id"], id.as_str());
    assert_eq!(listed["hits"], 2, "{answer}");
    assert_eq!(listed["state"], "active");
    // Another tenant's alerts are not its business.
    ingest(&h, "tenant-b", &canaries("nightly-backup-b", 2));
    assert_eq!(alert_count(&h, "tenant-b"), 2);
    let (status, answer) = h.get("/api/v1/suppressions", &h.readers["tenant-b"], None);
    assert_eq!(status, 200);
    assert!(!answer.contains(&id), "{answer}");
    let (status, _) = h.delete(
        &format!("/api/v1/suppressions/{id}"),
        &h.readers["tenant-b"],
        None,
    );
    assert_eq!(status, 404);
    // Removed, it stops applying; its record stays, marked.
    let (status, answer) = h.delete(&format!("/api/v1/suppressions/{id}"), reader, None);
    assert_eq!(status, 200, "{answer}");
    ingest(&h, "tenant-a", &canaries("nightly-backup-after", 1));
    assert_eq!(alert_count(&h, "tenant-a"), 7);
    let (_, answer) = h.get("/api/v1/suppressions", reader, None);
    assert_eq!(json(&answer)["suppressions"][0]["state"], "removed");
    let (status, _) = h.delete(&format!("/api/v1/suppressions/{id}"), reader, None);
    assert_eq!(status, 404, "removed twice");
    h.stop();
}

#[test]
fn hostile_suppressions_are_refused_with_their_reason() {
    let h = Harness::start(&["tenant-a"], Vec::new(), |_| {});
    let reader = &h.readers["tenant-a"];
    let post = |path: &str, body: Value| {
        let (status, answer) = h.post_json(path, reader, None, &body.to_string());
        (status, json(&answer))
    };
    let any = document(RULE).replace(&format!("rules:\n    - {RULE}"), "rules: any");
    for (doc, words) in [
        (any.as_str(), "rules: any"),
        (
            "title: x\nfilter:\n  rules: [a]\n  selection:\n    a: [\n",
            "line ",
        ),
        (
            "title: r\nlogsource: {}\ndetection:\n  s:\n    a: b\n  condition: s\n",
            "not a rule",
        ),
        ("", "filter"),
    ] {
        for path in ["/api/v1/suppressions/preview", "/api/v1/suppressions"] {
            let body = if path.ends_with("preview") {
                serde_json::json!({"document": doc})
            } else {
                serde_json::json!({"document": doc, "justification": "x"})
            };
            let (status, answer) = post(path, body);
            assert_eq!(status, 400, "{path} {doc:?}: {answer}");
            let message = answer["error"]["message"].as_str().unwrap_or("");
            assert!(message.contains(words), "{path} {doc:?}: {answer}");
        }
    }
    let big = format!("{}#{}", document(RULE), "x".repeat(70_000));
    let (status, _) = post(
        "/api/v1/suppressions/preview",
        serde_json::json!({"document": big}),
    );
    assert_eq!(status, 400);
    for body in [
        serde_json::json!({"document": document(RULE), "justification": " "}),
        serde_json::json!({"document": document(RULE), "justification": "x", "days": 0}),
        serde_json::json!({"document": document(RULE), "justification": "x", "days": 366}),
        serde_json::json!({"document": document(RULE), "justification": "x", "extra": 1}),
    ] {
        let (status, answer) = post("/api/v1/suppressions", body.clone());
        assert!(status == 400 || status == 422, "{body}: {status} {answer}");
    }
    let (status, _) = h.delete("/api/v1/suppressions/not-a-number", reader, None);
    assert_eq!(status, 400);
    h.stop();
}

fn wait_for_hunt(h: &Harness, reader: &str, id: &str) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let (status, body) = h.get(&format!("/api/v1/hunts/{id}"), reader, None);
        assert_eq!(status, 200, "{body}");
        let v = json(&body);
        if v["hunt"]["status"] != "running" {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the hunt never ended: {body}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn a_retro_hunt_runs_a_rule_over_stored_events_and_raises_its_results() {
    let h = Harness::start(&["tenant-a", "tenant-b"], Vec::new(), |_| {});
    ingest(&h, "tenant-a", &canaries("seen-live", 3));
    ingest(&h, "tenant-a", &canaries("canary-hunt", 2));
    ingest(&h, "tenant-b", &canaries("canary-hunt-b", 4));
    let reader = &h.readers["tenant-a"];
    // A loaded rule: it finds the five events the pipeline alerted on; raising alerts from
    // them adds none (the same rule and event alerted already).
    let start = serde_json::json!({"rule": RULE, "from": "2026-11-01T00:00:00Z"}).to_string();
    let (status, body) = h.post_json("/api/v1/hunts", reader, None, &start);
    assert_eq!(status, 202, "{body}");
    let started = json(&body);
    assert!(
        started["query"]
            .as_str()
            .unwrap_or("")
            .contains("fields.ParentImage"),
        "narrowed by the rule's values: {body}"
    );
    let id = started["id"].as_str().expect("id").to_owned();
    let done = wait_for_hunt(&h, reader, &id);
    assert_eq!(done["hunt"]["status"], "done", "{done}");
    assert_eq!(done["hunt"]["matched"], 5, "{done}");
    assert_eq!(done["hunt"]["in_range"], 5, "{done}");
    assert_eq!(done["results"].as_array().expect("results").len(), 5);
    let (status, body) = h.post_json(&format!("/api/v1/hunts/{id}/alerts"), reader, None, "{}");
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["raised"], 0, "{body}");
    // A pasted rule: two matches, two new alerts tagged retro-hunt, once.
    let pasted = "title: Hunt for the canary macro\nid: 0a0a0a0a-0000-4000-8000-000000000001\nlevel: high\nlogsource:\n  product: windows\n  category: process_creation\ndetection:\n  s:\n    CommandLine|contains: canary-hunt\n  condition: s\n";
    let start = serde_json::json!({"document": pasted, "from": "2026-11-01T00:00:00Z"}).to_string();
    let (status, body) = h.post_json("/api/v1/hunts", reader, None, &start);
    assert_eq!(status, 202, "{body}");
    let id2 = json(&body)["id"].as_str().expect("id").to_owned();
    let done = wait_for_hunt(&h, reader, &id2);
    assert_eq!(done["hunt"]["matched"], 2, "only tenant A's events: {done}");
    assert_eq!(
        done["hunt"]["candidates"], 2,
        "the index narrowed to the two: {done}"
    );
    let (status, body) = h.post_json(&format!("/api/v1/hunts/{id2}/alerts"), reader, None, "{}");
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["raised"], 2, "{body}");
    let (_, again) = h.post_json(&format!("/api/v1/hunts/{id2}/alerts"), reader, None, "{}");
    assert_eq!(json(&again)["raised"], 0, "{again}");
    let (_, listed) = h.get(
        "/api/v1/alerts?rule=0a0a0a0a-0000-4000-8000-000000000001",
        reader,
        None,
    );
    let alerts = json(&listed)["alerts"].as_array().expect("alerts").clone();
    assert_eq!(alerts.len(), 2);
    assert!(alerts.iter().all(|a| {
        a["tags"]
            .as_array()
            .expect("tags")
            .iter()
            .any(|t| t == "retro-hunt")
    }));
    // The list shows both, with their rate; another tenant sees neither.
    let (_, list) = h.get("/api/v1/hunts", reader, None);
    assert_eq!(json(&list)["hunts"].as_array().expect("hunts").len(), 2);
    let other = &h.readers["tenant-b"];
    let (status, _) = h.get(&format!("/api/v1/hunts/{id}"), other, None);
    assert_eq!(status, 404);
    let (status, _) = h.post_json(&format!("/api/v1/hunts/{id}/alerts"), other, None, "{}");
    assert_eq!(status, 404);
    // A finished job is not cancelled.
    let (status, _) = h.post_json(&format!("/api/v1/hunts/{id}/cancel"), reader, None, "{}");
    assert_eq!(status, 409);
    // Hostile starts.
    for (body, words) in [
        (
            serde_json::json!({"rule": RULE, "document": pasted}),
            "not both",
        ),
        (serde_json::json!({}), "not both"),
        (
            serde_json::json!({"rule": "no-such-rule"}),
            "no loaded rule",
        ),
        (
            serde_json::json!({"document": "title: x\ndetection: [\n"}),
            "line ",
        ),
        (
            serde_json::json!({"document": document(RULE)}),
            "exactly one detection rule",
        ),
        (serde_json::json!({"document": "x".repeat(70_000)}), "bytes"),
        (
            serde_json::json!({"rule": RULE, "from": "yesterday-ish"}),
            "",
        ),
    ] {
        let (status, answer) = h.post_json("/api/v1/hunts", reader, None, &body.to_string());
        assert_eq!(status, 400, "{body}: {answer}");
        assert!(answer.contains(words), "{body}: {answer}");
    }
    h.stop();
}

#[test]
fn a_silent_source_raises_its_alert_and_closes_it_when_events_return() {
    let h = Harness::start(&["tenant-a", "tenant-b"], Vec::new(), |c| {
        c.triage.silence_check_ms = 200;
    });
    ingest(&h, "tenant-a", &canaries("heard", 2));
    ingest(&h, "tenant-b", &canaries("heard-b", 1));
    let reader = &h.readers["tenant-a"];
    let (status, body) = h.get("/api/v1/sources", reader, None);
    assert_eq!(status, 200, "{body}");
    let sources = json(&body)["sources"].as_array().expect("sources").clone();
    assert_eq!(sources.len(), 1, "{body}");
    let s = &sources[0];
    assert_eq!(s["host"], "ws-42.corp.local");
    assert_eq!(s["events"], 2);
    assert_eq!(
        s["state"], "learning",
        "two events teach no threshold: {body}"
    );
    let source = s["source"].as_str().expect("source").to_owned();
    // Hostile settings are refused; another tenant's source is not found.
    for bad in [
        serde_json::json!({"source": source, "host": "ws-42.corp.local", "threshold_s": 0}),
        serde_json::json!({"source": source, "host": "ws-42.corp.local", "owner": "x".repeat(300)}),
    ] {
        let (status, _) = put(&h, reader, &bad);
        assert_eq!(status, 400, "{bad}");
    }
    let (status, _) = put(
        &h,
        &h.readers["tenant-b"],
        &serde_json::json!({"source": source, "host": "ws-43.corp.local", "threshold_s": 1}),
    );
    assert_eq!(status, 404, "no such source");
    // A threshold of one second: the next check raises the alert.
    let (status, body) = put(
        &h,
        reader,
        &serde_json::json!({"source": source, "host": "ws-42.corp.local", "owner": "IT ops", "threshold_s": 1}),
    );
    assert_eq!(status, 200, "{body}");
    let silent = wait_for(|| {
        let (_, body) = h.get("/api/v1/alerts?rule=source_silent", reader, None);
        json(&body)["alerts"]
            .as_array()
            .expect("alerts")
            .first()
            .cloned()
    });
    assert_eq!(silent["kind"], "source_silent");
    assert_eq!(silent["status"], "new");
    assert_eq!(silent["host"], "ws-42.corp.local");
    assert!(
        silent["rule_title"]
            .as_str()
            .unwrap_or("")
            .contains("Source silent")
    );
    // Once: the next checks raise no second one.
    std::thread::sleep(std::time::Duration::from_millis(600));
    let (_, body) = h.get("/api/v1/alerts?rule=source_silent", reader, None);
    assert_eq!(json(&body)["alerts"].as_array().expect("alerts").len(), 1);
    let (_, body) = h.get("/api/v1/sources", reader, None);
    assert_eq!(json(&body)["sources"][0]["state"], "silent");
    assert_eq!(json(&body)["sources"][0]["owner"], "IT ops");
    // Not in tenant B.
    let (_, body) = h.get(
        "/api/v1/alerts?rule=source_silent",
        &h.readers["tenant-b"],
        None,
    );
    assert!(json(&body)["alerts"].as_array().expect("alerts").is_empty());
    // Events return: the platform closes it, the history says why.
    let id = silent["id"].as_str().expect("id").to_owned();
    let (status, text) = h.post(
        "/api/v1/ingest",
        &h.tokens["tenant-a"],
        None,
        format!("{}\n", alerting_event("back", "ws-42.corp.local")).as_bytes(),
    );
    assert_eq!(status, 200, "{text}");
    let closed = wait_for(|| {
        let (_, body) = h.get(&format!("/api/v1/alerts/{id}"), reader, None);
        let a = json(&body)["alert"].clone();
        (a["status"] == "closed").then_some(a)
    });
    assert_eq!(closed["status"], "closed");
    let (_, body) = h.get(&format!("/api/v1/alerts/{id}/history"), reader, None);
    let history = json(&body)["history"].as_array().expect("history").clone();
    assert_eq!(
        history.last().expect("a row")["action"],
        "source-returned",
        "{body}"
    );
    assert!(history.last().expect("a row")["actor"].is_null());
    h.stop();
}

fn put(h: &Harness, token: &str, body: &Value) -> (u16, String) {
    let mut response = h
        .agent
        .put(h.url("/api/v1/sources"))
        .header("Authorization", format!("Bearer {token}"))
        .header("Content-Type", "application/json")
        .send(body.to_string().as_bytes())
        .expect("request");
    let status = response.status().as_u16();
    (
        status,
        response.body_mut().read_to_string().unwrap_or_default(),
    )
}

fn wait_for<T>(mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(std::time::Instant::now() < deadline, "never happened");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

fn put_csv(h: &Harness, token: &str, content_type: &str, body: &[u8]) -> (u16, String) {
    let mut response = h
        .agent
        .put(h.url("/api/v1/assets"))
        .header("Authorization", format!("Bearer {token}"))
        .header("Content-Type", content_type)
        .send(body)
        .expect("request");
    let status = response.status().as_u16();
    (
        status,
        response.body_mut().read_to_string().unwrap_or_default(),
    )
}

#[test]
fn an_asset_list_is_imported_whole_or_not_at_all_and_weighs_on_priority() {
    let h = Harness::start(&["tenant-a", "tenant-b"], Vec::new(), |_| {});
    let path = h.dir.path().join("data").join(vigie_state::DATABASE_FILE);
    let admin = h.rt.block_on(async {
        let state = vigie_state::State::open(&path).await.expect("state");
        let token = common::person(
            &state,
            "tenant-a",
            vigie_govern::OrgKind::Client,
            "asset.admin",
            vigie_govern::Role::ClientAdmin,
        )
        .await;
        state.close().await;
        token
    });
    let (status, body) = put_csv(
        &h,
        &admin,
        "text/csv",
        b"Host,Criticality,Owner\nWS-42.corp.local,critical,IT\nkiosk,1,\n",
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["hosts"], 2);
    // An error names its line and imports nothing; the wrong type and the oversized are
    // refused before parsing; an analyst may read the list, not write it.
    let (status, body) = put_csv(
        &h,
        &admin,
        "text/csv",
        b"host,criticality\na,low\nb,urgent\n",
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("line 3"), "{body}");
    let (status, _) = put_csv(&h, &admin, "application/json", b"{}");
    assert_eq!(status, 415);
    let big = vec![b'x'; 17 << 20];
    let (status, _) = put_csv(&h, &admin, "text/csv", &big);
    assert_eq!(status, 413);
    let (status, _) = put_csv(
        &h,
        &h.readers["tenant-a"],
        "text/csv",
        b"host,criticality\n",
    );
    assert_eq!(status, 403);
    let (status, body) = h.get("/api/v1/assets", &h.readers["tenant-a"], None);
    assert_eq!(status, 200);
    assert_eq!(
        json(&body)["assets"].as_array().expect("assets").len(),
        2,
        "{body}"
    );
    let (_, body) = h.get("/api/v1/assets", &h.readers["tenant-b"], None);
    assert!(json(&body)["assets"].as_array().expect("assets").is_empty());
    // A critical host's alert outranks the same rule's elsewhere.
    ingest(&h, "tenant-a", &canaries("critical-host", 1));
    ingest(&h, "tenant-b", &canaries("plain-host", 1));
    let prio = |tenant: &str| {
        let (_, body) = h.get("/api/v1/alerts", &h.readers[tenant], None);
        json(&body)["alerts"][0]["priority"]
            .as_u64()
            .expect("priority")
    };
    assert!(
        prio("tenant-a") > prio("tenant-b"),
        "{} vs {}",
        prio("tenant-a"),
        prio("tenant-b")
    );
    h.stop();
}
