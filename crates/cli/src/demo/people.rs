//! The people of the demo and their story. Before the server starts: the client
//! "Mutuelle Exemple" (owner of the `mutuelle` tenant, whose user names are sensitive), the
//! provider "Veille SOC" with its admin and an L1 and an L2 analyst, grants requested by the
//! provider's admin and approved by the client's admin, and each person's password (and
//! TOTP secret where a second factor is required), printed for the console and the API.
//! After the attack story: the L1 analyst signs in and sees pseudonyms, asks to see one
//! alert in clear, the client's admin approves, the analyst sees it; the L2 analyst searches
//! (and is refused a search on a sensitive field); the CISO reads the audit trail that
//! shows who read what.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use vigie_event::TenantId;
use vigie_event::time::Timestamp;
use vigie_govern::seal::SealKey;
use vigie_govern::totp::{Totp, base32};
use vigie_govern::{OrgKind, Role, Tier, password};
use vigie_server::people::{self, GrantDecision, GrantInput, actor};
use vigie_server::secrets::Secrets;
use vigie_state::{NewUser, State, TenantSettings};

/// One person of the story.
#[derive(Clone, Debug)]
pub(crate) struct Person {
    pub(crate) id: u64,
    pub(crate) login: &'static str,
    pub(crate) name: &'static str,
    pub(crate) role: Role,
    pub(crate) password: String,
    /// The TOTP seed, for roles that require a second factor.
    pub(crate) seed: Option<Vec<u8>>,
}

/// The cast, as created.
#[derive(Clone, Debug)]
pub(crate) struct Cast {
    pub(crate) people: Vec<Person>,
}

/// The client organisation of the first tenant, and the provider.
pub(crate) const CLIENT: &str = "Mutuelle Exemple";
pub(crate) const PROVIDER: &str = "Veille SOC";
/// Fields whose values provider analysts see as pseudonyms on the client's tenant.
pub(crate) const SENSITIVE: [&str; 2] = ["User", "TargetUserName"];

const HOUR: i64 = 3_600_000_000_000;

fn random_password() -> Result<String> {
    // Four groups of five base32 characters: 100 bits, and easy to type.
    let mut bytes = [0u8; 13];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let text = base32(&bytes).to_ascii_lowercase();
    Ok(format!(
        "{}-{}-{}-{}",
        &text[0..5],
        &text[5..10],
        &text[10..15],
        &text[15..20]
    ))
}

