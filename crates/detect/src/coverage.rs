//! ATT&CK coverage of a rule book, from the rules' own tags (`attack.<tactic>`,
//! `attack.t<technique>`): which techniques the enabled rules detect, under which tactic,
//! and how many rules each — the matrix a SOC shows its client, and the same as an ATT&CK
//! Navigator layer (JSON) for the MITRE tool.
//!
//! A technique is placed under the tactics its rule names; a rule that names techniques
//! and no tactic puts them under [`NO_TACTIC`] (no technique → tactic table is shipped:
//! the rule's author decided the tactic).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::book::RuleMeta;

/// The enterprise tactics, in the matrix's order (Sigma's tag spelling).
pub const TACTICS: [&str; 14] = [
    "reconnaissance",
    "resource_development",
    "initial_access",
    "execution",
    "persistence",
    "privilege_escalation",
    "defense_evasion",
    "credential_access",
    "discovery",
    "lateral_movement",
    "collection",
    "command_and_control",
    "exfiltration",
    "impact",
];

/// The column of techniques whose rules name no tactic.
pub const NO_TACTIC: &str = "no_tactic";

/// A tactic's column: its techniques (`T1059.001`) with how many rules detect each.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TacticColumn {
    /// The tactic (Sigma's spelling, or [`NO_TACTIC`]).
    pub tactic: String,
    /// Techniques in id order, each with its number of rules.
    pub techniques: Vec<(String, usize)>,
}

/// A technique tag's id (`attack.t1059.001` → `T1059.001`), if it is one.
pub fn technique(tag: &str) -> Option<String> {
    let rest = tag.strip_prefix("attack.")?;
    let id = rest.strip_prefix('t').or_else(|| rest.strip_prefix('T'))?;
    let (main, sub) = id.split_once('.').unwrap_or((id, ""));
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    (digits(main, 4) && (sub.is_empty() || digits(sub, 3)))
        .then(|| format!("T{}", id.to_ascii_uppercase()))
}

/// A tactic tag's name (`attack.execution` → `execution`), if it is one of [`TACTICS`]
/// (dashes are read as underscores).
pub fn tactic(tag: &str) -> Option<&'static str> {
    let rest = tag.strip_prefix("attack.")?.replace('-', "_");
    TACTICS.into_iter().find(|t| *t == rest)
}

/// The coverage of `rules` (those whose matches alert): one column per tactic that has a
/// technique, in matrix order, then [`NO_TACTIC`] if needed.
pub fn coverage<'a>(rules: impl IntoIterator<Item = &'a RuleMeta>) -> Vec<TacticColumn> {
    let mut cells: BTreeMap<(usize, String), usize> = BTreeMap::new();
    for rule in rules.into_iter().filter(|r| r.alerts) {
        let mut techniques: Vec<String> = rule.tags.iter().filter_map(|t| technique(t)).collect();
        techniques.sort();
        techniques.dedup();
        if techniques.is_empty() {
            continue;
        }
        let mut tactics: Vec<usize> = rule
            .tags
            .iter()
            .filter_map(|t| tactic(t))
            .filter_map(|t| TACTICS.iter().position(|x| *x == t))
            .collect();
        tactics.sort_unstable();
        tactics.dedup();
        if tactics.is_empty() {
            tactics.push(TACTICS.len());
        }
        for column in tactics {
            for t in &techniques {
                *cells.entry((column, t.clone())).or_default() += 1;
            }
        }
    }
    let mut columns: Vec<TacticColumn> = Vec::new();
    for ((column, technique), n) in cells {
        let name = TACTICS.get(column).copied().unwrap_or(NO_TACTIC);
        match columns.last_mut() {
            Some(c) if c.tactic == name => c.techniques.push((technique, n)),
            _ => columns.push(TacticColumn {
                tactic: name.to_owned(),
                techniques: vec![(technique, n)],
            }),
        }
    }
    columns
}

