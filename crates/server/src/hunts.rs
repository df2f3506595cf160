//! Retro-hunts (issue 27): a Sigma rule run over a tenant's stored events for a time
//! range, as a job on a thread of its own.
//!
//! The store's index narrows the candidates first (`vigie_sigma::narrow::store_query`: a
//! query every event the rule matches also matches); only candidates are fetched, decoded
//! and evaluated by the engine. Progress is written to the state after each page, so that
//! any node's API shows it; cancelling is a flag the job reads between pages.
//!
//! Bounds: one running job per tenant, [`MAX_RUNNING`] on the instance, each stopped after
//! [`MAX_RUNTIME`]; at most `vigie_state::hunts::MAX_RESULTS` results kept (all counted).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use vigie_event::time::Timestamp;
use vigie_event::{Event, TenantId};
use vigie_sigma::{Rule, RuleMatcher, RuleSet};
use vigie_state::State;
use vigie_state::hunts::{HuntResult, MAX_RESULTS, Progress};
use vigie_store::{Order, Search, Store, TimeRange};

/// Jobs running at once on the instance.
pub const MAX_RUNNING: usize = 2;

/// The longest a job runs before it is stopped (failed, with what it found so far).
pub const MAX_RUNTIME: Duration = Duration::from_secs(3600);

/// Candidates fetched per page.
const PAGE: usize = 5000;

/// Why a job was not started.
#[derive(Debug, PartialEq, Eq)]
pub enum Busy {
    /// The tenant has one running.
    Tenant,
    /// The instance runs its maximum.
    Instance,
}

/// The running jobs: their tenant and cancel flag.
#[derive(Debug, Default)]
pub struct Hunts {
    running: Mutex<HashMap<i64, (TenantId, Arc<AtomicBool>)>>,
}

/// What a job needs.
#[derive(Debug)]
pub struct Job {
    /// Its id (the state's row).
    pub id: i64,
    /// The tenant.
    pub tenant: TenantId,
    /// The rule.
    pub rule: Rule,
    /// The narrowing query (`*`: none).
    pub query: String,
    /// The range.
    pub range: TimeRange,
}

impl Hunts {
    /// Takes a place for `tenant`'s job `id`, or says why not.
    pub fn reserve(&self, tenant: &TenantId, id: i64) -> Result<Arc<AtomicBool>, Busy> {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        if running.values().any(|(t, _)| t == tenant) {
            return Err(Busy::Tenant);
        }
        if running.len() >= MAX_RUNNING {
            return Err(Busy::Instance);
        }
        let flag = Arc::new(AtomicBool::new(false));
        running.insert(id, (tenant.clone(), Arc::clone(&flag)));
        Ok(flag)
    }

    /// Asks job `id` of `tenant` to stop; `false` when it is not running.
    pub fn cancel(&self, tenant: &TenantId, id: i64) -> bool {
        let running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        match running.get(&id) {
            Some((t, flag)) if t == tenant => {
                flag.store(true, Ordering::Release);
                true
            }
            _ => false,
        }
    }

    fn release(&self, id: i64) {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
    }

    /// Runs `job` on a thread of its own (a place was reserved with [`Hunts::reserve`]).
    pub fn spawn(
        self: &Arc<Self>,
        job: Job,
        cancel: Arc<AtomicBool>,
        store: Arc<Store>,
        state: State,
        runtime: tokio::runtime::Handle,
    ) {
        let hunts = Arc::clone(self);
        let id = job.id;
        let spawned = std::thread::Builder::new()
            .name(format!("hunt-{id}"))
            .spawn(move || {
                let started = Instant::now();
                let mut results = Vec::new();
                let mut progress = Progress::default();
                let outcome = run(
                    &job,
                    &cancel,
                    &store,
                    &mut progress,
                    &mut results,
                    started,
                    |p| {
                        if let Err(e) = runtime.block_on(state.hunt_progress(id, *p)) {
                            tracing::warn!(hunt = id, error = %e, "cannot record a hunt's progress");
                        }
                    },
                );
                let (status, error) = match outcome {
                    Ok(true) => ("done", None),
                    Ok(false) => ("cancelled", None),
                    Err(e) => ("failed", Some(e)),
                };
                let elapsed = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                let finished = runtime.block_on(state.finish_hunt(
                    id,
                    progress,
                    status,
                    error.as_deref(),
                    &results,
                    elapsed,
                    Timestamp::now(),
                ));
                if let Err(e) = finished {
                    tracing::error!(hunt = id, error = %e, "cannot record the end of a hunt");
                }
                hunts.release(id);
            });
        if let Err(e) = spawned {
            tracing::error!(hunt = id, error = %e, "cannot start a hunt thread");
            self.release(id);
        }
    }
}

