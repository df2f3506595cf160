//! The web console in a real browser (headless Chromium through WebDriver,
//! `vigie_testkit::browser`), against a real server: signing in with a password and a TOTP
//! code, enrolling a second factor, the queue by keyboard alone, a grant approved by the
//! client's admin and then used by the provider's analyst, what an L1 may not do (absent
//! buttons, refused forms), search with a syntax error then a good query, French and
//! English, and pages without JavaScript. Each test saves a screenshot when it fails.
//!
//! With `VIGIE_BLESS=1` the tests also write the screenshots of `docs/console/` (each
//! page in English and French), which the README links.
//!
//! The console's forms without a browser (CSRF token, origin, sizes) are tested at the end
//! with plain HTTP.

mod common;

use std::path::PathBuf;

use common::{Harness, alerting_event};
use serde_json::json;
use vigie_event::time::Timestamp;
use vigie_govern::totp::Totp;
use vigie_govern::{OrgKind, Role, Tier, password};
use vigie_server::Config;
use vigie_server::secrets::Secrets;
use vigie_state::{NewUser, State};
use vigie_testkit::browser::{Browser, Options, keys};

/// A person the tests sign in as.
#[derive(Clone, Debug)]
struct Person {
    login: String,
    password: String,
    seed: Option<Vec<u8>>,
}

impl Person {
    /// The TOTP code now (a fresh step each call would be refused as a replay: wait for
    /// the next step when the same person signs in twice within 30 s).
    fn code(&self) -> String {
        let seed = self.seed.as_ref().expect("enrolled");
        let now = u64::try_from(Timestamp::now().as_nanos() / 1_000_000_000).expect("time");
        Totp::standard(seed).expect("totp").code_at(now)
    }
}

/// Makes `login` with `role` in `org` (created when missing), with a password, and a TOTP
/// seed when `enrolled`.
fn make_person(
    h: &Harness,
    org: &str,
    kind: OrgKind,
    login: &str,
    role: Role,
    enrolled: bool,
) -> Person {
    let config = Config {
        data_dir: h.dir.path().join("data"),
        ..Config::default()
    };
    let secrets = Secrets::load_or_create(&Secrets::dir(&config)).expect("secrets");
    let password_text = format!("correct horse {login} battery staple");
    h.rt.block_on(async {
        let state = State::open(&config.state_path()).await.expect("state");
        let org = match state.org_by_name(org).await.expect("org") {
            Some(o) => o.id,
            None => state.create_org(org, kind).await.expect("create org"),
        };
        let id = state
            .create_user(&NewUser {
                org,
                login: login.to_owned(),
                name: format!("{login} (test)"),
                role,
                password: Some(
                    password::hash(&password_text, &[7; password::SALT_BYTES]).expect("hash"),
                ),
                contract_end: None,
            })
            .await
            .expect("user");
        let seed = if enrolled {
            let seed = vec![login.len() as u8; 20];
            let sealed = secrets
                .totp()
                .seal(&seed, &format!("user:{}", id.0), [1; 12]);
            state.enrol_totp(id, &sealed, &[]).await.expect("enrol");
            Some(seed)
        } else {
            None
        };
        state.close().await;
        Person {
            login: login.to_owned(),
            password: password_text,
            seed,
        }
    })
}

/// A server with tenant `mutuelle` and a few alerts in it.
fn server() -> Harness {
    let h = Harness::start(&["mutuelle"], Vec::new(), |_| {});
    let mut body = String::new();
    for i in 0..6 {
        body.push_str(&alerting_event(
            &format!("canary-{i}"),
            &format!("ws-{i:02}.corp.local"),
        ));
        body.push('\n');
    }
    let (status, text) = h.post(
        "/api/v1/ingest",
        &h.tokens["mutuelle"],
        None,
        body.as_bytes(),
    );
    assert_eq!(status, 200, "{text}");
    h.settle();
    h
}

fn browser(name: &str, lang: &str) -> Option<Browser> {
    Browser::start(
        name,
        &Options {
            lang: lang.to_owned(),
            ..Options::default()
        },
    )
}

/// Signs `p` in through the sign-in page (password, then the code when enrolled).
fn sign_in(b: &Browser, h: &Harness, p: &Person) {
    b.goto(&h.url("/console/signin"));
    b.fill_in("#login", &p.login);
    b.fill_in("#password", &p.password);
    b.click(&b.find("form[action='/console/signin'] button[type=submit]"));
    if p.seed.is_some() {
        let code = b.find("#code");
        b.fill(&code, &p.code());
        b.click(&b.find("form[action='/console/signin/code'] button[type=submit]"));
    }
    b.wait_to_leave("/console/signin");
}