/// Creates the organisations, tenants, people and grants; `tenants[0]` is the client's,
/// `tenants[1]` another client's (a bank the provider does not serve).
pub(crate) async fn setup(
    state: &State,
    secrets: &Secrets,
    tenants: [&str; 2],
    hook: &str,
) -> Result<Cast> {
    let client = state.create_org(CLIENT, OrgKind::Client).await?;
    let bank = state.create_org("Globex Banque", OrgKind::Client).await?;
    let provider = state.create_org(PROVIDER, OrgKind::Provider).await?;
    let operator = state.create_org("Operator", OrgKind::Operator).await?;
    let mutuelle = TenantId::new(tenants[0])?;
    state.create_tenant_for(&mutuelle, client).await?;
    state
        .create_tenant_for(&TenantId::new(tenants[1])?, bank)
        .await?;
    state
        .set_tenant_settings(
            &mutuelle,
            &TenantSettings {
                sensitive_fields: SENSITIVE.iter().map(|s| (*s).to_owned()).collect(),
                max_elevation_hours: 4,
                grouping: Default::default(),
            },
        )
        .await?;
    let plan: [(&str, &str, &str, Role); 6] = [
        (
            "claire.admin",
            "Claire Dubois (client admin)",
            CLIENT,
            Role::ClientAdmin,
        ),
        ("marc.rssi", "Marc Leroy (CISO)", CLIENT, Role::Ciso),
        (
            "paul.admin",
            "Paul Martin (provider admin)",
            PROVIDER,
            Role::ProviderAdmin,
        ),
        (
            "lea.l1",
            "Léa Bernard (analyst L1)",
            PROVIDER,
            Role::ProviderAnalyst(Tier::L1),
        ),
        (
            "hugo.l2",
            "Hugo Petit (analyst L2)",
            PROVIDER,
            Role::ProviderAnalyst(Tier::L2),
        ),
        (
            "olga.ops",
            "Olga Roux (instance operator)",
            "Operator",
            Role::Operator,
        ),
    ];
    let totp: &SealKey = secrets.totp();
    let mut people = Vec::new();
    for (login, name, org, role) in plan {
        let org_id = match org {
            CLIENT => client,
            PROVIDER => provider,
            _ => operator,
        };
        let password = random_password()?;
        let mut salt = [0u8; password::SALT_BYTES];
        getrandom::fill(&mut salt).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        let id = state
            .create_user(&NewUser {
                org: org_id,
                login: login.to_owned(),
                name: name.to_owned(),
                role,
                password: Some(password::hash(&password, &salt)?),
                contract_end: None,
            })
            .await?;
        let seed = if role.requires_mfa() {
            let mut seed = vec![0u8; 20];
            getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
            let mut nonce = [0u8; 12];
            getrandom::fill(&mut nonce).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
            let sealed = totp.seal(&seed, &format!("user:{}", id.0), nonce);
            state.enrol_totp(id, &sealed, &[]).await?;
            Some(seed)
        } else {
            None
        };
        people.push(Person {
            id: id.0,
            login,
            name,
            role,
            password,
            seed,
        });
    }
    // Who of the client is told what (before anything happens, so the grant requests
    // below are told to the client's admin).
    let id_of = |login: &str| {
        people
            .iter()
            .find(|p: &&Person| p.login == login)
            .map(|p| vigie_govern::grant::UserId(p.id))
    };
    let (claire_id, marc_id) = (
        id_of("claire.admin").context("claire")?,
        id_of("marc.rssi").context("marc")?,
    );
    super::notify::rules(state, tenants[0], hook, claire_id, marc_id).await?;
    // The provider's admin asks, the client's admin approves: through the same rules as
    // the API, each step in the audit trail.
    let paul = actor(&state.user_by_login("paul.admin").await?.context("paul")?);
    let claire = actor(
        &state
            .user_by_login("claire.admin")
            .await?
            .context("claire")?,
    );
    let until = Timestamp::from_nanos(Timestamp::now().as_nanos() + 90 * 24 * HOUR)
        .to_rfc3339(vigie_event::UtcOffset::UTC);
    for (analyst, tier) in [("lea.l1", "l1"), ("hugo.l2", "l2")] {
        let input = GrantInput {
            analyst: analyst.to_owned(),
            tenant: tenants[0].to_owned(),
            tier: tier.to_owned(),
            from: None,
            until: until.clone(),
            justification: "contrat de supervision SOC 2027, lot 1".to_owned(),
        };
        let (grant, change) = people::request_grant(state, &paul, &input).await?;
        record(state, &paul, "grant-request", tenants[0], change).await?;
        let change = people::decide_grant(state, &claire, grant, GrantDecision::Approve).await?;
        record(state, &claire, "grant-approve", tenants[0], change).await?;
    }
    Ok(Cast { people })
}

async fn record(
    state: &State,
    by: &vigie_govern::grant::Actor,
    action: &str,
    tenant: &str,
    change: people::Change,
) -> Result<()> {
    use vigie_govern::audit::record::{Outcome, Record, Who};
    let now = Timestamp::now();
    state
        .append_audit(&[vigie_state::audit::AuditEntry {
            chain: vigie_state::audit::tenant_chain(tenant),
            record: Record {
                time: now.to_rfc3339(vigie_event::UtcOffset::UTC),
                who: Who {
                    user: Some(by.user.0),
                    org: Some(by.org.0),
                    address: Some("demo setup".to_owned()),
                    ..Who::default()
                },
                action: action.to_owned(),
                tenant: Some(tenant.to_owned()),
                objects: change.objects,
                query: None,
                count: None,
                outcome: Outcome::Allowed,
                before: change.before,
                after: change.after,
            },
            time: now,
        }])
        .await?;
    Ok(())
}

