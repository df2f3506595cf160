//! `vigie admin init|org|user|grant …`: people and access from scripts, through the same
//! service functions as the API (`vigie_server::people`), each change written to the audit
//! trail's platform or tenant chain as done "via the command line".

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use vigie_event::TenantId;
use vigie_event::time::Timestamp;
use vigie_govern::audit::record::{Outcome, Record, Who};
use vigie_govern::grant::Actor;
use vigie_govern::{OrgKind, Role};
use vigie_server::Config;
use vigie_server::people::{self, Change, GrantDecision, GrantInput, UserInput, actor, grant_json};
use vigie_server::secrets::Secrets;
use vigie_state::audit::{AuditEntry, PLATFORM_CHAIN, tenant_chain};
use vigie_state::{GrantId, NewUser, State, TenantSettings, UserStatus};

#[derive(Debug, Subcommand)]
pub(crate) enum OrgCommand {
    /// Creates a client (owns tenants) or provider (supplies analysts) organisation.
    Create {
        /// Its name.
        name: String,
        /// `client` or `provider`.
        #[arg(long)]
        kind: String,
    },
    /// Lists the organisations.
    List,
    /// Lets the organisation's people sign in with its identity provider (OpenID Connect):
    /// an issuer belongs to one organisation.
    Oidc {
        /// The organisation's name.
        name: String,
        /// The issuer URL, exactly as its discovery document states it.
        #[arg(long)]
        issuer: String,
        /// Vigie's client id at the provider.
        #[arg(long)]
        client_id: String,
        /// A file holding Vigie's client secret (none: a public client).
        #[arg(long)]
        client_secret_file: Option<std::path::PathBuf>,
        /// The ID token claim holding the Vigie login: email, preferred_username or sub.
        #[arg(long, default_value = "email")]
        claim: String,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum UserCommand {
    /// Creates a user and prints their one-time enrolment token (72 h).
    Create {
        /// The organisation's name.
        #[arg(long)]
        org: String,
        /// The sign-in name.
        #[arg(long)]
        login: String,
        /// The display name.
        #[arg(long)]
        name: String,
        /// client-admin, ciso, client-analyst, auditor, provider-admin, provider-l1,
        /// provider-l2, provider-l3.
        #[arg(long)]
        role: String,
        /// A provider user's contract end (RFC 3339): deactivated from then on.
        #[arg(long)]
        contract_end: Option<String>,
    },
    /// Suspends a user: their sessions end and their tokens stop working at once.
    Suspend {
        /// The login.
        login: String,
    },
    /// Reactivates a suspended or deactivated user.
    Activate {
        /// The login.
        login: String,
    },
    /// Prints a new one-time enrolment token (a forgotten password): the user sets a new
    /// password with it.
    Enrol {
        /// The login.
        login: String,
    },
    /// Lists users (of one organisation, or all).
    List {
        /// The organisation's name.
        #[arg(long)]
        org: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum GrantCommand {
    /// Lists grants (of one tenant, or all).
    List {
        /// The tenant.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Requests a grant, as the provider admin `--as`.
    Request {
        /// The provider admin asking.
        #[arg(long = "as")]
        by: String,
        /// The analyst's login.
        #[arg(long)]
        analyst: String,
        /// The tenant.
        #[arg(long)]
        tenant: String,
        /// l1, l2 or l3.
        #[arg(long)]
        tier: String,
        /// End of validity (RFC 3339).
        #[arg(long)]
        until: String,
        /// Why.
        #[arg(long)]
        justification: String,
    },
    /// Approves a pending grant, as the client admin `--as` of the tenant's owner.
    Approve {
        /// The grant's id.
        id: u64,
        /// The client admin deciding.
        #[arg(long = "as")]
        by: String,
    },
    /// Refuses a pending grant, as the client admin `--as`.
    Refuse {
        /// The grant's id.
        id: u64,
        /// The client admin deciding.
        #[arg(long = "as")]
        by: String,
    },
    /// Revokes a grant at once, as the client or provider admin `--as`.
    Revoke {
        /// The grant's id.
        id: u64,
        /// The admin revoking.
        #[arg(long = "as")]
        by: String,
    },
}

/// The instance's operator (the actor of `vigie admin` commands that need one).
async fn operator(state: &State) -> Result<Actor> {
    for org in state.orgs().await? {
        if org.kind == OrgKind::Operator {
            for user in state.users_of(org.id).await? {
                if user.role == Role::Operator && user.status == UserStatus::Active {
                    return Ok(actor(&user));
                }
            }
        }
    }
    bail!("the instance has no operator yet: run `vigie admin init` first")
}

async fn person(state: &State, login: &str) -> Result<Actor> {
    let user = state
        .user_by_login(login)
        .await?
        .with_context(|| format!("no user {login:?}"))?;
    if user.status != UserStatus::Active {
        bail!("{login:?} is suspended or deactivated");
    }
    Ok(actor(&user))
}

/// Writes the audit record of a change made from the command line.
async fn audit(
    state: &State,
    by: Option<&Actor>,
    action: &str,
    tenant: Option<&str>,
    change: Change,
) -> Result<()> {
    let now = Timestamp::now();
    let record = Record {
        time: now.to_rfc3339(vigie_event::UtcOffset::UTC),
        who: Who {
            user: by.map(|a| a.user.0),
            org: by.map(|a| a.org.0),
            address: Some("command line".to_owned()),
            ..Who::default()
        },
        action: action.to_owned(),
        tenant: tenant.map(str::to_owned),
        objects: change.objects,
        query: None,
        count: None,
        outcome: Outcome::Allowed,
        before: change.before,
        after: change.after,
    };
    state
        .append_audit(&[AuditEntry {
            chain: tenant.map_or_else(|| PLATFORM_CHAIN.to_owned(), tenant_chain),
            record,
            time: now,
        }])
        .await?;
    Ok(())
}

/// `vigie admin init`: the operator organisation, the first operator and their enrolment
/// token; the instance's secrets (and the checkpoint key printed).
#[allow(clippy::print_stdout)]
pub(crate) async fn init(
    state: &State,
    config: &Config,
    login: &str,
    name: &str,
) -> Result<ExitCode> {
    if operator(state).await.is_ok() {
        bail!(
            "the instance has an operator already (vigie admin user enrol LOGIN for a new enrolment token)"
        );
    }
    let secrets = Secrets::load_or_create(&Secrets::dir(config))?;
    let org = match state
        .orgs()
        .await?
        .into_iter()
        .find(|o| o.kind == OrgKind::Operator)
    {
        Some(org) => org.id,
        None => state.create_org("Operator", OrgKind::Operator).await?,
    };
    let id = state
        .create_user(&NewUser {
            org,
            login: login.to_owned(),
            name: name.to_owned(),
            role: Role::Operator,
            password: None,
            contract_end: None,
        })
        .await?;
    let token = state
        .create_enrolment_token(
            id,
            Timestamp::from_nanos(
                Timestamp::now().as_nanos() + people::ENROLMENT_HOURS * 3_600_000_000_000,
            ),
        )
        .await?;
    audit(
        state,
        None,
        "instance-init",
        None,
        Change {
            objects: vec![format!("user:{}", id.0)],
            before: None,
            after: Some(serde_json::json!({"operator": login})),
            tenant: None,
        },
    )
    .await?;
    println!("operator {login:?} created.");
    println!("one-time enrolment token (72 h, shown once): {token}");
    println!(
        "  set a password:  POST /api/v1/enrol {{\"token\": \"…\", \"password\": \"…\"}}, then sign in \
         (POST /api/v1/login) and enrol a second factor (POST /api/v1/me/totp)"
    );
    println!(
        "audit checkpoint key (keep a copy outside this machine): {}",
        secrets.verifier_key()
    );
    Ok(ExitCode::SUCCESS)
}

#[allow(clippy::print_stdout)]
pub(crate) async fn org(state: &State, config: &Config, command: &OrgCommand) -> Result<ExitCode> {
    match command {
        OrgCommand::Oidc {
            name,
            issuer,
            client_id,
            client_secret_file,
            claim,
        } => {
            let by = operator(state).await?;
            let org = state
                .org_by_name(name)
                .await?
                .with_context(|| format!("no organisation {name:?}"))?;
            let secret = match client_secret_file {
                Some(file) => Some(
                    std::fs::read_to_string(file)
                        .with_context(|| format!("cannot read {}", file.display()))?
                        .trim()
                        .to_owned(),
                ),
                None => None,
            };
            let secrets = Secrets::load_or_create(&Secrets::dir(config))?;
            vigie_server::oidc::configure(
                state,
                &secrets,
                org.id,
                issuer,
                client_id,
                secret.as_deref(),
                claim,
            )
            .await?;
            audit(
                state,
                Some(&by),
                "org-identity-provider",
                None,
                Change {
                    objects: vec![format!("org:{}", org.id.0)],
                    before: None,
                    after: Some(serde_json::json!({"issuer": issuer, "client_id": client_id, "claim": claim})),
                    tenant: None,
                },
            )
            .await?;
            println!(
                "{name:?} signs in with {issuer} (claim {claim}): GET /api/v1/oidc/{{org}}/start"
            );
        }
        OrgCommand::Create { name, kind } => {
            let by = operator(state).await?;
            let kind: OrgKind = kind.parse()?;
            let (id, change) = people::create_org(state, &by, name, kind).await?;
            audit(state, Some(&by), "org-create", None, change).await?;
            println!(
                "organisation {name:?} ({}) created: id {}",
                kind.as_str(),
                id.0
            );
        }
        OrgCommand::List => {
            for org in state.orgs().await? {
                println!("{}\t{}\t{}", org.id.0, org.kind.as_str(), org.name);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn org_id(state: &State, name: &str) -> Result<String> {
    Ok(state
        .org_by_name(name)
        .await?
        .with_context(|| format!("no organisation {name:?} (vigie admin org list)"))?
        .id
        .0
        .to_string())
}

#[allow(clippy::print_stdout)]
pub(crate) async fn user(state: &State, command: &UserCommand) -> Result<ExitCode> {
    let by = operator(state).await?;
    let target = |login: &str| {
        let login = login.to_owned();
        async move {
            state
                .user_by_login(&login)
                .await?
                .with_context(|| format!("no user {login:?}"))
        }
    };
    match command {
        UserCommand::Create {
            org,
            login,
            name,
            role,
            contract_end,
        } => {
            let input = UserInput {
                org: Some(org_id(state, org).await?),
                login: login.clone(),
                name: name.clone(),
                role: role.clone(),
                contract_end: contract_end.clone(),
            };
            let (user, token, change) = people::create_user(state, &by, &input).await?;
            audit(state, Some(&by), "user-create", None, change).await?;
            println!("user {login:?} ({}) created: id {}", user.role, user.id.0);
            println!("one-time enrolment token (72 h, shown once): {token}");
        }
        UserCommand::Suspend { login } | UserCommand::Activate { login } => {
            let user = target(login).await?;
            let (status, action) = match command {
                UserCommand::Suspend { .. } => (UserStatus::Suspended, "user-suspend"),
                _ => (UserStatus::Active, "user-activate"),
            };
            let change = people::set_status(state, &by, user.id, status).await?;
            audit(state, Some(&by), action, None, change).await?;
            println!("{login}: {}", status.as_str());
        }
        UserCommand::Enrol { login } => {
            let user = target(login).await?;
            let token = state
                .create_enrolment_token(
                    user.id,
                    Timestamp::from_nanos(
                        Timestamp::now().as_nanos() + people::ENROLMENT_HOURS * 3_600_000_000_000,
                    ),
                )
                .await?;
            audit(
                state,
                Some(&by),
                "user-enrol",
                None,
                Change {
                    objects: vec![format!("user:{}", user.id.0)],
                    ..Change::default()
                },
            )
            .await?;
            println!("one-time enrolment token for {login:?} (72 h, shown once): {token}");
        }
        UserCommand::List { org } => {
            let users = match org {
                Some(name) => {
                    let id = org_id(state, name).await?;
                    state
                        .users_of(vigie_govern::grant::OrgId(id.parse()?))
                        .await?
                }
                None => state.all_users().await?,
            };
            for u in users {
                println!(
                    "{}\t{}\t{}\t{}\tmfa={}",
                    u.id.0,
                    u.login,
                    u.role,
                    u.status.as_str(),
                    u.mfa_enrolled
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[allow(clippy::print_stdout)]
pub(crate) async fn grant(state: &State, command: &GrantCommand) -> Result<ExitCode> {
    match command {
        GrantCommand::List { tenant } => {
            let grants = match tenant {
                Some(t) => state.grants_on(&TenantId::new(t)?).await?,
                None => state.all_grants().await?,
            };
            for g in &grants {
                println!("{}", grant_json(g));
            }
            println!("{} grant(s)", grants.len());
        }
        GrantCommand::Request {
            by,
            analyst,
            tenant,
            tier,
            until,
            justification,
        } => {
            let by = person(state, by).await?;
            let input = GrantInput {
                analyst: analyst.clone(),
                tenant: tenant.clone(),
                tier: tier.clone(),
                from: None,
                until: until.clone(),
                justification: justification.clone(),
            };
            let (id, change) = people::request_grant(state, &by, &input).await?;
            audit(state, Some(&by), "grant-request", Some(tenant), change).await?;
            println!(
                "grant {} requested (pending approval by the tenant owner's admin)",
                id.0
            );
        }
        GrantCommand::Approve { id, by }
        | GrantCommand::Refuse { id, by }
        | GrantCommand::Revoke { id, by } => {
            let by = person(state, by).await?;
            let (decision, action) = match command {
                GrantCommand::Approve { .. } => (GrantDecision::Approve, "grant-approve"),
                GrantCommand::Refuse { .. } => (GrantDecision::Refuse, "grant-refuse"),
                _ => (GrantDecision::Revoke, "grant-revoke"),
            };
            let grant = state
                .grant(GrantId(*id))
                .await?
                .with_context(|| format!("no grant {id}"))?;
            let change = people::decide_grant(state, &by, GrantId(*id), decision).await?;
            audit(
                state,
                Some(&by),
                action,
                Some(grant.tenant.as_str()),
                change,
            )
            .await?;
            println!("grant {id}: {}", action.trim_start_matches("grant-"));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `vigie admin tenant settings`: the sensitive fields and the longest elevation.
#[allow(clippy::print_stdout)]
pub(crate) async fn tenant_settings(
    state: &State,
    tenant: &str,
    sensitive: Option<&str>,
    max_elevation_hours: Option<u32>,
) -> Result<ExitCode> {
    let tenant = TenantId::new(tenant)?;
    let (after, change) = vigie_server::people::update_tenant_settings(
        state,
        &tenant,
        sensitive,
        max_elevation_hours,
        None,
    )
    .await?;
    if let Some(mut change) = change {
        change.tenant = None;
        let by = operator(state).await.ok();
        audit(
            state,
            by.as_ref(),
            "tenant-settings",
            Some(tenant.as_str()),
            change,
        )
        .await?;
    }
    let TenantSettings {
        sensitive_fields,
        max_elevation_hours,
        ..
    } = after;
    println!(
        "{}: sensitive fields [{}], elevations up to {max_elevation_hours} h",
        tenant.as_str(),
        sensitive_fields.join(", ")
    );
    Ok(ExitCode::SUCCESS)
}
