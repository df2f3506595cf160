//! The platform layer's decisions, as pure functions: who may do what, whether a grant or an
//! elevation holds, whether a TOTP code is good, how audit records chain.
//!
//! No I/O, no clock of its own (every function that needs the time takes it), no database:
//! the server asks, this crate answers, and the answers are tested here exhaustively (and
//! mutation-tested), because they are the security of the product.
//!
//! - [`role`]: organisations' kinds, roles, provider tiers;
//! - [`permission`]: the one table of action × role, and its documentation
//!   (`docs/permissions.md`, checked against the table by a test);
//! - [`access`]: the decision per request — does the caller reach the tenant, with which
//!   role, and does the table allow the action;
//! - [`grant`]: provider access to a tenant — requests, approvals, validity, elevation;
//! - [`pseudonym`]: sensitive fields, their keyed pseudonyms, and the searches refused;
//! - [`review`]: access governance — deactivation (inactivity, contract end) and review
//!   campaigns;
//! - [`password`]: the password policy (length, guessability) and Argon2id hashes;
//! - [`session`]: session ids and API tokens (their form, the cookie, the hash kept,
//!   idle and absolute expiry);
//! - [`throttle`]: the wait after failed logins, per account and per address;
//! - [`csrf`]: the console's form tokens and origin check;
//! - [`seal`]: secrets sealed in the database under a key kept outside it (TOTP seeds);
//! - [`totp`]: RFC 6238 one-time codes, with replay refusal;
//! - [`calendar`]: public holidays (France, Alsace-Moselle) and working days, computed;
//! - [`deadline`]: the regulators' clocks (NIS2, DORA, GDPR): when each report is due, and
//!   where a clock stands;
//! - [`notify`]: notification rules, the operator's allow-list of destinations, webhook
//!   signatures and the retry schedule;
//! - [`triage`]: the alert lifecycle — which transition, from which status, by whom, with
//!   which note;
//! - [`audit`]: canonical record bytes (RFC 8785), leaf and chain hashes, RFC 6962 Merkle
//!   roots, and the verification that names the first record that does not hold.

pub mod access;
pub mod assets;
pub mod audit;
pub mod calendar;
pub mod csrf;
pub mod deadline;
mod error;
pub mod grant;
pub mod grouping;
pub mod notify;
pub mod password;
pub mod permission;
pub mod priority;
pub mod pseudonym;
pub mod review;
pub mod role;
pub mod seal;
pub mod session;
pub mod silence;
pub mod throttle;
pub mod totp;
pub mod triage;

pub use error::GovernError;
pub use permission::{Action, Cell, allows};
pub use role::{OrgKind, Role, Tier};
