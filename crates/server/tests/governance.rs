//! Access governance end to end: the scheduled pass deactivates an account unused for its
//! organisation's number of days and a provider user whose contract ended; a review
//! campaign's undecided grant is suspended at its deadline, and the analyst is refused at
//! their next request; a removed grant is revoked at once; every change is in the audit
//! trail.

mod common;

use common::{Harness, person};
use vigie_event::TenantId;
use vigie_event::time::Timestamp;
use vigie_govern::grant::GrantStatus;
use vigie_govern::{OrgKind, Role, Tier};
use vigie_server::governance::run_once;
use vigie_state::audit::AuditFilter;
use vigie_state::{NewGrant, UserStatus};

const DAY: i64 = 86_400_000_000_000;

#[test]
fn deactivation_and_review_deadlines_are_enforced() {
    let h = Harness::start(&["acme"], Vec::new(), |_| {});
    let server = h.server.as_ref().expect("server");
    let state = server.state().clone();
    let tenant = TenantId::new("acme").expect("tenant");
    let now = Timestamp::now();
    let at = |days: i64| Timestamp::from_nanos(now.as_nanos() + days * DAY);
    let (admin_token, padmin, kept, dropped, ended, idle) = h.rt.block_on(async {
        let admin_token = person(&state, "acme", OrgKind::Client, "admin", Role::ClientAdmin).await;
        let _ = person(
            &state,
            "Provider",
            OrgKind::Provider,
            "padmin",
            Role::ProviderAdmin,
        )
        .await;
        let _ = person(
            &state,
            "Provider",
            OrgKind::Provider,
            "kept",
            Role::ProviderAnalyst(Tier::L1),
        )
        .await;
        let _ = person(
            &state,
            "Provider",
            OrgKind::Provider,
            "dropped",
            Role::ProviderAnalyst(Tier::L2),
        )
        .await;
        let _ = person(
            &state,
            "Provider",
            OrgKind::Provider,
            "ended",
            Role::ProviderAnalyst(Tier::L1),
        )
        .await;
        let _ = person(&state, "acme", OrgKind::Client, "idle", Role::ClientAnalyst).await;
        let id = |login: &'static str| {
            let state = state.clone();
            async move {
                state
                    .user_by_login(login)
                    .await
                    .expect("read")
                    .expect("user")
                    .id
            }
        };
        let (admin, padmin, kept, dropped, ended, idle) = (
            id("admin").await,
            id("padmin").await,
            id("kept").await,
            id("dropped").await,
            id("ended").await,
            id("idle").await,
        );
        for analyst in [kept, dropped] {
            let g = state
                .insert_grant(&NewGrant {
                    analyst,
                    requester: padmin,
                    tenant: tenant.clone(),
                    tier: Tier::L1,
                    from: now,
                    until: at(30),
                    justification: "governance test grant".into(),
                })
                .await
                .expect("grant");
            assert!(
                state
                    .set_grant_status(g, GrantStatus::Pending, GrantStatus::Approved, admin, now)
                    .await
                    .expect("approve")
            );
        }
        // Signed in recently, except `idle` (100 days ago; the default is 90).
        for u in [admin, padmin, kept, dropped, ended] {
            state.record_login(u, now).await.expect("login");
        }
        state.record_login(idle, at(-100)).await.expect("login");
        (admin_token, padmin, kept, dropped, ended, idle)
    });
    let _ = padmin;
    // The client admin opens a review due in 2 days, keeps one grant, and leaves the other.
    let deadline = at(2).to_rfc3339(vigie_event::UtcOffset::UTC);
    let (status, body) = h.post_json(
        "/api/v1/reviews",
        &admin_token,
        Some("acme"),
        &format!(r#"{{"deadline":"{deadline}"}}"#),
    );
    assert_eq!(status, 201, "{body}");
    let review: serde_json::Value = serde_json::from_str(&body).expect("json");
    let review = review["id"].as_str().expect("id").to_owned();
    let (status, body) = h.get("/api/v1/reviews", &admin_token, Some("acme"));
    assert_eq!(status, 200, "{body}");
    let listed: serde_json::Value = serde_json::from_str(&body).expect("json");
    let items = listed["reviews"][0]["items"]
        .as_array()
        .expect("items")
        .clone();
    assert_eq!(items.len(), 2, "{body}");
    let grant_of = |login_user: vigie_govern::grant::UserId| {
        items
            .iter()
            .find(|i| {
                i["grant"]["analyst"]
                    .as_str()
                    .and_then(|a| a.parse::<u64>().ok())
                    == Some(login_user.0)
            })
            .and_then(|i| i["grant"]["id"].as_str())
            .expect("item")
            .to_owned()
    };
    let (kept_grant, dropped_grant) = (grant_of(kept), grant_of(dropped));
    let (status, body) = h.post(
        &format!("/api/v1/reviews/{review}/grants/{kept_grant}/confirm"),
        &admin_token,
        Some("acme"),
        b"",
    );
    assert_eq!(status, 200, "{body}");
    // Answering twice is a conflict.
    let (status, _) = h.post(
        &format!("/api/v1/reviews/{review}/grants/{kept_grant}/remove"),
        &admin_token,
        Some("acme"),
        b"",
    );
    assert_eq!(status, 409);

    h.rt.block_on(async {
        // A contract that ended yesterday.
        sqlx_contract_end(&state, ended, at(-1)).await;
        // Before the deadline: only the idle and the ended accounts go.
        let pass = run_once(&state, server.auditor(), at(1))
            .await
            .expect("pass");
        assert_eq!(
            (pass.deactivated, pass.suspended, pass.closed),
            (2, 0, 0),
            "{pass:?}"
        );
        for (u, want) in [
            (idle, UserStatus::Deactivated),
            (ended, UserStatus::Deactivated),
            (kept, UserStatus::Active),
        ] {
            assert_eq!(
                state.user(u).await.expect("read").expect("user").status,
                want
            );
        }
        // At the deadline: the unconfirmed grant is suspended and the campaign closes, once.
        let pass = run_once(&state, server.auditor(), at(2))
            .await
            .expect("pass");
        assert_eq!((pass.suspended, pass.closed), (1, 1), "{pass:?}");
        let pass = run_once(&state, server.auditor(), at(3))
            .await
            .expect("pass");
        assert_eq!((pass.suspended, pass.closed), (0, 0), "{pass:?}");
        let grants = state.grants_on(&tenant).await.expect("grants");
        let status_of = |id: &str| {
            grants
                .iter()
                .find(|g| g.id.0.to_string() == id)
                .expect("grant")
                .grant
                .status
        };
        assert_eq!(status_of(&kept_grant), GrantStatus::Approved);
        assert_eq!(status_of(&dropped_grant), GrantStatus::Suspended);
        // Every change is in the trail: two deactivations on the platform chain, the
        // suspension on the tenant's.
        let platform = state
            .audit_rows(
                "platform",
                &AuditFilter {
                    action: Some("user-deactivate".into()),
                    ..AuditFilter::default()
                },
            )
            .await
            .expect("audit");
        assert_eq!(platform.len(), 2);
        let suspended = state
            .audit_rows(
                "tenant:acme",
                &AuditFilter {
                    action: Some("grant-suspend".into()),
                    ..AuditFilter::default()
                },
            )
            .await
            .expect("audit");
        assert_eq!(suspended.len(), 1);
        assert_eq!(
            suspended[0].record["objects"][0],
            format!("grant:{dropped_grant}")
        );
    });
}

/// Gives a user a contract end (as `vigie admin user create --contract-end` does at creation).
async fn sqlx_contract_end(
    state: &vigie_state::State,
    user: vigie_govern::grant::UserId,
    end: Timestamp,
) {
    state
        .set_contract_end(user, Some(end))
        .await
        .expect("contract end");
}
