//! Per-tenant, time-partitioned event storage, the search language and aggregations.
//!
//! - [`Store`]: one directory; one tantivy index per tenant and period (a day by default),
//!   so a tenant's query only ever opens that tenant's indexes and retention drops whole
//!   partitions. `add` + `commit` is the durability contract (see [`Store`]); adds are
//!   idempotent by event id.
//! - [`query`]: the Lucene/KQL-like language (`docs/query-language.md`), parsed by our own
//!   parser into a typed [`Query`] with positioned errors.
//! - [`Store::search`] (pages by cursor), [`Store::get`], [`Store::around`] and
//!   [`Store::aggregate`] (count, date histogram, terms top-N nested one level,
//!   cardinality).
//! - [`RetentionTask`]: per-tenant maximum age and size, applied in the background.
//!
//! tantivy stays inside the private `index` module; the API speaks only in
//! `vigie-event` types and this crate's own.
//!
//! Event fields are not stored: a fetched event's fields are rebuilt by decoding its raw
//! bytes with its format, so an event given to [`Store::add`] must carry the fields its
//! raw bytes decode to (every decoder of `vigie-event` produces such events).

mod aggregate;
mod error;
mod index;
mod partition;
pub mod query;
mod retention;
mod store;

pub use aggregate::{
    Aggregation, AggregationResult, HistogramBucket, MAX_HISTOGRAM_BUCKETS, TermsBucket,
    auto_interval,
};
pub use error::StoreError;
pub use index::collect::Order;
pub use partition::Added;
pub use query::{ParseError, Query, TimeRange, parse};
pub use retention::{DropReason, Dropped, RetentionPolicy, RetentionTask};
pub use store::{AddReport, Cursor, MAX_PAGE, Page, PartitionInfo, Search, Store, StoreConfig};

/// The property the `query` fuzz target checks: parsing never panics; a query that parses
/// writes back (`Display`) to text that parses to the same query; and it compiles to an
/// index query (or a clear error) without panicking.
#[doc(hidden)]
pub fn query_round_trips(text: &str) -> Result<(), String> {
    let Ok(q) = parse(text) else {
        return Ok(());
    };
    let written = q.to_string();
    let again =
        parse(&written).map_err(|e| format!("{q:?} wrote {written:?}, which fails: {e}"))?;
    if again != q {
        return Err(format!("{q:?} wrote {written:?}, which reads {again:?}"));
    }
    let layout = index::schema::Layout::new();
    let _ = index::compile::compile(&q, &layout, vigie_event::Timestamp::EPOCH);
    Ok(())
}
