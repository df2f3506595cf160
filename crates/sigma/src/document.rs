//! What every document parser (rules, filters, correlations) shares: the context that names a
//! document in diagnostics, and the values of `%placeholders%` it may expand.

use crate::error::{Code, Diagnostic};
use crate::placeholder::Placeholders;
use crate::yaml::Node;

/// The document being parsed: its file and id, for diagnostics.
pub(crate) struct Ctx<'a> {
    pub(crate) file: &'a str,
    pub(crate) rule_id: Option<String>,
    pub(crate) placeholders: &'a Placeholders,
}

impl<'a> Ctx<'a> {
    /// The context of document `doc` of `file`, named by its `id` in diagnostics.
    pub(crate) fn for_document(
        file: &'a str,
        doc: &Node,
        placeholders: &'a Placeholders,
    ) -> Ctx<'a> {
        Ctx {
            file,
            rule_id: doc.get("id").and_then(Node::as_str).map(str::to_owned),
            placeholders,
        }
    }

    /// The document's mandatory `title`.
    pub(crate) fn title(&self, doc: &Node) -> Result<String, Diagnostic> {
        doc.get("title")
            .and_then(Node::as_str)
            .map(str::to_owned)
            .ok_or_else(|| self.diag(doc.line(), Code::Structure, "missing 'title'"))
    }

    pub(crate) fn diag(&self, line: usize, code: Code, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            rule_id: self.rule_id.clone(),
            file: self.file.to_owned(),
            line,
            code,
            message: message.into(),
        }
    }
}
