//! Correlations with their references resolved: to rules of a rule set (by index) and to
//! each other (chains), cycles and dangling references rejected with diagnostics.

use rustc_hash::{FxHashMap, FxHashSet};

use super::Correlation;
use crate::error::{Code, Diagnostic};
use crate::rule::Rule;

/// What feeds a correlation: a rule's match or another correlation's match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Signal {
    /// A rule, by index in the rule set.
    Rule(usize),
    /// A correlation, by index in the [`CorrelationSet`].
    Correlation(usize),
}

/// Resolved correlations, immutable; the state lives in a
/// [`super::CorrelationEngine`].
#[derive(Debug, Default)]
pub struct CorrelationSet {
    pub(super) correlations: Vec<Correlation>,
    /// Per correlation, its inputs in the order of `rules`.
    pub(super) inputs: Vec<Vec<Signal>>,
    /// Per correlation and input, the field holding each `group-by` value (aliases applied).
    pub(super) group_fields: Vec<Vec<Vec<String>>>,
    /// Per rule index, the (correlation, input position) pairs it feeds.
    pub(super) rule_listeners: FxHashMap<usize, Vec<(usize, usize)>>,
    /// Per correlation, the (correlation, input position) pairs it feeds.
    pub(super) correlation_listeners: Vec<Vec<(usize, usize)>>,
    /// Rules whose standalone matches are suppressed (`generate: false`).
    pub(super) suppressed_rules: FxHashSet<usize>,
    /// Per correlation, whether its matches are reported (not an intermediate step).
    pub(super) emitted: Vec<bool>,
}

