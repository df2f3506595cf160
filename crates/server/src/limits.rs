//! Per-tenant bounds: what one tenant may make the server spend, so that no tenant can slow,
//! crash or starve another (`[limits]` in the configuration, overridable per tenant under
//! `[limits.tenant.<name>]`).
//!
//! | key | default | what goes over it |
//! |---|---|---|
//! | `max_events_per_batch` | 100 000 | an HTTP batch: 413; a journal record (older build, or syslog): quarantined |
//! | `max_field_names` | 20 000 | an event using a name new to the tenant past the limit: rejected, naming the field |
//! | `max_event_age_days` | 400 | an event time older than this … |
//! | `max_event_future_hours` | 24 | … or further ahead of its receive time: clamped or rejected |
//! | `out_of_window` | `"clamp"` | `clamp`: the event is kept at its receive time, the time it carried in `vigie.original_time`; `reject`: the line is refused |
//! | `max_sources` | 1 000 | an HTTP batch naming one more `source`: 422 (each source is a metric series) |
//! | `max_idempotency_keys` | 100 000 | an HTTP batch with one more live `Idempotency-Key` (kept a day): 422 |
//! | `max_concurrent_queries` | 4 | one more search, histogram or fetch while the tenant has this many running: 429 |
//!
//! The event-time window is also the bound on a tenant's partitions: the store keeps one per
//! tenant and period, so at most `(max_event_age_days × 24 + max_event_future_hours) /
//! period_hours + 2` partitions take new events (402 with the defaults and daily partitions).
//!
//! Decisions here are pure functions of the limits, the times and the counts, tested without a
//! server; the server applies them at ingest (so a refusal is in the answer) and again in the
//! pipeline (syslog messages, and records journaled before a limit was lowered).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use serde::Deserialize;
use vigie_event::field::NameBudget;
use vigie_event::{TenantId, Timestamp};

/// What to do with an event whose time is outside the accepted window.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum OutOfWindow {
    /// Keep the event at its receive time; the time it carried goes to `vigie.original_time`.
    Clamp,
    /// Refuse the event, with the reason.
    Reject,
}

/// The resolved limits of one tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantLimits {
    /// Events one batch (HTTP request or journal record) may hold.
    pub max_events_per_batch: usize,
    /// Distinct field names the tenant may use.
    pub max_field_names: usize,
    /// Oldest accepted event time, in days before its receive time.
    pub max_event_age_days: u32,
    /// Furthest accepted event time, in hours after its receive time.
    pub max_event_future_hours: u32,
    /// What happens outside the window.
    pub out_of_window: OutOfWindow,
    /// Distinct source names (metric series) the tenant may use.
    pub max_sources: usize,
    /// `Idempotency-Key`s the tenant may have remembered at once (each for a day).
    pub max_idempotency_keys: u64,
    /// Store queries (searches, histograms, fetches) the tenant may have running at once:
    /// they run on the blocking pool and the cores every tenant shares.
    pub max_concurrent_queries: usize,
}

impl Default for TenantLimits {
    fn default() -> Self {
        TenantLimits {
            max_events_per_batch: 100_000,
            max_field_names: 20_000,
            max_event_age_days: 400,
            max_event_future_hours: 24,
            out_of_window: OutOfWindow::Clamp,
            max_sources: 1_000,
            max_idempotency_keys: 100_000,
            max_concurrent_queries: 4,
        }
    }
}

/// `[limits]`: the defaults of every tenant, and per-tenant overrides.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Events per batch.
    pub max_events_per_batch: Option<usize>,
    /// Distinct field names per tenant.
    pub max_field_names: Option<usize>,
    /// Oldest accepted event time, in days.
    pub max_event_age_days: Option<u32>,
    /// Furthest accepted event time ahead, in hours.
    pub max_event_future_hours: Option<u32>,
    /// Clamp or reject outside the window.
    pub out_of_window: Option<OutOfWindow>,
    /// Distinct sources per tenant.
    pub max_sources: Option<usize>,
    /// Live idempotency keys per tenant.
    pub max_idempotency_keys: Option<u64>,
    /// Store queries running at once per tenant.
    pub max_concurrent_queries: Option<usize>,
    /// Overrides by tenant name (`[limits.tenant.acme]`); a key left out takes the value above.
    pub tenant: BTreeMap<String, LimitsConfig>,
}

