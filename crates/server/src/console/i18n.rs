//! The console's languages: one message catalog per language (`messages/en.txt`,
//! `messages/fr.txt`, `key = text` lines), embedded in the binary.
//!
//! The language is the reader's choice (the `vigie-lang` cookie the account page sets),
//! else the browser's (`Accept-Language`), else English. A test fails when a key is in one
//! catalog and not the other, or when a template or handler uses a key no catalog has.
//!
//! Decision: the choice is kept in a cookie of the browser, not in the account: it is a
//! preference of the screen in front of the reader (a shared SOC wall screen in French, the
//! same analyst's laptop in English), and it needs no write to the state database.

use std::collections::HashMap;
use std::sync::OnceLock;

use axum::http::{HeaderMap, header};

/// The cookie that keeps the reader's choice.
pub const COOKIE: &str = "vigie-lang";

/// A language of the console.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    /// English.
    En,
    /// French.
    Fr,
}

impl Lang {
    /// Every language, in the order the chooser shows them.
    pub const ALL: [Lang; 2] = [Lang::En, Lang::Fr];

    /// Its code (`en`, `fr`): the `lang` attribute and the cookie's value.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Fr => "fr",
        }
    }

    /// Its own name, as the chooser shows it.
    pub fn name(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::Fr => "Français",
        }
    }

    /// The language of a code, if the console has it.
    pub fn parse(code: &str) -> Option<Lang> {
        let code = code.trim();
        let primary = code.split(['-', '_']).next().unwrap_or(code);
        Lang::ALL
            .into_iter()
            .find(|l| l.code().eq_ignore_ascii_case(primary))
    }

    /// The reader's language: the cookie, else the first language of `Accept-Language`
    /// (by its q-values) the console has, else English.
    pub fn of(headers: &HeaderMap) -> Lang {
        let chosen = crate::api::access::cookie(headers, COOKIE).and_then(Lang::parse);
        if let Some(lang) = chosen {
            return lang;
        }
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .and_then(from_accept_language)
            .unwrap_or(Lang::En)
    }

    fn catalog(self) -> &'static HashMap<&'static str, &'static str> {
        static EN: OnceLock<HashMap<&'static str, &'static str>> = OnceLock::new();
        static FR: OnceLock<HashMap<&'static str, &'static str>> = OnceLock::new();
        match self {
            Lang::En => EN.get_or_init(|| parse(include_str!("messages/en.txt"))),
            Lang::Fr => FR.get_or_init(|| parse(include_str!("messages/fr.txt"))),
        }
    }
}

/// The best language of an `Accept-Language` value the console has.
fn from_accept_language(value: &str) -> Option<Lang> {
    let mut ranked: Vec<(f32, Lang)> = value
        .split(',')
        .filter_map(|item| {
            let mut parts = item.split(';');
            let lang = Lang::parse(parts.next()?)?;
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .map_or(Some(1.0), |q| q.trim().parse::<f32>().ok())?;
            (q > 0.0).then_some((q, lang))
        })
        .collect();
    // Stable: equal weights keep the order the browser gave.
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
    ranked.first().map(|(_, l)| *l)
}

/// A catalog's text: `key = text` lines; `#` starts a comment line.
fn parse(text: &'static str) -> HashMap<&'static str, &'static str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once(" = "))
        .map(|(k, v)| (k.trim(), v.trim()))
        .collect()
}

/// The translator a template holds.
#[derive(Clone, Copy, Debug)]
pub struct Tr {
    /// Its language.
    pub lang: Lang,
}

