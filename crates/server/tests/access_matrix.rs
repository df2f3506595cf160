//! The route × role × tenant matrix: every route of the API (walked from the route table,
//! so a new route is in it by construction) × every role and tier, and provider analysts
//! with an active, expired, revoked, pending or no grant, a user who has not enrolled the
//! second factor they must have, a suspended one, an ingest token, an unknown token and no
//! credentials × the own tenant and the other one. Each cell's expectation comes from the
//! access model written out below (who reaches which tenant, with which role) and the
//! permission table; the cell fails when an allowed caller is refused (401/403) or a
//! refused one is let through. Every response body is also searched for canaries: the
//! other tenant's, and the value of a sensitive field, which no provider user may see in
//! clear.

#![allow(clippy::print_stderr)]

mod common;

use std::collections::BTreeMap;

use common::{Harness, alerting_event};
use serde_json::Value;
use vigie_event::TenantId;
use vigie_event::time::Timestamp;
use vigie_govern::grant::{GrantStatus, UserId, Widening};
use vigie_govern::permission::{Action, Cell, allows};
use vigie_govern::{OrgKind, Role, Tier};
use vigie_server::api::{Need, ROUTES};
use vigie_server::console::PAGES;
use vigie_state::{GrantId, NewGrant, NewUser, State, TenantSettings, UserStatus};

const A: &str = "tenant-a";
const B: &str = "tenant-b";
const A_CANARY: &str = "ACANARY1717";
const B_CANARY: &str = "BCANARY9191";
const SENSITIVE_CANARY: &str = "PATIENT-CANARY-4242";
const HOUR: i64 = 3_600_000_000_000;

/// Whether `text` holds `canary`, in any case (the store folds keyword values to lower
/// case: a facet would show a value so).
fn has(text: &str, canary: &str) -> bool {
    text.to_lowercase().contains(&canary.to_lowercase())
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or(Value::Null)
}

/// Who calls.
#[derive(Clone, Debug)]
struct Caller {
    label: &'static str,
    token: String,
    kind: Kind,
}

#[derive(Clone, Debug, PartialEq)]
enum Kind {
    /// A person: their role, organisation (`A`, `B`, `P` provider, `O` operator), the
    /// tenant their active grant is on (provider analysts), whether a pending grant of
    /// theirs is on tenant A, and whether they may act at all (enrolled if they must,
    /// active).
    Person {
        role: Role,
        org: char,
        active_grant: Option<&'static str>,
        able: bool,
    },
    /// Tenant A's ingest token.
    Ingest,
    /// No credentials, or an unknown token.
    Nobody,
    /// A suspended user's token.
    Suspended,
}

/// The role `kind` acts with on `tenant`, per the access model (DESIGN.md 3b): client
/// roles on their organisation's tenant, provider analysts on the tenant of an active grant
/// with its tier, the provider admin where its analysts hold a pending or active grant
/// (tenant A), the operator nowhere.
fn reach(kind: &Kind, tenant: &str) -> Option<Role> {
    let Kind::Person {
        role,
        org,
        active_grant,
        ..
    } = kind
    else {
        return None;
    };
    match role.org_kind() {
        OrgKind::Client => {
            ((*org == 'A' && tenant == A) || (*org == 'B' && tenant == B)).then_some(*role)
        }
        OrgKind::Provider => match role {
            Role::ProviderAdmin => (tenant == A).then_some(*role),
            _ => (*active_grant == Some(tenant)).then_some(*role),
        },
        OrgKind::Operator => None,
    }
}

/// Whether the access model lets `kind` through the route's need on `tenant`.
fn expected(need: Need, path: &str, method: &str, kind: &Kind, tenant: &str) -> bool {
    let path = if method == "POST" { path } else { "" };
    if need == Need::Public {
        return true;
    }
    let (role, able) = match kind {
        Kind::Ingest => return need == Need::Ingest && tenant == A,
        Kind::Nobody | Kind::Suspended => return false,
        Kind::Person { role, able, .. } => (*role, *able),
    };
    if need == Need::Ingest {
        return false;
    }
    if need == Need::Own {
        // A user who must enrol a second factor may do nothing else until enrolled: not
        // even mint a token that would carry their rights.
        return able || (path != "/api/v1/me/tokens" && path != "/console/me/tokens");
    }
    if !able {
        return false;
    }
    let table = |r: Role, a: Action| allows(r, a) != Cell::Deny;
    let route_is_audit = matches!(need, Need::TenantOrInstance(Action::ReadAudit));
    match need {
        Need::Org(action) => allows(role, action) == Cell::Allow,
        Need::Instance => role == Role::Operator,
        Need::Tenant(action) => reach(kind, tenant).is_some_and(|r| table(r, action)),
        Need::TenantOrInstance(action) => {
            if role == Role::Operator {
                // The operator's audit trail is the platform chain, not a tenant's.
                !route_is_audit
            } else {
                reach(kind, tenant).is_some_and(|r| table(r, action))
            }
        }
        Need::Public | Need::Ingest | Need::Own => true,
    }
}

