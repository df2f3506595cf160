//! `vigie demo`: the platform at work within a minute. It starts a real server in a
//! temporary data directory with two tenants (Acme clinic and Globex bank), loads the
//! project's Sigma rules (plus any `--rules`), and sends a small company's traffic over the
//! real listeners (HTTP, syslog TCP, UDP and TLS) with an attack story woven in. It prints
//! the URL and tokens, a live summary every five seconds, and with `--for` a final summary
//! (events, alerts by level and rule, which story steps were detected) before exiting; the
//! access, triage and notification stories follow (`people`, `triage`, `notify`).

mod bounds;
mod notify;
mod people;
mod story;
mod traffic;
mod triage;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Args;
use vigie_event::TenantId;
use vigie_server::config::{Protocol, Syslog};
use vigie_server::{Config, Server};

use crate::serve::{init_logging, runtime, wait_for_signal};

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Run this long, print the final summary and exit (`60s`, `2m`, or seconds). Default:
    /// until Ctrl-C.
    #[arg(long = "for", value_parser = parse_duration)]
    duration: Option<Duration>,
    /// More Sigma rule folders to load besides the project's `rules/` (e.g.
    /// `../shared/sigma/rules`).
    #[arg(long)]
    rules: Vec<PathBuf>,
    /// Background events per second, all sources together.
    #[arg(long, default_value_t = 2000)]
    rate: u64,
    /// Keep the data directory at exit (its path is printed).
    #[arg(long)]
    keep: bool,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?}: expected a duration like 60s, 2m or 1h"))?;
    let seconds = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(format!("{text:?}: unit must be s, m or h")),
    };
    Ok(Duration::from_secs(seconds))
}

/// The project's own rules: `./rules` when run from the checkout, else beside the sources.
fn project_rules() -> Option<PathBuf> {
    let local = PathBuf::from("rules");
    let ours = |p: &Path| {
        std::fs::read_to_string(p.join("README.md"))
            .is_ok_and(|t| t.starts_with("# Vigie's own Sigma rules"))
    };
    if ours(&local) {
        return Some(local);
    }
    let beside = crate::manifest_dir().join("../../rules");
    ours(&beside).then_some(beside)
}

const TENANTS: [&str; 2] = ["mutuelle", "globex-bank"];

