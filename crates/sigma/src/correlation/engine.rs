//! The streaming state of correlations: per correlation, per group, the entries of the
//! current windows. Semantics are in the module documentation of [`super`].

use std::collections::BTreeSet;
use std::sync::Arc;

use rustc_hash::{FxHashMap, FxHashSet};
use vigie_event::{Event, EventId, Timestamp, Value};

use super::set::CorrelationSet;
use super::{Bound, Correlation, Kind};

/// Memory caps of a [`CorrelationEngine`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Groups kept per correlation.
    pub max_groups: usize,
    /// Entries kept per group.
    pub max_events_per_group: usize,
    /// Event ids a match carries (the first ones of its window).
    pub max_event_ids: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_groups: 100_000,
            max_events_per_group: 10_000,
            max_event_ids: 64,
        }
    }
}

/// Counters since the engine was created (they survive reloads).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CorrelationStats {
    /// Rule and correlation matches fed to correlations.
    pub signals: u64,
    /// Correlation matches (emitted or feeding another correlation).
    pub matches: u64,
    /// Signals left out because a `group-by` field was missing.
    pub missing_group: u64,
    /// Groups evicted because a correlation reached [`Limits::max_groups`].
    pub evicted_groups: u64,
    /// Entries dropped because a group reached [`Limits::max_events_per_group`].
    pub dropped_entries: u64,
    /// Signals older than their group's open window (decided-at-close correlations) or than
    /// the newest event time minus `timespan` (they can no longer complete a window).
    pub late: u64,
}

/// A correlation that fired.
#[derive(Debug, Clone, PartialEq)]
pub struct CorrelationMatch {
    /// Index in [`CorrelationSet::correlations`].
    pub correlation: usize,
    /// Its `title`.
    pub title: String,
    /// Its `id`.
    pub id: Option<String>,
    /// Its `level`.
    pub level: Option<String>,
    /// Its `tags`.
    pub tags: Vec<String>,
    /// The `group-by` fields and the group's values.
    pub group: Vec<(String, String)>,
    /// The first and last event times of the window that satisfied the condition.
    pub first: Timestamp,
    /// See `first`.
    pub last: Timestamp,
    /// The value compared with the condition (count, sum, average, percentile, share).
    pub value: f64,
    /// Ids of the events that took part (at most [`Limits::max_event_ids`]).
    pub events: Vec<EventId>,
}

#[derive(Debug, Clone)]
enum EntryValue {
    None,
    Text(Box<str>),
    Number(f64),
}

#[derive(Debug, Clone)]
struct Entry {
    time: i64,
    input: u32,
    value: EntryValue,
    events: Vec<EventId>,
}

#[derive(Debug, Default)]
struct Group {
    /// Sorted by time; equal times in arrival order.
    entries: Vec<Entry>,
    /// Decided-at-close correlations: the open window's start.
    window_start: Option<i64>,
    /// Tick of the last update (least recently updated groups are evicted first).
    touched: u64,
}

#[derive(Debug, Default)]
struct State {
    groups: FxHashMap<Vec<Box<str>>, Group>,
    /// Decided-at-close correlations: (window end, group) of open windows.
    closing: BTreeSet<(i64, Vec<Box<str>>)>,
    /// Newest event time seen.
    watermark: i64,
}

/// Streaming correlation state for one tenant; feed it every rule match
/// ([`CorrelationEngine::on_rule_match`]) and advance it with event time.
#[derive(Debug)]
pub struct CorrelationEngine {
    set: Arc<CorrelationSet>,
    states: Vec<State>,
    limits: Limits,
    stats: CorrelationStats,
    tick: u64,
}

/// What a signal carries besides its time.
enum Payload<'a> {
    Event(&'a Event),
    Match(&'a CorrelationMatch),
}

impl Payload<'_> {
    fn field(&self, name: &str) -> Option<String> {
        match self {
            Payload::Event(e) => crate::mapping::field(e, name).and_then(|v| match v {
                Value::Array(items) => {
                    let parts: Vec<&str> = items.iter().filter_map(|v| v.as_text()).collect();
                    (!parts.is_empty()).then(|| parts.join(","))
                }
                v => v.as_text().map(str::to_owned),
            }),
            Payload::Match(m) => m
                .group
                .iter()
                .find(|(g, _)| g == name)
                .map(|(_, v)| v.clone()),
        }
    }

    fn number(&self, name: &str) -> Option<f64> {
        match self {
            Payload::Event(e) => crate::mapping::field(e, name).and_then(|v| match v.as_number() {
                Some(n) => Some(n.as_f64()),
                None => v
                    .as_text()?
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|n| n.is_finite()),
            }),
            Payload::Match(_) => self.field(name)?.trim().parse().ok(),
        }
    }

    fn events(&self) -> Vec<EventId> {
        match self {
            Payload::Event(e) => vec![e.id],
            Payload::Match(m) => m.events.clone(),
        }
    }
}

