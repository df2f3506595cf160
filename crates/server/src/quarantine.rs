//! Journal records the pipeline could not process, set aside per tenant with the reason.
//!
//! The journal must never hold a record that stops the pipeline: a server that stopped on a
//! record would stop on it again at every start (a crash loop that needs a person to edit the
//! journal). So a record that fails — a panic while decoding or matching it, a bound exceeded —
//! is written here, counted, and the pipeline goes on past it. An administrator lists, reads,
//! retries or drops them (`vigie admin quarantine …`, `/api/v1/quarantine`).
//!
//! On disk, under `<data_dir>/quarantine/<tenant>/` (`_unreadable/` for a record whose tenant
//! cannot be read), two files per record, named by its journal position in 16 hex digits:
//!
//! - `<id>.rec`: the record's payload, byte for byte as the journal held it;
//! - `<id>.json`: [`Entry`] (reason, when, how many attempts, the journal epoch — needed to
//!   mint the record's event ids again);
//! - `<id>.retry`, when present: a retry was asked; the pipeline takes it within a commit
//!   interval (or at the next start) and processes the record again with its original
//!   position, so events it had stored before failing are not stored twice.
//!
//! Files are written to a temporary name, synced, then renamed, and the folder synced: an entry
//! exists whole or not at all before the checkpoint moves past its record.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use vigie_event::TenantId;

use crate::ServerError;

/// The folder name of records whose tenant cannot be read.
pub const UNREADABLE: &str = "_unreadable";

/// What is known of a quarantined record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Its id: the journal position in 16 hex digits.
    pub id: String,
    /// Its tenant (or [`UNREADABLE`]).
    pub tenant: String,
    /// Its journal position.
    pub position: u64,
    /// The journal's epoch when it was written.
    pub epoch: u8,
    /// Why it was set aside (the last attempt's reason).
    pub reason: String,
    /// Messages in the record (0 when unreadable).
    pub messages: u64,
    /// Payload bytes.
    pub bytes: u64,
    /// When it was first set aside (RFC 3339, UTC).
    pub quarantined_at: String,
    /// Times it was processed and failed.
    pub attempts: u32,
    /// Whether a retry is waiting.
    #[serde(default)]
    pub retry_requested: bool,
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ServerError {
    ServerError::io(format!("quarantine: {}", what.into()))
}

/// The id of the record at `position`.
pub fn id_of(position: u64) -> String {
    format!("{position:016x}")
}

fn check_id(id: &str) -> Result<u64, ServerError> {
    if id.len() != 16 || !id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(ServerError::QuarantineId(id.to_owned()));
    }
    u64::from_str_radix(id, 16).map_err(|_| ServerError::QuarantineId(id.to_owned()))
}

fn check_tenant(tenant: &str) -> Result<(), ServerError> {
    if tenant == UNREADABLE || TenantId::new(tenant).is_ok() {
        Ok(())
    } else {
        Err(ServerError::NotQuarantined {
            tenant: tenant.to_owned(),
            id: String::new(),
        })
    }
}

/// The quarantine folder of one data directory.
#[derive(Clone, Debug)]
pub struct Quarantine {
    root: PathBuf,
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

impl Quarantine {
    /// The quarantine under `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> Quarantine {
        Quarantine { root: root.into() }
    }

    fn dir(&self, tenant: &str) -> PathBuf {
        self.root.join(tenant)
    }

    fn path(&self, tenant: &str, id: &str, ext: &str) -> PathBuf {
        self.dir(tenant).join(format!("{id}.{ext}"))
    }

    /// Sets a record aside, or records one more failed attempt of one already here.
    pub fn put(&self, mut entry: Entry, payload: &[u8]) -> Result<Entry, ServerError> {
        let dir = self.dir(&entry.tenant);
        fs::create_dir_all(&dir).map_err(io(format!("create {}", dir.display())))?;
        if let Ok(previous) = self.get(&entry.tenant, &entry.id) {
            entry.attempts = previous.attempts.saturating_add(1);
            entry.quarantined_at = previous.quarantined_at;
        } else {
            let rec = self.path(&entry.tenant, &entry.id, "rec");
            write_atomically(&rec, payload).map_err(io(format!("write {}", rec.display())))?;
        }
        entry.retry_requested = false;
        let meta = self.path(&entry.tenant, &entry.id, "json");
        let text = serde_json::to_vec_pretty(&entry).map_err(|e| ServerError::Corrupt {
            file: self.path(&entry.tenant, &entry.id, "json"),
            message: format!("cannot encode the entry: {e}"),
        })?;
        write_atomically(&meta, &text).map_err(io(format!("write {}", meta.display())))?;
        let _ = fs::remove_file(self.path(&entry.tenant, &entry.id, "retry"));
        Ok(entry)
    }

