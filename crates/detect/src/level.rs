//! Sigma's levels, as one ordered type.

/// A rule's level, lowest first, so that `>=` reads "at least".
///
/// A rule without a level, or with one outside the standard's five, ranks as
/// `informational`: it still runs and alerts, and a minimum level above it hides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// `informational`
    Informational,
    /// `low`
    Low,
    /// `medium`
    Medium,
    /// `high`
    High,
    /// `critical`
    Critical,
}

impl Level {
    /// Every level, highest first (the order reports list them in).
    pub const ALL: [Level; 5] = [
        Level::Critical,
        Level::High,
        Level::Medium,
        Level::Low,
        Level::Informational,
    ];

    /// The level of a rule's `level:` text (any case).
    pub fn of(level: Option<&str>) -> Level {
        match level.map(str::to_ascii_lowercase).as_deref() {
            Some("low") => Level::Low,
            Some("medium") => Level::Medium,
            Some("high") => Level::High,
            Some("critical") => Level::Critical,
            _ => Level::Informational,
        }
    }

    /// The level named `text` (any case, surrounding spaces ignored), or `None`: for a
    /// filter, where an unknown level is a typo to report rather than `informational`.
    pub fn parse(text: &str) -> Option<Level> {
        let text = text.trim();
        Level::ALL
            .into_iter()
            .find(|l| l.as_str().eq_ignore_ascii_case(text))
    }

    /// Its name in the standard (lower case).
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Informational => "informational",
            Level::Low => "low",
            Level::Medium => "medium",
            Level::High => "high",
            Level::Critical => "critical",
        }
    }
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_rank_and_unknown_levels_are_informational() {
        assert!(Level::of(Some("critical")) > Level::of(Some("High")));
        assert!(Level::of(Some("low")) > Level::of(None));
        assert_eq!(Level::of(Some("severe")), Level::Informational);
        for level in Level::ALL {
            assert_eq!(Level::of(Some(level.as_str())), level);
            assert_eq!(level.to_string(), level.as_str());
        }
        assert!(Level::ALL.windows(2).all(|w| w[0] > w[1]));
        assert_eq!(Level::parse(" High"), Some(Level::High));
        assert_eq!(Level::parse("informational"), Some(Level::Informational));
        assert_eq!(Level::parse("severe"), None);
        assert_eq!(Level::parse(""), None);
    }
}
