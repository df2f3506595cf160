//! `vigie bench console`: the web console's own latency on a large tenant. It fills one
//! tenant with `--events` generated events (the store) and `--alerts` alerts (the state
//! database), starts a real server in-process, and times the pages a SOC analyst opens all
//! day over HTTP on loopback, each `--requests` times: the alert queue (first page, a deep
//! page by its cursor, filtered by level, host and text) and event search (all events of a
//! day, a field query, a host), each page rendered whole (template, facets, histogram). The
//! figures are p50/p95/p99 in milliseconds, per page.
//!
//! The reader is a client analyst with a personal token (a page takes a token as the API
//! does), so that the figures are the page's, not the sign-in's.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bytes::Bytes;
use clap::Args;
use vigie_event::{Decoder, Origin, Source, SourceKind, TenantId, Timestamp};
use vigie_govern::{OrgKind, Role};
use vigie_server::{Config, Server};
use vigie_state::{AlertKind, NewAlert, NewUser};
use vigie_store::{Store, StoreConfig};
use vigie_testkit::synth::{Generator, Wire};

use super::store::percentile;

#[derive(Debug, Args)]
pub(crate) struct ConsoleArgs {
    /// Events in the tenant's store.
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// Alerts in the tenant's queue.
    #[arg(long, default_value_t = 1_000_000)]
    alerts: u64,
    /// Requests of each page.
    #[arg(long, default_value_t = 100)]
    requests: usize,
    /// Days the events and alerts span (ending now).
    #[arg(long, default_value_t = 30)]
    days: u32,
    /// Print the figures as one JSON object.
    #[arg(long)]
    json: bool,
    /// The state database (`postgres://…`; default: SQLite in the temporary folder). It
    /// must be an empty database.
    #[arg(long)]
    state: Option<String>,
    /// Triage actions timed, each on an alert of its own.
    #[arg(long, default_value_t = 200)]
    actions: usize,
}

const TENANT: &str = "bench";
const HOSTS: u64 = 2_000;
const RULES: u64 = 60;

/// The level of alert `i` (most alerts are medium and low, as in a real queue).
fn level(i: u64) -> &'static str {
    match i % 20 {
        0 => "critical",
        1..=3 => "high",
        4..=10 => "medium",
        _ => "low",
    }
}

