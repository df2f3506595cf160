//! The rule book of a running server, and its hot reload.
//!
//! A reload builds the new [`RuleBook`] off to the side (compiling takes a fraction of a
//! second) and swaps it in one step: an event is matched entirely by the old book or
//! entirely by the new one. Workers compare [`Rules::generation`] (one atomic load) before
//! each batch and take the new book when it changed.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use crate::{DetectError, RuleBook};

/// The current rule book, where it was loaded from, and how to replace it.
#[derive(Debug)]
pub struct Rules {
    paths: Vec<PathBuf>,
    placeholders: Option<PathBuf>,
    current: RwLock<Arc<RuleBook>>,
    generation: AtomicU64,
    fingerprint: Mutex<u64>,
    reloading: Mutex<()>,
}

impl Rules {
    /// Loads the first generation.
    pub fn load(paths: Vec<PathBuf>, placeholders: Option<PathBuf>) -> Result<Rules, DetectError> {
        let fingerprint = fingerprint(&paths, placeholders.as_deref());
        let book = RuleBook::load(&paths, placeholders.as_deref(), 1)?;
        Ok(Rules {
            paths,
            placeholders,
            current: RwLock::new(Arc::new(book)),
            generation: AtomicU64::new(1),
            fingerprint: Mutex::new(fingerprint),
            reloading: Mutex::new(()),
        })
    }

    /// The current book.
    pub fn current(&self) -> Arc<RuleBook> {
        // A poisoned lock only means a thread panicked while swapping an Arc, which leaves
        // the Arc itself intact.
        Arc::clone(&self.current.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// The current generation (one atomic load: workers compare it before each batch).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Loads and compiles the rules again and swaps them in. On error the current book
    /// stays. Reloads run one at a time.
    pub fn reload(&self) -> Result<Arc<RuleBook>, DetectError> {
        let _one_at_a_time = self.reloading.lock().unwrap_or_else(|p| p.into_inner());
        let print = fingerprint(&self.paths, self.placeholders.as_deref());
        let book = Arc::new(RuleBook::load(
            &self.paths,
            self.placeholders.as_deref(),
            self.generation() + 1,
        )?);
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::clone(&book);
        self.generation.store(book.generation, Ordering::Release);
        *self.fingerprint.lock().unwrap_or_else(|p| p.into_inner()) = print;
        Ok(book)
    }

    /// Whether a rule file changed (added, removed, modified) since the last load.
    pub fn changed(&self) -> bool {
        let now = fingerprint(&self.paths, self.placeholders.as_deref());
        now != *self.fingerprint.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A hash of the names, sizes and modification times of every rule file.
fn fingerprint(paths: &[PathBuf], placeholders: Option<&Path>) -> u64 {
    let mut files = Vec::new();
    let mut stack: Vec<PathBuf> = paths.to_vec();
    stack.extend(placeholders.map(Path::to_path_buf));
    while let Some(path) = stack.pop() {
        if let Ok(entries) = std::fs::read_dir(&path) {
            stack.extend(entries.filter_map(|e| e.ok().map(|e| e.path())));
        } else if let Ok(meta) = std::fs::metadata(&path) {
            let modified = meta
                .modified()
                .ok()
                .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            files.push((path, meta.len(), modified));
        }
    }
    files.sort();
    let mut h = DefaultHasher::new();
    files.hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(title: &str) -> String {
        format!("title: {title}\nlogsource: {{}}\ndetection:\n  s:\n    Image: x\n  condition: s\n")
    }

    #[test]
    fn a_changed_file_is_seen_and_workers_see_the_swap_at_their_next_check() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("r.yml");
        std::fs::write(&file, rule("old")).unwrap();
        let shared = Arc::new(Rules::load(vec![dir.path().to_path_buf()], None).unwrap());
        assert_eq!(shared.generation(), 1);
        assert!(!shared.changed());
        let worker = {
            let shared = Arc::clone(&shared);
            // Taken before the swap, so that the worker must see it.
            let mut book = shared.current();
            std::thread::spawn(move || {
                while shared.generation() == book.generation {
                    std::thread::yield_now();
                }
                book = shared.current();
                book.rules[0].title.clone()
            })
        };
        std::fs::write(&file, rule("new, longer")).unwrap();
        assert!(shared.changed());
        let book = shared.reload().unwrap();
        assert_eq!(book.generation, 2);
        assert!(!shared.changed());
        assert_eq!(worker.join().unwrap(), "new, longer");
        assert_eq!(shared.current().rules[0].title, "new, longer");
    }

    #[test]
    fn a_failed_reload_keeps_the_current_book() {
        let dir = tempfile::tempdir().unwrap();
        let placeholders = dir.path().join("placeholders.yml");
        std::fs::write(&placeholders, "").unwrap();
        std::fs::write(dir.path().join("r.yml"), rule("kept")).unwrap();
        let rules =
            Rules::load(vec![dir.path().join("r.yml")], Some(placeholders.clone())).unwrap();
        std::fs::remove_file(&placeholders).unwrap();
        assert!(rules.reload().is_err());
        assert_eq!(rules.generation(), 1);
        assert_eq!(rules.current().rules[0].title, "kept");
    }
}
