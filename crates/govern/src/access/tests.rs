use super::*;
use crate::Tier;
use crate::grant::UserId;

const H: i64 = 3600 * 1_000_000_000;
const CLIENT: OrgId = OrgId(1);
const PROVIDER: OrgId = OrgId(2);
const OTHER_CLIENT: OrgId = OrgId(3);

fn now() -> Timestamp {
    Timestamp::from_nanos(1_800_000_000 * 1_000_000_000)
}

fn actor(user: u64, org: OrgId, role: Role) -> Actor {
    Actor {
        user: UserId(user),
        org,
        role,
    }
}

fn grant(analyst: Actor, tier: Tier, status: GrantStatus, from_h: i64, until_h: i64) -> Grant {
    Grant {
        analyst,
        requester: actor(99, PROVIDER, Role::ProviderAdmin),
        tenant_owner: CLIENT,
        tier,
        from: Timestamp::from_nanos(now().as_nanos() + from_h * H),
        until: Timestamp::from_nanos(now().as_nanos() + until_h * H),
        justification: "contract night shift".to_owned(),
        status,
    }
}

#[test]
fn client_users_reach_their_own_tenants_only() {
    let ana = actor(1, CLIENT, Role::ClientAnalyst);
    assert_eq!(
        role_on_tenant(&ana, CLIENT, &[], now()),
        Some(Role::ClientAnalyst)
    );
    assert_eq!(role_on_tenant(&ana, OTHER_CLIENT, &[], now()), None);
    assert_eq!(
        decide(&ana, Some(CLIENT), &[], Action::SearchEvents, now()),
        Decision::Allow(Role::ClientAnalyst)
    );
    assert!(matches!(
        decide(&ana, Some(OTHER_CLIENT), &[], Action::SearchEvents, now()),
        Decision::Deny(_)
    ));
    let auditor = actor(2, CLIENT, Role::Auditor);
    assert_eq!(
        decide(&auditor, Some(CLIENT), &[], Action::ReadAudit, now()),
        Decision::Allow(Role::Auditor)
    );
    assert_eq!(
        decide(&auditor, Some(CLIENT), &[], Action::ReadAlerts, now()),
        Decision::Deny("the role does not allow this action")
    );
}

#[test]
fn provider_analysts_reach_a_tenant_through_an_active_grant_with_its_tier() {
    let l = actor(20, PROVIDER, Role::ProviderAnalyst(Tier::L1));
    let active = grant(l, Tier::L2, GrantStatus::Approved, -1, 1);
    assert_eq!(
        role_on_tenant(&l, CLIENT, std::slice::from_ref(&active), now()),
        Some(Role::ProviderAnalyst(Tier::L2))
    );
    // The best of several active grants.
    let l3 = grant(l, Tier::L3, GrantStatus::Approved, -1, 1);
    assert_eq!(
        role_on_tenant(&l, CLIENT, &[active.clone(), l3], now()),
        Some(Role::ProviderAnalyst(Tier::L3))
    );
    // Pending, refused, revoked, suspended, expired, not yet started, another analyst's,
    // another tenant's: no access.
    let mut cases = vec![
        grant(l, Tier::L2, GrantStatus::Pending, -1, 1),
        grant(l, Tier::L2, GrantStatus::Refused, -1, 1),
        grant(l, Tier::L2, GrantStatus::Revoked, -1, 1),
        grant(l, Tier::L2, GrantStatus::Suspended, -1, 1),
        grant(l, Tier::L2, GrantStatus::Approved, -2, 0),
        grant(l, Tier::L2, GrantStatus::Approved, 1, 2),
        grant(
            actor(21, PROVIDER, Role::ProviderAnalyst(Tier::L1)),
            Tier::L2,
            GrantStatus::Approved,
            -1,
            1,
        ),
    ];
    let mut elsewhere = active.clone();
    elsewhere.tenant_owner = OTHER_CLIENT;
    cases.push(elsewhere);
    for g in cases {
        assert_eq!(
            role_on_tenant(&l, CLIENT, std::slice::from_ref(&g), now()),
            None,
            "{g:?}"
        );
        assert_eq!(
            decide(&l, Some(CLIENT), &[g], Action::ReadAlerts, now()),
            Decision::Deny("no access to this tenant (no active grant)")
        );
    }
    // With access, the tier decides: L1 does not search, L2 does.
    let l1 = grant(l, Tier::L1, GrantStatus::Approved, -1, 1);
    assert!(matches!(
        decide(&l, Some(CLIENT), &[l1], Action::SearchEvents, now()),
        Decision::Deny(_)
    ));
    assert_eq!(
        decide(&l, Some(CLIENT), &[active], Action::SearchEvents, now()),
        Decision::Allow(Role::ProviderAnalyst(Tier::L2))
    );
}

