//! What one journal record holds: a batch of raw messages from one source of one tenant,
//! with everything needed to decode them again identically on replay.
//!
//! Binary layout (little endian), version 2:
//!
//! ```text
//! version u8 | source kind u8 | framing u8 | received i64 ns
//! tenant str16 | source name str16 | logsource str16 ("" = classify)
//! idempotency key str16 ("" = none; absent in version 1)
//! count u32 | count × (len u32 | bytes)
//! ```
//! where `str16` is a u16 length and UTF-8 bytes. Version 1 records (no key) still read.

use bytes::Bytes;

use crate::JournalError;
use vigie_event::time::Timestamp;
use vigie_event::{EventId, SourceKind, TenantId};

const VERSION: u8 = 2;

/// How the messages of a batch are decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// One JSON object per message.
    Json,
    /// One syslog message per message (RFC 5424, RFC 3164, CEF or LEEF inside).
    Syslog,
}

/// A batch of messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch {
    /// Whose.
    pub tenant: TenantId,
    /// The transport.
    pub kind: SourceKind,
    /// The source's name (listener name, or the `source` parameter of an HTTP ingest).
    pub source: String,
    /// An explicit logsource (`product/service/category`), or empty to classify.
    pub logsource: String,
    /// How to decode.
    pub framing: Framing,
    /// When the batch was received.
    pub received: Timestamp,
    /// The client's `Idempotency-Key`, or empty: with a key, event ids are minted from it
    /// (and `received`, the first attempt's) instead of the journal position, so a retry
    /// mints the same ones (see [`IdKey::keyed`]).
    pub idempotency_key: String,
    /// The messages.
    pub messages: Vec<Bytes>,
}

fn kind_code(kind: SourceKind) -> u8 {
    match kind {
        SourceKind::Http => 1,
        SourceKind::SyslogUdp => 2,
        SourceKind::SyslogTcp => 3,
        SourceKind::SyslogTls => 4,
        _ => 0,
    }
}

fn kind_of(code: u8) -> Option<SourceKind> {
    Some(match code {
        0 => SourceKind::File,
        1 => SourceKind::Http,
        2 => SourceKind::SyslogUdp,
        3 => SourceKind::SyslogTcp,
        4 => SourceKind::SyslogTls,
        _ => return None,
    })
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    // Names are short (tenant ≤ 64, listener names and logsources from config or a query
    // parameter, cut to fit).
    let bytes = &s.as_bytes()[..s.len().min(usize::from(u16::MAX))];
    out.extend_from_slice(&(bytes.len() as u16).to_le_bytes());
    out.extend_from_slice(bytes);
}

impl Batch {
    /// The payload of the journal record.
    pub fn encode(&self) -> Vec<u8> {
        let size: usize = self.messages.iter().map(|m| m.len() + 4).sum::<usize>() + 128;
        let mut out = Vec::with_capacity(size);
        out.push(VERSION);
        out.push(kind_code(self.kind));
        out.push(match self.framing {
            Framing::Json => 0,
            Framing::Syslog => 1,
        });
        out.extend_from_slice(&self.received.as_nanos().to_le_bytes());
        put_str(&mut out, self.tenant.as_str());
        put_str(&mut out, &self.source);
        put_str(&mut out, &self.logsource);
        put_str(&mut out, &self.idempotency_key);
        out.extend_from_slice(&(self.messages.len() as u32).to_le_bytes());
        for m in &self.messages {
            out.extend_from_slice(&(m.len() as u32).to_le_bytes());
            out.extend_from_slice(m);
        }
        out
    }

