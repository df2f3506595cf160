//! Per-tenant suppressions (issue 27): Sigma filter documents a tenant owns, which keep a
//! shared rule's matches from becoming alerts on that tenant without editing the rule.
//!
//! Semantics are the standard's (and pySigma's): a filter's condition is AND-ed to the
//! rule's, so an exclusion says `condition: not selection`. An alert of a rule the filter
//! lists is therefore **suppressed when the filter's condition is false** on its event.
//!
//! Decisions:
//! - A suppression names its rules by id (`rules:` a list; `rules: any` is refused: a tenant
//!   tunes a rule, it does not switch detection off wholesale). Its `logsource` is read but
//!   the filter is evaluated on the alert's event whatever it says: the rule it targets
//!   already chose the events.
//! - Only single-event rule alerts are suppressed; a correlation's alert stands (its
//!   events were each matched already).
//! - An expired suppression no longer applies (checked at each evaluation, against the
//!   clock, not the event's time: expiry is a decision about now).
//! - A document is at most [`MAX_DOCUMENT`] bytes and a tenant has at most
//!   [`MAX_PER_TENANT`] active suppressions, so that a tenant cannot make every event's
//!   evaluation slow for others (the evaluation runs only for that tenant's alerts).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use vigie_event::{Event, TenantId, Timestamp};
use vigie_sigma::filter::{Filter, Targets};
use vigie_sigma::rule::RuleLogSource;
use vigie_sigma::{Loaded, Rule, RuleMatcher, RuleSet, parse_rules};

/// The largest suppression document, in bytes.
pub const MAX_DOCUMENT: usize = 64 * 1024;

/// The most active suppressions of one tenant.
pub const MAX_PER_TENANT: usize = 500;

/// The rules named by one document, at most.
pub const MAX_RULES: usize = 100;

/// A suppression document, read: the filter and the rule ids it applies to.
#[derive(Clone, Debug)]
pub struct Parsed {
    /// The filter's title.
    pub title: String,
    /// The rule ids it applies to.
    pub rules: Vec<String>,
    filter: Filter,
}

/// Reads a suppression document: one Sigma filter with `rules:` naming rule ids. The error
/// names the line when the YAML or the filter is wrong.
pub fn parse(text: &str) -> Result<Parsed, String> {
    if text.len() > MAX_DOCUMENT {
        return Err(format!(
            "the document has {} bytes: at most {MAX_DOCUMENT}",
            text.len()
        ));
    }
    let mut loaded = Loaded::default();
    parse_rules(text, "suppression", &mut loaded);
    if let Some(d) = loaded.rejected.first() {
        return Err(format!("line {}: {}", d.line, d.message));
    }
    if !loaded.rules.is_empty() || !loaded.correlations.is_empty() {
        return Err("a suppression is a Sigma filter document (with `filter:`), not a rule".into());
    }
    let mut filters = loaded.filters.into_iter();
    let (Some(filter), None) = (filters.next(), filters.next()) else {
        return Err("a suppression is exactly one Sigma filter document".into());
    };
    let rules = match &filter.targets {
        Targets::Any => {
            return Err(
                "line 1: `rules: any` is refused: a suppression names the rules it tunes".into(),
            );
        }
        Targets::Rules(r) => r.clone(),
    };
    if rules.is_empty() || rules.len() > MAX_RULES {
        return Err(format!(
            "a suppression names 1 to {MAX_RULES} rules (it names {})",
            rules.len()
        ));
    }
    Ok(Parsed {
        title: filter.title.clone(),
        rules,
        filter,
    })
}

impl Parsed {
    /// The filter as a rule of its own: its condition, evaluated on any event.
    fn as_rule(&self, index: usize) -> Rule {
        Rule {
            id: Some(format!("suppression-{index}")),
            name: None,
            title: self.filter.title.clone(),
            level: None,
            tags: Vec::new(),
            logsource: RuleLogSource::default(),
            detections: self.filter.detections.clone(),
            condition: self.filter.condition.clone(),
            file: self.filter.file.clone(),
            line: self.filter.line,
        }
    }
}

/// One active suppression as the pipeline applies it.
#[derive(Clone, Debug)]
pub struct Active {
    /// Its id (the state's).
    pub id: String,
    /// When it stops applying.
    pub expires: Timestamp,
    /// Its document, read.
    pub parsed: Parsed,
}

