//! The compiled rule set: rules prepared once, evaluated per event with nothing resolved twice.
//!
//! Compared with the reference interpreter ([`crate::eval`]), compiling
//! - resolves every field name to its [`FieldId`] (and, through the field mappings, to the
//!   field that holds the same value in each source), so a lookup is an integer scan;
//! - turns conditions into trees of detection indices;
//! - groups rules by logsource, and routes each event once per distinct logsource (events of
//!   one classification share one `Arc<LogSource>`, so routing is cached by it);
//! - folds each field's text to lower case at most once per event.
//!
//! Matching semantics are the reference interpreter's, by construction (the matchers are
//! shared) and by test: a differential test runs both over the regression corpus.
//!
//! This is the first step of the fast engine of DESIGN.md; candidate selection by required
//! values (Aho-Corasick across the rule set) comes next.

use std::cell::RefCell;
use std::collections::HashMap;

use rustc_hash::FxHashMap;
use std::sync::Arc;

use vigie_event::{Event, FieldId, LogSource, Value};

use crate::condition::Condition;
use crate::detection::{Item, Matcher};
use crate::eval::scalar_holds;
use crate::rule::{Detection, Rule};
use crate::value::fold;

/// A field as a rule names it, resolved for every source.
#[derive(Debug, Clone)]
struct FieldRef {
    id: Option<FieldId>,
    /// (channel in lower case, EventIDs, the field holding the value there).
    mapped: Vec<(String, Vec<u32>, FieldId)>,
}

#[derive(Debug, Clone)]
struct CItem {
    field: Option<FieldRef>,
    values: Vec<Vec<Matcher>>,
    all: bool,
    negated: bool,
}

#[derive(Debug, Clone)]
enum CDetection {
    AllOf(Vec<CItem>),
    AnyOf(Vec<CDetection>),
    Keywords(CItem),
}

#[derive(Debug, Clone)]
enum CCondition {
    Ref(usize),
    And(Vec<CCondition>),
    Or(Vec<CCondition>),
    Not(Box<CCondition>),
}

#[derive(Debug)]
struct CompiledRule {
    detections: Vec<CDetection>,
    condition: CCondition,
}

/// Rules sharing one logsource.
#[derive(Debug)]
struct Route {
    product: Option<String>,
    category: Option<String>,
    service: Option<String>,
    rules: Vec<usize>,
}

/// An immutable, compiled set of rules. Share it between worker threads (`Arc<RuleSet>`);
/// swap the `Arc` to reload.
#[derive(Debug)]
pub struct RuleSet {
    rules: Vec<Rule>,
    compiled: Vec<CompiledRule>,
    routes: Vec<Route>,
}

fn resolve(name: &str) -> FieldRef {
    FieldRef {
        id: FieldId::intern(name).ok(),
        mapped: crate::mapping::rows_for(name)
            .filter_map(|(channel, ids, event_field)| {
                Some((
                    channel.to_owned(),
                    ids.to_vec(),
                    FieldId::intern(event_field).ok()?,
                ))
            })
            .collect(),
    }
}

fn compile_item(item: &Item) -> CItem {
    CItem {
        field: item.field.as_deref().map(resolve),
        values: item.values.clone(),
        all: item.all,
        negated: item.negated,
    }
}

fn compile_detection(d: &Detection) -> CDetection {
    match d {
        Detection::AllOf(items) => CDetection::AllOf(items.iter().map(compile_item).collect()),
        Detection::AnyOf(alternatives) => {
            CDetection::AnyOf(alternatives.iter().map(compile_detection).collect())
        }
        Detection::Keywords(item) => CDetection::Keywords(compile_item(item)),
    }
}