struct World {
    h: Harness,
    callers: Vec<Caller>,
    /// Per tenant: an alert id and an event id.
    objects: BTreeMap<&'static str, (String, String)>,
    spare: UserId,
    spare_admin: UserId,
    victim: UserId,
}

fn block<T>(h: &Harness, f: impl std::future::Future<Output = T>) -> T {
    h.rt.block_on(f)
}

fn state(h: &Harness) -> State {
    h.server.as_ref().expect("server").state().clone()
}

async fn user(
    state: &State,
    org: &str,
    kind: OrgKind,
    login: &str,
    role: Role,
    enrol: bool,
) -> (UserId, String) {
    let org = match state.org_by_name(org).await.expect("org") {
        Some(o) => o.id,
        None => state.create_org(org, kind).await.expect("create org"),
    };
    let id = state
        .create_user(&NewUser {
            org,
            login: login.to_owned(),
            name: login.to_owned(),
            role,
            password: None,
            contract_end: None,
        })
        .await
        .expect("user");
    if enrol {
        state.enrol_totp(id, "v1.test", &[]).await.expect("enrol");
    }
    let token = state
        .create_personal_token(
            id,
            "matrix",
            Timestamp::from_nanos(Timestamp::now().as_nanos() + 24 * HOUR),
        )
        .await
        .expect("token")
        .to_string();
    (id, token)
}

async fn grant(
    state: &State,
    analyst: UserId,
    requester: UserId,
    tier: Tier,
    status: GrantStatus,
    by: UserId,
    (from, until): (i64, i64),
) -> GrantId {
    let id = state
        .insert_grant(&NewGrant {
            analyst,
            requester,
            tenant: TenantId::new(A).expect("tenant"),
            tier,
            from: Timestamp::from_nanos(from),
            until: Timestamp::from_nanos(until),
            justification: "matrix test of the access model".into(),
        })
        .await
        .expect("grant");
    if status != GrantStatus::Pending {
        if status == GrantStatus::Revoked {
            assert!(
                state
                    .set_grant_status(
                        id,
                        GrantStatus::Pending,
                        GrantStatus::Approved,
                        by,
                        Timestamp::now()
                    )
                    .await
                    .expect("approve")
            );
            assert!(
                state
                    .set_grant_status(
                        id,
                        GrantStatus::Approved,
                        GrantStatus::Revoked,
                        by,
                        Timestamp::now()
                    )
                    .await
                    .expect("revoke")
            );
        } else {
            assert!(
                state
                    .set_grant_status(id, GrantStatus::Pending, status, by, Timestamp::now())
                    .await
                    .expect("decide")
            );
        }
    }
    id
}

