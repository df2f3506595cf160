// criterion_group! generates undocumented items; a bench may tell why it skipped.
#![allow(missing_docs, clippy::print_stderr)]

//! Decoding throughput: EVTX records/s (against the evtx crate's own JSON rendering as the
//! reference), NDJSON events/s and syslog lines/s. Method and figures: BENCHMARKS.md.

use std::hint::black_box;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use vigie_event::decode::json::JsonSplitter;
use vigie_event::decode::syslog::render_rfc5424;
use vigie_event::{Decoder, Origin, Source, SourceKind, TenantId};

fn decoder() -> Decoder {
    Decoder::new(Origin::new(
        TenantId::new("bench").unwrap(),
        Source::new(SourceKind::File, "bench"),
    ))
}

/// The regression EVTX files of the shared corpus, in path order.
fn evtx_files() -> Vec<Vec<u8>> {
    let root = vigie_testkit::shared_root().join("regression");
    vigie_testkit::files_with_suffix(&root, ".evtx")
        .iter()
        .map(|path| std::fs::read(path).unwrap())
        .collect()
}

/// Deterministic NDJSON: Sysmon-like evtx renderings and flat ECS events, half each.
fn ndjson(n: usize) -> Bytes {
    let mut out = String::new();
    for i in 0..n {
        if i % 2 == 0 {
            out.push_str(&format!(
                r##"{{"Event":{{"System":{{"Provider":{{"#attributes":{{"Name":"Microsoft-Windows-Sysmon","Guid":"{{5770385f-c22a-43e0-bf4c-06f5698ffbd9}}"}}}},"EventID":1,"Version":5,"Level":4,"Task":1,"Opcode":0,"Keywords":"0x8000000000000000","TimeCreated":{{"#attributes":{{"SystemTime":"2026-04-17T05:24:{:02}.092051Z"}}}},"EventRecordID":{i},"Correlation":null,"Execution":{{"#attributes":{{"ProcessID":3208,"ThreadID":1724}}}},"Channel":"Microsoft-Windows-Sysmon/Operational","Computer":"ws-{:03}","Security":{{"#attributes":{{"UserID":"S-1-5-18"}}}}}},"EventData":{{"RuleName":"-","UtcTime":"2026-04-17 05:24:53.079","ProcessGuid":"{{0197231e-c424-69e1-c922-000000000800}}","ProcessId":{},"Image":"C:\\Windows\\System32\\cmd.exe","FileVersion":"10.0.19041.1","Description":"Windows Command Processor","Product":"Microsoft Windows","Company":"Microsoft Corporation","OriginalFileName":"Cmd.Exe","CommandLine":"cmd.exe /c whoami /all {i}","CurrentDirectory":"C:\\Users\\bob\\","User":"CORP\\bob","LogonGuid":"{{0197231e-c424-69e1-0000-0020e7030000}}","LogonId":"0x3e7","TerminalSessionId":1,"IntegrityLevel":"High","Hashes":"SHA256=9A7C58BD98D70631AA1473F7B57B426DB367D72429A5455B433A05EE251F3236","ParentProcessGuid":"{{0197231e-c424-69e1-c922-000000000700}}","ParentProcessId":4242,"ParentImage":"C:\\Windows\\explorer.exe","ParentCommandLine":"C:\\Windows\\Explorer.EXE","ParentUser":"CORP\\bob"}}}}}}"##,
                i % 60,
                i % 500,
                1000 + i
            ));
        } else {
            out.push_str(&format!(
                r#"{{"@timestamp":"2026-04-17T05:24:{:02}.123Z","event":{{"kind":"event","category":["network"],"action":"connection_attempted"}},"source":{{"ip":"10.1.{}.{}","port":{}}},"destination":{{"ip":"192.0.2.7","port":443}},"network":{{"transport":"tcp","bytes":{}}},"host":{{"name":"fw-{:02}"}},"message":"allowed tcp connection from 10.1.2.3 to 192.0.2.7:443"}}"#,
                i % 60,
                i % 250,
                i % 200,
                1024 + i % 50_000,
                i * 7,
                i % 20
            ));
        }
        out.push('\n');
    }
    Bytes::from(out)
}