    /// Reads a payload back; the messages share `payload`'s buffer.
    pub fn decode(payload: Bytes) -> Result<Batch, JournalError> {
        let mut r = Cursor { b: &payload, i: 0 };
        let version = r.u8("version")?;
        if version != 1 && version != VERSION {
            return Err(JournalError::Record {
                at: 0,
                what: "record version 1 or 2",
            });
        }
        let kind = kind_of(r.u8("source kind")?).ok_or(JournalError::Record {
            at: 1,
            what: "a known source kind",
        })?;
        let framing = match r.u8("framing")? {
            0 => Framing::Json,
            1 => Framing::Syslog,
            _ => {
                return Err(JournalError::Record {
                    at: 2,
                    what: "a known framing",
                });
            }
        };
        let received = Timestamp::from_nanos(i64::from_le_bytes(r.array::<8>("receive time")?));
        let at = r.i;
        let tenant = TenantId::new(r.str("tenant")?).map_err(|_| JournalError::Record {
            at,
            what: "a valid tenant name",
        })?;
        let source = r.str("source name")?.to_owned();
        let logsource = r.str("logsource")?.to_owned();
        let idempotency_key = if version >= 2 {
            r.str("idempotency key")?.to_owned()
        } else {
            String::new()
        };
        let count = u32::from_le_bytes(r.array::<4>("message count")?) as usize;
        let mut spans = Vec::with_capacity(count.min(1 << 20));
        for _ in 0..count {
            let len = u32::from_le_bytes(r.array::<4>("message length")?) as usize;
            let start = r.i;
            r.take(len, "message bytes")?;
            spans.push((start, len));
        }
        let messages = spans
            .into_iter()
            .map(|(start, len)| payload.slice(start..start + len))
            .collect();
        Ok(Batch {
            tenant,
            kind,
            source,
            logsource,
            framing,
            received,
            idempotency_key,
            messages,
        })
    }
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], JournalError> {
        let end = self.i.checked_add(n).filter(|e| *e <= self.b.len());
        let Some(end) = end else {
            return Err(JournalError::Record { at: self.i, what });
        };
        let s = &self.b[self.i..end];
        self.i = end;
        Ok(s)
    }
    fn u8(&mut self, what: &'static str) -> Result<u8, JournalError> {
        Ok(self.take(1, what)?[0])
    }
    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], JournalError> {
        let s = self.take(N, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }
    fn str(&mut self, what: &'static str) -> Result<&'a str, JournalError> {
        let len = u16::from_le_bytes(self.array::<2>(what)?);
        let at = self.i;
        std::str::from_utf8(self.take(usize::from(len), what)?)
            .map_err(|_| JournalError::Record { at, what })
    }
}

/// Messages one batch may hold: the index of a message takes 24 bits of its event id.
pub const MAX_MESSAGES: usize = 1 << 24;

/// The secret event ids are minted with, kept in the data directory (`event-id.key`).
///
/// An event id must be the same on every replay of its journal record (the store's
/// idempotence turns replays into no-ops), so it is derived from the record's place in the
/// journal; but the journal is shared by every tenant, and an id that showed the position
/// would tell a tenant how much the others send. So the position goes through a keyed hash:
/// ULID layout, 48 bits of the receive time in milliseconds, then 80 bits of
/// SHA-256(key ‖ epoch ‖ position) plus the message index. Ids of one record are
/// consecutive (the tenant knows its own batch anyway); two records meet only if their 80-bit
/// hashes fall within 2^24 of each other in the same millisecond.
#[derive(Clone)]
pub struct IdKey([u8; 32]);

impl std::fmt::Debug for IdKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdKey(…)")
    }
}

/// The file of the key, in the data directory.
pub const ID_KEY_FILE: &str = "event-id.key";

impl IdKey {
    /// A key from its bytes.
    pub fn new(bytes: [u8; 32]) -> IdKey {
        IdKey(bytes)
    }

    /// Reads the key of `data_dir`, or creates it (random, written before first use and
    /// synced, so ids never change under a replay).
    pub fn load_or_create(data_dir: &std::path::Path) -> std::io::Result<IdKey> {
        let path = data_dir.join(ID_KEY_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => {
                let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
                    std::io::Error::other(format!(
                        "{}: expected 32 bytes, found {}",
                        path.display(),
                        bytes.len()
                    ))
                })?;
                Ok(IdKey(key))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; 32];
                getrandom::fill(&mut key).map_err(std::io::Error::other)?;
                let tmp = path.with_extension("tmp");
                {
                    use std::io::Write as _;
                    let mut f = std::fs::File::create(&tmp)?;
                    f.write_all(&key)?;
                    f.sync_all()?;
                }
                std::fs::rename(&tmp, &path)?;
                std::fs::File::open(data_dir)?.sync_all()?;
                Ok(IdKey(key))
            }
            Err(e) => Err(e),
        }
    }

    /// The ids of a batch sent with an `Idempotency-Key`: from the tenant and the key, so
    /// every attempt of the batch (journaled anew each time) mints the same ids and the
    /// store keeps its events once. Never equal to a position's ids but by a 2^-80 chance:
    /// the hashed input starts with a different tag.
    pub fn keyed(&self, tenant: &TenantId, key: &str) -> RecordIds {
        use sha2::Digest as _;
        let mut h = sha2::Sha256::new();
        h.update(self.0);
        h.update(b"\xffkey");
        h.update((tenant.as_str().len() as u64).to_le_bytes());
        h.update(tenant.as_str());
        h.update(key);
        RecordIds::from_digest(&h.finalize())
    }

    /// The ids of the record at `position` of the journal of `epoch`.
    pub fn record(&self, epoch: u8, position: u64) -> RecordIds {
        use sha2::Digest as _;
        let mut h = sha2::Sha256::new();
        h.update(self.0);
        h.update([epoch]);
        h.update(position.to_le_bytes());
        RecordIds::from_digest(&h.finalize())
    }
}

