//! The fast engine: all rules compiled once into an immutable [`RuleSet`], evaluated per event
//! by candidate selection.
//!
//! Per event, a [`RuleMatcher`]
//! 1. routes by logsource: the rules whose logsource matches the event's classification
//!    (cached per distinct `Arc<LogSource>`, which the decoders share between events of one
//!    classification), with the fields those rules read;
//! 2. scans each of those fields once, folded to lower case once, through the field's
//!    `scan::FieldScanner` (exact-value table plus one Aho-Corasick automaton of the
//!    witnesses of the field's scanned keys): every scanned key on that field is decided in
//!    that one pass (keywords likewise, over every text of the event, when a routed rule has
//!    them; regular expressions through their literal witnesses). A key is scanned when it
//!    triggers a rule or belongs to a rule evaluated on every event. What a scan decides
//!    depends only on the scanner and the text, and production values repeat: a text seen
//!    recently is answered from a bounded per-matcher memo (`memo.rs`) instead;
//! 3. derives the candidates: rules with a true atom in each of their (at most two) *trigger
//!    clauses* (see `compile.rs`: sets of atoms without which the rule cannot fire), plus the
//!    few rules that have no such atoms;
//! 4. evaluates only the candidates' conditions, with short-circuit; scanned keys are bit
//!    lookups, the other atoms (lazy keys, cidr, numbers, fieldref, null, exists) are
//!    evaluated only when the condition reaches them, on values folded or parsed once per
//!    event.
//!
//! In steady state an event allocates nothing: the matcher keeps its buffers (the key bit
//! set, the candidate list, the folding buffers) between events. The exceptions are rare
//! atoms: `fieldref` without `cased` folds both values, and case-insensitive patterns on
//! array elements fold each element.
//!
//! Matching semantics are the reference interpreter's ([`crate::eval`]): the matchers are
//! shared, and a differential test over the regression corpus and a fuzz target (random
//! rules × random events) compare the two.
//!
//! Matching runs on the caller's thread; keep one [`RuleMatcher`] per worker thread and share
//! the [`RuleSet`] through an `Arc`; a reload swaps the `Arc` (`vigie-detect` does).

mod compile;
mod memo;
mod scan;

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use vigie_event::{Event, FieldId, LogSource, Value};

use crate::detection::Matcher;
use crate::rule::Rule;
use crate::value::{fold_append, fold_into};
use compile::{AtomId, CCondition, CDetection, CItem, Compiled, CompiledRule, FieldRef, KeyId};
use memo::Memo;
use scan::{FieldScanner, Hits};

/// Rules sharing one logsource.
#[derive(Debug)]
struct Route {
    product: Option<String>,
    category: Option<String>,
    service: Option<String>,
    rules: Vec<u32>,
    /// The fields scanned for these rules: those with a scanned key that triggers one of
    /// them or belongs to one evaluated on every event (sorted, distinct).
    fields: Vec<u32>,
    /// Whether their keyword atoms are scanned for likewise.
    keywords: bool,
}

/// An immutable, compiled set of rules. Share it between worker threads (`Arc<RuleSet>`);
/// swap the `Arc` to reload (`vigie_detect::Rules`).
#[derive(Debug)]
pub struct RuleSet {
    rules: Vec<Rule>,
    compiled: Compiled,
    routes: Vec<Route>,
    /// Per field of `compiled.fields`, its scanner (`None`: no indexed atom reads it).
    scanners: Vec<Option<FieldScanner>>,
    /// Keywords (field-less atoms), scanned for in every field of an event.
    keywords: Option<FieldScanner>,
    /// By event field id ([`FieldId::index`]): the fields of `compiled.fields` that read it,
    /// directly ([`DIRECT`]) or through their mapping number n (`compiled.fields[f].mapped[n]`).
    /// The scan walks the event's fields through this table instead of looking up every field
    /// the routed rules read (most of which an event does not have).
    readers: Vec<Vec<(u32, u32)>>,
    /// Per atom, what [`RouteView::scanned_answer`] needs, packed (8 bytes instead of an
    /// atom and a key, two large structures, per lookup; a candidate's evaluation reads
    /// dozens): its key when the key is scanned (else [`NOT_SCANNED`]), and its field (or
    /// [`KEYWORD_FIELD`]).
    atom_scan: Vec<(u32, u32)>,
}

/// See [`RuleSet::atom_scan`]: an atom the scan never decides.
const NOT_SCANNED: u32 = u32::MAX;

/// See [`RuleSet::atom_scan`]: a keyword atom (no field).
const KEYWORD_FIELD: u32 = u32::MAX;

/// See [`RuleSet::readers`].
const DIRECT: u32 = u32::MAX;

