//! Alert grouping (issue 27): alerts of one rule on the same entity within a window form
//! one group, which the analyst qualifies once.
//!
//! Decisions:
//! - The entity is the host by default; a tenant may group a rule by the user or the
//!   source address instead ([`Grouping::rules`]). An alert without the entity's value
//!   (no user in the event) groups on the empty value: all such alerts of the rule in the
//!   window are one group, which is what an analyst would do by hand.
//! - The window is measured on event times: an alert joins the latest group of its key when
//!   its event is within the window of the group's first-to-last span (out-of-order
//!   events are common in log shipping), else it starts a new group.
//! - A closed group (every alert in it closed) that receives a new alert is reopened by it
//!   ([`WhenClosed::Reopen`], the default: the new alert shows beside the qualification the
//!   group had) or left closed while the alert starts a new group ([`WhenClosed::New`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The longest window: 30 days, in minutes.
pub const MAX_WINDOW_MINUTES: u32 = 30 * 24 * 60;

/// Rules with their own entity, at most (a settings document stays small).
pub const MAX_RULE_ENTITIES: usize = 1000;

/// What an alert is grouped on, beside its rule.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Entity {
    /// The event's host.
    #[default]
    Host,
    /// The user the event names.
    User,
    /// The source address the event names.
    Source,
}

impl Entity {
    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            Entity::Host => "host",
            Entity::User => "user",
            Entity::Source => "source",
        }
    }
}

/// What a new alert does to a closed group of its key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WhenClosed {
    /// It joins the group, which is open again.
    #[default]
    Reopen,
    /// It starts a new group.
    New,
}

/// A tenant's grouping settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Grouping {
    /// The window, in minutes (1 to [`MAX_WINDOW_MINUTES`]).
    pub window_minutes: u32,
    /// The entity of rules not listed in `rules`.
    pub entity: Entity,
    /// Rule id → its entity.
    pub rules: BTreeMap<String, Entity>,
    /// What a new alert of a closed group does.
    pub when_closed: WhenClosed,
}

impl Default for Grouping {
    fn default() -> Grouping {
        Grouping {
            window_minutes: 24 * 60,
            entity: Entity::Host,
            rules: BTreeMap::new(),
            when_closed: WhenClosed::Reopen,
        }
    }
}

impl Grouping {
    /// Why these settings are refused, if they are.
    pub fn check(&self) -> Result<(), String> {
        if self.window_minutes == 0 || self.window_minutes > MAX_WINDOW_MINUTES {
            return Err(format!(
                "grouping window {} minutes: between 1 and {MAX_WINDOW_MINUTES} (30 days)",
                self.window_minutes
            ));
        }
        if self.rules.len() > MAX_RULE_ENTITIES {
            return Err(format!(
                "grouping names {} rules: at most {MAX_RULE_ENTITIES}",
                self.rules.len()
            ));
        }
        Ok(())
    }

    /// The entity `rule` groups on.
    pub fn entity_of(&self, rule: &str) -> Entity {
        self.rules.get(rule).copied().unwrap_or(self.entity)
    }

    /// The window in nanoseconds.
    pub fn window_nanos(&self) -> i64 {
        i64::from(self.window_minutes) * 60_000_000_000
    }
}

/// The part of an existing group the decision reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GroupSpan {
    /// Its first event time (nanoseconds).
    pub first: i64,
    /// Its last event time.
    pub last: i64,
    /// Whether it has an open alert.
    pub open: bool,
}

/// Whether an alert of event time `time` joins `group` (the latest group of its key).
pub fn joins(settings: &Grouping, group: GroupSpan, time: i64) -> bool {
    if !group.open && settings.when_closed == WhenClosed::New {
        return false;
    }
    let window = settings.window_nanos();
    time >= group.first.saturating_sub(window) && time <= group.last.saturating_add(window)
}

/// A group's key: the rule, the entity's kind and its value (separated by a control
/// character no rule id or entity value holds in practice; the key is compared whole).
pub fn key(rule: &str, entity: Entity, value: &str) -> String {
    format!("{rule}\u{1f}{}\u{1f}{value}", entity.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000_000_000;

    fn span(first: i64, last: i64, open: bool) -> GroupSpan {
        GroupSpan { first, last, open }
    }

    #[test]
    fn the_window_spans_both_sides() {
        let s = Grouping {
            window_minutes: 10,
            ..Grouping::default()
        };
        let g = span(100 * MIN, 120 * MIN, true);
        assert!(joins(&s, g, 110 * MIN));
        assert!(joins(&s, g, 130 * MIN));
        assert!(!joins(&s, g, 130 * MIN + 1));
        assert!(joins(&s, g, 90 * MIN));
        assert!(!joins(&s, g, 90 * MIN - 1));
        // At the extremes of time, no overflow.
        assert!(joins(&s, span(i64::MIN, i64::MIN, true), i64::MIN));
        assert!(joins(&s, span(i64::MAX, i64::MAX, true), i64::MAX));
    }

    #[test]
    fn a_closed_group_reopens_or_not() {
        let reopen = Grouping::default();
        let new = Grouping {
            when_closed: WhenClosed::New,
            ..Grouping::default()
        };
        let closed = span(0, MIN, false);
        let open = span(0, MIN, true);
        assert!(joins(&reopen, closed, 2 * MIN));
        assert!(!joins(&new, closed, 2 * MIN));
        assert!(joins(&new, open, 2 * MIN));
    }

    #[test]
    fn entities_per_rule() {
        let mut s = Grouping::default();
        s.rules.insert("brute".into(), Entity::Source);
        assert_eq!(s.entity_of("brute"), Entity::Source);
        assert_eq!(s.entity_of("other"), Entity::Host);
        s.entity = Entity::User;
        assert_eq!(s.entity_of("other"), Entity::User);
        assert_ne!(key("r", Entity::Host, "a"), key("r", Entity::User, "a"));
        assert_ne!(key("r", Entity::Host, "a"), key("r2", Entity::Host, "a"));
        assert_eq!(key("r", Entity::Host, "a"), key("r", Entity::Host, "a"));
    }

    #[test]
    fn settings_are_checked_and_read() {
        assert_eq!(Grouping::default().check(), Ok(()));
        assert_eq!(MAX_WINDOW_MINUTES, 43_200, "30 days");
        assert_eq!(Grouping::default().window_nanos(), 24 * 60 * MIN);
        let zero = Grouping {
            window_minutes: 0,
            ..Grouping::default()
        };
        assert!(zero.check().is_err());
        let longest = Grouping {
            window_minutes: MAX_WINDOW_MINUTES,
            ..Grouping::default()
        };
        assert_eq!(longest.check(), Ok(()));
        let too_long = Grouping {
            window_minutes: MAX_WINDOW_MINUTES + 1,
            ..Grouping::default()
        };
        assert!(too_long.check().is_err());
        let mut many = Grouping::default();
        for i in 0..=MAX_RULE_ENTITIES {
            many.rules.insert(i.to_string(), Entity::User);
        }
        assert!(many.check().is_err());
        many.rules.remove("0");
        assert_eq!(many.check(), Ok(()));
        let parsed: Grouping =
            serde_json::from_str(r#"{"window_minutes": 60, "rules": {"r": "user"}}"#).unwrap();
        assert_eq!(parsed.window_minutes, 60);
        assert_eq!(parsed.entity, Entity::Host);
        assert_eq!(parsed.entity_of("r"), Entity::User);
        assert!(serde_json::from_str::<Grouping>(r#"{"windw": 60}"#).is_err());
    }
}