fn syslog_lines(n: usize) -> Vec<Bytes> {
    (0..n)
        .map(|i| {
            let line = match i % 3 {
                0 => format!(
                    "<38>Feb  5 17:32:{:02} web{:02} sshd[{}]: Accepted publickey for user{} from 10.0.{}.{} port {} ssh2",
                    i % 60,
                    i % 40,
                    1000 + i,
                    i % 100,
                    i % 250,
                    i % 200,
                    40000 + i % 20000
                ),
                1 => render_rfc5424(
                    165,
                    "2026-04-17T05:24:53.003Z",
                    &format!("host{}.example.com", i % 50),
                    "app",
                    &(i % 9999).to_string(),
                    "ID47",
                    &[("meta@32473", &[("seq", "12"), ("user", "bob \"b\"")])],
                    "an application event with some text",
                ),
                _ => format!(
                    "<86>Feb  5 17:32:{:02} db{:02} sudo:   alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/id",
                    i % 60,
                    i % 40
                ),
            };
            Bytes::from(line)
        })
        .collect()
}

fn bench_evtx(c: &mut Criterion) {
    let files = evtx_files();
    if files.is_empty() {
        eprintln!("SKIPPED evtx benches: ../shared/sigma/regression is missing");
        return;
    }
    let mut d = decoder();
    let records: usize = files
        .iter()
        .map(|f| d.decode_evtx_file(f.clone()).unwrap().count())
        .sum();
    let mut group = c.benchmark_group("evtx");
    group.throughput(Throughput::Elements(records as u64));
    group.sample_size(20);
    group.bench_function("evtx_crate_render_json_only", |b| {
        b.iter(|| {
            let mut n = 0;
            for f in &files {
                let mut parser = evtx::EvtxParser::from_buffer(f.clone())
                    .unwrap()
                    .with_configuration(evtx::ParserSettings::new().indent(false).num_threads(1));
                for r in parser.records_json_bytes() {
                    n += black_box(r.unwrap().data.len());
                }
            }
            n
        })
    });
    group.bench_function("decode_to_event", |b| {
        b.iter(|| {
            let mut n = 0;
            for f in &files {
                for e in d.decode_evtx_file(f.clone()).unwrap() {
                    n += black_box(e.unwrap().fields.len());
                }
            }
            n
        })
    });
    group.finish();
}

fn bench_ndjson(c: &mut Criterion) {
    let input = ndjson(20_000);
    let lines: Vec<Bytes> = JsonSplitter::new(input.clone())
        .map(|r| r.unwrap().1)
        .collect();
    let mut d = decoder();
    let mut group = c.benchmark_group("ndjson");
    group.throughput(Throughput::Elements(lines.len() as u64));
    group.sample_size(20);
    group.bench_function("sonic_rs_dom_parse_only", |b| {
        b.iter(|| {
            let mut n = 0;
            for line in &lines {
                let mut de = sonic_rs::Deserializer::from_slice(line).use_rawnumber();
                let v: sonic_rs::Value = de.deserialize().unwrap();
                n += black_box(sonic_rs::JsonValueTrait::is_object(&v) as usize);
            }
            n
        })
    });
    group.bench_function("split_and_decode", |b| {
        b.iter(|| {
            let mut n = 0;
            for item in JsonSplitter::new(input.clone()) {
                let e = d.decode_json(item.unwrap().1).unwrap();
                n += black_box(e.fields.len());
            }
            n
        })
    });
    group.finish();
}

fn bench_syslog(c: &mut Criterion) {
    let lines = syslog_lines(30_000);
    let mut d = decoder();
    let mut group = c.benchmark_group("syslog");
    group.throughput(Throughput::Elements(lines.len() as u64));
    group.sample_size(20);
    group.bench_function("decode_mixed_3164_5424", |b| {
        b.iter(|| {
            let mut n = 0;
            for line in &lines {
                let e = d.decode_syslog(line.clone()).unwrap();
                n += black_box(e.fields.len());
            }
            n
        })
    });
    group.finish();
}

criterion_group!(benches, bench_evtx, bench_ndjson, bench_syslog);
criterion_main!(benches);
