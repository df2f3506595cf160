use super::*;

const H: i64 = 3600 * 1_000_000_000;

fn t(hours: i64) -> Timestamp {
    Timestamp::from_nanos(1_800_000_000 * 1_000_000_000 + hours * H)
}

const PROVIDER: OrgId = OrgId(2);
const CLIENT: OrgId = OrgId(1);

fn analyst() -> Actor {
    Actor {
        user: UserId(20),
        org: PROVIDER,
        role: Role::ProviderAnalyst(Tier::L1),
    }
}

fn padmin() -> Actor {
    Actor {
        user: UserId(21),
        org: PROVIDER,
        role: Role::ProviderAdmin,
    }
}

fn cadmin() -> Actor {
    Actor {
        user: UserId(10),
        org: CLIENT,
        role: Role::ClientAdmin,
    }
}

fn grant() -> Grant {
    Grant {
        analyst: analyst(),
        requester: padmin(),
        tenant_owner: CLIENT,
        tier: Tier::L1,
        from: t(0),
        until: t(24),
        justification: "night shift triage for the contract".to_owned(),
        status: GrantStatus::Pending,
    }
}

fn refused(r: Result<(), GovernError>, words: &str) {
    let e = r.expect_err(words);
    assert!(e.to_string().contains(words), "{e} does not say {words:?}");
}

#[test]
fn a_grant_lasts_at_most_366_days() {
    assert_eq!(MAX_GRANT_NANOS, 31_622_400_000_000_000);
}

#[test]
fn a_good_request_passes_and_each_rule_refuses_its_case() {
    assert_eq!(check_request(&grant(), t(0)), Ok(()));
    let mut g = grant();
    g.requester = cadmin();
    refused(check_request(&g, t(0)), "only a provider admin");
    let mut g = grant();
    g.analyst.role = Role::ClientAnalyst;
    refused(check_request(&g, t(0)), "for a provider analyst");
    let mut g = grant();
    g.requester.org = OrgId(3);
    refused(check_request(&g, t(0)), "not of the same organisation");
    let mut g = grant();
    g.tenant_owner = PROVIDER;
    refused(check_request(&g, t(0)), "cannot own the tenant");
    let mut g = grant();
    g.until = g.from;
    refused(check_request(&g, t(0)), "ends before it starts");
    // Ending exactly now is ended.
    refused(check_request(&grant(), t(24)), "already have ended");
    assert_eq!(check_request(&grant(), t(23)), Ok(()));
    let mut g = grant();
    g.until = Timestamp::from_nanos(g.from.as_nanos() + MAX_GRANT_NANOS);
    assert_eq!(
        check_request(&g, t(0)),
        Ok(()),
        "366 days exactly is allowed"
    );
    g.until = Timestamp::from_nanos(g.from.as_nanos() + MAX_GRANT_NANOS + 1);
    refused(check_request(&g, t(0)), "at most 366 days");
    let mut g = grant();
    g.justification = "  because  ".to_owned();
    refused(check_request(&g, t(0)), "must say why");
    g.justification = "1234567890".to_owned();
    assert_eq!(check_request(&g, t(0)), Ok(()), "10 characters is enough");
    let mut g = grant();
    g.status = GrantStatus::Approved;
    refused(check_request(&g, t(0)), "pending");
}

#[test]
fn only_the_owners_admin_decides_and_never_the_requester() {
    assert_eq!(check_decision(&grant(), &cadmin()), Ok(()));
    refused(check_decision(&grant(), &padmin()), "only a client admin");
    let ciso = Actor {
        role: Role::Ciso,
        ..cadmin()
    };
    refused(check_decision(&grant(), &ciso), "only a client admin");
    let other_client = Actor {
        org: OrgId(9),
        ..cadmin()
    };
    refused(check_decision(&grant(), &other_client), "does not own");
    let mut g = grant();
    g.requester.user = cadmin().user;
    refused(check_decision(&g, &cadmin()), "own request");
    let mut g = grant();
    g.analyst.user = cadmin().user;
    refused(check_decision(&g, &cadmin()), "own request");
    let mut g = grant();
    g.status = GrantStatus::Refused;
    refused(check_decision(&g, &cadmin()), "no longer pending");
}

