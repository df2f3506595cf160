//! Sigma correlation rules: definitions ([`Correlation`], parsed here), the resolved set
//! ([`CorrelationSet`]: references bound to rules and to other correlations) and the streaming
//! state machine ([`CorrelationEngine`]) that turns rule matches into correlation matches.
//!
//! Decisions where the specification leaves room (written here because nobody else will):
//! - Windows slide; they are not cut at fixed boundaries ("the time frame should not be
//!   restricted to boundaries"). Event time, not arrival time, places an event in a window.
//! - Conditions with only lower bounds (`gt`, `gte`) are decided when an event arrives: the
//!   correlation fires as soon as some window of `timespan` containing that event satisfies
//!   it, so an out-of-order event can complete a burst. The group's state is then cleared, so
//!   one burst gives one match, and the next match needs fresh events.
//! - `event_count` and `value_count` conditions with an upper bound (`lt`, `lte`, `eq`, `neq`)
//!   cannot be decided before the window ends: their windows start at a group's first event
//!   and are decided when event time passes their end ([`CorrelationEngine::advance`]), then
//!   the next event starts a new window.
//! - `value_sum`, `value_avg` and `value_percentile` are decided at each arrival over the
//!   window ending at that event. Values that are not numbers are left out of sums, averages
//!   and numeric percentiles.
//! - `value_percentile` with a `percentile: P` key (pySigma's form) compares the P-th
//!   percentile (nearest rank) of the field's numbers; without it (the specification's
//!   example, `lte: 1` "than 1 % of all the processes"), it compares the share in percent of
//!   the window's events whose field has the arriving event's value: a rarity test.
//! - `temporal` without a condition needs every referenced rule (pySigma's default
//!   `gte: <number of rules>`); with one, the condition counts distinct rules seen.
//! - `temporal_ordered` needs the rules' events in the order listed, by event time (equal
//!   times keep their arrival order), all within `timespan`.
//! - An event missing a `group-by` field does not take part (as `stats … by` skips nulls).
//!   Without `group-by`, all events form one group.
//! - `generate: false` (the default) suppresses the standalone matches of the rules and
//!   correlations it references, unless another correlation referencing them says
//!   `generate: true`; a correlation referenced by another is an intermediate step and is
//!   emitted only under the same rule.
//! - Memory is bounded: per correlation at most [`Limits::max_groups`] groups (the least
//!   recently updated group is evicted first) and per group at most
//!   [`Limits::max_events_per_group`] entries (the oldest dropped first); both are counted
//!   in [`CorrelationStats`]. Entries older than the newest event time minus `timespan`
//!   are dropped, which bounds how late an out-of-order event may arrive and still count.

mod engine;
mod parse;
mod set;

pub use engine::{CorrelationEngine, CorrelationMatch, CorrelationStats, Limits};
pub(crate) use parse::compile_correlation;
pub use set::{CorrelationSet, Signal};

/// The kind of a correlation rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Number of events.
    EventCount,
    /// Number of distinct values of `field`.
    ValueCount,
    /// All (or `condition`-many) referenced rules within the timespan.
    Temporal,
    /// The referenced rules in order within the timespan.
    TemporalOrdered,
    /// Sum of a numeric field.
    ValueSum,
    /// Average of a numeric field.
    ValueAvg,
    /// Percentile of a field (see the module documentation).
    ValuePercentile,
}

impl Kind {
    fn parse(text: &str) -> Option<Kind> {
        Some(match text {
            "event_count" => Kind::EventCount,
            "value_count" => Kind::ValueCount,
            "temporal" => Kind::Temporal,
            "temporal_ordered" => Kind::TemporalOrdered,
            "value_sum" => Kind::ValueSum,
            "value_avg" => Kind::ValueAvg,
            "value_percentile" => Kind::ValuePercentile,
            _ => return None,
        })
    }

    /// The name used in rules.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::EventCount => "event_count",
            Kind::ValueCount => "value_count",
            Kind::Temporal => "temporal",
            Kind::TemporalOrdered => "temporal_ordered",
            Kind::ValueSum => "value_sum",
            Kind::ValueAvg => "value_avg",
            Kind::ValuePercentile => "value_percentile",
        }
    }
}

/// A comparison of the condition.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Bound {
    /// `gt`.
    Gt(f64),
    /// `gte`.
    Gte(f64),
    /// `lt`.
    Lt(f64),
    /// `lte`.
    Lte(f64),
    /// `eq`.
    Eq(f64),
    /// `neq`.
    Neq(f64),
}

impl Bound {
    fn holds(self, x: f64) -> bool {
        match self {
            Bound::Gt(n) => x > n,
            Bound::Gte(n) => x >= n,
            Bound::Lt(n) => x < n,
            Bound::Lte(n) => x <= n,
            Bound::Eq(n) => x == n,
            Bound::Neq(n) => x != n,
        }
    }

    /// Only a lower bound: once true, more events keep it true.
    fn is_lower(self) -> bool {
        matches!(self, Bound::Gt(_) | Bound::Gte(_))
    }
}

/// A loaded correlation rule, references not yet resolved.
#[derive(Debug, Clone)]
pub struct Correlation {
    /// `id`.
    pub id: Option<String>,
    /// `name`.
    pub name: Option<String>,
    /// `title`.
    pub title: String,
    /// `level`.
    pub level: Option<String>,
    /// `tags`.
    pub tags: Vec<String>,
    /// `correlation.type`.
    pub kind: Kind,
    /// `correlation.rules`: ids or names of rules or correlations.
    pub rules: Vec<String>,
    /// `correlation.group-by`.
    pub group_by: Vec<String>,
    /// `correlation.timespan`, in nanoseconds.
    pub timespan: i64,
    /// `correlation.condition` bounds, all of which must hold.
    pub condition: Vec<Bound>,
    /// `correlation.condition.field` (several for `value_count`: distinct tuples).
    pub fields: Vec<String>,
    /// `correlation.condition.percentile` (pySigma's form of `value_percentile`).
    pub percentile: Option<f64>,
    /// `correlation.aliases`: alias → (rule name or id → field).
    pub aliases: Vec<(String, Vec<(String, String)>)>,
    /// `generate`.
    pub generate: bool,
    /// The file it came from.
    pub file: String,
    /// 1-based line of the document.
    pub line: usize,
}

impl Correlation {
    /// Whether the condition is decided when a window closes rather than on arrival.
    pub fn decided_at_close(&self) -> bool {
        matches!(self.kind, Kind::EventCount | Kind::ValueCount)
            && self.condition.iter().any(|b| !b.is_lower())
    }
}

#[cfg(test)]
mod tests;
