//! The audit trail's tamper cases, each on a fresh database, on SQLite and on PostgreSQL:
//! a field edited in SQL, a row deleted, two rows swapped, the tail truncated (and its
//! checkpoint in the database deleted with it), a checkpoint forged, and a chain rewritten
//! with recomputed hashes. `verify_audit` must name every one, and pass the untouched
//! trail.

use std::sync::Arc;

use sqlx::{AnyPool, Row};
use vigie_event::time::Timestamp;
use vigie_govern::audit::record::{Outcome, Record, Who};
use vigie_govern::audit::{Tamper, chain_hash, leaf_hash};
use vigie_server::auditor::Auditor;
use vigie_server::config::Audit;
use vigie_server::secrets::{KEY_NAME, Secrets};
use vigie_server::verify::{Problem, split_notes, verify_audit};
use vigie_state::State;
use vigie_state::audit::{AuditEntry, PLATFORM_CHAIN, tenant_chain};
use vigie_testkit::postgres::Cluster;

const CHAIN: &str = "tenant:mutuelle";

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn entry(n: u64) -> AuditEntry {
    let platform = n % 4 == 3;
    AuditEntry {
        chain: if platform {
            PLATFORM_CHAIN.to_owned()
        } else {
            tenant_chain("mutuelle")
        },
        record: Record {
            time: format!("2026-12-07T10:00:{n:02}Z"),
            who: Who {
                user: Some(42),
                org: Some(7),
                address: Some("192.0.2.1".into()),
                ..Who::default()
            },
            action: "read-alerts".into(),
            tenant: (!platform).then(|| "mutuelle".into()),
            objects: vec![format!("alert-{n}")],
            query: None,
            count: Some(n),
            outcome: Outcome::Allowed,
            before: None,
            after: None,
        },
        time: Timestamp::from_nanos(n as i64),
    }
}

/// Where one case runs.
struct Db {
    state: State,
    raw: AnyPool,
    dir: tempfile::TempDir,
}

/// Writes the trail: 16 tenant records (checkpoints at 5, 10, 15 as they go and 16 at the
/// end) and 5 platform ones. Returns the notes of the external checkpoint file.
async fn write_trail(db: &Db) -> (Arc<Secrets>, Vec<String>) {
    let secrets =
        Arc::new(Secrets::load_or_create(&db.dir.path().join("secrets")).expect("secrets"));
    let file = db.dir.path().join("checkpoints.txt");
    let auditor = Auditor::start(
        db.state.clone(),
        Arc::clone(&secrets),
        Audit {
            checkpoint_every: 5,
            checkpoint_interval_s: 3600,
            checkpoint_file: Some(file.clone()),
            checkpoint_url: None,
        },
    );
    for n in 0..21 {
        auditor.record(entry(n)).await.expect("record");
    }
    auditor.checkpoint_now().await.expect("checkpoint");
    let notes = split_notes(&std::fs::read_to_string(&file).expect("checkpoint file"));
    (secrets, notes)
}

async fn problem(db: &Db, secrets: &Secrets, notes: &[String], chain: &str) -> Option<Problem> {
    let reports = verify_audit(&db.state, KEY_NAME, secrets.public_key(), notes)
        .await
        .expect("verify");
    reports
        .into_iter()
        .find(|r| r.chain == chain)
        .unwrap_or_else(|| panic!("no report for {chain}"))
        .problem
}

async fn exec(db: &Db, sql: &str) {
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&db.raw)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