/// The ids of one record's messages (see [`IdKey`]).
#[derive(Clone, Copy, Debug)]
pub struct RecordIds {
    base: u128,
}

impl RecordIds {
    fn from_digest(digest: &[u8]) -> RecordIds {
        let mut base = [0u8; 16];
        base[6..].copy_from_slice(&digest[..10]);
        RecordIds {
            base: u128::from_be_bytes(base),
        }
    }

    /// The id of message `index`, received at `received`.
    pub fn event(&self, received: Timestamp, index: usize) -> EventId {
        const LOW: u128 = (1 << 80) - 1;
        let millis = (received.as_millis().max(0) as u128) & ((1 << 48) - 1);
        let low = self.base.wrapping_add(index as u128) & LOW;
        EventId::from_u128(millis << 80 | low)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_round_trip() {
        let batch = Batch {
            tenant: TenantId::new("acme").expect("tenant"),
            kind: SourceKind::SyslogTcp,
            source: "fw".to_owned(),
            logsource: "linux//process_creation".to_owned(),
            framing: Framing::Syslog,
            received: Timestamp::from_nanos(1_795_335_302_123_456_789),
            idempotency_key: "retry-7".to_owned(),
            messages: vec![Bytes::from_static(b"<13>hello"), Bytes::new()],
        };
        let payload = Bytes::from(batch.encode());
        assert_eq!(Batch::decode(payload.clone()).expect("decode"), batch);
        // A version-1 record (no key) still reads.
        let mut v1 = payload.to_vec();
        v1[0] = 1;
        let key_at = 3 + 8 + (2 + 4) + (2 + 2) + (2 + 23);
        assert_eq!(&v1[key_at..key_at + 2], &7u16.to_le_bytes());
        v1.drain(key_at..key_at + 2 + 7);
        let old = Batch::decode(Bytes::from(v1)).expect("v1");
        assert_eq!(old.idempotency_key, "");
        assert_eq!(old.messages, batch.messages);
        // Every truncation is an error, never a panic.
        for cut in 0..payload.len() {
            assert!(Batch::decode(payload.slice(..cut)).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn every_source_kind_and_framing_round_trips() {
        for kind in [
            SourceKind::File,
            SourceKind::Http,
            SourceKind::SyslogUdp,
            SourceKind::SyslogTcp,
            SourceKind::SyslogTls,
        ] {
            for framing in [Framing::Json, Framing::Syslog] {
                let batch = Batch {
                    tenant: TenantId::new("acme").expect("tenant"),
                    kind,
                    source: "s".to_owned(),
                    logsource: String::new(),
                    framing,
                    received: Timestamp::from_nanos(1),
                    idempotency_key: String::new(),
                    messages: vec![Bytes::from_static(b"{}")],
                };
                let back = Batch::decode(Bytes::from(batch.encode())).expect("decode");
                assert_eq!(back, batch);
            }
        }
    }

    #[test]
    fn random_payloads_are_errors_not_panics() {
        let mut x = 0x9e37_79b9_u64;
        for len in 0..2000usize {
            let bytes: Vec<u8> = (0..len % 97)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    // Mostly small values, so that lengths and counts stay plausible.
                    if x.is_multiple_of(3) { 1 } else { x as u8 }
                })
                .collect();
            let _ = Batch::decode(Bytes::from(bytes));
        }
    }

    #[test]
    fn event_ids_are_deterministic_and_distinct_and_hide_the_position() {
        let t = Timestamp::from_nanos(1_795_335_302_000_000_000);
        let key = IdKey::new([7; 32]);
        let id = |epoch, position, index| key.record(epoch, position).event(t, index);
        assert_eq!(id(7, 1000, 3), id(7, 1000, 3));
        assert_ne!(id(7, 1000, 3), id(7, 1000, 4));
        assert_ne!(id(7, 1000, 3), id(7, 1012, 3));
        assert_ne!(id(7, 1000, 3), id(8, 1000, 3));
        assert_eq!(id(7, 1000, 3).millis(), 1_795_335_302_000);
        // Another key, other ids for the same place.
        assert_ne!(
            IdKey::new([8; 32]).record(7, 1000).event(t, 3),
            id(7, 1000, 3)
        );
        // Neighbouring positions do not give neighbouring ids: the low 80 bits of records at
        // positions 1000 and 1001 differ in many bits, not by one.
        let low = |p| id(7, p, 0).as_u128() & ((1u128 << 80) - 1);
        assert!((low(1000) ^ low(1001)).count_ones() > 16);
    }

    /// Ids must not change between versions: a record journaled by one build and replayed
    /// by the next must mint the same ids. The expected values are computed here from the
    /// documented layout, independently of `RecordIds`.
    #[test]
    fn ids_follow_the_documented_layout() {
        use sha2::Digest as _;
        let key = IdKey::new([3; 32]);
        let received = Timestamp::from_nanos(1_795_335_302_123_000_000);
        let low80 = |digest: &[u8]| {
            let mut b = [0u8; 16];
            b[6..].copy_from_slice(&digest[..10]);
            u128::from_be_bytes(b)
        };
        let mut h = sha2::Sha256::new();
        h.update([3u8; 32]);
        h.update([9u8]);
        h.update(77u64.to_le_bytes());
        let base = low80(&h.finalize());
        for index in [0usize, 1, 5000] {
            let want = (1_795_335_302_123u128 << 80) | ((base + index as u128) % (1u128 << 80));
            assert_eq!(key.record(9, 77).event(received, index).as_u128(), want);
        }
        // The low 80 bits wrap instead of carrying into the time.
        let top = RecordIds {
            base: (1u128 << 80) - 1,
        };
        assert_eq!(
            top.event(received, 1).as_u128(),
            1_795_335_302_123u128 << 80
        );
        // Times before 1970 take millisecond 0.
        assert_eq!(top.event(Timestamp::from_nanos(-5), 0).as_u128() >> 80, 0);
    }

    #[test]
    fn the_key_never_shows_in_debug_output() {
        assert_eq!(format!("{:?}", IdKey::new([0xab; 32])), "IdKey(…)");
    }

    #[test]
    fn keyed_ids_depend_on_the_tenant_and_the_key_only() {
        let key = IdKey::new([7; 32]);
        let t = Timestamp::from_nanos(1_795_335_302_000_000_000);
        let a = TenantId::new("a").expect("tenant");
        let b = TenantId::new("b").expect("tenant");
        assert_eq!(
            key.keyed(&a, "k").event(t, 0),
            key.keyed(&a, "k").event(t, 0)
        );
        assert_ne!(
            key.keyed(&a, "k").event(t, 0),
            key.keyed(&b, "k").event(t, 0)
        );
        assert_ne!(
            key.keyed(&a, "k").event(t, 0),
            key.keyed(&a, "k2").event(t, 0)
        );
        assert_ne!(
            key.keyed(&a, "k").event(t, 0),
            key.keyed(&a, "k").event(t, 1)
        );
        // "a" + "bk" and "ab" + "k" are not the same input.
        let ab = TenantId::new("ab").expect("tenant");
        assert_ne!(
            key.keyed(&a, "bk").event(t, 0),
            key.keyed(&ab, "k").event(t, 0)
        );
    }

    #[test]
    fn the_key_is_created_once_and_read_back() {
        let dir = tempfile::tempdir().expect("dir");
        let a = IdKey::load_or_create(dir.path()).expect("create");
        let b = IdKey::load_or_create(dir.path()).expect("read");
        assert_eq!(a.0, b.0);
        std::fs::write(dir.path().join(ID_KEY_FILE), b"short").expect("write");
        let err = IdKey::load_or_create(dir.path()).expect_err("bad length");
        assert!(err.to_string().contains("32 bytes"), "{err}");
        // A key that cannot be read (here a folder) is an error, never replaced by a new key.
        let other = tempfile::tempdir().expect("dir");
        std::fs::create_dir_all(other.path().join(ID_KEY_FILE).join("x")).expect("mkdir");
        assert!(IdKey::load_or_create(other.path()).is_err());
        assert!(
            !other
                .path()
                .join(ID_KEY_FILE)
                .with_extension("tmp")
                .exists()
        );
    }
}
