//! The Sigma rule model: what a detection rule is once parsed (loading is [`crate::load`]).

use crate::condition::Condition;
use crate::detection::Item;

/// The logsource a rule applies to; unset attributes match anything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleLogSource {
    /// `product`.
    pub product: Option<String>,
    /// `category`.
    pub category: Option<String>,
    /// `service`.
    pub service: Option<String>,
}

/// A search identifier's definition.
#[derive(Debug, Clone)]
pub enum Detection {
    /// A map: every item must match.
    AllOf(Vec<Item>),
    /// A list of maps: one must match.
    AnyOf(Vec<Detection>),
    /// A list of keywords (one item without a field).
    Keywords(Item),
}

/// A loaded detection rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// `id`.
    pub id: Option<String>,
    /// `name` (how correlations and filters may refer to it besides `id`).
    pub name: Option<String>,
    /// `title`.
    pub title: String,
    /// `level`.
    pub level: Option<String>,
    /// `tags` (ATT&CK and others).
    pub tags: Vec<String>,
    /// `logsource`.
    pub logsource: RuleLogSource,
    /// Search identifiers in the order written.
    pub detections: Vec<(String, Detection)>,
    /// The condition (a list of conditions is their `or`).
    pub condition: Condition,
    /// The file it came from.
    pub file: String,
    /// 1-based line of the document.
    pub line: usize,
}

impl Rule {
    /// The definition of identifier `name`.
    pub fn detection(&self, name: &str) -> Option<&Detection> {
        self.detections
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, d)| d)
    }
}