impl LimitsConfig {
    fn apply(&self, to: &mut TenantLimits) {
        if let Some(v) = self.max_events_per_batch {
            to.max_events_per_batch = v;
        }
        if let Some(v) = self.max_field_names {
            to.max_field_names = v;
        }
        if let Some(v) = self.max_event_age_days {
            to.max_event_age_days = v;
        }
        if let Some(v) = self.max_event_future_hours {
            to.max_event_future_hours = v;
        }
        if let Some(v) = self.out_of_window {
            to.out_of_window = v;
        }
        if let Some(v) = self.max_sources {
            to.max_sources = v;
        }
        if let Some(v) = self.max_idempotency_keys {
            to.max_idempotency_keys = v;
        }
        if let Some(v) = self.max_concurrent_queries {
            to.max_concurrent_queries = v;
        }
    }

    /// The limits of `tenant`: the defaults, then `[limits]`, then its own section.
    pub fn resolve(&self, tenant: &str) -> TenantLimits {
        let mut limits = TenantLimits::default();
        self.apply(&mut limits);
        if let Some(own) = self.tenant.get(tenant) {
            own.apply(&mut limits);
        }
        limits
    }

    /// Checks the values: names of tenants, no zero that would refuse everything, no nested
    /// tenant sections.
    pub fn check(&self) -> Result<(), String> {
        let sections = std::iter::once(("[limits]".to_owned(), self)).chain(
            self.tenant
                .iter()
                .map(|(name, l)| (format!("[limits.tenant.{name}]"), l)),
        );
        for (at, l) in sections {
            for (key, value) in [
                ("max_events_per_batch", l.max_events_per_batch),
                ("max_field_names", l.max_field_names),
                ("max_sources", l.max_sources),
                ("max_concurrent_queries", l.max_concurrent_queries),
            ] {
                if value == Some(0) {
                    return Err(format!("{at} {key} = 0 would refuse every event"));
                }
            }
            if l.max_events_per_batch
                .is_some_and(|n| n > vigie_journal::record::MAX_MESSAGES)
            {
                return Err(format!(
                    "{at} max_events_per_batch: at most {}",
                    vigie_journal::record::MAX_MESSAGES
                ));
            }
        }
        for (name, l) in &self.tenant {
            TenantId::new(name).map_err(|e| format!("[limits.tenant.{name}]: {e}"))?;
            if !l.tenant.is_empty() {
                return Err(format!(
                    "[limits.tenant.{name}]: tenant sections do not nest"
                ));
            }
        }
        Ok(())
    }
}

/// What the window says of an event time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeVerdict {
    /// Inside the window.
    Keep,
    /// Outside: keep the event at this time (its receive time).
    Clamp(Timestamp),
    /// Outside: refuse it; the text says why.
    Reject(&'static str),
}

/// Decides an event time against the window `[received − max_event_age_days, received +
/// max_event_future_hours]`, both ends included. In 128 bits: any window and any times give
/// the exact answer, never a wrapped one.
pub fn judge_time(limits: &TenantLimits, time: Timestamp, received: Timestamp) -> TimeVerdict {
    const HOUR: i128 = 3_600_000_000_000;
    let r = i128::from(received.as_nanos());
    let oldest = r - i128::from(limits.max_event_age_days) * 24 * HOUR;
    let newest = r + i128::from(limits.max_event_future_hours) * HOUR;
    let t = i128::from(time.as_nanos());
    let why = if t < oldest {
        "the event time is older than limits.max_event_age_days"
    } else if t > newest {
        "the event time is further ahead than limits.max_event_future_hours"
    } else {
        return TimeVerdict::Keep;
    };
    match limits.out_of_window {
        OutOfWindow::Clamp => TimeVerdict::Clamp(received),
        OutOfWindow::Reject => TimeVerdict::Reject(why),
    }
}

/// The tenants' budgets: field names, sources. Created on first use, kept for the process.
#[derive(Debug)]
pub struct Quotas {
    config: LimitsConfig,
    tenants: Mutex<HashMap<TenantId, Arc<TenantQuota>>>,
}

/// One tenant's limits and budgets.
#[derive(Debug)]
pub struct TenantQuota {
    /// Its limits.
    pub limits: TenantLimits,
    /// Its field names.
    pub names: Arc<NameBudget>,
    sources: Mutex<std::collections::HashSet<String>>,
    /// Slots for store queries (`max_concurrent_queries`).
    pub queries: Arc<tokio::sync::Semaphore>,
}

