//! What one audit record says, and how it joins its chain.
//!
//! Every authenticated request (reads and searches included) and every refused one writes
//! one: when, who (user, organisation, session or token, address), what action, on which
//! tenant and objects, the query text and how many results it returned, the outcome; and
//! for administrative changes the state before and after. Absent parts are left out of the
//! canonical bytes rather than written as `null`, so adding a field later does not change
//! the hash of older records.

use serde::Serialize;
use serde_json::Value;

use super::{Hash, Stored, canonical, chain_hash, leaf_hash};
use crate::GovernError;

/// Who acted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Who {
    /// The user's id (none for an unauthenticated, refused request).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<u64>,
    /// Their organisation's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org: Option<u64>,
    /// The session, as the first 16 hex digits of its stored hash (never the id itself).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// The API token, likewise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// The client's address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

/// How the request ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "outcome", content = "reason")]
pub enum Outcome {
    /// Done.
    Allowed,
    /// Refused by the permission check or a rule, with why.
    Refused(String),
    /// Allowed but failed (a server error), with why.
    Failed(String),
}

/// One audit record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Record {
    /// When, RFC 3339 UTC with nanoseconds.
    pub time: String,
    /// Who.
    pub who: Who,
    /// The action's stable name ([`crate::permission::Action::as_str`], or an API verb).
    pub action: String,
    /// The tenant, for a tenant action.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// The objects acted on (alert, event, user, grant ids).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub objects: Vec<String>,
    /// The query text of a search.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// How many results it returned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// How it ended.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// The state before an administrative change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    /// The state after it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
}

impl Record {
    /// Its canonical bytes (RFC 8785).
    pub fn canonical(&self) -> Result<Vec<u8>, GovernError> {
        let value = serde_json::to_value(self).map_err(|e| GovernError::Audit(e.to_string()))?;
        canonical(&value)
    }
}

/// The stored form of `record` as record number `seq` of a chain whose head is `previous`
/// ([`super::GENESIS`] for the first).
pub fn append(previous: &Hash, seq: u64, record: &Record) -> Result<Stored, GovernError> {
    let canonical = record.canonical()?;
    let leaf = leaf_hash(&canonical);
    Ok(Stored {
        seq,
        chain: chain_hash(previous, &leaf),
        leaf,
        canonical,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::audit::{GENESIS, verify};

    fn search(n: u64) -> Record {
        Record {
            time: format!("2026-12-07T10:00:0{n}.000000001Z"),
            who: Who {
                user: Some(20),
                org: Some(2),
                session: Some("3f9a00c2d1e4b5a6".to_owned()),
                token: None,
                address: Some("192.0.2.7".to_owned()),
            },
            action: "search-events".to_owned(),
            tenant: Some("mutuelle".to_owned()),
            objects: Vec::new(),
            query: Some("host:ws-0042".to_owned()),
            count: Some(n),
            outcome: Outcome::Allowed,
            before: None,
            after: None,
        }
    }

    #[test]
    fn canonical_records_leave_absent_parts_out() {
        let bytes = String::from_utf8(search(3).canonical().unwrap()).unwrap();
        assert_eq!(
            bytes,
            r#"{"action":"search-events","count":3,"outcome":"allowed","query":"host:ws-0042","tenant":"mutuelle","time":"2026-12-07T10:00:03.000000001Z","who":{"address":"192.0.2.7","org":2,"session":"3f9a00c2d1e4b5a6","user":20}}"#
        );
        let refused = Record {
            outcome: Outcome::Refused("no active grant".to_owned()),
            who: Who::default(),
            query: None,
            count: None,
            tenant: None,
            objects: vec!["alert:42".to_owned()],
            before: Some(json!({"status": "approved"})),
            after: Some(json!({"status": "revoked"})),
            ..search(0)
        };
        let bytes = String::from_utf8(refused.canonical().unwrap()).unwrap();
        assert_eq!(
            bytes,
            r#"{"action":"search-events","after":{"status":"revoked"},"before":{"status":"approved"},"objects":["alert:42"],"outcome":"refused","reason":"no active grant","time":"2026-12-07T10:00:00.000000001Z","who":{}}"#
        );
        let failed = Record {
            outcome: Outcome::Failed("store".to_owned()),
            ..search(1)
        };
        let text = String::from_utf8(failed.canonical().unwrap()).unwrap();
        assert!(
            text.contains(r#""outcome":"failed""#) && text.contains(r#""reason":"store""#),
            "{text}"
        );
    }

    #[test]
    fn appended_records_form_a_chain_that_verifies() {
        let mut previous = GENESIS;
        let mut chain = Vec::new();
        for seq in 1..=5 {
            let stored = append(&previous, seq, &search(seq)).unwrap();
            previous = stored.chain;
            chain.push(stored);
        }
        assert_eq!(verify(&chain, &[]), Ok(()));
        assert_eq!(chain[0].chain, chain_hash(&GENESIS, &chain[0].leaf));
        assert_eq!(chain[0].leaf, leaf_hash(&search(1).canonical().unwrap()));
        // The same record appended after another head is another chain hash.
        assert_ne!(
            append(&[1; 32], 1, &search(1)).unwrap().chain,
            chain[0].chain
        );
    }
}
