//! The tantivy back end: schema, documents, query compilation and collectors. Nothing
//! outside this module names tantivy, so another back end can replace it.

pub(crate) mod collect;
pub(crate) mod compile;
pub(crate) mod doc;
pub(crate) mod schema;
