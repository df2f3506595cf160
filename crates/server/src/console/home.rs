//! Where a reader lands: their first page (the queue of their tenant, else what their role
//! reads), the tenant switcher's target, and the operator's platform health.

use axum::Extension;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use vigie_govern::permission::{Action, Cell, allows};
use vigie_govern::role::Tier;
use vigie_govern::{OrgKind, Role};

use super::chrome::{Chrome, see_other};
use super::svg::sparkline;
use super::view::{Health, Page, TenantHealth};
use crate::api::App;
use crate::api::access::Authorized;
use crate::metrics::DropReason;

/// `GET /`.
pub(crate) async fn root() -> Response {
    see_other("/console")
}

#[derive(Deserialize, Default)]
pub(crate) struct HomeParams {
    tenant: Option<String>,
}

/// `GET /console`: the reader's first page, on `?tenant=` if they reach it.
pub(crate) async fn home(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    Query(p): Query<HomeParams>,
) -> Response {
    let Some(user) = auth.caller.user() else {
        return see_other("/console/signin");
    };
    if user.role.org_kind() == OrgKind::Operator {
        return see_other("/console/health");
    }
    let reached = match crate::api::me::reached(&app, user).await {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let chosen = p
        .tenant
        .as_deref()
        .and_then(|t| reached.iter().find(|r| r.tenant.as_str() == t))
        .or_else(|| reached.first());
    let Some(r) = chosen else {
        return see_other("/console/access");
    };
    let role = match r.tier.and_then(|t| t.parse::<Tier>().ok()) {
        Some(tier) => Role::ProviderAnalyst(tier),
        None => user.role,
    };
    let t = r.tenant.as_str();
    for (action, page) in [
        (Action::ReadAlerts, "alerts"),
        (Action::SearchEvents, "search"),
        (Action::ReadAudit, "audit"),
    ] {
        if allows(role, action) != Cell::Deny {
            return see_other(&format!("/console/t/{t}/{page}"));
        }
    }
    see_other("/console/access")
}

fn rate(r: f64) -> String {
    if r >= 100.0 {
        format!("{r:.0}/s")
    } else {
        format!("{r:.1}/s")
    }
}

/// `GET /console/health`: events per second per tenant (ten minutes, sampled every ten
/// seconds), the last time each source sent, drops by reason, the journal's lag.
pub(crate) async fn health(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    headers: HeaderMap,
) -> Response {
    let chrome = match Chrome::of(&app, &auth, &headers, "health.title", "/console/health").await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let history: std::collections::BTreeMap<(String, String), crate::metrics::History> =
        app.metrics.history().into_iter().collect();
    let mut per_tenant: std::collections::BTreeMap<String, (Vec<f64>, u64)> = Default::default();
    let mut sources = Vec::new();
    let all_sources = app.metrics.sources();
    for ((tenant, source), counters) in &all_sources {
        let (tenant, source) = (tenant.clone(), source.clone());
        let received = counters.received.load(std::sync::atomic::Ordering::Relaxed);
        let h = history.get(&(tenant.clone(), source.clone()));
        let rates = h.map(crate::metrics::History::rates).unwrap_or_default();
        let (sum, total) = per_tenant.entry(tenant.clone()).or_default();
        *total += received;
        if sum.len() < rates.len() {
            sum.resize(rates.len(), 0.0);
        }
        // Align the newest samples (a source seen later has fewer).
        let offset = sum.len() - rates.len();
        for (i, r) in rates.iter().enumerate() {
            sum[offset + i] += r;
        }
        let last = match h.and_then(|h| h.last_seen) {
            Some(s) => vigie_event::Timestamp::from_nanos(s.saturating_mul(1_000_000_000))
                .to_rfc3339(vigie_event::UtcOffset::UTC),
            // Counted, but not yet between two samples.
            None if received > 0 => chrome.t.t("health.recent").to_owned(),
            None => chrome.t.t("health.never").to_owned(),
        };
        let spark = sparkline(
            &rates,
            &format!("{tenant}/{source}: {}", chrome.t.t("health.trend")),
        );
        sources.push((
            tenant,
            source,
            last,
            rate(rates.last().copied().unwrap_or(0.0)),
            spark,
        ));
    }
    // Every tenant of the instance, with its owner, traffic or not.
    let mut tenants = Vec::new();
    let all = match app.state.tenants().await {
        Ok(t) => t,
        Err(e) => return crate::api::error::ApiError::internal(e).into_response(),
    };
    for tenant in all {
        let owner = match app.state.tenant_owner(&tenant).await {
            Ok(Some(org)) => app
                .state
                .org(org)
                .await
                .ok()
                .flatten()
                .map_or_else(String::new, |o| o.name),
            _ => String::new(),
        };
        let (rates, total) = per_tenant.remove(tenant.as_str()).unwrap_or_default();
        tenants.push(TenantHealth {
            rate: rate(rates.last().copied().unwrap_or(0.0)),
            spark: sparkline(
                &rates,
                &format!("{}: {}", tenant.as_str(), chrome.t.t("health.trend")),
            ),
            total,
            owner,
            name: tenant.as_str().to_owned(),
        });
    }
    let mut listeners = vec![(
        "http".to_owned(),
        "HTTP".to_owned(),
        app.public_url.as_str().to_owned(),
        chrome.t.t("health.anytenant").to_owned(),
    )];
    for l in &app.config.syslog {
        listeners.push((
            l.name.clone(),
            format!("syslog {:?}", l.protocol).to_lowercase(),
            l.listen.to_string(),
            l.tenant.clone(),
        ));
    }
    let sum = |get: &dyn Fn(&crate::metrics::SourceCounters) -> u64| -> u64 {
        all_sources.iter().map(|(_, c)| get(c)).sum()
    };
    let relaxed = std::sync::atomic::Ordering::Relaxed;
    let mut drops: Vec<(String, u64)> = DropReason::ALL
        .into_iter()
        .map(|why| (why.as_str().to_owned(), sum(&|c| c.dropped(why))))
        .collect();
    drops.push(("rejected".to_owned(), sum(&|c| c.rejected.load(relaxed))));
    let p = &app.metrics.pipeline;
    let journaled = sum(&|c| c.journaled.load(relaxed));
    let processed = p.events.load(std::sync::atomic::Ordering::Relaxed);
    let book = app.rules.current();
    let t = chrome.t;
    Health {
        chrome,
        lag: t.fs(
            "health.lag.value",
            &[&journaled.saturating_sub(processed), &journaled, &processed],
        ),
        rules: t.fs(
            "health.rules.value",
            &[
                &book.rules.len(),
                &book.correlation_rules.len(),
                &book.generation,
            ],
        ),
        tenants,
        listeners,
        sources,
        drops,
    }
    .page()
}
