//! SigmaHQ regression tests: each `info.yml` names a rule id and sample files (EVTX), and
//! the rule must fire on its sample at least `match_count` times (1 when not given). Tests of
//! other sample types (`raw`) are not run here: only EVTX samples have a decoder that knows
//! their source. Read here
//! so that the test suite and `vigie rules test` run the same cases.

use std::path::{Path, PathBuf};

use crate::error::SigmaError;
use crate::yaml::{self, Node};

/// One regression test: a rule and a sample it must fire on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegressionCase {
    /// The `info.yml` it comes from.
    pub info: PathBuf,
    /// The rule's id (`rule_metadata[0].id`).
    pub rule_id: String,
    /// The rule's title as the test names it.
    pub title: Option<String>,
    /// The EVTX sample.
    pub evtx: PathBuf,
    /// Matches required at least.
    pub match_count: usize,
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            walk(&path, out)?;
        } else if path.file_name().is_some_and(|n| n == "info.yml") {
            out.push(path);
        }
    }
    Ok(())
}

/// Where a sample path of an `info.yml` under `root` points: SigmaHQ writes them relative to
/// the folder holding `regression_data`, so `root` may be that folder or `regression_data`
/// itself; failing both, the sample is looked for beside the `info.yml`.
fn resolve(root: &Path, info: &Path, path: &str) -> PathBuf {
    let candidates = [
        Some(root.join(path)),
        root.parent().map(|p| p.join(path)),
        info.parent()
            .zip(Path::new(path).file_name())
            .map(|(dir, name)| dir.join(name)),
    ];
    // Missing: name it where its folder exists, so that the message points somewhere real.
    let found = candidates.iter().flatten().find(|p| p.is_file());
    let near = || {
        candidates
            .iter()
            .flatten()
            .find(|p| p.parent().is_some_and(Path::is_dir))
    };
    found
        .or_else(near)
        .cloned()
        .unwrap_or_else(|| root.join(path))
}

/// Every EVTX regression case under `root`, in path order. An `info.yml` that cannot be read
/// or has no rule id is an error (the others still load: see the second part of the result).
pub fn regression_cases(root: &Path) -> std::io::Result<(Vec<RegressionCase>, Vec<SigmaError>)> {
    let mut infos = Vec::new();
    walk(root, &mut infos)?;
    infos.sort();
    let mut cases = Vec::new();
    let mut errors = Vec::new();
    for info in infos {
        let fail = |message: String| SigmaError::Case {
            file: info.clone(),
            message,
        };
        let text = match std::fs::read_to_string(&info) {
            Ok(t) => t,
            Err(e) => {
                errors.push(fail(e.to_string()));
                continue;
            }
        };
        let docs = match yaml::load(&text) {
            Ok(d) => d,
            Err(e) => {
                errors.push(fail(e.to_string()));
                continue;
            }
        };
        let Some(doc) = docs.first() else {
            errors.push(fail("empty file".into()));
            continue;
        };
        let meta = match doc.get("rule_metadata") {
            Some(Node::Seq(items, _)) => items.first(),
            _ => None,
        };
        let Some(rule_id) = meta.and_then(|m| m.get("id")).and_then(Node::as_str) else {
            errors.push(fail("no rule_metadata[0].id".into()));
            continue;
        };
        let title = meta
            .and_then(|m| m.get("title"))
            .and_then(Node::as_str)
            .map(str::to_owned);
        // A rule whose tests are commented out has none (SigmaHQ has such files).
        let Some(Node::Seq(tests, _)) = doc.get("regression_tests_info") else {
            continue;
        };
        for t in tests {
            if t.get("type").and_then(Node::as_str) != Some("evtx") {
                continue;
            }
            let Some(path) = t.get("path").and_then(Node::as_str) else {
                errors.push(fail(format!("a test at line {} has no path", t.line())));
                continue;
            };
            let match_count = match t.get("match_count").and_then(Node::as_str) {
                None => 1,
                Some(n) => match n.trim().parse() {
                    Ok(n) => n,
                    Err(_) => {
                        errors.push(fail(format!("match_count {n:?} is not a count")));
                        continue;
                    }
                },
            };
            cases.push(RegressionCase {
                info: info.clone(),
                rule_id: rule_id.to_owned(),
                title: title.clone(),
                evtx: resolve(root, &info, path),
                match_count,
            });
        }
    }
    Ok((cases, errors))
}
