//! Rule books: rule files and folders loaded, filtered, compiled, with what an alert needs
//! of each rule.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use vigie_sigma::{
    Correlation, CorrelationSet, Diagnostic, Loaded, Placeholders, Rule, RuleSet, load_dir,
    parse_rules,
};

use crate::{DetectError, Level};

/// What an alert shows of the rule or correlation that raised it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleMeta {
    /// Its `id`, when it has one.
    pub id: Option<String>,
    /// Its `title`.
    pub title: String,
    /// Its level.
    pub level: Level,
    /// Its `tags`.
    pub tags: Vec<String>,
    /// Its `logsource` as `product/category/service` (the parts it names), for readers;
    /// empty for a correlation.
    pub logsource: String,
    /// The file it was read from and the line it starts at: where its text is.
    pub file: String,
    /// 1-based line of the rule in `file`.
    pub line: usize,
    /// Whether its matches become alerts: not when a correlation with `generate: false`
    /// swallows them, nor when the reader asked for other rules or a higher level
    /// (`vigie hunt --rule`, `--min-level`).
    pub alerts: bool,
}

impl RuleMeta {
    fn of_rule(rule: &Rule, alerts: bool) -> RuleMeta {
        RuleMeta {
            id: rule.id.clone(),
            title: rule.title.clone(),
            level: Level::of(rule.level.as_deref()),
            tags: rule.tags.clone(),
            logsource: [
                &rule.logsource.product,
                &rule.logsource.category,
                &rule.logsource.service,
            ]
            .into_iter()
            .flatten()
            .cloned()
            .collect::<Vec<_>>()
            .join("/"),
            file: rule.file.clone(),
            line: rule.line,
            alerts,
        }
    }

    fn of_correlation(c: &Correlation, alerts: bool) -> RuleMeta {
        RuleMeta {
            id: c.id.clone(),
            title: c.title.clone(),
            level: Level::of(c.level.as_deref()),
            tags: c.tags.clone(),
            logsource: String::new(),
            file: c.file.clone(),
            line: c.line,
            alerts,
        }
    }

    /// The id an alert is filed under: the rule's id, or its title when it has none.
    pub fn alert_id(&self) -> &str {
        self.id.as_deref().unwrap_or(&self.title)
    }
}

/// Rule files and folders, parsed: the rules, the notes of applying the filters, and the
/// correlations resolved against the rules.
#[derive(Debug)]
pub struct LoadedRules {
    /// The rules (their filters applied) and the diagnostics of those that did not load.
    pub loaded: Loaded,
    /// What applying the filters did (a filter that names no loaded rule, …).
    pub notes: Vec<Diagnostic>,
    /// The correlations, resolved against `loaded.rules`.
    pub correlations: CorrelationSet,
}

/// Loads rule files and folders (and a placeholders file), applies the filters and
/// resolves the correlations. A rule that does not parse is a diagnostic in
/// `loaded.rejected`, not an error: only unreadable paths are.
pub fn load(paths: &[PathBuf], placeholders: Option<&Path>) -> Result<LoadedRules, DetectError> {
    let mut loaded = Loaded::default();
    if let Some(file) = placeholders {
        let text = std::fs::read_to_string(file).map_err(|source| DetectError::Read {
            path: file.to_path_buf(),
            source,
        })?;
        loaded.placeholders =
            Placeholders::parse(&text).map_err(|e| DetectError::Placeholders {
                file: file.to_path_buf(),
                message: e.to_string(),
            })?;
    }
    for path in paths {
        let read = |source| DetectError::Read {
            path: path.clone(),
            source,
        };
        if path.is_dir() {
            load_dir(path, &mut loaded).map_err(read)?;
        } else {
            let text = std::fs::read_to_string(path).map_err(read)?;
            parse_rules(&text, &path.display().to_string(), &mut loaded);
        }
    }
    let notes = loaded.apply_filters();
    let (correlations, diagnostics) =
        CorrelationSet::new(std::mem::take(&mut loaded.correlations), &loaded.rules);
    loaded.rejected.extend(diagnostics);
    Ok(LoadedRules {
        loaded,
        notes,
        correlations,
    })
}

/// One consistent generation of rules: the compiled set, the correlations resolved against
/// it (they refer to rules by index) and the metadata of each.
///
/// Matches from one book must only feed the correlations of the same book: the pipeline
/// compares [`RuleBook::generation`] and drops (and counts) stale matches.
#[derive(Debug)]
pub struct RuleBook {
    /// The generation (1, 2, …; the hunt has one).
    pub generation: u64,
    /// The compiled detection rules.
    pub set: Arc<RuleSet>,
    /// The correlations, resolved against `set`.
    pub correlations: Arc<CorrelationSet>,
    /// Per rule of `set`.
    pub rules: Vec<Arc<RuleMeta>>,
    /// Per correlation.
    pub correlation_rules: Vec<Arc<RuleMeta>>,
    /// Per rule of `set`: a correlation listens to it.
    pub listened: Vec<bool>,
    /// Diagnostics of the rules that did not load.
    pub rejected: Vec<Diagnostic>,
    /// How long loading and compiling took, in milliseconds.
    pub load_ms: u64,
}

