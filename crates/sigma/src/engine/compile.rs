//! Rules into atoms: every matcher of every item becomes one numbered atom, and each rule's
//! condition a tree over them. The analysis here decides, per rule, which atoms can make it
//! fire (its *triggers*): a rule is a candidate for an event only when one of its triggers
//! is true, unless no such set exists (then it is evaluated on every routed event).

use std::sync::Arc;

use rustc_hash::FxHashMap;
use vigie_event::FieldId;

use crate::condition::Condition;
use crate::detection::{Item, Matcher};
use crate::rule::{Detection, Rule};
use crate::value::Piece;

/// Index of an atom in [`Compiled::atoms`].
pub(super) type AtomId = u32;

/// Index of a key in [`Compiled::keys`].
pub(super) type KeyId = u32;

/// A distinct indexed comparison (field, pattern, case mode): atoms of different rules that
/// compare the same field with the same pattern share one key, decided once per event.
#[derive(Debug)]
pub(super) struct Key {
    /// Index into [`Compiled::fields`]; `None` for keywords.
    pub(super) field: Option<u32>,
    pub(super) matcher: Arc<Matcher>,
    /// Rules whose trigger clauses the key satisfies when true (one bit per clause).
    pub(super) triggers: Vec<(u32, u8)>,
    /// Rules that read the key at all.
    pub(super) rules: Vec<u32>,
    /// Decided by the per-field scan of every event: keys that trigger a rule, and keys of
    /// rules evaluated on every event anyway (their long filter lists cost less as one
    /// automaton pass than as pattern after pattern). The others (filters and other
    /// conjuncts of triggered rules) are evaluated lazily, only when a candidate's condition
    /// reaches them: scanning for them would cost every event.
    pub(super) scanned: bool,
}

/// A field as a rule names it, resolved for every source.
#[derive(Debug, Clone)]
pub(super) struct FieldRef {
    /// The interned id of that name, when it fits the interner.
    pub(super) id: Option<FieldId>,
    /// (channel in lower case, EventIDs, the field holding the value there).
    pub(super) mapped: Vec<(String, Vec<u32>, FieldId)>,
}

/// One matcher of one item value.
#[derive(Debug)]
pub(super) struct Atom {
    /// Index into [`Compiled::fields`]; `None` for keywords.
    pub(super) field: Option<u32>,
    pub(super) matcher: Arc<Matcher>,
    /// Its truth comes from the per-field scan (exact table or automaton), never evaluated.
    pub(super) indexed: bool,
    /// The rule it belongs to.
    pub(super) rule: u32,
    /// The trigger clauses of its rule it belongs to (one bit per clause).
    pub(super) trigger: u8,
    /// The key deciding it, when indexed.
    pub(super) key: Option<KeyId>,
}

#[derive(Debug)]
pub(super) struct CItem {
    /// Per value, its alternatives.
    pub(super) values: Vec<Vec<AtomId>>,
    pub(super) all: bool,
    pub(super) negated: bool,
    /// When the item holds exactly when one of its atoms does (not `all`) and the scan
    /// decides every one of them (their keys are scanned): their field and keys. Where the
    /// route scans that field, the item is a loop over bits instead of an evaluation per
    /// atom (filter lists of dozens of paths are common).
    pub(super) scanned: Option<(u32, Box<[KeyId]>)>,
    /// When the item holds exactly when its field's address is in one of several networks
    /// (`DestinationIp|cidr:` lists of a hundred ranges): the field and the networks as
    /// sorted, merged ranges, searched once instead of tested one by one.
    pub(super) networks: Option<(u32, Box<Networks>)>,
}

/// Sorted, disjoint address ranges (inclusive), v4 and v6 apart (an address is only in a
/// network of its family, as `eval::in_network` decides).
#[derive(Debug, Default)]
pub(super) struct Networks {
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
}

/// Items with fewer networks are tested one by one.
const NETWORKS_MIN: usize = 4;

impl Networks {
    fn add(&mut self, network: std::net::IpAddr, prefix: u8) {
        match network {
            std::net::IpAddr::V4(n) => {
                let host = u32::MAX.checked_shr(u32::from(prefix)).unwrap_or(0);
                let start = u32::from(n) & !host;
                self.v4.push((start, start | host));
            }
            std::net::IpAddr::V6(n) => {
                let host = u128::MAX.checked_shr(u32::from(prefix)).unwrap_or(0);
                let start = u128::from(n) & !host;
                self.v6.push((start, start | host));
            }
        }
    }

