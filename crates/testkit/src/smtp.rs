//! A throwaway SMTP sink for tests: `aiosmtpd` (PyPI) on a free loopback port, STARTTLS
//! required before any mail is taken, each message written as one JSON file (envelope,
//! whether it came over TLS, the message) in a folder; killed by its PID when dropped.
//!
//! The Python that has the package is the one of [`crate::oidc`] (`VIGIE_OIDC_PYTHON`, or
//! the venv `.ci/run` makes). Without it, [`Sink::start`] returns `None` after a visible
//! `SKIPPED:` line, except under `CI=true`, where it panics.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The sink's program: our own, a few lines over aiosmtpd's controller.
const PROGRAM: &str = r#"
import json, os, ssl, sys, threading
from aiosmtpd.controller import Controller

port, cert, key, out = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
context.load_cert_chain(cert, key)
lock = threading.Lock()

class Keep:
    async def handle_DATA(self, server, session, envelope):
        with lock:
            n = len([f for f in os.listdir(out) if f.endswith(".json")])
            record = {
                "from": envelope.mail_from,
                "to": envelope.rcpt_tos,
                "tls": session.ssl is not None,
                "data": envelope.content.decode("utf-8", "replace"),
            }
            tmp = os.path.join(out, ".%d.tmp" % n)
            with open(tmp, "w") as f:
                json.dump(record, f)
            os.rename(tmp, os.path.join(out, "%06d.json" % n))
        return "250 kept"

controller = Controller(Keep(), hostname="127.0.0.1", port=port, tls_context=context,
                        require_starttls=True, server_hostname="localhost")
controller.start()
threading.Event().wait()
"#;

/// A running sink.
#[derive(Debug)]
pub struct Sink {
    child: Child,
    port: u16,
    out: PathBuf,
}

fn skip(why: &str) -> Option<Sink> {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "SMTP tests cannot run: {why} (CI=true requires them; .ci/run installs aiosmtpd)"
    );
    #[allow(clippy::print_stderr)]
    {
        eprintln!("SKIPPED: SMTP tests: {why}");
    }
    None
}

impl Sink {
    /// Starts a sink presenting `cert`/`key` (PEM files) for STARTTLS, keeping messages in
    /// `out`, or `None` (see the module documentation).
    pub fn start(cert: &Path, key: &Path, out: &Path) -> Option<Sink> {
        let Some(python) = crate::oidc::python() else {
            return skip("no Python with aiosmtpd (VIGIE_OIDC_PYTHON)");
        };
        let has = Command::new(&python)
            .args(["-c", "import aiosmtpd"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !has {
            return skip(&format!("{} has no aiosmtpd", python.display()));
        }
        std::fs::create_dir_all(out).unwrap_or_else(|e| panic!("{}: {e}", out.display()));
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or(0);
        let child = Command::new(&python)
            .arg("-c")
            .arg(PROGRAM)
            .arg(port.to_string())
            .arg(cert)
            .arg(key)
            .arg(out)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the SMTP sink: {e}"));
        let sink = Sink {
            child,
            port,
            out: out.to_path_buf(),
        };
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the SMTP sink did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(sink)
    }

    /// Its port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The messages kept so far (JSON text each), in arrival order.
    pub fn messages(&self) -> Vec<String> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&self.out)
            .map(|d| {
                d.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "json"))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
            .iter()
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .collect()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
