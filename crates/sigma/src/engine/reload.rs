//! Hot reload: the current rule set behind a lock taken only to clone an `Arc`, and a
//! generation number that workers compare (one atomic load) before each batch.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use super::{RuleMatcher, RuleSet};

/// The rule set workers match with, replaceable while they run.
///
/// A reload builds the new [`RuleSet`] off to the side (compiling takes a fraction of a
/// second) and swaps it in one step: an event is matched entirely by the old set or entirely
/// by the new one, never by a mix. Workers holding a [`RuleMatcher`] call
/// [`Reloadable::refresh`] between batches; it replaces their matcher only when the
/// generation changed.
#[derive(Debug)]
pub struct Reloadable {
    current: RwLock<Arc<RuleSet>>,
    generation: AtomicU64,
}

impl Reloadable {
    /// Starts with `set` as generation 1.
    pub fn new(set: RuleSet) -> Reloadable {
        Reloadable {
            current: RwLock::new(Arc::new(set)),
            generation: AtomicU64::new(1),
        }
    }

    /// The current set.
    pub fn current(&self) -> Arc<RuleSet> {
        // A poisoned lock only means a thread panicked while swapping an Arc, which leaves
        // the Arc itself intact.
        Arc::clone(&self.current.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// The number of the current set; it grows by one at each [`Reloadable::swap`].
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Replaces the set; returns the new generation.
    pub fn swap(&self, set: RuleSet) -> u64 {
        let mut current = self.current.write().unwrap_or_else(|p| p.into_inner());
        *current = Arc::new(set);
        self.generation.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// A matcher of the current set, with the generation it belongs to.
    pub fn matcher(&self) -> (u64, RuleMatcher) {
        let current = self.current.read().unwrap_or_else(|p| p.into_inner());
        (self.generation(), RuleMatcher::new(Arc::clone(&current)))
    }

    /// Replaces `matcher` when the set changed since `generation`; returns whether it did.
    pub fn refresh(&self, generation: &mut u64, matcher: &mut RuleMatcher) -> bool {
        if self.generation() == *generation {
            return false;
        }
        let (g, m) = self.matcher();
        *generation = g;
        *matcher = m;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::{Loaded, parse_rules};

    fn set(title: &str) -> RuleSet {
        let mut loaded = Loaded::default();
        let text = format!(
            "title: {title}\nlogsource: {{}}\ndetection:\n  s:\n    Image: x\n  condition: s\n"
        );
        parse_rules(&text, "t.yml", &mut loaded);
        RuleSet::new(loaded.rules)
    }

    #[test]
    fn workers_see_a_swap_at_their_next_refresh() {
        let shared = Arc::new(Reloadable::new(set("old")));
        let (mut generation, mut matcher) = shared.matcher();
        assert!(!shared.refresh(&mut generation, &mut matcher));
        let worker = {
            let shared = Arc::clone(&shared);
            // Taken before the swap, so that the worker must see it.
            let (mut generation, mut matcher) = shared.matcher();
            std::thread::spawn(move || {
                while !shared.refresh(&mut generation, &mut matcher) {
                    std::thread::yield_now();
                }
                matcher.rule_set().rules()[0].title.clone()
            })
        };
        assert_eq!(shared.swap(set("new")), 2);
        assert_eq!(worker.join().unwrap(), "new");
        assert!(shared.refresh(&mut generation, &mut matcher));
        assert_eq!(generation, 2);
        assert_eq!(matcher.rule_set().rules()[0].title, "new");
    }
}
