//! Sensitive fields: what a provider user without an elevation sees instead of their values,
//! and which searches they may not run.
//!
//! A tenant lists field names whose values are personal or health data (a patient id, a
//! national id, an e-mail address). In every response to such a user, each value of those
//! fields becomes a keyed pseudonym: `pz:` and the first 16 hex digits of
//! HMAC-SHA-256(tenant key, value). Equal values give equal pseudonyms, so the analyst can
//! still see that two alerts concern the same person; without the tenant's key the
//! pseudonym cannot be reversed, and it differs from one tenant to another.
//!
//! A search could leak what a response hides (a count, a terms aggregation, "does
//! `patient_id:123` match?"), so [`SensitiveFields::check_search`] refuses a search that
//! names a sensitive field, and a free-text term (it would match sensitive values too) when
//! the tenant has any.

use std::collections::BTreeSet;

use ring::hmac;
use serde_json::Value;

use crate::GovernError;

/// The prefix of every pseudonym.
pub const PREFIX: &str = "pz:";

/// A tenant's pseudonymising key.
pub struct Pseudonymizer {
    key: hmac::Key,
}

impl std::fmt::Debug for Pseudonymizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pseudonymizer(…)")
    }
}

impl Pseudonymizer {
    /// From the tenant's 32-byte key (random, kept by the server).
    pub fn new(key: &[u8; 32]) -> Pseudonymizer {
        Pseudonymizer {
            key: hmac::Key::new(hmac::HMAC_SHA256, key),
        }
    }

    /// The pseudonym of `value`.
    pub fn pseudonym(&self, value: &str) -> String {
        let tag = hmac::sign(&self.key, value.as_bytes());
        let mut out = String::with_capacity(PREFIX.len() + 16);
        out.push_str(PREFIX);
        for b in &tag.as_ref()[..8] {
            out.push_str(&format!("{b:02x}"));
        }
        out
    }

    /// Replaces, in `json` (an event, an alert, a page of results), every value of a field
    /// in `fields` by its pseudonym: at any depth, under the field's name as an object key.
    /// Scalars become pseudonyms of their text (`4688` and `"4688"` alike); arrays, each
    /// scalar; `null` stays `null` (absence is not personal data).
    ///
    /// The same values also hide wherever else they appear as text in `json` — an event's
    /// raw message repeats its fields' values — when they are at least
    /// [`MIN_EMBEDDED_CHARS`] long (a shorter one would rewrite unrelated text and says
    /// little alone).
    pub fn apply(&self, fields: &SensitiveFields, json: &mut Value) {
        let mut seen = BTreeSet::new();
        self.hide_fields(fields, json, &mut seen);
        let embedded: Vec<(String, String)> = seen
            .into_iter()
            .filter(|v: &String| v.chars().count() >= MIN_EMBEDDED_CHARS)
            .map(|v| {
                let p = self.pseudonym(&v);
                (v, p)
            })
            .collect();
        if !embedded.is_empty() {
            // Longest first, so that a value containing another is replaced whole.
            let mut embedded = embedded;
            embedded.sort_by_key(|(value, _)| std::cmp::Reverse(value.len()));
            replace_text(json, &embedded);
        }
    }

    fn hide_fields(&self, fields: &SensitiveFields, json: &mut Value, seen: &mut BTreeSet<String>) {
        match json {
            Value::Object(map) => {
                for (key, value) in map.iter_mut() {
                    if fields.contains(key) {
                        collect(value, seen);
                        self.hide(value);
                    } else {
                        self.hide_fields(fields, value, seen);
                    }
                }
            }
            Value::Array(items) => {
                for item in items {
                    self.hide_fields(fields, item, seen);
                }
            }
            _ => {}
        }
    }

    fn hide(&self, value: &mut Value) {
        match value {
            Value::Null => {}
            Value::String(s) => *value = Value::String(self.pseudonym(s)),
            Value::Number(n) => *value = Value::String(self.pseudonym(&n.to_string())),
            Value::Bool(b) => {
                *value = Value::String(self.pseudonym(if *b { "true" } else { "false" }))
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.hide(v)),
            // A structured value under a sensitive name: every leaf is hidden.
            Value::Object(map) => map.values_mut().for_each(|v| self.hide(v)),
        }
    }
}

/// The shortest sensitive value also hidden inside other text.
pub const MIN_EMBEDDED_CHARS: usize = 4;