fn fingerprint(c: &Correlation) -> String {
    format!(
        "{:?}|{:?}|{}|{:?}|{:?}|{}|{:?}|{:?}|{:?}|{:?}",
        c.id,
        c.name,
        c.title,
        c.kind,
        c.rules,
        c.timespan,
        c.group_by,
        c.condition,
        c.fields,
        c.percentile
    )
}

impl CorrelationEngine {
    /// An engine with no state.
    pub fn new(set: Arc<CorrelationSet>, limits: Limits) -> CorrelationEngine {
        let states = set.correlations.iter().map(|_| State::default()).collect();
        CorrelationEngine {
            set,
            states,
            limits,
            stats: CorrelationStats::default(),
            tick: 0,
        }
    }

    /// The correlations this engine runs.
    pub fn set(&self) -> &Arc<CorrelationSet> {
        &self.set
    }

    /// Counters since creation.
    pub fn stats(&self) -> CorrelationStats {
        self.stats
    }

    /// Groups held, over all correlations.
    pub fn groups(&self) -> usize {
        self.states.iter().map(|s| s.groups.len()).sum()
    }

    /// Swaps in a new set of correlations, keeping the state of every correlation whose
    /// definition did not change (same identity, type, rules, grouping, window and
    /// condition): a rule reload does not forget a burst in progress.
    pub fn reload(&mut self, set: Arc<CorrelationSet>) {
        let mut old: FxHashMap<String, State> = FxHashMap::default();
        for (c, state) in self.set.correlations.iter().zip(self.states.drain(..)) {
            old.insert(fingerprint(c), state);
        }
        self.states = set
            .correlations
            .iter()
            .map(|c| old.remove(&fingerprint(c)).unwrap_or_default())
            .collect();
        self.set = set;
    }

    /// Feeds a match of rule `rule` (index in the rule set) on `event`; appends the
    /// correlation matches to report to `out`.
    pub fn on_rule_match(&mut self, rule: usize, event: &Event, out: &mut Vec<CorrelationMatch>) {
        let set = Arc::clone(&self.set);
        let Some(listeners) = set.rule_listeners.get(&rule) else {
            return;
        };
        for &(correlation, position) in listeners {
            self.signal(
                correlation,
                position,
                event.time.as_nanos(),
                &Payload::Event(event),
                out,
            );
        }
    }

    /// Decides every window that ends before `now` (event time): call it as event time
    /// advances, and with [`Timestamp`] far in the future at the end of a finite input, so
    /// that `lt`/`lte`/`eq`/`neq` conditions are decided.
    pub fn advance(&mut self, now: Timestamp, out: &mut Vec<CorrelationMatch>) {
        for j in 0..self.states.len() {
            self.close_windows(j, now.as_nanos(), out);
        }
    }

