//! `vigie bench hunt`: a retro-hunt's speed over a large store (issue 27: events/s on
//! 10 M stored events, target ≥ 1 M events/s scanned for a rule with a selective value).
//!
//! Method: one tenant's store is filled with `--events` generated events over `--days`
//! (the generator of `vigie bench store`, decoded by the real decoders, committed and
//! merged; untimed), with one credential-dumping process creation every million events so
//! that the selective rule finds something. Or `--reuse DIR` opens a store filled before.
//! Then each rule is hunted over the whole range, as the server's job runs it
//! (`vigie_server::hunts::run`: the index narrows the candidates with
//! `vigie_sigma::narrow::store_query`, the engine evaluates them): events in range,
//! candidates, matches, seconds, and events in range per second — the measure of a scan.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use anyhow::{Context, Result};
use bytes::Bytes;
use clap::Args;
use vigie_event::{Decoder, Origin, Source, SourceKind, TenantId, Timestamp};
use vigie_server::hunts::{Job, run as hunt};
use vigie_state::hunts::Progress;
use vigie_store::{Search, Store, StoreConfig, TimeRange};
use vigie_testkit::synth::{Generator, Wire, rfc3339};

#[derive(Debug, Args)]
pub(crate) struct HuntArgs {
    /// Events to generate and store.
    #[arg(long, default_value_t = 10_000_000)]
    events: u64,
    /// Days the events span (ending now).
    #[arg(long, default_value_t = 7)]
    days: u32,
    /// Keep the store in this (empty or new) folder; with --reuse, open the one there.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Open the store in --dir as filled by an earlier run.
    #[arg(long)]
    reuse: bool,
    /// Seed of the generator.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

/// The rules hunted: (label, document).
const RULES: [(&str, &str); 3] = [
    (
        "selective (LSASS dump through comsvcs: CommandLine contains comsvcs and MiniDump)",
        include_str!("../../../../rules/lsass_minidump_comsvcs.yml"),
    ),
    (
        "common (Security 4625, a failed logon: one event in twenty)",
        "title: failed logons\nlogsource:\n  product: windows\n  service: security\ndetection:\n  s:\n    EventID: 4625\n  condition: s\n",
    ),
    (
        "not narrowed (a keyword: every event is a candidate)",
        "title: keyword\nlogsource:\n  product: windows\ndetection:\n  k:\n    - mimikatz\n  condition: k\n",
    ),
];

fn dump_event(time: i64, n: u64) -> String {
    format!(
        r#"{{"Channel":"Microsoft-Windows-Sysmon/Operational","Provider_Name":"Microsoft-Windows-Sysmon","EventID":1,"Computer":"ws-{n}.corp.example","TimeCreated_SystemTime":"{}","EventRecordID":{n},"Image":"C:\\Windows\\System32\\rundll32.exe","CommandLine":"rundll32.exe C:\\Windows\\System32\\comsvcs.dll, MiniDump 672 C:\\Users\\Public\\lsass.dmp full","ParentImage":"C:\\Windows\\System32\\cmd.exe"}}"#,
        rfc3339(time)
    )
}

#[allow(clippy::print_stderr)]
fn fill(store: &Store, tenant: &TenantId, args: &HuntArgs, start: i64, span: i64) -> Result<u64> {
    let d = |kind, name| Decoder::new(Origin::new(tenant.clone(), Source::new(kind, name)));
    let mut decoders = [
        d(SourceKind::Http, "http"),
        d(SourceKind::SyslogUdp, "syslog"),
        d(SourceKind::SyslogTcp, "firewall"),
    ];
    let mut generator = Generator::new(args.seed, 1, args.events, start, span);
    let mut stored = 0u64;
    let chunk = 250_000;
    loop {
        let mut events = Vec::with_capacity(chunk);
        for g in generator.by_ref().take(chunk) {
            let decoded = match g.wire {
                Wire::Json => decoders[0].decode_json(Bytes::from(g.line)),
                Wire::Syslog => decoders[1].decode_syslog(Bytes::from(g.line)),
                Wire::Cef => decoders[2].decode_cef(Bytes::from(g.line)),
            };
            if let Ok(e) = decoded {
                events.push(e);
            }
            if (stored + events.len() as u64) % 1_000_000 == 1 {
                let line = dump_event(g.time, stored + events.len() as u64);
                events.push(decoders[0].decode_json(Bytes::from(line))?);
            }
        }
        if events.is_empty() {
            break;
        }
        stored += events.len() as u64;
        store.add_all(events.drain(..))?;
        store.commit()?;
        eprint!("\r  stored {stored} events");
    }
    store.close()?;
    eprintln!();
    Ok(stored)
}

#[allow(clippy::print_stdout)]
pub(crate) fn run(args: &HuntArgs) -> Result<ExitCode> {
    let temp;
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => {
            anyhow::ensure!(!args.reuse, "--reuse needs --dir");
            temp = tempfile::Builder::new()
                .prefix("vigie-bench-hunt-")
                .tempdir()
                .context("creating a temporary store directory")?;
            temp.path().to_owned()
        }
    };
    let store = Store::open(&dir, StoreConfig::default()).context("opening the store")?;
    let tenant = TenantId::new("hunted")?;
    let span = i64::from(args.days.max(1)) * 86_400_000_000_000;
    let end = Timestamp::now().as_nanos();
    if !args.reuse {
        let t0 = Instant::now();
        let stored = fill(&store, &tenant, args, end - span, span)?;
        println!(
            "filled {stored} events in {:.0} s ({})",
            t0.elapsed().as_secs_f64(),
            dir.display()
        );
    }
    let range = TimeRange {
        from: None,
        to: Some(Timestamp::from_nanos(end + 86_400_000_000_000)),
    };
    let all = store.search(&tenant, &Search::new(vigie_store::parse("*")?, 0))?;
    println!("store: {} events of tenant {tenant}\n", all.total);
    println!(
        "| rule | events in range | candidates | matched | seconds | events/s scanned |\n|---|---:|---:|---:|---:|---:|"
    );
    for (label, document) in RULES {
        let mut loaded = vigie_sigma::Loaded::default();
        vigie_sigma::parse_rules(document, "bench", &mut loaded);
        let rule = loaded.rules.pop().context("the rule loads")?;
        let query = vigie_sigma::narrow::store_query(&rule).unwrap_or_else(|| "*".to_owned());
        let job = Job {
            id: 0,
            tenant: tenant.clone(),
            rule,
            query,
            range,
        };
        let mut progress = Progress::default();
        let mut results = Vec::new();
        let started = Instant::now();
        hunt(
            &job,
            &AtomicBool::new(false),
            &store,
            &mut progress,
            &mut results,
            started,
            |_| {},
        )
        .map_err(anyhow::Error::msg)?;
        let s = started.elapsed().as_secs_f64();
        println!(
            "| {label} | {} | {} | {} | {s:.2} | {:.0} |",
            progress.in_range,
            progress.candidates,
            progress.matched,
            progress.in_range as f64 / s
        );
    }
    Ok(ExitCode::SUCCESS)
}
