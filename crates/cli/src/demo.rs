//! `vigie demo`: what Vigie does today, on samples built into the binary and, when the
//! shared corpus is beside the checkout, on the SigmaHQ regression EVTX files.
//!
//! Today that is the event layer: decoding six formats and classifying events into Sigma
//! logsources. The demo grows with the product (detection, storage, the live pipeline).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Result;
use bytes::Bytes;
use clap::Args;
use vigie_event::{Decoder, Event, Origin, Source, SourceKind, TenantId};

use crate::decode::{InputFormat, decode_file};

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Folder of EVTX/JSON samples to decode (default: ../shared/sigma/regression when it
    /// exists).
    #[arg(long)]
    corpus: Option<PathBuf>,
    /// Sigma rules folder to run on the decoded events (default: ../shared/sigma/rules when
    /// it exists).
    #[arg(long)]
    rules: Option<PathBuf>,
}

/// One line of each format, as real senders write them.
const SAMPLES: &[(InputFormat, &str)] = &[
    (
        InputFormat::Syslog,
        "<38>Feb  5 17:32:18 web01 sshd[4242]: Accepted password for bob from 203.0.113.9 port 52044 ssh2",
    ),
    (
        InputFormat::Syslog,
        "<86>1 2026-11-22T08:15:02.123+01:00 db01 sudo 991 - [meta@32473 tty=\"pts/0\"] alice : COMMAND=/usr/bin/id",
    ),
    (
        InputFormat::Syslog,
        "<189>6705: *Feb 17 2026 13:40:03.673: %PARSER-5-CFGLOG_LOGGEDCMD: User:admin logged command:no access-session port-control",
    ),
    (
        InputFormat::Cef,
        "<134>Nov 22 08:15:02 fw01 CEF:0|Palo Alto Networks|PAN-OS|11.1|THREAT|spyware|7|src=10.1.2.3 dst=198.51.100.7 dpt=443 act=blocked msg=C2 beacon \\= detected rt=1795335302000",
    ),
    (
        InputFormat::Leef,
        "LEEF:2.0|Lancope|StealthWatch|1.0|41|^|src=10.0.1.8^dst=10.0.0.5^sev=5^devTime=1795335302000",
    ),
    (
        InputFormat::Json,
        r##"{"Event":{"System":{"Provider":{"#attributes":{"Name":"Microsoft-Windows-Security-Auditing"}},"EventID":4688,"Channel":"Security","Computer":"ws-042","TimeCreated":{"#attributes":{"SystemTime":"2026-11-22T07:15:02.5Z"}}},"EventData":{"NewProcessName":"C:\\Windows\\System32\\whoami.exe","CommandLine":"whoami /all","SubjectUserName":"bob"}}}"##,
    ),
    (
        InputFormat::Json,
        r#"{"@timestamp":"2026-11-22T07:15:03Z","host":{"name":"proxy01"},"url":{"full":"http://example.org/a"},"source":{"ip":"10.1.2.3"},"http":{"response":{"status_code":200}}}"#,
    ),
];

fn shared(sub: &str) -> Option<PathBuf> {
    let candidates = [
        Path::new("../shared/sigma").join(sub),
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/sigma")
            .join(sub),
    ];
    candidates.into_iter().find(|p| p.is_dir())
}

fn brief(e: &Event) -> String {
    let pick = ["message", "CommandLine", "msg", "url.full", "name"]
        .iter()
        .find_map(|n| e.fields.get_by_name(n).and_then(|v| v.as_text()))
        .unwrap_or("");
    crate::render::cut(pick, 60)
}