/// The coverage as an ATT&CK Navigator layer (format 4.5): each technique scored by its
/// number of rules, under its tactic (Navigator spells tactics with dashes).
pub fn navigator_layer(columns: &[TacticColumn], name: &str) -> Value {
    let max = columns
        .iter()
        .flat_map(|c| c.techniques.iter().map(|t| t.1))
        .max()
        .unwrap_or(1);
    let techniques: Vec<Value> = columns
        .iter()
        .flat_map(|c| {
            c.techniques.iter().map(move |(id, n)| {
                let mut t = json!({
                    "techniqueID": id,
                    "score": n,
                    "comment": format!("{n} rule(s)"),
                    "enabled": true,
                });
                if c.tactic != NO_TACTIC {
                    t["tactic"] = json!(c.tactic.replace('_', "-"));
                }
                t
            })
        })
        .collect();
    json!({
        "name": name,
        "versions": {"layer": "4.5", "navigator": "4.9.1", "attack": "16"},
        "domain": "enterprise-attack",
        "description": "Techniques detected by the enabled Sigma rules (from their tags), scored by number of rules.",
        "gradient": {"colors": ["#dbeafe", "#1d4ed8"], "minValue": 0, "maxValue": max},
        "techniques": techniques,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::level::Level;

    fn rule(tags: &[&str], alerts: bool) -> RuleMeta {
        RuleMeta {
            id: None,
            title: "r".into(),
            level: Level::High,
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            logsource: String::new(),
            file: String::new(),
            line: 1,
            alerts,
        }
    }

    #[test]
    fn tags() {
        assert_eq!(technique("attack.t1059.001").as_deref(), Some("T1059.001"));
        assert_eq!(technique("attack.t1059").as_deref(), Some("T1059"));
        assert_eq!(technique("attack.T1003").as_deref(), Some("T1003"));
        assert_eq!(technique("attack.t105"), None);
        assert_eq!(technique("attack.t1059.01"), None);
        assert_eq!(technique("attack.execution"), None);
        assert_eq!(technique("cve.2021.44228"), None);
        assert_eq!(tactic("attack.execution"), Some("execution"));
        assert_eq!(tactic("attack.defense-evasion"), Some("defense_evasion"));
        assert_eq!(tactic("attack.g0016"), None);
    }

    #[test]
    fn the_matrix_counts_rules_per_technique_under_their_tactics() {
        let rules = [
            rule(&["attack.execution", "attack.t1059.001"], true),
            rule(
                &[
                    "attack.execution",
                    "attack.persistence",
                    "attack.t1059.001",
                    "attack.t1053",
                ],
                true,
            ),
            rule(&["attack.t1003"], true),
            rule(&["attack.execution", "attack.t1204"], false),
            rule(&["attack.execution"], true),
        ];
        let m = coverage(rules.iter());
        assert_eq!(
            m,
            vec![
                TacticColumn {
                    tactic: "execution".into(),
                    techniques: vec![("T1053".into(), 1), ("T1059.001".into(), 2)],
                },
                TacticColumn {
                    tactic: "persistence".into(),
                    techniques: vec![("T1053".into(), 1), ("T1059.001".into(), 1)],
                },
                TacticColumn {
                    tactic: NO_TACTIC.into(),
                    techniques: vec![("T1003".into(), 1)],
                },
            ]
        );
        let layer = navigator_layer(&m, "test");
        assert_eq!(layer["domain"], "enterprise-attack");
        assert_eq!(layer["gradient"]["maxValue"], 2);
        let t = &layer["techniques"];
        assert_eq!(t.as_array().unwrap().len(), 5);
        assert_eq!(t[0]["techniqueID"], "T1053");
        assert_eq!(t[0]["tactic"], "execution");
        assert_eq!(t[1]["score"], 2);
        assert!(t[4].get("tactic").is_none(), "no tactic named");
    }
}
