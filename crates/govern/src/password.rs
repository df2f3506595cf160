//! Passwords: the policy a new one must meet, and its Argon2id hash.
//!
//! The policy is the one ASVS 5.0 asks for (and no composition rules): 12 to 128
//! characters, and not guessable — judged by zxcvbn, whose dictionaries of common
//! passwords, names, words, keyboard walks, dates and repeats ship inside the binary. A
//! password zxcvbn scores below 3 ("safely unguessable: moderate protection from offline
//! slow-hash scenarios") is refused, naming why; the user's own name and e-mail count as
//! dictionary words.
//!
//! Hashes are Argon2id, m = 19 MiB, t = 2, p = 1 (OWASP's first recommendation), stored as
//! PHC strings, so the parameters travel with the hash and [`needs_rehash`] tells when a
//! stored hash predates the current ones. The salt is the caller's (from the OS CSPRNG):
//! this crate does no I/O. How many hashes run at once is bounded by the server.

use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};

use crate::GovernError;

/// Fewest characters accepted.
pub const MIN_CHARS: usize = 12;
/// Most characters accepted (a bound on the work one login costs).
pub const MAX_CHARS: usize = 128;
/// Argon2id memory, KiB.
pub const M_COST_KIB: u32 = 19 * 1024;
/// Argon2id passes.
pub const T_COST: u32 = 2;
/// Argon2id lanes.
pub const P_COST: u32 = 1;
/// Salt length, bytes.
pub const SALT_BYTES: usize = 16;

fn refuse(message: impl Into<String>) -> GovernError {
    GovernError::Password(message.into())
}

/// Checks a new password against the policy; `user_inputs` are the user's own words (name,
/// e-mail, organisation) that make a password guessable to someone who knows them.
pub fn check_policy(password: &str, user_inputs: &[&str]) -> Result<(), GovernError> {
    let chars = password.chars().count();
    if chars < MIN_CHARS {
        return Err(refuse(format!(
            "{chars} characters: at least {MIN_CHARS} (a passphrase of a few words is easiest)"
        )));
    }
    if chars > MAX_CHARS {
        return Err(refuse(format!("{chars} characters: at most {MAX_CHARS}")));
    }
    let entropy = zxcvbn::zxcvbn(password, user_inputs);
    if u8::from(entropy.score()) < 3 {
        let why = entropy
            .feedback()
            .and_then(|f| f.warning())
            .map_or_else(|| "it is too easy to guess".to_owned(), |w| w.to_string());
        return Err(refuse(format!("refused: {why}")));
    }
    Ok(())
}