impl TenantQuota {
    /// Admits `source` as one of the tenant's sources; `false` when it is new and the tenant
    /// already has `max_sources`.
    pub fn admit_source(&self, source: &str) -> bool {
        let mut sources = self.sources.lock().unwrap_or_else(|p| p.into_inner());
        if sources.contains(source) {
            return true;
        }
        if sources.len() >= self.limits.max_sources {
            return false;
        }
        sources.insert(source.to_owned());
        true
    }
}

impl Quotas {
    /// Budgets under `config`.
    pub fn new(config: LimitsConfig) -> Quotas {
        Quotas {
            config,
            tenants: Mutex::new(HashMap::new()),
        }
    }

    /// The quota of `tenant`.
    pub fn tenant(&self, tenant: &TenantId) -> Arc<TenantQuota> {
        let mut tenants = self.tenants.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(tenants.entry(tenant.clone()).or_insert_with(|| {
            let limits = self.config.resolve(tenant.as_str());
            Arc::new(TenantQuota {
                names: Arc::new(NameBudget::new(limits.max_field_names)),
                queries: Arc::new(tokio::sync::Semaphore::new(limits.max_concurrent_queries)),
                limits,
                sources: Mutex::new(std::collections::HashSet::new()),
            })
        }))
    }
}

/// The console's live queues (server-sent event streams) open per tenant, at most
/// `console.max_live_per_tenant` each: a tenant's readers cannot hold every connection.
#[derive(Debug)]
pub struct LiveStreams {
    max: usize,
    open: Mutex<HashMap<String, usize>>,
}

/// A stream's place; given back when dropped.
#[derive(Debug)]
pub(crate) struct Slot {
    live: Arc<LiveStreams>,
    tenant: String,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.live.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.tenant) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.tenant);
            }
        }
    }
}

impl LiveStreams {
    /// At most `max` streams per tenant.
    pub fn new(max: usize) -> LiveStreams {
        LiveStreams {
            max,
            open: Mutex::new(HashMap::new()),
        }
    }

