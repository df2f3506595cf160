//! `vigie totp SECRET`: the current code of a TOTP secret (base32), for the demo's people
//! when no authenticator app is at hand, and for scripts that sign in.

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;
use vigie_govern::totp::{Totp, base32_decode};

#[derive(Debug, Args)]
pub(crate) struct TotpArgs {
    /// The secret, base32 (as `vigie demo` prints it or an enrolment shows it).
    secret: String,
}

#[allow(clippy::print_stdout)]
pub(crate) fn run(args: &TotpArgs) -> Result<ExitCode> {
    let Some(seed) = base32_decode(&args.secret) else {
        bail!("{:?}: not a base32 secret", args.secret);
    };
    let totp = Totp::standard(&seed).context("not a TOTP secret")?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("the clock is before 1970")?
        .as_secs();
    println!("{}", totp.code_at(now));
    Ok(ExitCode::SUCCESS)
}