/// Saves `docs/console/<name>.png` when blessing.
fn document(b: &Browser, name: &str) {
    if std::env::var("VIGIE_BLESS").as_deref() != Ok("1") {
        return;
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/console");
    b.screenshot_page(&dir.join(format!("{name}.png")));
}

fn texts(b: &Browser, css: &str) -> Vec<String> {
    b.find_all(css).iter().map(|e| b.text(e)).collect()
}

#[test]
fn sign_in_with_password_and_totp_then_the_queue_and_an_alert() {
    let h = server();
    let claire = make_person(
        &h,
        "mutuelle",
        OrgKind::Client,
        "claire",
        Role::ClientAnalyst,
        true,
    );
    let Some(b) = browser("sign_in_queue_alert", "en") else {
        return;
    };
    b.goto(&h.url("/console/t/mutuelle/alerts"));
    // No session: the sign-in page, which will come back here.
    b.wait_for_url("/console/signin?next=");
    document(&b, "signin-en");
    b.fill_in("#login", "claire");
    b.fill_in("#password", "not the password");
    b.click(&b.find("form[action='/console/signin'] button[type=submit]"));
    assert_eq!(b.text(&b.find(".error")), "Wrong login or password.");
    b.fill_in("#login", "claire");
    b.fill_in("#password", &claire.password);
    b.click(&b.find("form[action='/console/signin'] button[type=submit]"));
    // The code step: a wrong code keeps the step, the right one signs in.
    b.fill_in("#code", "000000");
    b.click(&b.find("form[action='/console/signin/code'] button[type=submit]"));
    assert!(b.text(&b.find(".error")).contains("Wrong code"));
    document(&b, "signin-code-en");
    b.fill_in("#code", &claire.code());
    b.click(&b.find("form[action='/console/signin/code'] button[type=submit]"));
    b.wait_for_url("/console/t/mutuelle/alerts");
    let rows = b.find_all("table.queue tbody tr");
    assert_eq!(rows.len(), 6, "the six alerts");
    assert!(
        texts(&b, "table.queue tbody td:nth-child(5)")
            .iter()
            .all(|t| t.contains("PowerShell"))
    );
    document(&b, "queue-en");
    // Filters: a host.
    b.fill_in("#f-host", "ws-03.corp.local");
    b.click(&b.find("form.filters button[type=submit]"));
    b.wait_for_url("host=ws-03");
    assert_eq!(b.find_all("table.queue tbody tr").len(), 1);
    // The alert page: matched fields highlighted, the rule's text and tags.
    b.click(&b.find("table.queue tbody tr a"));
    b.wait_for_url("/alerts/");
    let marked = texts(&b, "table.fields tr.hit mark");
    assert!(
        marked.iter().any(|m| m.contains("powershell.exe")),
        "{marked:?}"
    );
    assert!(b.text(&b.find("pre.rule")).contains("detection:"));
    assert!(b.text(&b.find("dl.facts")).contains("attack."));
    document(&b, "alert-en");
}

#[test]
fn the_queue_by_keyboard_alone() {
    let h = server();
    let analyst = make_person(
        &h,
        "mutuelle",
        OrgKind::Client,
        "kbd",
        Role::ClientAnalyst,
        false,
    );
    let Some(b) = browser("queue_keyboard", "en") else {
        return;
    };
    sign_in(&b, &h, &analyst);
    b.goto(&h.url("/console/t/mutuelle/alerts"));
    b.find("table.queue");
    // j twice, x selects the second alert, Enter opens it.
    b.press("jjx");
    let selected = b.find("[data-selected-count]");
    assert_eq!(b.text(&selected), "1");
    let focused = b.active();
    let href = b.attribute(&focused, "href").expect("a link has the focus");
    assert!(href.contains("/console/t/mutuelle/alerts/"), "{href}");
    let second = b.find_all("table.queue tbody tr a");
    assert_eq!(b.attribute(&second[1], "href"), Some(href.clone()));
    b.press(keys::ENTER);
    b.wait_for_url(&href);
    // Tab alone reaches the skip link first, then the navigation.
    b.goto(&h.url("/console/t/mutuelle/alerts"));
    b.press(keys::TAB);
    assert_eq!(b.attribute(&b.active(), "class").as_deref(), Some("skip"));
    // `/` goes to the text filter.
    b.press("/");
    assert_eq!(b.attribute(&b.active(), "id").as_deref(), Some("f-q"));
}

#[test]
fn enrolling_a_second_factor_with_the_qr_code() {
    let h = server();
    // A client admin must have a second factor; this one has none yet.
    let admin = make_person(
        &h,
        "mutuelle",
        OrgKind::Client,
        "newadmin",
        Role::ClientAdmin,
        false,
    );
    let Some(b) = browser("enrol_mfa", "en") else {
        return;
    };
    b.goto(&h.url("/console/signin"));
    b.fill_in("#login", &admin.login);
    b.fill_in("#password", &admin.password);
    b.click(&b.find("form[action='/console/signin'] button[type=submit]"));
    // Anything else first asks for the enrolment.
    b.wait_to_leave("/console/signin");
    b.goto(&h.url("/console/access"));
    b.wait_for_url("/console/me/mfa");
    b.click(&b.find("form[action='/console/me/mfa'] button[type=submit]"));
    let svg = b.find("figure.qr svg");
    assert_eq!(b.attribute(&svg, "role").as_deref(), Some("img"));
    let secret = b.text(&b.find("#totp-secret"));
    document(&b, "mfa-en");
    let seed = vigie_govern::totp::base32_decode(&secret).expect("base32");
    let now = u64::try_from(Timestamp::now().as_nanos() / 1_000_000_000).expect("time");
    let code = Totp::standard(&seed).expect("totp").code_at(now);
    b.fill_in("#code", &code);
    b.click(&b.find("form[action='/console/me/mfa/confirm'] button[type=submit]"));
    let codes = texts(&b, "ul.codes code");
    assert_eq!(codes.len(), 10, "ten recovery codes, shown once");
    // The new session carries the second factor: the admin's pages open.
    b.goto(&h.url("/console/access"));
    b.wait_for_url("/console/access");
    b.find("table.grants");
}

#[test]
fn a_grant_approved_by_the_client_admin_opens_the_tenant_to_the_analyst_and_an_l1_does_only_what_it_may()
 {
    let h = server();
    let paul = make_person(
        &h,
        "Veille SOC",
        OrgKind::Provider,
        "paul",
        Role::ProviderAdmin,
        true,
    );
    let lea = make_person(
        &h,
        "Veille SOC",
        OrgKind::Provider,
        "lea",
        Role::ProviderAnalyst(Tier::L1),
        true,
    );
    let claire = make_person(
        &h,
        "mutuelle",
        OrgKind::Client,
        "claire",
        Role::ClientAdmin,
        true,
    );
    // Léa has no grant yet: no tenant.
    let Some(b) = browser("grant_flow", "en") else {
        return;
    };
    sign_in(&b, &h, &lea);
    b.goto(&h.url("/console/t/mutuelle/alerts"));
    assert!(b.text(&b.find("h1")).contains("Something went wrong"));
    assert!(
        b.text(&b.find(".error")).contains("no access"),
        "{}",
        b.source()
    );
    // Paul requests it with the console's form.
    let b2 = browser("grant_flow_paul", "en").expect("a second browser");
    sign_in(&b2, &h, &paul);
    b2.goto(&h.url("/console/access"));
    b2.fill_in("#g-analyst", "lea");
    b2.fill_in("#g-tenant", "mutuelle");
    b2.select("#g-tier", "l1");
    let until = Timestamp::from_nanos(Timestamp::now().as_nanos() + 30 * 86_400 * 1_000_000_000)
        .to_rfc3339(vigie_event::UtcOffset::UTC);
    b2.fill_in("#g-until", &until);
    b2.fill_in("#g-why", "monthly triage contract");
    b2.click(&b2.find("form[action='/console/access/grants'] button[type=submit]"));
    b2.wait_for_url("done=requested");
    assert!(
        b2.find_all("form[action$='/approve']").is_empty(),
        "a provider admin does not approve"
    );
    drop(b2);
    // Claire approves it.
    let b3 = browser("grant_flow_claire", "en").expect("a third browser");
    sign_in(&b3, &h, &claire);
    b3.goto(&h.url("/console/access"));
    let row = b3.find("tr[data-grant]");
    assert!(b3.text(&row).contains("lea (test)"));
    document(&b3, "access-en");
    b3.click(&b3.find("tr[data-grant] form[action$='/approve'] button"));
    b3.wait_for_url("done=approved");
    let decided = b3.text(&b3.find("tr[data-grant]"));
    assert!(
        decided.contains("claire (test)"),
        "the approver's name: {decided}"
    );
    drop(b3);
    // Léa now reaches the tenant: its queue.
    b.goto(&h.url("/console"));
    b.wait_for_url("/console/t/mutuelle/alerts");
    assert_eq!(b.find_all("table.queue tbody tr").len(), 6);
    // What an L1 may not do: no search in the navigation, the page refused, no approve
    // button on the access page, and the approve form refused even with her own token.
    // She asks to see an alert in clear, from its page.
    b.click(&b.find("table.queue tbody tr a"));
    b.wait_for_url("/alerts/");
    b.click(&b.find("details.elevate summary"));
    b.fill_in("#e-hours", "1");
    b.fill_in("#e-why", "check the user behind this process");
    b.click(&b.find("details.elevate button[type=submit]"));
    b.wait_for_url("done=elevation");
    assert!(b.text(&b.find("p.notice")).contains("Elevation requested"));
    let nav = texts(&b, "header nav a");
    assert!(
        nav.contains(&"Alerts".to_owned()) && !nav.contains(&"Search".to_owned()),
        "{nav:?}"
    );
    b.goto(&h.url("/console/t/mutuelle/search?q=x"));
    assert!(
        b.text(&b.find(".error")).contains("does not allow"),
        "{}",
        b.source()
    );
    b.goto(&h.url("/console/access"));
    assert!(b.find_all("form[action$='/approve']").is_empty());
    assert!(b.find_all("form[action$='/revoke']").is_empty());
    let grant = b
        .attribute(&b.find("tr[data-grant]"), "data-grant")
        .expect("grant id");
    let status = b.execute(
        "const csrf = document.querySelector('input[name=csrf]').value;
         return fetch(arguments[0], {method: 'POST', body: new URLSearchParams({csrf}),
           redirect: 'manual'}).then(r => r.status);",
        json!([format!("/console/access/grants/{grant}/revoke")]),
    );
    assert_eq!(status, json!(403), "an L1 cannot revoke");
}

#[test]
fn search_shows_a_syntax_error_at_its_position_then_results_with_histogram_and_facets() {
    let h = server();
    let hugo = make_person(
        &h,
        "mutuelle",
        OrgKind::Client,
        "hugo",
        Role::ClientAnalyst,
        false,
    );
    let Some(b) = browser("search", "en") else {
        return;
    };
    sign_in(&b, &h, &hugo);
    b.goto(&h.url("/console/t/mutuelle/search"));
    b.fill_in("#q", "EventID:1 AND (Image:x");
    b.select("#from", "");
    b.click(&b.find("form.search button[type=submit]"));
    let error = b.text(&b.find("#q-error"));
    assert!(error.contains("Query error at character 15"), "{error}");
    assert!(error.contains("never closed"), "{error}");
    let caret = b.text(&b.find("#q-error pre.caret"));
    assert!(caret.ends_with('^'), "{caret:?}");
    document(&b, "search-error-en");
    b.fill_in("#q", "EventID:1");
    b.click(&b.find("form.search button[type=submit]"));
    b.find("svg.histogram rect");
    let total = b.text(&b.find("p.total"));
    assert!(total.starts_with("6 matching events"), "{total}");
    assert_eq!(b.find_all("table.events tbody tr").len(), 6);
    // A facet value narrows the query.
    let host_facet = b
        .find_all(".facets a")
        .into_iter()
        .find(|a| b.text(a).starts_with("ws-04"))
        .expect("a facet of the hosts");
    b.click(&host_facet);
    b.wait_for_url("ws-04");
    assert_eq!(b.find_all("table.events tbody tr").len(), 1);
    assert!(
        b.attribute(&b.find("#q"), "value")
            .unwrap_or_default()
            .contains("ws-04")
    );
    document(&b, "search-en");
}

#[test]
fn french_and_english() {
    let h = server();
    let analyst = make_person(
        &h,
        "mutuelle",
        OrgKind::Client,
        "amelie",
        Role::ClientAnalyst,
        false,
    );
    let Some(b) = browser("languages", "fr-FR") else {
        return;
    };
    // The browser's language first.
    b.goto(&h.url("/console/signin"));
    assert_eq!(b.text(&b.find("h1")), "Connexion");
    assert_eq!(b.attribute(&b.find("html"), "lang").as_deref(), Some("fr"));
    document(&b, "signin-fr");
    sign_in(&b, &h, &analyst);
    b.goto(&h.url("/console/t/mutuelle/alerts"));
    assert_eq!(b.text(&b.find("h1")), "File d'alertes");
    document(&b, "queue-fr");
    b.goto(&h.url("/console/t/mutuelle/search?q=EventID:1&from="));
    assert!(
        b.text(&b.find("p.total"))
            .contains("événements correspondants")
    );
    document(&b, "search-fr");
    // The reader's choice then wins over the browser's.
    b.goto(&h.url("/console/me"));
    b.select("#lang", "en");
    b.click(&b.find("form[action='/console/me/language'] button"));
    b.wait_for_url("done=language");
    assert_eq!(b.text(&b.find("h1")), "My account");
    b.goto(&h.url("/console/t/mutuelle/alerts"));
    assert_eq!(b.text(&b.find("h1")), "Alert queue");
}

#[test]
fn every_page_works_without_javascript() {
    let h = server();
    let claire = make_person(
        &h,
        "mutuelle",
        OrgKind::Client,
        "claire",
        Role::ClientAnalyst,
        true,
    );
    let Some(b) = Browser::start(
        "no_javascript",
        &Options {
            javascript: false,
            ..Options::default()
        },
    ) else {
        return;
    };
    sign_in(&b, &h, &claire);
    b.goto(&h.url("/console/t/mutuelle/alerts?level=high"));
    assert_eq!(b.find_all("table.queue tbody tr").len(), 6);
    // A form posts and redirects: a personal token, shown once.
    b.goto(&h.url("/console/me"));
    b.fill_in("#tlabel", "laptop");
    b.click(&b.find("form[action='/console/me/tokens'] button"));
    let token = b.text(&b.find(".secret code"));
    assert!(token.starts_with("vgp_"), "{token}");
    document(&b, "me-en");
    // And it is a working token of the API.
    let (status, _) = h.get("/api/v1/me", &token, None);
    assert_eq!(status, 200);
    // Signing out ends the session.
    b.click(&b.find("form[action='/console/signout'] button"));
    b.wait_for_url("/console/signin");
    b.goto(&h.url("/console/t/mutuelle/alerts"));
    b.wait_for_url("/console/signin?next=");
}

// ---- The console's forms without a browser. ----

/// A session cookie and the CSRF token of its pages, by signing in over HTTP.
fn http_session(h: &Harness, p: &Person) -> (String, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let mut r = agent
        .post(h.url("/console/signin"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send(
            format!(
                "login={}&password={}",
                p.login,
                p.password.replace(' ', "+")
            )
            .as_bytes(),
        )
        .expect("sign in");
    assert_eq!(
        r.status(),
        303,
        "{}",
        r.body_mut().read_to_string().unwrap_or_default()
    );
    let cookie = r
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .expect("a session cookie")
        .to_owned();
    let mut page = agent
        .get(h.url("/console/me"))
        .header("Cookie", &cookie)
        .call()
        .expect("me");
    let html = page.body_mut().read_to_string().expect("html");
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a csrf token")
        .to_owned();
    (cookie, csrf)
}

fn post_form(
    h: &Harness,
    path: &str,
    cookie: &str,
    origin: Option<&str>,
    body: &str,
) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let mut request = agent
        .post(h.url(path))
        .header("Cookie", cookie)
        .header("Content-Type", "application/x-www-form-urlencoded");
    if let Some(o) = origin {
        request = request.header("Origin", o);
    }
    let mut r = request.send(body.as_bytes()).expect("post");
    (
        r.status().as_u16(),
        r.body_mut().read_to_string().unwrap_or_default(),
    )
}

#[test]
fn forms_need_the_sessions_token_and_this_origin() {
    let h = server();
    let a = make_person(
        &h,
        "mutuelle",
        OrgKind::Client,
        "anne",
        Role::ClientAnalyst,
        false,
    );
    let (cookie, csrf) = http_session(&h, &a);
    let here = format!("http://{}", h.http);
    // With the token and the right origin: done (a redirect).
    let (status, _) = post_form(
        &h,
        "/console/me/language",
        &cookie,
        Some(&here),
        &format!("csrf={csrf}&lang=fr"),
    );
    assert_eq!(status, 303);
    // No token, a wrong one, another session's: refused before any handler.
    for body in [
        "lang=fr".to_owned(),
        "csrf=00&lang=fr".to_owned(),
        format!("csrf={}&lang=fr", "0".repeat(64)),
    ] {
        let (status, page) = post_form(&h, "/console/me/language", &cookie, Some(&here), &body);
        assert_eq!(status, 403, "{body}");
        assert!(page.contains("token"), "{page}");
    }
    // Another site's page, even with the token.
    let (status, page) = post_form(
        &h,
        "/console/me/language",
        &cookie,
        Some("https://evil.example"),
        &format!("csrf={csrf}&lang=fr"),
    );
    assert_eq!(status, 403);
    assert!(page.contains("another site"), "{page}");
    // A malformed form (a number that is not one): an HTML page naming the field.
    let (status, page) = post_form(
        &h,
        "/console/me/tokens",
        &cookie,
        Some(&here),
        &format!("csrf={csrf}&label=x&days=many"),
    );
    assert!((400..500).contains(&status), "{status}");
    assert!(
        page.starts_with("<!doctype html>") && page.contains("days"),
        "{page}"
    );
    // A form over the size limit.
    let big = format!(
        "csrf={csrf}&lang={}",
        "x".repeat(vigie_server::console::MAX_FORM_BYTES)
    );
    let (status, _) = post_form(&h, "/console/me/language", &cookie, Some(&here), &big);
    assert_eq!(status, 413);
    // A page answers with the security headers.
    let agent = &h.agent;
    let r = agent
        .get(h.url("/console/signin"))
        .call()
        .expect("signin page");
    let csp = r
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe-inline"));
    assert_eq!(
        r.headers()
            .get("x-content-type-options")
            .and_then(|v| v.to_str().ok()),
        Some("nosniff")
    );
    // Assets: hashed names, a year of cache; an unknown name is a 404.
    let html = agent
        .get(h.url("/console/signin"))
        .call()
        .expect("page")
        .body_mut()
        .read_to_string()
        .expect("html");
    let css = html
        .split("href=\"/console/assets/")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("the stylesheet");
    let r = agent
        .get(h.url(&format!("/console/assets/{css}")))
        .call()
        .expect("css");
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("immutable"))
    );
    let r = agent
        .get(h.url("/console/assets/console.css"))
        .call()
        .expect("css");
    assert_eq!(r.status(), 404);
}

