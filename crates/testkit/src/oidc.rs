//! A throwaway OpenID Connect provider for tests: `oidc-provider-mock` (PyPI, 0.3.4) on a
//! free loopback port, killed by its PID when dropped.
//!
//! The Python that has the package is `VIGIE_OIDC_PYTHON`, else the venv `.ci/run` makes
//! (`$HOME/.cache/vigie/venv/bin/python`). Without it, [`Provider::start`] returns `None`
//! after a visible `SKIPPED:` line, except under `CI=true`, where it panics.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running provider.
#[derive(Debug)]
pub struct Provider {
    child: Child,
    port: u16,
}

/// The Python with the test peers from PyPI (`VIGIE_OIDC_PYTHON`, else the venv `.ci/run` makes).
pub(crate) fn python() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("VIGIE_OIDC_PYTHON") {
        return Some(PathBuf::from(p));
    }
    let home = std::env::var_os("HOME")?;
    let p = PathBuf::from(home).join(".cache/vigie/venv/bin/python");
    p.is_file().then_some(p)
}

fn skip(why: &str) -> Option<Provider> {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "OIDC tests cannot run: {why} (CI=true requires them; .ci/run installs oidc-provider-mock)"
    );
    #[allow(clippy::print_stderr)]
    {
        eprintln!("SKIPPED: OIDC tests: {why}");
    }
    None
}

impl Provider {
    /// Starts a provider, or `None` (see the module documentation).
    pub fn start() -> Option<Provider> {
        let Some(python) = python() else {
            return skip("no Python with oidc-provider-mock (VIGIE_OIDC_PYTHON)");
        };
        let has = Command::new(&python)
            .args(["-c", "import oidc_provider_mock"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !has {
            return skip(&format!("{} has no oidc_provider_mock", python.display()));
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or(0);
        let child = Command::new(&python)
            .args(["-m", "oidc_provider_mock", "--port", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start oidc-provider-mock: {e}"));
        let provider = Provider { child, port };
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "oidc-provider-mock did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(provider)
    }

    /// Its issuer URL (`http://127.0.0.1:PORT`, as its discovery document says).
    pub fn issuer(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
