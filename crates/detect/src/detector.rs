//! The detection stage: an event in, the rules it hits out.

use std::sync::Arc;

use vigie_event::Event;
use vigie_sigma::RuleMatcher;

use crate::{Alert, RuleBook};

/// Runs one [`RuleBook`] over events, one per worker thread (it keeps per-thread match
/// state). Today Sigma rules; indicator matching (`vigie-intel`) joins here.
#[derive(Debug)]
pub struct Detector {
    book: Arc<RuleBook>,
    matcher: RuleMatcher,
    hits: Vec<usize>,
}

/// The rules one event hit, in the book's order.
#[derive(Debug)]
pub struct Hits<'a> {
    book: &'a RuleBook,
    rules: &'a [usize],
}

impl Detector {
    /// A detector of `book`.
    pub fn new(book: Arc<RuleBook>) -> Detector {
        let matcher = RuleMatcher::new(Arc::clone(&book.set));
        Detector {
            book,
            matcher,
            hits: Vec::new(),
        }
    }

    /// The book it runs.
    pub fn book(&self) -> &Arc<RuleBook> {
        &self.book
    }

    /// Switches to `book` (a reload), dropping the match state of the old one.
    pub fn set_book(&mut self, book: Arc<RuleBook>) {
        *self = Detector::new(book);
    }

    /// Matches `event`.
    pub fn detect(&mut self, event: &Event) -> Hits<'_> {
        self.hits.clear();
        let hits = &mut self.hits;
        self.matcher.for_each_match(event, |r| hits.push(r));
        Hits {
            book: &self.book,
            rules: &self.hits,
        }
    }
}

impl Hits<'_> {
    /// Whether no rule matched.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Every rule that matched (indexes into the book's `rules`).
    pub fn rules(&self) -> &[usize] {
        self.rules
    }

    /// The rules whose matches become alerts.
    pub fn alerting(&self) -> impl Iterator<Item = usize> + '_ {
        self.rules
            .iter()
            .copied()
            .filter(|&r| self.book.rules[r].alerts)
    }

    /// The rules a correlation listens to: the event must go on to the correlation step.
    pub fn listened(&self) -> impl Iterator<Item = usize> + '_ {
        self.rules
            .iter()
            .copied()
            .filter(|&r| self.book.listened[r])
    }

    /// The alerts of `event` (the event these hits are of).
    pub fn alerts<'e>(&'e self, event: &'e Event) -> impl Iterator<Item = Alert> + 'e {
        self.alerting()
            .map(move |r| Alert::of_match(self.book, r, event))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use vigie_event::{Decoder, Origin, Source, SourceKind, TenantId};

    use super::*;
    use crate::{AlertKind, Level};

    const RULES: &str = "\
title: Whoami
id: 11111111-1111-1111-1111-111111111111
level: high
logsource: {product: windows}
detection:
  s: {Image|endswith: whoami.exe}
  condition: s
---
title: Count
correlation:
  type: event_count
  rules: [11111111-1111-1111-1111-111111111111]
  group-by: [Computer]
  timespan: 1m
  condition: {gte: 2}
  generate: true
";

    #[test]
    fn an_event_yields_its_alerts_and_goes_on_to_correlations() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("r.yml"), RULES).unwrap();
        let source = crate::load(&[dir.path().to_path_buf()], None).unwrap();
        let book = Arc::new(RuleBook::new(
            1,
            source.loaded.rules,
            source.correlations,
            Vec::new(),
            |_| true,
            Instant::now(),
        ));
        let mut d = Decoder::new(Origin::new(
            TenantId::new("t").unwrap(),
            Source::new(SourceKind::File, "f"),
        ));
        let event = d
            .decode_json(bytes::Bytes::from_static(
                br##"{"Event":{"System":{"Provider":{"#attributes":{"Name":"Microsoft-Windows-Sysmon"}},"EventID":1,"Channel":"Microsoft-Windows-Sysmon/Operational","Computer":"ws1"},"EventData":{"Image":"C:\\Windows\\System32\\whoami.exe"}}}"##,
            ))
            .unwrap();
        let mut detector = Detector::new(Arc::clone(&book));
        let hits = detector.detect(&event);
        assert_eq!(hits.rules(), [0]);
        assert_eq!(hits.listened().collect::<Vec<_>>(), [0]);
        let mut alerts: Vec<Alert> = hits.alerts(&event).collect();
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].kind, AlertKind::Rule);
        assert_eq!(alerts[0].rule.level, Level::High);
        assert_eq!(alerts[0].event_id, Some(event.id));
        assert_eq!(
            alerts[0].take_matched_json()["Image"],
            "C:\\Windows\\System32\\whoami.exe"
        );
        let mut engine =
            vigie_sigma::CorrelationEngine::new(Arc::clone(&book.correlations), Default::default());
        let mut found = Vec::new();
        engine.on_rule_match(0, &event, &mut found);
        engine.on_rule_match(0, &event, &mut found);
        assert_eq!(found.len(), 1);
        let mut a = Alert::of_correlation(&book, &event.tenant, found.remove(0));
        assert_eq!(a.kind, AlertKind::Correlation);
        let stored = a.take_matched_json();
        assert_eq!(stored["value"].to_string(), "2", "a count is an integer");
        assert_eq!(stored["Computer"], "ws1");
        assert_eq!(stored["events"].as_array().unwrap().len(), 2);
    }
}
