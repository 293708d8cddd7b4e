//! Ed25519 signing keys kept in a directory (`KOOLICENSE_KEYS_DIR`, `keys/` by default).
//!
//! Layout, for a key id `KID` such as `k20261123-a1b2c3`:
//! - `KID.key`: base64 of the 32-byte secret seed, one line, mode 0600;
//! - `KID.pub`: base64 of the 32-byte public key, one line;
//! - `active`: the id of the key new licenses are signed with.
//!
//! A key that is not active is *retired*: it still verifies the licenses it signed, so rotation
//! never invalidates a license in the field. Deleting a retired key's `.key` file leaves it
//! verify-only.
//! The active key is loaded once into a [`KeyStore`] whose `Debug` prints no key material.
//! Unix only: private key files rely on Unix permission bits.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::fmt;
use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::hazmat::{ExpandedSecretKey, raw_sign};
use ed25519_dalek::{SigningKey, VerifyingKey};
use rand::RngCore;
use rand::rngs::OsRng;
use sha2::Sha512;

pub use koolicense_core::keys::{
    ALG, KeyStatus, KeysDocument, PublicKeyEntry, Verifier, VerifyingKeys, decode_32,
    parse_public_key,
};

/// File in the keys directory that names the active key.
const ACTIVE_FILE: &str = "active";

/// Errors loading, creating or parsing keys. Each names the file or document at fault.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// A filesystem operation failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done ("read", "write", "create directory", ...).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A key file exists but does not hold a valid key.
    #[error("key file {} is corrupt: {reason}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A private key file and its public key file disagree.
    #[error("private key {} does not match public key {}", private.display(), public.display())]
    Mismatch {
        /// The `.key` file.
        private: PathBuf,
        /// The `.pub` file.
        public: PathBuf,
    },
    /// The directory names no active key.
    #[error("no active signing key in {}: run `koolicense keys generate`", dir.display())]
    NoActiveKey {
        /// The keys directory.
        dir: PathBuf,
    },
    /// The `active` file names a key whose private key file is missing.
    #[error("the active key {kid} has no private key file {}", path.display())]
    ActiveKeyMissing {
        /// The active key id.
        kid: String,
        /// The missing `.key` file.
        path: PathBuf,
    },
    /// A `/v1/keys` document or public key file could not be used.
    #[error("invalid public keys: {0}")]
    InvalidPublicKeys(String),
}

/// One key as shown by `koolicense keys list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    /// Key id.
    pub kid: String,
    /// Active or retired.
    pub status: KeyStatus,
    /// Standard base64 of the 32 raw public key bytes.
    pub public_key_b64: String,
    /// Whether the private key file is present (false: retired, verify-only).
    pub has_private: bool,
}

/// Builds a verifier from a `GET /v1/keys` document ([`Verifier::from_keys_json`]).
pub fn verifier_from_keys_json(json: &str) -> Result<Verifier, KeyError> {
    Verifier::from_keys_json(json).map_err(|e| KeyError::InvalidPublicKeys(e.0))
}

/// Builds a verifier from one `.pub` file (base64 of 32 bytes); the key id is the file stem.
pub fn verifier_from_public_key_file(path: &Path) -> Result<Verifier, KeyError> {
    let kid = path
        .file_stem()
        .and_then(|stem| stem.to_str())
        .filter(|stem| !stem.is_empty())
        .ok_or_else(|| {
            KeyError::InvalidPublicKeys(format!("cannot take a key id from {}", path.display()))
        })?
        .to_owned();
    let key = read_public_key_file(path)?;
    Ok(Verifier::from_public_keys([(kid, key)]))
}

/// The signing keys of one directory, loaded once at startup.
pub struct KeyStore {
    active_kid: String,
    /// The active key expanded once (`SigningKey::sign` expands its seed, a SHA-512, on every
    /// call), with its public half.
    signing: ExpandedSecretKey,
    signing_public: VerifyingKey,
    /// Every key of the directory (active and retired), by id.
    keys: BTreeMap<String, StoredKey>,
    warnings: Vec<String>,
}

/// What the store remembers of each key: the public half and whether a private half exists.
struct StoredKey {
    verifying: VerifyingKey,
    has_private: bool,
}

