//! The rules of a hunt: loaded, filtered by `--rule` and `--min-level`, compiled, and
//! annotated with what the report needs (metadata, sort ranks, the writer).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use vigie_sigma::{CorrelationSet, Rule, RuleSet};

use super::detection::{Level, RuleInfo};
use super::output::{Format, Writer};
use crate::rules;

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
    pub(crate) set: Arc<RuleSet>,
    pub(crate) infos: Vec<Arc<RuleInfo>>,
    /// Per rule: its detections are reported (it passes the filters and a correlation with
    /// `generate: false` does not swallow it).
    pub(crate) report: Vec<bool>,
    /// Per rule: a correlation listens to it.
    pub(crate) listened: Vec<bool>,
    /// Per rule: its place in the report order of rules (title, then id).
    pub(crate) rank: Vec<u32>,
    pub(crate) correlations: Arc<CorrelationSet>,
    pub(crate) correlation_infos: Vec<Arc<RuleInfo>>,
    pub(crate) correlation_report: Vec<bool>,
    pub(crate) correlation_rank: Vec<u32>,
    pub(crate) writer: Writer,
    pub(crate) rejected: usize,
    pub(crate) elapsed: Duration,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("rules", &self.infos.len())
            .field("correlations", &self.correlation_infos.len())
            .finish()
    }
}

fn info(id: Option<&str>, title: &str, level: Option<&str>, tags: &[String]) -> Arc<RuleInfo> {
    Arc::new(RuleInfo {
        id: id.unwrap_or("").to_owned(),
        title: title.to_owned(),
        level: Level::of(level),
        tags: tags.to_vec(),
    })
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
    let (loaded, _notes, correlations) = rules::load(selection.paths, selection.placeholders)?;
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
    let infos: Vec<_> = rules
        .iter()
        .map(|r| info(r.id.as_deref(), &r.title, r.level.as_deref(), &r.tags))
        .collect();
    let report: Vec<bool> = rules
        .iter()
        .enumerate()
        .map(|(i, r)| wanted(r.id.as_deref(), r.level.as_deref()) && correlations.rule_emitted(i))
        .collect();
    let listened = (0..rules.len())
        .map(|i| correlations.listens_to(i))
        .collect();
    let correlation_infos: Vec<_> = correlations
        .correlations()
        .iter()
        .map(|c| info(c.id.as_deref(), &c.title, c.level.as_deref(), &c.tags))
        .collect();
    let correlation_report: Vec<bool> = correlations
        .correlations()
        .iter()
        .map(|c| wanted(c.id.as_deref(), c.level.as_deref()))
        .collect();
    // One order over rules and correlations: title, then id.
    let mut order: Vec<(&RuleInfo, bool, usize)> = infos
        .iter()
        .enumerate()
        .map(|(i, r)| (&**r, false, i))
        .chain(
            correlation_infos
                .iter()
                .enumerate()
                .map(|(i, c)| (&**c, true, i)),
        )
        .collect();
    order.sort_by(|a, b| a.0.title.cmp(&b.0.title).then_with(|| a.0.id.cmp(&b.0.id)));
    let mut rank = vec![0u32; infos.len()];
    let mut correlation_rank = vec![0u32; correlation_infos.len()];
    for (place, (_, is_correlation, i)) in order.iter().enumerate() {
        let place = u32::try_from(place).unwrap_or(u32::MAX);
        if *is_correlation {
            correlation_rank[*i] = place;
        } else {
            rank[*i] = place;
        }
    }
    let titles = infos
        .iter()
        .zip(&report)
        .chain(correlation_infos.iter().zip(&correlation_report))
        .filter(|(_, shown)| **shown)
        .map(|(r, _)| r.title.as_str());
    let writer = Writer::new(format, colour, files, titles);
    let set = Arc::new(RuleSet::new(rules));
    Ok(Arc::new(Prepared {
        set,
        infos,
        report,
        listened,
        rank,
        correlations: Arc::new(correlations),
        correlation_infos,
        correlation_report,
        correlation_rank,
        writer,
        rejected,
        elapsed: start.elapsed(),
    }))
}
