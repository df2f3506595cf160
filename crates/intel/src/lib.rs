//! Threat intelligence: the IoC model, feeds (MISP, STIX 2.1), TLP markings and lookup sets.
//!
//! Not built yet. The crate exists so the workspace has its final shape; it may depend only on
//! `vigie-event`.