impl RuleBook {
    /// Compiles `rules` and `correlations` (resolved against `rules`) into generation
    /// `generation`. `wanted` says, from a rule's metadata, whether the reader wants its
    /// alerts at all; a rule whose matches a correlation swallows never alerts.
    pub fn new(
        generation: u64,
        rules: Vec<Rule>,
        correlations: CorrelationSet,
        rejected: Vec<Diagnostic>,
        wanted: impl Fn(&RuleMeta) -> bool,
        started: Instant,
    ) -> RuleBook {
        let metas = rules
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let mut meta = RuleMeta::of_rule(r, true);
                meta.alerts = wanted(&meta) && correlations.rule_emitted(i);
                Arc::new(meta)
            })
            .collect();
        let listened = (0..rules.len())
            .map(|i| correlations.listens_to(i))
            .collect();
        let correlation_rules = correlations
            .correlations()
            .iter()
            .map(|c| {
                let mut meta = RuleMeta::of_correlation(c, true);
                meta.alerts = wanted(&meta);
                Arc::new(meta)
            })
            .collect();
        RuleBook {
            generation,
            set: Arc::new(RuleSet::new(rules)),
            correlations: Arc::new(correlations),
            rules: metas,
            correlation_rules,
            listened,
            rejected,
            load_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        }
    }

    /// Loads every rule of `paths` into generation `generation`, all of them alerting.
    pub fn load(
        paths: &[PathBuf],
        placeholders: Option<&Path>,
        generation: u64,
    ) -> Result<RuleBook, DetectError> {
        let started = Instant::now();
        let source = load(paths, placeholders)?;
        Ok(RuleBook::new(
            generation,
            source.loaded.rules,
            source.correlations,
            source.loaded.rejected,
            |_| true,
            started,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: &str = "\
title: Whoami
id: 11111111-1111-1111-1111-111111111111
level: High
tags: [attack.discovery]
logsource: {product: windows}
detection:
  s: {Image|endswith: whoami.exe}
  condition: s
---
title: No id, odd level
level: severe
logsource: {product: windows}
detection:
  s: {Image|endswith: '\\net.exe'}
  condition: s
---
title: Many whoami
id: 22222222-2222-2222-2222-222222222222
correlation:
  type: event_count
  rules: [11111111-1111-1111-1111-111111111111]
  group-by: [Computer]
  timespan: 1m
  condition: {gte: 3}
  generate: false
level: critical
";

    fn book(wanted: impl Fn(&RuleMeta) -> bool) -> RuleBook {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("r.yml"), RULES).unwrap();
        let source = load(&[dir.path().to_path_buf()], None).unwrap();
        RuleBook::new(
            7,
            source.loaded.rules,
            source.correlations,
            source.loaded.rejected,
            wanted,
            Instant::now(),
        )
    }

    #[test]
    fn metadata_levels_ids_and_who_alerts() {
        let b = book(|_| true);
        assert_eq!(b.generation, 7);
        assert_eq!(b.rules.len(), 2);
        let whoami = &b.rules[0];
        assert_eq!(whoami.level, Level::High);
        assert_eq!(whoami.alert_id(), "11111111-1111-1111-1111-111111111111");
        assert_eq!(whoami.tags, ["attack.discovery"]);
        // Listened to by a correlation with `generate: false`: no alert of its own.
        assert!(!whoami.alerts);
        assert!(b.listened[0]);
        let net = &b.rules[1];
        assert_eq!(net.level, Level::Informational);
        assert_eq!(net.alert_id(), "No id, odd level");
        assert!(net.alerts && !b.listened[1]);
        assert_eq!(b.correlation_rules.len(), 1);
        assert_eq!(b.correlation_rules[0].level, Level::Critical);
        assert!(b.correlation_rules[0].alerts);
    }

    #[test]
    fn the_reader_chooses_what_alerts() {
        let b = book(|m| m.level >= Level::High);
        assert!(!b.rules[1].alerts, "informational is below high");
        assert!(b.correlation_rules[0].alerts);
    }

    #[test]
    fn an_unreadable_path_is_an_error_naming_it() {
        let e = RuleBook::load(&[PathBuf::from("/nonexistent/rules.yml")], None, 1)
            .expect_err("cannot read");
        assert!(e.to_string().contains("/nonexistent/rules.yml"), "{e}");
    }
}
