//! `vigie hunt` end to end: the real binary on fixture logs and rules, its reports compared
//! with golden files. `VIGIE_BLESS=1 cargo test -p vigie --test hunt` rewrites the golden
//! files after an intended change of output (review the diff).

use std::path::PathBuf;
use std::process::Command;

fn fixtures() -> PathBuf {
    PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()),
    )
    .join("tests/fixtures/hunt")
}

/// Runs `vigie hunt --rules rules …` in the fixture folder: (exit code, stdout, stderr).
fn hunt(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vigie"))
        .arg("hunt")
        .args(["--rules", "rules"])
        .args(args)
        .current_dir(fixtures())
        .env_remove("NO_COLOR")
        .output()
        .expect("the vigie binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn golden(name: &str, actual: &str) {
    let path = fixtures().join("expected").join(name);
    if std::env::var_os("VIGIE_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (VIGIE_BLESS=1 writes it)", path.display()));
    assert!(
        expected == actual,
        "{name} differs from the golden file {}:\n--- expected\n{expected}\n--- actual\n{actual}",
        path.display()
    );
}

#[test]
fn every_format_matches_its_golden_file() {
    for (format, file) in [
        ("table", "report.txt"),
        ("jsonl", "report.jsonl"),
        ("csv", "report.csv"),
    ] {
        let (code, stdout, stderr) = hunt(&["--format", format, "logs"]);
        assert_eq!(
            code, 1,
            "an unreadable file makes the exit code 1: {stderr}"
        );
        golden(file, &stdout);
    }
}

#[test]
fn jsonl_has_the_documented_keys() {
    let (_, stdout, _) = hunt(&["--format", "jsonl", "logs"]);
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 6);
    for line in &lines {
        for key in [
            "rule_id",
            "rule_title",
            "level",
            "tags",
            "timestamp",
            "computer",
            "channel",
            "event_id",
            "record_id",
            "file",
            "matched",
            "event",
        ] {
            assert!(line.get(key).is_some(), "{key} missing in {line}");
        }
        assert!(line["timestamp"].as_str().unwrap().ends_with('Z'));
    }
    let findstr = &lines[0];
    assert_eq!(findstr["rule_title"], "LSASS Reconnaissance With Findstr");
    assert_eq!(findstr["matched"]["CommandLine"], "findstr  lsass ");
    assert_eq!(findstr["event"]["User"], "ATTACKRANGE\\Administrator");
    assert_eq!(findstr["record_id"], 12151329);
    let correlation = &lines[5];
    assert_eq!(correlation["rule_title"], "Several Processes From System32");
    assert_eq!(correlation["matched"]["value"], 3);
    assert_eq!(correlation["event"]["events"].as_array().unwrap().len(), 3);
}

#[test]
fn errors_name_the_file_and_the_run_goes_on() {
    let (code, stdout, stderr) = hunt(&["--format", "jsonl", "logs", "missing-folder"]);
    assert_eq!(code, 1);
    assert_eq!(
        stdout.lines().count(),
        6,
        "the readable files are still hunted"
    );
    for expected in [
        "cannot read missing-folder: No such file or directory",
        "logs/broken.evtx: evtx: file header: not an EVTX file",
        "logs/sub/events.ndjson: object at byte 448: json: at byte 11",
        "skipped 1 file in folders (not .evtx, .json, .jsonl or .ndjson): .txt 1",
        "hunt: 4 files, 4 events (1 damaged record, 1 unreadable file) in ",
        "rules: 3 loaded, 0 rejected, 1 correlation; ready in ",
        "detections: 6 (high 2, medium 1, low 3)",
    ] {
        assert!(stderr.contains(expected), "{expected:?} not in:\n{stderr}");
    }
}

#[test]
fn an_empty_csv_report_still_names_its_columns() {
    let (code, stdout, _) = hunt(&["--format", "csv", "--min-level", "critical", "logs/sub"]);
    assert_eq!(code, 0);
    assert_eq!(
        stdout,
        "timestamp,level,rule_id,rule_title,tags,computer,channel,event_id,record_id,file,matched,event\n"
    );
}

#[test]
fn clean_inputs_exit_zero() {
    let (code, stdout, stderr) = hunt(&["--format", "jsonl", "logs/findstr_lsass.evtx"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.lines().count(), 2);
}

#[test]
fn unordered_and_single_threaded_runs_report_the_same_detections() {
    let (_, ordered, _) = hunt(&["--format", "jsonl", "logs"]);
    let (_, one_thread, _) = hunt(&["--format", "jsonl", "--threads", "1", "logs"]);
    assert_eq!(ordered, one_thread);
    let (_, unordered, _) = hunt(&["--format", "jsonl", "--unordered", "logs"]);
    let mut a: Vec<_> = ordered.lines().collect();
    let mut b: Vec<_> = unordered.lines().collect();
    a.sort_unstable();
    b.sort_unstable();
    assert_eq!(a, b);
}

#[test]
fn min_level_and_rule_filters() {
    let (_, stdout, stderr) = hunt(&["--format", "jsonl", "--min-level", "high", "logs"]);
    let titles: Vec<String> = stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["rule_title"].to_string())
        .collect();
    // The low rule is still run (the high correlation counts its matches) but not reported.
    assert_eq!(
        titles,
        [
            "\"LSASS Reconnaissance With Findstr\"",
            "\"Several Processes From System32\""
        ],
        "{stderr}"
    );
    let (_, stdout, _) = hunt(&[
        "--format",
        "jsonl",
        "--rule",
        "7d0e5c4a-0000-4000-8000-00000000f002",
        "logs",
    ]);
    assert_eq!(stdout.lines().count(), 1);
    assert!(stdout.contains("Process Listing With WMIC"));
    let (code, _, stderr) = hunt(&["--rule", "no-such-id", "logs"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("--rule no-such-id: no rule or correlation"),
        "{stderr}"
    );
}

#[test]
fn output_file_and_missing_rules() {
    let dir = std::env::temp_dir().join(format!("vigie-hunt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let report = dir.join("report.csv");
    let (_, stdout, _) = hunt(&[
        "--format",
        "csv",
        "--output",
        report.to_str().unwrap(),
        "logs",
    ]);
    assert!(stdout.is_empty());
    golden("report.csv", &std::fs::read_to_string(&report).unwrap());
    std::fs::remove_dir_all(&dir).unwrap();

    let out = Command::new(env!("CARGO_BIN_EXE_vigie"))
        .args(["hunt", "."])
        .current_dir(fixtures().join("logs"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("no --rules given and no ./rules folder"),
        "{stderr}"
    );
}