    fn signal(
        &mut self,
        j: usize,
        position: usize,
        time: i64,
        payload: &Payload<'_>,
        out: &mut Vec<CorrelationMatch>,
    ) {
        self.stats.signals += 1;
        let set = Arc::clone(&self.set);
        let c = &set.correlations[j];
        let mut key = Vec::with_capacity(c.group_by.len());
        for field in &set.group_fields[j][position] {
            match payload.field(field) {
                Some(v) => key.push(v.into_boxed_str()),
                None => {
                    self.stats.missing_group += 1;
                    return;
                }
            }
        }
        let value = match c.kind {
            Kind::ValueCount => {
                let mut parts = Vec::with_capacity(c.fields.len());
                for f in &c.fields {
                    match payload.field(f) {
                        Some(v) => parts.push(v),
                        // Nothing to count distinct values of.
                        None => return,
                    }
                }
                EntryValue::Text(parts.join("\u{1f}").into_boxed_str())
            }
            Kind::ValueSum | Kind::ValueAvg => match payload.number(&c.fields[0]) {
                Some(n) => EntryValue::Number(n),
                None => return,
            },
            Kind::ValuePercentile if c.percentile.is_some() => match payload.number(&c.fields[0]) {
                Some(n) => EntryValue::Number(n),
                None => return,
            },
            Kind::ValuePercentile => match payload.field(&c.fields[0]) {
                Some(v) => EntryValue::Text(v.into_boxed_str()),
                None => return,
            },
            _ => EntryValue::None,
        };
        let current = value.clone();
        let entry = Entry {
            time,
            input: position as u32,
            value,
            events: payload.events(),
        };
        let at_close = c.decided_at_close();
        let span = c.timespan;
        if at_close {
            self.close_windows(j, time, out);
        }
        let state = &mut self.states[j];
        state.watermark = state.watermark.max(time);
        self.tick += 1;
        if !state.groups.contains_key(&key) && state.groups.len() >= self.limits.max_groups {
            evict(state, span, &mut self.stats);
        }
        let group = state.groups.entry(key.clone()).or_default();
        group.touched = self.tick;
        if at_close {
            let start = *group.window_start.get_or_insert_with(|| {
                state
                    .closing
                    .insert((time.saturating_add(span), key.clone()));
                time
            });
            if time < start {
                self.stats.late += 1;
                return;
            }
        }
        insert_sorted(&mut group.entries, entry);
        if group.entries.len() > self.limits.max_events_per_group {
            group.entries.remove(0);
            self.stats.dropped_entries += 1;
        }
        // Entries that no window containing a new event can reach any more.
        let horizon = state.watermark.saturating_sub(span);
        if at_close {
            return;
        }
        if time < horizon {
            self.stats.late += 1;
        }
        let old = group.entries.partition_point(|e| e.time < horizon);
        group.entries.drain(..old);
        if let Some((first, last, value, ids)) =
            evaluate(c, &group.entries, time, &current, &self.limits)
        {
            state.groups.remove(&key);
            let m = self.matched(j, &key, first, last, value, ids);
            self.fire(j, m, out);
        }
    }

    fn matched(
        &self,
        j: usize,
        key: &[Box<str>],
        first: i64,
        last: i64,
        value: f64,
        events: Vec<EventId>,
    ) -> CorrelationMatch {
        let c = &self.set.correlations[j];
        CorrelationMatch {
            correlation: j,
            title: c.title.clone(),
            id: c.id.clone(),
            level: c.level.clone(),
            tags: c.tags.clone(),
            group: c
                .group_by
                .iter()
                .cloned()
                .zip(key.iter().map(|v| v.to_string()))
                .collect(),
            first: Timestamp::from_nanos(first),
            last: Timestamp::from_nanos(last),
            value,
            events,
        }
    }

    fn fire(&mut self, j: usize, m: CorrelationMatch, out: &mut Vec<CorrelationMatch>) {
        self.stats.matches += 1;
        let set = Arc::clone(&self.set);
        for &(parent, position) in &set.correlation_listeners[j] {
            self.signal(
                parent,
                position,
                m.last.as_nanos(),
                &Payload::Match(&m),
                out,
            );
        }
        if set.emitted[j] {
            out.push(m);
        }
    }

    fn close_windows(&mut self, j: usize, now: i64, out: &mut Vec<CorrelationMatch>) {
        let c = &self.set.correlations[j];
        if !c.decided_at_close() {
            return;
        }
        let mut due = Vec::new();
        let state = &mut self.states[j];
        while let Some(first) = state.closing.first() {
            if first.0 >= now {
                break;
            }
            let (_, key) = state.closing.pop_first().unwrap_or_default();
            if let Some(group) = state.groups.remove(&key) {
                due.push((key, group));
            }
        }
        for (key, group) in due {
            let c = &self.set.correlations[j];
            let metric = match c.kind {
                Kind::ValueCount => distinct(&group.entries) as f64,
                _ => group.entries.len() as f64,
            };
            if c.condition.iter().all(|b| b.holds(metric)) {
                let first = group.entries.first().map_or(0, |e| e.time);
                let last = group.entries.last().map_or(first, |e| e.time);
                let ids = ids(&group.entries, &self.limits);
                let m = self.matched(j, &key, first, last, metric, ids);
                self.fire(j, m, out);
            }
        }
    }
}

fn insert_sorted(entries: &mut Vec<Entry>, entry: Entry) {
    let at = entries.partition_point(|e| e.time <= entry.time);
    entries.insert(at, entry);
}

