//! The silence check (issue 27): every `triage.silence_check_ms`, each source of the
//! inventory is judged (`vigie_govern::silence`): a source silent past its threshold
//! raises a `source_silent` alert (once: the source remembers it), and one heard again
//! has its alert closed by the platform.

use std::time::Duration;

use vigie_event::time::Timestamp;
use vigie_govern::silence;
use vigie_state::State;

use crate::ServerError;

/// One pass over every tenant's inventory at `now`: (raised, cleared).
pub async fn check(state: &State, now: Timestamp) -> Result<(u64, u64), ServerError> {
    let (mut raised, mut cleared) = (0, 0);
    for s in state.all_sources(now).await? {
        let Some(limit) = silence::threshold(s.threshold_s, &s.hours) else {
            continue;
        };
        let silent = silence::is_silent(s.last_seen, limit, now.as_nanos());
        match (silent, &s.silent_alert) {
            (true, None) => {
                state.raise_silent(&s, limit, now).await?;
                raised += 1;
            }
            (false, Some(_)) => {
                state.clear_silent(&s, now).await?;
                cleared += 1;
            }
            _ => {}
        }
    }
    Ok((raised, cleared))
}

/// Runs [`check`] every `every` until `shutdown` changes.
pub async fn run(state: State, every: Duration, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => return,
        }
        match check(&state, Timestamp::now()).await {
            Ok((0, 0)) => {}
            Ok((raised, cleared)) => {
                tracing::info!(raised, cleared, "silence check: source_silent alerts")
            }
            Err(e) => tracing::warn!(error = %e, "silence check failed"),
        }
    }
}
