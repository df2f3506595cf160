//! The memory budget of request bodies held at once, shared by tenants (a quarter each at most).

use std::sync::Arc;

use tokio::sync::Semaphore;
use vigie_event::TenantId;

use super::blocking;
use super::error::ApiResult;

/// The memory ingest bodies hold at once, in KiB permits: a global budget, and a quarter of it
/// per tenant, so that one tenant's large or slow bodies cannot take the memory the others'
/// need. A request that does not fit is refused at once with 429 (never queued: a queue would
/// let a slow tenant delay the others).
#[derive(Debug)]
pub struct Buffers {
    global: Arc<Semaphore>,
    share: usize,
    tenants: std::sync::Mutex<std::collections::HashMap<TenantId, Arc<Semaphore>>>,
}

/// What a request holds of [`Buffers`] until it is dropped.
#[derive(Debug)]
pub struct Held {
    global: tokio::sync::OwnedSemaphorePermit,
    tenant: tokio::sync::OwnedSemaphorePermit,
    global_pool: Arc<Semaphore>,
    tenant_pool: Arc<Semaphore>,
}

impl Held {
    /// Takes `bytes` more (an inflating body growing), or says no.
    pub fn grow(&mut self, bytes: usize) -> bool {
        let Ok(kib) = u32::try_from(bytes.div_ceil(1024).max(1)) else {
            return false;
        };
        let Ok(tenant) = Arc::clone(&self.tenant_pool).try_acquire_many_owned(kib) else {
            return false;
        };
        let Ok(global) = Arc::clone(&self.global_pool).try_acquire_many_owned(kib) else {
            return false;
        };
        self.tenant.merge(tenant);
        self.global.merge(global);
        true
    }
}

impl Buffers {
    /// A budget of `mib` MiB.
    pub fn new(mib: usize) -> Buffers {
        let kib = mib.saturating_mul(1024).min(Semaphore::MAX_PERMITS);
        Buffers {
            global: Arc::new(Semaphore::new(kib)),
            share: (kib / 4).max(1),
            tenants: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// Takes `bytes` of the budget for `tenant`, or says no.
    pub fn take(&self, tenant: &TenantId, bytes: usize) -> Option<Held> {
        let kib = u32::try_from(bytes.div_ceil(1024).max(1)).ok()?;
        let own = {
            let mut map = self.tenants.lock().unwrap_or_else(|p| p.into_inner());
            Arc::clone(
                map.entry(tenant.clone())
                    .or_insert_with(|| Arc::new(Semaphore::new(self.share))),
            )
        };
        let tenant = Arc::clone(&own).try_acquire_many_owned(kib).ok()?;
        let global = Arc::clone(&self.global).try_acquire_many_owned(kib).ok()?;
        Some(Held {
            global,
            tenant,
            global_pool: Arc::clone(&self.global),
            tenant_pool: own,
        })
    }
}

/// [`blocking`] holding a query slot until the work is done (not until the request ends: a
/// client that goes away does not free a slot its query still occupies).
pub(crate) async fn held<T: Send + 'static>(
    slot: tokio::sync::OwnedSemaphorePermit,
    f: impl FnOnce() -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    blocking(move || {
        let _slot = slot;
        f()
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigie_event::TenantId;

    #[test]
    fn ingest_memory_is_shared_by_quarters_and_given_back() {
        let buffers = Buffers::new(4); // 4 MiB: a tenant may hold 1 MiB.
        let a = TenantId::new("a").expect("tenant");
        let b = TenantId::new("b").expect("tenant");
        let mut held = buffers.take(&a, 512 << 10).expect("half of a's quarter");
        assert!(buffers.take(&a, 600 << 10).is_none(), "over a's quarter");
        assert!(held.grow(512 << 10), "a's quarter, exactly");
        assert!(!held.grow(1), "nothing left for a");
        let others: Vec<Held> = ["b", "c", "d"]
            .iter()
            .map(|t| {
                buffers
                    .take(&TenantId::new(t).expect("tenant"), 1 << 20)
                    .expect("a quarter")
            })
            .collect();
        // Every quarter is taken: even a tenant with room left finds none globally.
        let e = TenantId::new("e").expect("tenant");
        assert!(buffers.take(&e, 1024).is_none());
        drop(held);
        assert!(buffers.take(&e, 1 << 20).is_some(), "a's memory came back");
        drop(others);
        assert!(buffers.take(&b, 1 << 20).is_some());
        // Sizes round up to whole KiB; a zero-byte body still takes one.
        let tiny = Buffers::new(4);
        let one: Vec<Held> = (0..1024)
            .map(|_| tiny.take(&a, 0).expect("1 KiB"))
            .collect();
        assert!(tiny.take(&a, 1).is_none());
        drop(one);
    }
}