fn evict(state: &mut State, span: i64, stats: &mut CorrelationStats) {
    let horizon = state.watermark.saturating_sub(span);
    let before = state.groups.len();
    state.groups.retain(|_, g| {
        g.window_start.is_some() || g.entries.last().is_some_and(|e| e.time >= horizon)
    });
    if state.groups.len() == before
        && let Some(oldest) = state
            .groups
            .iter()
            .min_by_key(|(_, g)| g.touched)
            .map(|(k, _)| k.clone())
    {
        state.groups.remove(&oldest);
    }
    stats.evicted_groups += (before - state.groups.len()) as u64;
    let groups = &state.groups;
    state.closing.retain(|(_, k)| groups.contains_key(k));
}

fn distinct(entries: &[Entry]) -> usize {
    let mut seen: FxHashSet<&str> = FxHashSet::default();
    for e in entries {
        if let EntryValue::Text(t) = &e.value {
            seen.insert(t);
        }
    }
    seen.len()
}

fn ids(entries: &[Entry], limits: &Limits) -> Vec<EventId> {
    entries
        .iter()
        .flat_map(|e| e.events.iter().copied())
        .take(limits.max_event_ids)
        .collect()
}

/// Decides an arrival at `time`: `Some((first, last, value, ids))` of the satisfying window.
fn evaluate(
    c: &Correlation,
    entries: &[Entry],
    time: i64,
    current: &EntryValue,
    limits: &Limits,
) -> Option<(i64, i64, f64, Vec<EventId>)> {
    let span = c.timespan;
    let holds = |x: f64| c.condition.iter().all(|b: &Bound| b.holds(x));
    match c.kind {
        Kind::EventCount | Kind::ValueCount | Kind::Temporal | Kind::TemporalOrdered => {
            // Windows [a, a + span] containing `time`, starting at an entry: the best
            // (largest) metric over them decides lower-bound conditions.
            let lo = entries.partition_point(|e| e.time < time.saturating_sub(span));
            let mut best: Option<(usize, usize, f64)> = None;
            for l in lo..entries.len() {
                let start = entries[l].time;
                if start > time {
                    break;
                }
                let end = start.saturating_add(span);
                let r = entries.partition_point(|e| e.time <= end);
                let window = &entries[l..r];
                let metric = match c.kind {
                    Kind::EventCount => window.len() as f64,
                    Kind::ValueCount => distinct(window) as f64,
                    Kind::Temporal => {
                        let mut seen: FxHashSet<u32> = FxHashSet::default();
                        window.iter().for_each(|e| {
                            seen.insert(e.input);
                        });
                        seen.len() as f64
                    }
                    _ => {
                        // Longest prefix of the rules found in order, from an entry of the
                        // first rule.
                        if window[0].input != 0 {
                            continue;
                        }
                        let mut next = 0u32;
                        for e in window {
                            if e.input == next {
                                next += 1;
                            }
                        }
                        f64::from(next)
                    }
                };
                if best.is_none_or(|b| metric > b.2) {
                    best = Some((l, r, metric));
                }
            }
            let (l, r, metric) = best?;
            holds(metric).then(|| {
                let window = &entries[l..r];
                (
                    window[0].time,
                    window[window.len() - 1].time,
                    metric,
                    ids(window, limits),
                )
            })
        }
        Kind::ValueSum | Kind::ValueAvg | Kind::ValuePercentile => {
            let lo = entries.partition_point(|e| e.time < time.saturating_sub(span));
            let hi = entries.partition_point(|e| e.time <= time);
            let window = &entries[lo..hi];
            if window.is_empty() {
                return None;
            }
            let numbers = || {
                window.iter().filter_map(|e| match e.value {
                    EntryValue::Number(n) => Some(n),
                    _ => None,
                })
            };
            let metric = match (c.kind, c.percentile) {
                (Kind::ValueSum, _) => numbers().sum(),
                (Kind::ValueAvg, _) => {
                    let n = numbers().count();
                    if n == 0 {
                        return None;
                    }
                    numbers().sum::<f64>() / n as f64
                }
                (_, Some(p)) => {
                    let mut sorted: Vec<f64> = numbers().collect();
                    if sorted.is_empty() {
                        return None;
                    }
                    sorted.sort_by(f64::total_cmp);
                    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
                    sorted[rank.clamp(1, sorted.len()) - 1]
                }
                _ => {
                    // The arriving event's value: its share of the window, in percent.
                    let EntryValue::Text(v) = current else {
                        return None;
                    };
                    let same = window
                        .iter()
                        .filter(|e| matches!(&e.value, EntryValue::Text(t) if t == v))
                        .count();
                    100.0 * same as f64 / window.len() as f64
                }
            };
            holds(metric).then(|| {
                (
                    window[0].time,
                    window[window.len() - 1].time,
                    metric,
                    ids(window, limits),
                )
            })
        }
    }
}
