//! The demo's look at the bounds that keep one tenant from hurting another: a careless
//! tenant's oversized batch, an unbounded histogram and a retried batch, each answered as a
//! real client would see it.

use std::time::Duration;

use anyhow::{Context, Result};

use super::traffic::Targets;

/// One request: (status, `code` or `accepted`, whether the answer was a replay).
fn send(
    request: ureq::RequestBuilder<ureq::typestate::WithBody>,
    body: &[u8],
) -> Result<(u16, serde_json::Value, bool)> {
    let mut response = request.send(body).context("demo request")?;
    let replayed = response.headers().contains_key("idempotency-replayed");
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    Ok((
        status,
        serde_json::from_str(&text).unwrap_or_default(),
        replayed,
    ))
}

/// Sends the requests as tenant `globex` and prints what came back.
#[allow(clippy::print_stdout)]
pub(crate) fn show(targets: &Targets) -> Result<()> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let base = format!("http://{}/api/v1", targets.http);
    let auth = format!("Bearer {}", targets.tokens[1]);
    println!("  bounds     what globex, a careless tenant, gets (mutuelle is not slowed):");

    let flood = "{}\n".repeat(100_001);
    let (status, answer, _) = send(
        agent
            .post(format!("{base}/ingest"))
            .header("Authorization", &auth),
        flood.as_bytes(),
    )?;
    println!(
        "    100,001 events in one request      → {status} {}",
        answer["error"]["code"].as_str().unwrap_or("")
    );

    // Two events 300 days apart, inside the tenant's time window, then a histogram asking
    // one bucket per second between them (26 M buckets).
    let now = vigie_event::Timestamp::now();
    let at = |days: i64| {
        vigie_event::Timestamp::from_nanos(now.as_nanos() - days * 86_400_000_000_000)
            .to_rfc3339(vigie_event::UtcOffset::UTC)
    };
    let pair = format!(
        "{{\"@timestamp\":\"{}\",\"demo\":\"span\"}}\n{{\"@timestamp\":\"{}\",\"demo\":\"span\"}}\n",
        at(300),
        at(0)
    );
    send(
        agent
            .post(format!("{base}/ingest?source=demo-span"))
            .header("Authorization", &auth),
        pair.as_bytes(),
    )?;
    let waited = std::time::Instant::now();
    while waited.elapsed() < Duration::from_secs(10) {
        let mut r = agent
            .get(format!("{base}/events?q=demo:span&limit=1"))
            .header("Authorization", &auth)
            .call()
            .context("demo search")?;
        let v: serde_json::Value =
            serde_json::from_str(&r.body_mut().read_to_string().unwrap_or_default())
                .unwrap_or_default();
        if v["total"] == 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut response = agent
        .get(format!(
            "{base}/events/histogram?q=demo:span&interval=1&from=-365d&to=now"
        ))
        .header("Authorization", &auth)
        .call()
        .context("demo histogram")?;
    let status = response.status().as_u16();
    let answer: serde_json::Value =
        serde_json::from_str(&response.body_mut().read_to_string().unwrap_or_default())
            .unwrap_or_default();
    println!(
        "    1-second buckets over 300 days     → {status} {}",
        answer["error"]["code"].as_str().unwrap_or("")
    );

    let batch = b"{\"demo\":\"idempotent\",\"n\":1}\n{\"demo\":\"idempotent\",\"n\":2}\n";
    for attempt in ["sent", "retried"] {
        let (status, answer, replayed) = send(
            agent
                .post(format!("{base}/ingest?source=demo-retry"))
                .header("Authorization", &auth)
                .header("Idempotency-Key", "demo-batch-1"),
            batch,
        )?;
        println!(
            "    a batch with Idempotency-Key, {attempt:<7} → {status}, {} accepted{}",
            answer["accepted"],
            if replayed {
                " (the first answer, replayed: stored once)"
            } else {
                ""
            }
        );
    }
    Ok(())
}