fn world() -> World {
    // A live queue ends after a second, so that its cells end.
    let h = Harness::start(&[A, B], Vec::new(), |c| {
        c.console.live_max_s = 1;
        c.console.live_poll_ms = 200;
        // Rules may be written; nothing is ever sent (port 9 is discard, and the
        // notifier does not run).
        c.notify.webhook_allow = vec!["http://127.0.0.1:9/matrix/".into()];
        c.notify.poll_ms = 0;
    });
    // One alerting event per tenant, each with its canary; tenant A's also names a patient,
    // a field tenant A declares sensitive.
    for (tenant, canary) in [(A, A_CANARY), (B, B_CANARY)] {
        let event = alerting_event(canary, &format!("host-{tenant}"));
        let mut value: Value = serde_json::from_str(&event).expect("event");
        value["Event"]["EventData"]["patient_id"] = Value::from(SENSITIVE_CANARY);
        value["Event"]["EventData"]["CommandLine"] =
            Value::from(format!("powershell -nop {canary} {SENSITIVE_CANARY}"));
        let (status, body) = h.post(
            "/api/v1/ingest",
            &h.tokens[tenant],
            None,
            format!("{value}\n").as_bytes(),
        );
        assert_eq!(status, 200, "{body}");
    }
    h.settle();
    let mut objects = BTreeMap::new();
    for tenant in [A, B] {
        let (status, body) = h.get("/api/v1/alerts", &h.readers[tenant], None);
        assert_eq!(status, 200, "{body}");
        let alert = &json(&body)["alerts"][0];
        objects.insert(
            tenant,
            (
                alert["id"].as_str().expect("alert").to_owned(),
                alert["event_id"].as_str().expect("event").to_owned(),
            ),
        );
    }
    let s = state(&h);
    let now = Timestamp::now().as_nanos();
    let (callers, spare, spare_admin, victim) = block(&h, async {
        s.set_tenant_settings(
            &TenantId::new(A).expect("tenant"),
            &TenantSettings {
                sensitive_fields: vec!["patient_id".into(), "CommandLine".into()],
                max_elevation_hours: 4,
                grouping: Default::default(),
            },
        )
        .await
        .expect("settings");
        let mut callers = Vec::new();
        let mut person = |label: &'static str,
                          token: String,
                          role: Role,
                          org: char,
                          active_grant: Option<&'static str>,
                          able: bool| {
            callers.push(Caller {
                label,
                token,
                kind: Kind::Person {
                    role,
                    org,
                    active_grant,
                    able,
                },
            });
        };
        let (admin_a, t) = user(&s, A, OrgKind::Client, "admin-a", Role::ClientAdmin, true).await;
        person("client-admin", t, Role::ClientAdmin, 'A', None, true);
        let (_, t) = user(&s, A, OrgKind::Client, "ciso-a", Role::Ciso, false).await;
        person("ciso", t, Role::Ciso, 'A', None, true);
        let (_, t) = user(
            &s,
            A,
            OrgKind::Client,
            "analyst-a",
            Role::ClientAnalyst,
            false,
        )
        .await;
        person("client-analyst", t, Role::ClientAnalyst, 'A', None, true);
        let (_, t) = user(&s, A, OrgKind::Client, "auditor-a", Role::Auditor, false).await;
        person("auditor", t, Role::Auditor, 'A', None, true);
        let (_, t) = user(&s, B, OrgKind::Client, "admin-b", Role::ClientAdmin, true).await;
        person("other-client-admin", t, Role::ClientAdmin, 'B', None, true);
        let (padmin, t) = user(
            &s,
            "Provider",
            OrgKind::Provider,
            "padmin",
            Role::ProviderAdmin,
            true,
        )
        .await;
        person("provider-admin", t, Role::ProviderAdmin, 'P', None, true);
        for (label, login, tier) in [
            ("l1", "l1", Tier::L1),
            ("l2", "l2", Tier::L2),
            ("l3", "l3", Tier::L3),
        ] {
            let (id, t) = user(
                &s,
                "Provider",
                OrgKind::Provider,
                login,
                Role::ProviderAnalyst(tier),
                true,
            )
            .await;
            grant(
                &s,
                id,
                padmin,
                tier,
                GrantStatus::Approved,
                admin_a,
                (now - HOUR, now + 24 * HOUR),
            )
            .await;
            person(label, t, Role::ProviderAnalyst(tier), 'P', Some(A), true);
        }
        let l2 = Role::ProviderAnalyst(Tier::L2);
        let (id, t) = user(&s, "Provider", OrgKind::Provider, "l2-expired", l2, true).await;
        grant(
            &s,
            id,
            padmin,
            Tier::L2,
            GrantStatus::Approved,
            admin_a,
            (now - 48 * HOUR, now - HOUR),
        )
        .await;
        person("l2-expired-grant", t, l2, 'P', None, true);
        let (id, t) = user(&s, "Provider", OrgKind::Provider, "l2-revoked", l2, true).await;
        grant(
            &s,
            id,
            padmin,
            Tier::L2,
            GrantStatus::Revoked,
            admin_a,
            (now - HOUR, now + 24 * HOUR),
        )
        .await;
        person("l2-revoked-grant", t, l2, 'P', None, true);
        let (id, t) = user(&s, "Provider", OrgKind::Provider, "l2-pending", l2, true).await;
        grant(
            &s,
            id,
            padmin,
            Tier::L2,
            GrantStatus::Pending,
            admin_a,
            (now - HOUR, now + 24 * HOUR),
        )
        .await;
        person("l2-pending-grant", t, l2, 'P', None, true);
        let (_, t) = user(&s, "Provider", OrgKind::Provider, "l2-none", l2, true).await;
        person("l2-no-grant", t, l2, 'P', None, true);
        let (id, t) = user(
            &s,
            "Provider",
            OrgKind::Provider,
            "l2-unenrolled",
            l2,
            false,
        )
        .await;
        grant(
            &s,
            id,
            padmin,
            Tier::L2,
            GrantStatus::Approved,
            admin_a,
            (now - HOUR, now + 24 * HOUR),
        )
        .await;
        person("l2-without-mfa", t, l2, 'P', Some(A), false);
        let (_, t) = user(
            &s,
            "Operator",
            OrgKind::Operator,
            "operator-2",
            Role::Operator,
            true,
        )
        .await;
        person("operator", t, Role::Operator, 'O', None, true);
        // Not callers: an analyst whose grants the decision cells create and decide, and a
        // client analyst the user cells suspend and reactivate.
        let (spare, _) = user(
            &s,
            "Provider",
            OrgKind::Provider,
            "spare",
            Role::ProviderAnalyst(Tier::L3),
            true,
        )
        .await;
        grant(
            &s,
            spare,
            padmin,
            Tier::L3,
            GrantStatus::Approved,
            admin_a,
            (now - HOUR, now + 24 * HOUR),
        )
        .await;
        let (victim, _) = user(
            &s,
            A,
            OrgKind::Client,
            "victim-a",
            Role::ClientAnalyst,
            false,
        )
        .await;
        let (suspended, t) = user(
            &s,
            A,
            OrgKind::Client,
            "suspended-a",
            Role::ClientAnalyst,
            false,
        )
        .await;
        s.set_user_status(suspended, UserStatus::Suspended)
            .await
            .expect("suspend");
        callers.push(Caller {
            label: "suspended",
            token: t,
            kind: Kind::Suspended,
        });
        callers.push(Caller {
            label: "ingest-token",
            token: h.tokens[A].clone(),
            kind: Kind::Ingest,
        });
        callers.push(Caller {
            label: "unknown-token",
            token: format!("vgp_{}", "A".repeat(43)),
            kind: Kind::Nobody,
        });
        callers.push(Caller {
            label: "no-credentials",
            token: String::new(),
            kind: Kind::Nobody,
        });
        (callers, spare, padmin, victim)
    });
    World {
        h,
        callers,
        objects,
        spare,
        spare_admin,
        victim,
    }
}