fn hex(h: &[u8]) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs every case, each on a database `fresh` makes.
async fn cases<F, Fut>(fresh: F)
where
    F: Fn(&'static str) -> Fut,
    Fut: std::future::Future<Output = Db>,
{
    // Untouched: every chain verifies, with its checkpoints.
    let db = fresh("clean").await;
    let (secrets, notes) = write_trail(&db).await;
    assert!(notes.len() >= 5, "{} notes", notes.len());
    let reports = verify_audit(&db.state, KEY_NAME, secrets.public_key(), &notes)
        .await
        .expect("verify");
    assert_eq!(reports.len(), 2);
    for r in &reports {
        assert_eq!(r.problem, None, "{r:?}");
    }
    let tenant = reports
        .iter()
        .find(|r| r.chain == CHAIN)
        .expect("tenant chain");
    assert_eq!(tenant.records, 16);
    assert!(tenant.checkpoints >= 4 * 2, "{tenant:?}");

    // A field edited in SQL.
    let db = fresh("edited").await;
    let (secrets, notes) = write_trail(&db).await;
    exec(
        &db,
        "UPDATE audit SET record = REPLACE(record, '192.0.2.1', '192.0.2.9') \
         WHERE chain = 'tenant:mutuelle' AND seq = 4",
    )
    .await;
    assert_eq!(
        problem(&db, &secrets, &notes, CHAIN).await,
        Some(Problem::Tamper(Tamper::Edited { seq: 4 }))
    );

    // A row deleted.
    let db = fresh("deleted").await;
    let (secrets, notes) = write_trail(&db).await;
    exec(
        &db,
        "DELETE FROM audit WHERE chain = 'tenant:mutuelle' AND seq = 7",
    )
    .await;
    assert_eq!(
        problem(&db, &secrets, &notes, CHAIN).await,
        Some(Problem::Tamper(Tamper::Sequence {
            expected: 7,
            found: 8
        }))
    );

    // Two rows swapped.
    let db = fresh("swapped").await;
    let (secrets, notes) = write_trail(&db).await;
    exec(
        &db,
        "UPDATE audit SET seq = -3 WHERE chain = 'tenant:mutuelle' AND seq = 3",
    )
    .await;
    exec(
        &db,
        "UPDATE audit SET seq = 3 WHERE chain = 'tenant:mutuelle' AND seq = 4",
    )
    .await;
    exec(
        &db,
        "UPDATE audit SET seq = 4 WHERE chain = 'tenant:mutuelle' AND seq = -3",
    )
    .await;
    assert_eq!(
        problem(&db, &secrets, &notes, CHAIN).await,
        Some(Problem::Tamper(Tamper::Chain { seq: 3 }))
    );

    // The tail truncated, with the database's checkpoint of it: the one kept outside
    // still says 16.
    let db = fresh("truncated").await;
    let (secrets, notes) = write_trail(&db).await;
    exec(
        &db,
        "DELETE FROM audit WHERE chain = 'tenant:mutuelle' AND seq > 10",
    )
    .await;
    exec(
        &db,
        "DELETE FROM checkpoints WHERE chain = 'tenant:mutuelle' AND size > 10",
    )
    .await;
    assert_eq!(
        problem(&db, &secrets, &notes, CHAIN).await,
        Some(Problem::Tamper(Tamper::Truncated {
            checkpoint: 16,
            found: 10
        }))
    );
    // Without the file, the database alone cannot tell: that is what the file is for.
    assert_eq!(problem(&db, &secrets, &[], CHAIN).await, None);

    // A checkpoint forged in the database (its size changed, the signature kept).
    let db = fresh("forged").await;
    let (secrets, notes) = write_trail(&db).await;
    exec(
        &db,
        "UPDATE checkpoints SET note = REPLACE(note, 'vigie/tenant:mutuelle\n10\n', \
         'vigie/tenant:mutuelle\n9\n') WHERE chain = 'tenant:mutuelle' AND size = 10",
    )
    .await;
    assert!(
        matches!(
            problem(&db, &secrets, &notes, CHAIN).await,
            Some(Problem::Forged(ref w)) if w.contains("database")
        ),
        "a forged checkpoint is named"
    );

    // The chain rewritten from record 4 on with recomputed hashes (all an attacker without
    // the signing key can do): the signed checkpoints no longer match.
    let db = fresh("rewritten").await;
    let (secrets, notes) = write_trail(&db).await;
    exec(
        &db,
        "UPDATE audit SET record = REPLACE(record, '192.0.2.1', '192.0.2.9') \
         WHERE chain = 'tenant:mutuelle' AND seq = 4",
    )
    .await;
    let rows = sqlx::query(
        "SELECT seq, record, hash FROM audit WHERE chain = 'tenant:mutuelle' ORDER BY seq",
    )
    .fetch_all(&db.raw)
    .await
    .expect("rows");
    let mut previous = [0u8; 32];
    for row in rows {
        let seq: i64 = row.get(0);
        let record: String = row.get(1);
        let leaf = leaf_hash(record.as_bytes());
        let chain = chain_hash(&previous, &leaf);
        previous = chain;
        if seq >= 4 {
            sqlx::query("UPDATE audit SET leaf = $1, hash = $2 WHERE chain = 'tenant:mutuelle' AND seq = $3")
                .bind(hex(&leaf))
                .bind(hex(&chain))
                .bind(seq)
                .execute(&db.raw)
                .await
                .expect("rewrite");
        }
    }
    assert_eq!(
        problem(&db, &secrets, &notes, CHAIN).await,
        Some(Problem::Tamper(Tamper::Diverged { checkpoint: 5 }))
    );
    // The platform chain, untouched, still verifies.
    assert_eq!(problem(&db, &secrets, &notes, PLATFORM_CHAIN).await, None);
}

#[test]
fn every_tampering_is_found_on_sqlite() {
    rt().block_on(cases(|_| async {
        sqlx::any::install_default_drivers();
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.db");
        let state = State::open(&path).await.expect("open");
        let raw = AnyPool::connect(&format!("sqlite://{}", path.display()))
            .await
            .expect("raw");
        Db { state, raw, dir }
    }));
}

#[test]
fn every_tampering_is_found_on_postgres() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let cluster = &cluster;
    rt().block_on(cases(|name| async move {
        sqlx::any::install_default_drivers();
        let admin = AnyPool::connect(&cluster.url("postgres"))
            .await
            .expect("connect");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&admin)
            .await
            .expect("create database");
        admin.close().await;
        let url = cluster.url(name);
        let state = State::connect(&url, 4).await.expect("connect");
        let raw = AnyPool::connect(&url).await.expect("raw");
        Db {
            state,
            raw,
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }));
}