#[test]
fn provider_admins_reach_tenants_where_their_analysts_hold_grants() {
    let padm = actor(30, PROVIDER, Role::ProviderAdmin);
    let mine = actor(20, PROVIDER, Role::ProviderAnalyst(Tier::L1));
    let theirs = actor(40, OrgId(7), Role::ProviderAnalyst(Tier::L1));
    for status in [GrantStatus::Pending, GrantStatus::Approved] {
        let g = grant(mine, Tier::L1, status, -1, 1);
        assert_eq!(
            role_on_tenant(&padm, CLIENT, &[g], now()),
            Some(Role::ProviderAdmin)
        );
    }
    for status in [
        GrantStatus::Refused,
        GrantStatus::Revoked,
        GrantStatus::Suspended,
    ] {
        let g = grant(mine, Tier::L1, status, -1, 1);
        assert_eq!(
            role_on_tenant(&padm, CLIENT, &[g], now()),
            None,
            "{status:?}"
        );
    }
    let expired = grant(mine, Tier::L1, GrantStatus::Approved, -2, 0);
    assert_eq!(role_on_tenant(&padm, CLIENT, &[expired], now()), None);
    let another_provider = grant(theirs, Tier::L1, GrantStatus::Approved, -1, 1);
    assert_eq!(
        role_on_tenant(&padm, CLIENT, &[another_provider], now()),
        None
    );
    let mut elsewhere = grant(mine, Tier::L1, GrantStatus::Approved, -1, 1);
    elsewhere.tenant_owner = OTHER_CLIENT;
    assert_eq!(role_on_tenant(&padm, CLIENT, &[elsewhere], now()), None);
    // Reaching the tenant does not give its data.
    let g = grant(mine, Tier::L1, GrantStatus::Approved, -1, 1);
    assert!(matches!(
        decide(
            &padm,
            Some(CLIENT),
            std::slice::from_ref(&g),
            Action::ReadAlerts,
            now()
        ),
        Decision::Deny(_)
    ));
    assert_eq!(
        decide(&padm, Some(CLIENT), &[g], Action::ReadAudit, now()),
        Decision::Own(Role::ProviderAdmin)
    );
}

#[test]
fn the_operator_administers_the_instance_and_reaches_no_tenant() {
    let op = actor(1, OrgId(0), Role::Operator);
    assert_eq!(role_on_tenant(&op, CLIENT, &[], now()), None);
    assert_eq!(
        decide(&op, None, &[], Action::AdministerInstance, now()),
        Decision::Allow(Role::Operator)
    );
    assert!(matches!(
        decide(&op, Some(CLIENT), &[], Action::ReadAudit, now()),
        Decision::Deny(_)
    ));
    assert_eq!(
        decide(&op, Some(CLIENT), &[], Action::AdministerInstance, now()),
        Decision::Deny("instance administration names no tenant")
    );
    let admin = actor(2, CLIENT, Role::ClientAdmin);
    assert_eq!(
        decide(&admin, None, &[], Action::ReadAlerts, now()),
        Decision::Deny("this action is on a tenant: name one")
    );
    assert_eq!(
        decide(&admin, None, &[], Action::AdministerInstance, now()),
        Decision::Deny("the role does not allow this action")
    );
}