impl Tr {
    /// The text of `key` (the key itself when missing, which the catalog test prevents).
    pub fn t<'a>(&self, key: &'a str) -> &'a str {
        self.lang.catalog().get(key).copied().unwrap_or(key)
    }

    /// The text of `key` with `{}` replaced by `value`.
    pub fn f(&self, key: &str, value: impl std::fmt::Display) -> String {
        self.t(key).replacen("{}", &value.to_string(), 1)
    }

    /// The text of `key` with each `{}` replaced by the next of `values`.
    pub fn fs(&self, key: &str, values: &[&dyn std::fmt::Display]) -> String {
        let mut out = self.t(key).to_owned();
        for v in values {
            out = out.replacen("{}", &v.to_string(), 1);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn keys(lang: Lang) -> BTreeSet<&'static str> {
        lang.catalog().keys().copied().collect()
    }

    #[test]
    fn both_catalogs_have_the_same_keys() {
        let en = keys(Lang::En);
        let fr = keys(Lang::Fr);
        let only_en: Vec<_> = en.difference(&fr).collect();
        let only_fr: Vec<_> = fr.difference(&en).collect();
        assert!(only_en.is_empty(), "missing in fr.txt: {only_en:?}");
        assert!(only_fr.is_empty(), "missing in en.txt: {only_fr:?}");
        assert!(en.len() > 50, "{} keys", en.len());
    }

    #[test]
    fn no_line_of_a_catalog_is_lost() {
        for (name, text) in [
            ("en", include_str!("messages/en.txt")),
            ("fr", include_str!("messages/fr.txt")),
        ] {
            let mut seen = BTreeSet::new();
            for (i, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let (key, value) = line
                    .split_once(" = ")
                    .unwrap_or_else(|| panic!("{name}.txt:{}: not `key = text`", i + 1));
                assert!(!value.trim().is_empty(), "{name}.txt:{}: empty", i + 1);
                assert!(seen.insert(key.trim()), "{name}.txt:{}: {key} twice", i + 1);
            }
        }
    }

    /// Every string literal of the templates and of the console's code that has the
    /// form of a key (`word.word…`, first word one of the catalogs' sections) is a key of
    /// the catalogs: a page cannot show a raw key.
    #[test]
    fn every_key_used_is_in_the_catalog() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let en = keys(Lang::En);
        let sections: BTreeSet<&str> = en.iter().filter_map(|k| k.split('.').next()).collect();
        let mut missing = BTreeSet::new();
        let mut used = BTreeSet::new();
        for dir in ["templates/console", "src/console"] {
            for entry in std::fs::read_dir(root.join(dir)).unwrap() {
                let path = entry.unwrap().path();
                if !path.extension().is_some_and(|e| e == "html" || e == "rs") {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                // Every run of key characters between two quotes (attribute values
                // nest quotes in the templates, so quotes are not paired).
                let bytes = text.as_bytes();
                let literals = bytes
                    .iter()
                    .enumerate()
                    .filter(|(_, b)| **b == b'"')
                    .filter_map(|(i, _)| {
                        let rest = &text[i + 1..];
                        let end = rest.find(|c: char| {
                            !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.')
                        })?;
                        (rest[end..].starts_with('"')).then(|| &rest[..end])
                    });
                for literal in literals {
                    let looks_like_a_key =
                        literal.contains('.') && literal.split('.').all(|w| !w.is_empty());
                    let section = literal.split('.').next().unwrap_or("");
                    if !looks_like_a_key || !sections.contains(section) {
                        continue;
                    }
                    used.insert(literal.to_owned());
                    if !en.contains(literal) {
                        missing.insert(format!("{}: {literal}", path.display()));
                    }
                }
            }
        }
        assert!(
            used.len() > 150,
            "only {} keys found: the scan is broken",
            used.len()
        );
        assert!(
            missing.is_empty(),
            "keys missing from the catalogs: {missing:#?}"
        );
        // And nothing in the catalogs is unused (a leftover would go untranslated unseen).
        let unused: Vec<_> = en.iter().filter(|k| !used.contains(**k)).collect();
        assert!(unused.is_empty(), "keys no page uses: {unused:?}");
    }

    #[test]
    fn the_readers_language() {
        let mut h = HeaderMap::new();
        assert_eq!(Lang::of(&h), Lang::En);
        h.insert(
            header::ACCEPT_LANGUAGE,
            "fr-FR,fr;q=0.9,en;q=0.8".parse().unwrap(),
        );
        assert_eq!(Lang::of(&h), Lang::Fr);
        h.insert(
            header::ACCEPT_LANGUAGE,
            "de-DE,en;q=0.5,fr;q=0.7".parse().unwrap(),
        );
        assert_eq!(Lang::of(&h), Lang::Fr);
        h.insert(header::ACCEPT_LANGUAGE, "de, fr;q=0".parse().unwrap());
        assert_eq!(Lang::of(&h), Lang::En);
        h.insert(header::COOKIE, "a=b; vigie-lang=en".parse().unwrap());
        h.insert(header::ACCEPT_LANGUAGE, "fr".parse().unwrap());
        assert_eq!(Lang::of(&h), Lang::En, "the cookie wins");
        h.insert(header::COOKIE, "vigie-lang=xx".parse().unwrap());
        assert_eq!(Lang::of(&h), Lang::Fr, "an unknown choice is ignored");
    }

    #[test]
    fn formatting() {
        let tr = Tr { lang: Lang::En };
        assert_eq!(tr.t("no.such.key"), "no.such.key");
        assert!(tr.f("queue.count", 3).contains('3'));
        assert_eq!(
            tr.fs("health.lag.value", &[&1, &2, &3]),
            "1 (2 journaled, 3 processed)"
        );
    }
}