#[test]
fn a_page_view_is_audited_like_the_api_read() {
    let h = server();
    let a = make_person(
        &h,
        "mutuelle",
        OrgKind::Client,
        "audrey",
        Role::ClientAnalyst,
        false,
    );
    let (cookie, _) = http_session(&h, &a);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let r = agent
        .get(h.url("/console/t/mutuelle/alerts?host=ws-01.corp.local"))
        .header("Cookie", &cookie)
        .call()
        .expect("queue");
    assert_eq!(r.status(), 200);
    let r = agent
        .get(h.url("/console/t/mutuelle/search?q=EventID:1&from="))
        .header("Cookie", &cookie)
        .call()
        .expect("search");
    assert_eq!(r.status(), 200);
    // The operator reads the platform chain; the tenant's trail is read by its client: a
    // client admin's token.
    let admin = h.rt.block_on(async {
        let config = Config {
            data_dir: h.dir.path().join("data"),
            ..Config::default()
        };
        let state = State::open(&config.state_path()).await.expect("state");
        common::person(
            &state,
            "mutuelle",
            OrgKind::Client,
            "auditor",
            Role::Auditor,
        )
        .await
    });
    let (status, body) = h.get("/api/v1/audit?limit=50", &admin, Some("mutuelle"));
    assert_eq!(status, 200, "{body}");
    let trail: serde_json::Value = serde_json::from_str(&body).expect("json");
    let records = trail["records"].as_array().expect("records");
    let read = records
        .iter()
        .find(|r| r["record"]["action"] == "read-alerts" && r["record"]["count"] == 1)
        .expect("the queue's read, with its one alert");
    assert!(
        read["record"]["objects"][0]
            .as_str()
            .is_some_and(|o| o.starts_with("alert:"))
    );
    let search = records
        .iter()
        .find(|r| r["record"]["action"] == "search-events")
        .expect("the search's read");
    assert_eq!(search["record"]["query"], "EventID:1");
    assert_eq!(search["record"]["count"], 6);

    // An export: CSV with the formula-like values defused, one audit record with its count.
    let mut r = agent
        .get(h.url("/console/t/mutuelle/search/export?q=EventID:1&from=&format=csv"))
        .header("Cookie", &cookie)
        .call()
        .expect("export");
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()
            .get("content-disposition")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("attachment"))
    );
    let csv = r.body_mut().read_to_string().expect("csv");
    assert_eq!(csv.lines().count(), 7, "a header and six events: {csv}");
    assert!(csv.starts_with("time,host,source,fields\r\n"));
    let (_, body) = h.get(
        "/api/v1/audit?action=export-events",
        &admin,
        Some("mutuelle"),
    );
    let trail: serde_json::Value = serde_json::from_str(&body).expect("json");
    let export = &trail["records"][0]["record"];
    assert_eq!(export["count"], 6, "{body}");
    assert!(
        export["query"]
            .as_str()
            .is_some_and(|q| q.starts_with("EventID:1"))
    );
    let r = agent
        .get(h.url("/console/t/mutuelle/search/export?format=xlsx"))
        .header("Cookie", &cookie)
        .call()
        .expect("export");
    assert_eq!(r.status(), 400);
}

