//! From rules to alerts: the part of detection that `vigie serve` and `vigie hunt` share.
//!
//! - [`book`]: loading rule files and folders (placeholders, filters, correlations) into a
//!   [`RuleBook`], one consistent generation of compiled rules and their metadata;
//! - [`reload`]: [`Rules`], the current book of a running server and its hot reload;
//! - [`coverage`]: the ATT&CK matrix of a book's rules (from their tags) and its Navigator
//!   layer;
//! - [`level`]: the one [`Level`] type (Sigma's five levels, ordered);
//! - [`alert`]: the one function from a Sigma match or a correlation result to an
//!   [`Alert`] — the server stores it, the hunt reports it, so they cannot drift;
//! - [`detector`]: the [`Detector`] stage: an event in, its rule hits out (IoC matching from
//!   `vigie-intel` joins Sigma here).
//!
//! Synchronous, never prints: the server runs it on its pipeline workers, the hunt on its
//! own threads.

pub mod alert;
pub mod book;
pub mod coverage;
pub mod detector;
mod error;
pub mod level;
pub mod reload;
pub mod suppress;

pub use alert::{Alert, AlertKind};
pub use book::{RuleBook, RuleMeta, load};
pub use detector::Detector;
pub use error::DetectError;
pub use level::Level;
pub use reload::Rules;
