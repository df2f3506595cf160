//! Logsource classification: from facts about an event (Windows channel, provider and
//! EventID, syslog program and facility, wire format) to its Sigma logsource.
//!
//! The mapping is data, not code: `data/logsources.tsv` (embedded at build time) lists one
//! row per fact, and an event takes the union of the rows its facts match. An event can
//! therefore carry several services and categories at once (Sysmon EventID 12 is
//! `registry_event`, `registry_add` and `registry_delete`; an sshd line sent with facility
//! `authpriv` is both `sshd` and `auth`), which is what Sigma routing needs: a rule sees an
//! event when every attribute the rule sets is among the event's.

use crate::error::EventError;
use std::fmt;
use std::sync::{Arc, OnceLock};

use rustc_hash::FxHashMap;

/// The embedded classification table.
pub const DEFAULT_TABLE: &str = include_str!("../data/logsources.tsv");

/// A Sigma logsource as an event carries it.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct LogSource {
    product: Option<Box<str>>,
    services: Vec<Box<str>>,
    categories: Vec<Box<str>>,
}

impl LogSource {
    /// A logsource from its path form `product/service/category` (each part optional:
    /// `windows/sysmon`, `linux//process_creation`), as an ingest request or a listener
    /// names it. Empty text means "classify each event" (`None`). The error names the text
    /// and what is allowed.
    pub fn parse_path(text: &str) -> Result<Option<LogSource>, EventError> {
        if text.is_empty() {
            return Ok(None);
        }
        let parts: Vec<&str> = text.split('/').collect();
        let valid = |p: &str| {
            p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
        };
        if parts.len() > 3 || !parts.iter().all(|p| valid(p)) {
            return Err(EventError::LogSourcePath {
                text: text.to_owned(),
            });
        }
        let get = |i: usize| parts.get(i).copied().filter(|p| !p.is_empty());
        let services: Vec<&str> = get(1).into_iter().collect();
        let categories: Vec<&str> = get(2).into_iter().collect();
        Ok(Some(LogSource::new(get(0), &services, &categories)))
    }

    /// A logsource with the given attributes (as a listener configured it).
    pub fn new(product: Option<&str>, services: &[&str], categories: &[&str]) -> LogSource {
        let mut ls = LogSource {
            product: product.map(|p| p.to_ascii_lowercase().into()),
            ..LogSource::default()
        };
        for s in services {
            push_unique(&mut ls.services, s);
        }
        for c in categories {
            push_unique(&mut ls.categories, c);
        }
        ls
    }

    /// The product, when known.
    pub fn product(&self) -> Option<&str> {
        self.product.as_deref()
    }

    /// The services.
    pub fn services(&self) -> impl Iterator<Item = &str> {
        self.services.iter().map(|s| &**s)
    }

    /// The categories.
    pub fn categories(&self) -> impl Iterator<Item = &str> {
        self.categories.iter().map(|s| &**s)
    }

    /// Whether a rule with this logsource sees the event: every attribute the rule sets
    /// must be the event's (compared case-insensitively); unset attributes match anything.
    pub fn matches(
        &self,
        product: Option<&str>,
        category: Option<&str>,
        service: Option<&str>,
    ) -> bool {
        let product_ok = product.is_none_or(|p| {
            self.product
                .as_deref()
                .is_some_and(|mine| mine.eq_ignore_ascii_case(p))
        });
        let category_ok =
            category.is_none_or(|c| self.categories.iter().any(|m| m.eq_ignore_ascii_case(c)));
        let service_ok =
            service.is_none_or(|s| self.services.iter().any(|m| m.eq_ignore_ascii_case(s)));
        product_ok && category_ok && service_ok
    }

    fn absorb(&mut self, row: &Row) {
        if self.product.is_none() {
            self.product.clone_from(&row.product);
        }
        for s in &row.services {
            push_unique(&mut self.services, s);
        }
        for c in &row.categories {
            push_unique(&mut self.categories, c);
        }
    }
}

fn push_unique(list: &mut Vec<Box<str>>, item: &str) {
    let item = item.to_ascii_lowercase();
    if !list.iter().any(|x| **x == *item) {
        list.push(item.into());
    }
}

impl fmt::Debug for LogSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl fmt::Display for LogSource {
    /// `product/category+category/service+service`, with `*` for what is unknown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let join = |v: &[Box<str>]| {
            if v.is_empty() {
                "*".to_owned()
            } else {
                v.join("+")
            }
        };
        write!(
            f,
            "{}/{}/{}",
            self.product.as_deref().unwrap_or("*"),
            join(&self.categories),
            join(&self.services)
        )
    }
}

/// What a fact is about: the `kind` column of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FactKind {
    /// Windows event log channel.
    Channel,
    /// Windows provider name.
    Provider,
    /// syslog program (APP-NAME or TAG).
    Program,
    /// syslog facility name.
    Facility,
    /// Wire format name ([`crate::Format::as_str`]).
    Format,
}

