//! A worker's view of the tenants' suppressions (`vigie_detect::suppress`): the current
//! map, and one matcher per tenant that has suppressions (matchers keep caches between
//! events). Refreshed when the generation changes (one atomic load a record).

use std::collections::HashMap;
use std::sync::Arc;

use vigie_detect::suppress::{Suppressions, TenantSuppressions};
use vigie_event::{Event, TenantId, Timestamp};
use vigie_sigma::RuleMatcher;

/// Matchers kept at most; past it they are dropped (rebuilding one is cheap).
const MAX_MATCHERS: usize = 256;

pub(super) struct Suppress {
    generation: u64,
    book: Arc<HashMap<TenantId, Arc<TenantSuppressions>>>,
    matchers: HashMap<TenantId, RuleMatcher>,
}

impl Suppress {
    pub(super) fn new(all: &Suppressions) -> Suppress {
        Suppress {
            generation: all.generation(),
            book: all.current(),
            matchers: HashMap::new(),
        }
    }

    /// Takes the current suppressions when they changed.
    pub(super) fn refresh(&mut self, all: &Suppressions) {
        if all.generation() != self.generation {
            *self = Suppress::new(all);
        }
    }

    /// The id of the suppression that keeps an alert of `rule` on `event` from being
    /// raised now, if one does.
    pub(super) fn check(&mut self, rule: &str, event: &Event, now: Timestamp) -> Option<i64> {
        let tenant = self.book.get(&event.tenant)?;
        if !tenant.targets(rule, now) {
            return None;
        }
        if self.matchers.len() >= MAX_MATCHERS && !self.matchers.contains_key(&event.tenant) {
            self.matchers.clear();
        }
        let matcher = self
            .matchers
            .entry(event.tenant.clone())
            .or_insert_with(|| tenant.matcher());
        tenant
            .suppressing(matcher, rule, event, now)
            .and_then(|id| id.parse().ok())
    }
}