    /// A place for one more stream of `tenant`, if it has one left.
    pub(crate) fn enter(self: &Arc<LiveStreams>, tenant: &str) -> Option<Slot> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(tenant.to_owned()).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(Slot {
            live: Arc::clone(self),
            tenant: tenant.to_owned(),
        })
    }

    /// Streams open for `tenant`.
    pub fn open(&self, tenant: &str) -> usize {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.get(tenant).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000_000_000;

    #[test]
    fn tenant_sections_override_the_defaults_key_by_key() {
        let config: LimitsConfig = toml::from_str(
            "max_field_names = 50\n[tenant.acme]\nmax_sources = 2\nout_of_window = \"reject\"\n",
        )
        .expect("parses");
        config.check().expect("valid");
        let acme = config.resolve("acme");
        assert_eq!(acme.max_field_names, 50);
        assert_eq!(acme.max_sources, 2);
        assert_eq!(acme.out_of_window, OutOfWindow::Reject);
        let other = config.resolve("globex");
        assert_eq!(other.max_sources, 1_000);
        assert_eq!(other.out_of_window, OutOfWindow::Clamp);
        assert_eq!(other.max_field_names, 50);
        assert_eq!(
            LimitsConfig::default().resolve("x"),
            TenantLimits::default()
        );
    }

    #[test]
    fn bad_limits_are_refused() {
        let zero: LimitsConfig = toml::from_str("[tenant.acme]\nmax_sources = 0\n").unwrap();
        assert!(zero.check().unwrap_err().contains("limits.tenant.acme"));
        for key in [
            "max_events_per_batch",
            "max_field_names",
            "max_concurrent_queries",
        ] {
            let zero: LimitsConfig = toml::from_str(&format!("{key} = 0\n")).unwrap();
            assert!(zero.check().unwrap_err().contains(key), "{key}");
        }
        let bad_name: LimitsConfig = toml::from_str("[tenant.\"a b\"]\nmax_sources = 3\n").unwrap();
        assert!(bad_name.check().is_err());
        let huge: LimitsConfig = toml::from_str("max_events_per_batch = 99999999999\n").unwrap();
        assert!(huge.check().is_err());
        let most = vigie_journal::record::MAX_MESSAGES;
        let at: LimitsConfig = toml::from_str(&format!("max_events_per_batch = {most}\n")).unwrap();
        assert!(at.check().is_ok());
        let over: LimitsConfig =
            toml::from_str(&format!("max_events_per_batch = {}\n", most + 1)).unwrap();
        assert!(over.check().is_err());
        let nested: LimitsConfig =
            toml::from_str("[tenant.a.tenant.b]\nmax_sources = 3\n").unwrap();
        assert!(nested.check().is_err());
    }

    #[test]
    fn the_window_includes_its_ends_and_never_overflows() {
        let limits = TenantLimits {
            max_event_age_days: 1,
            max_event_future_hours: 2,
            out_of_window: OutOfWindow::Reject,
            ..TenantLimits::default()
        };
        let r = Timestamp::from_nanos(1_795_132_800 * 1_000_000_000);
        let at = |d: i64| Timestamp::from_nanos(r.as_nanos() + d);
        assert_eq!(judge_time(&limits, r, r), TimeVerdict::Keep);
        assert_eq!(judge_time(&limits, at(-24 * HOUR), r), TimeVerdict::Keep);
        assert!(matches!(
            judge_time(&limits, at(-24 * HOUR - 1), r),
            TimeVerdict::Reject(w) if w.contains("max_event_age_days")
        ));
        assert_eq!(judge_time(&limits, at(2 * HOUR), r), TimeVerdict::Keep);
        assert!(matches!(
            judge_time(&limits, at(2 * HOUR + 1), r),
            TimeVerdict::Reject(w) if w.contains("max_event_future_hours")
        ));
        let clamp = TenantLimits {
            out_of_window: OutOfWindow::Clamp,
            ..limits
        };
        assert_eq!(judge_time(&clamp, at(3 * HOUR), r), TimeVerdict::Clamp(r));
        // The extremes of time, with windows wider than time itself.
        let wide = TenantLimits {
            max_event_age_days: u32::MAX,
            max_event_future_hours: u32::MAX,
            ..limits
        };
        for (t, rx) in [
            (i64::MIN, i64::MAX),
            (i64::MAX, i64::MIN),
            (i64::MIN, i64::MIN),
        ] {
            assert_eq!(
                judge_time(&wide, Timestamp::from_nanos(t), Timestamp::from_nanos(rx)),
                TimeVerdict::Keep
            );
        }
        let narrow = TenantLimits {
            max_event_age_days: 0,
            max_event_future_hours: 0,
            out_of_window: OutOfWindow::Reject,
            ..TenantLimits::default()
        };
        assert!(matches!(
            judge_time(
                &narrow,
                Timestamp::from_nanos(i64::MIN),
                Timestamp::from_nanos(i64::MAX)
            ),
            TimeVerdict::Reject(_)
        ));
        assert!(matches!(
            judge_time(
                &narrow,
                Timestamp::from_nanos(i64::MAX),
                Timestamp::from_nanos(i64::MIN)
            ),
            TimeVerdict::Reject(_)
        ));
    }

    #[test]
    fn sources_are_admitted_up_to_the_limit_per_tenant() {
        let config: LimitsConfig = toml::from_str("max_sources = 2\n").unwrap();
        let quotas = Quotas::new(config);
        let a = quotas.tenant(&TenantId::new("a").unwrap());
        assert!(a.admit_source("x"));
        assert!(a.admit_source("y"));
        assert!(a.admit_source("x"));
        assert!(!a.admit_source("z"));
        let b = quotas.tenant(&TenantId::new("b").unwrap());
        assert!(b.admit_source("z"));
        assert!(Arc::ptr_eq(
            &a,
            &quotas.tenant(&TenantId::new("a").unwrap())
        ));
    }

    #[test]
    fn streams_are_bounded_per_tenant_and_given_back() {
        let live = Arc::new(LiveStreams::new(2));
        let a = live.enter("a").expect("one");
        let b = live.enter("a").expect("two");
        assert!(live.enter("a").is_none(), "a third for the same tenant");
        let other = live.enter("b").expect("another tenant is not affected");
        assert_eq!(live.open("a"), 2);
        drop(a);
        assert_eq!(live.open("a"), 1);
        let _c = live.enter("a").expect("a place came back");
        drop(b);
        drop(other);
        assert_eq!(live.open("b"), 0);
    }
}