impl RuleSet {
    /// Compiles `rules` (filters already applied).
    pub fn new(rules: Vec<Rule>) -> RuleSet {
        let compiled = Compiled::new(&rules);
        // Automata are independent per field: build them on every core, largest first so
        // that the biggest (command lines) does not come last. The keywords' scanner is one
        // more job (the last index).
        let keywords_job = compiled.fields.len();
        let mut per_field: Vec<Vec<KeyId>> = vec![Vec::new(); keywords_job + 1];
        for (id, key) in compiled.keys.iter().enumerate().filter(|(_, k)| k.scanned) {
            per_field[key.field.map_or(keywords_job, |f| f as usize)].push(id as KeyId);
        }
        let mut order: Vec<usize> = (0..per_field.len())
            .filter(|&f| !per_field[f].is_empty())
            .collect();
        order.sort_by_key(|&f| std::cmp::Reverse(per_field[f].len()));
        let threads = std::thread::available_parallelism()
            .map_or(1, usize::from)
            .clamp(1, 8);
        let next = std::sync::atomic::AtomicUsize::new(0);
        let built: Vec<(usize, FieldScanner)> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    scope.spawn(|| {
                        let mut mine = Vec::new();
                        loop {
                            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some(&f) = order.get(i) else { break };
                            mine.push((f, FieldScanner::build(&compiled.keys, &per_field[f])));
                        }
                        mine
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        });
        let mut scanners: Vec<Option<FieldScanner>> = (0..per_field.len()).map(|_| None).collect();
        for (f, scanner) in built {
            scanners[f] = Some(scanner);
        }
        let keywords = scanners.pop().flatten();
        let mut routes: Vec<Route> = Vec::new();
        for (index, rule) in rules.iter().enumerate() {
            let ls = &rule.logsource;
            match routes.iter_mut().find(|r| {
                r.product == ls.product && r.category == ls.category && r.service == ls.service
            }) {
                Some(route) => route.rules.push(index as u32),
                None => routes.push(Route {
                    product: ls.product.clone(),
                    category: ls.category.clone(),
                    service: ls.service.clone(),
                    rules: vec![index as u32],
                    fields: Vec::new(),
                    keywords: false,
                }),
            }
        }
        // What each route scans, found once here rather than by every matcher for every
        // logsource it meets (a walk over all keys: 2 M instructions each time).
        let mut route_of = vec![0u32; rules.len()];
        for (i, route) in routes.iter().enumerate() {
            for &r in &route.rules {
                route_of[r as usize] = i as u32;
            }
        }
        for key in compiled.keys.iter().filter(|k| k.scanned) {
            let triggered = key.triggers.iter().map(|&(r, _)| r);
            let always = key
                .rules
                .iter()
                .copied()
                .filter(|&r| compiled.rules[r as usize].always);
            for r in triggered.chain(always) {
                let route = &mut routes[route_of[r as usize] as usize];
                match key.field {
                    Some(f) => route.fields.push(f),
                    None => route.keywords = true,
                }
            }
        }
        for route in &mut routes {
            route.fields.sort_unstable();
            route.fields.dedup();
        }
        let mut readers: Vec<Vec<(u32, u32)>> = Vec::new();
        let mut add = |id: FieldId, reader: (u32, u32)| {
            if readers.len() <= id.index() {
                readers.resize_with(id.index() + 1, Vec::new);
            }
            readers[id.index()].push(reader);
        };
        for (f, field) in compiled.fields.iter().enumerate() {
            if scanners[f].is_none() {
                continue;
            }
            if let Some(id) = field.id {
                add(id, (f as u32, DIRECT));
            }
            for (n, (_, _, id)) in field.mapped.iter().enumerate() {
                add(*id, (f as u32, n as u32));
            }
        }
        let atom_scan = compiled
            .atoms
            .iter()
            .map(|atom| {
                let key = atom
                    .key
                    .filter(|&k| compiled.keys[k as usize].scanned)
                    .unwrap_or(NOT_SCANNED);
                (key, atom.field.unwrap_or(KEYWORD_FIELD))
            })
            .collect();
        RuleSet {
            rules,
            compiled,
            routes,
            scanners,
            keywords,
            readers,
            atom_scan,
        }
    }

    /// The rules, in the order given.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The fields that made rule `index` match `event` (see [`crate::eval::matched_fields`]):
    /// with the rule's id, title, level and tags from [`RuleSet::rules`] and the event's id,
    /// everything an alert shows.
    pub fn matched_fields<'e>(&self, index: usize, event: &'e Event) -> Vec<(String, Value<'e>)> {
        crate::eval::matched_fields(&self.rules[index], event)
    }

    /// A per-thread evaluation state (buffers and caches that live across events).
    pub fn matcher(self: &Arc<Self>) -> RuleMatcher {
        RuleMatcher::new(Arc::clone(self))
    }

    /// Figures about the compiled form, for benchmarks and `vigie rules lint`.
    pub fn shape(&self) -> Shape {
        Shape {
            rules: self.rules.len(),
            always_evaluated: self.compiled.rules.iter().filter(|r| r.always).count(),
            atoms: self.compiled.atoms.len(),
            indexed_atoms: self.compiled.atoms.iter().filter(|a| a.indexed).count(),
            keys: self.compiled.keys.len(),
            fields: self.compiled.fields.len(),
            scanner_bytes: self
                .scanners
                .iter()
                .flatten()
                .chain(&self.keywords)
                .map(FieldScanner::heap_bytes)
                .sum(),
        }
    }
}

/// The size and make-up of a compiled [`RuleSet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Rules.
    pub rules: usize,
    /// Rules with no trigger atom, evaluated on every event their logsource routes to them.
    pub always_evaluated: usize,
    /// Matchers over all rules.
    pub atoms: usize,
    /// Matchers decided by the per-field scan.
    pub indexed_atoms: usize,
    /// Distinct comparisons among those (shared between rules), each decided once per event.
    pub keys: usize,
    /// Distinct field names read.
    pub fields: usize,
    /// Heap bytes of the automata and exact-value tables.
    pub scanner_bytes: usize,
}

/// Counters of a [`RuleMatcher`] since it was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MatchStats {
    /// Events matched.
    pub events: u64,
    /// Rules whose condition was evaluated (after candidate selection).
    pub candidates: u64,
    /// Rules that matched.
    pub matches: u64,
    /// Texts (field values) whose scan was needed.
    pub texts: u64,
    /// Of those, texts answered from the memo of recent texts instead of being scanned.
    pub memo_hits: u64,
    /// Of those, texts the scanner's gate showed to make no key true (neither scanned nor
    /// looked up in the memo; see `scan::Gate`).
    pub gated: u64,
}