impl FactKind {
    fn parse(s: &str) -> Option<FactKind> {
        Some(match s {
            "channel" => FactKind::Channel,
            "provider" => FactKind::Provider,
            "program" => FactKind::Program,
            "facility" => FactKind::Facility,
            "format" => FactKind::Format,
            _ => return None,
        })
    }
}

/// One fact about an event, as decoders report them.
#[derive(Clone, Copy, Debug)]
pub struct Fact<'a> {
    /// What the key is.
    pub kind: FactKind,
    /// The key (compared case-insensitively).
    pub key: &'a str,
}

#[derive(Debug, Default, Clone)]
struct Row {
    product: Option<Box<str>>,
    services: Vec<Box<str>>,
    categories: Vec<Box<str>>,
}

/// The rows of one key.
#[derive(Debug, Default)]
struct KeyRows {
    /// The row for every EventID (`*`).
    any_event: Row,
    /// Rows for one EventID.
    per_event: FxHashMap<u32, Row>,
}

/// A compiled classification table.
#[derive(Debug, Default)]
pub struct Classifier {
    /// Per fact kind (indexed by `FactKind as usize`), the rows of each lower-case key.
    by_kind: [FxHashMap<Box<str>, KeyRows>; 5],
}

impl Classifier {
    /// The classifier built from the embedded table.
    pub fn builtin() -> &'static Arc<Classifier> {
        static BUILTIN: OnceLock<Arc<Classifier>> = OnceLock::new();
        BUILTIN.get_or_init(|| {
            // The embedded table is checked by a unit test; a broken one is a build defect.
            Arc::new(
                Classifier::parse(DEFAULT_TABLE).expect("the embedded logsource table is valid"),
            )
        })
    }

    /// Parses a table in the format of `data/logsources.tsv`.
    pub fn parse(text: &str) -> Result<Classifier, EventError> {
        let mut classifier = Classifier::default();
        for (n, line) in text.lines().enumerate() {
            let line_no = n + 1;
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let err = |message: String| EventError::LogSourceTable {
                line: line_no,
                message,
            };
            let cols: Vec<&str> = line.split('\t').collect();
            let [kind, key, ids, product, services, categories] = cols[..] else {
                return Err(err(format!(
                    "expected 6 tab-separated columns, found {}",
                    cols.len()
                )));
            };
            let kind =
                FactKind::parse(kind).ok_or_else(|| err(format!("unknown kind {kind:?}")))?;
            if key.is_empty() {
                return Err(err("empty key".to_owned()));
            }
            let list = |s: &str| -> Vec<Box<str>> {
                if s == "-" {
                    Vec::new()
                } else {
                    s.split(',')
                        .map(|x| x.trim().to_ascii_lowercase().into())
                        .collect()
                }
            };
            let row = Row {
                product: (product != "-").then(|| product.to_ascii_lowercase().into()),
                services: list(services),
                categories: list(categories),
            };
            let rows = classifier.by_kind[kind as usize]
                .entry(key.to_ascii_lowercase().into())
                .or_default();
            if ids == "*" {
                merge_row(&mut rows.any_event, row);
            } else {
                for id in ids.split(',') {
                    let id: u32 = id
                        .trim()
                        .parse()
                        .map_err(|_| err(format!("invalid EventID {id:?}")))?;
                    merge_row(rows.per_event.entry(id).or_default(), row.clone());
                }
            }
        }
        Ok(classifier)
    }

    /// The logsource of an event with these facts and Windows EventID.
    ///
    /// Facts are consulted in the order given (decoders pass channel, then provider, then
    /// program, facility and format), which decides the product when rows disagree.
    pub fn classify(&self, facts: &[Fact<'_>], event_id: Option<u32>) -> LogSource {
        let mut ls = LogSource::default();
        let mut key = String::new();
        for fact in facts {
            key.clear();
            key.push_str(fact.key);
            key.make_ascii_lowercase();
            let Some(rows) = self.by_kind[fact.kind as usize].get(key.as_str()) else {
                continue;
            };
            if let Some(row) = event_id.and_then(|id| rows.per_event.get(&id)) {
                ls.absorb(row);
            }
            ls.absorb(&rows.any_event);
        }
        ls
    }
}