impl KeyStore {
    /// Loads every key of `dir` and the active signing key. Fails when there is no active key, when
    /// its private key file is missing, or when any key file is corrupt (the error names the file).
    /// Private key files readable by group or others are reported by [`KeyStore::warnings`].
    pub fn load(dir: &Path) -> Result<Self, KeyError> {
        let scan = scan(dir)?;
        let active_kid = scan.active.ok_or_else(|| KeyError::NoActiveKey {
            dir: dir.to_path_buf(),
        })?;
        let mut signing = None;
        let mut keys = BTreeMap::new();
        for (kid, key) in scan.keys {
            if kid == active_kid {
                signing.clone_from(&key.signing);
            }
            let stored = StoredKey {
                verifying: key.verifying,
                has_private: key.signing.is_some(),
            };
            keys.insert(kid, stored);
        }
        let signing = signing.ok_or_else(|| KeyError::ActiveKeyMissing {
            path: dir.join(format!("{active_kid}.key")),
            kid: active_kid.clone(),
        })?;
        Ok(Self {
            active_kid,
            signing_public: signing.verifying_key(),
            signing: ExpandedSecretKey::from(signing.as_bytes()),
            keys,
            warnings: scan.warnings,
        })
    }

    /// For `serve` without configuration: creates `dir` (mode 0700) when missing and generates an
    /// active key when the directory holds no key at all. Returns whether a key was generated, so
    /// the caller can log that the key is for development only.
    pub fn load_or_generate_dev(dir: &Path) -> Result<(Self, bool), KeyError> {
        ensure_dir(dir)?;
        let empty = scan(dir)?.keys.is_empty() && !dir.join(ACTIVE_FILE).exists();
        if empty {
            Self::generate(dir)?;
        }
        Ok((Self::load(dir)?, empty))
    }

    /// Id of the key [`KeyStore::sign`] uses.
    pub fn active_kid(&self) -> &str {
        &self.active_kid
    }

    /// Signs `msg` with the active key. Ed25519 is deterministic: the same message always gives
    /// the same signature, which keeps repeated license requests byte-for-byte identical.
    pub fn sign(&self, msg: &[u8]) -> (&str, [u8; 64]) {
        let signature = raw_sign::<Sha512>(&self.signing, msg, &self.signing_public);
        (&self.active_kid, signature.to_bytes())
    }

    /// The public key with this id (active or retired).
    pub fn verifying_key(&self, kid: &str) -> Option<&VerifyingKey> {
        self.keys.get(kid).map(|key| &key.verifying)
    }

    /// Every key, active first, for `GET /v1/keys` and `keys list`.
    pub fn public_keys(&self) -> Vec<KeyInfo> {
        let mut infos: Vec<KeyInfo> = self
            .keys
            .iter()
            .map(|(kid, key)| KeyInfo {
                kid: kid.clone(),
                status: status_of(kid, Some(&self.active_kid)),
                public_key_b64: STANDARD.encode(key.verifying.to_bytes()),
                has_private: key.has_private,
            })
            .collect();
        infos.sort_by_key(|info| info.status != KeyStatus::Active);
        infos
    }

    /// The `GET /v1/keys` document.
    pub fn keys_document(&self) -> KeysDocument {
        let keys = self
            .public_keys()
            .into_iter()
            .map(|info| PublicKeyEntry {
                kid: info.kid,
                alg: ALG.to_owned(),
                public_key: info.public_key_b64,
                status: info.status,
            })
            .collect();
        KeysDocument { keys }
    }

    /// Problems found while loading that do not stop the server (e.g. a private key file readable
    /// by others). The caller logs them.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }
}

/// Key management for `koolicense keys generate | rotate | list`.
impl KeyStore {
    /// The id the directory's `active` file names now (another node or `keys rotate` may have
    /// changed it since this store was loaded).
    pub fn active_on_disk(dir: &Path) -> Result<Option<String>, KeyError> {
        read_active(dir)
    }

    /// Creates a new key in `dir` (created with mode 0700 when missing) and returns its id. The key
    /// becomes active only when no usable key is active yet.
    pub fn generate(dir: &Path) -> Result<String, KeyError> {
        ensure_dir(dir)?;
        let has_active =
            read_active(dir)?.is_some_and(|kid| dir.join(format!("{kid}.key")).exists());
        let kid = write_new_key(dir)?;
        if !has_active {
            write_atomic(&dir.join(ACTIVE_FILE), format!("{kid}\n").as_bytes(), 0o644)?;
        }
        Ok(kid)
    }

    /// Creates a new key in `dir` and makes it active; older keys stay for verification.
    pub fn rotate(dir: &Path) -> Result<String, KeyError> {
        ensure_dir(dir)?;
        let kid = write_new_key(dir)?;
        write_atomic(&dir.join(ACTIVE_FILE), format!("{kid}\n").as_bytes(), 0o644)?;
        Ok(kid)
    }

