//! `vigie bench ingest`: the live pipeline under load, driven from this process against a
//! child `vigie serve` (a separate process, as real senders are).
//!
//! Method:
//! 1. A temporary data directory, a tenant `bench` for the load and a tenant `probe` for
//!    latency probes; the child is started with the given rules (default: the project's).
//! 2. `--http-senders` threads post gzip NDJSON batches of `--batch` generated events
//!    (Windows and DNS logs) and one thread sends the generated syslog and CEF lines over
//!    syslog TCP (octet counting), until `--events` are sent; `--rate` caps the total rate
//!    (0: as fast as the server acknowledges). Each HTTP batch's acknowledgement latency is
//!    recorded (send start → 200, i.e. journal fsync included).
//! 3. Meanwhile a probe thread sends, every 200 ms, one event that a rule alerts on into
//!    the `probe` tenant and measures from its acknowledgement until it is searchable and
//!    until its alert is listed.
//! 4. Sustained throughput is reported twice: acknowledged events/s (load phase) and
//!    processed events/s (until the pipeline has decoded, detected and stored everything:
//!    journal lag 0).

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Args;

use super::store::percentile;
use vigie_testkit::synth::{Generator, Wire};

#[derive(Debug, Args)]
pub(crate) struct IngestArgs {
    /// Events to send.
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// Total rate cap in events per second (0: as fast as acknowledged).
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Events per HTTP batch.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Concurrent HTTP senders.
    #[arg(long, default_value_t = 4)]
    http_senders: usize,
    /// Sigma rule folders for the server (default: the project's rules/).
    #[arg(long)]
    rules: Vec<PathBuf>,
    /// Print the figures as one JSON object.
    #[arg(long)]
    json: bool,
    /// Pipeline worker threads of the server (0: one per core).
    #[arg(long, default_value_t = 0)]
    workers: usize,
    /// Time between the server's store commits, milliseconds (its `commit_interval_ms`).
    #[arg(long, default_value_t = 1000)]
    commit_interval_ms: u64,
    /// The `vigie` binary that serves (default: this one): comparing two builds with the
    /// same driver, interleaved.
    #[arg(long)]
    server: Option<PathBuf>,
}

/// People the bench reads with (reading takes a person): an operator (for `/metrics`,
/// with a second factor enrolled, as an operator must) and an analyst of the probe
/// tenant (its events and alerts), each with a personal token. Made in the state
/// database before the server starts.
fn readers(data_dir: &std::path::Path) -> Result<(String, String)> {
    use vigie_govern::{OrgKind, Role};
    use vigie_state::NewUser;
    let config = vigie_server::Config {
        data_dir: data_dir.to_owned(),
        ..vigie_server::Config::default()
    };
    let rt = crate::serve::runtime()?;
    rt.block_on(async {
        let state = config.open_state().await?;
        let until = vigie_event::Timestamp::from_nanos(
            vigie_event::Timestamp::now().as_nanos() + 86_400_000_000_000,
        );
        let probe = vigie_event::TenantId::new("probe")?;
        let owner = state
            .tenant_owner(&probe)
            .await?
            .context("the probe tenant has an owner")?;
        let person = |org, login: &str, role| NewUser {
            org,
            login: login.to_owned(),
            name: login.to_owned(),
            role,
            password: None,
            contract_end: None,
        };
        let reader = state
            .create_user(&person(owner, "bench.reader", Role::ClientAnalyst))
            .await?;
        let reader_token = state.create_personal_token(reader, "bench", until).await?;
        let ops = state
            .create_org("Bench operators", OrgKind::Operator)
            .await?;
        let operator = state
            .create_user(&person(ops, "bench.operator", Role::Operator))
            .await?;
        let secrets = vigie_server::secrets::Secrets::load_or_create(
            &vigie_server::secrets::Secrets::dir(&config),
        )?;
        let sealed = secrets
            .totp()
            .seal(&[7; 20], &format!("user:{}", operator.0), [1; 12]);
        state.enrol_totp(operator, &sealed, &[]).await?;
        let operator_token = state
            .create_personal_token(operator, "bench", until)
            .await?;
        state.close().await;
        anyhow::Ok((operator_token.to_string(), reader_token.to_string()))
    })
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn http_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

fn gzip(lines: &[String]) -> Result<Vec<u8>> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    for l in lines {
        gz.write_all(l.as_bytes())?;
        gz.write_all(b"\n")?;
    }
    Ok(gz.finish()?)
}

/// The child server, killed when dropped.
struct ServeChild {
    child: Child,
}

