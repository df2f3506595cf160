use vigie_event::time::Timestamp;
use vigie_event::{EventIdGenerator, TenantId};

use crate::*;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// A fresh database in `dir` with the tenants `names`.
async fn state_with(dir: &tempfile::TempDir, names: &[&str]) -> (State, Vec<TenantId>) {
    let state = State::open(&dir.path().join(DATABASE_FILE))
        .await
        .expect("open");
    let mut tenants = Vec::new();
    for name in names {
        let t = TenantId::new(name).expect("tenant");
        state.create_tenant(&t).await.expect("create tenant");
        tenants.push(t);
    }
    (state, tenants)
}

fn alert(
    tenant: &TenantId,
    rule: &str,
    level: &str,
    event: vigie_event::EventId,
    t: i64,
) -> NewAlert {
    NewAlert {
        tenant: tenant.clone(),
        kind: AlertKind::Rule,
        rule_id: rule.to_owned(),
        rule_title: format!("title of {rule}"),
        level: level.to_owned(),
        tags: vec!["attack.t1059".to_owned()],
        event_id: event,
        event_time: Timestamp::from_nanos(t),
        host: Some("ws-1".to_owned()),
        matched: serde_json::json!({"Image": "C:\\x.exe"}),
    }
}

#[test]
fn tokens_authenticate_to_their_principal_only() {
    rt().block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = State::open(&dir.path().join(DATABASE_FILE))
            .await
            .expect("open");
        let admin = state
            .ensure_admin_token()
            .await
            .expect("admin")
            .expect("first");
        assert!(state.ensure_admin_token().await.expect("again").is_none());
        let acme = TenantId::new("acme").expect("tenant");
        state.create_tenant(&acme).await.expect("create");
        assert!(matches!(
            state.create_tenant(&acme).await,
            Err(StateError::TenantExists(_))
        ));
        let token = state
            .create_tenant_token(&acme, "ingest")
            .await
            .expect("token");
        assert_eq!(
            state.authenticate(admin.as_str()).await.expect("auth"),
            Some(Principal::Admin)
        );
        assert_eq!(
            state.authenticate(token.as_str()).await.expect("auth"),
            Some(Principal::Tenant(acme.clone()))
        );
        assert_eq!(state.authenticate("vgi_00").await.expect("auth"), None);
        assert_eq!(state.authenticate("").await.expect("auth"), None);
        let ghost = TenantId::new("ghost").expect("tenant");
        assert!(matches!(
            state.create_tenant_token(&ghost, "x").await,
            Err(StateError::NoTenant(_))
        ));
        // Reopening keeps everything (and does not re-run migrations).
        state.close().await;
        let state = State::open(&dir.path().join(DATABASE_FILE))
            .await
            .expect("reopen");
        assert_eq!(state.tenants().await.expect("tenants"), vec![acme.clone()]);
        assert_eq!(
            state.authenticate(token.as_str()).await.expect("auth"),
            Some(Principal::Tenant(acme))
        );
    });
}

