//! A throwaway PostgreSQL cluster for tests: `initdb` in a temporary folder, started with
//! `pg_ctl` on a free loopback port, stopped (by `pg_ctl`, then by its PID) and removed when
//! dropped.
//!
//! The binaries are Debian's `postgresql` package (`/usr/lib/postgresql/<version>/bin`, or
//! the `PATH`). PostgreSQL refuses to run as root: when the tests run as root, the cluster is
//! made and run as the `postgres` user the package creates. Without the package,
//! [`Cluster::start`] returns `None` after a visible `SKIPPED:` line, except under
//! `CI=true`, where it panics: CI must run every test.
//!
//! The cluster trusts local connections (a throwaway, on 127.0.0.1 only) and runs without
//! fsync (its data dies with the test).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

/// A running throwaway cluster.
#[derive(Debug)]
pub struct Cluster {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    pid: Option<u32>,
    as_postgres: bool,
}

/// The folder of `initdb` and `pg_ctl`: the highest version under `/usr/lib/postgresql`,
/// else the `PATH`.
fn bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .find(|p| p.join("initdb").is_file() && p.join("pg_ctl").is_file())
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn skip(why: &str) -> Option<Cluster> {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "PostgreSQL tests cannot run: {why} (CI=true requires them; install the postgresql package)"
    );
    #[allow(clippy::print_stderr)]
    {
        eprintln!("SKIPPED: PostgreSQL tests: {why}");
    }
    None
}

impl Cluster {
    /// Creates and starts a cluster, or `None` (see the module documentation).
    pub fn start() -> Option<Cluster> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let Some(bin) = bin_dir() else {
            return skip("initdb not found (package postgresql)");
        };
        let as_postgres = is_root();
        let dir = std::env::temp_dir().join(format!(
            "vigie-pg-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        if let Err(e) = std::fs::create_dir_all(&dir) {
            return skip(&format!("cannot create {}: {e}", dir.display()));
        }
        let mut cluster = Cluster {
            dir,
            bin,
            port: 0,
            pid: None,
            as_postgres,
        };
        if as_postgres {
            let owned = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&cluster.dir)
                .status();
            if !owned.is_ok_and(|s| s.success()) {
                return skip("cannot give the cluster folder to the postgres user");
            }
        }
        let data = cluster.dir.join("data");
        let init = cluster.run(
            "initdb",
            &[
                "-D",
                &data.display().to_string(),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
        );
        if !init.status.success() {
            panic!("initdb failed: {}", String::from_utf8_lossy(&init.stderr));
        }
        // A free port: bound then released (another process could take it in between; the
        // start then fails loudly rather than silently connecting elsewhere).
        cluster.port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or(0);
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off -c full_page_writes=off",
            cluster.port,
            cluster.dir.display()
        );
        let log = cluster.dir.join("log");
        let start = cluster.run(
            "pg_ctl",
            &[
                "-D",
                &data.display().to_string(),
                "-o",
                &options,
                "-l",
                &log.display().to_string(),
                "-w",
                "start",
            ],
        );
        if !start.status.success() {
            let log = std::fs::read_to_string(&log).unwrap_or_default();
            panic!(
                "pg_ctl start failed: {}{log}",
                String::from_utf8_lossy(&start.stderr)
            );
        }
        cluster.pid = std::fs::read_to_string(data.join("postmaster.pid"))
            .ok()
            .and_then(|t| t.lines().next()?.trim().parse().ok());
        Some(cluster)
    }

    fn run(&self, program: &str, args: &[&str]) -> Output {
        let path = self.bin.join(program);
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        command
            .args(args)
            .current_dir(&self.dir)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", path.display()))
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The postmaster's process id.
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// A connection URL to database `db` (`postgres` exists from the start).
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// The folder of the cluster (its data, socket and log).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.dir.join("data").display().to_string();
        let stopped = self.run("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]);
        if !stopped.status.success()
            && let Some(pid) = self.pid
        {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_starts_answers_and_is_gone_when_dropped() {
        let Some(cluster) = Cluster::start() else {
            return;
        };
        let psql = cluster.bin.join("psql");
        let psql = if psql.is_file() {
            psql
        } else {
            PathBuf::from("psql")
        };
        let out = Command::new(psql)
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &cluster.port().to_string(),
                "-U",
                "postgres",
            ])
            .args(["-At", "-c", "select 40 + 2"])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "42", "{out:?}");
        assert!(
            cluster
                .url("postgres")
                .ends_with(&format!(":{}/postgres", cluster.port()))
        );
        let pid = cluster.pid().expect("the postmaster's pid");
        let dir = cluster.dir().to_path_buf();
        // Running: a process that is not a zombie (a container's PID 1 may not reap the
        // daemon it inherits, so a stopped postmaster can linger as one).
        let running = |pid: u32| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| s.rsplit_once(") ").map(|(_, rest)| !rest.starts_with('Z')))
                .unwrap_or(false)
        };
        assert!(running(pid));
        drop(cluster);
        assert!(!running(pid), "stopped");
        assert!(!dir.exists(), "removed");
    }
}