/// The concrete path of `route` for `tenant`'s objects, and a body for a POST: built so
/// that an allowed caller's request succeeds (fresh grants and elevations to decide).
fn concrete(w: &World, method: &str, route: &str, tenant: &'static str) -> (String, Vec<u8>) {
    let (alert, event) = &w.objects[tenant];
    let s = state(&w.h);
    let now = Timestamp::now().as_nanos();
    let mut path = route
        .replace("/alerts/{id}", &format!("/alerts/{alert}"))
        .replace("/events/{id}", &format!("/events/{event}"))
        .replace("/quarantine/{id}", "/quarantine/0000000000000001")
        .replace("/users/{id}", &format!("/users/{}", w.victim.0))
        .replace("/me/tokens/{id}", "/me/tokens/0000000000000000")
        .replace("/reviews/{id}/grants/{grant}", "/reviews/1/grants/1")
        .replace("/events/terms", "/events/terms?field=Image");
    if route.contains("/hunts/{id}") {
        path = path.replace("{id}", "1");
    }
    if route.contains("/suppressions/{id}") {
        path = path.replace("{id}", "1");
    }
    if route.contains("/notification-rules/{id}") {
        // The tenant's rule, made again when a cell deleted it.
        let t = TenantId::new(tenant).expect("tenant");
        let id = block(&w.h, async {
            match s.notify_rules(&t).await.expect("rules").first() {
                Some(rule) => rule.id,
                None => s
                    .insert_notify_rule(&t, &matrix_rule(), None)
                    .await
                    .expect("rule"),
            }
        });
        path = path.replace("{id}", &id.0.to_string());
    }
    if route.contains("/alert-groups/{id}") {
        path = path.replace("{id}", &group_of(w, tenant));
    }
    if route.starts_with("/api/v1/grants/{id}") {
        let id = block(
            &w.h,
            grant(
                &s,
                w.spare,
                w.spare_admin,
                Tier::L2,
                GrantStatus::Pending,
                w.spare,
                (now, now + HOUR),
            ),
        );
        path = route.replace("{id}", &id.0.to_string());
    }
    if route.starts_with("/api/v1/elevations/{id}") {
        let spare_grant = block(&w.h, async {
            s.grants_on(&TenantId::new(A).expect("tenant"))
                .await
                .expect("grants")
                .into_iter()
                .find(|g| {
                    g.grant.analyst.user == w.spare && g.grant.status == GrantStatus::Approved
                })
                .expect("the spare's grant")
                .id
        });
        let id = block(
            &w.h,
            s.insert_elevation(
                spare_grant,
                &w.objects[A].0,
                Widening::Tier(Tier::L3),
                1,
                "matrix elevation request",
            ),
        )
        .expect("elevation");
        path = route.replace("{id}", &id.0.to_string());
    }
    let until = Timestamp::from_nanos(now + 24 * HOUR).to_rfc3339(vigie_event::UtcOffset::UTC);
    let body = match (method, route) {
        ("POST", "/api/v1/orgs") => format!(r#"{{"name":"org-{now}","kind":"client"}}"#),
        ("POST", "/api/v1/users") => {
            format!(r#"{{"login":"u{now}","name":"someone","role":"client-analyst"}}"#)
        }
        ("POST", "/api/v1/grants") => format!(
            r#"{{"analyst":"l2-none","tenant":"{A}","tier":"l2","until":"{until}","justification":"matrix grant request"}}"#
        ),
        ("POST", "/api/v1/elevations") => format!(
            r#"{{"alert":"{alert}","widening":"l3","hours":1,"justification":"matrix elevation request"}}"#
        ),
        ("POST", "/api/v1/me/tokens") => r#"{"label":"matrix","days":1}"#.to_owned(),
        ("POST", "/api/v1/reviews") => {
            let deadline =
                Timestamp::from_nanos(now + 7 * 24 * HOUR).to_rfc3339(vigie_event::UtcOffset::UTC);
            format!(r#"{{"deadline":"{deadline}"}}"#)
        }
        ("POST", "/api/v1/ingest") => "{\"message\":\"matrix\"}\n".to_owned(),
        ("POST", "/api/v1/alerts/bulk") => {
            format!(r#"{{"ids":["{alert}"],"action":"acknowledge"}}"#)
        }
        ("POST", "/api/v1/alerts/{id}/assign") => "{}".to_owned(),
        ("POST", "/api/v1/alerts/{id}/comments") => r#"{"text":"matrix comment"}"#.to_owned(),
        ("POST", "/api/v1/alert-groups/{id}/transitions") => {
            r#"{"action":"acknowledge"}"#.to_owned()
        }
        ("PUT", "/api/v1/assets") => "host,criticality\nmatrix-host,high\n".to_owned(),
        ("PUT", "/api/v1/sources") => {
            r#"{"source":"matrix","host":"nowhere","threshold_s":60}"#.to_owned()
        }
        ("POST", "/api/v1/hunts") => serde_json::json!({
            "document": "title: matrix hunt\nlogsource: {product: windows}\ndetection:\n  s:\n    Image|endswith: x.exe\n  condition: s\n",
        })
        .to_string(),
        ("POST", "/api/v1/suppressions/preview") => {
            serde_json::json!({ "document": MATRIX_SUPPRESSION }).to_string()
        }
        ("POST", "/api/v1/notification-rules") => {
            serde_json::to_string(&matrix_rule()).expect("json")
        }
        ("POST", "/api/v1/notification-rules/{id}/enabled") => r#"{"enabled":false}"#.to_owned(),
        ("POST", "/api/v1/suppressions") => serde_json::json!({
            "document": MATRIX_SUPPRESSION, "justification": "matrix suppression",
        })
        .to_string(),
        _ => String::new(),
    };
    (path, body.into_bytes())
}

/// A notification rule the matrix writes (never sent: see `world`).
fn matrix_rule() -> vigie_govern::notify::RuleSpec {
    vigie_govern::notify::RuleSpec {
        name: "matrix".into(),
        trigger: vigie_govern::notify::Trigger::Approval,
        channel: vigie_govern::notify::Channel::Webhook {
            url: "http://127.0.0.1:9/matrix/hook".into(),
        },
    }
}

/// A suppression the matrix previews and creates.
const MATRIX_SUPPRESSION: &str =
    "title: matrix\nfilter:\n  rules: [matrix-rule]\n  s:\n    Image: x\n  condition: not s\n";

/// The group of `tenant`'s object alert.
fn group_of(w: &World, tenant: &'static str) -> String {
    let (alert, _) = &w.objects[tenant];
    block(&w.h, async {
        state(&w.h)
            .alert(
                &TenantId::new(tenant).expect("tenant"),
                &alert.parse().expect("alert id"),
            )
            .await
            .expect("read")
            .expect("the alert")
            .group
            .expect("its group")
    })
}

fn call(
    h: &Harness,
    method: &str,
    path: &str,
    token: &str,
    tenant: &str,
    body: &[u8],
) -> (u16, String) {
    let url = h.url(path);
    let mut builder = ureq::http::Request::builder()
        .method(method)
        .uri(&url)
        .header("Vigie-Tenant", tenant);
    if !token.is_empty() {
        builder = builder.header("Authorization", format!("Bearer {token}"));
    }
    if !body.is_empty() {
        let csv = body.starts_with(b"host,");
        builder = builder.header(
            "Content-Type",
            if csv { "text/csv" } else { "application/json" },
        );
    }
    let mut response = h
        .agent
        .run(builder.body(body.to_vec()).expect("request"))
        .expect("response");
    let status = response.status().as_u16();
    (
        status,
        response.body_mut().read_to_string().unwrap_or_default(),
    )
}

#[test]
fn every_route_every_role_every_tenant() {
    let w = world();
    let mut cells = 0;
    let mut failures = Vec::new();
    // The cells that change state (suspensions, sign-outs, token revocations) come after
    // the others, route by route, in the table's order; sign-out would end nothing here
    // (tokens, not sessions).
    for (method, route, need) in ROUTES {
        for caller in &w.callers {
            for tenant in [A, B] {
                let (path, body) = concrete(&w, method, route, tenant);
                let (status, text) = call(&w.h, method, &path, &caller.token, tenant, &body);
                cells += 1;
                let want = expected(*need, route, method, &caller.kind, tenant);
                // Replacing an enrolled second factor takes a code of the current one: the
                // caller is let in, the request is incomplete.
                let code = json(&text)["error"]["code"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned();
                let denied = status == 401 || (status == 403 && code != "code_required");
                // An object of a tenant the caller does not reach is hidden as not found.
                let hidden = status == 404 && route.contains('{');
                let ok = if want {
                    !denied && status < 500
                } else {
                    denied || hidden
                };
                if !ok {
                    failures.push(format!(
                        "{method} {route} as {} on {tenant}: HTTP {status}, expected {}: {}",
                        caller.label,
                        if want { "allowed" } else { "refused" },
                        text.chars().take(200).collect::<String>()
                    ));
                }
                // No byte of another tenant's data.
                let reaches_b = matches!(caller.kind, Kind::Person { org: 'B', .. });
                let reaches_a = matches!(caller.kind, Kind::Person { org: 'A' | 'P', .. })
                    || caller.kind == Kind::Ingest;
                if (!reaches_b && has(&text, B_CANARY)) || (!reaches_a && has(&text, A_CANARY)) {
                    failures.push(format!(
                        "{method} {route} as {} on {tenant}: another tenant's canary in {text}",
                        caller.label
                    ));
                }
                // No sensitive value in clear for a provider user (none has a clear-fields
                // elevation here).
                if let Kind::Person { role, .. } = caller.kind
                    && role.org_kind() == OrgKind::Provider
                    && has(&text, SENSITIVE_CANARY)
                {
                    failures.push(format!(
                        "{method} {route} as {}: the sensitive value in clear: {text}",
                        caller.label
                    ));
                }
            }
        }
    }
    eprintln!(
        "route × role × tenant matrix: {} routes × {} callers × 2 tenants = {cells} cells",
        ROUTES.len(),
        w.callers.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {cells} cells failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(cells, ROUTES.len() * w.callers.len() * 2);

    // The cells left their records in tenant A's chain: each names the route's action and
    // the caller's address, allowed or refused.
    let trail = block(&w.h, async {
        state(&w.h)
            .audit_rows(
                &vigie_state::audit::tenant_chain(A),
                &vigie_state::audit::AuditFilter {
                    action: Some("search-events".into()),
                    limit: Some(1000),
                    ..Default::default()
                },
            )
            .await
            .expect("audit")
    });
    assert!(!trail.is_empty(), "no search-events record on tenant A");
    for r in &trail {
        assert_eq!(r.record["action"], "search-events");
        assert_eq!(r.record["who"]["address"], "127.0.0.1", "{}", r.record);
    }
    assert!(trail.iter().any(|r| r.record["outcome"] == "allowed"));
    assert!(trail.iter().any(|r| r.record["outcome"] == "refused"));
}

#[test]
fn a_request_naming_no_tenant_reaches_the_callers_only_one() {
    let w = world();
    let token = |label: &str| {
        w.callers
            .iter()
            .find(|c| c.label == label)
            .expect("caller")
            .token
            .clone()
    };
    // An analyst with one active grant: its tenant.
    let (status, body) = w.h.get("/api/v1/alerts", &token("l1"), None);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(&w.objects[A].0), "{body}");
    // Another analyst's grants do not count: none of their own is active.
    let (status, body) = w.h.get("/api/v1/alerts", &token("l2-expired-grant"), None);
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("no access to any tenant"), "{body}");
    // A client with one tenant: it; with two: the request must name one.
    let (status, _) = w.h.get("/api/v1/alerts", &token("client-analyst"), None);
    assert_eq!(status, 200);
    block(&w.h, async {
        let s = state(&w.h);
        let owner = s.org_by_name(A).await.expect("org").expect("A").id;
        s.create_tenant_for(&TenantId::new("tenant-c").expect("tenant"), owner)
            .await
            .expect("second tenant");
    });
    let (status, body) = w.h.get("/api/v1/alerts", &token("client-analyst"), None);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("bad_tenant"), "{body}");
}

/// The concrete path of console page `route` for `tenant`'s objects, and a form body.
fn concrete_page(w: &World, method: &str, route: &str, tenant: &'static str) -> (String, Vec<u8>) {
    let (alert, _) = &w.objects[tenant];
    let api_like = route
        .replace("/console/access/grants/{id}", "/api/v1/grants/{id}")
        .replace("/console/access/elevations/{id}", "/api/v1/elevations/{id}");
    // Fresh grants and elevations to decide, as the API's cells make them.
    let (decided, _) = concrete(w, method, &api_like, tenant);
    let mut path = route
        .replace("{tenant}", tenant)
        .replace("/alerts/{id}", &format!("/alerts/{alert}"))
        .replace("/users/{id}", &format!("/users/{}", w.victim.0))
        .replace("/me/tokens/{id}", "/me/tokens/0000000000000000")
        .replace("/assets/{name}", "/assets/none.css");
    if route.contains("/groups/{id}") {
        path = path.replace("{id}", &group_of(w, tenant));
    }
    if route.contains("/notifications/{id}") {
        let (rule, _) = concrete(w, "GET", "/api/v1/notification-rules/{id}", tenant);
        let id = rule.rsplit('/').next().unwrap_or_default();
        path = path.replace("{id}", id);
    }
    if api_like != route {
        path = decided
            .replace("/api/v1/grants/", "/console/access/grants/")
            .replace("/api/v1/elevations/", "/console/access/elevations/");
    }
    let now = Timestamp::now().as_nanos();
    let until = Timestamp::from_nanos(now + 24 * HOUR).to_rfc3339(vigie_event::UtcOffset::UTC);
    let body = match (method, route) {
        ("POST", "/console/users") => format!("login=c{now}&name=someone&role=client-analyst"),
        ("POST", "/console/access/grants") => format!(
            "analyst=l2-none&tenant={A}&tier=l2&until={}&justification=matrix+grant+request",
            until.replace(':', "%3A")
        ),
        ("POST", "/console/me/tokens") => "label=matrix&days=1".to_owned(),
        ("POST", "/console/me/language") => "lang=fr".to_owned(),
        ("POST", "/console/signin") => "login=nobody&password=wrong".to_owned(),
        ("POST", "/console/signin/code") => "pending=v1.x&code=000000".to_owned(),
        ("POST", "/console/me/mfa/confirm" | "/console/me/step-up") => "code=000000".to_owned(),
        ("POST", "/console/t/{tenant}/alerts/bulk") => {
            format!("alert={alert}&scope=selection&action=acknowledge")
        }
        ("POST", "/console/t/{tenant}/alerts/{id}/comment") => "text=matrix".to_owned(),
        ("POST", "/console/t/{tenant}/groups/{id}/transition") => "action=acknowledge".to_owned(),
        ("POST", "/console/t/{tenant}/notifications") => {
            "name=matrix&on=approval&kind=webhook&url=http%3A%2F%2F127.0.0.1%3A9%2Fmatrix%2Fhook"
                .to_owned()
        }
        ("POST", "/console/t/{tenant}/notifications/{id}/enabled") => "enabled=0".to_owned(),
        ("POST", "/console/t/{tenant}/hunts") => "document=title%3A+matrix%0Alogsource%3A+%7Bproduct%3A+windows%7D%0Adetection%3A%0A++s%3A%0A++++Image%3A+x%0A++condition%3A+s%0A&from=-1d".to_owned(),
        _ => String::new(),
    };
    (path, body.into_bytes())
}

/// A console request with a bearer token (a page takes a session or a token, as the API
/// does): (status, where it redirects, body).
fn call_page(
    h: &Harness,
    method: &str,
    path: &str,
    token: &str,
    body: &[u8],
) -> (u16, String, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(std::time::Duration::from_secs(30)))
        .build()
        .into();
    let mut builder = ureq::http::Request::builder()
        .method(method)
        .uri(h.url(path));
    if !token.is_empty() {
        builder = builder.header("Authorization", format!("Bearer {token}"));
    }
    if method == "POST" {
        builder = builder.header("Content-Type", "application/x-www-form-urlencoded");
    }
    let mut response = agent
        .run(builder.body(body.to_vec()).expect("request"))
        .expect("response");
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    (
        response.status().as_u16(),
        location,
        response.body_mut().read_to_string().unwrap_or_default(),
    )
}

#[test]
fn every_console_page_every_role_every_tenant() {
    let w = world();
    let mut cells = 0;
    let mut failures = Vec::new();
    for (method, route, need) in PAGES {
        for caller in &w.callers {
            for tenant in [A, B] {
                let (path, body) = concrete_page(&w, method, route, tenant);
                let (status, location, text) = call_page(&w.h, method, &path, &caller.token, &body);
                cells += 1;
                // The tenant of a console page is the one its path names.
                let want = expected(*need, route, method, &caller.kind, tenant);
                // Refused: 401/403, or sent to the sign-in page (no or an ended session)
                // or to the second factor's enrolment.
                // Replacing an enrolled second factor takes a code of the current one: the
                // caller is let in, the form is incomplete (the API's `code_required`).
                let incomplete = text.contains("takes a code of the current one");
                let denied = ((status == 401 || status == 403) && !incomplete)
                    || location.starts_with("/console/signin?next=")
                    || location == "/console/me/mfa";
                let hidden = status == 404 && route.contains('{');
                let ok = if *need == Need::Public {
                    // The sign-in pages answer wrong credentials with 401: the route at
                    // work, not a refusal of access.
                    status < 500
                } else if want {
                    !denied && status < 500
                } else {
                    denied || hidden
                };
                if !ok {
                    failures.push(format!(
                        "{method} {route} as {} on {tenant}: HTTP {status} {location}, expected {}: {}",
                        caller.label,
                        if want { "allowed" } else { "refused" },
                        text.chars().take(300).collect::<String>()
                    ));
                }
                let reaches_b = matches!(caller.kind, Kind::Person { org: 'B', .. });
                let reaches_a = matches!(caller.kind, Kind::Person { org: 'A' | 'P', .. })
                    || caller.kind == Kind::Ingest;
                if (!reaches_b && has(&text, B_CANARY)) || (!reaches_a && has(&text, A_CANARY)) {
                    failures.push(format!(
                        "{method} {route} as {} on {tenant}: another tenant's canary",
                        caller.label
                    ));
                }
                if let Kind::Person { role, .. } = caller.kind
                    && role.org_kind() == OrgKind::Provider
                    && has(&text, SENSITIVE_CANARY)
                {
                    failures.push(format!(
                        "{method} {route} as {}: the sensitive value in clear",
                        caller.label
                    ));
                }
            }
        }
    }
    eprintln!(
        "console page × role × tenant matrix: {} pages × {} callers × 2 tenants = {cells} cells",
        PAGES.len(),
        w.callers.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {cells} cells failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(cells, PAGES.len() * w.callers.len() * 2);
}

#[test]
fn a_provider_gets_no_facet_of_a_sensitive_field() {
    let w = world();
    let token = |label: &str| {
        w.callers
            .iter()
            .find(|c| c.label == label)
            .expect("caller")
            .token
            .clone()
    };
    // An L2 searches tenant A, whose patient_id is sensitive: its top values would tell
    // them, even as counts.
    let (status, body) = w.h.get(
        "/api/v1/events/terms?field=patient_id",
        &token("l2"),
        Some(A),
    );
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("sensitive_field"), "{body}");
    assert!(
        !body
            .to_lowercase()
            .contains(&SENSITIVE_CANARY.to_lowercase())
    );
    // A field that is not sensitive is fine; a query naming a sensitive one is not.
    let (status, body) =
        w.h.get("/api/v1/events/terms?field=Image", &token("l2"), Some(A));
    assert_eq!(status, 200, "{body}");
    let (status, body) = w.h.get(
        "/api/v1/events/terms?field=Image&q=patient_id:x",
        &token("l2"),
        Some(A),
    );
    assert_eq!(status, 403, "{body}");
    // The client's own analyst sees the values in clear.
    let (status, body) = w.h.get(
        "/api/v1/events/terms?field=patient_id",
        &token("client-analyst"),
        Some(A),
    );
    assert_eq!(status, 200, "{body}");
    // (The store indexes keyword values folded to lower case, and counts them so.)
    assert!(body.contains(&SENSITIVE_CANARY.to_lowercase()), "{body}");
}