/// One tenant's active suppressions, compiled.
#[derive(Debug)]
pub struct TenantSuppressions {
    set: Arc<RuleSet>,
    entries: Vec<Active>,
    by_rule: HashMap<String, Vec<usize>>,
}

impl TenantSuppressions {
    /// Compiles `active` (at most [`MAX_PER_TENANT`]; the rest are left out, newest last).
    pub fn new(mut active: Vec<Active>) -> TenantSuppressions {
        active.truncate(MAX_PER_TENANT);
        let rules = active
            .iter()
            .enumerate()
            .map(|(i, a)| a.parsed.as_rule(i))
            .collect();
        let mut by_rule: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, a) in active.iter().enumerate() {
            for r in &a.parsed.rules {
                by_rule.entry(r.clone()).or_default().push(i);
            }
        }
        TenantSuppressions {
            set: Arc::new(RuleSet::new(rules)),
            entries: active,
            by_rule,
        }
    }

    /// A matcher of these suppressions (one per thread; it keeps caches between events).
    pub fn matcher(&self) -> RuleMatcher {
        RuleMatcher::new(Arc::clone(&self.set))
    }

    /// Whether some suppression of `rule` applies at `now`: the cheap test before the
    /// evaluation.
    pub fn targets(&self, rule: &str, now: Timestamp) -> bool {
        self.by_rule
            .get(rule)
            .is_some_and(|list| list.iter().any(|&i| self.entries[i].expires > now))
    }

    /// The id of the suppression that keeps an alert of `rule` on `event` from being
    /// raised at `now`, if one does. `matcher` must be this set's ([`Self::matcher`]).
    pub fn suppressing(
        &self,
        matcher: &mut RuleMatcher,
        rule: &str,
        event: &Event,
        now: Timestamp,
    ) -> Option<&str> {
        let candidates = self.by_rule.get(rule)?;
        let live: Vec<usize> = candidates
            .iter()
            .copied()
            .filter(|&i| self.entries[i].expires > now)
            .collect();
        if live.is_empty() {
            return None;
        }
        let holds = matcher.matches(event);
        live.into_iter()
            .find(|i| holds.binary_search(i).is_err())
            .map(|i| self.entries[i].id.as_str())
    }

    /// How many suppressions are compiled.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Every tenant's suppressions, swapped per tenant as they change; workers compare
/// [`Suppressions::generation`] (one atomic load) before each batch.
#[derive(Debug, Default)]
pub struct Suppressions {
    tenants: RwLock<Arc<HashMap<TenantId, Arc<TenantSuppressions>>>>,
    generation: AtomicU64,
}