fn merge_row(into: &mut Row, row: Row) {
    if into.product.is_none() {
        into.product = row.product;
    }
    for s in row.services {
        if !into.services.contains(&s) {
            into.services.push(s);
        }
    }
    for c in row.categories {
        if !into.categories.contains(&c) {
            into.categories.push(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logsources_parse() {
        let ls = LogSource::parse_path("windows/sysmon")
            .expect("ok")
            .expect("some");
        assert_eq!(ls.product(), Some("windows"));
        assert_eq!(ls.services().collect::<Vec<_>>(), vec!["sysmon"]);
        let ls = LogSource::parse_path("linux//process_creation")
            .expect("ok")
            .expect("some");
        assert_eq!(
            ls.categories().collect::<Vec<_>>(),
            vec!["process_creation"]
        );
        assert!(LogSource::parse_path("").expect("ok").is_none());
        let ls = LogSource::parse_path("m365/azure-ad.v2/sign_in")
            .expect("ok")
            .expect("some");
        assert_eq!(ls.services().collect::<Vec<_>>(), vec!["azure-ad.v2"]);
        assert!(LogSource::parse_path("a.b").is_ok() && LogSource::parse_path("a-b").is_ok());
        assert!(LogSource::parse_path("a/b/c/d").is_err());
        assert!(LogSource::parse_path("a b").is_err());
    }

    fn windows(channel: &str, eid: u32) -> LogSource {
        Classifier::builtin().classify(
            &[
                Fact {
                    kind: FactKind::Channel,
                    key: channel,
                },
                Fact {
                    kind: FactKind::Format,
                    key: "evtx",
                },
            ],
            Some(eid),
        )
    }

    #[test]
    fn issue_examples() {
        let sysmon1 = windows("Microsoft-Windows-Sysmon/Operational", 1);
        assert!(sysmon1.matches(Some("windows"), Some("process_creation"), None));
        assert!(sysmon1.matches(Some("windows"), None, Some("sysmon")));
        let sec4688 = windows("Security", 4688);
        assert!(sec4688.matches(Some("windows"), Some("process_creation"), None));
        assert!(sec4688.matches(Some("windows"), None, Some("security")));
        assert!(windows("Microsoft-Windows-Sysmon/Operational", 13).matches(
            Some("windows"),
            Some("registry_set"),
            None
        ));
        assert!(
            windows("Microsoft-Windows-PowerShell/Operational", 4104).matches(
                Some("windows"),
                Some("ps_script"),
                Some("powershell")
            )
        );
        assert!(windows("System", 7045).matches(Some("windows"), None, Some("system")));
        assert!(windows("application", 1000).matches(None, None, Some("application")));
        let sysmon12 = windows("Microsoft-Windows-Sysmon/Operational", 12);
        for c in ["registry_event", "registry_add", "registry_delete"] {
            assert!(sysmon12.matches(None, Some(c), None), "{c}");
        }
        assert!(!sysmon12.matches(None, Some("registry_set"), None));
        assert!(!sysmon1.matches(Some("linux"), None, None));
    }

    #[test]
    fn unknown_channel_is_still_windows() {
        let ls = windows("Some-Vendor/Operational", 1);
        assert_eq!(ls.product(), Some("windows"));
        assert_eq!(ls.categories().count(), 0);
        assert!(!ls.matches(None, Some("process_creation"), None));
    }

    #[test]
    fn syslog_programs_and_facilities() {
        let ls = Classifier::builtin().classify(
            &[
                Fact {
                    kind: FactKind::Program,
                    key: "sshd",
                },
                Fact {
                    kind: FactKind::Facility,
                    key: "authpriv",
                },
                Fact {
                    kind: FactKind::Format,
                    key: "syslog-rfc3164",
                },
            ],
            None,
        );
        assert!(ls.matches(Some("linux"), None, Some("sshd")));
        assert!(ls.matches(Some("linux"), None, Some("auth")));
        assert!(ls.matches(None, None, Some("syslog")));
        assert_eq!(ls.to_string(), "linux/*/sshd+auth+syslog");
    }

    #[test]
    fn table_errors_name_the_line() {
        let table_error = |text: &str| match Classifier::parse(text).unwrap_err() {
            EventError::LogSourceTable { line, message } => (line, message),
            other => panic!("not a table error: {other}"),
        };
        assert_eq!(table_error("# c\nchannel\tX\t*\twindows\t-\n").0, 2);
        assert!(
            table_error("nope\tX\t*\twindows\t-\t-\n")
                .1
                .contains("unknown kind")
        );
        assert!(
            table_error("channel\tX\tabc\twindows\t-\t-\n")
                .1
                .contains("EventID")
        );
    }

    /// Every logsource used by the SigmaHQ Windows rules is produced by some table row.
    #[test]
    fn covers_every_windows_logsource_in_sigmahq_rules() {
        let Some(dir) = vigie_testkit::shared("rules/windows") else {
            return;
        };
        let (services, categories) = crate::testdata::windows_rule_logsources(&dir);
        assert!(services.len() > 30 && categories.len() > 20);
        let c = Classifier::builtin();
        let mut known_services = std::collections::BTreeSet::new();
        let mut known_categories = std::collections::BTreeSet::new();
        let rows = c
            .by_kind
            .iter()
            .flat_map(|m| m.values())
            .flat_map(|k| std::iter::once(&k.any_event).chain(k.per_event.values()));
        for row in rows {
            if row.product.as_deref() == Some("windows") {
                known_services.extend(row.services.iter().map(|s| s.to_string()));
                known_categories.extend(row.categories.iter().map(|s| s.to_string()));
            }
        }
        let missing_s: Vec<_> = services.difference(&known_services).collect();
        let missing_c: Vec<_> = categories.difference(&known_categories).collect();
        assert!(
            missing_s.is_empty(),
            "services without a table row: {missing_s:?}"
        );
        assert!(
            missing_c.is_empty(),
            "categories without a table row: {missing_c:?}"
        );
    }
}