/// A loopback receiver of checkpoint POSTs: refuses the first with 503, then keeps the
/// bodies of the others.
fn receiver() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!(
        "http://{}/checkpoints",
        listener.local_addr().expect("addr")
    );
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = std::sync::Arc::clone(&got);
    std::thread::spawn(move || {
        let mut first = true;
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let status = if first {
                "503 Service Unavailable"
            } else {
                "200 OK"
            };
            if !first {
                kept.lock()
                    .expect("lock")
                    .push(String::from_utf8_lossy(&body).into_owned());
            }
            first = false;
            let _ = stream.write_all(
                format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            );
        }
    });
    (url, got)
}

#[test]
fn checkpoints_reach_the_clients_url_despite_a_refusal() {
    rt().block_on(async {
        sqlx::any::install_default_drivers();
        let dir = tempfile::tempdir().expect("tempdir");
        let state = State::open(&dir.path().join("state.db"))
            .await
            .expect("open");
        let secrets =
            Arc::new(Secrets::load_or_create(&dir.path().join("secrets")).expect("secrets"));
        let (url, got) = receiver();
        let auditor = Auditor::start(
            state.clone(),
            Arc::clone(&secrets),
            Audit {
                checkpoint_every: 5,
                checkpoint_interval_s: 3600,
                checkpoint_file: None,
                checkpoint_url: Some(url),
            },
        );
        for n in 0..21 {
            auditor.record(entry(n)).await.expect("record");
        }
        auditor.checkpoint_now().await.expect("checkpoint");
        // The first POST was refused; the latest note of each chain arrives on a retry.
        let start = std::time::Instant::now();
        loop {
            let notes = got.lock().expect("lock").clone();
            let sizes: Vec<(String, u64)> = notes
                .iter()
                .map(|n| {
                    let c =
                        vigie_govern::audit::checkpoint::verify(n, KEY_NAME, secrets.public_key())
                            .expect("a note signed by the instance");
                    (c.origin, c.size)
                })
                .collect();
            if sizes.contains(&("vigie/tenant:mutuelle".to_owned(), 16))
                && sizes.contains(&("vigie/platform".to_owned(), 5))
            {
                break;
            }
            assert!(
                start.elapsed() < std::time::Duration::from_secs(30),
                "delivered: {sizes:?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    });
}