    /// Every key of `dir`, active first, then by id. Fails on a corrupt key file.
    pub fn list(dir: &Path) -> Result<Vec<KeyInfo>, KeyError> {
        Self::list_with_warnings(dir).map(|(infos, _)| infos)
    }

    /// As [`KeyStore::list`], with the problems found on the way that do not stop the listing
    /// (see [`KeyStore::warnings`]).
    pub fn list_with_warnings(dir: &Path) -> Result<(Vec<KeyInfo>, Vec<String>), KeyError> {
        let scan = scan(dir)?;
        let mut infos: Vec<KeyInfo> = scan
            .keys
            .iter()
            .map(|(kid, key)| KeyInfo {
                kid: kid.clone(),
                status: status_of(kid, scan.active.as_deref()),
                public_key_b64: STANDARD.encode(key.verifying.to_bytes()),
                has_private: key.signing.is_some(),
            })
            .collect();
        infos.sort_by_key(|info| info.status != KeyStatus::Active);
        Ok((infos, scan.warnings))
    }
}

impl VerifyingKeys for KeyStore {
    fn verifying_key(&self, kid: &str) -> Option<&VerifyingKey> {
        KeyStore::verifying_key(self, kid)
    }
}

impl koolicense_core::keys::Signer for KeyStore {
    fn sign(&self, message: &[u8]) -> (&str, [u8; 64]) {
        KeyStore::sign(self, message)
    }
}