fn compile_condition(c: &Condition, rule: &Rule) -> CCondition {
    match c {
        // Conditions only name identifiers of their rule (the loader checks), so the position
        // is always found; an unknown name could only come from a hand-built Rule.
        Condition::Ref(name) => CCondition::Ref(
            rule.detections
                .iter()
                .position(|(n, _)| n == name)
                .unwrap_or(usize::MAX),
        ),
        Condition::And(t) => {
            CCondition::And(t.iter().map(|c| compile_condition(c, rule)).collect())
        }
        Condition::Or(t) => CCondition::Or(t.iter().map(|c| compile_condition(c, rule)).collect()),
        Condition::Not(inner) => CCondition::Not(Box::new(compile_condition(inner, rule))),
    }
}

impl RuleSet {
    /// Compiles `rules` (filters already applied).
    pub fn new(rules: Vec<Rule>) -> RuleSet {
        let compiled = rules
            .iter()
            .map(|r| CompiledRule {
                detections: r
                    .detections
                    .iter()
                    .map(|(_, d)| compile_detection(d))
                    .collect(),
                condition: compile_condition(&r.condition, r),
            })
            .collect();
        let mut routes: Vec<Route> = Vec::new();
        for (index, rule) in rules.iter().enumerate() {
            let ls = &rule.logsource;
            match routes.iter_mut().find(|r| {
                r.product == ls.product && r.category == ls.category && r.service == ls.service
            }) {
                Some(route) => route.rules.push(index),
                None => routes.push(Route {
                    product: ls.product.clone(),
                    category: ls.category.clone(),
                    service: ls.service.clone(),
                    rules: vec![index],
                }),
            }
        }
        RuleSet {
            rules,
            compiled,
            routes,
        }
    }

    /// The rules, in the order given.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// A per-thread evaluation state (caches that live across events).
    pub fn matcher(&self) -> RuleMatcher<'_> {
        RuleMatcher {
            set: self,
            routes: HashMap::new(),
        }
    }
}

/// Evaluates a [`RuleSet`] on events; keep one per worker thread.
#[derive(Debug)]
pub struct RuleMatcher<'s> {
    set: &'s RuleSet,
    /// Rule indices per logsource, by the address of the event's shared `Arc<LogSource>`
    /// (kept alive here so that an address is never reused for another logsource).
    routes: HashMap<usize, (Arc<LogSource>, Arc<[usize]>)>,
}

/// Routes cached before the cache is cleared (logsources are few; this bounds hostile input).
const ROUTE_CACHE_CAPACITY: usize = 4096;

/// Per-event state: lazily folded texts and the event's source for field mappings.
struct EventCtx<'e> {
    event: &'e Event,
    folded: RefCell<FxHashMap<FieldId, Option<String>>>,
    source: std::cell::OnceCell<Option<(String, u32)>>,
}

impl<'e> EventCtx<'e> {
    fn source(&self) -> Option<&(String, u32)> {
        self.source
            .get_or_init(|| {
                let channel = self.event.fields.get_by_name("Channel")?.as_text()?;
                let id = self
                    .event
                    .fields
                    .get_by_name("EventID")?
                    .as_text()?
                    .parse()
                    .ok()?;
                Some((channel.to_ascii_lowercase(), id))
            })
            .as_ref()
    }

    /// The field a rule names, and its id (for the fold cache).
    fn field(&self, f: &FieldRef) -> Option<(FieldId, Value<'e>)> {
        if let Some(id) = f.id
            && let Some(v) = self.event.fields.get(id)
        {
            return Some((id, v));
        }
        if f.mapped.is_empty() {
            return None;
        }
        let (channel, event_id) = self.source()?;
        f.mapped
            .iter()
            .find(|(c, ids, _)| c == channel && ids.contains(event_id))
            .and_then(|(_, _, id)| Some((*id, self.event.fields.get(*id)?)))
    }

    fn folded_holds(&self, id: FieldId, text: &str, pattern: &crate::value::SigmaString) -> bool {
        let mut cache = self.folded.borrow_mut();
        let folded = cache.entry(id).or_insert_with(|| match fold(text) {
            std::borrow::Cow::Borrowed(_) => None,
            std::borrow::Cow::Owned(s) => Some(s),
        });
        pattern.matches(folded.as_deref().unwrap_or(text))
    }
}

