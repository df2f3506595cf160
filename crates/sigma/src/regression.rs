//! The SigmaHQ regression samples and the whole rule corpus, run through the reference
//! interpreter: every rule loads or is an expected rejection, and every regression test
//! passes.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use vigie_event::Event;

use crate::conformance::RegressionCase;
use crate::eval::rule_matches;
use crate::load::{Loaded, load_dir};
use crate::testing::{decoder, shared};

/// The whole corpus, loaded once for all the tests of this module.
fn all_rules(root: &Path) -> &'static Loaded {
    static LOADED: OnceLock<Loaded> = OnceLock::new();
    LOADED.get_or_init(|| load_all(root))
}

fn load_all(root: &Path) -> Loaded {
    let mut loaded = Loaded::default();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.is_dir()
                && p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("rules"))
        })
        .collect();
    dirs.sort();
    for dir in dirs {
        load_dir(&dir, &mut loaded).unwrap();
    }
    loaded
}

#[test]
fn rule_corpus_loads() {
    let Some(root) = shared("") else { return };
    let loaded = all_rules(&root);
    let total = loaded.rules.len() + loaded.rejected.len();
    #[allow(clippy::print_stderr)]
    {
        eprintln!(
            "{total} rules: {} loaded, {} rejected",
            loaded.rules.len(),
            loaded.rejected.len()
        );
        for d in &loaded.rejected {
            eprintln!("  {d}");
        }
    }
    assert!(total > 3700, "only {total} rule documents found");
    // Every rejection is listed, with its code, in expected-rejections.tsv, and nothing else.
    let mut got: Vec<String> = loaded
        .rejected
        .iter()
        .map(|d| {
            let path = Path::new(&d.file);
            let file = path.strip_prefix(&root).unwrap_or(path);
            format!("{}\t{}", file.display(), d.code)
        })
        .collect();
    got.sort();
    let listed = include_str!("../expected-rejections.tsv");
    let mut want: Vec<String> = listed
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(str::to_owned)
        .collect();
    want.sort();
    assert_eq!(
        got, want,
        "the rejections differ from crates/sigma/expected-rejections.tsv"
    );
}

/// With their placeholders configured, the rules rejected for lacking them load.
#[test]
fn configured_placeholders_load_the_placeholder_rules() {
    let Some(root) = shared("") else { return };
    let loaded = all_rules(&root);
    let files: Vec<&str> = loaded
        .rejected
        .iter()
        .filter(|d| d.code == crate::Code::Placeholder)
        .map(|d| d.file.as_str())
        .collect();
    assert!(!files.is_empty());
    let mut placeholders = crate::Placeholders::default();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for (i, part) in text.split('%').enumerate() {
            if i % 2 == 1
                && !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
            {
                placeholders.insert(part, vec!["value-of-".to_owned() + part]);
            }
        }
    }
    let mut again = Loaded {
        placeholders,
        ..Loaded::default()
    };
    for file in &files {
        crate::parse_rules(&std::fs::read_to_string(file).unwrap(), file, &mut again);
    }
    assert!(again.rejected.is_empty(), "{:?}", again.rejected);
    assert!(again.rules.len() >= files.len());
}

/// Every EVTX regression case with its decoded sample, decoded once for all the tests of
/// this module.
fn corpus(regression: &Path) -> &'static [(RegressionCase, Vec<Event>)] {
    static CORPUS: OnceLock<Vec<(RegressionCase, Vec<Event>)>> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let (cases, errors) = crate::conformance::regression_cases(regression).unwrap();
        assert!(errors.is_empty(), "{errors:?}");
        let mut decoder = decoder("regression");
        cases
            .into_iter()
            .map(|case| {
                let events = decoder
                    .decode_evtx_file(std::fs::read(&case.evtx).unwrap())
                    .unwrap()
                    .collect::<Result<_, _>>()
                    .unwrap();
                (case, events)
            })
            .collect()
    })
}

/// Every decoded regression event.
fn corpus_events(regression: &Path) -> impl Iterator<Item = &'static Event> {
    corpus(regression).iter().flat_map(|(_, events)| events)
}

#[test]
fn sigmahq_regression_samples() {
    let Some(root) = shared("") else { return };
    let Some(regression) = shared("regression/regression_data") else {
        return;
    };
    let loaded = all_rules(&root);
    let corpus = corpus(&regression);
    assert!(corpus.len() >= 90, "only {} regression tests", corpus.len());
    let mut failures = Vec::new();
    for (case, events) in corpus {
        let Some(rule) = loaded
            .rules
            .iter()
            .find(|r| r.id.as_deref() == Some(&case.rule_id))
        else {
            let why = loaded
                .rejected
                .iter()
                .find(|d| d.rule_id.as_deref() == Some(&case.rule_id))
                .map_or("rule not found".to_owned(), |d| {
                    format!("rule rejected: {d}")
                });
            failures.push(format!("{}: {why}", case.rule_id));
            continue;
        };
        let hits = events.iter().filter(|e| rule_matches(rule, e)).count();
        if hits < case.match_count {
            let logsources: Vec<_> = events.iter().map(|e| e.logsource.to_string()).collect();
            failures.push(format!(
                "{} ({}): {hits} matches, want {} [events: {logsources:?}]",
                case.rule_id, rule.title, case.match_count
            ));
        }
    }
    let passed = corpus.len() - failures.len();
    #[allow(clippy::print_stderr)]
    {
        for f in &failures {
            eprintln!("FAIL {f}");
        }
        eprintln!("{passed} passed, {} failed", failures.len());
    }
    assert!(
        failures.is_empty(),
        "{passed} passed, {} failed",
        failures.len()
    );
}