#[allow(clippy::print_stdout)]
pub(crate) fn run(args: &DemoArgs) -> Result<ExitCode> {
    init_logging("warn");
    let dir = tempfile::Builder::new()
        .prefix("vigie-demo-")
        .tempdir()
        .context("cannot create a temporary data directory")?;
    let data = dir.path().to_path_buf();
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .context("cannot make the demo TLS certificate")?;
    let cert_pem = certified.cert.pem();
    std::fs::write(data.join("tls.pem"), &cert_pem)?;
    std::fs::write(data.join("tls.key"), certified.signing_key.serialize_pem())?;

    let mut rules: Vec<PathBuf> = project_rules().into_iter().collect();
    if rules.is_empty() {
        println!("note: the project's rules/ folder was not found; only --rules are loaded");
    }
    rules.extend(args.rules.iter().cloned());
    let listener = |name: &str, protocol, tenant: &str| Syslog {
        name: name.to_owned(),
        protocol,
        listen: "127.0.0.1:0".parse().expect("a valid address"),
        tenant: tenant.to_owned(),
        logsource: None,
        max_message_bytes: 64 << 10,
        cert: (protocol == Protocol::Tls).then(|| data.join("tls.pem")),
        key: (protocol == Protocol::Tls).then(|| data.join("tls.key")),
        client_ca: None,
        client_tenants: BTreeMap::new(),
        framing: vigie_server::config::StreamFraming::Auto,
        max_connections: 256,
    };
    let mut config = Config {
        data_dir: data.join("data"),
        ..Config::default()
    };
    config.http.listen = "127.0.0.1:0".parse().expect("a valid address");
    config.rules.paths = rules;
    // The triage story waits for a silent source's alert: check every two seconds.
    config.triage.silence_check_ms = 2000;
    // Notifications go to the demo's own webhook receiver and mail relay, the only
    // destinations on the allow-list.
    let inbox = notify::Inbox::default();
    let hook_port = notify::start_webhook(&inbox)?;
    let relay_port = notify::start_relay(
        &inbox,
        certified.cert.der().to_vec(),
        certified.signing_key.serialize_der(),
    )?;
    let hook = format!("http://127.0.0.1:{hook_port}/vigie/soc");
    config.notify.webhook_allow = vec![format!("http://127.0.0.1:{hook_port}/vigie/")];
    config.notify.email_domains = vec![notify::DOMAIN.to_owned()];
    config.notify.poll_ms = 500;
    config.notify.smtp = Some(vigie_server::config::Smtp {
        host: "127.0.0.1".to_owned(),
        port: relay_port,
        from: "Vigie <vigie@soc.example>".to_owned(),
        username: None,
        password_file: None,
        ca_file: Some(data.join("tls.pem")),
    });
    config.syslog = vec![
        listener("acme-syslog", Protocol::Tcp, TENANTS[0]),
        listener("globex-syslog", Protocol::Udp, TENANTS[1]),
        listener("globex-firewall", Protocol::Tls, TENANTS[1]),
    ];

    let rt = runtime()?;
    let outcome = rt.block_on(async {
        std::fs::create_dir_all(&config.data_dir)?;
        let state = config.open_state().await?;
        let secrets = vigie_server::secrets::Secrets::load_or_create(
            &vigie_server::secrets::Secrets::dir(&config),
        )?;
        let cast = people::setup(&state, &secrets, TENANTS, &hook).await?;
        let notifier =
            vigie_server::notify::Notifier::new(&config.notify, secrets.instance_secret(), "")?;
        let rules = state.notify_rules(&TenantId::new(TENANTS[0])?).await?;
        if let Ok(mut known) = inbox.secrets.lock() {
            for rule in rules {
                known.push((rule.id.0.to_string(), notifier.webhook_secret(rule.id.0)));
            }
        }
        let mut tokens = Vec::new();
        for name in TENANTS {
            let tenant = TenantId::new(name)?;
            tokens.push(state.create_tenant_token(&tenant, "demo").await?);
        }
        state.close().await;
        let (server, started) = Server::start(config).await?;
        let addr = |name: &str| {
            started
                .syslog
                .iter()
                .find(|(n, _, _)| n == name)
                .map(|(_, _, a)| *a)
                .context("listener missing")
        };
        let targets = traffic::Targets {
            http: started.http,
            tokens: [tokens[0].to_string(), tokens[1].to_string()],
            acme_tcp: addr("acme-syslog")?,
            globex_udp: addr("globex-syslog")?,
            globex_tls: addr("globex-firewall")?,
            tls_cert: cert_pem.into_bytes(),
        };
        println!("Vigie demo — data in {}", data.display());
        println!(
            "  API        http://{}/api/v1/  (OpenAPI: /api/v1/openapi.json)",
            started.http
        );
        for (name, token) in TENANTS.iter().zip(&tokens) {
            println!("  ingest     {name:<12} {token}");
        }
        people::print_logins(&cast, started.http);
        for (name, protocol, a) in &started.syslog {
            println!("  syslog     {name} ({protocol:?}) on {a}");
        }
        println!(
            "  notify     webhook receiver http://127.0.0.1:{hook_port}/vigie/ and mail relay \
             127.0.0.1:{relay_port} (STARTTLS), the demo's own; rules on mutuelle: high alerts \
             → webhook, escalations to L2 → marc.rssi, approvals → claire.admin"
        );
        println!(
            "  rules      {} loaded, {} rejected",
            started.rules.0, started.rules.1
        );
        println!(
            "  try        curl -c jar -d '{{\"login\":\"lea.l1\",\"password\":\"…\",\"code\":\"…\"}}' \
             -H 'Content-Type: application/json' http://{0}/api/v1/login; curl -b jar http://{0}/api/v1/alerts",
            started.http
        );
        let shown = targets.clone();
        tokio::task::spawn_blocking(move || bounds::show(&shown))
            .await
            .context("the bounds demo stopped")??;
        let result = drive(&server, &targets, args).await;
        let result = match result {
            Ok(()) => {
                let http = started.http;
                let cast = cast.clone();
                let inbox = inbox.clone();
                tokio::task::spawn_blocking(move || {
                    let (lea, hugo) = people::story(http, &cast, TENANTS[0])?;
                    triage::story(&cast, TENANTS[0], &lea, &hugo)?;
                    notify::report(&inbox, Duration::from_secs(10));
                    Ok(())
                })
                .await
                .context("the access and triage stories stopped")?
            }
            e => e,
        };
        server.shutdown().await?;
        result
    });
    if args.keep {
        let kept = dir.keep();
        println!("data kept in {}", kept.display());
    }
    outcome?;
    Ok(ExitCode::SUCCESS)
}

