//! Field names and their interned ids.
//!
//! Detection looks up the same few hundred field names in every event, so names are interned
//! once into a process-wide table and events store [`FieldId`]s (a `u32`). A compiled rule set
//! resolves its field names to ids at load time; per event, finding a field is then a scan over
//! a short array of integers, with no hashing and no string comparison.
//!
//! The table is process-wide (not per decoder) so that an id means the same name in every
//! crate: the EVTX decoder, the syslog listener and the Sigma engine agree without
//! coordination. It only grows. To keep a hostile sender (random JSON keys) from growing it
//! without bound, it holds at most [`MAX_FIELD_NAMES`] names of at most [`MAX_FIELD_NAME_LEN`]
//! bytes; beyond that, interning fails and the decoder reports the event as undecodable,
//! naming the field (never a silent drop).

use crate::error::EventError;
use std::fmt;
use std::sync::{OnceLock, RwLock};

use rustc_hash::FxHashMap;

/// The most distinct field names the process will intern.
pub const MAX_FIELD_NAMES: usize = 1 << 22;

/// The longest field name, in bytes, that can be interned.
pub const MAX_FIELD_NAME_LEN: usize = 1024;

/// The interned id of a field name.
///
/// Ids are dense (0, 1, 2, …) so that a consumer can index a `Vec` by them.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldId(u32);

impl FieldId {
    /// The id as an index into a dense table.
    pub fn index(self) -> usize {
        self.0 as usize
    }

    /// Interns `name`, returning its id.
    pub fn intern(name: &str) -> Result<FieldId, EventError> {
        interner().intern(name)
    }

    /// The id of `name` if it was interned already; never grows the table.
    pub fn lookup(name: &str) -> Option<FieldId> {
        interner().lookup(name)
    }

    /// The name this id stands for.
    pub fn name(self) -> &'static str {
        interner().name(self)
    }
}

impl fmt::Debug for FieldId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FieldId({}: {:?})", self.0, self.name())
    }
}

impl fmt::Display for FieldId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

struct Interner {
    /// Ids by name; the next id is the number of names.
    ids: RwLock<FxHashMap<&'static str, FieldId>>,
    /// The names again, by id, readable without the lock: every event rendering and index
    /// build asks for names, from several threads at once, and a read lock per name (an
    /// atomic read-modify-write on one shared cache line) was 4 % of a `vigie hunt` writing
    /// JSON lines on 2 cores. Written once per id under the `ids` write lock.
    names: Names,
}

/// Ids per chunk of [`Names`]: chunk `k` holds `NAMES_FIRST_CHUNK << k` ids.
const NAMES_FIRST_CHUNK: usize = 1024;

/// Chunks needed for [`MAX_FIELD_NAMES`] ids with chunk sizes doubling from
/// [`NAMES_FIRST_CHUNK`].
const NAMES_CHUNKS: usize = {
    let mut chunks = 0;
    while NAMES_FIRST_CHUNK * ((1 << chunks) - 1) < MAX_FIELD_NAMES {
        chunks += 1;
    }
    chunks
};

/// An append-only table of names by id, read with plain atomic loads: chunks of doubling
/// size, each allocated when its first id is minted, so that a slot never moves.
struct Names {
    chunks: [OnceLock<Box<[OnceLock<&'static str>]>>; NAMES_CHUNKS],
}

impl Names {
    fn new() -> Names {
        Names {
            chunks: std::array::from_fn(|_| OnceLock::new()),
        }
    }

    /// The chunk and the offset in it of `index`.
    fn slot(index: usize) -> (usize, usize) {
        let x = index / NAMES_FIRST_CHUNK + 1;
        let chunk = x.ilog2() as usize;
        (chunk, index - NAMES_FIRST_CHUNK * ((1 << chunk) - 1))
    }

    fn get(&self, index: usize) -> Option<&'static str> {
        let (chunk, offset) = Names::slot(index);
        self.chunks.get(chunk)?.get()?.get(offset)?.get().copied()
    }

    /// Records `name` at `index` (called once per index, under `Interner::ids`' write lock).
    fn set(&self, index: usize, name: &'static str) {
        let (chunk, offset) = Names::slot(index);
        let slots = self.chunks[chunk].get_or_init(|| {
            (0..NAMES_FIRST_CHUNK << chunk)
                .map(|_| OnceLock::new())
                .collect()
        });
        let _ = slots[offset].set(name);
    }
}

fn interner() -> &'static Interner {
    static INTERNER: OnceLock<Interner> = OnceLock::new();
    INTERNER.get_or_init(|| Interner {
        ids: RwLock::new(FxHashMap::default()),
        names: Names::new(),
    })
}