/// Prints who can sign in, with what.
#[allow(clippy::print_stdout)]
pub(crate) fn print_logins(cast: &Cast, http: SocketAddr) {
    println!("  console    http://{http}/console  (sign in as one of the people below)");
    println!(
        "  people     (the TOTP secret goes into an authenticator app, or `vigie totp SECRET` \
         prints the current code; the API: POST http://{http}/api/v1/login {{login, password, code}})"
    );
    for p in &cast.people {
        let second = match &p.seed {
            Some(seed) => format!("  TOTP secret {}", base32(seed)),
            None => String::new(),
        };
        println!(
            "    {:<13} {:<15} {:<31} password {}{second}",
            p.login,
            p.role.as_str(),
            p.name,
            p.password
        );
    }
}

/// A signed-in client of the API (its session cookie).
pub(crate) struct Session {
    agent: ureq::Agent,
    base: String,
    cookie: String,
}

impl Session {
    pub(crate) fn sign_in(http: SocketAddr, person: &Person) -> Result<Session> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        let mut body = json!({"login": person.login, "password": person.password});
        if let Some(seed) = &person.seed {
            let now = u64::try_from(Timestamp::now().as_nanos() / 1_000_000_000).unwrap_or(0);
            body["code"] = json!(Totp::standard(seed)?.code_at(now));
        }
        let response = agent
            .post(format!("http://{http}/api/v1/login"))
            .header("Content-Type", "application/json")
            .send(body.to_string())
            .context("POST /api/v1/login")?;
        let status = response.status().as_u16();
        let cookie = response
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(str::to_owned);
        let Some(cookie) = cookie.filter(|_| status == 200) else {
            bail!("{} could not sign in (HTTP {status})", person.login);
        };
        Ok(Session {
            agent,
            base: format!("http://{http}"),
            cookie,
        })
    }

    pub(crate) fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value)> {
        let url = format!("{}{path}", self.base);
        let mut response = match (method, body) {
            ("GET", _) => self.agent.get(&url).header("Cookie", &self.cookie).call(),
            ("PUT", Some(b)) => self
                .agent
                .put(&url)
                .header("Cookie", &self.cookie)
                .header("Content-Type", "application/json")
                .send(b.to_string()),
            (_, Some(b)) => self
                .agent
                .post(&url)
                .header("Cookie", &self.cookie)
                .header("Content-Type", "application/json")
                .send(b.to_string()),
            (_, None) => self
                .agent
                .post(&url)
                .header("Cookie", &self.cookie)
                .send_empty(),
        }
        .with_context(|| format!("{method} {path}"))?;
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }
}

fn person<'a>(cast: &'a Cast, login: &str) -> Result<&'a Person> {
    cast.people
        .iter()
        .find(|p| p.login == login)
        .with_context(|| format!("no {login} in the cast"))
}

/// The first sensitive field of an alert's event, as `field = value`.
fn sensitive_value(detail: &Value) -> Option<String> {
    SENSITIVE.iter().find_map(|f| {
        detail["event"]["fields"]
            .get(*f)
            .map(|v| format!("{f} = {v}"))
    })
}

