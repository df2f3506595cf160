//! Authentication end to end over HTTP: brute force throttled per account and per address,
//! the second factor required once enrolled and each code accepted once, recovery codes
//! spent once, the session id rotated at sign-in (fixation), sign-out and suspension ending
//! sessions, and enrolment refusing a guessable password without spending its token.

mod common;

use common::Harness;
use serde_json::{Value, json};
use vigie_event::time::Timestamp;
use vigie_govern::totp::Totp;
use vigie_govern::{OrgKind, Role, password};
use vigie_server::secrets::Secrets;
use vigie_state::NewUser;

const PASSWORD: &str = "several words make a passphrase 9";

fn json_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or(Value::Null)
}

/// POST `body` as JSON with an optional cookie: (status, Set-Cookie, body).
fn post(
    h: &Harness,
    path: &str,
    cookie: Option<&str>,
    body: &Value,
) -> (u16, Option<String>, String) {
    let mut request = h
        .agent
        .post(h.url(path))
        .header("Content-Type", "application/json");
    if let Some(c) = cookie {
        request = request.header("Cookie", c);
    }
    let mut response = request.send(body.to_string().as_bytes()).expect("request");
    let cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let status = response.status().as_u16();
    (
        status,
        cookie,
        response.body_mut().read_to_string().unwrap_or_default(),
    )
}

fn get(h: &Harness, path: &str, cookie: &str) -> (u16, String) {
    let mut response = h
        .agent
        .get(h.url(path))
        .header("Cookie", cookie)
        .call()
        .expect("request");
    let status = response.status().as_u16();
    (
        status,
        response.body_mut().read_to_string().unwrap_or_default(),
    )
}

fn pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().expect("cookie").to_owned()
}

fn code(seed: &[u8], offset_steps: i64) -> String {
    let now = Timestamp::now().as_nanos() / 1_000_000_000;
    Totp::standard(seed)
        .expect("seed")
        .code_at(u64::try_from(now + offset_steps * 30).expect("time"))
}