impl Interner {
    fn lookup(&self, name: &str) -> Option<FieldId> {
        let ids = self.ids.read().unwrap_or_else(|poison| poison.into_inner());
        ids.get(name).copied()
    }

    fn intern(&self, name: &str) -> Result<FieldId, EventError> {
        if let Some(id) = self.lookup(name) {
            return Ok(id);
        }
        if name.is_empty() {
            return Err(EventError::FieldNameEmpty);
        }
        if name.len() > MAX_FIELD_NAME_LEN {
            return Err(EventError::FieldNameTooLong {
                len: name.len(),
                limit: MAX_FIELD_NAME_LEN,
            });
        }
        let mut ids = self
            .ids
            .write()
            .unwrap_or_else(|poison| poison.into_inner());
        if let Some(id) = ids.get(name) {
            return Ok(*id);
        }
        if ids.len() >= MAX_FIELD_NAMES {
            let cut = name.floor_char_boundary(64);
            return Err(EventError::FieldNameTableFull {
                name: name[..cut].to_owned(),
                limit: MAX_FIELD_NAMES,
            });
        }
        // Names live for the whole process: the table never shrinks and is bounded above,
        // so leaking them gives `&'static str` lookups without reference counting.
        let stored: &'static str = Box::leak(name.to_owned().into_boxed_str());
        let id = FieldId(ids.len() as u32);
        ids.insert(stored, id);
        self.names.set(id.index(), stored);
        Ok(id)
    }

    fn name(&self, id: FieldId) -> &'static str {
        self.names
            .get(id.index())
            .expect("ids are only minted by `intern`, which records the name first")
    }
}

/// The distinct field names one tenant may use, and those it used.
///
/// The field-name table is process-wide (see the module documentation), so one tenant sending
/// millions of distinct keys would fill it for every other tenant. A budget, shared by every
/// decoder of one tenant, stops that tenant at its own limit: a name new to the tenant is
/// admitted (and only then interned in the process-wide table) while the tenant has used fewer
/// than `limit` names; beyond that, the event is refused with
/// [`EventError::FieldNameTenantLimit`], which names the field. Names another tenant already
/// interned still count once in this tenant's budget, so what one tenant may do does not
/// depend on what the others did.
///
/// The budget lives in memory, as the table does: both start empty at each process start and
/// are filled again by the replay of the journal, in the same order.
#[derive(Debug)]
pub struct NameBudget {
    limit: usize,
    used: RwLock<rustc_hash::FxHashSet<FieldId>>,
}

impl NameBudget {
    /// A budget of `limit` distinct names.
    pub fn new(limit: usize) -> NameBudget {
        NameBudget {
            limit,
            used: RwLock::new(rustc_hash::FxHashSet::default()),
        }
    }

    /// The limit.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Names used so far.
    pub fn used(&self) -> usize {
        self.used.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// The id of `name`, admitting it to the budget (and interning it) when it is new to the
    /// tenant and the budget allows.
    pub fn intern(&self, name: &str) -> Result<FieldId, EventError> {
        if let Some(id) = FieldId::lookup(name)
            && self
                .used
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .contains(&id)
        {
            return Ok(id);
        }
        let mut used = self.used.write().unwrap_or_else(|p| p.into_inner());
        if let Some(id) = FieldId::lookup(name)
            && used.contains(&id)
        {
            return Ok(id);
        }
        if used.len() >= self.limit {
            let cut = name.floor_char_boundary(64);
            return Err(EventError::FieldNameTenantLimit {
                name: name[..cut].to_owned(),
                limit: self.limit,
            });
        }
        let id = FieldId::intern(name)?;
        used.insert(id);
        Ok(id)
    }
}

/// A decoder-local cache in front of the process-wide table.
///
/// Decoders see the same names over and over; the cache answers those without taking the
/// table's lock. With a [`NameBudget`], a name the cache does not hold goes through the
/// budget.
#[derive(Default)]
pub struct FieldCache {
    ids: FxHashMap<Box<str>, FieldId>,
    budget: Option<std::sync::Arc<NameBudget>>,
}

impl fmt::Debug for FieldCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FieldCache")
            .field("len", &self.ids.len())
            .field("budget", &self.budget)
            .finish()
    }
}

/// Names cached per decoder before the cache is reset (bounds memory on hostile input).
const FIELD_CACHE_CAPACITY: usize = 16 * 1024;

impl FieldCache {
    /// Interns `name` through the cache (and the budget, if any).
    pub fn intern(&mut self, name: &str) -> Result<FieldId, EventError> {
        if let Some(id) = self.ids.get(name) {
            return Ok(*id);
        }
        let id = match &self.budget {
            Some(budget) => budget.intern(name)?,
            None => FieldId::intern(name)?,
        };
        if self.ids.len() >= FIELD_CACHE_CAPACITY {
            self.ids.clear();
        }
        self.ids.insert(name.into(), id);
        Ok(id)
    }