#[allow(clippy::print_stdout)]
pub(crate) fn run(args: &ConsoleArgs) -> Result<ExitCode> {
    anyhow::ensure!(args.requests > 0, "--requests must be at least 1");
    let dir = tempfile::Builder::new()
        .prefix("vigie-bench-console-")
        .tempdir()
        .context("creating a temporary data directory")?;
    let mut config = Config {
        data_dir: dir.path().join("data"),
        ..Config::default()
    };
    config.http.listen = "127.0.0.1:0".parse().expect("a valid address");
    config.state = args.state.clone();
    // The silence check would read the inventory during the measures: not this bench's.
    config.triage.silence_check_ms = 0;
    std::fs::create_dir_all(&config.data_dir)?;
    let tenant = TenantId::new(TENANT)?;
    let span = i64::from(args.days.max(1)) * 86_400_000_000_000;
    let end = Timestamp::now().as_nanos();
    let start = end - span;

    // The store: generated events, decoded as the intake decodes them.
    let t0 = Instant::now();
    let store = Store::open(
        config.store_dir(),
        StoreConfig {
            period_hours: config.store.period_hours,
            writer_heap_bytes: config.store.writer_heap_mib << 20,
            ..StoreConfig::default()
        },
    )?;
    let d = |kind, name| Decoder::new(Origin::new(tenant.clone(), Source::new(kind, name)));
    let mut decoders = [
        d(SourceKind::Http, "http"),
        d(SourceKind::SyslogUdp, "syslog"),
        d(SourceKind::SyslogTcp, "firewall"),
    ];
    let mut generator = Generator::new(7, 1, args.events, start, span);
    let mut some_host = None;
    loop {
        let mut events = Vec::with_capacity(200_000);
        for mut g in generator.by_ref().take(200_000) {
            let bytes = Bytes::from(std::mem::take(&mut g.line));
            let decoded = match g.wire {
                Wire::Json => decoders[0].decode_json(bytes),
                Wire::Syslog => decoders[1].decode_syslog(bytes),
                Wire::Cef => decoders[2].decode_cef(bytes),
            };
            if let Ok(e) = decoded {
                if some_host.is_none() {
                    some_host = e.host.as_ref().map(ToString::to_string);
                }
                events.push(e);
            }
        }
        if events.is_empty() {
            break;
        }
        store.add_all(events.drain(..))?;
        store.commit()?;
    }
    store.close()?;
    drop(store);
    let events_s = t0.elapsed().as_secs_f64();

    // The state: the tenant, a reader, and the alerts.
    let t1 = Instant::now();
    let rt = crate::serve::runtime()?;
    let token = rt.block_on(async {
        let state = config.open_state().await?;
        let org = state.create_org("Bench client", OrgKind::Client).await?;
        state.create_tenant_for(&tenant, org).await?;
        let reader = state
            .create_user(&NewUser {
                org,
                login: "bench.reader".to_owned(),
                name: "Bench reader".to_owned(),
                role: Role::ClientAnalyst,
                password: None,
                contract_end: None,
            })
            .await?;
        let token = state
            .create_personal_token(
                reader,
                "bench",
                Timestamp::from_nanos(end + 86_400_000_000_000),
            )
            .await?;
        let mut batch = Vec::with_capacity(5_000);
        let mut ids = vigie_event::EventIdGenerator::new();
        for i in 0..args.alerts {
            let time = Timestamp::from_nanos(start + (span / args.alerts.max(1) as i64) * i as i64);
            let rule = i % RULES;
            batch.push(NewAlert {
                tenant: tenant.clone(),
                kind: AlertKind::Rule,
                rule_id: format!("00000000-0000-0000-0000-{rule:012}"),
                rule_title: format!("Bench rule {rule} (suspicious process)"),
                level: level(i).to_owned(),
                tags: vec!["attack.execution".to_owned(), "attack.t1059.001".to_owned()],
                event_id: ids.next_at(time),
                event_time: time,
                host: Some(format!("ws-{:04}.corp.local", i % HOSTS)),
                user: None,
                source: None,
                matched: serde_json::json!({"Image": "C:\\Windows\\System32\\cmd.exe"}),
            });
            if batch.len() == batch.capacity() {
                state.insert_alerts(&batch).await?;
                batch.clear();
            }
        }
        state.insert_alerts(&batch).await?;
        // A queue as it stands mid-morning: one alert in a hundred escalated to L2 (by the
        // analyst, through the lifecycle), the newest ones being acknowledged.
        let (escalate, _) = state
            .alert_ids(
                &tenant,
                &vigie_state::AlertFilter::default(),
                (args.alerts / 100).min(10_000) as usize,
            )
            .await?;
        let who = Some(reader);
        let now = Timestamp::now();
        use vigie_govern::triage::Transition;
        state
            .transition_alerts(
                &tenant,
                &escalate,
                Transition::Acknowledge,
                Role::ClientAnalyst,
                who,
                None,
                now,
            )
            .await?;
        state
            .transition_alerts(
                &tenant,
                &escalate,
                Transition::Escalate(vigie_govern::Tier::L2),
                Role::ClientAnalyst,
                who,
                Some("bench: lateral movement suspected"),
                now,
            )
            .await?;
        // The alerts the timed actions act on: the oldest, one each.
        let oldest = vigie_state::AlertFilter {
            to: Some(Timestamp::from_nanos(start + span / 2)),
            ..vigie_state::AlertFilter::default()
        };
        let (acted, _) = state
            .alert_ids(&tenant, &oldest, args.actions.max(1))
            .await?;
        state.close().await;
        anyhow::Ok((token.to_string(), acted))
    })?;
    let (token, acted) = token;
    let alerts_s = t1.elapsed().as_secs_f64();

    let (server, started) = rt.block_on(Server::start(config))?;
    let base = format!("http://{}", started.http);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let get = |path: &str| -> Result<(f64, String)> {
        let t = Instant::now();
        let mut r = agent
            .get(format!("{base}{path}"))
            .header("Authorization", format!("Bearer {token}"))
            .call()
            .with_context(|| format!("GET {path}"))?;
        let status = r.status().as_u16();
        let body = r
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_string()?;
        anyhow::ensure!(
            status == 200,
            "GET {path}: HTTP {status}: {}",
            &body[..body.len().min(300)]
        );
        Ok((t.elapsed().as_secs_f64() * 1000.0, body))
    };
    // A deep page: follow the queue's cursor 20 pages down, keep that link.
    let mut deep = format!("/console/t/{TENANT}/alerts");
    for _ in 0..20 {
        let (_, body) = get(&deep)?;
        let Some(next) = body
            .split("rel=\"next\" href=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
        else {
            break;
        };
        deep = next.replace("&amp;", "&");
    }
    // Triage actions over the API, each on an alert of its own: acknowledge, assign to
    // oneself, comment, qualify.
    let post = |path: &str, body: &str| -> Result<f64> {
        let t = Instant::now();
        let mut r = agent
            .post(format!("{base}{path}"))
            .header("Authorization", format!("Bearer {token}"))
            .header("Content-Type", "application/json")
            .send(body.as_bytes())
            .with_context(|| format!("POST {path}"))?;
        let status = r.status().as_u16();
        let text = r.body_mut().read_to_string().unwrap_or_default();
        anyhow::ensure!(
            (200..300).contains(&status),
            "POST {path}: HTTP {status}: {}",
            &text[..text.len().min(300)]
        );
        Ok(t.elapsed().as_secs_f64() * 1000.0)
    };
    let mut action_rows = Vec::new();
    for (name, suffix, body) in [
        (
            "action: acknowledge",
            "transitions",
            r#"{"action":"acknowledge"}"#,
        ),
        ("action: assign to me", "assign", r#"{"assignee":"me"}"#),
        (
            "action: comment",
            "comments",
            r#"{"text":"checked the parent process"}"#,
        ),
        (
            "action: qualify",
            "transitions",
            r#"{"action":"qualify","qualification":"false-positive","note":"backup job"}"#,
        ),
    ] {
        let mut times = Vec::with_capacity(acted.len());
        for id in &acted {
            times.push(post(&format!("/api/v1/alerts/{id}/{suffix}"), body)?);
        }
        times.sort_by(f64::total_cmp);
        action_rows.push((
            name,
            percentile(&times, 50.0),
            percentile(&times, 95.0),
            percentile(&times, 99.0),
        ));
    }
    let host = some_host.unwrap_or_else(|| "ws-0001.corp.local".to_owned());
    let pages: Vec<(&str, String)> = vec![
        ("queue: first page", format!("/console/t/{TENANT}/alerts")),
        ("queue: page 21 (cursor)", deep),
        (
            "queue: level high",
            format!("/console/t/{TENANT}/alerts?level=high"),
        ),
        (
            "queue: one host",
            format!("/console/t/{TENANT}/alerts?host=ws-0042.corp.local"),
        ),
        (
            "queue: text",
            format!("/console/t/{TENANT}/alerts?q=rule+17"),
        ),
        (
            "queue: L1 tier, open",
            format!("/console/t/{TENANT}/alerts?queue=l1&open=1"),
        ),
        (
            "queue: L2 tier, open",
            format!("/console/t/{TENANT}/alerts?queue=l2&open=1"),
        ),
        (
            "queue: groups, open",
            format!("/console/t/{TENANT}/alerts?view=groups&open=1"),
        ),
        (
            "search: last 24 h",
            format!("/console/t/{TENANT}/search?q=&from=-24h"),
        ),
        (
            "search: all, 30 days",
            format!("/console/t/{TENANT}/search?q=&from=-30d"),
        ),
        (
            "search: a host, 30 days",
            format!(
                "/console/t/{TENANT}/search?q=host:%22{}%22&from=-30d",
                host.replace(' ', "+")
            ),
        ),
    ];
    let mut rows = Vec::new();
    for (name, path) in &pages {
        // One untimed request warms the caches, as a reader's second look would.
        get(path)?;
        let mut times = Vec::with_capacity(args.requests);
        for _ in 0..args.requests {
            times.push(get(path)?.0);
        }
        times.sort_by(f64::total_cmp);
        rows.push((
            *name,
            percentile(&times, 50.0),
            percentile(&times, 95.0),
            percentile(&times, 99.0),
        ));
    }
    rows.extend(action_rows);
    rt.block_on(server.shutdown())?;
    if args.json {
        let pages: Vec<serde_json::Value> = rows
            .iter()
            .map(|(n, p50, p95, p99)| serde_json::json!({"page": n, "p50_ms": p50, "p95_ms": p95, "p99_ms": p99}))
            .collect();
        println!(
            "{}",
            serde_json::json!({
                "events": args.events, "alerts": args.alerts, "requests": args.requests,
                "fill_events_s": events_s, "fill_alerts_s": alerts_s, "pages": pages,
            })
        );
    } else {
        println!(
            "console latency: {} events, {} alerts in one tenant; {} requests per page \
             (filled in {events_s:.0} s + {alerts_s:.0} s)",
            args.events, args.alerts, args.requests
        );
        println!(
            "  {:<26} {:>8} {:>8} {:>8}",
            "page", "p50 ms", "p95 ms", "p99 ms"
        );
        for (name, p50, p95, p99) in &rows {
            println!("  {name:<26} {p50:>8.1} {p95:>8.1} {p99:>8.1}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
