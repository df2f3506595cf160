//! The correlation step: per tenant, one correlation engine of the current rule generation,
//! fed in journal order by the coordinator.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use vigie_detect::{Alert, RuleBook};
use vigie_event::{Event, TenantId};
use vigie_sigma::{CorrelationEngine, CorrelationMatch, Limits};
use vigie_state::NewAlert;

use super::Parts;
use super::worker::alert_record;

/// Correlation engines per tenant, of one rule generation.
pub(super) struct Correlations {
    book: Arc<RuleBook>,
    engines: HashMap<TenantId, CorrelationEngine>,
    found: Vec<CorrelationMatch>,
}

impl Correlations {
    /// Engines of `book` (created per tenant as its events arrive).
    pub(super) fn new(book: Arc<RuleBook>) -> Correlations {
        Correlations {
            book,
            engines: HashMap::new(),
            found: Vec::new(),
        }
    }

    /// Feeds the events of one record, matched with rule generation `generation`, and pushes
    /// the alerts of the correlations they complete. Events of an older generation than the
    /// current rules are dropped and counted: their rule indexes mean other rules now.
    pub(super) fn feed(
        &mut self,
        parts: &Parts,
        generation: u64,
        events: &[(Vec<usize>, Event)],
        alerts: &mut Vec<NewAlert>,
    ) {
        if parts.rules.generation() != self.book.generation {
            self.book = parts.rules.current();
            for engine in self.engines.values_mut() {
                engine.reload(Arc::clone(&self.book.correlations));
            }
        }
        if generation != self.book.generation {
            parts
                .metrics
                .pipeline
                .stale_matches
                .fetch_add(events.len() as u64, Ordering::Relaxed);
            return;
        }
        for (rules, event) in events {
            let engine = self.engines.entry(event.tenant.clone()).or_insert_with(|| {
                CorrelationEngine::new(Arc::clone(&self.book.correlations), Limits::default())
            });
            for &rule in rules {
                engine.on_rule_match(rule, event, &mut self.found);
            }
            for m in self.found.drain(..) {
                alerts.push(alert_record(
                    Alert::of_correlation(&self.book, &event.tenant, m),
                    event,
                ));
            }
        }
    }
}