/// What one logsource sees of the rule set.
#[derive(Debug)]
struct RouteView {
    /// One bit per rule: routed to this logsource.
    routed: Vec<u64>,
    /// Per field, whether it is scanned for this logsource: it has keys that trigger a routed
    /// rule or belong to a routed always-evaluated rule. A routed rule reading a scanned key of
    /// another field (a key scanned for other logsources' rules) evaluates it lazily.
    scanned: Vec<bool>,
    /// Routed rules evaluated on every event.
    always: Vec<u32>,
    /// Routed rules have keyword atoms: scan every field for them.
    keywords: bool,
}

impl RouteView {
    /// The scan's answer for `atom` in this event (`bits`: the keys it found true), when the
    /// scan decided it: its key is scanned and so is its field for this logsource.
    fn scanned_answer(&self, set: &RuleSet, bits: &[u64], atom: AtomId) -> Option<bool> {
        let (key, field) = set.atom_scan[atom as usize];
        if key == NOT_SCANNED {
            return None;
        }
        let field_scanned = match field {
            KEYWORD_FIELD => self.keywords,
            f => self.scanned[f as usize],
        };
        field_scanned.then(|| Hits::is_set(bits, key))
    }
}

/// Routes cached before the cache is cleared (logsources are few; this bounds hostile input).
const ROUTE_CACHE_CAPACITY: usize = 4096;

/// A rule's trigger clauses in the current event (see [`RuleMatcher::for_each_match`]).
#[derive(Debug, Clone, Copy)]
struct Mark {
    /// The event generation `clauses` belongs to.
    stamp: u32,
    /// The clauses satisfied (one bit each).
    clauses: u8,
    /// All of the rule's clauses.
    full: u8,
}

/// Evaluates a [`RuleSet`] on events; keep one per worker thread.
#[derive(Debug)]
pub struct RuleMatcher {
    set: Arc<RuleSet>,
    /// Route views by the address of the event's shared `Arc<LogSource>` (kept alive here so
    /// that an address is never reused for another logsource while cached).
    routes: HashMap<usize, (Arc<LogSource>, Arc<RouteView>)>,
    bits: Vec<u64>,
    set_keys: Vec<KeyId>,
    checked: Vec<u32>,
    text_generation: u32,
    /// Per rule, the trigger clauses satisfied in this event: one small record per rule, so
    /// that a trigger touches one cache line (reading the clause count from the compiled
    /// rule, a large struct, missed the cache on most triggers).
    marks: Vec<Mark>,
    event_generation: u32,
    candidates: Vec<u32>,
    folded: String,
    fold_cache: FoldCache,
    /// Answers of recently scanned texts (see `memo.rs`).
    memo: Memo,
    /// The keys the text being scanned makes true.
    found: Vec<KeyId>,
    stats: MatchStats,
}

impl RuleMatcher {
    /// A matcher of `set`.
    pub fn new(set: Arc<RuleSet>) -> RuleMatcher {
        let keys = set.compiled.keys.len();
        RuleMatcher {
            routes: HashMap::new(),
            bits: vec![0; keys.div_ceil(64)],
            set_keys: Vec::new(),
            checked: vec![0; keys],
            text_generation: 0,
            marks: set
                .compiled
                .rules
                .iter()
                .map(|r| Mark {
                    stamp: 0,
                    clauses: 0,
                    full: (1u8 << r.clauses) - 1,
                })
                .collect(),
            event_generation: 0,
            candidates: Vec::new(),
            folded: String::new(),
            fold_cache: FoldCache::default(),
            memo: Memo::default(),
            found: Vec::new(),
            stats: MatchStats::default(),
            set,
        }
    }

    /// The rule set this matcher evaluates.
    pub fn rule_set(&self) -> &Arc<RuleSet> {
        &self.set
    }

    /// Counters since creation.
    pub fn stats(&self) -> MatchStats {
        self.stats
    }

    /// Forgets the answers remembered for recently seen texts (see [`MatchStats::memo_hits`]).
    /// Matching needs never call it (answers are exact); benchmarks replaying the same events
    /// do, so that a value seen once in their mix is not answered from the previous pass.
    pub fn forget_texts(&mut self) {
        self.memo.clear();
    }

    fn route(&mut self, event: &Event) -> Arc<RouteView> {
        let key = Arc::as_ptr(&event.logsource) as usize;
        if let Some((_, view)) = self.routes.get(&key) {
            return Arc::clone(view);
        }
        let set = &self.set;
        let mut routed = vec![0u64; set.rules.len().div_ceil(64)];
        let mut fields = vec![false; set.compiled.fields.len()];
        let mut always = Vec::new();
        let mut keywords = false;
        for route in set.routes.iter().filter(|r| {
            event.logsource.matches(
                r.product.as_deref(),
                r.category.as_deref(),
                r.service.as_deref(),
            )
        }) {
            for &rule in &route.rules {
                routed[rule as usize / 64] |= 1 << (rule % 64);
                if set.compiled.rules[rule as usize].always {
                    always.push(rule);
                }
            }
            for &f in &route.fields {
                fields[f as usize] = true;
            }
            keywords |= route.keywords;
        }
        always.sort_unstable();
        let view = Arc::new(RouteView {
            routed,
            scanned: fields,
            always,
            keywords,
        });
        if self.routes.len() >= ROUTE_CACHE_CAPACITY {
            self.routes.clear();
        }
        self.routes
            .insert(key, (Arc::clone(&event.logsource), Arc::clone(&view)));
        view
    }