#[test]
fn an_admin_resets_a_lost_second_factor_and_sets_the_sensitive_fields_and_grouping() {
    let h = server();
    let admin = make_person(
        &h,
        "mutuelle",
        OrgKind::Client,
        "claire",
        Role::ClientAdmin,
        true,
    );
    let lost = make_person(
        &h,
        "mutuelle",
        OrgKind::Client,
        "lost",
        Role::ClientAdmin,
        true,
    );
    let Some(b) = browser("reset_mfa", "en") else {
        return;
    };
    sign_in(&b, &h, &admin);
    b.goto(&h.url("/console/users"));
    // Not one's own second factor (replaced from the account page): the other admin's.
    let reset = b.find_all("form[action$='/mfa/reset']");
    assert_eq!(reset.len(), 1, "only the other enrolled admin's");
    let row = b
        .find_all("table tbody tr")
        .into_iter()
        .find(|r| b.text(r).starts_with("lost"))
        .expect("the lost device's owner");
    let button = b.find_all("form[action$='/mfa/reset'] button").remove(0);
    assert!(b.text(&row).contains(&b.text(&button)));
    b.click(&button);
    assert!(
        b.answer_dialog(true)
            .is_some_and(|q| q.contains("second factor")),
        "a confirmation"
    );
    b.wait_for_url("done=mfa-reset");
    // Their password alone now signs them in, straight to the enrolment.
    let b2 = browser("reset_mfa_lost", "en").expect("a second browser");
    b2.goto(&h.url("/console/signin"));
    b2.fill_in("#login", &lost.login);
    b2.fill_in("#password", &lost.password);
    b2.click(&b2.find("form[action='/console/signin'] button[type=submit]"));
    b2.wait_to_leave("/console/signin");
    b2.goto(&h.url("/console/users"));
    b2.wait_for_url("/console/me/mfa");
    drop(b2);
    // The sensitive fields of the tenant, from the governance page.
    b.goto(&h.url("/console/t/mutuelle/governance"));
    b.fill_in("#s-fields", "TargetUserName, patient_id");
    b.fill_in("#s-hours", "2");
    // Grouping: an hour's window, by user, a closed group stays closed.
    b.fill_in("#g-window", "60");
    b.select("#g-entity", "user");
    b.select("#g-closed", "new");
    b.click(&b.find("form[action$='/settings'] button"));
    b.wait_for_url("done=settings");
    assert_eq!(
        b.attribute(&b.find("#s-fields"), "value").as_deref(),
        Some("TargetUserName, patient_id")
    );
    assert_eq!(
        b.attribute(&b.find("#g-window"), "value").as_deref(),
        Some("60")
    );
    let grouping = h.rt.block_on(async {
        let state = State::open(&h.dir.path().join("data/state.db"))
            .await
            .expect("state");
        let settings = state
            .tenant_settings(&vigie_event::TenantId::new("mutuelle").expect("tenant"))
            .await
            .expect("settings")
            .expect("the tenant");
        state.close().await;
        settings.grouping
    });
    assert_eq!(grouping.window_minutes, 60);
    assert_eq!(grouping.entity, vigie_govern::grouping::Entity::User);
    assert_eq!(
        grouping.when_closed,
        vigie_govern::grouping::WhenClosed::New
    );
    let (status, body) = h.get("/api/v1/settings", &h.readers["mutuelle"], None);
    assert_eq!(
        status, 403,
        "a client analyst does not read the access settings: {body}"
    );
    document(&b, "governance-en");
    // An out-of-range elevation is refused on the page.
    b.fill_in("#s-hours", "500");
    b.execute(
        "document.querySelector('#s-hours').removeAttribute('max');",
        json!([]),
    );
    b.click(&b.find("form[action$='/settings'] button"));
    assert!(b.text(&b.find(".error")).contains("from 1 to 72"));
}

