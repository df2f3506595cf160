//! Signing in with an organisation's identity provider, against a real OpenID Connect
//! provider on loopback (`oidc-provider-mock`): the code flow end to end, a callback used
//! once, a user of another organisation refused whatever the provider says, a code of one
//! provider presented with another organisation's sign-in refused (mix-up), and the second
//! factor still required of an admin whose provider did not say one was used.

mod common;

use common::Harness;
use serde_json::Value;
use vigie_govern::{OrgKind, Role};
use vigie_server::secrets::Secrets;
use vigie_state::NewUser;
use vigie_testkit::oidc::Provider;

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into()
}

/// (status, Location, Set-Cookie, body).
fn exchange(
    request: ureq::RequestBuilder<ureq::typestate::WithoutBody>,
) -> (u16, Option<String>, Option<String>, String) {
    let mut r = request.call().expect("request");
    let header = |name: &str| {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (location, cookie) = (header("location"), header("set-cookie"));
    let status = r.status().as_u16();
    (
        status,
        location,
        cookie,
        r.body_mut().read_to_string().unwrap_or_default(),
    )
}

/// Starts a sign-in for `org`, signs in at the provider as `sub`: the callback URL.
fn through_provider(h: &Harness, org: &str, sub: &str) -> String {
    let a = agent();
    let (status, location, _, body) = exchange(a.get(h.url(&format!("/api/v1/oidc/{org}/start"))));
    assert_eq!(status, 303, "{body}");
    let authorize = location.expect("to the provider");
    let mut r = a
        .post(&authorize)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send(format!("sub={}", sub.replace('@', "%40")).as_bytes())
        .expect("provider");
    assert!(
        r.status().is_redirection(),
        "{}",
        r.body_mut().read_to_string().unwrap_or_default()
    );
    r.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("back to Vigie")
        .to_owned()
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or(Value::Null)
}

#[test]
fn sign_in_with_the_organisations_provider_only() {
    let Some(first) = Provider::start() else {
        return;
    };
    let Some(second) = Provider::start() else {
        return;
    };
    let h = Harness::start(&["acme"], Vec::new(), |_| {});
    let state = h.server.as_ref().expect("server").state().clone();
    let secrets = Secrets::load_or_create(&h.dir.path().join("data/secrets")).expect("secrets");
    h.rt.block_on(async {
        let acme = state
            .org_by_name("acme")
            .await
            .expect("org")
            .expect("acme")
            .id;
        let other = state
            .create_org("Other", OrgKind::Client)
            .await
            .expect("org");
        for (org, login, role) in [
            (acme, "alice@acme.example", Role::ClientAnalyst),
            (acme, "carol@acme.example", Role::ClientAdmin),
            (other, "bob@other.example", Role::ClientAnalyst),
        ] {
            state
                .create_user(&NewUser {
                    org,
                    login: login.into(),
                    name: login.into(),
                    role,
                    password: None,
                    contract_end: None,
                })
                .await
                .expect("user");
        }
        vigie_server::oidc::configure(
            &state,
            &secrets,
            acme,
            &first.issuer(),
            "vigie",
            Some("s3cret"),
            "email",
        )
        .await
        .expect("acme's provider");
        vigie_server::oidc::configure(
            &state,
            &secrets,
            other,
            &second.issuer(),
            "vigie",
            None,
            "email",
        )
        .await
        .expect("other's provider");
        // An issuer signs in one organisation only.
        assert!(
            vigie_server::oidc::configure(
                &state,
                &secrets,
                other,
                &first.issuer(),
                "vigie",
                None,
                "email"
            )
            .await
            .is_err()
        );
    });

    // The code flow, end to end.
    let callback = through_provider(&h, "acme", "alice@acme.example");
    assert!(callback.contains("/api/v1/oidc/callback?"), "{callback}");
    let (status, _, cookie, body) = exchange(agent().get(&callback));
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["user"]["login"], "alice@acme.example");
    let cookie = cookie
        .expect("a session")
        .split(';')
        .next()
        .expect("pair")
        .to_owned();
    let (status, _, _, body) = exchange(agent().get(h.url("/api/v1/me")).header("Cookie", &cookie));
    assert_eq!(status, 200, "{body}");
    // The same callback again: the sign-in was taken.
    let (status, _, _, _) = exchange(agent().get(&callback));
    assert_eq!(status, 403);

    // A browser lands in the console (it asks for HTML), with its session.
    let callback = through_provider(&h, "acme", "alice@acme.example");
    let (status, location, cookie, _) = exchange(
        agent()
            .get(&callback)
            .header("Accept", "text/html,application/xhtml+xml"),
    );
    assert_eq!(status, 303);
    assert_eq!(location.as_deref(), Some("/console"));
    assert!(cookie.is_some_and(|c| c.starts_with("__Host-vigie-session=")));

    // The provider vouches for a user of another organisation: refused.
    let callback = through_provider(&h, "acme", "bob@other.example");
    let (status, _, _, body) = exchange(agent().get(&callback));
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("not a user of the organisation"), "{body}");

    // Mix-up: a code from acme's provider with the state of a sign-in at Other's.
    let acme_callback = through_provider(&h, "acme", "alice@acme.example");
    let other_callback = through_provider(&h, "Other", "bob@other.example");
    let param = |url: &str, name: &str| {
        url.split(['?', '&'])
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .expect("param")
            .to_owned()
    };
    let mixed = h.url(&format!(
        "/api/v1/oidc/callback?code={}&state={}",
        param(&acme_callback, "code"),
        param(&other_callback, "state")
    ));
    let (status, _, _, body) = exchange(agent().get(&mixed));
    assert_eq!(status, 403, "{body}");

    // An admin whose provider did not say a second factor was used must still give one.
    let callback = through_provider(&h, "acme", "carol@acme.example");
    let (status, _, cookie, body) = exchange(agent().get(&callback));
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["must_step_up"], true);
    let cookie = cookie
        .expect("a session")
        .split(';')
        .next()
        .expect("pair")
        .to_owned();
    let (status, _, _, body) = exchange(
        agent()
            .get(h.url("/api/v1/users"))
            .header("Cookie", &cookie),
    );
    assert_eq!(status, 403, "{body}");
    assert_eq!(json(&body)["error"]["code"], "mfa_required");

    // Every attempt is on the platform chain.
    let records =
        h.rt.block_on(state.audit_rows(
            "platform",
            &vigie_state::audit::AuditFilter {
                action: Some("sign-in-oidc".into()),
                ..Default::default()
            },
        ))
        .expect("audit");
    assert_eq!(records.len(), 6, "{records:?}");
    assert_eq!(
        records
            .iter()
            .filter(|r| r.record["outcome"] == "allowed")
            .count(),
        3
    );
}
