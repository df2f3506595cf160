//! Sigma filters: documents that add a condition to other rules without editing them (the
//! per-tenant tuning of shared rules).
//!
//! Application follows pySigma (`SigmaFilter.apply_on_rule`): the filter's condition is AND-ed
//! to the rule's, so a filter that removes events says `condition: not selection`. (The v2.1
//! specification's example writes `condition: selection` for an exclusion; pySigma and the v2.2
//! example both AND, and so do we.) A filter applies to the rules it lists by `id` or `name`, or
//! with `rules: any` to every rule, and only when each logsource attribute it sets is the
//! rule's.

use crate::condition::Condition;
use crate::error::{Code, Diagnostic};
use crate::rule::{Detection, Rule, RuleLogSource};

/// Which rules a filter applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Targets {
    /// Every rule whose logsource the filter's contains (`rules: any`).
    Any,
    /// Rules named by `id` or `name`.
    Rules(Vec<String>),
}

/// A loaded filter.
#[derive(Debug, Clone)]
pub struct Filter {
    /// `id`.
    pub id: Option<String>,
    /// `title`.
    pub title: String,
    /// `logsource` (unset attributes match any rule).
    pub logsource: RuleLogSource,
    /// The rules it applies to.
    pub targets: Targets,
    /// Its search identifiers.
    pub detections: Vec<(String, Detection)>,
    /// Its condition.
    pub condition: Condition,
    /// The file it came from.
    pub file: String,
    /// 1-based line of the document.
    pub line: usize,
}

impl Filter {
    fn applies_to(&self, rule: &Rule) -> bool {
        let targeted = match &self.targets {
            Targets::Any => true,
            Targets::Rules(refs) => refs.iter().any(|r| {
                rule.id.as_deref() == Some(r.as_str()) || rule.name.as_deref() == Some(r.as_str())
            }),
        };
        let contains = |mine: &Option<String>, theirs: &Option<String>| {
            mine.as_ref().is_none_or(|m| theirs.as_ref() == Some(m))
        };
        targeted
            && contains(&self.logsource.product, &rule.logsource.product)
            && contains(&self.logsource.category, &rule.logsource.category)
            && contains(&self.logsource.service, &rule.logsource.service)
    }
}

fn renamed(condition: &Condition, prefix: &str) -> Condition {
    match condition {
        Condition::Ref(name) => Condition::Ref(format!("{prefix}{name}")),
        Condition::And(terms) => Condition::And(terms.iter().map(|t| renamed(t, prefix)).collect()),
        Condition::Or(terms) => Condition::Or(terms.iter().map(|t| renamed(t, prefix)).collect()),
        Condition::Not(inner) => Condition::Not(Box::new(renamed(inner, prefix))),
    }
}

/// Applies each filter to the rules it targets. Returns a note for each filter that applied to
/// no rule (its rules may live in another folder, or be misnamed).
pub(crate) fn apply(rules: &mut [Rule], filters: &[Filter]) -> Vec<Diagnostic> {
    let mut notes = Vec::new();
    for (index, filter) in filters.iter().enumerate() {
        // Identifiers of a filter are namespaced so they never meet the rule's: '#' cannot
        // appear in a condition identifier.
        let prefix = format!("filter#{index}#");
        let condition = renamed(&filter.condition, &prefix);
        let mut applied = 0;
        for rule in rules.iter_mut().filter(|r| filter.applies_to(r)) {
            rule.detections.extend(
                filter
                    .detections
                    .iter()
                    .map(|(name, d)| (format!("{prefix}{name}"), d.clone())),
            );
            let own = std::mem::replace(&mut rule.condition, Condition::And(Vec::new()));
            rule.condition = Condition::And(vec![own, condition.clone()]);
            applied += 1;
        }
        if applied == 0 {
            notes.push(Diagnostic {
                rule_id: filter.id.clone(),
                file: filter.file.clone(),
                line: filter.line,
                code: Code::Filter,
                message: format!("filter '{}' applies to no loaded rule", filter.title),
            });
        }
    }
    notes
}

#[cfg(test)]
mod tests {
    use vigie_event::Event;

    use crate::testing::event;

    use crate::eval::rule_matches;
    use crate::load::{Loaded, parse_rules};