#[test]
fn alerts_are_deduplicated_filtered_paged_and_tenant_scoped() {
    rt().block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let (state, tenants) = state_with(&dir, &["a", "b"]).await;
        let (a, b) = (tenants[0].clone(), tenants[1].clone());
        let mut ids = EventIdGenerator::new();
        let events: Vec<_> = (0..5).map(|_| ids.next_now()).collect();
        let batch: Vec<NewAlert> = events
            .iter()
            .enumerate()
            .map(|(i, e)| {
                alert(
                    &a,
                    if i % 2 == 0 { "r1" } else { "r2" },
                    "high",
                    *e,
                    i as i64,
                )
            })
            .chain([alert(&b, "r1", "critical", events[0], 100)])
            .collect();
        assert_eq!(state.insert_alerts(&batch).await.expect("insert"), 6);
        // A replay inserts nothing.
        assert_eq!(state.insert_alerts(&batch).await.expect("replay"), 0);

        let all = state
            .alerts(&a, &AlertFilter::default())
            .await
            .expect("list");
        assert_eq!(all.alerts.len(), 5);
        assert!(all.alerts.iter().all(|x| x.tenant == a));
        assert_eq!(
            all.alerts[0].event_time,
            Timestamp::from_nanos(4).to_rfc3339(vigie_event::UtcOffset::UTC)
        );
        let r1 = AlertFilter {
            rule: Some("r1".to_owned()),
            ..AlertFilter::default()
        };
        assert_eq!(state.alerts(&a, &r1).await.expect("r1").alerts.len(), 3);
        let critical = AlertFilter {
            levels: vec!["critical".to_owned()],
            ..AlertFilter::default()
        };
        assert!(
            state
                .alerts(&a, &critical)
                .await
                .expect("crit")
                .alerts
                .is_empty()
        );
        assert_eq!(
            state
                .alerts(&b, &critical)
                .await
                .expect("crit")
                .alerts
                .len(),
            1
        );
        let window = AlertFilter {
            from: Some(Timestamp::from_nanos(1)),
            to: Some(Timestamp::from_nanos(3)),
            status: Some(AlertStatus::New),
            ..AlertFilter::default()
        };
        assert_eq!(
            state
                .alerts(&a, &window)
                .await
                .expect("window")
                .alerts
                .len(),
            2
        );

        // Pages of two cover everything once.
        let mut seen = Vec::new();
        let mut filter = AlertFilter {
            limit: Some(2),
            ..AlertFilter::default()
        };
        loop {
            let page = state.alerts(&a, &filter).await.expect("page");
            seen.extend(page.alerts.iter().map(|x| x.id.clone()));
            match page.next {
                Some(next) => {
                    let text = next.to_string();
                    filter.after = Some(text.parse().expect("cursor parses"));
                }
                None => break,
            }
        }
        assert_eq!(seen.len(), 5);
        seen.sort_by(|x, y| x.as_str().cmp(y.as_str()));
        seen.dedup();
        assert_eq!(seen.len(), 5);

        // By id, only within the tenant.
        let one = &all.alerts[0];
        assert!(state.alert(&a, &one.id).await.expect("get").is_some());
        assert!(state.alert(&b, &one.id).await.expect("get").is_none());

        let counts = state.alert_counts(&a).await.expect("counts");
        assert_eq!(counts[0].0, "r1");
        assert_eq!(counts[0].3, 3);
    });
}

#[test]
fn alert_batches_over_one_statement_keep_every_row_once() {
    rt().block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let (state, tenants) = state_with(&dir, &["a"]).await;
        let a = tenants[0].clone();
        let mut ids = EventIdGenerator::new();
        // Two full statements and a partial one, with a repeat inside the first statement
        // and one across statements.
        let n = 2 * alerts::INSERT_ROWS + 57;
        let events: Vec<_> = (0..n).map(|_| ids.next_now()).collect();
        let mut batch: Vec<NewAlert> = events
            .iter()
            .enumerate()
            .map(|(i, e)| alert(&a, "r1", "high", *e, i as i64))
            .collect();
        batch.insert(3, batch[1].clone());
        batch.push(batch[0].clone());
        assert_eq!(state.insert_alerts(&batch).await.expect("insert"), n as u64);
        assert_eq!(state.insert_alerts(&batch).await.expect("replay"), 0);
        let mut seen = 0;
        let mut filter = AlertFilter {
            limit: Some(AlertFilter::MAX_LIMIT),
            ..AlertFilter::default()
        };
        loop {
            let page = state.alerts(&a, &filter).await.expect("page");
            seen += page.alerts.len();
            match page.next {
                Some(next) => filter.after = Some(next),
                None => break,
            }
        }
        assert_eq!(seen, n);
    });
}

#[test]
fn the_insert_statement_has_one_parameter_per_column() {
    let names = alerts::COLUMNS.split(',').count();
    assert_eq!(names, alerts::COLUMN_COUNT);
}