#[test]
fn sign_in_second_factor_sessions_and_throttling() {
    let h = Harness::start(&["acme"], Vec::new(), |_| {});
    let server = h.server.as_ref().expect("server");
    let state = server.state().clone();
    let secrets = Secrets::load_or_create(&h.dir.path().join("data/secrets")).expect("secrets");
    let seed = b"12345678901234567890".to_vec();
    let (admin, _analyst) = h.rt.block_on(async {
        let org = state
            .org_by_name("acme")
            .await
            .expect("org")
            .expect("acme")
            .id;
        let mut made = Vec::new();
        for (login, role) in [
            ("claire", Role::ClientAdmin),
            ("alice", Role::ClientAnalyst),
            ("bob", Role::ClientAnalyst),
        ] {
            let id = state
                .create_user(&NewUser {
                    org,
                    login: login.into(),
                    name: login.into(),
                    role,
                    password: Some(password::hash(PASSWORD, &[9; 16]).expect("hash")),
                    contract_end: None,
                })
                .await
                .expect("user");
            made.push(id);
        }
        let sealed = secrets
            .totp()
            .seal(&seed, &format!("user:{}", made[0].0), [3; 12]);
        state
            .enrol_totp(made[0], &sealed, &[])
            .await
            .expect("enrol");
        (made[0], made[1])
    });
    let _ = admin;
    let _ = OrgKind::Client;

    // The second factor is required once enrolled, and each code serves once.
    let (status, _, body) = post(
        &h,
        "/api/v1/login",
        None,
        &json!({"login": "claire", "password": PASSWORD}),
    );
    assert_eq!(
        (status, json_of(&body)["error"]["code"].as_str()),
        (401, Some("code_required")),
        "{body}"
    );
    let good = code(&seed, 0);
    let (status, cookie, body) = post(
        &h,
        "/api/v1/login",
        None,
        &json!({"login": "claire", "password": PASSWORD, "code": good}),
    );
    assert_eq!(status, 200, "{body}");
    let first = pair(&cookie.expect("a session cookie"));
    assert!(first.starts_with("__Host-vigie-session="), "{first}");
    let (status, body) = get(&h, "/api/v1/me", &first);
    assert_eq!(status, 200, "{body}");
    assert_eq!(json_of(&body)["user"]["login"], "claire");
    let (status, _, body) = post(
        &h,
        "/api/v1/login",
        None,
        &json!({"login": "claire", "password": PASSWORD, "code": good}),
    );
    assert_eq!(status, 401, "a replayed code: {body}");
    // The RFC's ±1 step: the previous step's code is refused too once a later one was used.
    let (status, _, _) = post(
        &h,
        "/api/v1/login",
        None,
        &json!({"login": "claire", "password": PASSWORD, "code": code(&seed, -1)}),
    );
    assert_eq!(status, 401, "an older step after a newer one");

    // Session fixation: signing in with a session cookie ends it and sets a new one.
    let (status, cookie, body) = post(
        &h,
        "/api/v1/login",
        Some(&first),
        &json!({"login": "claire", "password": PASSWORD, "code": code(&seed, 1)}),
    );
    assert_eq!(status, 200, "{body}");
    let second = pair(&cookie.expect("a new session cookie"));
    assert_ne!(first, second, "the session id is rotated at sign-in");
    assert_eq!(
        get(&h, "/api/v1/me", &first).0,
        401,
        "the old session ended"
    );
    assert_eq!(get(&h, "/api/v1/me", &second).0, 200);

    // Sign-out ends the session.
    let (status, _, _) = post(&h, "/api/v1/logout", Some(&second), &json!({}));
    assert_eq!(status, 204);
    assert_eq!(get(&h, "/api/v1/me", &second).0, 401);

    // Suspension ends sessions at once.
    let (status, cookie, body) = post(
        &h,
        "/api/v1/login",
        None,
        &json!({"login": "bob", "password": PASSWORD}),
    );
    assert_eq!(status, 200, "{body}");
    let bob = pair(&cookie.expect("cookie"));
    assert_eq!(get(&h, "/api/v1/me", &bob).0, 200);
    h.rt.block_on(async {
        let id = state
            .user_by_login("bob")
            .await
            .expect("read")
            .expect("bob")
            .id;
        state
            .set_user_status(id, vigie_state::UserStatus::Suspended)
            .await
            .expect("suspend");
    });
    assert_eq!(get(&h, "/api/v1/me", &bob).0, 401);
    let (status, _, _) = post(
        &h,
        "/api/v1/login",
        None,
        &json!({"login": "bob", "password": PASSWORD}),
    );
    assert_eq!(status, 403, "a suspended account cannot sign in");

    // Brute force: five failures from one address are free (three were claire's above, a
    // success does not forget an address's), then 429 with Retry-After, even for the right
    // password.
    let mut refused = 0;
    for _ in 0..5 {
        let (status, _, _) = post(
            &h,
            "/api/v1/login",
            None,
            &json!({"login": "alice", "password": "wrong guess number one"}),
        );
        assert!(status == 401 || status == 429, "{status}");
        refused += u32::from(status == 429);
    }
    assert!(refused > 0, "five more failures were never throttled");
    let mut response = h
        .agent
        .post(h.url("/api/v1/login"))
        .header("Content-Type", "application/json")
        .send(
            json!({"login": "alice", "password": PASSWORD})
                .to_string()
                .as_bytes(),
        )
        .expect("request");
    assert_eq!(response.status().as_u16(), 429);
    assert!(response.headers().get("retry-after").is_some());
    let body = response.body_mut().read_to_string().unwrap_or_default();
    assert_eq!(json_of(&body)["error"]["code"], "throttled", "{body}");
    // The address is throttled too: another account, whose own count is clean, waits.
    let (status, _, body) = post(
        &h,
        "/api/v1/login",
        None,
        &json!({"login": "claire", "password": PASSWORD, "code": code(&seed, 1)}),
    );
    assert_eq!(status, 429, "the guessing address: {body}");

    // Every sign-in, good or bad, is on the platform chain.
    let records = h.rt.block_on(state.audit_rows(
        "platform",
        &vigie_state::audit::AuditFilter {
            action: Some("sign-in".into()),
            limit: Some(1000),
            ..Default::default()
        },
    ));
    let records = records.expect("audit");
    assert!(records.len() >= 12, "{} sign-in records", records.len());
    assert!(records.iter().any(|r| r.record["outcome"] == "refused"));
    assert!(records.iter().any(|r| r.record["outcome"] == "allowed"));
}