    /// One entry.
    pub fn get(&self, tenant: &str, id: &str) -> Result<Entry, ServerError> {
        check_tenant(tenant)?;
        check_id(id)?;
        let meta = self.path(tenant, id, "json");
        let text = match fs::read(&meta) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ServerError::NotQuarantined {
                    tenant: tenant.to_owned(),
                    id: id.to_owned(),
                });
            }
            Err(e) => return Err(io(format!("read {}", meta.display()))(e)),
        };
        let mut entry: Entry = serde_json::from_slice(&text).map_err(|e| ServerError::Corrupt {
            file: meta.clone(),
            message: e.to_string(),
        })?;
        entry.retry_requested = self.path(tenant, id, "retry").exists();
        Ok(entry)
    }

    /// The payload of one entry.
    pub fn payload(&self, tenant: &str, id: &str) -> Result<Vec<u8>, ServerError> {
        self.get(tenant, id)?;
        let rec = self.path(tenant, id, "rec");
        fs::read(&rec).map_err(io(format!("read {}", rec.display())))
    }

    /// Entries of `tenant`, or of every tenant, oldest position first.
    pub fn list(&self, tenant: Option<&str>) -> Result<Vec<Entry>, ServerError> {
        let tenants: Vec<String> = match tenant {
            Some(t) => {
                check_tenant(t)?;
                vec![t.to_owned()]
            }
            None => match fs::read_dir(&self.root) {
                Ok(dirs) => dirs
                    .filter_map(Result::ok)
                    .filter_map(|d| d.file_name().into_string().ok())
                    .collect(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
                Err(e) => return Err(io(format!("list {}", self.root.display()))(e)),
            },
        };
        let mut out = Vec::new();
        for t in tenants {
            let dir = self.dir(&t);
            let files = match fs::read_dir(&dir) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io(format!("list {}", dir.display()))(e)),
            };
            for f in files.filter_map(Result::ok) {
                let name = f.file_name();
                let Some(id) = name.to_str().and_then(|n| n.strip_suffix(".json")) else {
                    continue;
                };
                if check_id(id).is_ok() {
                    out.push(self.get(&t, id)?);
                }
            }
        }
        out.sort_by(|a, b| (a.position, &a.tenant).cmp(&(b.position, &b.tenant)));
        Ok(out)
    }

    /// Asks for a retry of one entry.
    pub fn request_retry(&self, tenant: &str, id: &str) -> Result<Entry, ServerError> {
        let mut entry = self.get(tenant, id)?;
        let marker = self.path(tenant, id, "retry");
        write_atomically(&marker, b"").map_err(io(format!("write {}", marker.display())))?;
        entry.retry_requested = true;
        Ok(entry)
    }

    /// Entries waiting for a retry. Only their markers are looked for (the pipeline asks
    /// every commit interval), so a large quarantine costs a directory listing, not a read
    /// of every entry.
    pub fn retries(&self) -> Result<Vec<Entry>, ServerError> {
        let tenants = match fs::read_dir(&self.root) {
            Ok(dirs) => dirs,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(format!("list {}", self.root.display()))(e)),
        };
        let mut out = Vec::new();
        for t in tenants.filter_map(Result::ok) {
            let Ok(tenant) = t.file_name().into_string() else {
                continue;
            };
            let Ok(files) = fs::read_dir(t.path()) else {
                continue;
            };
            for f in files.filter_map(Result::ok) {
                let name = f.file_name();
                if let Some(id) = name.to_str().and_then(|n| n.strip_suffix(".retry"))
                    && check_id(id).is_ok()
                    && check_tenant(&tenant).is_ok()
                {
                    out.push(self.get(&tenant, id)?);
                }
            }
        }
        out.sort_by(|a, b| (a.position, &a.tenant).cmp(&(b.position, &b.tenant)));
        Ok(out)
    }

    /// Removes one entry for good (the record's events are lost: an administrator's choice).
    pub fn drop_entry(&self, tenant: &str, id: &str) -> Result<Entry, ServerError> {
        let entry = self.get(tenant, id)?;
        self.remove(tenant, id)?;
        Ok(entry)
    }

    /// Removes an entry's files (after a successful retry, or a drop).
    pub fn remove(&self, tenant: &str, id: &str) -> Result<(), ServerError> {
        check_tenant(tenant)?;
        check_id(id)?;
        // The metadata first: an entry without it is not listed; a stray payload is harmless.
        for ext in ["json", "retry", "rec"] {
            let path = self.path(tenant, id, ext);
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(format!("remove {}", path.display()))(e)),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(tenant: &str, position: u64) -> Entry {
        Entry {
            id: id_of(position),
            tenant: tenant.to_owned(),
            position,
            epoch: 7,
            reason: "panic: boom".to_owned(),
            messages: 2,
            bytes: 5,
            quarantined_at: "2026-12-07T00:00:00Z".to_owned(),
            attempts: 1,
            retry_requested: false,
        }
    }

    #[test]
    fn entries_are_kept_listed_retried_and_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let q = Quarantine::new(dir.path());
        assert!(q.list(None).unwrap().is_empty());
        q.put(entry("acme", 300), b"hello").unwrap();
        q.put(entry("globex", 100), b"world").unwrap();
        let all = q.list(None).unwrap();
        assert_eq!(
            all.iter().map(|e| e.position).collect::<Vec<_>>(),
            vec![100, 300]
        );
        assert_eq!(q.list(Some("acme")).unwrap().len(), 1);
        assert_eq!(q.payload("acme", &id_of(300)).unwrap(), b"hello");
        // A tenant never reads another's entry.
        assert!(matches!(
            q.get("globex", &id_of(300)),
            Err(ServerError::NotQuarantined { .. })
        ));
        assert!(q.retries().unwrap().is_empty());
        assert!(
            q.request_retry("acme", &id_of(300))
                .unwrap()
                .retry_requested
        );
        assert_eq!(q.retries().unwrap().len(), 1);
        // A failed retry counts an attempt, keeps the first time and the payload, clears the ask.
        let mut again = entry("acme", 300);
        again.reason = "panic: boom again".to_owned();
        again.quarantined_at = "later".to_owned();
        let kept = q.put(again, b"ignored").unwrap();
        assert_eq!(kept.attempts, 2);
        assert_eq!(kept.quarantined_at, "2026-12-07T00:00:00Z");
        assert_eq!(q.payload("acme", &id_of(300)).unwrap(), b"hello");
        assert!(q.retries().unwrap().is_empty());
        assert_eq!(
            q.get("acme", &id_of(300)).unwrap().reason,
            "panic: boom again"
        );
        q.drop_entry("acme", &id_of(300)).unwrap();
        assert!(q.get("acme", &id_of(300)).is_err());
        assert_eq!(q.list(None).unwrap().len(), 1);
    }

    #[test]
    fn hostile_names_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let q = Quarantine::new(dir.path());
        q.put(entry("acme", 1), b"x").unwrap();
        assert!(matches!(
            q.get("acme", "../../etc/pass"),
            Err(ServerError::QuarantineId(_))
        ));
        assert!(matches!(
            q.get("acme", "zzzzzzzzzzzzzzzz"),
            Err(ServerError::QuarantineId(_))
        ));
        assert!(q.get("../acme", &id_of(1)).is_err());
        assert!(q.list(Some("..")).is_err());
        assert!(q.get(UNREADABLE, &id_of(1)).is_err());
        // Ids are exactly the lower-case form `id_of` writes: upper case or a sign, which
        // the number parser would take, are refused.
        for id in ["00000000000000A1", "+000000000000001", "0000000000000001 "] {
            assert!(
                matches!(q.get("acme", id), Err(ServerError::QuarantineId(_))),
                "{id}"
            );
        }
    }

    #[test]
    fn a_missing_folder_is_an_empty_quarantine() {
        let dir = tempfile::tempdir().unwrap();
        let q = Quarantine::new(dir.path().join("not-yet"));
        assert!(q.list(None).unwrap().is_empty());
        assert!(q.list(Some("acme")).unwrap().is_empty());
        assert!(q.retries().unwrap().is_empty());
        assert!(matches!(
            q.get("acme", &id_of(1)),
            Err(ServerError::NotQuarantined { .. })
        ));
        q.remove("acme", &id_of(1)).unwrap();
    }

    #[test]
    fn unreadable_files_are_errors_not_absences() {
        let dir = tempfile::tempdir().unwrap();
        // The quarantine root is a file: listing it fails, it is not "empty".
        let file = dir.path().join("a-file");
        std::fs::write(&file, b"x").unwrap();
        let q = Quarantine::new(&file);
        assert!(matches!(q.list(None), Err(ServerError::Io { .. })));
        assert!(matches!(q.retries(), Err(ServerError::Io { .. })));
        // A tenant folder that is a file.
        let q = Quarantine::new(dir.path());
        std::fs::write(dir.path().join("acme"), b"x").unwrap();
        assert!(matches!(q.list(Some("acme")), Err(ServerError::Io { .. })));
        // An entry whose metadata is a folder: reading and removing it fail.
        let q = Quarantine::new(dir.path().join("q"));
        q.put(entry("globex", 5), b"x").unwrap();
        let meta = dir
            .path()
            .join("q/globex")
            .join(format!("{}.json", id_of(5)));
        std::fs::remove_file(&meta).unwrap();
        std::fs::create_dir_all(meta.join("inside")).unwrap();
        assert!(matches!(
            q.get("globex", &id_of(5)),
            Err(ServerError::Io { .. })
        ));
        assert!(matches!(
            q.remove("globex", &id_of(5)),
            Err(ServerError::Io { .. })
        ));
    }
}