    fn finish(&mut self) {
        fn merge<T: Ord + Copy>(ranges: &mut Vec<(T, T)>) {
            ranges.sort_unstable();
            let mut out: Vec<(T, T)> = Vec::with_capacity(ranges.len());
            for &(start, end) in ranges.iter() {
                match out.last_mut() {
                    Some(last) if start <= last.1 => last.1 = last.1.max(end),
                    _ => out.push((start, end)),
                }
            }
            *ranges = out;
        }
        merge(&mut self.v4);
        merge(&mut self.v6);
    }

    /// Whether `ip` is in one of the networks.
    pub(super) fn contains(&self, ip: std::net::IpAddr) -> bool {
        fn find<T: Ord + Copy>(ranges: &[(T, T)], x: T) -> bool {
            let i = ranges.partition_point(|r| r.0 <= x);
            i > 0 && x <= ranges[i - 1].1
        }
        match ip {
            std::net::IpAddr::V4(a) => find(&self.v4, u32::from(a)),
            std::net::IpAddr::V6(a) => find(&self.v6, u128::from(a)),
        }
    }
}

#[derive(Debug)]
pub(super) enum CDetection {
    AllOf(Vec<CItem>),
    AnyOf(Vec<CDetection>),
    Keywords(CItem),
}

#[derive(Debug)]
pub(super) enum CCondition {
    Ref(usize),
    And(Vec<CCondition>),
    Or(Vec<CCondition>),
    Not(Box<CCondition>),
}

#[derive(Debug)]
pub(super) struct CompiledRule {
    pub(super) detections: Vec<CDetection>,
    pub(super) condition: CCondition,
    /// No set of indexed atoms is necessary: evaluate on every routed event.
    pub(super) always: bool,
    /// Trigger clauses (≤ [`MAX_CLAUSES`]): a candidate has a true atom in each.
    pub(super) clauses: u8,
    /// For an always-evaluated rule, indexed atoms any one of which, true, makes the
    /// condition false (`not 1 of filter_*`, `not known_extension`): the rule is not
    /// evaluated on an event where the scan found one true. See [`decisive`].
    pub(super) vetoes: Vec<AtomId>,
}

/// Every rule of a set, compiled.
#[derive(Debug, Default)]
pub(super) struct Compiled {
    pub(super) fields: Vec<FieldRef>,
    pub(super) atoms: Vec<Atom>,
    pub(super) keys: Vec<Key>,
    pub(super) rules: Vec<CompiledRule>,
}