    /// Sends names this cache does not hold through `budget` from now on.
    pub fn set_budget(&mut self, budget: Option<std::sync::Arc<NameBudget>>) {
        self.ids.clear();
        self.budget = budget;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_is_stable_and_reversible() {
        let a = FieldId::intern("CommandLine").unwrap();
        let b = FieldId::intern("CommandLine").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.name(), "CommandLine");
        assert_eq!(FieldId::lookup("CommandLine"), Some(a));
        assert_ne!(
            FieldId::intern("commandline").unwrap(),
            a,
            "names are case-sensitive"
        );
    }

    #[test]
    fn a_budget_stops_one_tenant_and_not_another() {
        let a = std::sync::Arc::new(NameBudget::new(3));
        let b = std::sync::Arc::new(NameBudget::new(3));
        let mut ca = FieldCache::default();
        ca.set_budget(Some(std::sync::Arc::clone(&a)));
        for n in ["budget_a1", "budget_a2", "budget_a3"] {
            ca.intern(n).unwrap();
        }
        // Known names stay usable, twice over.
        ca.intern("budget_a1").unwrap();
        assert_eq!(
            a.intern("budget_a2"),
            FieldId::lookup("budget_a2").ok_or(EventError::FieldNameEmpty)
        );
        let err = ca.intern("budget_a4").unwrap_err();
        assert!(
            matches!(err, EventError::FieldNameTenantLimit { limit: 3, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("budget_a4"), "{err}");
        // Refused before the process-wide table saw it.
        assert_eq!(FieldId::lookup("budget_a4"), None);
        assert_eq!(a.used(), 3);
        assert_eq!(a.limit(), 3);
        // The cache kept the names it resolved (its Debug output says how many).
        assert!(format!("{ca:?}").contains("len: 3"), "{ca:?}");
        // Another tenant: a name the first one interned still counts once in its own budget.
        assert!(b.intern("budget_a1").is_ok());
        assert!(b.intern("budget_b2").is_ok());
        assert!(b.intern("budget_b3").is_ok());
        assert!(b.intern("budget_a2").is_err());
        assert_eq!(b.used(), 3);
    }

    #[test]
    fn ids_print_as_their_names() {
        let id = FieldId::intern("PrintedName").unwrap();
        assert_eq!(id.to_string(), "PrintedName");
        assert!(format!("{id:?}").contains("\"PrintedName\""));
    }

    #[test]
    fn rejects_empty_and_oversized_names() {
        assert_eq!(FieldId::intern(""), Err(EventError::FieldNameEmpty));
        let longest = "y".repeat(MAX_FIELD_NAME_LEN);
        assert!(
            FieldId::intern(&longest).is_ok(),
            "a name of exactly the limit is taken"
        );
        let long = "x".repeat(MAX_FIELD_NAME_LEN + 1);
        assert!(matches!(
            FieldId::intern(&long),
            Err(EventError::FieldNameTooLong { .. })
        ));
        assert_eq!(FieldId::lookup(&long), None);
    }

    #[test]
    fn name_slots_cover_every_id_once() {
        // Chunk boundaries map to consecutive slots, and the last id still has a chunk.
        assert_eq!(Names::slot(0), (0, 0));
        assert_eq!(
            Names::slot(NAMES_FIRST_CHUNK - 1),
            (0, NAMES_FIRST_CHUNK - 1)
        );
        assert_eq!(Names::slot(NAMES_FIRST_CHUNK), (1, 0));
        assert_eq!(
            Names::slot(3 * NAMES_FIRST_CHUNK - 1),
            (1, 2 * NAMES_FIRST_CHUNK - 1)
        );
        assert_eq!(Names::slot(3 * NAMES_FIRST_CHUNK), (2, 0));
        let (chunk, offset) = Names::slot(MAX_FIELD_NAMES - 1);
        assert!(chunk < NAMES_CHUNKS && offset < NAMES_FIRST_CHUNK << chunk);
        let names = Names::new();
        for i in [0, 1023, 1024, 5000] {
            names.set(i, "x");
            assert_eq!(names.get(i), Some("x"));
        }
        assert_eq!(names.get(1), None);
    }

    #[test]
    fn cache_agrees_with_table() {
        let mut cache = FieldCache::default();
        let id = cache.intern("TargetObject").unwrap();
        assert_eq!(cache.intern("TargetObject").unwrap(), id);
        assert_eq!(FieldId::intern("TargetObject").unwrap(), id);
    }
}
