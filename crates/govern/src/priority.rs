//! An alert's priority (issue 27): what to look at first, from three things the tenant
//! knows — the rule's level, how often the rule was right here lately, and how much the
//! host matters.
//!
//! ```text
//! priority = clamp(base(level) × confidence(rule) × weight(asset), 0, 100)
//! base:       informational 10, low 25, medium 45, high 70, critical 90
//! confidence: 1 − 0.6 × (false positives ÷ qualified), once the rule has at least
//!             MIN_QUALIFIED qualified alerts in the last 30 days; 1 before that
//! weight:     low 0.8, medium 1.0 (a host not in the list), high 1.2, critical 1.4
//! ```
//!
//! Decisions: a rule that was always a false positive keeps 40 % of its base, never 0 (the
//! next one may be real, and the queue must still show it); a rule's rate counts only once
//! it rests on [`MIN_QUALIFIED`] qualifications, so a single early false positive does not
//! bury a rule; an unlisted host weighs as medium. The priority is computed once, when the
//! alert is written, so that the queue's order does not shift under the analyst's eyes.

use std::fmt;
use std::str::FromStr;

use crate::GovernError;

/// Qualified alerts a rule needs in the window before its false-positive rate counts.
pub const MIN_QUALIFIED: u64 = 5;

/// How much a host matters to the tenant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Criticality {
    /// A test machine, a kiosk.
    Low,
    /// Most hosts (and any host not listed).
    Medium,
    /// A server that matters.
    High,
    /// A domain controller, the payment system.
    Critical,
}

impl Criticality {
    /// Every value, lowest first.
    pub const ALL: [Criticality; 4] = [
        Criticality::Low,
        Criticality::Medium,
        Criticality::High,
        Criticality::Critical,
    ];

    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            Criticality::Low => "low",
            Criticality::Medium => "medium",
            Criticality::High => "high",
            Criticality::Critical => "critical",
        }
    }

    fn weight(self) -> f64 {
        match self {
            Criticality::Low => 0.8,
            Criticality::Medium => 1.0,
            Criticality::High => 1.2,
            Criticality::Critical => 1.4,
        }
    }
}

impl fmt::Display for Criticality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Criticality {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl FromStr for Criticality {
    type Err = GovernError;
    /// `low`, `medium`, `high`, `critical` (any case), or `1` to `4`.
    fn from_str(s: &str) -> Result<Criticality, GovernError> {
        let t = s.trim().to_ascii_lowercase();
        Criticality::ALL
            .into_iter()
            .enumerate()
            .find(|(i, c)| c.as_str() == t || (i + 1).to_string() == t)
            .map(|(_, c)| c)
            .ok_or_else(|| GovernError::Unknown {
                what: "criticality (low, medium, high, critical or 1-4)",
                name: s.to_owned(),
            })
    }
}

/// A rule's qualifications in the tenant over the window: how many alerts were qualified,
/// and how many of them as false positives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RuleRecord {
    /// Alerts qualified.
    pub qualified: u64,
    /// Of which false positives.
    pub false_positives: u64,
}

impl RuleRecord {
    /// The false-positive rate, once it rests on enough qualifications.
    pub fn false_positive_rate(self) -> Option<f64> {
        (self.qualified >= MIN_QUALIFIED)
            .then(|| self.false_positives.min(self.qualified) as f64 / self.qualified as f64)
    }
}

fn base(level: &str) -> f64 {
    match level {
        "critical" => 90.0,
        "high" => 70.0,
        "medium" => 45.0,
        "low" => 25.0,
        _ => 10.0,
    }
}

/// The priority (0 to 100) of an alert of a rule of `level` with `record`, on a host of
/// `criticality` (`None`: not listed).
pub fn priority(level: &str, record: RuleRecord, criticality: Option<Criticality>) -> u8 {
    let confidence = 1.0 - 0.6 * record.false_positive_rate().unwrap_or(0.0);
    let weight = criticality.unwrap_or(Criticality::Medium).weight();
    (base(level) * confidence * weight)
        .round()
        .clamp(0.0, 100.0) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONE: RuleRecord = RuleRecord {
        qualified: 0,
        false_positives: 0,
    };

    fn record(qualified: u64, false_positives: u64) -> RuleRecord {
        RuleRecord {
            qualified,
            false_positives,
        }
    }

    #[test]
    fn level_sets_the_base() {
        assert_eq!(priority("informational", NONE, None), 10);
        assert_eq!(priority("low", NONE, None), 25);
        assert_eq!(priority("medium", NONE, None), 45);
        assert_eq!(priority("high", NONE, None), 70);
        assert_eq!(priority("critical", NONE, None), 90);
        assert_eq!(priority("bogus", NONE, None), 10);
    }

    #[test]
    fn criticality_weighs() {
        let c = |c| priority("high", NONE, Some(c));
        assert_eq!(c(Criticality::Low), 56);
        assert_eq!(c(Criticality::Medium), 70);
        assert_eq!(c(Criticality::High), 84);
        assert_eq!(c(Criticality::Critical), 98);
        // Capped at 100.
        assert_eq!(priority("critical", NONE, Some(Criticality::Critical)), 100);
    }

    #[test]
    fn a_noisy_rule_sinks_but_never_disappears() {
        // Below MIN_QUALIFIED the rate does not count.
        assert_eq!(priority("high", record(4, 4), None), 70);
        assert_eq!(record(4, 4).false_positive_rate(), None);
        assert_eq!(record(5, 5).false_positive_rate(), Some(1.0));
        assert_eq!(priority("high", record(5, 5), None), 28);
        assert_eq!(priority("high", record(10, 5), None), 49);
        assert_eq!(priority("high", record(10, 0), None), 70);
        // More false positives than qualified (a corrupt count) reads as all.
        assert_eq!(priority("high", record(5, 9), None), 28);
        assert!(priority("informational", record(100, 100), Some(Criticality::Low)) > 0);
    }

    #[test]
    fn criticality_names_parse() {
        for (i, c) in Criticality::ALL.into_iter().enumerate() {
            assert_eq!(c.as_str().parse::<Criticality>().unwrap(), c);
            assert_eq!((i + 1).to_string().parse::<Criticality>().unwrap(), c);
            assert_eq!(c.to_string(), c.as_str());
        }
        assert_eq!(" HIGH ".parse::<Criticality>().unwrap(), Criticality::High);
        assert!("5".parse::<Criticality>().is_err());
        assert!("0".parse::<Criticality>().is_err());
        assert!("urgent".parse::<Criticality>().is_err());
        assert!(Criticality::Low < Criticality::Critical);
    }
}
