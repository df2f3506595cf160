//! The Sigma rules the pipeline runs: loaded from folders, compiled, swapped atomically on
//! reload (a change in the folders, or `POST /api/v1/rules/reload`).
//!
//! A [`RuleBook`] is one consistent generation: the compiled rule set, the correlations
//! resolved against it (they refer to rules by index) and what an alert needs of each rule.
//! Workers match with one book; the correlation step drops matches from an older book than
//! its own, counted, rather than feed a correlation the wrong rule.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use vigie_sigma::{
    CorrelationSet, Diagnostic, Loaded, Placeholders, RuleSet, load_dir, parse_rules,
};

use crate::ServerError;

/// What an alert needs of a rule or correlation.
#[derive(Clone, Debug)]
pub struct RuleMeta {
    /// Its id (its title when it has none).
    pub id: String,
    /// Its title.
    pub title: String,
    /// Its level (`informational` when it has none).
    pub level: String,
    /// Its tags.
    pub tags: Vec<String>,
    /// Whether its matches become alerts (a correlation with `generate: false` swallows
    /// the matches of the rules it listens to).
    pub alerts: bool,
}

/// One generation of rules.
#[derive(Debug)]
pub struct RuleBook {
    /// The generation (1, 2, …).
    pub generation: u64,
    /// The compiled detection rules.
    pub set: Arc<RuleSet>,
    /// The correlations, resolved against `set`.
    pub correlations: Arc<CorrelationSet>,
    /// Per rule of `set`.
    pub rules: Vec<RuleMeta>,
    /// Per correlation.
    pub correlation_rules: Vec<RuleMeta>,
    /// Per rule of `set`: a correlation listens to it.
    pub listened: Vec<bool>,
    /// Diagnostics of the rules that did not load.
    pub rejected: Vec<Diagnostic>,
    /// How long loading and compiling took, in milliseconds.
    pub load_ms: u64,
}

/// Loads rule files and folders, applies filters and resolves correlations.
pub fn load(
    paths: &[PathBuf],
    placeholders: Option<&Path>,
) -> Result<(Loaded, Vec<Diagnostic>, CorrelationSet), ServerError> {
    let mut loaded = Loaded::default();
    if let Some(file) = placeholders {
        let text = std::fs::read_to_string(file)
            .map_err(ServerError::io(format!("cannot read {}", file.display())))?;
        loaded.placeholders =
            Placeholders::parse(&text).map_err(|message| ServerError::Config {
                file: file.to_path_buf(),
                message,
            })?;
    }
    for path in paths {
        let what = || format!("cannot read rules from {}", path.display());
        if path.is_dir() {
            load_dir(path, &mut loaded).map_err(ServerError::io(what()))?;
        } else {
            let text = std::fs::read_to_string(path).map_err(ServerError::io(what()))?;
            parse_rules(&text, &path.display().to_string(), &mut loaded);
        }
    }
    let notes = loaded.apply_filters();
    let (correlations, diagnostics) =
        CorrelationSet::new(std::mem::take(&mut loaded.correlations), &loaded.rules);
    loaded.rejected.extend(diagnostics);
    Ok((loaded, notes, correlations))
}

fn meta(
    id: Option<&str>,
    title: &str,
    level: Option<&str>,
    tags: &[String],
    alerts: bool,
) -> RuleMeta {
    RuleMeta {
        id: id.unwrap_or(title).to_owned(),
        title: title.to_owned(),
        level: level.unwrap_or("informational").to_owned(),
        tags: tags.to_vec(),
        alerts,
    }
}

fn build(
    paths: &[PathBuf],
    placeholders: Option<&Path>,
    generation: u64,
) -> Result<RuleBook, ServerError> {
    let start = Instant::now();
    let (loaded, _notes, correlations) = load(paths, placeholders)?;
    let rules: Vec<RuleMeta> = loaded
        .rules
        .iter()
        .enumerate()
        .map(|(i, r)| {
            meta(
                r.id.as_deref(),
                &r.title,
                r.level.as_deref(),
                &r.tags,
                correlations.rule_emitted(i),
            )
        })
        .collect();
    let listened = (0..loaded.rules.len())
        .map(|i| correlations.listens_to(i))
        .collect();
    let correlation_rules = correlations
        .correlations()
        .iter()
        .map(|c| meta(c.id.as_deref(), &c.title, c.level.as_deref(), &c.tags, true))
        .collect();
    let set = Arc::new(RuleSet::new(loaded.rules));
    Ok(RuleBook {
        generation,
        set,
        correlations: Arc::new(correlations),
        rules,
        correlation_rules,
        listened,
        rejected: loaded.rejected,
        load_ms: start.elapsed().as_millis() as u64,
    })
}

/// The current rule book and how to replace it.
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
    pub fn load(paths: Vec<PathBuf>, placeholders: Option<PathBuf>) -> Result<Rules, ServerError> {
        let fingerprint = fingerprint(&paths, placeholders.as_deref());
        let book = build(&paths, placeholders.as_deref(), 1)?;
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
        Arc::clone(&self.current.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// The current generation (one atomic load: workers compare it before each batch).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Loads and compiles the rules again and swaps them in. On error the current book
    /// stays.
    pub fn reload(&self) -> Result<Arc<RuleBook>, ServerError> {
        let _one_at_a_time = self.reloading.lock().unwrap_or_else(|p| p.into_inner());
        let print = fingerprint(&self.paths, self.placeholders.as_deref());
        let book = Arc::new(build(
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