/// Runs the traffic and the story, prints the live and final summaries.
#[allow(clippy::print_stdout)]
async fn drive(server: &Server, targets: &traffic::Targets, args: &DemoArgs) -> Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(traffic::Sent::default());
    let background = {
        let (targets, stop, sent, rate) = (
            targets.clone(),
            Arc::clone(&stop),
            Arc::clone(&sent),
            args.rate,
        );
        std::thread::spawn(move || traffic::background(&targets, rate, &stop, &sent))
    };
    // The story takes the first minute (or the whole run when shorter).
    let story_span = args
        .duration
        .unwrap_or(Duration::from_secs(60))
        .min(Duration::from_secs(60));
    let story = {
        let (targets, stop, sent) = (targets.clone(), Arc::clone(&stop), Arc::clone(&sent));
        std::thread::spawn(move || -> Result<()> {
            let start = Instant::now();
            for (i, step) in story::STEPS.iter().enumerate() {
                let at = story_span.mul_f64(step.at);
                while start.elapsed() < at {
                    if stop.load(Ordering::Acquire) {
                        return Ok(());
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                let now = vigie_event::Timestamp::now().as_nanos();
                let messages = story::messages(i, now);
                traffic::story_step(&targets, &messages)?;
                sent.events
                    .fetch_add(messages.len() as u64, Ordering::Relaxed);
            }
            Ok(())
        })
    };

    let start = Instant::now();
    let mut last = (start, 0u64);
    let deadline = args.duration.map(|d| start + d);
    let signal = wait_for_signal();
    tokio::pin!(signal);
    loop {
        let sleep = tokio::time::sleep(Duration::from_secs(5));
        let ended = tokio::select! {
            _ = sleep => false,
            _ = &mut signal => true,
        };
        let events = server.metrics().pipeline.events.load(Ordering::Relaxed);
        let rate = (events - last.1) as f64 / last.0.elapsed().as_secs_f64();
        last = (Instant::now(), events);
        let mut line = format!(
            "[{:>4.0}s] {:>7.0} events/s stored",
            start.elapsed().as_secs_f64(),
            rate
        );
        for name in TENANTS {
            let counts = server.state().alert_counts(&TenantId::new(name)?).await?;
            line.push_str(&format!(" | {name}: {}", by_level(&counts)));
        }
        println!("{line}");
        if ended || deadline.is_some_and(|d| Instant::now() >= d) || background.is_finished() {
            break;
        }
    }
    stop.store(true, Ordering::Release);
    let background = background
        .join()
        .map_err(|_| anyhow::anyhow!("the traffic thread panicked"))?;
    let story = story
        .join()
        .map_err(|_| anyhow::anyhow!("the story thread panicked"))?;
    background.context("background traffic")?;
    story.context("attack story")?;

    // Let the pipeline finish what is durable, then report.
    let waited = Instant::now();
    while !server.caught_up() && waited.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(1200)).await;
    final_summary(server, &sent, start.elapsed()).await
}

fn by_level(counts: &[(String, String, String, u64)]) -> String {
    let mut levels: BTreeMap<u8, (&str, u64)> = BTreeMap::new();
    for (_, _, level, n) in counts {
        let rank = match level.as_str() {
            "critical" => 0,
            "high" => 1,
            "medium" => 2,
            "low" => 3,
            _ => 4,
        };
        levels.entry(rank).or_insert((level, 0)).1 += n;
    }
    let total: u64 = levels.values().map(|(_, n)| n).sum();
    let parts: Vec<String> = levels.values().map(|(l, n)| format!("{l} {n}")).collect();
    if parts.is_empty() {
        "0 alerts".to_owned()
    } else {
        format!("{total} alerts ({})", parts.join(", "))
    }
}

#[allow(clippy::print_stdout)]
async fn final_summary(server: &Server, sent: &traffic::Sent, elapsed: Duration) -> Result<()> {
    let metrics = server.metrics();
    println!();
    println!("Summary after {:.0} s", elapsed.as_secs_f64());
    let mut received = 0;
    let mut journaled = 0;
    println!("  sources (tenant/source: received, rejected, durable, dropped)");
    for ((tenant, source), c) in metrics.sources() {
        let dropped = c.dropped_total();
        let r = c.received.load(Ordering::Relaxed);
        let j = c.journaled.load(Ordering::Relaxed);
        received += r;
        journaled += j;
        println!(
            "    {tenant}/{source}: {r}, {}, {j}, {dropped}",
            c.rejected.load(Ordering::Relaxed)
        );
    }
    let stored = metrics.pipeline.events.load(Ordering::Relaxed);
    println!(
        "  events: {} sent, {received} received, {journaled} durable, {stored} stored ({:.0}/s); HTTP errors {}",
        sent.events.load(Ordering::Relaxed),
        stored as f64 / elapsed.as_secs_f64(),
        sent.http_errors.load(Ordering::Relaxed)
    );
    let mut fired: BTreeMap<String, u64> = BTreeMap::new();
    for name in TENANTS {
        let counts = server.state().alert_counts(&TenantId::new(name)?).await?;
        println!("  {name}: {}", by_level(&counts));
        for (id, title, level, n) in &counts {
            println!("    {n:>6}  {level:<13} {title}");
            *fired.entry(id.clone()).or_default() += n;
        }
    }
    let quarantined = server.quarantine().list(None)?;
    println!(
        "  quarantine: {} journal record(s) set aside (`vigie admin quarantine list`)",
        quarantined.len()
    );
    println!("  attack story");
    let mut detected = 0;
    for step in &story::STEPS {
        let hit = step.rules.iter().any(|r| fired.contains_key(*r));
        detected += usize::from(hit);
        println!(
            "    [{}] {}",
            if hit { "detected" } else { "missed  " },
            step.name
        );
    }
    println!(
        "  {detected} of {} story steps detected",
        story::STEPS.len()
    );
    Ok(())
}
