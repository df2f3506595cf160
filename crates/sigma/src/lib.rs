//! Sigma detection: parse → validate → compile → match, filters and correlation.
//!
//! Not built yet (issue 3). The crate exists so the workspace has its final shape and
//! dependency directions (`sigma` depends only on `vigie-event`) are fixed from the start.
