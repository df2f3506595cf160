//! Rule YAML: saphyr with raw scalars, turned into a small tree that keeps each scalar's
//! text, whether it was quoted, and its line.
//!
//! Scalars are typed by the Sigma layer, not by YAML: `'0x40810000'` and the plain
//! `00000429` both stay text (pySigma, through PyYAML, reads the latter as a string too),
//! and `lt`/`gt` read their number from the text. Alias bombs are cut by a node
//! budget and duplicate keys are rejected, whatever their quoting.

use std::borrow::Cow;

use saphyr::{MarkedYaml, ScalarStyle, YamlData, YamlLoader};
use saphyr_parser::Parser;

use crate::error::SigmaError;

mod fast;

/// Nodes alias expansion may produce in one file (a billion-laughs guard).
const ALIAS_LIMIT: usize = 10_000;

/// A scalar as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Scalar {
    /// The text (after YAML unquoting and escapes).
    pub(crate) text: String,
    /// Whether it was quoted or a block scalar (then it is always a string).
    pub(crate) quoted: bool,
    /// 1-based line.
    pub(crate) line: usize,
}

impl Scalar {
    /// A plain `null`, `~` or empty scalar.
    pub(crate) fn is_null(&self) -> bool {
        !self.quoted && matches!(self.text.as_str(), "" | "~" | "null" | "Null" | "NULL")
    }

    /// A plain boolean.
    pub(crate) fn as_bool(&self) -> Option<bool> {
        if self.quoted {
            return None;
        }
        match self.text.as_str() {
            "true" | "True" | "TRUE" => Some(true),
            "false" | "False" | "FALSE" => Some(false),
            _ => None,
        }
    }
}

/// A YAML node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Node {
    Scalar(Scalar),
    Seq(Vec<Node>, usize),
    Map(Vec<(Scalar, Node)>, usize),
}

impl Node {
    /// 1-based line where the node starts.
    pub(crate) fn line(&self) -> usize {
        match self {
            Node::Scalar(s) => s.line,
            Node::Seq(_, line) | Node::Map(_, line) => *line,
        }
    }

    /// The value of `key` in a mapping.
    pub(crate) fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map(entries, _) => entries.iter().find(|(k, _)| k.text == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The scalar text, for scalars.
    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Node::Scalar(s) => Some(&s.text),
            _ => None,
        }
    }
}

/// Loads every document of a YAML file: with the fast reader of the rules' subset of YAML
/// when it applies, else with saphyr.
pub(crate) fn load(text: &str) -> Result<Vec<Node>, SigmaError> {
    if let Some(docs) = fast::load(text) {
        return Ok(docs);
    }
    load_with_saphyr(text)
}

/// See [`crate::yaml_readers_agree`].
pub(crate) fn readers_agree(text: &str) -> Result<(), String> {
    let Some(fast) = fast::load(text) else {
        return Ok(());
    };
    match load_with_saphyr(text) {
        Ok(slow) if slow == fast => Ok(()),
        Ok(slow) => Err(format!("fast reader {fast:?}, saphyr {slow:?}")),
        Err(e) => Err(format!("fast reader {fast:?}, saphyr error {e:?}")),
    }
}

/// Loads every document of a YAML file with saphyr.
fn load_with_saphyr(text: &str) -> Result<Vec<Node>, SigmaError> {
    let mut loader: YamlLoader<'_, MarkedYaml<'_>> = YamlLoader::default();
    loader.early_parse(false);
    loader.alias_limit(ALIAS_LIMIT);
    let mut parser = Parser::new_from_str(text);
    let scan = |e: saphyr_parser::ScanError| SigmaError::Yaml {
        line: e.marker().line(),
        message: e.info().to_owned(),
    };
    parser.load(&mut loader, true).map_err(scan)?;
    if let Some(e) = loader.error() {
        return Err(scan(e.clone()));
    }
    loader
        .into_documents()
        .into_iter()
        .map(|d| convert(d, 0))
        .collect()
}

/// Nesting beyond which a rule is rejected (rules are a few levels deep).
pub(super) const MAX_DEPTH: usize = 64;