    /// Calls `on_match` with the index (in [`RuleSet::rules`]) of every rule that matches, in
    /// no particular order.
    pub fn for_each_match(&mut self, event: &Event, mut on_match: impl FnMut(usize)) {
        let view = self.route(event);
        self.event_generation = self.event_generation.wrapping_add(1);
        if self.event_generation == 0 {
            self.marks.iter_mut().for_each(|m| m.stamp = 0);
            self.event_generation = 1;
        }
        let set = Arc::clone(&self.set);
        let source = EventSource::new(event);

        // One walk over the event's fields: each text goes to the keyword scanner (keywords
        // read every field) and to the scanners of the rule fields reading it. A text read
        // by one rule field and the keywords is looked up once in the memo for both.
        let keywords = set.keywords.as_ref().filter(|_| view.keywords);
        for (id, value) in event.fields.iter() {
            let readers = set.readers.get(id.index()).map_or(&[][..], Vec::as_slice);
            // The rule fields this event field stands for, here.
            let applies = |&(f, how): &(u32, u32)| {
                view.scanned[f as usize]
                    && set.scanners[f as usize].is_some()
                    // A mapped field stands for `f` only as `EventSource::field` resolves it:
                    // `f` itself absent, and this the first mapping of the event's source.
                    && (how == DIRECT || source.maps_to(&set.compiled.fields[f as usize], how))
            };
            let mut applicable = readers.iter().filter(|r| applies(r));
            let first = applicable.next();
            let more = first.is_some() && applicable.next().is_some();
            match (first, more) {
                (Some(&(f, _)), false) => {
                    if let Some(scanner) = &set.scanners[f as usize] {
                        self.scan_value(value, scanner, keywords, f);
                    }
                }
                (None, _) => {
                    if let Some(scanner) = keywords {
                        self.scan_value(value, scanner, None, KEYWORD_SCANNER);
                    }
                }
                (Some(_), true) => {
                    if let Some(scanner) = keywords {
                        self.scan_value(value, scanner, None, KEYWORD_SCANNER);
                    }
                    for &(f, _) in readers.iter().filter(|r| applies(r)) {
                        if let Some(scanner) = &set.scanners[f as usize] {
                            self.scan_value(value, scanner, None, f);
                        }
                    }
                }
            }
        }

        // Candidates: routed rules with a true trigger, then the always-evaluated ones.
        self.candidates.clear();
        for &key in &self.set_keys {
            for &(rule, mask) in &set.compiled.keys[key as usize].triggers {
                let r = rule as usize;
                if view.routed[r / 64] & (1 << (r % 64)) == 0 {
                    continue;
                }
                let mark = &mut self.marks[r];
                if mark.stamp != self.event_generation {
                    mark.stamp = self.event_generation;
                    mark.clauses = 0;
                }
                if mark.clauses != mark.full {
                    mark.clauses |= mask;
                    if mark.clauses == mark.full {
                        self.candidates.push(rule);
                    }
                }
            }
        }
        // An always-evaluated rule is skipped when the scan found one of its vetoes true
        // (their keys are scanned: they belong to an always-evaluated rule).
        for &rule in &view.always {
            let vetoed = set.compiled.rules[rule as usize]
                .vetoes
                .iter()
                .any(|&a| view.scanned_answer(&set, &self.bits, a) == Some(true));
            if !vetoed {
                self.candidates.push(rule);
            }
        }

        let folded = RefCell::new(std::mem::take(&mut self.fold_cache));
        let ctx = Ctx {
            set: &set,
            view: &view,
            bits: &self.bits,
            event,
            source: &source,
            folded: &folded,
        };
        self.stats.events += 1;
        self.stats.candidates += self.candidates.len() as u64;
        for &rule in &self.candidates {
            let compiled = &set.compiled.rules[rule as usize];
            if ctx.condition(compiled, &compiled.condition) {
                self.stats.matches += 1;
                on_match(rule as usize);
            }
        }

        self.fold_cache = folded.into_inner();
        self.fold_cache.text.clear();
        self.fold_cache.spans.clear();
        self.fold_cache.ips.clear();
        for &key in &self.set_keys {
            self.bits[key as usize / 64] = 0;
        }
        self.set_keys.clear();
    }

    /// [`RuleMatcher::scan_text`] on a value, or on each element of an array.
    #[inline(always)]
    fn scan_value(
        &mut self,
        value: Value<'_>,
        scanner: &FieldScanner,
        keywords: Option<&FieldScanner>,
        id: u32,
    ) {
        match value {
            Value::Array(items) => {
                for item in items.iter() {
                    self.scan_text(item, scanner, keywords, id);
                }
            }
            v => self.scan_text(v, scanner, keywords, id),
        }
    }

