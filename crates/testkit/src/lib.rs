//! What the tests and benches of the workspace share, written once.
//!
//! Its test fixtures (the corpus functions, [`postgres`]) are behind the `fixtures`
//! feature, which the dev-dependencies turn on and the binary does not.
//!
//! No library links it but as a dev-dependency (`scripts/check-layers.py` checks). The binary
//! links it for its measuring and showing commands (`vigie bench`, `vigie demo`), whose
//! traffic is the same synthetic telemetry the benches use. It depends on `vigie-event` for
//! the generator only: `vigie-event`'s own tests use the corpus functions, which name no event
//! type (its tests would otherwise see two copies of its types).
//!
//! - [`shared`]: a folder of the shared corpus (`../shared/sigma` beside the checkout, or
//!   `VIGIE_SIGMA_DIR`), with the project's rule for a missing corpus: the test is skipped
//!   with a visible message, except under `CI=true`, where it fails;
//! - [`files_with_suffix`]: the files of a folder tree, sorted, so that every run reads the
//!   same sequence;
//! - [`browser`]: headless Chromium through WebDriver, for the console's tests;
//! - [`postgres`]: a throwaway PostgreSQL cluster on loopback, stopped when dropped;
//! - [`oidc`] and [`smtp`]: an OpenID Connect provider and an SMTP sink (STARTTLS) from
//!   PyPI on loopback, killed when dropped;
//! - [`synth`]: the one synthetic event generator (seeded, reproducible): mixed telemetry on
//!   the wire for the ingest and store benchmarks and the demo, and a sink's mix of decoded
//!   Windows events for the Sigma engine benchmark.

#[cfg(feature = "fixtures")]
pub mod browser;
#[cfg(feature = "fixtures")]
pub mod oidc;
#[cfg(feature = "fixtures")]
pub mod postgres;
#[cfg(feature = "fixtures")]
pub mod smtp;
pub mod synth;

#[cfg(feature = "fixtures")]
use std::path::{Path, PathBuf};

#[cfg(feature = "fixtures")]
/// The shared corpus: `VIGIE_SIGMA_DIR`, or `../shared/sigma` beside the checkout (from the
/// `CARGO_MANIFEST_DIR` cargo sets for the crate under test, two levels below the root).
pub fn shared_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("VIGIE_SIGMA_DIR") {
        return PathBuf::from(dir);
    }
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    manifest.join("../../../shared/sigma")
}

#[cfg(feature = "fixtures")]
/// The folder `sub` of the shared corpus, or `None` after a visible `SKIPPED:` message when
/// it is absent.
///
/// # Panics
///
/// Under `CI=true` when the folder is absent: CI must run every test.
pub fn shared(sub: &str) -> Option<PathBuf> {
    let dir = shared_root().join(sub);
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

#[cfg(feature = "fixtures")]
/// Every file under `dir` (recursively) whose name ends with `suffix`, sorted by path. An
/// unreadable folder is skipped.
pub fn files_with_suffix(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for path in entries.flatten().map(|e| e.path()) {
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

#[cfg(all(test, feature = "fixtures"))]
mod tests {
    use super::*;

    #[test]
    fn files_are_found_recursively_and_sorted() {
        let dir = std::env::temp_dir().join(format!("vigie-testkit-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("b/c")).unwrap();
        for f in ["z.yml", "b/a.yml", "b/c/m.yml", "b/skip.txt"] {
            std::fs::write(dir.join(f), "").unwrap();
        }
        let found = files_with_suffix(&dir, ".yml");
        let names: Vec<String> = found
            .iter()
            .map(|p| p.strip_prefix(&dir).unwrap().display().to_string())
            .collect();
        assert_eq!(names, ["b/a.yml", "b/c/m.yml", "z.yml"]);
        assert!(files_with_suffix(&dir.join("absent"), ".yml").is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_root_follows_the_environment() {
        // Read only: the variable is not set by the test harness.
        if std::env::var_os("VIGIE_SIGMA_DIR").is_none() {
            assert!(shared_root().ends_with("shared/sigma"));
        }
    }
}