impl Drop for ServeChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends one gzip NDJSON body; returns whether it was acknowledged.
fn post(agent: &ureq::Agent, base: &str, token: &str, query: &str, body: &[u8]) -> Result<bool> {
    let mut r = agent
        .post(format!("{base}/api/v1/ingest{query}"))
        .header("Authorization", format!("Bearer {token}"))
        .header("Content-Encoding", "gzip")
        .send(body)?;
    let ok = r.status() == 200;
    let _ = r.body_mut().read_to_string();
    Ok(ok)
}

fn get_json(agent: &ureq::Agent, url: &str, token: &str) -> Result<serde_json::Value> {
    let mut r = agent
        .get(url)
        .header("Authorization", format!("Bearer {token}"))
        .call()?;
    let text = r.body_mut().read_to_string()?;
    serde_json::from_str(&text).with_context(|| format!("{url}: {text}"))
}

#[allow(clippy::print_stdout)]
pub(crate) fn run(args: &IngestArgs) -> Result<ExitCode> {
    anyhow::ensure!(
        args.events > 0 && args.batch > 0 && args.http_senders > 0,
        "--events, --batch and --http-senders must be > 0"
    );
    let dir = tempfile::Builder::new()
        .prefix("vigie-bench-ingest-")
        .tempdir()?;
    let exe = match &args.server {
        Some(p) => p.clone(),
        None => std::env::current_exe()?,
    };
    let (http_port, tcp_port) = (free_port()?, free_port()?);
    let rules: Vec<PathBuf> = if args.rules.is_empty() {
        vec![crate::manifest_dir().join("../../rules")]
    } else {
        args.rules.clone()
    };
    let rules_toml: Vec<String> = rules
        .iter()
        .map(|p| format!("{:?}", p.display().to_string()))
        .collect();
    let config = dir.path().join("vigie.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\n[http]\nlisten = \"127.0.0.1:{http_port}\"\n[pipeline]\nworkers = {}\ncommit_interval_ms = {}\n[rules]\npaths = [{}]\nreload_poll_ms = 0\n[[syslog]]\nname = \"bench-tcp\"\nprotocol = \"tcp\"\nlisten = \"127.0.0.1:{tcp_port}\"\ntenant = \"bench\"\n",
            dir.path().join("data").display().to_string(),
            args.workers,
            args.commit_interval_ms,
            rules_toml.join(", ")
        ),
    )?;
    let mut tokens = Vec::new();
    for tenant in ["bench", "probe"] {
        let out = Command::new(&exe)
            .args(["admin", "--config"])
            .arg(&config)
            .args(["tenant", "create", tenant])
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "vigie admin: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout)?;
        for line in text.lines() {
            let token = line.split_whitespace().last().unwrap_or("").to_owned();
            if line.contains("ingest token") {
                tokens.push(token);
            }
        }
    }
    anyhow::ensure!(tokens.len() == 2, "vigie admin printed no ingest tokens");
    let (admin, reader) = readers(&dir.path().join("data"))?;
    let log = std::fs::File::create(dir.path().join("serve.log"))?;
    let child = ServeChild {
        child: Command::new(&exe)
            .args(["serve", "--config"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?,
    };
    let base = format!("http://127.0.0.1:{http_port}");
    let agent = http_agent();
    let started = Instant::now();
    loop {
        if agent
            .get(format!("{base}/api/v1/health"))
            .call()
            .is_ok_and(|r| r.status() == 200)
        {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(120),
            "vigie serve did not start; see {}",
            dir.path().join("serve.log").display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let rules_info = get_json(&agent, &format!("{base}/api/v1/rules"), &reader)?;

    // Pre-generate the load so that generation does not count.
    let mut http_batches: Vec<(bool, Vec<u8>, usize)> = Vec::new();
    let mut syslog_frames: Vec<u8> = Vec::new();
    let mut syslog_events = 0u64;
    let (mut windows, mut dns) = (Vec::new(), Vec::new());
    let now = vigie_event::Timestamp::now().as_nanos();
    for g in Generator::new(42, 1, args.events, now - 600_000_000_000, 600_000_000_000) {
        match g.wire {
            Wire::Json if g.line.starts_with("{\"Event\"") => windows.push(g.line),
            Wire::Json => dns.push(g.line),
            _ => {
                syslog_frames.extend_from_slice(format!("{} {}", g.line.len(), g.line).as_bytes());
                syslog_events += 1;
            }
        }
        for (is_dns, lines) in [(false, &mut windows), (true, &mut dns)] {
            if lines.len() >= args.batch {
                http_batches.push((is_dns, gzip(lines)?, lines.len()));
                lines.clear();
            }
        }
    }
    for (is_dns, lines) in [(false, &windows), (true, &dns)] {
        if !lines.is_empty() {
            http_batches.push((is_dns, gzip(lines)?, lines.len()));
        }
    }

    let sent = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let acks: Arc<Mutex<Vec<f64>>> = Arc::default();
    let done = Arc::new(AtomicBool::new(false));
    let batches = Arc::new(Mutex::new(http_batches.into_iter()));
    let load_start = Instant::now();
    // The rate cap, shared: the n-th event may leave at n / rate seconds.
    let pace = |n: u64| {
        if args.rate > 0 {
            let due = load_start + Duration::from_secs_f64(n as f64 / args.rate as f64);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
    };
    std::thread::scope(|scope| -> Result<()> {
        let mut senders = Vec::new();
        for _ in 0..args.http_senders {
            let (batches, sent, failed, acks, base, token) = (
                Arc::clone(&batches),
                Arc::clone(&sent),
                Arc::clone(&failed),
                Arc::clone(&acks),
                base.clone(),
                tokens[0].clone(),
            );
            senders.push(scope.spawn(move || -> Result<()> {
                let agent = http_agent();
                loop {
                    let next = batches
                        .lock()
                        .map_err(|_| anyhow::anyhow!("poisoned"))?
                        .next();
                    let Some((is_dns, body, n)) = next else {
                        return Ok(());
                    };
                    pace(sent.load(Ordering::Relaxed));
                    let query = if is_dns { "?logsource=//dns" } else { "" };
                    loop {
                        let t = Instant::now();
                        if post(&agent, &base, &token, query, &body)? {
                            acks.lock()
                                .map_err(|_| anyhow::anyhow!("poisoned"))?
                                .push(t.elapsed().as_secs_f64() * 1e3);
                            sent.fetch_add(n as u64, Ordering::Relaxed);
                            break;
                        }
                        // 429/503: back off as Retry-After says, then resend the same batch.
                        failed.fetch_add(1, Ordering::Relaxed);
                        std::thread::sleep(Duration::from_millis(200));
                    }
                }
            }));
        }
        let syslog = {
            let (sent, frames) = (Arc::clone(&sent), &syslog_frames);
            scope.spawn(move || -> Result<()> {
                let mut tcp = std::net::TcpStream::connect(("127.0.0.1", tcp_port))?;
                let chunk = 256 << 10;
                let per_byte = syslog_events as f64 / frames.len().max(1) as f64;
                for part in frames.chunks(chunk) {
                    pace(sent.load(Ordering::Relaxed));
                    tcp.write_all(part)?;
                    sent.fetch_add((part.len() as f64 * per_byte) as u64, Ordering::Relaxed);
                }
                tcp.shutdown(std::net::Shutdown::Write)?;
                let _ = std::io::Read::read_to_end(&mut tcp, &mut Vec::new());
                Ok(())
            })
        };
        let probes = {
            let (done, base, token, reader) = (
                Arc::clone(&done),
                base.clone(),
                tokens[1].clone(),
                reader.clone(),
            );
            scope.spawn(move || -> Result<(Vec<f64>, Vec<f64>)> {
                probe(&done, &base, &token, &reader)
            })
        };
        for s in senders {
            s.join()
                .map_err(|_| anyhow::anyhow!("a sender panicked"))??;
        }
        syslog
            .join()
            .map_err(|_| anyhow::anyhow!("the syslog sender panicked"))??;
        let load_secs = load_start.elapsed().as_secs_f64();
        // Until the pipeline has processed everything.
        loop {
            let ready = get_json(&agent, &format!("{base}/api/v1/ready"), &admin)?;
            if ready["journal"]["lag_bytes"] == 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let processed_secs = load_start.elapsed().as_secs_f64();
        done.store(true, Ordering::Release);
        let (mut searchable, mut alerted) = probes
            .join()
            .map_err(|_| anyhow::anyhow!("the probe panicked"))??;
        let metrics = {
            let mut r = agent
                .get(format!("{base}/metrics"))
                .header("Authorization", format!("Bearer {admin}"))
                .call()?;
            r.body_mut().read_to_string()?
        };
        let counter = |name: &str| -> f64 {
            metrics
                .lines()
                .filter(|l| l.starts_with(name))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum()
        };
        let stored = counter("vigie_pipeline_events_total");
        let alerts = counter("vigie_pipeline_alerts_total");
        let journaled = counter("vigie_journaled_messages_total{tenant=\"bench\"");
        let mut acks = acks
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
            .clone();
        acks.sort_by(f64::total_cmp);
        searchable.sort_by(f64::total_cmp);
        alerted.sort_by(f64::total_cmp);
        let figures = serde_json::json!({
            "events": args.events,
            "durable_events": journaled,
            "stored_events": stored,
            "alerts": alerts,
            "rules": rules_info["rules"],
            "ack_events_per_s": journaled / load_secs,
            "processed_events_per_s": journaled / processed_secs,
            "ack_p50_ms": percentile(&acks, 50.0),
            "ack_p99_ms": percentile(&acks, 99.0),
            "ack_to_searchable_p50_ms": percentile(&searchable, 50.0),
            "ack_to_searchable_p99_ms": percentile(&searchable, 99.0),
            "ack_to_alert_p50_ms": percentile(&alerted, 50.0),
            "ack_to_alert_p99_ms": percentile(&alerted, 99.0),
            "probes": searchable.len(),
            "http_retries": failed.load(Ordering::Relaxed),
            "syslog_events": syslog_events,
        });
        if args.json {
            println!("{figures}");
        } else {
            println!(
                "vigie bench ingest: {} events ({} over syslog TCP), {} rules, {} HTTP senders",
                args.events, syslog_events, rules_info["rules"], args.http_senders
            );
            println!(
                "  durable {journaled:.0}, stored {stored:.0}, alerts {alerts:.0}, HTTP retries (429/503) {}",
                failed.load(Ordering::Relaxed)
            );
            println!(
                "  acknowledged   {:>9.0} events/s  ({load_secs:.1} s)",
                journaled / load_secs
            );
            println!(
                "  processed      {:>9.0} events/s  ({processed_secs:.1} s, journal → detect → store)",
                journaled / processed_secs
            );
            println!(
                "  ack latency            p50 {:>8.1} ms   p99 {:>8.1} ms",
                percentile(&acks, 50.0),
                percentile(&acks, 99.0)
            );
            println!(
                "  ack → searchable       p50 {:>8.1} ms   p99 {:>8.1} ms   ({} probes)",
                percentile(&searchable, 50.0),
                percentile(&searchable, 99.0),
                searchable.len()
            );
            println!(
                "  ack → alert            p50 {:>8.1} ms   p99 {:>8.1} ms",
                percentile(&alerted, 50.0),
                percentile(&alerted, 99.0)
            );
        }
        Ok(())
    })?;
    drop(child);
    Ok(ExitCode::SUCCESS)
}

/// Sends probes until `done`; returns ack→searchable and ack→alert latencies (ms). One probe
/// at a time, into its own tenant: an event that the project's rules (and SigmaHQ's) alert
/// on, found by a unique marker; its alert is the one naming its event id.
fn probe(done: &AtomicBool, base: &str, token: &str, reader: &str) -> Result<(Vec<f64>, Vec<f64>)> {
    let agent = http_agent();
    let (mut searchable, mut alerted) = (Vec::new(), Vec::new());
    let mut i = 0u64;
    while !done.load(Ordering::Acquire) {
        i += 1;
        let marker = format!("probe{i}x{}", std::process::id());
        let event = format!(
            r##"{{"Event":{{"System":{{"Provider":{{"#attributes":{{"Name":"Microsoft-Windows-Sysmon"}}}},"EventID":1,"Channel":"Microsoft-Windows-Sysmon/Operational","Computer":"probe-host","TimeCreated":{{"#attributes":{{"SystemTime":"{}"}}}}}},"EventData":{{"Image":"C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe","ParentImage":"C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE","CommandLine":"powershell -nop {marker}"}}}}}}"##,
            vigie_testkit::synth::rfc3339(vigie_event::Timestamp::now().as_nanos())
        );
        let body = gzip(&[event])?;
        if !post(&agent, base, token, "", &body)? {
            std::thread::sleep(Duration::from_millis(200));
            continue;
        }
        let acked = Instant::now();
        let (mut seen, mut alert) = (None, None);
        let mut id = String::new();
        while alert.is_none() && acked.elapsed() < Duration::from_secs(120) {
            if seen.is_none() {
                let page = get_json(
                    &agent,
                    &format!("{base}/api/v1/events?q={marker}&limit=1"),
                    reader,
                )?;
                if let Some(found) = page["events"][0]["id"].as_str() {
                    seen = Some(acked.elapsed().as_secs_f64() * 1e3);
                    id = found.to_owned();
                }
            } else {
                let page = get_json(&agent, &format!("{base}/api/v1/alerts?limit=50"), reader)?;
                let mine = page["alerts"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|x| x["event_id"] == id.as_str()));
                if mine {
                    alert = Some(acked.elapsed().as_secs_f64() * 1e3);
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        searchable.extend(seen);
        alerted.extend(alert);
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok((searchable, alerted))
}