/// Cross-check: every rule against every regression event. Most events should fire a handful
/// of rules, not hundreds; a rule firing on most events of unrelated samples betrays a
/// matching bug (an inverted negation, a null that matches everything).
#[test]
fn no_rule_fires_on_everything() {
    let Some(root) = shared("") else { return };
    let Some(regression) = shared("regression/regression_data") else {
        return;
    };
    let loaded = all_rules(&root);
    let events: Vec<&Event> = corpus_events(&regression).collect();
    let mut worst = (0usize, String::new());
    let mut total = 0;
    for rule in &loaded.rules {
        let hits = events.iter().filter(|e| rule_matches(rule, e)).count();
        total += hits;
        if hits > worst.0 {
            worst = (
                hits,
                format!("{} ({})", rule.title, rule.id.as_deref().unwrap_or("-")),
            );
        }
    }
    #[allow(clippy::print_stderr)]
    {
        eprintln!(
            "{} events x {} rules: {total} matches, {:.1} per event; most: {} hits by {}",
            events.len(),
            loaded.rules.len(),
            total as f64 / events.len() as f64,
            worst.0,
            worst.1
        );
    }
    assert!(
        worst.0 * 4 < events.len(),
        "{} fires on {} of {} events",
        worst.1,
        worst.0,
        events.len()
    );
}

/// The compiled rule set and the reference interpreter agree on every rule × every
/// regression event (and on the built-in edge cases of `eval`'s tests, through the same
/// matchers).
#[test]
fn compiled_rule_set_agrees_with_the_reference() {
    let Some(root) = shared("") else { return };
    let Some(regression) = shared("regression/regression_data") else {
        return;
    };
    let loaded = all_rules(&root);
    let set = std::sync::Arc::new(crate::RuleSet::new(loaded.rules.clone()));
    let mut matcher = set.matcher();
    let mut compared = 0;
    let corpus = corpus(&regression);
    // Twice through the same matcher: the second pass answers most texts from the memo of
    // recent texts, which must give the scan's answers.
    for pass in 0..2 {
        for (case, events) in corpus {
            for event in events {
                let reference: Vec<usize> = loaded
                    .rules
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| rule_matches(r, event))
                    .map(|(i, _)| i)
                    .collect();
                if pass == 0 {
                    // What a match shows needs no second evaluation of what is known to hold.
                    for &i in &reference {
                        let names = |matched: bool| -> Vec<String> {
                            crate::eval::collect_fields(&loaded.rules[i], event, matched)
                                .into_iter()
                                .map(|(k, _)| k)
                                .collect()
                        };
                        assert_eq!(names(true), names(false), "{}", loaded.rules[i].title);
                    }
                }
                assert_eq!(
                    matcher.matches(event),
                    reference,
                    "pass {pass}: {}",
                    case.evtx.display()
                );
                compared += 1;
            }
        }
    }
    assert!(compared >= 200);
    assert!(matcher.stats().memo_hits * 2 > matcher.stats().texts / 2);
}

/// The specification's schema test rules load.
#[test]
fn specification_schema_test_rules_load() {
    let Some(dir) = shared("spec/tests/schema/rules") else {
        return;
    };
    let mut loaded = Loaded::default();
    load_dir(&dir, &mut loaded).unwrap();
    assert!(loaded.rejected.is_empty(), "{:?}", loaded.rejected);
    assert_eq!(loaded.rules.len(), 2);
    assert_eq!(loaded.rules[0].tags.len(), 3);
}

/// Every regex of the corpus, searched with our forward lazy DFA (PikeVM fallback), agrees
/// with regex-automata's meta engine (what the `regex` crate runs) on every text value of
/// every regression event, and on texts made to exercise `\b` next to non-ASCII.
#[test]
fn regexes_agree_with_the_meta_engine() {
    use crate::detection::Matcher;
    use crate::rule::Detection;
    let Some(root) = shared("") else { return };
    let Some(regression) = shared("regression/regression_data") else {
        return;
    };
    fn collect<'a>(d: &'a Detection, out: &mut Vec<&'a crate::detection::SigmaRegex>) {
        let items: Vec<&crate::detection::Item> = match d {
            Detection::AllOf(items) => items.iter().collect(),
            Detection::AnyOf(alternatives) => {
                alternatives.iter().for_each(|a| collect(a, out));
                Vec::new()
            }
            Detection::Keywords(item) => vec![item],
        };
        for item in items {
            for m in item.values.iter().flatten() {
                if let Matcher::Regex(re) = &**m {
                    out.push(re);
                }
            }
        }
    }
    let mut regexes = Vec::new();
    for rule in &all_rules(&root).rules {
        for (_, d) in &rule.detections {
            collect(d, &mut regexes);
        }
    }
    assert!(regexes.len() > 200, "{} regexes", regexes.len());
    let mut texts: Vec<String> = vec![
        String::new(),
        "é".to_owned(),
        "Ωmega word".to_owned(),
        "x é y".to_owned(),
        "C:\\Windows\\System32\\cmd.exe /c whoami".to_owned(),
    ];
    for event in corpus_events(&regression) {
        for (_, v) in event.fields.iter() {
            if let Some(t) = v.as_text() {
                texts.push(t.to_owned());
            }
        }
    }
    texts.sort();
    texts.dedup();
    let mut checked = 0usize;
    for re in regexes {
        let meta = regex_automata::meta::Regex::new(re.as_str()).unwrap();
        for t in &texts {
            assert_eq!(
                re.is_match(t),
                meta.is_match(t.as_str()),
                "{:?} on {t:?}",
                re.as_str()
            );
            checked += 1;
        }
    }
    assert!(checked > 100_000, "{checked} comparisons");
}
