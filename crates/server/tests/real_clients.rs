//! Real syslog clients from Debian against the listeners: `logger` (util-linux) sending RFC
//! 5424 and RFC 3164 over UDP and TCP (octet counting and LF framing), and `rsyslogd`
//! relaying what it receives to Vigie over TCP (octet-counted RFC 5424) and UDP (RFC 3164).
//!
//! Needs `logger` and `rsyslogd` (`apt-get install rsyslog`; `.ci/run` installs it). Without
//! them the test says it skips, except under `CI=true`, where it fails.

#![allow(clippy::print_stderr)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Harness;
use vigie_server::config::{Protocol, Syslog};

fn listener(name: &str, protocol: Protocol) -> Syslog {
    Syslog {
        name: name.to_owned(),
        protocol,
        listen: "127.0.0.1:0".parse().expect("addr"),
        tenant: "acme".to_owned(),
        logsource: None,
        max_message_bytes: 8192,
        cert: None,
        key: None,
        client_ca: None,
        client_tenants: BTreeMap::new(),
        framing: vigie_server::config::StreamFraming::Auto,
        max_connections: 256,
    }
}

fn found(name: &str) -> Option<std::path::PathBuf> {
    ["/usr/bin", "/usr/sbin", "/bin", "/sbin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists())
}

fn total(h: &Harness, q: &str) -> u64 {
    let (status, body) = h.get(
        &format!("/api/v1/events?q={q}&limit=1"),
        &h.readers["acme"],
        None,
    );
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    v["total"].as_u64().expect("total")
}

fn wait_total(h: &Harness, q: &str, n: u64) {
    let start = Instant::now();
    loop {
        h.settle();
        let got = total(h, q);
        if got == n {
            return;
        }
        assert!(got < n, "{q}: {got} > {n}");
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{q}: {got} of {n} arrived"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("runs");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn logger_and_rsyslog_deliver_rfc5424_and_rfc3164() {
    let (Some(logger), Some(rsyslogd)) = (found("logger"), found("rsyslogd")) else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but logger or rsyslogd is missing (apt-get install rsyslog)"
        );
        eprintln!("SKIPPED: logger or rsyslogd not installed (apt-get install rsyslog)");
        return;
    };
    let h = Harness::start(
        &["acme"],
        vec![
            listener("udp", Protocol::Udp),
            listener("tcp", Protocol::Tcp),
        ],
        |_| {},
    );
    let udp = h.syslog["udp"].port().to_string();
    let tcp = h.syslog["tcp"].port().to_string();

    // logger straight to Vigie: four framings and formats.
    let logger_cases: [&[&str]; 4] = [
        &["-d", "--rfc5424"],
        &["-d", "--rfc3164"],
        &["-T", "--octet-count", "--rfc5424"],
        &["-T", "--rfc3164"],
    ];
    for (i, args) in logger_cases.iter().enumerate() {
        run(Command::new(&logger)
            .args(["-n", "127.0.0.1", "-P"])
            .arg(if args[0] == "-d" { &udp } else { &tcp })
            .args(*args)
            .args(["-t", "vigietest", "-p", "auth.notice"])
            .arg(format!("loggercanary case {i}")));
    }
    wait_total(&h, "loggercanary", 4);
    // The program name survived every framing.
    assert_eq!(total(&h, "loggercanary AND appname:vigietest"), 4);

    // rsyslogd relaying to Vigie over TCP (octet counting, RFC 5424) and UDP (RFC 3164).
    let dir = tempfile::tempdir().expect("tempdir");
    let input = std::net::UdpSocket::bind("127.0.0.1:0").expect("port");
    let input_port = input.local_addr().expect("addr").port();
    drop(input);
    let conf = dir.path().join("rsyslog.conf");
    std::fs::write(
        &conf,
        format!(
            r#"global(workDirectory="{work}")
module(load="imudp")
input(type="imudp" address="127.0.0.1" port="{input_port}")
action(type="omfwd" target="127.0.0.1" port="{tcp}" protocol="tcp" TCP_Framing="octet-counted" template="RSYSLOG_SyslogProtocol23Format")
action(type="omfwd" target="127.0.0.1" port="{udp}" protocol="udp" template="RSYSLOG_TraditionalForwardFormat")
"#,
            work = dir.path().display()
        ),
    )
    .expect("conf");
    let mut rsyslog = Command::new(&rsyslogd)
        .args(["-n", "-f"])
        .arg(&conf)
        .arg("-i")
        .arg(dir.path().join("rsyslog.pid"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("rsyslogd starts");
    // rsyslogd needs a moment to open its input.
    std::thread::sleep(Duration::from_millis(700));
    for i in 0..5 {
        run(Command::new(&logger)
            .args([
                "-n",
                "127.0.0.1",
                "-P",
                &input_port.to_string(),
                "-d",
                "--rfc3164",
            ])
            .args(["-t", "relayed", "-p", "daemon.warning"])
            .arg(format!("rsyslogcanary {i}")));
    }
    let arrived = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait_total(&h, "rsyslogcanary", 10)
    }));
    let _ = rsyslog.kill();
    let output = rsyslog.wait_with_output().expect("rsyslogd");
    if arrived.is_err() {
        panic!(
            "rsyslog did not relay all messages; its stderr:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    // Each message came once over each transport.
    assert_eq!(total(&h, "rsyslogcanary AND source:tcp"), 5);
    assert_eq!(total(&h, "rsyslogcanary AND source:udp"), 5);
    h.stop();
}