fn argon2() -> Argon2<'static> {
    // Constant, valid parameters: `new` cannot fail on them (tested). They are also the
    // argon2 crate's defaults today; written out so that a change of those defaults does
    // not silently change ours (so cargo mutants' "replace with Default::default()" is an
    // equivalent mutant here).
    let params = Params::new(M_COST_KIB, T_COST, P_COST, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// The PHC string of `password` hashed with `salt` ([`SALT_BYTES`] random bytes).
pub fn hash(password: &str, salt: &[u8; SALT_BYTES]) -> Result<String, GovernError> {
    argon2()
        .hash_password_with_salt(password.as_bytes(), salt)
        .map(|h| h.to_string())
        .map_err(|e| refuse(format!("cannot hash: {e}")))
}

/// Whether `password` matches the PHC string `stored` (with the parameters it holds).
pub fn verify(password: &str, stored: &str) -> bool {
    if password.chars().count() > MAX_CHARS {
        return false;
    }
    argon2()
        .verify_password(password.as_bytes(), stored)
        .is_ok()
}

/// Whether `stored` was made with other parameters than today's (re-hash at next login).
pub fn needs_rehash(stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return true;
    };
    let param = |name: &str| {
        parsed
            .params
            .iter()
            .find(|(k, _)| k.as_str() == name)
            .and_then(|(_, v)| v.decimal().ok())
    };
    parsed.algorithm.as_str() != "argon2id"
        || param("m") != Some(M_COST_KIB)
        || param("t") != Some(T_COST)
        || param("p") != Some(P_COST)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_takes_length_and_guessability_not_composition() {
        assert!(check_policy("correct horse battery staple", &[]).is_ok());
        assert!(check_policy("tram-velours-ardoise-9", &[]).is_ok());
        // zxcvbn's score 3 is the lowest accepted.
        assert_eq!(u8::from(zxcvbn::zxcvbn("sunflower-gate", &[]).score()), 3);
        assert!(check_policy("sunflower-gate", &[]).is_ok());
        // 128 characters are accepted, 129 not.
        let longest: String = "tram-velours-ardoise-9 "
            .repeat(6)
            .chars()
            .take(128)
            .collect();
        assert_eq!(longest.chars().count(), 128);
        assert!(check_policy(&longest, &[]).is_ok());
        let e = check_policy("short", &[]).unwrap_err().to_string();
        assert!(e.contains("5 characters: at least 12"), "{e}");
        // Twelve characters exactly are enough when not guessable; eleven are not.
        assert!(check_policy("vqz8#kd2!mpw", &[]).is_ok());
        assert!(check_policy("vqz8#kd2!mp", &[]).is_err());
        let long = "x".repeat(129);
        assert!(
            check_policy(&long, &[])
                .unwrap_err()
                .to_string()
                .contains("at most 128")
        );
        // Common passwords and their variations, however long or "complex".
        for common in [
            "password1234",
            "Password123!",
            "qwertyuiopasdf",
            "aaaaaaaaaaaaaa",
            "123456789012",
        ] {
            let e = check_policy(common, &[]).unwrap_err().to_string();
            assert!(e.starts_with("password: refused"), "{common}: {e}");
        }
        // The user's own words count.
        assert!(check_policy("mutuelleexemple2026", &["mutuelleexemple"]).is_err());
    }

    #[test]
    fn hashes_are_argon2id_phc_and_verify() {
        let salt = [7u8; SALT_BYTES];
        let stored = hash("correct horse battery staple", &salt).unwrap();
        assert!(
            stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{stored}"
        );
        assert!(verify("correct horse battery staple", &stored));
        assert!(!verify("correct horse battery stapler", &stored));
        assert!(!verify("", &stored));
        assert!(!verify("correct horse battery staple", "not a phc string"));
        assert!(!needs_rehash(&stored));
        // Another salt, another hash.
        assert_ne!(
            hash("correct horse battery staple", &[8; SALT_BYTES]).unwrap(),
            stored
        );
        assert!(!verify(&"x".repeat(129), &stored));
        // The longest accepted password verifies; one character more is refused unhashed.
        let longest = "z".repeat(MAX_CHARS);
        let stored = hash(&longest, &salt).unwrap();
        assert!(verify(&longest, &stored));
        assert!(!verify(
            &format!("{longest}z"),
            &hash(&format!("{longest}z"), &salt).unwrap()
        ));
    }

    #[test]
    fn older_parameters_ask_for_a_rehash() {
        let weaker = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(4096, T_COST, P_COST, None).unwrap(),
        )
        .hash_password_with_salt(b"pw", &[1; SALT_BYTES])
        .unwrap()
        .to_string();
        assert!(needs_rehash(&weaker));
        for (m, t, p) in [(M_COST_KIB, 3, P_COST), (M_COST_KIB, T_COST, 2)] {
            let other = Argon2::new(
                Algorithm::Argon2id,
                Version::V0x13,
                Params::new(m, t, p, None).unwrap(),
            )
            .hash_password_with_salt(b"pw", &[1; SALT_BYTES])
            .unwrap()
            .to_string();
            assert!(needs_rehash(&other), "{other}");
        }
        let argon2i = Argon2::new(
            Algorithm::Argon2i,
            Version::V0x13,
            Params::new(M_COST_KIB, T_COST, P_COST, None).unwrap(),
        )
        .hash_password_with_salt(b"pw", &[1; SALT_BYTES])
        .unwrap()
        .to_string();
        assert!(needs_rehash(&argon2i));
        assert!(needs_rehash("garbage"));
        assert!(Params::new(M_COST_KIB, T_COST, P_COST, None).is_ok());
    }
}
