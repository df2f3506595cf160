//! `vigie audit verify`: every chain of the audit trail read back from the database and
//! checked record by record (sequence, leaf hash, chain hash), against every checkpoint
//! signature, and against the checkpoints kept in the database and outside it (a file the
//! operator or the client keeps). It names the first record of each chain that was
//! altered, removed, inserted or reordered, and a truncation after the last checkpoint
//! kept outside.

use std::collections::BTreeMap;
use std::fmt;

use vigie_govern::audit::checkpoint::{self, Checkpoint};
use vigie_govern::audit::{Tamper, Verifier};
use vigie_state::State;

use crate::ServerError;
use crate::auditor::origin;

/// Records read per page.
const PAGE: usize = 10_000;

/// What verification found for one chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    /// The chain.
    pub chain: String,
    /// Records read.
    pub records: u64,
    /// Checkpoints checked.
    pub checkpoints: usize,
    /// The first problem, if any.
    pub problem: Option<Problem>,
}

/// A problem with a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The records or a checkpoint do not hold.
    Tamper(Tamper),
    /// A checkpoint's signature does not verify (forged or altered), and where it was.
    Forged(String),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Tamper(Tamper::Edited { seq }) => write!(
                f,
                "record {seq} was altered: its bytes no longer hash to its leaf hash"
            ),
            Problem::Tamper(Tamper::Sequence { expected, found }) => write!(
                f,
                "record {expected} is missing or out of place (found record {found} there): \
                 records were removed, inserted or reordered"
            ),
            Problem::Tamper(Tamper::Chain { seq }) => write!(
                f,
                "record {seq} does not follow from the one before: records were removed, \
                 inserted or reordered"
            ),
            Problem::Tamper(Tamper::Truncated { checkpoint, found }) => write!(
                f,
                "truncated: a checkpoint says {checkpoint} records, {found} remain"
            ),
            Problem::Tamper(Tamper::Diverged { checkpoint }) => write!(
                f,
                "rewritten: the first {checkpoint} records no longer match their signed \
                 checkpoint"
            ),
            Problem::Forged(where_) => {
                write!(f, "a checkpoint's signature does not verify ({where_})")
            }
        }
    }
}

/// Splits a checkpoint file (signed notes, each followed by an empty line) into notes.
pub fn split_notes(text: &str) -> Vec<String> {
    let mut notes = Vec::new();
    let mut current = String::new();
    let mut in_signatures = false;
    for line in text.lines() {
        if line.is_empty() && in_signatures {
            notes.push(std::mem::take(&mut current));
            in_signatures = false;
            continue;
        }
        if line.starts_with('\u{2014}') {
            in_signatures = true;
        }
        current.push_str(line);
        current.push('\n');
    }
    if !current.trim().is_empty() {
        notes.push(current);
    }
    notes
}

/// Verifies every chain of `state` with the checkpoint key (`key_name`, `public_key`) and
/// the signed notes `external` kept outside the database.
pub async fn verify_audit(
    state: &State,
    key_name: &str,
    public_key: &[u8],
    external: &[String],
) -> Result<Vec<ChainReport>, ServerError> {
    verify_some(state, key_name, public_key, external, None).await
}

/// Verifies the chain `chain` alone (the console's "verify" button on a tenant's trail).
pub async fn verify_chain(
    state: &State,
    key_name: &str,
    public_key: &[u8],
    external: &[String],
    chain: &str,
) -> Result<ChainReport, ServerError> {
    let mut reports = verify_some(state, key_name, public_key, external, Some(chain)).await?;
    Ok(reports.pop().unwrap_or(ChainReport {
        chain: chain.to_owned(),
        records: 0,
        checkpoints: 0,
        problem: None,
    }))
}

/// The checkpoints kept outside the database in `audit.checkpoint_file`, if there is one.
pub fn external_notes(config: &crate::config::Config) -> Result<Vec<String>, ServerError> {
    match &config.audit.checkpoint_file {
        Some(path) if path.exists() => Ok(split_notes(
            &std::fs::read_to_string(path)
                .map_err(ServerError::io(format!("cannot read {}", path.display())))?,
        )),
        _ => Ok(Vec::new()),
    }
}

async fn verify_some(
    state: &State,
    key_name: &str,
    public_key: &[u8],
    external: &[String],
    only: Option<&str>,
) -> Result<Vec<ChainReport>, ServerError> {
    let mut chains: BTreeMap<String, (Vec<Checkpoint>, Option<Problem>)> = BTreeMap::new();
    for (chain, _) in state.audit_chains().await? {
        chains.entry(chain).or_default();
    }
    let internal = state.checkpoints().await?;
    let notes = internal
        .iter()
        .map(|(chain, size, note)| (format!("database, {chain} at {size}"), note.clone()))
        .chain(
            external
                .iter()
                .enumerate()
                .map(|(i, n)| (format!("kept outside, note {}", i + 1), n.clone())),
        );
    for (where_, note) in notes {
        match checkpoint::verify(&note, key_name, public_key) {
            Ok(c) => {
                let Some(chain) = c.origin.strip_prefix("vigie/").map(str::to_owned) else {
                    continue;
                };
                debug_assert_eq!(origin(&chain), c.origin);
                chains.entry(chain).or_default().0.push(c);
            }
            Err(_) => {
                // A note whose chain cannot be told is reported on the platform chain.
                let chain = note
                    .lines()
                    .next()
                    .and_then(|l| l.strip_prefix("vigie/"))
                    .unwrap_or(vigie_state::audit::PLATFORM_CHAIN)
                    .to_owned();
                let slot = chains.entry(chain).or_default();
                slot.1.get_or_insert(Problem::Forged(where_));
            }
        }
    }
    if let Some(only) = only {
        chains.retain(|chain, _| chain == only);
        chains.entry(only.to_owned()).or_default();
    }
    let mut reports = Vec::new();
    for (chain, (checkpoints, forged)) in chains {
        let mut verifier = Verifier::new(&checkpoints);
        let mut problem = forged;
        let mut after = 0;
        'read: loop {
            let page = state.audit_stored(&chain, after, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            for r in &page {
                if let Err(t) = verifier.push(r) {
                    problem.get_or_insert(Problem::Tamper(t));
                    break 'read;
                }
            }
        }
        let records = verifier.size();
        if problem.is_none()
            && let Err(t) = verifier.finish()
        {
            problem = Some(Problem::Tamper(t));
        }
        reports.push(ChainReport {
            chain,
            records,
            checkpoints: checkpoints.len(),
            problem,
        });
    }
    Ok(reports)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_file_splits_into_its_notes() {
        let note = |n: u32| {
            format!("vigie/platform\n{n}\nAAAA\nvigie-chain BBBB\n\n\u{2014} vigie-audit xyz\n")
        };
        let text = format!("{}\n{}\n", note(1), note(2));
        assert_eq!(split_notes(&text), vec![note(1), note(2)]);
        assert_eq!(split_notes(&note(3)), vec![note(3)]);
        assert!(split_notes("").is_empty());
    }
}
