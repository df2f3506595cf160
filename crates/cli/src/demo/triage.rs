//! The triage story over the real API (issue 27): the provider's L1 acknowledges the new
//! alerts, qualifies the noisiest group as a false positive at once, escalates the
//! credential dumping to L2 with a handover note; L2 finds it in its queue and takes it.
//! The summary prints the queue by status and that alert's history.

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use super::people::{Cast, Session};

/// The rule the story escalates.
const CREDENTIAL_DUMPING: &str = "LSASS Memory Dump";

/// The rules whose alerts are the background's noise on this tenant (the internal
/// vulnerability scanner's failed root logins over SSH, raised as "SSH Brute Force on root"
/// by the correlation), qualified as a false positive group by group.
const NOISE: &str = "SSH";

fn ids(list: &Value) -> Vec<String> {
    list["alerts"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Runs the story on `tenant`, printing what each person does.
#[allow(clippy::print_stdout)]
pub(crate) fn story(cast: &Cast, tenant: &str, lea: &Session, hugo: &Session) -> Result<()> {
    println!("  triage story (tenant {tenant})");
    // L1 takes the new alerts of its queue: acknowledged in one bulk action.
    let (status, new) = lea.call("GET", "/api/v1/alerts?status=new&queue=l1&limit=1000", None)?;
    if status != 200 {
        bail!("lea.l1 could not list the L1 queue: HTTP {status} {new}");
    }
    let fresh = ids(&new);
    let (status, acked) = lea.call(
        "POST",
        "/api/v1/alerts/bulk",
        Some(json!({"ids": fresh, "action": "acknowledge"})),
    )?;
    println!(
        "    lea.l1 acknowledges the {} new alerts of the L1 queue in one bulk action: HTTP {status}, {} done",
        fresh.len(),
        acked["done"]
    );
    // The noisiest open group of the noise rule: a false positive, once.
    let (_, groups) = lea.call("GET", "/api/v1/alert-groups?open=true&limit=100", None)?;
    let noisy = groups["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|g| g["rule_title"].as_str().unwrap_or("").contains(NOISE))
        .max_by_key(|g| g["count"].as_u64().unwrap_or(0))
        .cloned();
    if let Some(g) = noisy {
        let id = g["id"].as_str().unwrap_or_default();
        let (status, done) = lea.call(
            "POST",
            &format!("/api/v1/alert-groups/{id}/transitions"),
            Some(json!({
                "action": "qualify", "qualification": "false-positive",
                "note": "scanner interne autorisé : bruit connu",
            })),
        )?;
        println!(
            "    lea.l1 qualifies the group \"{}\" on {} {} ({} alerts) as false positive at once: HTTP {status}, {} done",
            g["rule_title"].as_str().unwrap_or("?"),
            g["entity"].as_str().unwrap_or("?"),
            g["entity_value"].as_str().unwrap_or("?"),
            g["count"],
            done["done"]
        );
    } else {
        println!(
            "    (no group of \"{NOISE}\" yet: the run was too short for the background's noise)"
        );
    }
    // The credential dumping goes to L2 with a handover note.
    let (_, all) = lea.call("GET", "/api/v1/alerts?queue=l1&open=true&limit=1000", None)?;
    let dump = all["alerts"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| {
            a["rule_title"]
                .as_str()
                .unwrap_or("")
                .contains(CREDENTIAL_DUMPING)
        })
        .cloned()
        .context("no credential dumping alert in the L1 queue")?;
    let dump_id = dump["id"].as_str().unwrap_or_default().to_owned();
    let (status, answer) = lea.call(
        "POST",
        &format!("/api/v1/alerts/{dump_id}/transitions"),
        Some(json!({
            "action": "escalate", "tier": "l2",
            "note": "rundll32 + comsvcs MiniDump sur lsass : vérifié le parent et l'heure, suspicion de vol d'identifiants",
        })),
    )?;
    if status != 200 {
        bail!("the escalation failed: HTTP {status} {answer}");
    }
    println!(
        "    lea.l1 escalates \"{}\" on {} to L2 with a handover note: HTTP {status}",
        dump["rule_title"].as_str().unwrap_or("?"),
        dump["host"].as_str().unwrap_or("?")
    );
    let (_, l2) = hugo.call("GET", "/api/v1/alerts?queue=l2&open=true", None)?;
    println!(
        "    hugo.l2 opens the L2 queue: {} alert(s); takes the credential dumping and comments it",
        ids(&l2).len()
    );
    hugo.call(
        "POST",
        &format!("/api/v1/alerts/{dump_id}/assign"),
        Some(json!({"assignee": "me"})),
    )?;
    hugo.call(
        "POST",
        &format!("/api/v1/alerts/{dump_id}/comments"),
        Some(json!({"text": "isoler le poste, rechercher des connexions latérales"})),
    )?;
    // A source goes silent: the quietest one gets a five-second threshold (as its owner
    // would set a short one for a system that must never stop), and its alert arrives.
    let (_, inventory) = hugo.call("GET", "/api/v1/sources", None)?;
    let quietest = inventory["sources"]
        .as_array()
        .into_iter()
        .flatten()
        .min_by_key(|s| s["last_seen"].as_str().unwrap_or("").to_owned())
        .cloned();
    if let Some(s) = quietest {
        let body = json!({
            "source": s["source"], "host": s["host"], "owner": "équipe ERP", "threshold_s": 5,
        });
        let (status, _) = hugo.call("PUT", "/api/v1/sources", Some(body))?;
        println!(
            "    the inventory lists {} sources; {} on {} (last heard {}) gets a 5 s silence threshold: HTTP {status}",
            inventory["sources"].as_array().map_or(0, Vec::len),
            s["source"].as_str().unwrap_or("?"),
            s["host"].as_str().unwrap_or("?"),
            s["last_seen"].as_str().unwrap_or("?"),
        );
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let (_, found) = hugo.call("GET", "/api/v1/alerts?rule=source_silent&limit=5", None)?;
            if let Some(a) = found["alerts"].as_array().and_then(|a| a.first()) {
                println!(
                    "    the silence check raises \"{}\" ({}, {} queue)",
                    a["rule_title"].as_str().unwrap_or("?"),
                    a["level"].as_str().unwrap_or("?"),
                    a["queue"].as_str().unwrap_or("?")
                );
                break;
            }
            if std::time::Instant::now() > deadline {
                println!("    (no source_silent alert within 20 s)");
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
    }
    // The queue by status, and that alert's history.
    let mut line = String::from("    queue by status:");
    for s in [
        "new",
        "acknowledged",
        "qualified",
        "escalated",
        "closed",
        "linked",
    ] {
        let (_, page) = hugo.call(
            "GET",
            &format!("/api/v1/alerts?status={s}&limit=1000"),
            None,
        )?;
        let n = ids(&page).len();
        line.push_str(&format!(" {s} {}{}", n, if n == 1000 { "+" } else { "" }));
    }
    println!("{line}");
    let (_, history) = hugo.call("GET", &format!("/api/v1/alerts/{dump_id}/history"), None)?;
    let logins: std::collections::BTreeMap<u64, &str> =
        cast.people.iter().map(|p| (p.id, p.login)).collect();
    println!("    history of alert {dump_id}:");
    for h in history["history"].as_array().into_iter().flatten() {
        let who = h["actor"]
            .as_u64()
            .and_then(|u| logins.get(&u).copied())
            .unwrap_or("vigie");
        println!(
            "      #{} {:<8} {:<12} {} → {} ({}) {}",
            h["seq"],
            who,
            h["action"].as_str().unwrap_or(""),
            h["from"].as_str().unwrap_or(""),
            h["to"].as_str().unwrap_or(""),
            h["queue"].as_str().unwrap_or(""),
            h["note"].as_str().unwrap_or("")
        );
    }
    Ok(())
}
