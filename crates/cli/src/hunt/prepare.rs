//! The rules of a hunt: loaded, filtered by `--rule` and `--min-level`, compiled, and
//! annotated with what the report needs (metadata, sort ranks, the writer).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use vigie_detect::{Level, RuleBook, RuleMeta};
use vigie_sigma::{CorrelationSet, Rule};

use super::output::{Format, Writer};

/// What the user asked to run.
#[derive(Debug)]
pub(crate) struct Selection<'a> {
    pub(crate) paths: &'a [PathBuf],
    pub(crate) placeholders: Option<&'a Path>,
    pub(crate) rule_ids: &'a [String],
    pub(crate) min_level: Option<Level>,
}

/// The rules, compiled and annotated for reporting.
pub(crate) struct Prepared {
    /// The rules and correlations; a rule `alerts` when its detections are reported (it
    /// passes `--rule` and `--min-level` and no correlation with `generate: false`
    /// swallows it).
    pub(crate) book: Arc<RuleBook>,
    /// Per rule: its place in the report order of rules (title, then id).
    pub(crate) rank: Vec<u32>,
    /// Per correlation: its place in the same order.
    pub(crate) correlation_rank: Vec<u32>,
    pub(crate) writer: Writer,
    pub(crate) rejected: usize,
    pub(crate) elapsed: Duration,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("rules", &self.book.rules.len())
            .field("correlations", &self.book.correlation_rules.len())
            .finish()
    }
}

/// Loads the rules, applies `--rule` and `--min-level`, compiles.
///
/// A rule that fails the filters is still compiled when a correlation listens to it (a
/// high-level correlation over low-level rules needs them), but its own detections are not
/// reported.
pub(crate) fn prepare(
    selection: &Selection<'_>,
    format: Format,
    colour: bool,
    files: Arc<[String]>,
) -> Result<Arc<Prepared>> {
    let start = Instant::now();
    let source = vigie_detect::load(selection.paths, selection.placeholders)?;
    let (loaded, correlations) = (source.loaded, source.correlations);
    let min = selection.min_level.unwrap_or(Level::Informational);
    let ids = selection.rule_ids;
    for id in ids {
        let known = loaded.rules.iter().any(|r| r.id.as_deref() == Some(id))
            || correlations
                .correlations()
                .iter()
                .any(|c| c.id.as_deref() == Some(id));
        anyhow::ensure!(
            known,
            "--rule {id}: no rule or correlation with this id among the {} loaded",
            loaded.rules.len() + correlations.correlations().len()
        );
    }
    let wanted = |id: Option<&str>, level: Option<&str>| {
        Level::of(level) >= min
            && (ids.is_empty() || id.is_some_and(|id| ids.iter().any(|r| r == id)))
    };
    let rejected = loaded.rejected.len();
    let filtered = selection.min_level.is_some() || !ids.is_empty();
    let (rules, correlations): (Vec<Rule>, CorrelationSet) = if filtered {
        let mut kept = Vec::new();
        for (i, rule) in loaded.rules.into_iter().enumerate() {
            if wanted(rule.id.as_deref(), rule.level.as_deref()) || correlations.listens_to(i) {
                kept.push(rule);
            }
        }
        // Rule indexes changed: resolve the correlations again against the rules kept.
        let (set, diagnostics) = CorrelationSet::new(correlations.correlations().to_vec(), &kept);
        if let Some(d) = diagnostics.first() {
            anyhow::bail!("correlations no longer resolve once rules are filtered: {d}");
        }
        (kept, set)
    } else {
        (loaded.rules, correlations)
    };
    let wanted_meta = |m: &RuleMeta| wanted(m.id.as_deref(), Some(m.level.as_str()));
    let book = RuleBook::new(1, rules, correlations, Vec::new(), wanted_meta, start);
    // One order over rules and correlations: title, then id.
    let id = |m: &RuleMeta| m.id.clone().unwrap_or_default();
    let mut order: Vec<(&RuleMeta, bool, usize)> = book
        .rules
        .iter()
        .enumerate()
        .map(|(i, r)| (&**r, false, i))
        .chain(
            book.correlation_rules
                .iter()
                .enumerate()
                .map(|(i, c)| (&**c, true, i)),
        )
        .collect();
    order.sort_by(|a, b| {
        a.0.title
            .cmp(&b.0.title)
            .then_with(|| id(a.0).cmp(&id(b.0)))
    });
    let mut rank = vec![0u32; book.rules.len()];
    let mut correlation_rank = vec![0u32; book.correlation_rules.len()];
    for (place, (_, is_correlation, i)) in order.iter().enumerate() {
        let place = u32::try_from(place).unwrap_or(u32::MAX);
        if *is_correlation {
            correlation_rank[*i] = place;
        } else {
            rank[*i] = place;
        }
    }
    let titles = book
        .rules
        .iter()
        .chain(&book.correlation_rules)
        .filter(|r| r.alerts)
        .map(|r| r.title.as_str());
    let writer = Writer::new(format, colour, files, titles);
    Ok(Arc::new(Prepared {
        book: Arc::new(book),
        rank,
        correlation_rank,
        writer,
        rejected,
        elapsed: start.elapsed(),
    }))
}