    /// Decides every key of `scanner` (the scanner of field `id`, or [`KEYWORD_SCANNER`]),
    /// and of `keywords` if given, on one value: from the memo when the text was seen
    /// recently, else by scanning it.
    fn scan_text(
        &mut self,
        value: Value<'_>,
        scanner: &FieldScanner,
        keywords: Option<&FieldScanner>,
        id: u32,
    ) {
        let Some(text) = value.as_text() else {
            return;
        };
        // Folding ASCII keeps the length: no key can hold on a shorter text.
        let too_short = |s: &FieldScanner| text.len() < s.min_witness_len() && text.is_ascii();
        let skip_main = too_short(scanner);
        let skip_keywords = keywords.is_none_or(too_short);
        if skip_main && skip_keywords {
            return;
        }
        self.stats.texts += 1;
        // The memo names the pair of scanners apart from the field's scanner alone.
        let memo_id = if keywords.is_some() {
            id | WITH_KEYWORDS
        } else {
            id
        };
        let probe = (text.len() <= memo::MAX_TEXT).then(|| Memo::probe(memo_id, text));
        if let Some(keys) = probe.and_then(|p| self.memo.get(p, memo_id, text)) {
            self.stats.memo_hits += 1;
            for &key in keys {
                Hits::mark(&mut self.bits, &mut self.set_keys, key);
            }
            return;
        }
        // A miss: the gate costs a few instructions a byte where folding and scanning cost
        // tens (on a hit, the memo is cheaper still: a hash and a comparison).
        let skip_main = skip_main || scanner.gate_rejects(text);
        let keywords = keywords.filter(|k| !skip_keywords && !k.gate_rejects(text));
        if skip_main && keywords.is_none() {
            self.stats.gated += 1;
            if let Some(probe) = probe {
                self.memo.offer(probe, memo_id, text, &[]);
            }
            return;
        }
        self.text_generation = self.text_generation.wrapping_add(1);
        if self.text_generation == 0 {
            self.checked.fill(0);
            self.text_generation = 1;
        }
        let keys = &self.set.compiled.keys;
        self.found.clear();
        let mut hits = Hits {
            bits: &mut self.bits,
            set: &mut self.set_keys,
            checked: &mut self.checked,
            text_generation: self.text_generation,
            found: &mut self.found,
        };
        fold_into(text, &mut self.folded);
        for s in (!skip_main).then_some(scanner).into_iter().chain(keywords) {
            s.folded.scan(text, &self.folded, keys, &mut hits);
            if s.has_cased() {
                s.cased.scan(text, text, keys, &mut hits);
            }
        }
        if let Some(probe) = probe {
            self.memo.offer(probe, memo_id, text, &self.found);
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

/// The event's channel and EventID, read once, for the field mappings.
struct EventSource<'e> {
    event: &'e Event,
    source: std::cell::OnceCell<Option<(&'e str, u32)>>,
}

impl<'e> EventSource<'e> {
    fn new(event: &'e Event) -> Self {
        EventSource {
            event,
            source: std::cell::OnceCell::new(),
        }
    }

    fn source(&self) -> Option<(&'e str, u32)> {
        *self.source.get_or_init(|| {
            let channel = self.event.fields.get_by_name("Channel")?.as_text()?;
            let id = self
                .event
                .fields
                .get_by_name("EventID")?
                .as_text()?
                .parse()
                .ok()?;
            Some((channel, id))
        })
    }

    /// Whether mapping `n` of `f` is the one [`EventSource::field`] reads `f` through.
    fn maps_to(&self, f: &FieldRef, n: u32) -> bool {
        if f.id.is_some_and(|id| self.event.fields.get(id).is_some()) {
            return false;
        }
        let Some((channel, event_id)) = self.source() else {
            return false;
        };
        f.mapped
            .iter()
            .position(|(c, ids, _)| c.eq_ignore_ascii_case(channel) && ids.contains(&event_id))
            == Some(n as usize)
    }

    /// The value a rule's field names: the field itself, or the one holding the same value in
    /// this event's source.
    fn field(&self, f: &FieldRef) -> Option<Value<'e>> {
        if let Some(id) = f.id
            && let Some(v) = self.event.fields.get(id)
        {
            return Some(v);
        }
        if f.mapped.is_empty() {
            return None;
        }
        let (channel, event_id) = self.source()?;
        f.mapped
            .iter()
            .find(|(c, ids, _)| c.eq_ignore_ascii_case(channel) && ids.contains(&event_id))
            .and_then(|(_, _, id): &(String, Vec<u32>, FieldId)| self.event.fields.get(*id))
    }
}

/// Evaluation of candidates' conditions.
struct Ctx<'a, 'e> {
    set: &'a RuleSet,
    view: &'a RouteView,
    bits: &'a [u64],
    event: &'e Event,
    source: &'a EventSource<'e>,
    folded: &'a RefCell<FoldCache>,
}

impl<'e> Ctx<'_, 'e> {
    fn condition(&self, rule: &CompiledRule, c: &CCondition) -> bool {
        match c {
            CCondition::Ref(i) => rule.detections.get(*i).is_some_and(|d| self.detection(d)),
            CCondition::And(t) => t.iter().all(|c| self.condition(rule, c)),
            CCondition::Or(t) => t.iter().any(|c| self.condition(rule, c)),
            CCondition::Not(inner) => !self.condition(rule, inner),
        }
    }

    fn detection(&self, d: &CDetection) -> bool {
        match d {
            CDetection::AllOf(items) => items.iter().all(|i| self.item(i)),
            CDetection::AnyOf(alternatives) => alternatives.iter().any(|a| self.detection(a)),
            CDetection::Keywords(item) => self.item(item),
        }
    }

    fn item(&self, item: &CItem) -> bool {
        if let Some((field, keys)) = &item.scanned
            && self.view.scanned[*field as usize]
        {
            return keys.iter().any(|&k| Hits::is_set(self.bits, k)) != item.negated;
        }
        if let Some((f, networks)) = &item.networks {
            let value = self.source.field(&self.set.compiled.fields[*f as usize]);
            if let Some(v @ (Value::Str(_) | Value::Num(_))) = value {
                let ip = self.address(*f, v);
                return ip.is_some_and(|ip| networks.contains(ip)) != item.negated;
            }
        }
        // All atoms of an item read the same field: look it up once, when first needed.
        let value = std::cell::OnceCell::new();
        let value_holds =
            |alternatives: &Vec<AtomId>| alternatives.iter().any(|&a| self.atom(a, &value));
        let result = if item.all {
            item.values.iter().all(value_holds)
        } else {
            item.values.iter().any(value_holds)
        };
        result != item.negated
    }

    fn atom(&self, id: AtomId, value: &std::cell::OnceCell<Option<Value<'e>>>) -> bool {
        if let Some(answer) = self.view.scanned_answer(self.set, self.bits, id) {
            return answer;
        }
        let atom = &self.set.compiled.atoms[id as usize];
        let m = &atom.matcher;
        match atom.field {
            Some(f) => {
                let value =
                    *value.get_or_init(|| self.source.field(&self.set.compiled.fields[f as usize]));
                self.holds(m, f, value)
            }
            None => self
                .event
                .fields
                .iter()
                .any(|(id, v)| self.holds(m, KEYWORD_SLOT | id.index() as u32, Some(v))),
        }
    }

    /// The address in `v` (the value of slot `slot`), parsed once per event.
    fn address(&self, slot: u32, v: Value<'_>) -> Option<std::net::IpAddr> {
        let mut cache = self.folded.borrow_mut();
        match cache.ips.iter().find(|s| s.0 == slot) {
            Some(&(_, ip)) => ip,
            None => {
                let ip = v.as_text().and_then(|t| t.trim().parse().ok());
                cache.ips.push((slot, ip));
                ip
            }
        }
    }

    /// The reference semantics of a matcher on a value; a case-insensitive pattern reads the
    /// value folded once per event (`slot` names it in the cache) instead of allocating.
    fn holds(&self, m: &Matcher, slot: u32, value: Option<Value<'_>>) -> bool {
        match (m, value) {
            (
                Matcher::Glob {
                    pattern,
                    cased: false,
                },
                Some(v @ (Value::Str(_) | Value::Num(_) | Value::Bool(_))),
            ) => {
                let Some(text) = v.as_text() else {
                    return false;
                };
                let mut cache = self.folded.borrow_mut();
                let FoldCache {
                    text: arena, spans, ..
                } = &mut *cache;
                let (start, end) = match spans.iter().find(|s| s.0 == slot) {
                    Some(&(_, start, end)) => (start as usize, end as usize),
                    None => {
                        let start = arena.len();
                        fold_append(text, arena);
                        spans.push((slot, start as u32, arena.len() as u32));
                        (start, arena.len())
                    }
                };
                pattern.matches(&arena[start..end])
            }
            (
                Matcher::Glob {
                    pattern,
                    cased: false,
                },
                Some(Value::Array(items)),
            ) => items.iter().any(|v| {
                v.as_text()
                    .is_some_and(|text| pattern.matches(&crate::value::fold(text)))
            }),
            // Filters list many networks for one address field: parse the address once.
            (Matcher::Cidr { network, prefix }, Some(v @ (Value::Str(_) | Value::Num(_)))) => self
                .address(slot, v)
                .is_some_and(|ip| crate::eval::in_network(ip, *network, *prefix)),
            _ => crate::eval::matcher_holds(m, value, self.event),
        }
    }
}

/// The memo's name for the keyword scanner (field scanners go by field index).
const KEYWORD_SCANNER: u32 = u32::MAX;

/// Added to a field's index in the memo: the answer of its scanner and the keywords' at once.
const WITH_KEYWORDS: u32 = 1 << 30;

/// Marks a cache slot as an event field (keywords) rather than a rule's field.
const KEYWORD_SLOT: u32 = 1 << 31;

/// Values prepared during one event's condition evaluation: folded texts (one arena, spans
/// by slot) and parsed addresses by slot.
#[derive(Debug, Default)]
struct FoldCache {
    text: String,
    spans: Vec<(u32, u32, u32)>,
    ips: Vec<(u32, Option<std::net::IpAddr>)>,
}

#[cfg(test)]
mod tests {
    use crate::testing::event;

