//! Platform state in SQL: tenants, organisations, users, grants, alerts, cases, SLAs and the
//! audit chain.
//!
//! Not built yet. It uses only the id types of `vigie-event`.