impl fmt::Debug for KeyStore {
    // Key ids only: the signing key must never reach a log line through `{:?}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyStore")
            .field("active_kid", &self.active_kid)
            .field("kids", &self.keys.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

fn status_of(kid: &str, active: Option<&str>) -> KeyStatus {
    if active == Some(kid) {
        KeyStatus::Active
    } else {
        KeyStatus::Retired
    }
}

/// One key found in the directory.
struct ScannedKey {
    verifying: VerifyingKey,
    signing: Option<SigningKey>,
}

/// Everything found in the directory.
struct Scan {
    keys: BTreeMap<String, ScannedKey>,
    active: Option<String>,
    warnings: Vec<String>,
}

/// Reads every `KID.pub` and `KID.key` of `dir` and the `active` file; other files are ignored.
fn scan(dir: &Path) -> Result<Scan, KeyError> {
    let io_error = |source| KeyError::Io {
        action: "read directory",
        path: dir.to_path_buf(),
        source,
    };
    let mut publics = BTreeMap::new();
    let mut privates = BTreeMap::new();
    for entry in fs::read_dir(dir).map_err(io_error)? {
        let path = entry.map_err(io_error)?.path();
        let (Some(stem), Some(ext)) = (
            path.file_stem().and_then(|s| s.to_str()),
            path.extension().and_then(|s| s.to_str()),
        ) else {
            continue;
        };
        if !is_plausible_kid(stem) {
            continue;
        }
        match ext {
            "pub" => publics.insert(stem.to_owned(), path),
            "key" => privates.insert(stem.to_owned(), path),
            _ => None,
        };
    }

    let mut keys = BTreeMap::new();
    let mut warnings = Vec::new();
    for (kid, path) in &privates {
        let signing = read_private_key_file(path)?;
        if let Some(warning) = permission_warning(path) {
            warnings.push(warning);
        }
        let verifying = signing.verifying_key();
        if let Some(public) = publics.get(kid) {
            if read_public_key_file(public)? != verifying {
                return Err(KeyError::Mismatch {
                    private: path.clone(),
                    public: public.clone(),
                });
            }
        }
        let signing = Some(signing);
        keys.insert(kid.clone(), ScannedKey { verifying, signing });
    }
    for (kid, path) in publics {
        if let Entry::Vacant(slot) = keys.entry(kid) {
            let verifying = read_public_key_file(&path)?;
            slot.insert(ScannedKey {
                verifying,
                signing: None,
            });
        }
    }
    let active = read_active(dir)?;
    Ok(Scan {
        keys,
        active,
        warnings,
    })
}

/// Key ids are file names: keep them to a safe alphabet (this also skips our hidden temp files).
fn is_plausible_kid(kid: &str) -> bool {
    (1..=64).contains(&kid.len())
        && !kid.starts_with(['.', '-'])
        && kid
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The id in the `active` file, `None` when the file is missing or blank.
fn read_active(dir: &Path) -> Result<Option<String>, KeyError> {
    let path = dir.join(ACTIVE_FILE);
    match fs::read_to_string(&path) {
        Ok(text) => {
            let kid = text.trim();
            if kid.is_empty() {
                Ok(None)
            } else if is_plausible_kid(kid) {
                Ok(Some(kid.to_owned()))
            } else {
                Err(KeyError::Corrupt {
                    path,
                    reason: "it does not hold a key id".into(),
                })
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(KeyError::Io {
            action: "read",
            path,
            source,
        }),
    }
}

fn read_text(path: &Path) -> Result<String, KeyError> {
    fs::read_to_string(path).map_err(|source| KeyError::Io {
        action: "read",
        path: path.to_path_buf(),
        source,
    })
}

fn read_public_key_file(path: &Path) -> Result<VerifyingKey, KeyError> {
    parse_public_key(&read_text(path)?).map_err(|reason| KeyError::Corrupt {
        path: path.to_path_buf(),
        reason,
    })
}

fn read_private_key_file(path: &Path) -> Result<SigningKey, KeyError> {
    let seed = decode_32(&read_text(path)?).map_err(|reason| KeyError::Corrupt {
        path: path.to_path_buf(),
        reason,
    })?;
    Ok(SigningKey::from_bytes(&seed))
}

/// A warning, naming the file (never its content), when a private key file is readable or
/// writable by group or others. Only a warning: secret mounts of container platforms are
/// commonly 0640 or 0444 and read-only, and refusing them would stop the server outright.
fn permission_warning(path: &Path) -> Option<String> {
    let mode = fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then(|| {
        format!(
            "private key file {} has mode {mode:04o}: users other than its owner can read or \
             replace it, and whoever reads it can sign licenses; chmod 600 it",
            path.display()
        )
    })
}

/// Creates the keys directory with mode 0700 when it does not exist.
fn ensure_dir(dir: &Path) -> Result<(), KeyError> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| KeyError::Io {
            action: "create directory",
            path: dir.to_path_buf(),
            source,
        })
}

/// The day a key was made, from its id (`k20261123-a1b2c3`); `None` for ids in another form
/// (keys made elsewhere may be named anything plausible).
pub fn kid_date(kid: &str) -> Option<chrono::NaiveDate> {
    let digits = kid.strip_prefix('k')?.get(..8)?;
    chrono::NaiveDate::parse_from_str(digits, "%Y%m%d").ok()
}

/// `k` + UTC date + `-` + 6 random lower-case hex digits, e.g. `k20261123-a1b2c3`.
fn new_kid() -> String {
    let mut random = [0_u8; 3];
    OsRng.fill_bytes(&mut random);
    format!(
        "k{}-{}",
        chrono::Utc::now().format("%Y%m%d"),
        hex::encode(random)
    )
}

/// Generates a key pair and writes `KID.key` (0600) and `KID.pub` (0644); returns the id.
fn write_new_key(dir: &Path) -> Result<String, KeyError> {
    let mut kid = new_kid();
    // 24 random bits per day: retry the rare collision instead of overwriting a key.
    for _ in 0..16 {
        if !dir.join(format!("{kid}.key")).exists() && !dir.join(format!("{kid}.pub")).exists() {
            break;
        }
        kid = new_kid();
    }
    let signing = SigningKey::generate(&mut OsRng);
    let seed = STANDARD.encode(signing.to_bytes());
    write_atomic(
        &dir.join(format!("{kid}.key")),
        format!("{seed}\n").as_bytes(),
        0o600,
    )?;
    let public = STANDARD.encode(signing.verifying_key().to_bytes());
    write_atomic(
        &dir.join(format!("{kid}.pub")),
        format!("{public}\n").as_bytes(),
        0o644,
    )?;
    Ok(kid)
}

/// Writes `path` atomically: a hidden temp file created with `mode` from the start (so a private
/// key is never readable by others, not even briefly), synced, then renamed over `path`.
fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> Result<(), KeyError> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("key");
    let mut random = [0_u8; 6];
    OsRng.fill_bytes(&mut random);
    let temp = dir.join(format!(".{name}.{}.tmp", hex::encode(random)));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&temp)?;
        file.write_all(contents)?;
        file.sync_all()?;
        fs::rename(&temp, path)
    })();
    if let Err(source) = result {
        // Best effort: do not leave a half-written secret behind.
        let _ = fs::remove_file(&temp);
        return Err(KeyError::Io {
            action: "write",
            path: path.to_path_buf(),
            source,
        });
    }
    // Persist the rename itself; failing to sync a directory is not worth failing the command.
    if let Ok(handle) = fs::File::open(dir) {
        let _ = handle.sync_all();
    }
    Ok(())
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests;

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod fuzz;