#[test]
fn new_alerts_arrive_in_an_open_queue() {
    let h = Harness::start(&["mutuelle"], Vec::new(), |c| {
        c.console.live_poll_ms = 300;
    });
    let analyst = make_person(
        &h,
        "mutuelle",
        OrgKind::Client,
        "live",
        Role::ClientAnalyst,
        false,
    );
    let Some(b) = browser("live_queue", "en") else {
        return;
    };
    sign_in(&b, &h, &analyst);
    b.goto(&h.url("/console/t/mutuelle/alerts"));
    b.find("#queue");
    assert!(b.find_all("table.queue tbody tr").is_empty());
    // An alert is written while the page is open: it appears without a reload.
    let (status, text) = h.post(
        "/api/v1/ingest",
        &h.tokens["mutuelle"],
        None,
        format!("{}\n", alerting_event("live-canary", "ws-live.corp.local")).as_bytes(),
    );
    assert_eq!(status, 200, "{text}");
    let row = b.find("table.queue tbody tr.fresh");
    assert!(b.text(&row).contains("ws-live.corp.local"));
    assert_eq!(b.url(), h.url("/console/t/mutuelle/alerts"), "no reload");
}

/// Every page, in English and French, as each person who may see it; documented when
/// blessing.
#[test]
fn a_tour_of_every_page_in_english_and_french() {
    let h = server();
    let analyst = make_person(
        &h,
        "mutuelle",
        OrgKind::Client,
        "tour.analyst",
        Role::ClientAnalyst,
        false,
    );
    let admin = make_person(
        &h,
        "mutuelle",
        OrgKind::Client,
        "tour.admin",
        Role::ClientAdmin,
        true,
    );
    let operator = make_person(
        &h,
        "Operator",
        OrgKind::Operator,
        "tour.operator",
        Role::Operator,
        true,
    );
    let first_alert = h
        .get("/api/v1/alerts", &h.readers["mutuelle"], None)
        .1
        .split("\"id\":\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("an alert")
        .to_owned();
    let pages = |lang: &str| -> Vec<(&'static str, String, &'static str, &'static str)> {
        let t = |en: &'static str, fr: &'static str| if lang == "en" { en } else { fr };
        vec![
            (
                "analyst",
                "/console/t/mutuelle/alerts".into(),
                t("Alert queue", "File d'alertes"),
                "queue",
            ),
            (
                "analyst",
                format!("/console/t/mutuelle/alerts/{first_alert}"),
                "",
                "alert",
            ),
            (
                "analyst",
                "/console/t/mutuelle/search?q=EventID:1&from=".into(),
                t("Event search", "Recherche d'événements"),
                "search",
            ),
            (
                "analyst",
                "/console/t/mutuelle/rules".into(),
                t("Rules", "Règles"),
                "rules",
            ),
            (
                "analyst",
                "/console/t/mutuelle/alerts?view=groups&open=1".into(),
                t("Alert queue", "File d'alertes"),
                "groups",
            ),
            (
                "analyst",
                "/console/t/mutuelle/suppressions".into(),
                t("Suppressions", "Suppressions"),
                "suppressions-empty",
            ),
            (
                "analyst",
                "/console/t/mutuelle/hunts".into(),
                t("Retro-hunts", "Chasses rétrospectives"),
                "hunts",
            ),
            (
                "analyst",
                "/console/t/mutuelle/sources".into(),
                t("Source inventory", "Inventaire des sources"),
                "inventory",
            ),
            (
                "analyst",
                "/console/me".into(),
                t("My account", "Mon compte"),
                "me",
            ),
            (
                "admin",
                "/console/access".into(),
                t("Access", "Accès"),
                "access",
            ),
            (
                "admin",
                "/console/users".into(),
                t(
                    "Users of the organisation",
                    "Utilisateurs de l'organisation",
                ),
                "users",
            ),
            (
                "admin",
                "/console/t/mutuelle/notifications".into(),
                t("Notifications", "Notifications"),
                "notifications",
            ),
            (
                "admin",
                "/console/t/mutuelle/audit".into(),
                t("Audit trail", "Journal d'audit"),
                "audit",
            ),
            (
                "operator",
                "/console/health".into(),
                t("Platform health", "Santé de la plateforme"),
                "health",
            ),
            (
                "operator",
                "/console/audit".into(),
                t("Audit trail", "Journal d'audit"),
                "platform-audit",
            ),
            ("operator", "/console/orgs".into(), "Organisations", "orgs"),
            (
                "admin",
                "/console/t/mutuelle/governance".into(),
                t("Access governance", "Gouvernance des accès"),
                "governance",
            ),
        ]
    };
    // One browser per person, signed in once (a TOTP code serves once); English first,
    // then French, chosen on the account page.
    for (who, person) in [
        ("analyst", &analyst),
        ("admin", &admin),
        ("operator", &operator),
    ] {
        let Some(b) = browser(&format!("tour_{who}"), "en") else {
            return;
        };
        sign_in(&b, &h, person);
        for lang in ["en", "fr"] {
            if lang == "fr" {
                b.goto(&h.url("/console/me"));
                b.select("#lang", "fr");
                b.click(&b.find("form[action='/console/me/language'] button"));
                b.wait_for_url("done=language");
            }
            for (owner, path, title, name) in pages(lang) {
                if owner != who {
                    continue;
                }
                b.goto(&h.url(&path));
                let h1 = b.text(&b.find("h1"));
                if !title.is_empty() {
                    assert_eq!(h1, title, "{path} in {lang}");
                }
                assert_eq!(b.attribute(&b.find("html"), "lang").as_deref(), Some(lang));
                if name == "audit" {
                    // Verify the chain from the page.
                    b.click(&b.find("form[action$='/audit/verify'] button"));
                    let status = b.text(&b.find("main p.notice"));
                    let holds = if lang == "en" {
                        "The chain holds"
                    } else {
                        "La chaîne est intègre"
                    };
                    assert!(status.contains(holds), "{status}");
                }
                if name == "rules" {
                    assert!(!b.find_all(".matrix td li").is_empty(), "the ATT&CK matrix");
                }
                if name == "health" {
                    assert!(b.text(&b.find("main")).contains("mutuelle"));
                }
                document(&b, &format!("{name}-{lang}"));
            }
        }
    }
}

/// The platform chain's records of `action`, newest first (read by the operator).
fn platform_records(h: &Harness, action: &str) -> Vec<serde_json::Value> {
    let (status, body) = h.get(
        &format!("/api/v1/audit?action={action}&limit=100"),
        &h.admin,
        None,
    );
    assert_eq!(status, 200, "{body}");
    let trail: serde_json::Value = serde_json::from_str(&body).expect("json");
    trail["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| r["record"].clone())
        .collect()
}

#[test]
fn signing_in_and_out_of_the_console_is_in_the_platform_trail() {
    let h = server();
    let p = make_person(
        &h,
        "mutuelle",
        OrgKind::Client,
        "trail",
        Role::ClientAdmin,
        true,
    );
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    // The password: a page with the pending proof, recorded as its own step.
    let mut r = agent
        .post(h.url("/console/signin"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send(format!("login=trail&password={}", p.password.replace(' ', "+")).as_bytes())
        .expect("password");
    assert_eq!(r.status(), 200);
    let html = r.body_mut().read_to_string().expect("html");
    let pending = html
        .split("name=\"pending\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a pending proof")
        .to_owned();
    let first = &platform_records(&h, "sign-in-password")[0];
    assert_eq!(first["outcome"], "allowed");
    assert_eq!(first["who"]["address"], "127.0.0.1");
    assert!(first["who"]["user"].is_number());
    // The code: the session, recorded as the sign-in.
    let body = format!("pending={}&code={}", pending.replace('=', "%3D"), p.code());
    let r = agent
        .post(h.url("/console/signin/code"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send(body.as_bytes())
        .expect("code");
    assert_eq!(r.status(), 303);
    let cookie = r
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .expect("a session")
        .to_owned();
    let signed = &platform_records(&h, "sign-in")[0];
    assert_eq!(signed["outcome"], "allowed");
    assert_eq!(signed["who"]["address"], "127.0.0.1");
    assert_eq!(signed["who"]["user"], first["who"]["user"]);
    // Signing out, from a page's form (its token).
    let mut page = agent
        .get(h.url("/console/me"))
        .header("Cookie", &cookie)
        .call()
        .expect("me");
    let html = page.body_mut().read_to_string().expect("html");
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a token")
        .to_owned();
    let r = agent
        .post(h.url("/console/signout"))
        .header("Cookie", &cookie)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send(format!("csrf={csrf}").as_bytes())
        .expect("sign out");
    assert_eq!(r.status(), 303);
    let out = &platform_records(&h, "sign-out")[0];
    assert_eq!(out["who"]["user"], first["who"]["user"]);
    assert_eq!(out["who"]["address"], "127.0.0.1");
    // The session is over.
    let r = agent
        .get(h.url("/console/me"))
        .header("Cookie", &cookie)
        .call()
        .expect("me");
    assert_eq!(r.status(), 303);
}

#[test]
fn an_analyst_triages_an_alert_from_its_page_and_the_history_shows_it() {
    let h = server();
    let analyst = make_person(
        &h,
        "mutuelle",
        OrgKind::Client,
        "triager",
        Role::ClientAnalyst,
        false,
    );
    let Some(b) = browser("triage_page", "en") else {
        return;
    };
    sign_in(&b, &h, &analyst);
    b.goto(&h.url("/console/t/mutuelle/alerts"));
    b.click(&b.find("table.queue tbody tr a"));
    b.wait_for_url("/alerts/");
    let page = b.url();
    assert!(
        b.text(&b.find("main"))
            .contains("Nothing done on this alert yet")
    );
    // New: only acknowledging is offered. (The options are read in one script call, and
    // waited for: the page after a form replaces the one before.)
    let offered = |b: &Browser, want: &[&str]| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let got = b.execute(
                "return Array.from(document.querySelectorAll('#t-action option')).map(o => o.value);",
                json!([]),
            );
            if got == json!(want) {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "offered {got}, expected {want:?}"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    };
    offered(&b, &["acknowledge"]);
    b.click(&b.find("section.triage button[type=submit]"));
    b.wait_for_url("done=transition");
    offered(&b, &["qualify", "escalate"]);
    // Qualifying without a reason is refused, with the lifecycle's words.
    b.select("#t-action", "qualify");
    b.select("#t-qualification", "false-positive");
    b.click(&b.find("section.triage button[type=submit]"));
    assert!(
        b.text(&b.find(".error"))
            .contains("qualifying takes a reason")
    );
    b.goto(&page);
    b.select("#t-action", "qualify");
    b.select("#t-qualification", "false-positive");
    b.fill_in("#t-note", "the nightly macro of the finance team");
    b.click(&b.find("section.triage button[type=submit]"));
    b.wait_for_url("done=transition");
    b.select("#t-action", "close");
    b.click(&b.find("section.triage button[type=submit]"));
    b.wait_for_url("done=transition");
    offered(&b, &["reopen"]);
    let rows = texts(&b, "table.history tbody tr");
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert!(
        rows[1].contains("false-positive") && rows[1].contains("nightly macro"),
        "{rows:?}"
    );
    assert!(
        rows[0].contains("triager (test)"),
        "the actor's name: {rows:?}"
    );
    // The queue shows the alert closed.
    b.goto(&h.url("/console/t/mutuelle/alerts?status=closed"));
    assert_eq!(b.find_all("table.queue tbody tr").len(), 1);
    document(&b, "queue-closed-en");
}

/// Gives `analyst` an approved grant of `tier` on `mutuelle` for a day (the grant flow has
/// its own browser test; here it is set up directly).
fn grant_tier(h: &Harness, analyst: &str, requester: &str, tier: Tier) {
    let path = h.dir.path().join("data").join(vigie_state::DATABASE_FILE);
    h.rt.block_on(async {
        let state = State::open(&path).await.expect("state");
        let user = |login: &str| {
            let state = state.clone();
            let login = login.to_owned();
            async move {
                state
                    .user_by_login(&login)
                    .await
                    .expect("user")
                    .expect("exists")
                    .id
            }
        };
        let (analyst, requester) = (user(analyst).await, user(requester).await);
        let now = Timestamp::now().as_nanos();
        let id = state
            .insert_grant(&vigie_state::NewGrant {
                analyst,
                requester,
                tenant: vigie_event::TenantId::new("mutuelle").expect("tenant"),
                tier,
                from: Timestamp::from_nanos(now - 60_000_000_000),
                until: Timestamp::from_nanos(now + 86_400_000_000_000),
                justification: "console triage test".into(),
            })
            .await
            .expect("grant");
        state
            .set_grant_status(
                id,
                vigie_govern::grant::GrantStatus::Pending,
                vigie_govern::grant::GrantStatus::Approved,
                requester,
                Timestamp::now(),
            )
            .await
            .expect("approve");
        state.close().await;
    });
}

#[test]
fn l1_qualifies_a_group_once_and_escalates_to_the_l2_queue() {
    let h = server();
    // Three more alerts of the same rule on ws-00: one group of four.
    let mut body = String::new();
    for i in 0..3 {
        body.push_str(&alerting_event(&format!("again-{i}"), "ws-00.corp.local"));
        body.push('\n');
    }
    let (status, text) = h.post(
        "/api/v1/ingest",
        &h.tokens["mutuelle"],
        None,
        body.as_bytes(),
    );
    assert_eq!(status, 200, "{text}");
    h.settle();
    let admin = make_person(
        &h,
        "Veille SOC",
        OrgKind::Provider,
        "paula",
        Role::ProviderAdmin,
        true,
    );
    let lea = make_person(
        &h,
        "Veille SOC",
        OrgKind::Provider,
        "lea",
        Role::ProviderAnalyst(Tier::L1),
        true,
    );
    let hugo = make_person(
        &h,
        "Veille SOC",
        OrgKind::Provider,
        "hugo",
        Role::ProviderAnalyst(Tier::L2),
        true,
    );
    grant_tier(&h, "lea", "paula", Tier::L1);
    grant_tier(&h, "hugo", "paula", Tier::L2);
    let _ = admin;
    let Some(b) = browser("triage_groups", "en") else {
        return;
    };
    sign_in(&b, &h, &lea);
    // The group view: ws-00's group has four alerts.
    b.goto(&h.url("/console/t/mutuelle/alerts?view=groups&open=1"));
    let rows = texts(&b, "table.groups tbody tr");
    let four = rows
        .iter()
        .position(|r| r.contains("ws-00.corp.local"))
        .unwrap_or_else(|| panic!("no group of ws-00: {rows:?}"));
    assert!(rows[four].contains('4'), "{rows:?}");
    document(&b, "queue-groups-en");
    b.click(&b.find_all("table.groups tbody tr a")[four]);
    b.wait_for_url("/groups/");
    let group_page = b.url();
    b.select("#g-action", "acknowledge");
    b.click(&b.find("section.triage button[type=submit]"));
    b.wait_for_url("done=4");
    b.goto(&group_page);
    b.select("#g-action", "qualify");
    b.select("#g-qualification", "false-positive");
    b.fill_in("#g-note", "the backup agent's nightly script");
    b.click(&b.find("section.triage button[type=submit]"));
    b.wait_for_url("done=4");
    document(&b, "group-en");
    let listed = texts(&b, "table.queue tbody tr");
    assert_eq!(listed.len(), 4, "{listed:?}");
    assert!(listed.iter().all(|r| r.contains("qualified")), "{listed:?}");
    // Each alert's history has the group's qualification, with its note.
    let (status, json_text) = h.get(
        "/api/v1/alerts?host=ws-00.corp.local&status=qualified",
        &h.readers["mutuelle"],
        None,
    );
    assert_eq!(status, 200);
    let found: serde_json::Value = serde_json::from_str(&json_text).expect("json");
    assert_eq!(found["alerts"].as_array().expect("alerts").len(), 4);
    assert!(
        found["alerts"]
            .as_array()
            .expect("alerts")
            .iter()
            .all(|a| a["qualification"] == "false-positive")
    );
    // L1 escalates another alert to L2 with a handover note.
    b.goto(&h.url("/console/t/mutuelle/alerts?host=ws-03.corp.local"));
    b.click(&b.find("table.queue tbody tr a"));
    b.wait_for_url("/alerts/");
    let alert_page = b.url();
    b.select("#t-action", "acknowledge");
    b.click(&b.find("section.triage button[type=submit]"));
    b.wait_for_url("done=transition");
    b.goto(&alert_page);
    b.select("#t-action", "escalate");
    b.select("#t-tier", "l2");
    b.fill_in("#t-note", "winword spawned powershell; the user denies it");
    b.click(&b.find("section.triage button[type=submit]"));
    b.wait_for_url("done=transition");
    // Out of L1's queue, in L2's.
    b.goto(&h.url("/console/t/mutuelle/alerts?queue=l1&open=1"));
    assert!(
        !b.source().contains("ws-03.corp.local"),
        "still in L1's queue"
    );
    let b = browser("triage_groups_l2", "en").expect("a second browser");
    sign_in(&b, &h, &hugo);
    b.goto(&h.url("/console/t/mutuelle/alerts?queue=l2&open=1"));
    let l2 = texts(&b, "table.queue tbody tr");
    assert_eq!(l2.len(), 1, "{l2:?}");
    assert!(
        l2[0].contains("ws-03.corp.local") && l2[0].contains("escalated"),
        "{l2:?}"
    );
    document(&b, "queue-l2-en");
    // Hugo takes it: assigned to him, with a comment, both in the history.
    b.goto(&alert_page);
    let hugo_option = b.execute(
        "return Array.from(document.querySelectorAll('#a-assignee option')).filter(o => o.text.includes('hugo')).map(o => o.value)[0];",
        json!([]),
    );
    b.select(
        "#a-assignee",
        hugo_option.as_str().expect("hugo is offered"),
    );
    b.click(&b.find("form[action$='/assign'] button"));
    b.wait_for_url("done=assign");
    b.goto(&alert_page);
    b.fill_in("#c-text", "same macro seen at two other clients");
    b.click(&b.find("form[action$='/comment'] button"));
    b.wait_for_url("done=comment");
    let history = texts(&b, "table.history tbody tr");
    assert!(
        history
            .iter()
            .any(|r| r.contains("escalate") && r.contains("user denies it")),
        "{history:?}"
    );
    assert!(
        history
            .iter()
            .any(|r| r.contains("assign") && r.contains("hugo (test)")),
        "{history:?}"
    );
    assert!(
        history
            .iter()
            .any(|r| r.contains("comment") && r.contains("two other clients")),
        "{history:?}"
    );
    document(&b, "alert-assigned-en");
}

#[test]
fn a_suppression_previewed_then_created_stops_new_alerts_of_that_kind() {
    let h = server();
    let analyst = make_person(
        &h,
        "mutuelle",
        OrgKind::Client,
        "tuner",
        Role::ClientAnalyst,
        false,
    );
    let Some(b) = browser("suppression", "en") else {
        return;
    };
    sign_in(&b, &h, &analyst);
    // From the rules page, the rule's "tune" link opens the editor with its id.
    b.goto(&h.url("/console/t/mutuelle/rules"));
    let tune = b
        .find_all("table a")
        .into_iter()
        .find(|a| {
            b.attribute(a, "href")
                .is_some_and(|h| h.contains("suppressions?rule=5d0c6d21"))
        })
        .expect("the PowerShell rule's tune link");
    b.click(&tune);
    b.wait_for_url("/suppressions");
    let template = b.execute(
        "return document.querySelector('#s-document').value;",
        json!([]),
    );
    assert!(
        template
            .as_str()
            .unwrap_or("")
            .contains("5d0c6d21-7d0e-4f35-9a57-3f1c9e1b0a01"),
        "{template}"
    );
    let filter = "title: canary-1 is the finance team's macro\nlogsource:\n  product: windows\nfilter:\n  rules:\n    - 5d0c6d21-7d0e-4f35-9a57-3f1c9e1b0a01\n  selection:\n    CommandLine|contains: canary-1\n  condition: not selection\n";
    b.execute(
        "document.querySelector('#s-document').value = arguments[0];",
        json!([filter]),
    );
    b.click(&b.find("button[formaction$='/preview']"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !b.source().contains("It would have kept back") {
        assert!(
            std::time::Instant::now() < deadline,
            "no preview: {}",
            b.source()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let summary = b.text(&b.find("section.notice p"));
    assert!(summary.contains("kept back 1 of the 6 alerts"), "{summary}");
    assert_eq!(b.find_all("section.notice table tbody tr").len(), 1);
    document(&b, "suppression-preview-en");
    // The form kept the document; created with a justification.
    b.fill_in("#s-why", "the finance team's nightly macro");
    b.click(&b.find("form.stack button:not([formaction])"));
    b.wait_for_url("done=created");
    // New alerts of that kind are kept back and counted; others still arrive.
    let mut body = String::new();
    for (i, canary) in ["canary-1-again", "canary-1-more", "fresh-one"]
        .iter()
        .enumerate()
    {
        body.push_str(&alerting_event(canary, &format!("ws-9{i}.corp.local")));
        body.push('\n');
    }
    let (status, text) = h.post(
        "/api/v1/ingest",
        &h.tokens["mutuelle"],
        None,
        body.as_bytes(),
    );
    assert_eq!(status, 200, "{text}");
    h.settle();
    b.goto(&h.url("/console/t/mutuelle/alerts"));
    assert_eq!(b.find_all("table.queue tbody tr").len(), 7);
    b.goto(&h.url("/console/t/mutuelle/suppressions"));
    let rows = texts(&b, "table.suppressions tbody tr");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(
        rows[0].contains("active") && rows[0].contains("tuner (test)"),
        "{rows:?}"
    );
    let hits = b.text(&b.find("table.suppressions tbody td:nth-child(7)"));
    assert!(hits.starts_with('2'), "{hits}");
    document(&b, "suppressions-en");
    // The rules page counts them.
    b.goto(&h.url("/console/t/mutuelle/rules"));
    assert!(
        b.source().contains("2 kept back"),
        "the rules page counts them"
    );
}

#[test]
fn a_retro_hunt_from_the_console_runs_to_its_results() {
    let h = server();
    let analyst = make_person(
        &h,
        "mutuelle",
        OrgKind::Client,
        "hunter",
        Role::ClientAnalyst,
        false,
    );
    let Some(b) = browser("hunt", "en") else {
        return;
    };
    sign_in(&b, &h, &analyst);
    b.goto(&h.url("/console/t/mutuelle/hunts"));
    b.select("#h-rule", "5d0c6d21-7d0e-4f35-9a57-3f1c9e1b0a01");
    b.fill_in("#h-from", "2026-11-01T00:00:00Z");
    b.click(&b.find("form.stack button[type=submit]"));
    b.wait_for_url("/hunts/");
    // The page refreshes itself until the job ends.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while b.source().contains("http-equiv=\"refresh\"") {
        assert!(std::time::Instant::now() < deadline, "the hunt never ended");
        std::thread::sleep(std::time::Duration::from_millis(200));
        b.goto(&b.url());
    }
    let facts = b.text(&b.find("dl.facts"));
    assert!(facts.contains("done"), "{facts}");
    assert_eq!(
        b.find_all("table.queue tbody tr").len(),
        6,
        "six events matched"
    );
    document(&b, "hunt-en");
    b.goto(&h.url("/console/t/mutuelle/hunts"));
    let rows = texts(&b, "table.hunts tbody tr");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(
        rows[0].contains("Office Application Spawns PowerShell"),
        "{rows:?}"
    );
}

#[test]
fn a_silent_source_raises_and_clears_its_alert() {
    let h = Harness::start(&["mutuelle"], Vec::new(), |c| {
        c.triage.silence_check_ms = 200;
    });
    let send = |canary: &str| {
        let body = format!("{}\n", alerting_event(canary, "erp-01.corp.local"));
        let (status, text) = h.post(
            "/api/v1/ingest",
            &h.tokens["mutuelle"],
            None,
            body.as_bytes(),
        );
        assert_eq!(status, 200, "{text}");
        h.settle();
    };
    send("first");
    let analyst = make_person(
        &h,
        "mutuelle",
        OrgKind::Client,
        "watcher",
        Role::ClientAnalyst,
        false,
    );
    let Some(b) = browser("silent_source", "en") else {
        return;
    };
    sign_in(&b, &h, &analyst);
    b.goto(&h.url("/console/t/mutuelle/sources"));
    let rows = texts(&b, "table.sources tbody tr");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(
        rows[0].contains("erp-01.corp.local") && rows[0].contains("learning"),
        "{rows:?}"
    );
    // Its owner from the form; a one-second threshold through the API (the form takes
    // minutes).
    b.fill_in("#o-1", "ERP team");
    b.click(&b.find("table.sources form button"));
    b.wait_for_url("done=saved");
    let source = b.text(&b.find("table.sources tbody td"));
    let body = serde_json::json!({"source": source, "host": "erp-01.corp.local", "owner": "ERP team", "threshold_s": 1});
    let mut answer = h
        .agent
        .put(h.url("/api/v1/sources"))
        .header("Authorization", format!("Bearer {}", h.readers["mutuelle"]))
        .header("Content-Type", "application/json")
        .send(body.to_string().as_bytes())
        .expect("request");
    assert_eq!(
        answer.status().as_u16(),
        200,
        "{}",
        answer.body_mut().read_to_string().unwrap_or_default()
    );
    // The check raises the alert: the inventory says silent and links it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        b.goto(&h.url("/console/t/mutuelle/sources"));
        // Silent as soon as the threshold passes; the link once the check raised the alert.
        if !b.find_all("tr.source-silent a").is_empty() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never silent");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    document(&b, "sources-en");
    b.click(&b.find("tr.source-silent a"));
    b.wait_for_url("/alerts/");
    let alert_page = b.url();
    assert!(
        b.text(&b.find("h1")).contains("Source silent"),
        "{}",
        b.text(&b.find("h1"))
    );
    assert!(b.text(&b.find("dl.facts")).contains("new"));
    // Events return: the platform closes it, the history says so.
    send("back");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        b.goto(&alert_page);
        if b.text(&b.find("dl.facts")).contains("closed") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never closed");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let history = texts(&b, "table.history tbody tr");
    assert!(
        history
            .iter()
            .any(|r| r.contains("source-returned") && r.contains("Vigie")),
        "{history:?}"
    );
}

/// The client's admin adds a webhook rule from the console: a destination off the
/// operator's allow-list is refused with the reason; an allowed one is created, its
/// signing secret shown once; new high alerts reach the receiver signed with it; the page
/// lists the delivery; the rule is turned off.
#[test]
fn notifications_are_set_from_the_console_and_reach_the_receiver() {
    let (port, received) = common::receiver(false);
    let h = Harness::start(&["mutuelle"], Vec::new(), |c| {
        c.notify.webhook_allow = vec![format!("http://127.0.0.1:{port}/soc/")];
        c.notify.poll_ms = 100;
    });
    let admin = make_person(
        &h,
        "mutuelle",
        OrgKind::Client,
        "notify.admin",
        Role::ClientAdmin,
        true,
    );
    let Some(b) = browser("notifications", "en") else {
        return;
    };
    sign_in(&b, &h, &admin);
    b.goto(&h.url("/console/t/mutuelle/notifications"));
    assert_eq!(b.text(&b.find("h1")), "Notifications");
    b.fill_in("#n-name", "SOC on call");
    b.fill_in("#n-url", "http://10.0.0.1/soc/hook");
    b.click(&b.find("#notify-form button[type=submit]"));
    let refusal = b.text(&b.find(".error"));
    assert!(refusal.contains("allow-list"), "{refusal}");
    b.goto(&h.url("/console/t/mutuelle/notifications"));
    b.fill_in("#n-name", "SOC on call");
    b.fill_in("#n-url", &format!("http://127.0.0.1:{port}/soc/hook"));
    b.click(&b.find("#notify-form button[type=submit]"));
    let secret = b.text(&b.find("code.secret"));
    assert!(secret.starts_with("whsec_"), "{secret}");
    let rows = texts(&b, "table.notify-rules tbody tr");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(
        rows[0].contains("new alerts at or above high") && rows[0].contains("/soc/hook"),
        "{rows:?}"
    );
    // High alerts arrive; the receiver gets them signed with the secret shown.
    let body = format!("{}\n", alerting_event("canary-notify", "ws-77.corp.local"));
    let (status, text) = h.post(
        "/api/v1/ingest",
        &h.tokens["mutuelle"],
        None,
        body.as_bytes(),
    );
    assert_eq!(status, 200, "{text}");
    h.settle();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let hit = loop {
        if let Some(r) = received.lock().expect("lock").first().cloned() {
            break r;
        }
        assert!(std::time::Instant::now() < deadline, "never notified");
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert_eq!(hit.path, "/soc/hook");
    let now = vigie_event::Timestamp::now().as_nanos() / 1_000_000_000;
    assert!(vigie_govern::notify::verify(
        secret.as_bytes(),
        hit.header("X-Vigie-Signature").expect("signed"),
        hit.body.as_bytes(),
        now,
        300
    ));
    // The page lists what was sent.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        b.goto(&h.url("/console/t/mutuelle/notifications"));
        if !b.find_all("tr.delivery-delivered").is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never listed delivered"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(
        b.find_all("code.secret").is_empty(),
        "the secret is shown once"
    );
    document(&b, "notifications-en");
    // Turned off.
    b.click(&b.find("table.notify-rules form button"));
    b.wait_for_url("done=disabled");
    assert_eq!(b.find_all("table.notify-rules tr.off").len(), 1);
    h.stop();
}

/// An analyst takes two alerts of the queue at once: selected, "assign to me", and the
/// "assigned to me" tab lists exactly them.
#[test]
fn alerts_are_assigned_in_bulk_from_the_queue() {
    let h = server();
    let analyst = make_person(
        &h,
        "mutuelle",
        OrgKind::Client,
        "bulk.taker",
        Role::ClientAnalyst,
        false,
    );
    let Some(b) = browser("bulk_assign", "en") else {
        return;
    };
    sign_in(&b, &h, &analyst);
    b.goto(&h.url("/console/t/mutuelle/alerts"));
    let boxes = b.find_all("tbody input[type=checkbox][name=alert]");
    assert!(boxes.len() >= 2, "{} rows", boxes.len());
    let chosen: Vec<String> = boxes[..2]
        .iter()
        .map(|e| b.attribute(e, "value").expect("an alert id"))
        .collect();
    for e in &boxes[..2] {
        b.click(e);
    }
    b.select("#b-action", "assign");
    b.click(&b.find("fieldset.bulk-actions button[type=submit]"));
    let status = b.text(&b.find("[role=status]"));
    assert!(status.contains('2'), "{status}");
    b.goto(&h.url("/console/t/mutuelle/alerts?assignee=me&open=1"));
    let mine: Vec<String> = b
        .find_all("tbody input[type=checkbox][name=alert]")
        .iter()
        .map(|e| b.attribute(e, "value").expect("an alert id"))
        .collect();
    let (mut a, mut c) = (mine, chosen);
    a.sort();
    c.sort();
    assert_eq!(a, c, "exactly the two chosen");
    h.stop();
}