fn convert(node: MarkedYaml<'_>, depth: usize) -> Result<Node, SigmaError> {
    let line = node.span.start.line();
    if depth > MAX_DEPTH {
        return Err(SigmaError::Yaml {
            line,
            message: format!("nesting deeper than {MAX_DEPTH} levels"),
        });
    }
    Ok(match node.data {
        YamlData::Representation(text, style, _tag) => Node::Scalar(Scalar {
            text: text.into_owned(),
            quoted: style != ScalarStyle::Plain,
            line,
        }),
        YamlData::Value(v) => Node::Scalar(Scalar {
            text: scalar_text(&v),
            quoted: false,
            line,
        }),
        YamlData::Sequence(items) => Node::Seq(
            items
                .into_iter()
                .map(|n| convert(n, depth + 1))
                .collect::<Result<_, _>>()?,
            line,
        ),
        YamlData::Mapping(map) => {
            let mut entries: Vec<(Scalar, Node)> = Vec::with_capacity(map.len());
            for (k, v) in map {
                let key_line = k.span.start.line();
                let Node::Scalar(key) = convert(k, depth + 1)? else {
                    return Err(SigmaError::Yaml {
                        line: key_line,
                        message: "mapping keys must be scalars".to_owned(),
                    });
                };
                if entries.iter().any(|(e, _)| e.text == key.text) {
                    return Err(SigmaError::Yaml {
                        line: key_line,
                        message: format!("duplicate key {:?}", key.text),
                    });
                }
                entries.push((key, convert(v, depth + 1)?));
            }
            Node::Map(entries, line)
        }
        YamlData::Tagged(_, inner) => convert(*inner, depth)?,
        YamlData::Alias(_) | YamlData::BadValue => {
            return Err(SigmaError::Yaml {
                line,
                message: "unresolvable YAML value".to_owned(),
            });
        }
    })
}

fn scalar_text(v: &saphyr::Scalar<'_>) -> String {
    match v {
        saphyr::Scalar::Null => String::new(),
        saphyr::Scalar::Boolean(b) => b.to_string(),
        saphyr::Scalar::Integer(i) => i.to_string(),
        saphyr::Scalar::FloatingPoint(f) => f.to_string(),
        saphyr::Scalar::String(s) => Cow::clone(s).into_owned(),
    }
}

/// A scalar or a list of scalars (`tags: a` and `tags: [a, b]` alike); `None` for a map or a
/// list holding anything else.
pub(crate) fn scalar_list(node: &Node) -> Option<Vec<&Scalar>> {
    match node {
        Node::Scalar(s) => Some(vec![s]),
        Node::Seq(items, _) => items
            .iter()
            .map(|n| match n {
                Node::Scalar(s) => Some(s),
                _ => None,
            })
            .collect(),
        Node::Map(..) => None,
    }
}

/// The `tags` of a document.
pub(crate) fn tags(doc: &Node) -> Vec<String> {
    match doc.get("tags") {
        Some(node) => scalar_list(node)
            .unwrap_or_default()
            .into_iter()
            .map(|s| s.text.clone())
            .collect(),
        None => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar(node: &Node) -> &Scalar {
        match node {
            Node::Scalar(s) => s,
            other => panic!("not a scalar: {other:?}"),
        }
    }

    #[test]
    fn scalars_keep_text_and_quoting() {
        let docs =
            load("a: 00000429\nb: '0x40810000'\nc: 4688\nd: null\ne: 'C:\\Windows\\*'\nf:\n")
                .unwrap();
        let d = &docs[0];
        assert_eq!(scalar(d.get("a").unwrap()).text, "00000429");
        assert!(!scalar(d.get("a").unwrap()).quoted);
        assert!(scalar(d.get("b").unwrap()).quoted);
        assert_eq!(scalar(d.get("c").unwrap()).text, "4688");
        assert!(scalar(d.get("d").unwrap()).is_null());
        assert_eq!(scalar(d.get("e").unwrap()).text, "C:\\Windows\\*");
        assert!(scalar(d.get("f").unwrap()).is_null());
        assert_eq!(d.get("c").unwrap().line(), 3);
    }

    #[test]
    fn multi_document_files() {
        let docs = load("a: 1\n---\nb: 2\n").unwrap();
        assert_eq!(docs.len(), 2);
    }

    #[test]
    fn rejects_duplicates_and_alias_bombs() {
        let Err(SigmaError::Yaml { line, message }) = load("a: 1\n'a': 2\n") else {
            panic!("a duplicate key is an error");
        };
        assert_eq!(line, 2);
        assert!(message.contains("duplicate"));
        let bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n";
        assert!(load(bomb).is_err());
        assert!(load("a: [1\n").is_err());
    }
}