impl Suppressions {
    /// The current map (tenants without suppressions are absent).
    pub fn current(&self) -> Arc<HashMap<TenantId, Arc<TenantSuppressions>>> {
        Arc::clone(&self.tenants.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// The generation (changes with every replacement).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Replaces `tenant`'s suppressions with `active`.
    pub fn replace(&self, tenant: &TenantId, active: Vec<Active>) {
        let compiled = (!active.is_empty()).then(|| Arc::new(TenantSuppressions::new(active)));
        let mut guard = self.tenants.write().unwrap_or_else(|p| p.into_inner());
        let mut next = HashMap::clone(&guard);
        match compiled {
            Some(c) => next.insert(tenant.clone(), c),
            None => next.remove(tenant),
        };
        *guard = Arc::new(next);
        self.generation.fetch_add(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use vigie_event::{Decoder, Origin, Source, SourceKind};

    use super::*;

    fn sysmon_process(image: &str) -> Event {
        let mut d = Decoder::new(Origin::new(
            TenantId::new("t").unwrap(),
            Source::new(SourceKind::File, "f"),
        ));
        let json = serde_json::json!({"Event": {"System": {
            "Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon"}},
            "EventID": 1, "Channel": "Microsoft-Windows-Sysmon/Operational", "Computer": "ws1"},
            "EventData": {"Image": image}}});
        d.decode_json(bytes::Bytes::from(json.to_string())).unwrap()
    }

    const DOC: &str = "title: backup agent is not lateral movement
logsource:
  product: windows
filter:
  rules:
    - rule-a
  selection:
    Image|endswith: '\\backup.exe'
  condition: not selection
";

    fn active(id: &str, text: &str, expires: i64) -> Active {
        Active {
            id: id.to_owned(),
            expires: Timestamp::from_nanos(expires),
            parsed: parse(text).expect("parses"),
        }
    }

    #[test]
    fn documents_are_read_and_checked() {
        let p = parse(DOC).expect("a filter");
        assert_eq!(p.rules, ["rule-a"]);
        assert_eq!(p.title, "backup agent is not lateral movement");
        let any = DOC.replace("rules:\n    - rule-a", "rules: any");
        assert!(parse(&any).unwrap_err().contains("rules: any"));
        let rule = "title: r\nlogsource: {}\ndetection:\n  s:\n    a: b\n  condition: s\n";
        assert!(parse(rule).unwrap_err().contains("not a rule"));
        let two = format!("{DOC}---\n{DOC}");
        assert!(parse(&two).unwrap_err().contains("exactly one"));
        let bad = "title: x\nfilter:\n  rules: [a]\n  selection:\n    a: [\n";
        assert!(
            parse(bad).unwrap_err().starts_with("line "),
            "{:?}",
            parse(bad)
        );
        assert!(parse("").is_err());
        let big = format!("{DOC}#{}", "x".repeat(MAX_DOCUMENT));
        assert!(parse(&big).unwrap_err().contains("bytes"));
        let at_bound = format!("{DOC}#{}", "x".repeat(MAX_DOCUMENT - DOC.len() - 1));
        assert_eq!(at_bound.len(), MAX_DOCUMENT);
        assert!(parse(&at_bound).is_ok(), "a document of exactly the bound");
        let most: Vec<String> = (0..MAX_RULES).map(|i| format!("    - r{i}")).collect();
        let most = DOC.replace("    - rule-a", &most.join("\n"));
        assert_eq!(parse(&most).expect("the most rules").rules.len(), MAX_RULES);
        let many: Vec<String> = (0..=MAX_RULES).map(|i| format!("    - r{i}")).collect();
        let many = DOC.replace("    - rule-a", &many.join("\n"));
        assert!(parse(&many).unwrap_err().contains("1 to"));
    }

    #[test]
    fn the_filter_keeps_what_its_condition_holds_for() {
        let t = TenantSuppressions::new(vec![active("s1", DOC, i64::MAX)]);
        let mut m = t.matcher();
        let now = Timestamp::from_nanos(0);
        let backup = sysmon_process(r"C:\Tools\backup.exe");
        let other = sysmon_process(r"C:\Windows\System32\cmd.exe");
        assert!(t.targets("rule-a", now));
        assert!(!t.targets("rule-b", now));
        assert_eq!(t.suppressing(&mut m, "rule-a", &backup, now), Some("s1"));
        assert_eq!(t.suppressing(&mut m, "rule-a", &other, now), None);
        // Not another rule's alert.
        assert_eq!(t.suppressing(&mut m, "rule-b", &backup, now), None);
        // Not once expired.
        let t = TenantSuppressions::new(vec![active("s1", DOC, 10)]);
        let mut m = t.matcher();
        assert_eq!(
            t.suppressing(&mut m, "rule-a", &backup, Timestamp::from_nanos(9)),
            Some("s1")
        );
        assert_eq!(
            t.suppressing(&mut m, "rule-a", &backup, Timestamp::from_nanos(10)),
            None
        );
        assert!(!t.targets("rule-a", Timestamp::from_nanos(10)));
    }

    #[test]
    fn sizes_are_counted() {
        let two = TenantSuppressions::new(vec![active("s1", DOC, 1), active("s2", DOC, 1)]);
        assert_eq!(two.len(), 2);
        assert!(!two.is_empty());
        let none = TenantSuppressions::new(Vec::new());
        assert_eq!(none.len(), 0);
        assert!(none.is_empty());
    }

    #[test]
    fn tenants_are_swapped_alone() {
        let s = Suppressions::default();
        let a = TenantId::new("a").unwrap();
        let b = TenantId::new("b").unwrap();
        let g0 = s.generation();
        s.replace(&a, vec![active("s1", DOC, i64::MAX)]);
        assert!(s.generation() > g0);
        assert!(s.current().contains_key(&a));
        assert!(!s.current().contains_key(&b));
        s.replace(&b, vec![active("s2", DOC, i64::MAX)]);
        s.replace(&a, Vec::new());
        assert!(!s.current().contains_key(&a));
        assert_eq!(s.current()[&b].len(), 1);
    }
}
