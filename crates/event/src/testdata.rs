//! Locating the shared corpora (`../shared/sigma` beside the checkout) in tests.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The folder `sub` of the shared Sigma corpus, or `None` (after a visible message) when the
/// corpus is absent. Under `CI=true` a missing corpus fails the test instead.
pub(crate) fn sigma_dir(sub: &str) -> Option<PathBuf> {
    let root = std::env::var_os("VIGIE_SIGMA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(
                std::env::var_os("CARGO_MANIFEST_DIR")
                    .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()),
            )
            .join("../../../shared/sigma")
        });
    let dir = root.join(sub);
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "corpus {} is missing (CI=true requires it)",
        dir.display()
    );
    #[allow(clippy::print_stderr)]
    {
        eprintln!("SKIPPED: corpus {} is missing", dir.display());
    }
    None
}

/// All files under `dir` whose name ends with `suffix`, sorted.
pub(crate) fn files_with_suffix(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.to_string_lossy().ends_with(suffix) {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The services and categories named in the `logsource:` blocks of the rules under `dir`
/// (a line scan: enough for SigmaHQ's uniform layout, and independent of any YAML parser).
pub(crate) fn windows_rule_logsources(dir: &Path) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut services = BTreeSet::new();
    let mut categories = BTreeSet::new();
    for file in files_with_suffix(dir, ".yml") {
        let text = std::fs::read_to_string(&file).unwrap();
        let mut in_logsource = false;
        for line in text.lines() {
            if line.starts_with("logsource:") {
                in_logsource = true;
                continue;
            }
            if in_logsource && !line.starts_with(' ') {
                in_logsource = false;
            }
            if !in_logsource {
                continue;
            }
            let line = line.split('#').next().unwrap_or("").trim();
            if let Some(v) = line.strip_prefix("service:") {
                services.insert(v.trim().trim_matches('\'').to_ascii_lowercase());
            } else if let Some(v) = line.strip_prefix("category:") {
                categories.insert(v.trim().trim_matches('\'').to_ascii_lowercase());
            }
        }
    }
    (services, categories)
}
