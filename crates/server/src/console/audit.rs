//! A tenant's trail (or the platform's, for the operator), filtered by actor and action,
//! each record with its chain position, and a button that verifies the chain now.

use std::sync::OnceLock;

use axum::Extension;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::Semaphore;

use super::chrome::Chrome;
use super::view::{Audit, AuditRow, Page};
use super::{text, through};
use crate::api::App;
use crate::api::access::{AuditNote, Authorized};
use crate::api::error::ApiError;

/// Records per page.
const PAGE: usize = 100;

#[derive(Deserialize, Default)]
pub(crate) struct AuditPageParams {
    #[serde(default)]
    user: String,
    #[serde(default)]
    action: String,
    before: Option<u64>,
}

fn base_of(auth: &Authorized) -> String {
    match &auth.tenant {
        Some(t) => format!("/console/t/{}/audit", t.as_str()),
        None => "/console/audit".to_owned(),
    }
}

async fn render(
    app: &App,
    auth: &Authorized,
    headers: &HeaderMap,
    p: AuditPageParams,
    verified: Option<(bool, String)>,
) -> Response {
    let params: crate::api::audit::AuditParams = match serde_json::from_value(serde_json::json!({
        "actor": (!p.user.trim().is_empty()).then(|| p.user.trim().to_owned()),
        "action": (!p.action.trim().is_empty()).then(|| p.action.trim().to_owned()),
        "before": p.before,
        "limit": PAGE,
    })) {
        Ok(params) => params,
        Err(e) => return ApiError::bad_request(e.to_string()).into_response(),
    };
    let api = crate::api::audit::audit(
        State(app.clone()),
        Extension(auth.clone()),
        Ok(Query(params)),
    )
    .await;
    let (json, carry) = match through(api).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let base = base_of(auth);
    let chrome = match Chrome::of(app, auth, headers, "audit.title", &base).await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let records = json["records"]
        .as_array()
        .map(|r| {
            r.iter()
                .map(|r| {
                    let rec = &r["record"];
                    let who = &rec["who"];
                    AuditRow {
                        seq: r["seq"].as_u64().unwrap_or(0),
                        time: text(&rec["time"]),
                        who: [text(&who["user"]), text(&who["address"])]
                            .into_iter()
                            .filter(|s| !s.is_empty())
                            .collect::<Vec<_>>()
                            .join(" @ "),
                        action: text(&rec["action"]),
                        objects: rec["objects"]
                            .as_array()
                            .map(|o| o.iter().map(text).collect::<Vec<_>>().join(", "))
                            .unwrap_or_default(),
                        outcome: match &rec["outcome"] {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        },
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let next = json["next_before"].as_u64().map(|b| {
        let mut s = form_urlencoded::Serializer::new(String::new());
        s.append_pair("user", &p.user);
        s.append_pair("action", &p.action);
        s.append_pair("before", &b.to_string());
        format!("{base}?{}", s.finish())
    });
    let page = Audit {
        chrome,
        base,
        actor: p.user,
        action: p.action,
        verified,
        records,
        next,
    };
    carry.onto(page.page())
}

/// `GET /console/t/{tenant}/audit` (and the operator's platform chain).
pub(crate) async fn page(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    headers: HeaderMap,
    Query(p): Query<AuditPageParams>,
) -> Response {
    render(&app, &auth, &headers, p, None).await
}

/// One verification at a time on the instance: it reads a whole chain.
fn verifying() -> &'static Semaphore {
    static ONE: OnceLock<Semaphore> = OnceLock::new();
    ONE.get_or_init(|| Semaphore::new(1))
}

/// `POST /console/t/{tenant}/audit/verify`: verifies this chain (records, chain hashes,
/// signed checkpoints, and the notes kept outside) and shows the result above the trail.
pub(crate) async fn verify(
    State(app): State<App>,
    Extension(auth): Extension<Authorized>,
    headers: HeaderMap,
) -> Response {
    let chain = match (&auth.tenant, auth.instance) {
        (Some(t), false) => vigie_state::audit::tenant_chain(t.as_str()),
        (None, true) => vigie_state::audit::PLATFORM_CHAIN.to_owned(),
        _ => return ApiError::new(StatusCode::FORBIDDEN, "not this chain").into_response(),
    };
    let Ok(_one) = verifying().try_acquire() else {
        return ApiError::busy(
            StatusCode::TOO_MANY_REQUESTS,
            "a verification is running; try again in a moment",
        )
        .into_response();
    };
    let external = crate::verify::external_notes(&app.config).unwrap_or_default();
    let report = crate::verify::verify_chain(
        &app.state,
        crate::secrets::KEY_NAME,
        app.secrets.public_key(),
        &external,
        &chain,
    )
    .await;
    let t = super::i18n::Tr {
        lang: super::i18n::Lang::of(&headers),
    };
    let (ok, message) = match &report {
        Ok(r) => match &r.problem {
            None => (
                true,
                format!(
                    "{} {} · {} {}",
                    t.t("audit.verified"),
                    r.records,
                    r.checkpoints,
                    t.t("audit.checkpoints")
                ),
            ),
            Some(problem) => (false, format!("{}: {problem}", t.t("audit.broken"))),
        },
        Err(e) => (false, e.to_string()),
    };
    let mut response = render(
        &app,
        &auth,
        &headers,
        AuditPageParams::default(),
        Some((ok, message)),
    )
    .await;
    response.extensions_mut().insert(AuditNote {
        action: Some("audit-verify"),
        objects: vec![format!("chain:{chain}")],
        query: Some(if ok {
            "holds".into()
        } else {
            "does not hold".into()
        }),
        ..AuditNote::default()
    });
    response
}
