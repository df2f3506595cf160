//! The service: HTTP API, listeners, pipeline wiring and web console.
//!
//! Not built yet (issue 6). Only this crate and the `vigie` binary know about async runtimes,
//! HTTP and configuration files.
