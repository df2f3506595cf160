//! Counters per tenant and source, and of the pipeline, rendered in the Prometheus text
//! format at `/metrics`.
//!
//! A listener or request handler looks its [`SourceCounters`] up once (by tenant and source
//! name) and then only increments atomics.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Why messages were dropped (received but never made durable).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum DropReason {
    /// The journal's queue was full (UDP and plain TCP cannot push back).
    QueueFull,
    /// Longer than the listener's `max_message_bytes`.
    Oversize,
    /// Bad framing (an RFC 6587 octet count that is not a number, …).
    Framing,
    /// The journal failed to write them.
    JournalError,
    /// The server was shutting down.
    Shutdown,
}

impl DropReason {
    /// Every reason, in the order `/metrics` lists them.
    pub const ALL: [DropReason; 5] = [
        DropReason::QueueFull,
        DropReason::Oversize,
        DropReason::Framing,
        DropReason::JournalError,
        DropReason::Shutdown,
    ];

    /// Its name in the metrics and on the health page.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::QueueFull => "queue_full",
            DropReason::Oversize => "oversize",
            DropReason::Framing => "framing",
            DropReason::JournalError => "journal_error",
            DropReason::Shutdown => "shutdown",
        }
    }
}

/// The counters of one (tenant, source).
#[derive(Debug, Default)]
pub struct SourceCounters {
    /// Messages received (accepted or not).
    pub received: AtomicU64,
    /// Bytes received.
    pub bytes: AtomicU64,
    /// Messages refused at ingest (HTTP lines that do not decode) or failing to decode in
    /// the pipeline (syslog).
    pub rejected: AtomicU64,
    /// Messages made durable in the journal.
    pub journaled: AtomicU64,
    /// Events whose time was outside the tenant's window, kept at their receive time.
    pub clamped: AtomicU64,
    /// Messages of journal records set aside in the quarantine.
    pub quarantined: AtomicU64,
    dropped: [AtomicU64; 5],
}

impl SourceCounters {
    /// Counts `n` messages dropped for `why`.
    pub fn count_drop(&self, why: DropReason, n: u64) {
        self.dropped[why as usize].fetch_add(n, Ordering::Relaxed);
        if n > 0 {
            tracing::debug!(reason = why.as_str(), n, "messages dropped");
        }
    }

    /// Messages dropped so far, all reasons together.
    pub fn dropped_total(&self) -> u64 {
        DropReason::ALL
            .into_iter()
            .map(|why| self.dropped(why))
            .sum()
    }

    /// Messages dropped for `why` so far.
    pub fn dropped(&self, why: DropReason) -> u64 {
        self.dropped[why as usize].load(Ordering::Relaxed)
    }
}

/// Pipeline-wide counters.
#[derive(Debug, Default)]
pub struct PipelineCounters {
    /// Events decoded and written to the store.
    pub events: AtomicU64,
    /// Alerts written (new ones; replays are not counted).
    pub alerts: AtomicU64,
    /// Store commits.
    pub commits: AtomicU64,
    /// Records the pipeline could not read back (format version, bug).
    pub bad_records: AtomicU64,
    /// Journal records set aside in the quarantine.
    pub quarantined: AtomicU64,
    /// Quarantined records processed again successfully.
    pub retried: AtomicU64,
    /// Rule reloads.
    pub reloads: AtomicU64,
    /// Correlation matches dropped because a reload changed the rules between matching and
    /// correlating.
    pub stale_matches: AtomicU64,
}

/// Reads one counter of a source.
type Getter = fn(&SourceCounters) -> u64;

/// Every counter of the process.
#[derive(Debug, Default)]
pub struct Metrics {
    sources: Mutex<BTreeMap<(String, String), Arc<SourceCounters>>>,
    history: Mutex<BTreeMap<(String, String), History>>,
    /// The pipeline's.
    pub pipeline: PipelineCounters,
}

impl Metrics {
    /// The counters of `source` of `tenant`, created at first use.
    pub fn source(&self, tenant: &str, source: &str) -> Arc<SourceCounters> {
        let mut map = self.sources.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(
            map.entry((tenant.to_owned(), source.to_owned()))
                .or_default(),
        )
    }

    /// Every (tenant, source) with its counters.
    pub fn sources(&self) -> Vec<((String, String), Arc<SourceCounters>)> {
        let map = self.sources.lock().unwrap_or_else(|p| p.into_inner());
        map.iter()
            .map(|(k, v)| (k.clone(), Arc::clone(v)))
            .collect()
    }

