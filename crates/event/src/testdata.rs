//! What the tests of this crate read of the shared corpus (located by `vigie-testkit`).

use std::collections::BTreeSet;
use std::path::Path;

use vigie_testkit::files_with_suffix;

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