/// The fields that made the rule match `event`, as a JSON object.
fn matched_json(set: &RuleSet, event: &Event) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    for (name, value) in set.matched_fields(0, event) {
        out.insert(
            name,
            serde_json::Value::String(value.as_text().unwrap_or_default().to_owned()),
        );
    }
    serde_json::Value::Object(out)
}

/// The job's work: `Ok(true)` when done, `Ok(false)` when cancelled; `on_page` hears the
/// progress after each page (the server records it; `vigie bench hunt` does not).
pub fn run(
    job: &Job,
    cancel: &AtomicBool,
    store: &Store,
    progress: &mut Progress,
    results: &mut Vec<HuntResult>,
    started: Instant,
    mut on_page: impl FnMut(&Progress),
) -> Result<bool, String> {
    let all = vigie_store::parse("*").map_err(|e| e.to_string())?;
    let mut count = Search::new(all, 0);
    count.range = job.range;
    progress.in_range = store
        .search(&job.tenant, &count)
        .map_err(|e| e.to_string())?
        .total;
    let query = vigie_store::parse(&job.query).map_err(|e| format!("the narrowing query: {e}"))?;
    let set = Arc::new(RuleSet::new(vec![job.rule.clone()]));
    let mut matcher = RuleMatcher::new(Arc::clone(&set));
    let mut search = Search::new(query, PAGE);
    search.range = job.range;
    search.order = Order::Asc;
    loop {
        if cancel.load(Ordering::Acquire) {
            return Ok(false);
        }
        if started.elapsed() > MAX_RUNTIME {
            return Err(format!(
                "stopped after {} minutes: narrow the range or the rule",
                MAX_RUNTIME.as_secs() / 60
            ));
        }
        let page = store
            .search(&job.tenant, &search)
            .map_err(|e| e.to_string())?;
        progress.candidates = page.total;
        for event in &page.events {
            progress.checked += 1;
            if !matcher.matches(event).is_empty() {
                progress.matched += 1;
                if results.len() < MAX_RESULTS {
                    results.push(HuntResult {
                        event_id: event.id.to_string(),
                        event_time: event.time.as_nanos(),
                        host: event.host.as_deref().map(str::to_owned),
                        matched: matched_json(&set, event),
                    });
                }
            }
        }
        on_page(progress);
        match page.next {
            Some(next) => search.cursor = Some(next),
            None => return Ok(true),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_job_per_tenant_and_a_bound_on_the_instance() {
        let h = Hunts::default();
        let a = TenantId::new("a").unwrap();
        let b = TenantId::new("b").unwrap();
        let c = TenantId::new("c").unwrap();
        let flag = h.reserve(&a, 1).expect("first");
        assert_eq!(h.reserve(&a, 2).unwrap_err(), Busy::Tenant);
        h.reserve(&b, 3).expect("another tenant");
        assert_eq!(h.reserve(&c, 4).unwrap_err(), Busy::Instance);
        assert!(!h.cancel(&b, 1), "not another tenant's job");
        assert!(h.cancel(&a, 1));
        assert!(flag.load(Ordering::Acquire));
        h.release(1);
        h.reserve(&c, 4).expect("a place again");
        assert!(!h.cancel(&a, 1), "not running any more");
    }
}