    const RULES: &str = "title: Rar
id: 6f3e2987-db24-4c78-a860-b4f4095a7095
logsource:
    category: process_creation
    product: windows
detection:
    selection:
        Image|endswith: '\\rar.exe'
    condition: selection
---
title: Other category
name: other_rule
logsource:
    category: network_connection
    product: windows
detection:
    selection:
        Image|endswith: '\\rar.exe'
    condition: selection
";

    fn process(user: &str) -> Event {
        event(&format!(
            r#"{{"Event":{{"System":{{"Channel":"Microsoft-Windows-Sysmon/Operational","EventID":1}},"EventData":{{"Image":"C:\\rar.exe","User":"{user}"}}}}}}"#
        ))
    }

    #[test]
    fn filter_excludes_by_id_and_leaves_other_rules_alone() {
        let mut loaded = Loaded::default();
        parse_rules(RULES, "rules.yml", &mut loaded);
        parse_rules(
            "title: Admins are expected
logsource:
    product: windows
filter:
    rules:
        - 6f3e2987-db24-4c78-a860-b4f4095a7095
        - other_rule
    selection:
        User|startswith: 'adm_'
    condition: not selection
",
            "filter.yml",
            &mut loaded,
        );
        assert_eq!(loaded.filters.len(), 1);
        assert!(loaded.apply_filters().is_empty());
        let rar = &loaded.rules[0];
        assert!(rule_matches(rar, &process("bob")));
        assert!(!rule_matches(rar, &process("adm_bob")));
        // The rule's own identifiers keep their meaning next to the filter's.
        assert!(rar.detection("selection").is_some());
        assert!(rar.detection("filter#0#selection").is_some());
    }

    #[test]
    fn any_rules_respects_logsource_containment() {
        let mut loaded = Loaded::default();
        parse_rules(RULES, "rules.yml", &mut loaded);
        parse_rules(
            "title: Only process creation
logsource:
    category: process_creation
filter:
    rules: any
    selection:
        User: 'svc'
    condition: not selection
",
            "filter.yml",
            &mut loaded,
        );
        loaded.apply_filters();
        assert_eq!(
            loaded.rules[0].detections.len(),
            2,
            "applied to the process_creation rule"
        );
        assert_eq!(
            loaded.rules[1].detections.len(),
            1,
            "not applied to network_connection"
        );
    }

    #[test]
    fn unused_and_malformed_filters_are_reported() {
        let mut loaded = Loaded::default();
        parse_rules(RULES, "rules.yml", &mut loaded);
        parse_rules(
            "title: Nobody
filter:
    rules: [00000000-0000-0000-0000-000000000000]
    selection:
        User: x
    condition: selection
---
title: Broken
filter:
    rules: any
    selection:
        User: x
    condition: selection1
---
title: No rules key
filter:
    selection:
        User: x
    condition: selection
",
            "filters.yml",
            &mut loaded,
        );
        assert_eq!(loaded.rejected.len(), 2, "{:?}", loaded.rejected);
        assert!(loaded.rejected[0].message.contains("selection1"));
        assert!(loaded.rejected[1].message.contains("'rules'"));
        let notes = loaded.apply_filters();
        assert_eq!(notes.len(), 1);
        assert!(notes[0].message.contains("applies to no loaded rule"));
    }

    #[test]
    fn specification_schema_test_filters() {
        let Some(dir) = crate::testing::shared("spec/tests/schema/filter") else {
            return;
        };
        let mut loaded = Loaded::default();
        parse_rules(RULES, "rules.yml", &mut loaded);
        crate::load::load_dir(&dir, &mut loaded).unwrap();
        assert!(loaded.rejected.is_empty(), "{:?}", loaded.rejected);
        assert_eq!(loaded.filters.len(), 2);
        // filter_1 (windows process_creation) targets the Rar rule's id; filter_ecs targets
        // network/dns rules that are not loaded here.
        let notes = loaded.apply_filters();
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0].file.ends_with("filter_ecs.yml"));
        // The specification's example ANDs 'selection' (User|startswith adm_), as pySigma does.
        assert!(!rule_matches(&loaded.rules[0], &process("bob")));
        assert!(rule_matches(&loaded.rules[0], &process("adm_bob")));
    }
}