pub(crate) fn run(args: &DemoArgs) -> Result<ExitCode> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let tenant = TenantId::new("demo")?;
    writeln!(
        out,
        "Vigie {} demo: decoding and logsource classification",
        env!("CARGO_PKG_VERSION")
    )?;
    writeln!(
        out,
        "(detection, storage and the live pipeline come with the next milestones)\n"
    )?;
    writeln!(out, "Built-in samples, one per format:")?;
    let mut decoder = Decoder::new(Origin::new(tenant, Source::new(SourceKind::File, "demo")));
    let mut all_events = Vec::new();
    for (format, line) in SAMPLES {
        let bytes = Bytes::from_static(line.as_bytes());
        let event = match format {
            InputFormat::Json => decoder.decode_json(bytes),
            InputFormat::Cef => decoder.decode_cef(bytes),
            InputFormat::Leef => decoder.decode_leef(bytes),
            _ => decoder.decode_syslog(bytes),
        }?;
        writeln!(
            out,
            "  {:<15} {:<28} {:<32} {:>2} fields  host={:<8} {}",
            event.format.as_str(),
            event.time.to_string(),
            event.logsource.to_string(),
            event.fields.len(),
            event.host.as_deref().unwrap_or("-"),
            brief(&event)
        )?;
        all_events.push(event);
    }
    let corpus = args.corpus.clone().or_else(|| shared("regression"));
    let Some(corpus) = corpus else {
        writeln!(
            out,
            "\nNo EVTX corpus found (../shared/sigma/regression); pass --corpus DIR."
        )?;
        detect(&mut out, args, &all_events)?;
        correlate(&mut out)?;
        return Ok(ExitCode::SUCCESS);
    };
    let (files, unreadable) = crate::hunt::inputs::evtx_files(&corpus);
    for e in &unreadable {
        writeln!(out, "vigie: {e}")?;
    }
    let started = Instant::now();
    let (mut events, mut errors) = (0usize, unreadable.len());
    let mut by_ls = BTreeMap::<String, usize>::new();
    for file in &files {
        let report = decode_file(&mut decoder, file, InputFormat::Evtx)?;
        errors += report.errors.len();
        events += report.events.len();
        for e in &report.events {
            *by_ls.entry(e.logsource.to_string()).or_default() += 1;
        }
        all_events.extend(report.events);
    }
    let elapsed = started.elapsed();
    writeln!(
        out,
        "\nEVTX corpus {}: {} files, {} events, {} errors in {:.3} s",
        corpus.display(),
        files.len(),
        events,
        errors,
        elapsed.as_secs_f64()
    )?;
    let mut ranked: Vec<_> = by_ls.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    writeln!(
        out,
        "Events by Sigma logsource (product/categories/services):"
    )?;
    for (ls, n) in ranked.iter().take(15) {
        writeln!(out, "  {n:>5}  {ls}")?;
    }
    if ranked.len() > 15 {
        writeln!(out, "  … and {} more logsources", ranked.len() - 15)?;
    }
    detect(&mut out, args, &all_events)?;
    correlate(&mut out)?;
    Ok(if errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Runs the Sigma rules on the decoded events with the compiled rule set.
fn detect(out: &mut impl Write, args: &DemoArgs, events: &[Event]) -> Result<()> {
    let Some(rules_dir) = args.rules.clone().or_else(|| shared("rules")) else {
        writeln!(
            out,
            "\nNo Sigma rules found (../shared/sigma/rules); pass --rules DIR."
        )?;
        return Ok(());
    };
    let started = Instant::now();
    let mut loaded = vigie_sigma::Loaded::default();
    vigie_sigma::load_dir(&rules_dir, &mut loaded)?;
    loaded.apply_filters();
    writeln!(
        out,
        "\nSigma rules {}: {} loaded, {} rejected (see `vigie rules lint`) in {:.2} s",
        rules_dir.display(),
        loaded.rules.len(),
        loaded.rejected.len(),
        started.elapsed().as_secs_f64()
    )?;
    let started = Instant::now();
    let set = std::sync::Arc::new(vigie_sigma::RuleSet::new(loaded.rules));
    let mut matcher = set.matcher();
    let mut by_rule = BTreeMap::<(String, String), usize>::new();
    let mut detections = 0;
    for event in events {
        matcher.for_each_match(event, |index| {
            let rule = &set.rules()[index];
            detections += 1;
            let level = rule.level.clone().unwrap_or_else(|| "-".to_owned());
            *by_rule.entry((level, rule.title.clone())).or_default() += 1;
        });
    }
    writeln!(
        out,
        "Detections: {detections} on {} events in {:.2} s",
        events.len(),
        started.elapsed().as_secs_f64()
    )?;
    let mut ranked: Vec<_> = by_rule.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    for ((level, title), n) in ranked.iter().take(12) {
        writeln!(out, "  {n:>4}  {level:<8}  {title}")?;
    }
    if ranked.len() > 12 {
        writeln!(out, "  … and {} more rules", ranked.len() - 12)?;
    }
    Ok(())
}

/// The correlation example of the Sigma specification (failed logins followed by a
/// successful login, chained through an `event_count`), run on a generated logon stream.
const CORRELATION_EXAMPLE: &str = include_str!("../data/correlation-example.yml");

fn correlate(out: &mut impl Write) -> Result<()> {
    let mut loaded = vigie_sigma::Loaded::default();
    vigie_sigma::parse_rules(CORRELATION_EXAMPLE, "correlation-example.yml", &mut loaded);
    anyhow::ensure!(
        loaded.rejected.is_empty(),
        "built-in correlation example: {:?}",
        loaded.rejected
    );
    let set = std::sync::Arc::new(vigie_sigma::RuleSet::new(loaded.rules));
    let (correlations, diagnostics) =
        vigie_sigma::CorrelationSet::new(loaded.correlations, set.rules());
    anyhow::ensure!(
        diagnostics.is_empty(),
        "built-in correlation example: {diagnostics:?}"
    );
    let mut engine = vigie_sigma::CorrelationEngine::new(
        std::sync::Arc::new(correlations),
        vigie_sigma::correlation::Limits::default(),
    );
    let mut decoder = Decoder::new(Origin::new(
        TenantId::new("demo").expect("valid tenant name"),
        Source::new(SourceKind::File, "correlation-demo"),
    ));
    // alice: 12 failures in 4 minutes, then a success; bob: 3 failures, then a success.
    let mut stream = Vec::new();
    for i in 0..12 {
        stream.push((i * 20, 4625, "alice"));
    }
    stream.push((300, 4624, "alice"));
    for i in 0..3 {
        stream.push((i * 30, 4625, "bob"));
    }
    stream.push((200, 4624, "bob"));
    stream.sort_by_key(|e| e.0);
    let mut matcher = set.matcher();
    let mut found = Vec::new();
    for (second, event_id, user) in &stream {
        let json = format!(
            r#"{{"Channel":"Security","EventID":{event_id},"TargetUserName":"{user}","Computer":"dc1.corp.example","TimeCreated_SystemTime":"2026-11-22T08:{:02}:{:02}Z"}}"#,
            second / 60,
            second % 60
        );
        let event = decoder.decode_json(Bytes::from(json))?;
        let mut matched = Vec::new();
        matcher.for_each_match(&event, |i| matched.push(i));
        for i in matched {
            engine.on_rule_match(i, &event, &mut found);
        }
    }
    writeln!(
        out,
        "\nCorrelation (the specification's example, {} logon events of alice and bob):",
        stream.len()
    )?;
    for m in &found {
        let group: Vec<String> = m.group.iter().map(|(k, v)| format!("{k}={v}")).collect();
        writeln!(
            out,
            "  {}  {}  [{}]  {} to {}",
            m.level.as_deref().unwrap_or("-"),
            m.title,
            group.join(", "),
            m.first.to_rfc3339(vigie_event::UtcOffset::UTC),
            m.last.to_rfc3339(vigie_event::UtcOffset::UTC)
        )?;
    }
    if found.is_empty() {
        writeln!(out, "  no match")?;
    }
    Ok(())
}
