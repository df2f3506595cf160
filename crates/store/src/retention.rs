//! Retention: whole partitions are dropped when they are older than a tenant's maximum age,
//! or (oldest first) while the tenant is over its maximum size.

use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use vigie_event::{TenantId, Timestamp};

use crate::{Store, StoreError};

/// How long and how much of a tenant's data the store keeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Partitions whose whole period is older than this are dropped.
    pub max_age: Option<Duration>,
    /// While the tenant's partitions take more bytes than this, the oldest is dropped
    /// (never the newest one).
    pub max_bytes: Option<u64>,
}

/// Why a partition was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// Older than the maximum age.
    Age,
    /// The tenant was over its maximum size.
    Size,
}

/// A partition dropped by retention.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dropped {
    /// Its tenant.
    pub tenant: TenantId,
    /// Start of its period.
    pub start: Timestamp,
    /// End of its period.
    pub end: Timestamp,
    /// Bytes freed.
    pub bytes: u64,
    /// Why.
    pub reason: DropReason,
}

/// Policies by tenant, and the default for tenants without one.
#[derive(Debug, Default)]
pub(crate) struct Policies {
    pub(crate) default: RetentionPolicy,
    pub(crate) by_tenant: BTreeMap<TenantId, RetentionPolicy>,
}

impl Store {
    /// Sets the retention of `tenant` (`None`: back to the default).
    pub fn set_retention(&self, tenant: &TenantId, policy: Option<RetentionPolicy>) {
        let mut p = self.policies.write().unwrap_or_else(|e| e.into_inner());
        match policy {
            Some(policy) => p.by_tenant.insert(tenant.clone(), policy),
            None => p.by_tenant.remove(tenant),
        };
    }

    /// Sets the retention of tenants without their own.
    pub fn set_default_retention(&self, policy: RetentionPolicy) {
        self.policies
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .default = policy;
    }

    /// The retention applying to `tenant`.
    pub fn retention(&self, tenant: &TenantId) -> RetentionPolicy {
        let p = self.policies.read().unwrap_or_else(|e| e.into_inner());
        p.by_tenant.get(tenant).copied().unwrap_or(p.default)
    }

    /// Drops the partitions retention no longer keeps, as of `now`; logs each drop.
    pub fn apply_retention(&self, now: Timestamp) -> Result<Vec<Dropped>, StoreError> {
        let mut dropped = Vec::new();
        let partitions = self.partitions();
        for tenant in self.tenants() {
            let policy = self.retention(&tenant);
            let mut mine: Vec<_> = partitions.iter().filter(|p| p.tenant == tenant).collect();
            mine.sort_by_key(|p| p.start);
            let mut kept = Vec::new();
            for p in mine {
                let expired = policy.max_age.is_some_and(|age| {
                    let age = i64::try_from(age.as_nanos()).unwrap_or(i64::MAX);
                    p.end.as_nanos() <= now.as_nanos().saturating_sub(age)
                });
                if expired {
                    let bytes = self.drop_partition(&tenant, p.start)?;
                    dropped.push(Dropped {
                        tenant: tenant.clone(),
                        start: p.start,
                        end: p.end,
                        bytes,
                        reason: DropReason::Age,
                    });
                } else {
                    kept.push(p);
                }
            }
            if let Some(max) = policy.max_bytes {
                let mut total: u64 = kept.iter().map(|p| p.bytes).sum();
                let newest = kept.len().saturating_sub(1);
                for p in kept.iter().take(newest) {
                    if total <= max {
                        break;
                    }
                    let bytes = self.drop_partition(&tenant, p.start)?;
                    total = total.saturating_sub(p.bytes);
                    dropped.push(Dropped {
                        tenant: tenant.clone(),
                        start: p.start,
                        end: p.end,
                        bytes,
                        reason: DropReason::Size,
                    });
                }
                if total > max {
                    tracing::warn!(
                        tenant = %tenant, bytes = total, max_bytes = max,
                        "retention: tenant still over its size limit; its newest partition is never dropped"
                    );
                }
            }
        }
        for d in &dropped {
            tracing::info!(
                tenant = %d.tenant,
                start = %d.start,
                end = %d.end,
                bytes = d.bytes,
                reason = ?d.reason,
                "retention: partition dropped"
            );
        }
        Ok(dropped)
    }
}

/// A background thread applying retention periodically; stopped (and joined) on drop.
#[derive(Debug)]
pub struct RetentionTask {
    stop: Arc<(Mutex<bool>, Condvar)>,
    handle: Option<JoinHandle<()>>,
}

impl RetentionTask {
    /// Applies retention to `store` now and then every `every`; errors are logged and the
    /// task goes on.
    pub fn spawn(store: Arc<Store>, every: Duration) -> std::io::Result<RetentionTask> {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let flag = Arc::clone(&stop);
        let handle = std::thread::Builder::new()
            .name("vigie-retention".into())
            .spawn(move || {
                let (lock, cvar) = &*flag;
                loop {
                    if let Err(e) = store.apply_retention(Timestamp::now()) {
                        tracing::error!(error = %e, "retention failed; retrying next period");
                    }
                    let guard = lock.lock().unwrap_or_else(|e| e.into_inner());
                    let (guard, _) = cvar
                        .wait_timeout_while(guard, every, |stopped| !*stopped)
                        .unwrap_or_else(|e| e.into_inner());
                    if *guard {
                        return;
                    }
                }
            })?;
        Ok(RetentionTask {
            stop,
            handle: Some(handle),
        })
    }
}

impl Drop for RetentionTask {
    fn drop(&mut self) {
        let (lock, cvar) = &*self.stop;
        *lock.lock().unwrap_or_else(|e| e.into_inner()) = true;
        cvar.notify_all();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