    use super::*;
    use crate::load::{Loaded, parse_rules};

    fn set(rules: &[&str]) -> Arc<RuleSet> {
        let mut loaded = Loaded::default();
        for (i, detection) in rules.iter().enumerate() {
            let text = format!("title: r{i}\nlogsource: {{}}\ndetection:\n{detection}\n");
            parse_rules(&text, "test.yml", &mut loaded);
        }
        assert!(loaded.rejected.is_empty(), "{:?}", loaded.rejected);
        Arc::new(RuleSet::new(loaded.rules))
    }

    #[test]
    fn every_witness_shape_is_decided_exactly() {
        let set = set(&[
            "  s:\n    Image: 'C:\\Windows\\cmd.exe'\n  condition: s",
            "  s:\n    Image|endswith: '\\cmd.exe'\n  condition: s",
            "  s:\n    Image|startswith: 'c:\\windows'\n  condition: s",
            "  s:\n    Image|contains: 'windows'\n  condition: s",
            "  s:\n    Image: 'c:*\\cmd.e?e'\n  condition: s",
            "  s:\n    Image|cased: 'C:\\Windows\\cmd.exe'\n  condition: s",
            "  s:\n    Image: ''\n  condition: s",
            "  s:\n    Image: '?*'\n  condition: s",
            "  s:\n    Tags: b\n  condition: s",
        ]);
        let mut m = set.matcher();
        assert_eq!(
            m.matches(&event(r#"{"Image":"C:\\WINDOWS\\cmd.exe"}"#)),
            [0, 1, 2, 3, 4, 7]
        );
        assert_eq!(
            m.matches(&event(r#"{"Image":"C:\\Windows\\cmd.exe"}"#)),
            [0, 1, 2, 3, 4, 5, 7]
        );
        assert_eq!(
            m.matches(&event(r#"{"Image":"x\\windows\\cmd.exe.bak"}"#)),
            [3, 7]
        );
        assert_eq!(m.matches(&event(r#"{"Image":""}"#)), [6]);
        assert_eq!(m.matches(&event(r#"{"Tags":["a","B"]}"#)), [8]);
        // A witness occurring twice, the first time in the wrong place.
        assert_eq!(m.matches(&event(r#"{"Image":"cmd.exe\\cmd.exe"}"#)), [1, 7]);
        let stats = m.stats();
        assert_eq!(stats.events, 6);
        assert!(stats.candidates >= stats.matches);
    }

    #[test]
    fn long_literals_witnessed_by_their_first_bytes_are_checked_whole() {
        // Longer than the automaton's witnesses: only their first bytes are scanned for.
        let set = set(&[
            "  s:\n    Hashes|contains: 'IMPHASH=1B1A3F43BF37B5BFE60751F2EE2F326E'\n  condition: s",
            "  s:\n    Hashes|startswith: 'SHA1=0123456789ABCDEF0123'\n  condition: s",
            "  s:\n    Hashes|endswith: 'IMPHASH=1B1A3F43BF37B5BFE60751F2EE2F326E'\n  condition: s",
            "  s:\n    Hashes|re: 'IMPHASH=1B1A3F43BF37B5BFE607[0-9]+'\n  condition: s",
        ]);
        let mut m = set.matcher();
        let hashes = |h: &str| event(&format!(r#"{{"Hashes":"{h}"}}"#));
        assert_eq!(
            m.matches(&hashes(
                "SHA1=0123456789ABCDEF0123,IMPHASH=1B1A3F43BF37B5BFE60751F2EE2F326E"
            )),
            [0, 1, 2, 3]
        );
        // The first bytes occur, the rest differs: nothing.
        assert!(
            m.matches(&hashes(
                "SHA1=0123456789ABCDEF0999,IMPHASH=1B1A3F43BF37B5BFE6X751F2EE2F326E"
            ))
            .is_empty()
        );
        // In the middle, not at the end; a prefix occurring twice, the second time whole.
        assert_eq!(
            m.matches(&hashes(
                "IMPHASH=1B1A3F43BFFF,IMPHASH=1B1A3F43BF37B5BFE60751F2EE2F326E,MD5=00"
            )),
            [0, 3]
        );
    }

    #[test]
    fn negations_and_lazy_atoms() {
        let set = set(&[
            "  s:\n    Image|endswith: '\\cmd.exe'\n  f:\n    User: admin\n  condition: s and not f",
            "  f:\n    User: admin\n  condition: not f",
            "  s:\n    CommandLine|re: '(?i)whoami'\n  condition: s",
            "  s:\n    Image|endswith: '\\cmd.exe'\n    Port|gt: 1000\n  condition: s",
        ]);
        let mut m = set.matcher();
        let e =
            event(r#"{"Image":"c:\\cmd.exe","User":"ADMIN","CommandLine":"WHOAMI","Port":8080}"#);
        assert_eq!(m.matches(&e), [2, 3]);
        let e = event(r#"{"Image":"c:\\cmd.exe","User":"bob","Port":80}"#);
        assert_eq!(m.matches(&e), [0, 1]);
    }

    #[test]
    fn a_key_scanned_for_another_logsource_is_evaluated_lazily_here() {
        // Rule 0 (linux only) triggers on the Image key; rule 1 (any logsource) reads the
        // same key but triggers on its rarer CommandLine. For an event routed to rule 1 only,
        // Image is not scanned, so the key must be evaluated, not read as an unset bit.
        let mut loaded = Loaded::default();
        parse_rules(
            "title: a\nlogsource:\n  product: linux\ndetection:\n  s:\n    Image|endswith: '/x.exe'\n  condition: s\n---\ntitle: b\nlogsource: {}\ndetection:\n  s:\n    Image|endswith: '/x.exe'\n    CommandLine|contains: 'foo-bar-baz'\n  condition: s\n",
            "t.yml",
            &mut loaded,
        );
        let set = Arc::new(RuleSet::new(loaded.rules));
        assert!(
            set.compiled
                .keys
                .iter()
                .all(|k| k.scanned != k.triggers.is_empty())
        );
        let e = event(r#"{"Image":"/usr/x.exe","CommandLine":"run foo-bar-baz"}"#);
        let reference: Vec<usize> = (0..2)
            .filter(|&i| crate::eval::rule_matches(&set.rules()[i], &e))
            .collect();
        assert_eq!(reference, [1]);
        assert_eq!(set.matcher().matches(&e), reference);
    }

    #[test]
    fn network_lists_agree_with_the_reference() {
        let nets = "['10.0.0.0/8', '192.168.0.0/16', '172.16.0.0/12', 'fe80::/10', '1.2.3.4/32']";
        let set = set(&[
            &format!(
                "  s:\n    Image|endswith: '.exe'\n  f:\n    DestinationIp|cidr: {nets}\n  condition: s and not f"
            ),
            &format!("  s:\n    DestinationIp|cidr: {nets}\n  condition: s"),
        ]);
        for ip in [
            r#""10.1.2.3""#,
            r#""1.2.3.4""#,
            r#""1.2.3.5""#,
            r#"" 192.168.4.4 ""#,
            r#""fe80::1""#,
            r#""not an address""#,
            r#"["8.8.8.8","10.0.0.1"]"#,
            "12",
            "null",
        ] {
            let e = event(&format!(r#"{{"Image":"a.exe","DestinationIp":{ip}}}"#));
            let reference: Vec<usize> = (0..set.rules().len())
                .filter(|&i| crate::eval::rule_matches(&set.rules()[i], &e))
                .collect();
            assert_eq!(set.matcher().matches(&e), reference, "{ip}");
        }
    }

    #[test]
    fn answers_from_the_memo_are_the_answers_of_a_scan() {
        // Each shape of scanned atom (exact, anchored, verified, regex, cased, keyword), with
        // the same texts moving between fields, arrays and events.
        let set = set(&[
            "  s:\n    Image|endswith: '\\cmd.exe'\n  condition: s",
            "  s:\n    Image: 'c:*\\cm?.exe'\n  condition: s",
            "  s:\n    CommandLine|re: 'who(ami|cares)'\n  condition: s",
            "  s:\n    CommandLine|cased|contains: 'WHO'\n  condition: s",
            "  s:\n    Tags: 'c:\\cmd.exe'\n  condition: s",
            "  k:\n    - 'cmd.exe'\n  condition: k",
            "  s:\n    Image|contains: 'cmd'\n    CommandLine|contains: 'who'\n  condition: s",
            // A text too short for its field's scanner but not for the keywords'.
            "  s:\n    Short|contains: 'abcdefghijkl'\n  condition: s",
            "  k:\n    - 'xyz'\n  condition: k",
        ]);
        let events = [
            r#"{"Image":"c:\\cmd.exe","CommandLine":"whoami"}"#,
            r#"{"Image":"whoami","CommandLine":"c:\\cmd.exe"}"#,
            r#"{"Image":"c:\\cmd.exe","CommandLine":"WHOcares"}"#,
            r#"{"Tags":["whoami","c:\\cmd.exe"],"Other":"c:\\cmd.exe"}"#,
            r#"{"Image":"C:\\CMD.EXE","CommandLine":"WHOAMI"}"#,
            r#"{"Image":"c:\\cmx.exe","CommandLine":"who"}"#,
            r#"{"Short":"xyz"}"#,
            r#"{"Short":"ABCDEFGHIJKL-XYZ"}"#,
            r#"{"Short":["xyz","abcdefghijkl"]}"#,
        ];
        let mut m = set.matcher();
        for round in 0..4 {
            for json in events {
                let e = event(json);
                let reference: Vec<usize> = (0..set.rules().len())
                    .filter(|&i| crate::eval::rule_matches(&set.rules()[i], &e))
                    .collect();
                assert_eq!(m.matches(&e), reference, "round {round}: {json}");
            }
        }
        let stats = m.stats();
        assert!(
            stats.memo_hits > 0 && stats.memo_hits < stats.texts,
            "{stats:?}"
        );
        m.forget_texts();
        let before = m.stats().memo_hits;
        m.matches(&event(events[0]));
        assert_eq!(m.stats().memo_hits, before);
    }

    #[test]
    fn mapped_fields_are_scanned_as_the_reference_reads_them() {
        let mut loaded = Loaded::default();
        parse_rules(
            "title: a\nlogsource:\n  product: windows\n  category: process_creation\ndetection:\n  s:\n    Image|endswith: '\\whoami.exe'\n  condition: s\n---\ntitle: b\nlogsource:\n  product: windows\ndetection:\n  s:\n    NewProcessName|endswith: '\\whoami.exe'\n  condition: s\n",
            "t.yml",
            &mut loaded,
        );
        assert!(loaded.rejected.is_empty(), "{:?}", loaded.rejected);
        let set = Arc::new(RuleSet::new(loaded.rules));
        let mut m = set.matcher();
        let events = [
            // Image read through NewProcessName.
            r#"{"Event":{"System":{"Channel":"Security","EventID":4688},"EventData":{"NewProcessName":"C:\\Windows\\whoami.exe"}}}"#,
            // Image present: it wins over the mapped field.
            r#"{"Event":{"System":{"Channel":"Security","EventID":4688},"EventData":{"Image":"C:\\x.exe","NewProcessName":"C:\\Windows\\whoami.exe"}}}"#,
            r#"{"Event":{"System":{"Channel":"Security","EventID":4688},"EventData":{"Image":"C:\\whoami.exe","NewProcessName":"C:\\x.exe"}}}"#,
            // Not the mapping's source.
            r#"{"Event":{"System":{"Channel":"Security","EventID":4624},"EventData":{"NewProcessName":"C:\\Windows\\whoami.exe"}}}"#,
            r#"{"Event":{"System":{"Channel":"Microsoft-Windows-Sysmon/Operational","EventID":1},"EventData":{"Image":"C:\\whoami.exe"}}}"#,
        ];
        let mut fired = 0;
        for json in events {
            let e = event(json);
            let reference: Vec<usize> = (0..set.rules().len())
                .filter(|&i| crate::eval::rule_matches(&set.rules()[i], &e))
                .collect();
            fired += reference.len();
            assert_eq!(m.matches(&e), reference, "{json}");
        }
        assert!(fired >= 4, "{fired}");
    }

    #[test]
    fn rule_sets_larger_than_a_generation_keep_their_answers() {
        let set = set(&["  s:\n    Image|endswith: '\\cmd.exe'\n  condition: s"]);
        let mut m = set.matcher();
        m.event_generation = u32::MAX - 1;
        m.text_generation = u32::MAX - 1;
        for _ in 0..4 {
            assert_eq!(m.matches(&event(r#"{"Image":"c:\\cmd.exe"}"#)), [0]);
            assert!(m.matches(&event(r#"{"Image":"c:\\x.exe"}"#)).is_empty());
        }
    }
}