/// The texts of the scalars in `value`.
fn collect(value: &Value, seen: &mut BTreeSet<String>) {
    match value {
        Value::Null => {}
        Value::String(s) => {
            seen.insert(s.clone());
        }
        Value::Number(n) => {
            seen.insert(n.to_string());
        }
        Value::Bool(_) => {}
        Value::Array(items) => items.iter().for_each(|v| collect(v, seen)),
        Value::Object(map) => map.values().for_each(|v| collect(v, seen)),
    }
}

/// Replaces each `(value, pseudonym)` inside every string of `json` that is not already a
/// pseudonym.
fn replace_text(json: &mut Value, pairs: &[(String, String)]) {
    match json {
        Value::String(s) => {
            if s.starts_with(PREFIX) && s.len() == PREFIX.len() + 16 {
                return;
            }
            for (value, pseudonym) in pairs {
                if s.contains(value.as_str()) {
                    *s = s.replace(value.as_str(), pseudonym);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| replace_text(v, pairs)),
        Value::Object(map) => map.values_mut().for_each(|v| replace_text(v, pairs)),
        _ => {}
    }
}

/// A tenant's sensitive field names (matched without regard to case: `Patient_ID` and
/// `patient_id` are one field to a person reading them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SensitiveFields(BTreeSet<String>);

impl SensitiveFields {
    /// From the tenant's list.
    pub fn new<'a>(names: impl IntoIterator<Item = &'a str>) -> SensitiveFields {
        SensitiveFields(names.into_iter().map(str::to_ascii_lowercase).collect())
    }

    /// Whether `name` is one of them.
    pub fn contains(&self, name: &str) -> bool {
        self.0.contains(&name.to_ascii_lowercase())
    }

    /// Whether the tenant has none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Checks the fields a search names (`None` for a free-text term, which searches every
    /// field) for a caller who may not see sensitive values.
    pub fn check_search<'a>(
        &self,
        named: impl IntoIterator<Item = Option<&'a str>>,
    ) -> Result<(), GovernError> {
        if self.is_empty() {
            return Ok(());
        }
        for field in named {
            match field {
                Some(f) if self.contains(f) => {
                    return Err(GovernError::Sensitive(format!(
                        "field {f:?} is sensitive on this tenant: its values cannot be searched without an elevation"
                    )));
                }
                None => {
                    return Err(GovernError::Sensitive(
                        "free text would search the tenant's sensitive fields: name the fields to search (field:value)"
                            .to_owned(),
                    ));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn equal_values_give_equal_pseudonyms_per_tenant() {
        let a = Pseudonymizer::new(&[1; 32]);
        let b = Pseudonymizer::new(&[2; 32]);
        let p = a.pseudonym("1 84 12 75 123 456 78");
        assert!(p.starts_with("pz:") && p.len() == 19, "{p}");
        assert!(p[3..].bytes().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(a.pseudonym("1 84 12 75 123 456 78"), p);
        assert_ne!(a.pseudonym("1 84 12 75 123 456 79"), p);
        assert_ne!(
            b.pseudonym("1 84 12 75 123 456 78"),
            p,
            "another tenant, another pseudonym"
        );
        // The key never shows in logs.
        assert_eq!(format!("{a:?}"), "Pseudonymizer(…)");
        // HMAC-SHA-256 with the key, first 8 bytes: RFC 4231 test case 2.
        let jefe = {
            let mut k = [0u8; 32];
            k[..4].copy_from_slice(b"Jefe");
            k
        };
        // A 32-byte key padded with zeros is the same HMAC key as "Jefe" (keys are
        // zero-padded to the block size).
        assert_eq!(
            Pseudonymizer::new(&jefe).pseudonym("what do ya want for nothing?"),
            "pz:5bdcc146bf60754e"
        );
    }

    #[test]
    fn every_value_of_a_sensitive_field_is_hidden_at_any_depth() {
        let p = Pseudonymizer::new(&[1; 32]);
        let fields = SensitiveFields::new(["patient_id", "Email"]);
        let mut page = json!({
            "total": 2,
            "events": [
                {"fields": {"patient_id": "P-77", "host": "ws1", "email": ["a@x.fr", null], "n": 3}},
                {"fields": {"PATIENT_ID": 77, "nested": {"email": {"work": "b@x.fr"}}}},
                {"matched": {"patient_id": true, "other": null}}
            ]
        });
        p.apply(&fields, &mut page);
        let text = page.to_string();
        for clear in [
            "P-77",
            "a@x.fr",
            "b@x.fr",
            "\"PATIENT_ID\":77",
            "\"patient_id\":true",
        ] {
            assert!(!text.contains(clear), "{clear} in {text}");
        }
        assert_eq!(
            page["events"][0]["fields"]["patient_id"],
            p.pseudonym("P-77")
        );
        assert_eq!(
            page["events"][0]["fields"]["email"][0],
            p.pseudonym("a@x.fr")
        );
        assert_eq!(page["events"][0]["fields"]["email"][1], Value::Null);
        assert_eq!(page["events"][1]["fields"]["PATIENT_ID"], p.pseudonym("77"));
        assert_eq!(
            page["events"][1]["fields"]["nested"]["email"]["work"],
            p.pseudonym("b@x.fr")
        );
        assert_eq!(
            page["events"][2]["matched"]["patient_id"],
            p.pseudonym("true")
        );
        // What is not sensitive is untouched.
        assert_eq!(page["events"][0]["fields"]["host"], "ws1");
        assert_eq!(page["events"][0]["fields"]["n"], 3);
        assert_eq!(page["total"], 2);
        assert_eq!(page["events"][2]["matched"]["other"], Value::Null);
        // False hides too.
        let mut f = json!({"email": false});
        p.apply(&fields, &mut f);
        assert_eq!(f["email"], p.pseudonym("false"));
    }

    #[test]
    fn pseudonyms_are_never_rewritten_and_other_text_of_their_length_is() {
        let p = Pseudonymizer::new(&[1; 32]);
        let first = p.pseudonym("alice@example.org");
        // A sensitive value that happens to be inside the first value's pseudonym.
        let inner = first[5..9].to_owned();
        let fields = SensitiveFields::new(["email", "code"]);
        let mut event = serde_json::json!({"email": "alice@example.org", "code": inner});
        p.apply(&fields, &mut event);
        assert_eq!(event["email"], first, "a pseudonym is left whole");
        // A text as long as a pseudonym but not one is searched like any other.
        let padded = "login by bob1 ok...";
        assert_eq!(padded.len(), PREFIX.len() + 16);
        let mut other = serde_json::json!({"code": "bob1", "message": padded});
        p.apply(&fields, &mut other);
        assert_eq!(
            other["message"],
            format!("login by {} ok...", p.pseudonym("bob1"))
        );
    }

    #[test]
    fn sensitive_values_hide_inside_other_text_too() {
        let p = Pseudonymizer::new(&[1; 32]);
        let fields = SensitiveFields::new(["patient_id", "user"]);
        let mut event = json!({
            "message": "access to record P-1234567 by jdoe from 10.0.0.1 (jdoe)",
            "fields": {"patient_id": "P-1234567", "user": "jdoe", "short": "ab"},
            "context": [{"message": "P-1234567 exported"}],
            "user2": "ab", "n": 7
        });
        p.apply(&fields, &mut event);
        let text = event.to_string();
        assert!(!text.contains("P-1234567"), "{text}");
        assert!(!text.contains("jdoe"), "{text}");
        assert_eq!(
            event["message"],
            format!(
                "access to record {} by {} from 10.0.0.1 ({})",
                p.pseudonym("P-1234567"),
                p.pseudonym("jdoe"),
                p.pseudonym("jdoe")
            )
        );
        assert_eq!(
            event["context"][0]["message"],
            format!("{} exported", p.pseudonym("P-1234567"))
        );
        // A pseudonym is never rewritten, and values under four characters stay in place
        // outside their own field.
        assert_eq!(event["fields"]["patient_id"], p.pseudonym("P-1234567"));
        assert_eq!(event["user2"], "ab");
        assert_eq!(event["fields"]["short"], "ab");
        let mut short = json!({"user": "abc", "message": "abc"});
        p.apply(&fields, &mut short);
        assert_eq!(short["message"], "abc");
        assert_eq!(short["user"], p.pseudonym("abc"));
        // A value that contains another is replaced whole.
        let mut nested = json!({"user": ["admin", "administrator"], "message": "administrator"});
        p.apply(&fields, &mut nested);
        assert_eq!(nested["message"], p.pseudonym("administrator"));
    }

    #[test]
    fn searches_cannot_reach_sensitive_values() {
        let fields = SensitiveFields::new(["patient_id"]);
        assert!(fields.check_search([Some("host"), Some("EventID")]).is_ok());
        let e = fields
            .check_search([Some("host"), Some("Patient_Id")])
            .unwrap_err();
        assert!(e.to_string().contains("\"Patient_Id\" is sensitive"), "{e}");
        let e = fields.check_search([Some("host"), None]).unwrap_err();
        assert!(e.to_string().contains("free text"), "{e}");
        // A tenant without sensitive fields: free text is fine.
        assert!(SensitiveFields::default().check_search([None]).is_ok());
        assert!(SensitiveFields::default().is_empty());
        assert!(!fields.is_empty());
        assert!(fields.contains("PATIENT_ID") && !fields.contains("patient"));
    }
}