impl CorrelationSet {
    /// Resolves `correlations` against `rules` (the rule set's rules, whose indices the
    /// engine will be fed). Returns the set and one diagnostic per correlation left out.
    pub fn new(
        correlations: Vec<Correlation>,
        rules: &[Rule],
    ) -> (CorrelationSet, Vec<Diagnostic>) {
        let mut diagnostics = Vec::new();
        // Names and ids of rules and correlations; a name given twice is ambiguous.
        let mut targets: FxHashMap<&str, Vec<Signal>> = FxHashMap::default();
        for (i, r) in rules.iter().enumerate() {
            for key in [r.id.as_deref(), r.name.as_deref()].into_iter().flatten() {
                targets.entry(key).or_default().push(Signal::Rule(i));
            }
        }
        for (i, c) in correlations.iter().enumerate() {
            for key in [c.id.as_deref(), c.name.as_deref()].into_iter().flatten() {
                targets.entry(key).or_default().push(Signal::Correlation(i));
            }
        }
        let diag = |c: &Correlation, message: String| Diagnostic {
            rule_id: c.id.clone(),
            file: c.file.clone(),
            line: c.line,
            code: Code::Correlation,
            message,
        };
        let mut resolved: Vec<Option<Vec<Signal>>> = Vec::with_capacity(correlations.len());
        for c in &correlations {
            let mut inputs = Vec::new();
            let mut failure = None;
            for reference in &c.rules {
                let mut found = targets.get(reference.as_str()).cloned().unwrap_or_default();
                found.dedup();
                match found.as_slice() {
                    [one] => inputs.push(*one),
                    [] => {
                        failure = Some(format!(
                            "'{reference}' names no loaded rule or correlation (by id or name)"
                        ));
                        break;
                    }
                    _ => {
                        failure = Some(format!(
                            "'{reference}' is ambiguous: several rules or correlations have it as id or name"
                        ));
                        break;
                    }
                }
            }
            match failure {
                Some(m) => {
                    diagnostics.push(diag(c, m));
                    resolved.push(None);
                }
                None => resolved.push(Some(inputs)),
            }
        }
        // Cycles: a correlation that reaches itself through its inputs (all found before
        // any is removed, so that each member of a cycle is reported as such).
        let mut cyclic_ones = Vec::new();
        for start in 0..correlations.len() {
            let mut stack: Vec<usize> = vec![start];
            let mut seen = vec![false; correlations.len()];
            let mut cyclic = false;
            while let Some(j) = stack.pop() {
                for s in resolved[j].iter().flatten() {
                    if let Signal::Correlation(k) = *s {
                        if k == start {
                            cyclic = true;
                        } else if !seen[k] {
                            seen[k] = true;
                            stack.push(k);
                        }
                    }
                }
            }
            if cyclic && resolved[start].is_some() {
                cyclic_ones.push(start);
            }
        }
        for j in cyclic_ones {
            diagnostics.push(diag(
                &correlations[j],
                "correlation chain refers back to itself".into(),
            ));
            resolved[j] = None;
        }
        // A correlation fed by a rejected one cannot run either.
        loop {
            let mut changed = false;
            for j in 0..correlations.len() {
                let bad = resolved[j].as_ref().is_some_and(|inputs| {
                    inputs
                        .iter()
                        .any(|s| matches!(s, Signal::Correlation(k) if resolved[*k].is_none()))
                });
                if bad {
                    diagnostics.push(diag(
                        &correlations[j],
                        "it refers to a correlation that was rejected".into(),
                    ));
                    resolved[j] = None;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }

        // Keep the resolved ones, renumbered.
        let mut new_index = vec![usize::MAX; correlations.len()];
        let mut set = CorrelationSet::default();
        for (j, c) in correlations.into_iter().enumerate() {
            if let Some(inputs) = resolved[j].take() {
                new_index[j] = set.correlations.len();
                set.correlations.push(c);
                set.inputs.push(inputs);
            }
        }
        for inputs in &mut set.inputs {
            for s in inputs.iter_mut() {
                if let Signal::Correlation(k) = s {
                    *k = new_index[*k];
                }
            }
        }
        set.correlation_listeners = vec![Vec::new(); set.correlations.len()];
        set.emitted = vec![true; set.correlations.len()];
        let mut rule_generate: FxHashMap<usize, bool> = FxHashMap::default();
        let mut correlation_generate: FxHashMap<usize, bool> = FxHashMap::default();
        for (j, inputs) in set.inputs.iter().enumerate() {
            let generate = set.correlations[j].generate;
            for (position, s) in inputs.iter().enumerate() {
                match *s {
                    Signal::Rule(r) => {
                        set.rule_listeners.entry(r).or_default().push((j, position));
                        *rule_generate.entry(r).or_default() |= generate;
                    }
                    Signal::Correlation(k) => {
                        set.correlation_listeners[k].push((j, position));
                        *correlation_generate.entry(k).or_default() |= generate;
                    }
                }
            }
        }
        for (r, generate) in rule_generate {
            if !generate {
                set.suppressed_rules.insert(r);
            }
        }
        for (k, generate) in correlation_generate {
            set.emitted[k] = generate;
        }
        // The field of each group-by name per input, through aliases.
        for (j, c) in set.correlations.iter().enumerate() {
            let per_input = set.inputs[j]
                .iter()
                .enumerate()
                .map(|(position, s)| {
                    let reference = &c.rules[position];
                    let (id, name) = match *s {
                        Signal::Rule(r) => (rules[r].id.as_deref(), rules[r].name.as_deref()),
                        Signal::Correlation(_) => (None, None),
                    };
                    c.group_by
                        .iter()
                        .map(|g| {
                            c.aliases
                                .iter()
                                .find(|(alias, _)| alias == g)
                                .and_then(|(_, mapping)| {
                                    mapping.iter().find(|(rule, _)| {
                                        rule == reference
                                            || Some(rule.as_str()) == id
                                            || Some(rule.as_str()) == name
                                    })
                                })
                                .map_or_else(|| g.clone(), |(_, field)| field.clone())
                        })
                        .collect()
                })
                .collect();
            set.group_fields.push(per_input);
        }
        (set, diagnostics)
    }

    /// The correlations that resolved.
    pub fn correlations(&self) -> &[Correlation] {
        &self.correlations
    }

    /// Whether rule `index`'s own matches should be reported: `false` when only correlations
    /// with `generate: false` use it.
    pub fn rule_emitted(&self, index: usize) -> bool {
        !self.suppressed_rules.contains(&index)
    }

    /// Whether rule `index` feeds any correlation (callers skip [`super::CorrelationEngine`]
    /// work for the others).
    pub fn listens_to(&self, index: usize) -> bool {
        self.rule_listeners.contains_key(&index)
    }
}