/// What makes two indexed atoms the same key.
#[derive(PartialEq, Eq, Hash)]
enum Signature<'a> {
    Glob(Option<u32>, &'a crate::value::SigmaString, bool),
    Regex(Option<u32>, &'a str),
}

/// Whether the per-field scan can decide a matcher exactly: wildcard patterns with at least
/// one literal piece (patterns of wildcards alone match by length and are evaluated), and
/// regular expressions with literal witnesses.
fn indexable(m: &Matcher) -> bool {
    match m {
        Matcher::Glob { pattern, .. } => {
            pattern.pieces().is_empty()
                || pattern
                    .pieces()
                    .iter()
                    .any(|p| matches!(p, Piece::Text(t) if !t.is_empty()))
        }
        Matcher::Regex(re) => !re.witnesses().is_empty(),
        _ => false,
    }
}

impl Compiled {
    pub(super) fn new(rules: &[Rule]) -> Compiled {
        let mut c = Compiled::default();
        let mut field_index: FxHashMap<String, u32> = FxHashMap::default();
        for (index, rule) in rules.iter().enumerate() {
            let mut b = Builder {
                c: &mut c,
                field_index: &mut field_index,
                rule: index as u32,
            };
            let detections: Vec<CDetection> = rule
                .detections
                .iter()
                .map(|(_, d)| b.detection(d))
                .collect();
            let condition = compile_condition(&rule.condition, rule);
            let triggers = analyse(&c, &detections, &condition, true);
            let always = triggers.is_none();
            let mut clauses = triggers.unwrap_or_default();
            drop_costly_second_clause(&c, &mut clauses);
            for (i, (atoms, _)) in clauses.iter().enumerate() {
                for &atom in atoms {
                    c.atoms[atom as usize].trigger |= 1 << i;
                }
            }
            let vetoes = if always {
                decisive(&c, &detections, &condition, false)
            } else {
                Vec::new()
            };
            c.rules.push(CompiledRule {
                detections,
                condition,
                always,
                clauses: clauses.len() as u8,
                vetoes,
            });
        }
        c.assign_keys();
        let Compiled {
            atoms, keys, rules, ..
        } = &mut c;
        // Every key's `scanned` is settled before the items answered from scan bits are.
        for d in rules.iter_mut().flat_map(|r| &mut r.detections) {
            each_item(d, &mut |item| scan_long_list(item, atoms, keys));
        }
        for d in rules.iter_mut().flat_map(|r| &mut r.detections) {
            each_item(d, &mut |item| {
                item.scanned = item_keys(item, atoms, keys);
                item.networks = item_networks(item, atoms);
            });
        }
        c
    }

    fn assign_keys(&mut self) {
        // First pass: the key of each indexed atom, by a signature borrowed from the atom
        // (no pattern is copied but one per key).
        let mut by_signature: FxHashMap<Signature<'_>, KeyId> = FxHashMap::default();
        let mut first_atom: Vec<usize> = Vec::new();
        let mut assigned: Vec<Option<KeyId>> = Vec::with_capacity(self.atoms.len());
        for (index, atom) in self.atoms.iter().enumerate() {
            let signature = match &*atom.matcher {
                Matcher::Glob { pattern, cased } if atom.indexed => {
                    Signature::Glob(atom.field, pattern, *cased)
                }
                Matcher::Regex(re) if atom.indexed => Signature::Regex(atom.field, re.as_str()),
                _ => {
                    assigned.push(None);
                    continue;
                }
            };
            let id = *by_signature.entry(signature).or_insert_with(|| {
                first_atom.push(index);
                (first_atom.len() - 1) as KeyId
            });
            assigned.push(Some(id));
        }
        drop(by_signature);
        self.keys = first_atom
            .iter()
            .map(|&i| {
                let atom = &mut self.atoms[i];
                Key {
                    field: atom.field,
                    matcher: atom.matcher.clone(),
                    triggers: Vec::new(),
                    rules: Vec::new(),
                    scanned: false,
                }
            })
            .collect();
        for (atom, id) in self.atoms.iter_mut().zip(assigned) {
            let Some(id) = id else { continue };
            atom.key = Some(id);
            let key = &mut self.keys[id as usize];
            if key.rules.last() != Some(&atom.rule) {
                key.rules.push(atom.rule);
            }
            if atom.trigger != 0 {
                match key.triggers.last_mut() {
                    Some((rule, mask)) if *rule == atom.rule => *mask |= atom.trigger,
                    _ => key.triggers.push((atom.rule, atom.trigger)),
                }
            }
        }
        let rules = &self.rules;
        for key in &mut self.keys {
            key.scanned =
                !key.triggers.is_empty() || key.rules.iter().any(|&r| rules[r as usize].always);
        }
    }
}

/// Items listing at least this many values on one field have every key scanned.
const LONG_LIST: usize = 8;

/// Calls `f` on every item of `d` that reads named fields (keyword items read every field
/// and are left to the evaluation).
fn each_item(d: &mut CDetection, f: &mut impl FnMut(&mut CItem)) {
    match d {
        CDetection::AllOf(items) => items.iter_mut().for_each(&mut *f),
        CDetection::AnyOf(alternatives) => {
            for a in alternatives {
                each_item(a, f);
            }
        }
        CDetection::Keywords(_) => {}
    }
}

/// The field every atom of `item` compares, when the item holds as soon as one of them does
/// (not `all`) and they all compare the same field.
fn one_field(item: &CItem, atoms: &[Atom]) -> Option<u32> {
    if item.all {
        return None;
    }
    let mut field = None;
    for &a in item.values.iter().flatten() {
        let f = atoms[a as usize].field?;
        if *field.get_or_insert(f) != f {
            return None;
        }
    }
    field
}

/// Marks scanned the keys of a long filter list: an item of [`LONG_LIST`] or more indexed
/// values on one field is then one loop over bits the scan (mostly the memo) answers,
/// instead of glob after glob whenever its rule is a candidate.
fn scan_long_list(item: &CItem, atoms: &[Atom], keys: &mut [Key]) {
    let values = || item.values.iter().flatten().map(|&a| atoms[a as usize].key);
    if values().count() < LONG_LIST
        || values().any(|k| k.is_none())
        || one_field(item, atoms).is_none()
    {
        return;
    }
    for k in values().flatten() {
        keys[k as usize].scanned = true;
    }
}

fn item_networks(item: &CItem, atoms: &[Atom]) -> Option<(u32, Box<Networks>)> {
    if item.values.iter().flatten().count() < NETWORKS_MIN {
        return None;
    }
    let field = one_field(item, atoms)?;
    let mut networks = Networks::default();
    for &a in item.values.iter().flatten() {
        let Matcher::Cidr { network, prefix } = *atoms[a as usize].matcher else {
            return None;
        };
        networks.add(network, prefix);
    }
    networks.finish();
    Some((field, Box::new(networks)))
}

fn item_keys(item: &CItem, atoms: &[Atom], keys: &[Key]) -> Option<(u32, Box<[KeyId]>)> {
    let field = one_field(item, atoms)?;
    let scanned = item
        .values
        .iter()
        .flatten()
        .map(|&a| atoms[a as usize].key.filter(|&k| keys[k as usize].scanned))
        .collect::<Option<Box<[KeyId]>>>()?;
    Some((field, scanned))
}

struct Builder<'a> {
    c: &'a mut Compiled,
    field_index: &'a mut FxHashMap<String, u32>,
    rule: u32,
}