#[test]
fn enrolment_and_recovery_codes() {
    let h = Harness::start(&["acme"], Vec::new(), |_| {});
    let state = h.server.as_ref().expect("server").state().clone();
    let token = h.rt.block_on(async {
        let org = state
            .org_by_name("acme")
            .await
            .expect("org")
            .expect("acme")
            .id;
        let id = state
            .create_user(&NewUser {
                org,
                login: "claire.dubois".into(),
                name: "Claire Dubois".into(),
                role: Role::ClientAdmin,
                password: None,
                contract_end: None,
            })
            .await
            .expect("user");
        state
            .create_enrolment_token(
                id,
                Timestamp::from_nanos(Timestamp::now().as_nanos() + 3_600_000_000_000),
            )
            .await
            .expect("token")
            .to_string()
    });
    // A guessable password (her own name) is refused and the token still works.
    let (status, _, body) = post(
        &h,
        "/api/v1/enrol",
        None,
        &json!({"token": token, "password": "claire.dubois2024"}),
    );
    assert_eq!(
        (status, json_of(&body)["error"]["code"].as_str()),
        (400, Some("weak_password")),
        "{body}"
    );
    let (status, _, body) = post(
        &h,
        "/api/v1/enrol",
        None,
        &json!({"token": token, "password": PASSWORD}),
    );
    assert_eq!(status, 200, "{body}");
    let (status, _, _) = post(
        &h,
        "/api/v1/enrol",
        None,
        &json!({"token": token, "password": PASSWORD}),
    );
    assert_eq!(status, 401, "an enrolment token serves once");
    // An admin must enrol a second factor before anything else.
    let (status, cookie, body) = post(
        &h,
        "/api/v1/login",
        None,
        &json!({"login": "claire.dubois", "password": PASSWORD}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(json_of(&body)["must_enrol_mfa"], true);
    let cookie = pair(&cookie.expect("cookie"));
    let (status, body) = get(&h, "/api/v1/grants", &cookie);
    assert_eq!(status, 200, "own things are allowed: {body}");
    let (status, body) = get(&h, "/api/v1/users", &cookie);
    assert_eq!(
        (status, json_of(&body)["error"]["code"].as_str()),
        (403, Some("mfa_required")),
        "{body}"
    );
    let (status, _, body) = post(&h, "/api/v1/me/totp", Some(&cookie), &json!({}));
    assert_eq!(status, 200, "{body}");
    let secret = json_of(&body)["secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    assert!(
        json_of(&body)["uri"]
            .as_str()
            .expect("uri")
            .starts_with("otpauth://totp/Vigie:claire.dubois?secret=")
    );
    let seed = vigie_govern::totp::base32_decode(&secret).expect("base32");
    let (status, cookie2, body) = post(
        &h,
        "/api/v1/me/totp/confirm",
        Some(&cookie),
        &json!({"code": code(&seed, 0)}),
    );
    assert_eq!(status, 200, "{body}");
    let codes: Vec<String> = json_of(&body)["recovery_codes"]
        .as_array()
        .expect("codes")
        .iter()
        .map(|c| c.as_str().expect("code").to_owned())
        .collect();
    assert_eq!(codes.len(), 10);
    // Enrolment is a privilege change: the old session ended, a new one carries the factor.
    assert_eq!(get(&h, "/api/v1/me", &cookie).0, 401);
    let cookie2 = pair(&cookie2.expect("a new session"));
    assert_eq!(get(&h, "/api/v1/users", &cookie2).0, 200);
    // A recovery code signs in once.
    let (status, _, body) = post(
        &h,
        "/api/v1/login",
        None,
        &json!({"login": "claire.dubois", "password": PASSWORD, "code": codes[3]}),
    );
    assert_eq!(status, 200, "{body}");
    let (status, _, _) = post(
        &h,
        "/api/v1/login",
        None,
        &json!({"login": "claire.dubois", "password": PASSWORD, "code": codes[3]}),
    );
    assert_eq!(status, 401, "a recovery code serves once");
}
