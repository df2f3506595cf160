//! Per-tenant, time-partitioned event storage, the query language and aggregations.
//!
//! Not built yet (issue 5). It may depend only on `vigie-event`.