impl Builder<'_> {
    fn field(&mut self, name: &str) -> u32 {
        if let Some(&i) = self.field_index.get(name) {
            return i;
        }
        let i = self.c.fields.len() as u32;
        self.c.fields.push(FieldRef {
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
        });
        self.field_index.insert(name.to_owned(), i);
        i
    }

    fn item(&mut self, item: &Item) -> CItem {
        let field = item.field.as_deref().map(|f| self.field(f));
        let values = item
            .values
            .iter()
            .map(|alternatives| {
                alternatives
                    .iter()
                    .map(|m| {
                        let id = self.c.atoms.len() as AtomId;
                        self.c.atoms.push(Atom {
                            field,
                            indexed: indexable(m),
                            matcher: m.clone(),
                            rule: self.rule,
                            trigger: 0,
                            key: None,
                        });
                        id
                    })
                    .collect()
            })
            .collect();
        CItem {
            values,
            all: item.all,
            negated: item.negated,
            scanned: None,
            networks: None,
        }
    }

    fn detection(&mut self, d: &Detection) -> CDetection {
        match d {
            Detection::AllOf(items) => {
                CDetection::AllOf(items.iter().map(|i| self.item(i)).collect())
            }
            Detection::AnyOf(alternatives) => {
                CDetection::AnyOf(alternatives.iter().map(|a| self.detection(a)).collect())
            }
            Detection::Keywords(item) => CDetection::Keywords(self.item(item)),
        }
    }
}