    /// The Prometheus text exposition, with `extra` gauges (name, help, value) appended.
    pub fn render(&self, extra: &[(&str, &str, f64)]) -> String {
        let mut out = String::new();
        let sources = self.sources();
        let per_source: [(&str, &str, Getter); 6] = [
            (
                "vigie_received_messages_total",
                "Messages received per tenant and source.",
                |c| c.received.load(Ordering::Relaxed),
            ),
            (
                "vigie_received_bytes_total",
                "Bytes received per tenant and source.",
                |c| c.bytes.load(Ordering::Relaxed),
            ),
            (
                "vigie_rejected_messages_total",
                "Messages that do not decode.",
                |c| c.rejected.load(Ordering::Relaxed),
            ),
            (
                "vigie_journaled_messages_total",
                "Messages made durable in the journal.",
                |c| c.journaled.load(Ordering::Relaxed),
            ),
            (
                "vigie_clamped_events_total",
                "Events outside the tenant's time window, kept at their receive time.",
                |c| c.clamped.load(Ordering::Relaxed),
            ),
            (
                "vigie_quarantined_messages_total",
                "Messages of journal records set aside in the quarantine.",
                |c| c.quarantined.load(Ordering::Relaxed),
            ),
        ];
        for (name, help, get) in per_source {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for ((tenant, source), c) in &sources {
                let _ = writeln!(
                    out,
                    "{name}{{tenant=\"{}\",source=\"{}\"}} {}",
                    escape(tenant),
                    escape(source),
                    get(c)
                );
            }
        }
        let name = "vigie_dropped_messages_total";
        let _ = writeln!(
            out,
            "# HELP {name} Messages received but not made durable, by reason.\n# TYPE {name} counter"
        );
        for ((tenant, source), c) in &sources {
            for why in DropReason::ALL {
                let _ = writeln!(
                    out,
                    "{name}{{tenant=\"{}\",source=\"{}\",reason=\"{}\"}} {}",
                    escape(tenant),
                    escape(source),
                    why.as_str(),
                    c.dropped(why)
                );
            }
        }
        let p = &self.pipeline;
        let pipeline = [
            (
                "vigie_pipeline_events_total",
                "Events decoded and stored.",
                &p.events,
            ),
            ("vigie_pipeline_alerts_total", "Alerts written.", &p.alerts),
            ("vigie_pipeline_commits_total", "Store commits.", &p.commits),
            (
                "vigie_pipeline_bad_records_total",
                "Journal records that could not be read back.",
                &p.bad_records,
            ),
            (
                "vigie_pipeline_quarantined_records_total",
                "Journal records set aside in the quarantine.",
                &p.quarantined,
            ),
            (
                "vigie_pipeline_retried_records_total",
                "Quarantined records processed again successfully.",
                &p.retried,
            ),
            ("vigie_rule_reloads_total", "Rule set reloads.", &p.reloads),
            (
                "vigie_correlation_stale_matches_total",
                "Matches dropped across a rule reload.",
                &p.stale_matches,
            ),
        ];
        for (name, help, value) in pipeline {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                value.load(Ordering::Relaxed)
            );
        }
        for (name, help, value) in extra {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        }
        out
    }
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Samples of a source's received count kept for the health page: one per
/// [`SAMPLE_EVERY`], the last [`SAMPLES`] of them (ten minutes), and when it last grew.
#[derive(Clone, Debug, Default)]
pub struct History {
    /// (time in seconds, messages received so far), oldest first.
    pub samples: std::collections::VecDeque<(i64, u64)>,
    /// The last sample at which the count had grown (seconds), if it ever did.
    pub last_seen: Option<i64>,
}

/// How often the health page's samples are taken.
pub const SAMPLE_EVERY: std::time::Duration = std::time::Duration::from_secs(10);
/// How many samples are kept per source.
pub const SAMPLES: usize = 61;

impl History {
    /// Messages per second between consecutive samples (oldest first).
    pub fn rates(&self) -> Vec<f64> {
        self.samples
            .iter()
            .zip(self.samples.iter().skip(1))
            .map(|((t0, c0), (t1, c1))| {
                let dt = (t1 - t0).max(1) as f64;
                c1.saturating_sub(*c0) as f64 / dt
            })
            .collect()
    }
}

impl Metrics {
    /// Takes one sample of every source's received count at `now` (seconds).
    pub fn sample(&self, now: i64) {
        let sources = self.sources();
        let mut history = self.history.lock().unwrap_or_else(|p| p.into_inner());
        for (key, counters) in sources {
            let total = counters.received.load(Ordering::Relaxed);
            let h = history.entry(key).or_default();
            if h.samples.back().is_some_and(|(_, last)| total > *last)
                || (h.samples.is_empty() && total > 0)
            {
                h.last_seen = Some(now);
            }
            h.samples.push_back((now, total));
            while h.samples.len() > SAMPLES {
                h.samples.pop_front();
            }
        }
    }

    /// Every source's history.
    pub fn history(&self) -> Vec<((String, String), History)> {
        let history = self.history.lock().unwrap_or_else(|p| p.into_inner());
        history
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_by_tenant_and_source() {
        let m = Metrics::default();
        let c = m.source("acme", "fw\"1");
        c.received.fetch_add(3, Ordering::Relaxed);
        c.count_drop(DropReason::QueueFull, 2);
        assert!(Arc::ptr_eq(&c, &m.source("acme", "fw\"1")));
        let text = m.render(&[("vigie_journal_lag_bytes", "Lag.", 5.0)]);
        assert!(
            text.contains("vigie_received_messages_total{tenant=\"acme\",source=\"fw\\\"1\"} 3")
        );
        assert!(text.contains(
            "vigie_dropped_messages_total{tenant=\"acme\",source=\"fw\\\"1\",reason=\"queue_full\"} 2"
        ));
        assert!(text.contains("vigie_journal_lag_bytes 5"));
    }

    #[test]
    fn samples_give_rates_and_the_last_time_a_source_sent() {
        let m = Metrics::default();
        let c = m.source("t", "http");
        m.sample(0);
        c.received.fetch_add(100, Ordering::Relaxed);
        m.sample(10);
        m.sample(20);
        let h = &m.history()[0].1;
        assert_eq!(h.rates(), vec![10.0, 0.0]);
        assert_eq!(h.last_seen, Some(10));
        for t in 0..100 {
            m.sample(30 + t);
        }
        assert_eq!(m.history()[0].1.samples.len(), SAMPLES);
    }
}
