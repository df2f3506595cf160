//! Loading the tenants' suppressions from the state into the pipeline's
//! `vigie_detect::suppress::Suppressions`: all of them at start, one tenant's whenever they
//! change (created, removed), and each tenant's again when one of them expires (the
//! evaluation checks expiry too: this only frees the memory).

use std::collections::HashMap;

use vigie_detect::suppress::{Active, Suppressions, parse};
use vigie_event::TenantId;
use vigie_event::time::Timestamp;
use vigie_state::State;
use vigie_state::suppressions::StoredSuppression;

use crate::ServerError;

fn active_of(s: &StoredSuppression) -> Option<Active> {
    match parse(&s.document) {
        Ok(parsed) => Some(Active {
            id: s.id.to_string(),
            expires: Timestamp::from_nanos(s.expires_at),
            parsed,
        }),
        Err(why) => {
            // Stored documents were checked when created; one a newer reader refuses is
            // left out (and said), never a reason not to start.
            tracing::warn!(suppression = s.id, tenant = %s.tenant, %why, "suppression left out");
            None
        }
    }
}

/// Loads every tenant's suppressions in force.
pub async fn load_all(state: &State, all: &Suppressions) -> Result<(), ServerError> {
    let mut by_tenant: HashMap<String, Vec<Active>> = HashMap::new();
    for s in state.active_suppressions(Timestamp::now()).await? {
        if let Some(a) = active_of(&s) {
            by_tenant.entry(s.tenant.clone()).or_default().push(a);
        }
    }
    for (tenant, active) in by_tenant {
        if let Ok(t) = TenantId::new(&tenant) {
            all.replace(&t, active);
        }
    }
    Ok(())
}

/// Loads `tenant`'s suppressions in force again.
pub async fn reload(
    state: &State,
    all: &Suppressions,
    tenant: &TenantId,
) -> Result<(), ServerError> {
    let now = Timestamp::now().as_nanos();
    let active = state
        .suppressions(tenant)
        .await?
        .iter()
        .filter(|s| s.removed_at.is_none() && s.expires_at > now)
        .filter_map(active_of)
        .collect();
    all.replace(tenant, active);
    Ok(())
}