/// The access story over the real API; gives back the L1's and the L2's sessions (a second
/// sign-in within the same 30 s TOTP step would be refused as a replay).
#[allow(clippy::print_stdout)]
pub(crate) fn story(http: SocketAddr, cast: &Cast, tenant: &str) -> Result<(Session, Session)> {
    println!("  access story (tenant {tenant}, sensitive fields {SENSITIVE:?})");
    let lea = Session::sign_in(http, person(cast, "lea.l1")?)?;
    let (status, alerts) = lea.call("GET", "/api/v1/alerts?limit=50", None)?;
    if status != 200 {
        bail!("lea.l1 could not list alerts: HTTP {status} {alerts}");
    }
    let list = alerts["alerts"].as_array().cloned().unwrap_or_default();
    // An alert whose event names a user: the one to look at in clear.
    let mut chosen = None;
    for alert in &list {
        let id = alert["id"].as_str().unwrap_or_default();
        let (_, detail) = lea.call("GET", &format!("/api/v1/alerts/{id}"), None)?;
        if let Some(shown) = sensitive_value(&detail) {
            chosen = Some((id.to_owned(), alert["rule_title"].clone(), shown));
            break;
        }
    }
    let (id, title, shown) = chosen.context("no alert whose event names a user")?;
    println!(
        "    lea.l1 (L1) signs in with password and TOTP, reads {} alerts; in \"{}\": {shown}",
        list.len(),
        title.as_str().unwrap_or("?")
    );
    let (status, _) = lea.call("GET", "/api/v1/events?q=*", None)?;
    println!("    lea.l1 searches events: HTTP {status} (an L1 triages alerts; searching is L2's)");
    let (status, asked) = lea.call(
        "POST",
        "/api/v1/elevations",
        Some(json!({
            "alert": id, "widening": "clear-fields", "hours": 1,
            "justification": "confirmer l'identité du compte avant escalade",
        })),
    )?;
    if status != 201 {
        bail!("the elevation request failed: HTTP {status} {asked}");
    }
    let elevation = asked["id"].as_str().context("elevation id")?.to_owned();
    println!("    lea.l1 asks to see alert {id} in clear for 1 h: elevation {elevation} pending");
    let claire = Session::sign_in(http, person(cast, "claire.admin")?)?;
    let (status, _) = claire.call(
        "POST",
        &format!("/api/v1/elevations/{elevation}/approve"),
        None,
    )?;
    println!("    claire.admin (client admin, TOTP) approves it: HTTP {status}");
    let (_, clear) = lea.call("GET", &format!("/api/v1/alerts/{id}"), None)?;
    let clear_shown = sensitive_value(&clear).unwrap_or_default();
    println!("    lea.l1 reads that alert again: {clear_shown}");
    let hugo = Session::sign_in(http, person(cast, "hugo.l2")?)?;
    let (status, found) = hugo.call("GET", "/api/v1/events?q=EventID:4624&limit=5", None)?;
    println!(
        "    hugo.l2 (L2) searches EventID:4624: HTTP {status}, {} events",
        found["total"]
    );
    let (status, refused) =
        hugo.call("GET", "/api/v1/events?q=TargetUserName:administrator", None)?;
    println!(
        "    hugo.l2 searches TargetUserName:administrator: HTTP {status} ({})",
        refused["error"]["message"].as_str().unwrap_or("")
    );
    let marc = Session::sign_in(http, person(cast, "marc.rssi")?)?;
    let (status, trail) = marc.call("GET", "/api/v1/audit?limit=40", None)?;
    if status != 200 {
        bail!("the CISO could not read the audit trail: HTTP {status} {trail}");
    }
    let logins: std::collections::BTreeMap<u64, &str> =
        cast.people.iter().map(|p| (p.id, p.login)).collect();
    println!(
        "    marc.rssi (CISO) reads the audit trail of {tenant}: who read what (newest first)"
    );
    let records = trail["records"].as_array().cloned().unwrap_or_default();
    for r in records.iter().take(12) {
        let record = &r["record"];
        let who = record["who"]["user"]
            .as_u64()
            .and_then(|u| logins.get(&u).map(|l| (*l).to_owned()))
            .unwrap_or_else(|| record["who"]["user"].to_string());
        println!(
            "      #{:<4} {} {:<12} {:<19} {}{}{}",
            r["seq"],
            record["time"]
                .as_str()
                .unwrap_or("")
                .get(11..19)
                .unwrap_or(""),
            who,
            record["action"].as_str().unwrap_or(""),
            record["objects"]
                .as_array()
                .map(|o| o
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(" "))
                .unwrap_or_default(),
            record["count"]
                .as_u64()
                .map(|c| format!(" ({c} results)"))
                .unwrap_or_default(),
            match record["outcome"].as_str() {
                Some("refused") =>
                    format!(" REFUSED ({})", record["reason"].as_str().unwrap_or("")),
                _ => String::new(),
            }
        );
    }
    println!(
        "    ({} records on this tenant's chain so far; `vigie audit verify --data DIR` checks them)",
        records
            .first()
            .map_or(0, |r| r["seq"].as_u64().unwrap_or(0))
    );
    Ok((lea, hugo))
}
