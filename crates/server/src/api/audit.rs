//! `GET /api/v1/audit`: the audit trail of the tenant named by `Vigie-Tenant` (client
//! admins, CISOs and auditors of its owner: every record; provider users: their own
//! records only), or the platform chain for the operator. No route changes or deletes a
//! record.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::json;
use vigie_event::UtcOffset;
use vigie_event::time::parse_rfc3339;
use vigie_state::audit::{AuditFilter, PLATFORM_CHAIN, tenant_chain};

use super::App;
use super::access::{AuditNote, Authorized};
use super::error::{ApiError, ApiResult};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditParams {
    actor: Option<String>,
    org: Option<String>,
    action: Option<String>,
    object: Option<String>,
    from: Option<String>,
    to: Option<String>,
    before: Option<u64>,
    limit: Option<usize>,
}

fn number(name: &str, text: &Option<String>) -> ApiResult<Option<u64>> {
    text.as_deref()
        .map(|t| {
            t.parse()
                .map_err(|_| ApiError::bad_request(format!("{name} {t:?}: not an id")))
        })
        .transpose()
}

fn time(name: &str, text: &Option<String>) -> ApiResult<Option<vigie_event::Timestamp>> {
    text.as_deref()
        .map(|t| {
            parse_rfc3339(t, UtcOffset::UTC)
                .map(|(t, _)| t)
                .map_err(|e| {
                    ApiError::bad_request(format!(
                        "{name} {t:?}: expected {} at byte {}",
                        e.expected, e.offset
                    ))
                })
        })
        .transpose()
}

/// `GET /api/v1/audit`.
pub(crate) async fn audit(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    params: Result<Query<AuditParams>, QueryRejection>,
) -> ApiResult<Response> {
    let Query(p) = params?;
    // The operator reaches no tenant: theirs is the platform chain.
    let chain = match (&auth.tenant, auth.instance) {
        (None, true) => PLATFORM_CHAIN.to_owned(),
        (Some(_), true) => {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "the operator reads the platform chain; a tenant's trail is its owner's",
            ));
        }
        (Some(t), false) => tenant_chain(t.as_str()),
        (None, false) => {
            return Err(ApiError::coded(
                StatusCode::BAD_REQUEST,
                "bad_tenant",
                "name the tenant in the Vigie-Tenant header",
            ));
        }
    };
    let mut filter = AuditFilter {
        actor: number("actor", &p.actor)?,
        org: number("org", &p.org)?,
        action: p.action.clone(),
        from: time("from", &p.from)?,
        to: time("to", &p.to)?,
        before: p.before,
        limit: p.limit,
    };
    // Provider users (`own` in the table) see their own records only, whatever they ask.
    if auth.own_only {
        let me = auth
            .caller
            .user()
            .ok_or_else(|| ApiError::new(StatusCode::FORBIDDEN, "not a person"))?;
        filter.actor = Some(me.id.0);
    }
    let mut rows = app
        .state
        .audit_rows(&chain, &filter)
        .await
        .map_err(ApiError::internal)?;
    if let Some(object) = &p.object {
        rows.retain(|r| {
            r.record["objects"]
                .as_array()
                .is_some_and(|o| o.iter().any(|v| v.as_str() == Some(object.as_str())))
        });
    }
    let next = rows
        .last()
        .map(|r| r.seq)
        .filter(|_| rows.len() == filter.limit.unwrap_or(100).clamp(1, AuditFilter::MAX_LIMIT));
    let note = AuditNote {
        count: Some(rows.len() as u64),
        query: Some(format!(
            "actor={:?} org={:?} action={:?} object={:?}",
            filter.actor, filter.org, filter.action, p.object
        )),
        ..AuditNote::default()
    };
    let records: Vec<_> = rows
        .into_iter()
        .map(|r| json!({"chain": r.chain, "seq": r.seq, "record": r.record}))
        .collect();
    Ok((
        Extension(note),
        Json(json!({"records": records, "next_before": next})),
    )
        .into_response())
}