#[test]
fn revocation_by_either_side_of_the_contract() {
    let mut g = grant();
    g.status = GrantStatus::Approved;
    assert_eq!(check_revocation(&g, &cadmin()), Ok(()));
    assert_eq!(check_revocation(&g, &padmin()), Ok(()));
    refused(check_revocation(&g, &analyst()), "only the tenant owner");
    let stranger = Actor {
        org: OrgId(9),
        ..padmin()
    };
    refused(check_revocation(&g, &stranger), "only the tenant owner");
    let stranger = Actor {
        org: OrgId(9),
        ..cadmin()
    };
    refused(check_revocation(&g, &stranger), "only the tenant owner");
    g.status = GrantStatus::Pending;
    assert_eq!(check_revocation(&g, &cadmin()), Ok(()));
    for ended in [
        GrantStatus::Revoked,
        GrantStatus::Refused,
        GrantStatus::Suspended,
    ] {
        g.status = ended;
        refused(check_revocation(&g, &cadmin()), "already ended");
    }
}

#[test]
fn a_grant_is_active_only_approved_and_within_its_window() {
    let mut g = grant();
    assert!(!is_active(&g, t(1)), "pending");
    g.status = GrantStatus::Approved;
    assert!(!is_active(&g, Timestamp::from_nanos(t(0).as_nanos() - 1)));
    assert!(is_active(&g, t(0)), "from is inclusive");
    assert!(is_active(&g, Timestamp::from_nanos(t(24).as_nanos() - 1)));
    assert!(!is_active(&g, t(24)), "until is exclusive");
    for ended in [
        GrantStatus::Revoked,
        GrantStatus::Suspended,
        GrantStatus::Refused,
    ] {
        g.status = ended;
        assert!(!is_active(&g, t(1)), "{ended:?}");
    }
}

#[test]
fn elevations_widen_one_alert_for_a_bounded_time() {
    assert_eq!(
        check_elevation(true, Tier::L1, Widening::Tier(Tier::L2), 4, 8),
        Ok(())
    );
    assert_eq!(
        check_elevation(true, Tier::L1, Widening::ClearFields, 8, 8),
        Ok(())
    );
    let e = |r: Result<(), GovernError>| r.unwrap_err().to_string();
    assert!(
        e(check_elevation(
            false,
            Tier::L1,
            Widening::ClearFields,
            1,
            8
        ))
        .contains("no active grant")
    );
    assert!(
        e(check_elevation(
            true,
            Tier::L2,
            Widening::Tier(Tier::L2),
            1,
            8
        ))
        .contains("not above")
    );
    assert!(
        e(check_elevation(
            true,
            Tier::L3,
            Widening::Tier(Tier::L2),
            1,
            8
        ))
        .contains("not above")
    );
    assert!(
        e(check_elevation(true, Tier::L1, Widening::ClearFields, 0, 8))
            .contains("at least an hour")
    );
    assert!(
        e(check_elevation(true, Tier::L1, Widening::ClearFields, 9, 8)).contains("at most 8 hours")
    );

    let up = Elevation {
        grant_tier: Tier::L1,
        widening: Widening::Tier(Tier::L3),
        from: t(0),
        until: t(4),
        approved: true,
    };
    assert_eq!(effective_tier(Tier::L1, None, t(1)), Tier::L1);
    assert_eq!(effective_tier(Tier::L1, Some(&up), t(1)), Tier::L3);
    assert_eq!(
        effective_tier(Tier::L1, Some(&up), t(0)),
        Tier::L3,
        "from is inclusive"
    );
    assert_eq!(
        effective_tier(Tier::L1, Some(&up), t(4)),
        Tier::L1,
        "until is exclusive"
    );
    assert_eq!(
        effective_tier(
            Tier::L1,
            Some(&up),
            Timestamp::from_nanos(t(0).as_nanos() - 1)
        ),
        Tier::L1
    );
    let pending = Elevation {
        approved: false,
        ..up
    };
    assert_eq!(effective_tier(Tier::L1, Some(&pending), t(1)), Tier::L1);
    let clear = Elevation {
        widening: Widening::ClearFields,
        ..up
    };
    assert_eq!(effective_tier(Tier::L1, Some(&clear), t(1)), Tier::L1);
    assert!(elevation_active(&clear, t(1)));
    // An elevation never lowers the grant's tier.
    let down = Elevation {
        widening: Widening::Tier(Tier::L1),
        ..up
    };
    assert_eq!(effective_tier(Tier::L2, Some(&down), t(1)), Tier::L2);
}