fn compile_condition(c: &Condition, rule: &Rule) -> CCondition {
    match c {
        // Conditions only name identifiers of their rule (the loader checks), so the position
        // is always found; an unknown name could only come from a hand-built Rule, and then
        // `usize::MAX` evaluates to false as the reference does.
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

// The analysis finds, for each rule, a set of indexed atoms at least one of which is true
// whenever the rule fires: its *triggers*. Walking the condition with a polarity (are we
// looking for what makes this node true, or false?):
// - an indexed atom sought true is its own trigger set; anything else sought is unknown;
// - a disjunction needs the union of its branches' sets (each branch could be the one);
// - a conjunction needs every branch's sets: keep the two rarest (estimated) as clauses, and
//   a rule is a candidate only when both have a true atom;
// - negation flips the polarity (De Morgan: a conjunction sought false is a disjunction).
// A rule with no set (a lone `not`, a regex alone, `null`) is evaluated on every event it is
// routed to.

/// Estimated share of events on which an atom is true: EventIDs, booleans and small numbers
/// (logon types, levels) are common, other exact values and long literals rare. Only the
/// choice of trigger clauses depends on it (never a rule's answer): a common clause makes a
/// rule a candidate on events it then rejects.
fn frequency(c: &Compiled, atom: &Atom) -> f64 {
    let pattern = match &*atom.matcher {
        Matcher::Glob { pattern, .. } => pattern,
        Matcher::Regex(re) => {
            return re
                .witnesses()
                .iter()
                .map(|w| 1.0 / ((1 + w.len()) * (1 + w.len())) as f64)
                .sum();
        }
        _ => return 1.0,
    };
    let literal: usize = pattern
        .pieces()
        .iter()
        .map(|p| match p {
            Piece::Text(t) => t.len(),
            _ => 0,
        })
        .max()
        .unwrap_or(0);
    match pattern.pieces() {
        [Piece::Text(t)] => exact_frequency(c, atom.field, t),
        _ => 1.0 / ((1 + literal) * (1 + literal)) as f64,
    }
}

/// See [`frequency`]: the estimate for a whole value (`text` folded or not).
fn exact_frequency(c: &Compiled, field: Option<u32>, text: &str) -> f64 {
    let event_id = field
        .and_then(|f| c.fields[f as usize].id)
        .is_some_and(|id| id.name() == "EventID");
    let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    if event_id
        || (digits && text.len() <= 2)
        || text.eq_ignore_ascii_case("true")
        || text.eq_ignore_ascii_case("false")
    {
        0.5
    } else if digits {
        // Ports, status codes: one value among many.
        0.1
    } else {
        0.05
    }
}

/// A clause: atoms at least one of which is true whenever the node holds, with its estimated
/// frequency (the sum of its atoms').
type Clause = (Vec<AtomId>, f64);

/// Trigger clauses, all of which must be satisfied (a conjunction), rarest first, at most
/// [`MAX_CLAUSES`]; `None`: no atom is necessary.
type Triggers = Option<Vec<Clause>>;

/// Clauses kept per rule: two conjuncts that are each common (an EventID and a logon type)
/// are together rare.
pub(super) const MAX_CLAUSES: usize = 2;

/// A node true only when one of `sets` is. Each set is a conjunction of clauses, all implied
/// by its node; so for any choice of one clause per set, the union of the chosen clauses is
/// implied by the disjunction. Two choices are kept: every set's rarest clause, and every
/// set's second rarest (its only one when it has one), so that `(a and b) or c` needs both
/// `a or c` and `b or c`: a common `a` (an image under `\Windows\`) alone no longer makes
/// the rule a candidate.
fn union(sets: impl Iterator<Item = Triggers>) -> Triggers {
    let mut out: Vec<Clause> = Vec::new();
    let mut first = true;
    for set in sets {
        let clauses = set?;
        if clauses.is_empty() {
            // A branch that needs nothing: neither does the disjunction.
            return None;
        }
        if first {
            // The first set's vectors carry the result (no allocation for a lone branch).
            first = false;
            out = clauses;
            continue;
        }
        if out.len() < clauses.len() {
            // Choice 1 of the sets so far is their only clause: copy it.
            let copy = out[0].clone();
            out.push(copy);
        }
        for (k, acc) in out.iter_mut().enumerate() {
            let (atoms, f) = &clauses[k.min(clauses.len() - 1)];
            acc.0.extend_from_slice(atoms);
            acc.1 += f;
        }
    }
    if first {
        return Some(vec![(Vec::new(), 0.0)]);
    }
    out.sort_by(|a, b| a.1.total_cmp(&b.1));
    Some(out)
}

/// Below this estimated frequency a clause alone makes few candidates.
const RARE_CLAUSE: f64 = 0.1;

/// Drops a rule's second trigger clause when its first is rare alone and the second holds a
/// regular expression. A trigger key is scanned on every text of its field, and a scanned
/// regex runs on each new text its witness occurs in: `CommandLine|re: ':[^ \\]'` beside
/// `Image|endswith: '\regini.exe'` (four rules) ran on every fresh command line with a colon
/// to spare candidates that the image clause already makes rare. Evaluated on the rule's
/// candidates instead, it runs only there; the rule's answer is the same either way.
fn drop_costly_second_clause(c: &Compiled, clauses: &mut Vec<Clause>) {
    if let [(_, rare), (second, _)] = clauses.as_slice()
        && *rare < RARE_CLAUSE
        && second
            .iter()
            .any(|&a| matches!(&*c.atoms[a as usize].matcher, Matcher::Regex(_)))
    {
        clauses.truncate(1);
    }
}

/// A node true only when all of `sets` are: every clause of every set is implied; keep the
/// rarest few.
fn rarest(sets: impl Iterator<Item = Triggers>) -> Triggers {
    let mut all: Vec<Clause> = sets.flatten().flatten().collect();
    if all.is_empty() {
        return None;
    }
    all.sort_by(|a, b| a.1.total_cmp(&b.1));
    all.truncate(MAX_CLAUSES);
    Some(all)
}

fn analyse(c: &Compiled, detections: &[CDetection], cond: &CCondition, positive: bool) -> Triggers {
    match cond {
        CCondition::Ref(i) => match detections.get(*i) {
            Some(d) => analyse_detection(c, d, positive),
            // An unknown name is false: sought true, nothing can trigger it (one clause with
            // no atom). Sought false, nothing is necessary.
            None => positive.then(|| vec![(Vec::new(), 0.0)]),
        },
        CCondition::And(t) if positive => rarest(t.iter().map(|x| analyse(c, detections, x, true))),
        CCondition::And(t) => union(t.iter().map(|x| analyse(c, detections, x, false))),
        CCondition::Or(t) if positive => union(t.iter().map(|x| analyse(c, detections, x, true))),
        CCondition::Or(t) => rarest(t.iter().map(|x| analyse(c, detections, x, false))),
        CCondition::Not(inner) => analyse(c, detections, inner, !positive),
    }
}

fn analyse_detection(c: &Compiled, d: &CDetection, positive: bool) -> Triggers {
    match d {
        CDetection::AllOf(items) if positive => {
            rarest(items.iter().map(|i| analyse_item(c, i, true)))
        }
        CDetection::AllOf(items) => union(items.iter().map(|i| analyse_item(c, i, false))),
        CDetection::AnyOf(alternatives) if positive => {
            union(alternatives.iter().map(|a| analyse_detection(c, a, true)))
        }
        CDetection::AnyOf(alternatives) => {
            rarest(alternatives.iter().map(|a| analyse_detection(c, a, false)))
        }
        CDetection::Keywords(item) => analyse_item(c, item, positive),
    }
}

fn analyse_item(c: &Compiled, item: &CItem, positive: bool) -> Triggers {
    let positive = positive != item.negated;
    // A value holds when one of its alternatives does; sought false, an atom is unknown.
    let value = |alternatives: &Vec<AtomId>| -> Triggers {
        if !positive {
            return None;
        }
        // The union of its alternatives' atoms, built at once.
        let mut f = 0.0;
        for &a in alternatives {
            let atom = &c.atoms[a as usize];
            if !atom.indexed {
                return None;
            }
            f += frequency(c, atom);
        }
        Some(vec![(alternatives.clone(), f)])
    };
    match (item.all, positive) {
        (false, true) => union(item.values.iter().map(value)),
        (true, true) => rarest(item.values.iter().map(value)),
        // Sought false, values are unknown whatever the combination.
        (_, false) => None,
    }
}

/// Indexed atoms any one of which, true, makes `cond` true (`makes_true`) or false (a sound
/// subset: empty when none is known). A true atom makes its value, and so a plain item, true
/// (never false): a conjunction is false when one term is, a disjunction true when one
/// branch is, a negation flips the question.
fn decisive(
    c: &Compiled,
    detections: &[CDetection],
    cond: &CCondition,
    makes_true: bool,
) -> Vec<AtomId> {
    match cond {
        CCondition::Ref(i) => detections
            .get(*i)
            .map(|d| detection_atoms(c, d, makes_true))
            .unwrap_or_default(),
        // Each term decides alone: the conjunction's falsity, the disjunction's truth.
        CCondition::And(terms) | CCondition::Or(terms)
            if matches!(cond, CCondition::Or(_)) == makes_true =>
        {
            terms
                .iter()
                .flat_map(|t| decisive(c, detections, t, makes_true))
                .collect()
        }
        // Otherwise only a single term decides.
        CCondition::And(terms) | CCondition::Or(terms) => match terms.as_slice() {
            [t] => decisive(c, detections, t, makes_true),
            _ => Vec::new(),
        },
        CCondition::Not(inner) => decisive(c, detections, inner, !makes_true),
    }
}

/// Indexed atoms any one of which, true, makes `d` true (`makes_true`) or false.
fn detection_atoms(c: &Compiled, d: &CDetection, makes_true: bool) -> Vec<AtomId> {
    match d {
        CDetection::AllOf(items) if makes_true => match items.as_slice() {
            [item] => item_atoms(c, item, true),
            _ => Vec::new(),
        },
        CDetection::AllOf(items) => items.iter().flat_map(|i| item_atoms(c, i, false)).collect(),
        CDetection::AnyOf(alternatives) if makes_true => alternatives
            .iter()
            .flat_map(|a| detection_atoms(c, a, true))
            .collect(),
        CDetection::AnyOf(alternatives) => match alternatives.as_slice() {
            [a] => detection_atoms(c, a, false),
            _ => Vec::new(),
        },
        CDetection::Keywords(item) => item_atoms(c, item, makes_true),
    }
}

/// Indexed atoms any one of which, true, makes `item` true (`makes_true`) or false: its
/// values hold when one atom of each (`all`) or of any value does, and a negated item is
/// true when they do not.
fn item_atoms(c: &Compiled, item: &CItem, makes_true: bool) -> Vec<AtomId> {
    if makes_true == item.negated {
        return Vec::new();
    }
    let values: &[Vec<AtomId>] = match (item.all, item.values.as_slice()) {
        (false, values) => values,
        (true, [value]) => std::slice::from_ref(value),
        (true, _) => return Vec::new(),
    };
    values
        .iter()
        .flatten()
        .copied()
        .filter(|&a| c.atoms[a as usize].indexed)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_hold_the_addresses_of_each_network() {
        let nets: Vec<(std::net::IpAddr, u8)> = [
            ("10.0.0.0", 8),
            ("10.1.0.0", 16),
            ("172.16.0.0", 12),
            ("192.168.1.7", 32),
            ("192.168.1.8", 31),
            ("0.0.0.0", 0),
            ("fe80::", 10),
            ("::1", 128),
            ("2001:db8::", 32),
        ]
        .iter()
        .map(|(n, p)| (n.parse().unwrap(), *p))
        .collect();
        for take in [1, 4, nets.len() - 1, nets.len()] {
            let chosen = &nets[nets.len() - take..];
            let mut networks = Networks::default();
            for &(n, p) in chosen {
                networks.add(n, p);
            }
            networks.finish();
            for ip in [
                "10.0.0.0",
                "10.255.255.255",
                "11.0.0.0",
                "172.15.255.255",
                "172.16.0.1",
                "172.31.255.255",
                "172.32.0.0",
                "192.168.1.6",
                "192.168.1.7",
                "192.168.1.9",
                "192.168.1.10",
                "255.255.255.255",
                "fe80::1",
                "febf:ffff::",
                "fec0::",
                "::1",
                "::2",
                "2001:db8:ffff::1",
                "2001:db9::",
                "::ffff:10.0.0.1",
            ] {
                let ip: std::net::IpAddr = ip.parse().unwrap();
                let expected = chosen
                    .iter()
                    .any(|&(n, p)| crate::eval::in_network(ip, n, p));
                assert_eq!(networks.contains(ip), expected, "{ip} in {chosen:?}");
            }
        }
    }

    fn compiled(detection: &str) -> Compiled {
        Compiled::new(&[crate::testing::rule(detection)])
    }

    fn always(detection: &str) -> bool {
        compiled(detection).rules[0].always
    }

    /// Each atom's trigger clause bits.
    fn triggers(c: &Compiled) -> Vec<u8> {
        c.atoms.iter().map(|a| a.trigger).collect()
    }

    #[test]
    fn vetoes_are_atoms_that_make_the_condition_false() {
        let vetoes = |detection: &str| -> Vec<String> {
            let c = compiled(detection);
            assert!(c.rules[0].always, "{detection}");
            c.rules[0]
                .vetoes
                .iter()
                .map(|&a| match &*c.atoms[a as usize].matcher {
                    Matcher::Glob { pattern, .. } => pattern
                        .pieces()
                        .iter()
                        .map(|p| match p {
                            Piece::Text(t) => t.as_str(),
                            Piece::AnyRun => "*",
                            Piece::AnyOne => "?",
                        })
                        .collect(),
                    other => format!("{other:?}"),
                })
                .collect()
        };
        assert_eq!(
            vetoes(
                "  k:\n    Image|endswith:\n      - '.exe'\n      - '.com'\n  f:\n    Image: System\n  condition: not k and not 1 of f*"
            ),
            ["*.exe", "*.com", "system"]
        );
        // A map of two items is true only when both are: neither atom alone makes it true.
        assert!(vetoes("  f:\n    Image: a\n    User: b\n  condition: not f").is_empty());
        // A negated item is made false by its atoms.
        assert_eq!(
            vetoes("  s:\n    Image|contains: '\\'\n  condition: not s"),
            ["*\\*"]
        );
        // A disjunction is false only when every branch is.
        assert!(
            vetoes("  f:\n    Image: a\n  g:\n    User: b\n  condition: not f or not g").is_empty()
        );
        // Only indexed atoms (decided by the scan) can veto.
        assert!(vetoes("  f:\n    Image: null\n  condition: not f").is_empty());
    }

    #[test]
    fn a_regex_clause_beside_a_rare_one_is_not_a_trigger() {
        // The image clause alone makes few candidates: the regex is evaluated on them only.
        let c = compiled(
            "  i:\n    Image|endswith: '\\regini.exe'\n  r:\n    CommandLine|re: ':[^ \\\\]'\n  \
             condition: i and r",
        );
        assert_eq!(c.rules[0].clauses, 1);
        assert_eq!(triggers(&c), [1, 0]);
        // Beside a common clause (an EventID) the regex stays a trigger; so does a second
        // clause without a regex.
        let c = compiled("  s:\n    EventID: 1\n    CommandLine|re: 'a:b'\n  condition: s");
        assert_eq!(c.rules[0].clauses, 2);
        let c = compiled(
            "  i:\n    Image|endswith: '\\regini.exe'\n    CommandLine|contains: ':x'\n  \
             condition: i",
        );
        assert_eq!(c.rules[0].clauses, 2);
    }

    #[test]
    fn triggers_are_the_positive_indexed_atoms() {
        assert!(!always(
            "  s:\n    Image|endswith: '\\cmd.exe'\n  condition: s"
        ));
        assert!(!always(
            "  s:\n    Image|endswith: '\\cmd.exe'\n  f:\n    User: x\n  condition: s and not f"
        ));
        // Negation alone, regular expressions alone, null: nothing is necessary.
        assert!(always("  f:\n    User: x\n  condition: not f"));
        assert!(always("  s:\n    Image|re: '[a-z]+'\n  condition: s"));
        assert!(always("  s:\n    Image: null\n  condition: s"));
        assert!(always(
            "  s:\n    Image: x\n  r:\n    CommandLine|re: '\\w+'\n  condition: s or r"
        ));
        assert!(!always(
            "  s:\n    Image: x\n  r:\n    CommandLine|re: '\\w+'\n  condition: s and r"
        ));
        assert!(always("  s:\n    Image|neq: x\n  condition: s"));
        // Keywords are scanned for in every field.
        assert!(!always("  k:\n    - mimikatz\n  condition: k"));
        assert!(!always(
            "  s:\n    Image|re: '(?i)\\\\(cmd|powershell)\\.exe$'\n  condition: s"
        ));
        assert!(always("  s:\n    Image|re: '.*'\n  condition: s"));
        let c = compiled(
            "  s:\n    Image|endswith: '\\cmd.exe'\n  f:\n    User: x\n  condition: s and not f",
        );
        assert_eq!(triggers(&c), [1, 0]);
        // Two common conjuncts are both required.
        let c = compiled("  s:\n    EventID: 4624\n    LogonType: 3\n  condition: s");
        assert_eq!(c.rules[0].clauses, 2);
        assert_eq!(triggers(&c), [1, 2]);
        // A disjunction of single clauses is one clause.
        let c = compiled("  s:\n    EventID: 4624\n  t:\n    LogonType: 3\n  condition: s or t");
        assert_eq!(c.rules[0].clauses, 1);
        // `(a and b) or c` needs `a or c` and `b or c`: c is in both clauses.
        let c = compiled(
            "  s:\n    Image|contains: '\\Windows\\'\n    CommandLine|contains: '\\..\\..\\'\n  \
             t:\n    CommandLine|contains: '.exe\\..\\'\n  condition: 1 of *",
        );
        assert_eq!(c.rules[0].clauses, 2);
        assert_eq!(triggers(&c), [1, 2, 3]);
        // A port is rarer than a boolean: the two rarest conjuncts are the port and one flag.
        let c = compiled(
            "  s:\n    DestinationPort: 5985\n    Initiated: 'true'\n    SourceIsIpv6: 'false'\n  \
             condition: s",
        );
        assert_eq!(triggers(&c), [1, 2, 0]);
    }

    #[test]
    fn long_filter_lists_are_scanned_short_ones_evaluated() {
        let rule = |n: usize| {
            let list: String = (0..n)
                .map(|i| format!("      - 'C:\\Dir{i}\\'\n"))
                .collect();
            format!(
                "  s:\n    Image|endswith: '\\x.exe'\n  f:\n    Image|startswith:\n{list}  \
                 condition: s and not f"
            )
        };
        let scanned = |c: &Compiled| -> Vec<bool> {
            let CDetection::AllOf(items) = &c.rules[0].detections[1] else {
                panic!("a map");
            };
            vec![
                items[0].scanned.is_some(),
                c.keys.iter().filter(|k| k.scanned).count() == c.keys.len(),
            ]
        };
        // The filter list's keys trigger nothing: scanned only when the list is long.
        assert_eq!(scanned(&compiled(&rule(LONG_LIST))), [true, true]);
        assert_eq!(scanned(&compiled(&rule(LONG_LIST - 1))), [false, false]);
    }
}