impl RuleMatcher<'_> {
    fn route(&mut self, event: &Event) -> Arc<[usize]> {
        let key = Arc::as_ptr(&event.logsource) as usize;
        if let Some((_, rules)) = self.routes.get(&key) {
            return Arc::clone(rules);
        }
        let rules: Arc<[usize]> = self
            .set
            .routes
            .iter()
            .filter(|r| {
                event.logsource.matches(
                    r.product.as_deref(),
                    r.category.as_deref(),
                    r.service.as_deref(),
                )
            })
            .flat_map(|r| r.rules.iter().copied())
            .collect::<Vec<_>>()
            .into();
        if self.routes.len() >= ROUTE_CACHE_CAPACITY {
            self.routes.clear();
        }
        self.routes
            .insert(key, (Arc::clone(&event.logsource), Arc::clone(&rules)));
        rules
    }

    /// Calls `on_match` with the index (in [`RuleSet::rules`]) of every rule that matches.
    pub fn for_each_match(&mut self, event: &Event, mut on_match: impl FnMut(usize)) {
        let rules = self.route(event);
        let ctx = EventCtx {
            event,
            folded: RefCell::new(FxHashMap::default()),
            source: std::cell::OnceCell::new(),
        };
        for &index in rules.iter() {
            let rule = &self.set.compiled[index];
            if condition_holds(rule, &rule.condition, &ctx) {
                on_match(index);
            }
        }
    }

    /// The indices of the rules that match `event`, in rule order.
    pub fn matches(&mut self, event: &Event) -> Vec<usize> {
        let mut out = Vec::new();
        self.for_each_match(event, |i| out.push(i));
        out.sort_unstable();
        out
    }
}

fn condition_holds(rule: &CompiledRule, c: &CCondition, ctx: &EventCtx<'_>) -> bool {
    match c {
        CCondition::Ref(i) => rule
            .detections
            .get(*i)
            .is_some_and(|d| detection_holds(d, ctx)),
        CCondition::And(t) => t.iter().all(|c| condition_holds(rule, c, ctx)),
        CCondition::Or(t) => t.iter().any(|c| condition_holds(rule, c, ctx)),
        CCondition::Not(inner) => !condition_holds(rule, inner, ctx),
    }
}

fn detection_holds(d: &CDetection, ctx: &EventCtx<'_>) -> bool {
    match d {
        CDetection::AllOf(items) => items.iter().all(|i| item_holds(i, ctx)),
        CDetection::AnyOf(alternatives) => alternatives.iter().any(|a| detection_holds(a, ctx)),
        CDetection::Keywords(item) => item_holds(item, ctx),
    }
}

fn item_holds(item: &CItem, ctx: &EventCtx<'_>) -> bool {
    let value_holds = |alternatives: &Vec<Matcher>| match &item.field {
        Some(field) => {
            let found = ctx.field(field);
            alternatives.iter().any(|m| field_holds(m, found, ctx))
        }
        None => ctx.event.fields.iter().any(|(id, v)| {
            alternatives
                .iter()
                .any(|m| field_holds(m, Some((id, v)), ctx))
        }),
    };
    let result = if item.all {
        item.values.iter().all(value_holds)
    } else {
        item.values.iter().any(value_holds)
    };
    result != item.negated
}

fn field_holds(m: &Matcher, found: Option<(FieldId, Value<'_>)>, ctx: &EventCtx<'_>) -> bool {
    match m {
        Matcher::Null => found.is_none_or(|(_, v)| v.is_null()),
        Matcher::Exists(want) => found.is_some() == *want,
        _ => match found {
            None | Some((_, Value::Null)) => false,
            Some((_, Value::Array(items))) => items.iter().any(|v| scalar_holds(m, v, ctx.event)),
            Some((id, v)) => match m {
                Matcher::Glob {
                    pattern,
                    cased: false,
                } => v
                    .as_text()
                    .is_some_and(|t| ctx.folded_holds(id, t, pattern)),
                _ => scalar_holds(m, v, ctx.event),
            },
        },
    }
}
