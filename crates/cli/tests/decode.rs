//! `vigie decode` end to end: the real binary on fixture files.

use std::process::Command;

/// The `crates/cli` folder, as cargo sets it when running the tests (see ARCHITECTURE.md).
fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())
        .into()
}

fn vigie(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vigie"))
        .args(args)
        .current_dir(manifest_dir().join("tests/fixtures"))
        .output()
        .expect("the vigie binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn events(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("each output line is a JSON event"))
        .collect()
}

#[test]
fn mixed_text_formats_decode_and_errors_name_line_and_byte() {
    let (code, stdout, stderr) = vigie(&["decode", "--tenant", "acme", "mixed.log"]);
    assert_eq!(code, 1, "decode errors make the exit code 1");
    let events = events(&stdout);
    let formats: Vec<_> = events
        .iter()
        .map(|e| e["format"].as_str().unwrap())
        .collect();
    // Line 7 carries the CEF marker but is not CEF: decoded as plain syslog, as the server
    // stores it (one choice of decoder, `vigie_event::decode::sniff`).
    assert_eq!(
        formats,
        [
            "syslog-rfc3164",
            "syslog-rfc5424",
            "cef",
            "leef",
            "syslog-rfc3164"
        ]
    );
    assert_eq!(events[4]["fields"]["message"], "CEF:0|only|three");
    assert_eq!(events[0]["tenant"], "acme");
    assert_eq!(events[0]["fields"]["appname"], "sshd");
    assert_eq!(events[0]["logsource"]["product"], "linux");
    assert_eq!(events[1]["time"], "2026-11-22T08:15:02.123+01:00");
    assert_eq!(events[2]["fields"]["src"], "10.1.2.3");
    assert_eq!(events[2]["host"], "fw01");
    assert_eq!(events[3]["fields"]["dst"], "10.0.0.5");
    let errors: Vec<_> = stderr.lines().collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        errors[0].contains("mixed.log: line 6: syslog-rfc5424: at byte 6"),
        "{}",
        errors[0]
    );
    // Asked for CEF, the same line says why it is not.
    let (code, _, stderr) = vigie(&["decode", "--format", "cef", "mixed.log"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("mixed.log: line 7: cef: at byte 16"),
        "{stderr}"
    );
}

#[test]
fn ndjson_decodes_with_logsource_and_reports_bad_objects() {
    let (code, stdout, stderr) = vigie(&["decode", "events.ndjson"]);
    assert_eq!(code, 1);
    let events = events(&stdout);
    assert_eq!(events.len(), 3);
    assert_eq!(events[0]["fields"]["http.response.status_code"], 200);
    assert_eq!(events[0]["host"], "proxy01");
    assert_eq!(events[1]["logsource"]["categories"][0], "process_creation");
    assert_eq!(events[1]["fields"]["Image"], "C:\\x.exe");
    assert!(stderr.contains("events.ndjson: object at byte"), "{stderr}");
    assert!(stderr.contains("json: at byte"), "{stderr}");
}

#[test]
fn missing_file_is_reported_and_the_rest_goes_on() {
    let (code, stdout, stderr) = vigie(&["decode", "--summary", "nope.log", "events.ndjson"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("cannot read nope.log"), "{stderr}");
    assert!(
        stdout.contains("events.ndjson: 3 events, 1 errors"),
        "{stdout}"
    );
}

#[test]
fn demo_runs_the_live_pipeline_and_detects_the_attack_story() {
    let (code, stdout, stderr) = vigie(&["demo", "--for", "12s", "--rate", "300"]);
    assert_eq!(code, 0, "{stderr}\n{stdout}");
    assert!(stdout.contains("http://127.0.0.1:"), "{stdout}");
    assert!(
        stdout.lines().any(
            |l| l.trim_start().starts_with("console    http://127.0.0.1:")
                && l.contains("/console")
        ),
        "the console's address: {stdout}"
    );
    assert!(stdout.contains("8 loaded, 0 rejected"), "{stdout}");
    // Every source delivered and nothing was dropped or rejected.
    for source in ["acme-syslog", "globex-syslog", "globex-firewall", "http"] {
        assert!(
            stdout.contains(&format!("/{source}: ")),
            "{source}: {stdout}"
        );
    }
    assert!(stdout.contains("HTTP errors 0"), "{stdout}");
    assert!(stdout.contains("6 of 6 story steps detected"), "{stdout}");
    // The client's people were told: the on-call webhook (every signature checks) and two
    // mails through the relay, over STARTTLS.
    let hooks = stdout
        .lines()
        .find(|l| l.contains("\"SOC on call: high alerts\""))
        .unwrap_or_else(|| panic!("no webhook line: {stdout}"));
    let verified = hooks
        .split(", ")
        .find(|p| p.contains("signatures verified"))
        .unwrap_or("");
    let numbers: Vec<&str> = verified.split_whitespace().collect();
    assert!(
        numbers.len() > 2 && numbers[0] == numbers[2] && numbers[0] != "0",
        "{hooks}"
    );
    assert!(
        stdout.contains(
            "mail to marc.rssi@mutuelle.example (over STARTTLS): [Vigie] mutuelle: 1 alert escalated to L2"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("mail to claire.admin@mutuelle.example (over STARTTLS): [Vigie] mutuelle: 2 requests waiting for approval"),
        "{stdout}"
    );
}

#[test]
fn totp_prints_the_current_code_of_a_secret() {
    let (code, stdout, stderr) = vigie(&["totp", "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"]);
    assert_eq!(code, 0, "{stderr}");
    let printed = stdout.trim();
    assert_eq!(printed.len(), 6, "{stdout}");
    assert!(printed.bytes().all(|b| b.is_ascii_digit()), "{stdout}");
    let (code, _, stderr) = vigie(&["totp", "not base32!"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("not a base32 secret"), "{stderr}");
}

#[test]
fn rules_lint_reports_each_rejected_rule_with_position() {
    let (code, stdout, _) = vigie(&["rules", "lint", "rules"]);
    assert_eq!(code, 1);
    let lines: Vec<_> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(
        lines[0].starts_with("rules/bad.yml:8: S005-condition: unknown search identifier 'filter'"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with(
            "rules/bad.yml:16: S003-modifier: 'Image|endswithh': unknown modifier 'endswithh'"
        ),
        "{}",
        lines[1]
    );
    assert_eq!(lines[2], "3 rules: 1 loaded, 2 rejected");
    let (code, stdout, _) = vigie(&["rules", "lint", "--json", "rules/good.yml"]);
    assert_eq!(code, 0);
    let summary: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(
        summary,
        serde_json::json!({"rules": 1, "loaded": 1, "rejected": 0, "correlations": 0})
    );
}

#[test]
fn rules_lint_resolves_correlations() {
    let (code, stdout, _) = vigie(&["rules", "lint", "correlations"]);
    assert_eq!(code, 1);
    let lines: Vec<_> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(
        lines[0].starts_with(
            "correlations/dangling.yml:1: S007-correlation: 'no_such_rule' names no loaded rule"
        ),
        "{}",
        lines[0]
    );
    assert_eq!(lines[1], "5 rules: 4 loaded, 1 rejected");
}

#[test]
fn rules_test_reports_each_failing_case_and_counts() {
    let (code, stdout, stderr) = vigie(&["rules", "test", "--rules", "rules", "regression"]);
    assert_eq!(code, 1);
    let lines: Vec<_> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(
        lines[0].starts_with("FAIL regression/broken/info.yml: 0a1b2c3d-0000-4000-8000-000000000003 (Unknown Modifier): rule rejected: rules/bad.yml:16: S003-modifier"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with("FAIL regression/whoami/info.yml: 0a1b2c3d-0000-4000-8000-000000000001 (Whoami Execution): sample regression/whoami/missing.evtx: "),
        "{}",
        lines[1]
    );
    assert_eq!(lines[2], "0 passed, 2 failed");
    assert!(stderr.contains("skipped 1 tests"), "{stderr}");
    // Without --rules, ./rules is used.
    let (code, default_stdout, _) = vigie(&["rules", "test", "regression"]);
    assert_eq!((code, default_stdout), (1, stdout));
}

/// The SigmaHQ regression corpus with the SigmaHQ rules: every test passes (issue 4).
#[test]
fn rules_test_passes_the_sigmahq_regression_corpus() {
    let (Some(rules), Some(regression)) = (
        vigie_testkit::shared("rules"),
        vigie_testkit::shared("regression"),
    ) else {
        return;
    };
    let (code, stdout, _) = vigie(&[
        "rules",
        "test",
        "--rules",
        rules.to_str().unwrap(),
        regression.to_str().unwrap(),
    ]);
    let last = stdout.lines().last().unwrap_or_default();
    assert!(last.ends_with(" passed, 0 failed"), "{stdout}");
    let passed: usize = last.split(' ').next().unwrap().parse().unwrap();
    assert!(passed >= 90, "{last}");
    assert_eq!(code, 0);
}
