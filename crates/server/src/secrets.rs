//! The instance's secrets, kept in files outside the database (a stolen database or backup
//! opens no TOTP seed and forges no checkpoint):
//!
//! - `instance.key`: 32 random bytes; TOTP seeds are sealed under a key derived from it,
//!   and each tenant's pseudonym key is derived from it;
//! - `audit-ed25519.pk8`: the Ed25519 key that signs audit checkpoints (PKCS#8).
//!
//! Both are made on first use with mode 0600 in `secrets_dir` (default `data_dir/secrets`);
//! nodes sharing a PostgreSQL state must share these files.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair};
use vigie_govern::audit::checkpoint::key_id;
use vigie_govern::seal::{SealKey, derive};

use crate::ServerError;

/// The signed-note key name of the audit checkpoints.
pub const KEY_NAME: &str = "vigie-audit";

/// The instance's secrets, loaded.
pub struct Secrets {
    instance: [u8; 32],
    signing: Ed25519KeyPair,
    totp: SealKey,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets(…)")
    }
}

fn bad(path: &Path, message: impl Into<String>) -> ServerError {
    ServerError::Secret {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Writes `bytes` to a new file `path` readable by its owner only; fails if it exists (two
/// nodes starting at once must not overwrite each other's key).
fn create_private(path: &Path, bytes: &[u8]) -> Result<(), ServerError> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .map_err(|e| bad(path, format!("cannot create: {e}")))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| bad(path, format!("cannot write: {e}")))
}

fn read_or_create(
    path: &Path,
    make: impl FnOnce() -> Result<Vec<u8>, ServerError>,
) -> Result<Vec<u8>, ServerError> {
    match fs::read(path) {
        Ok(bytes) => Ok(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let bytes = make()?;
            match create_private(path, &bytes) {
                Ok(()) => Ok(bytes),
                // Another process made it first: use theirs.
                Err(_) if path.exists() => {
                    fs::read(path).map_err(|e| bad(path, format!("cannot read: {e}")))
                }
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(bad(path, format!("cannot read: {e}"))),
    }
}

impl Secrets {
    /// Loads the secrets in `dir`, making the missing ones.
    pub fn load_or_create(dir: &Path) -> Result<Secrets, ServerError> {
        fs::create_dir_all(dir).map_err(|e| bad(dir, format!("cannot create: {e}")))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o700));
        }
        let path = dir.join("instance.key");
        let instance = read_or_create(&path, || {
            let mut bytes = vec![0u8; 32];
            getrandom::fill(&mut bytes).map_err(|e| bad(&path, e.to_string()))?;
            Ok(bytes)
        })?;
        let instance: [u8; 32] = instance
            .try_into()
            .map_err(|_| bad(&path, "not 32 bytes"))?;
        let path = dir.join("audit-ed25519.pk8");
        let pkcs8 = read_or_create(&path, || {
            Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
                .map(|d| d.as_ref().to_vec())
                .map_err(|_| bad(&path, "cannot generate a key"))
        })?;
        let signing = Ed25519KeyPair::from_pkcs8(&pkcs8)
            .map_err(|_| bad(&path, "not an Ed25519 PKCS#8 key"))?;
        Ok(Secrets {
            totp: SealKey::new(&instance, "totp seeds"),
            instance,
            signing,
        })
    }

    /// The folder of the secrets of `config`.
    pub fn dir(config: &crate::config::Config) -> PathBuf {
        config
            .secrets_dir
            .clone()
            .unwrap_or_else(|| config.data_dir.join("secrets"))
    }

    /// The instance secret itself, for keys derived for other purposes (OIDC client
    /// secrets).
    pub fn instance_secret(&self) -> &[u8; 32] {
        &self.instance
    }

    /// The key TOTP seeds are sealed with.
    pub fn totp(&self) -> &SealKey {
        &self.totp
    }

    /// The pseudonym key of `tenant`.
    pub fn pseudonym_key(&self, tenant: &str) -> [u8; 32] {
        derive(&self.instance, &format!("pseudonyms of tenant {tenant}"))
    }

    /// The checkpoint signing key.
    pub fn signing(&self) -> &Ed25519KeyPair {
        &self.signing
    }

    /// The checkpoint key's public half (32 bytes).
    pub fn public_key(&self) -> &[u8] {
        self.signing.public_key().as_ref()
    }

    /// The public key as a signed-note verifier key
    /// (`<name>+<key id hex>+<base64(0x01 ‖ key)>`), which `vigie audit verify --key` and
    /// other note verifiers read.
    pub fn verifier_key(&self) -> String {
        let id = key_id(KEY_NAME, self.public_key());
        let mut blob = vec![1u8];
        blob.extend_from_slice(self.public_key());
        format!(
            "{KEY_NAME}+{}+{}",
            id.iter().map(|b| format!("{b:02x}")).collect::<String>(),
            B64.encode(blob)
        )
    }
}

/// Reads a verifier key made by [`Secrets::verifier_key`]: (name, public key).
pub fn parse_verifier_key(text: &str) -> Option<(String, Vec<u8>)> {
    let mut parts = text.trim().splitn(3, '+');
    let name = parts.next()?;
    let id = parts.next()?;
    let blob = B64.decode(parts.next()?).ok()?;
    let (&alg, key) = blob.split_first()?;
    if alg != 1 || key.len() != 32 {
        return None;
    }
    let expected: String = key_id(name, key)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    (expected == id).then(|| (name.to_owned(), key.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_made_once_private_and_reloaded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = Secrets::load_or_create(dir.path()).expect("create");
        let again = Secrets::load_or_create(dir.path()).expect("reload");
        assert_eq!(first.public_key(), again.public_key());
        assert_eq!(first.pseudonym_key("a"), again.pseudonym_key("a"));
        assert_ne!(first.pseudonym_key("a"), first.pseudonym_key("b"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join("instance.key"))
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let key = first.verifier_key();
        let (name, public) = parse_verifier_key(&key).expect("parses");
        assert_eq!(name, KEY_NAME);
        assert_eq!(public, first.public_key());
        assert!(parse_verifier_key(&key.replace("vigie-audit", "other")).is_none());
        fs::write(dir.path().join("instance.key"), b"short").expect("write");
        assert!(Secrets::load_or_create(dir.path()).is_err());
    }
}
