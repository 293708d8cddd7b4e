//! Public keys as the outside world sees them: the `GET /v1/keys` document (`api.md` §4), a
//! [`Verifier`] built from it, and the [`Signer`] seam through which the server's key store signs.
//! Private keys and their files are the server's business (`koolicense::keys`).

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};

/// The only signature algorithm, as named in `GET /v1/keys` and license envelopes.
pub const ALG: &str = "ed25519";

/// A `/v1/keys` document or public key that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid public keys: {0}")]
pub struct PublicKeysError(pub String);

/// Whether a key signs new licenses or only verifies old ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    /// Signs new licenses.
    Active,
    /// Verifies licenses it signed earlier; signs nothing new.
    Retired,
}

impl fmt::Display for KeyStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Active => "active",
            Self::Retired => "retired",
        })
    }
}

/// The `GET /v1/keys` document: `{"keys": [...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeysDocument {
    /// Every key that verifies licenses, active first.
    pub keys: Vec<PublicKeyEntry>,
}

/// One entry of the `GET /v1/keys` document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicKeyEntry {
    /// Key id, as in license envelopes.
    pub kid: String,
    /// Always [`ALG`].
    pub alg: String,
    /// Standard base64 of the 32 raw public key bytes.
    pub public_key: String,
    /// Active or retired.
    pub status: KeyStatus,
}

/// Anything that can find a public key by id: the server's key store or a [`Verifier`].
pub trait VerifyingKeys {
    /// The public key with this id, if known.
    fn verifying_key(&self, kid: &str) -> Option<&VerifyingKey>;
}

/// Anything that signs with an active Ed25519 key: the server's key store.
pub trait Signer {
    /// Signs `message` with the active key; returns the key's id and the signature. Ed25519 is
    /// deterministic, so the same message always gives the same signature.
    fn sign(&self, message: &[u8]) -> (&str, [u8; 64]);
}

/// Public keys only, for offline verification.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verifier {
    keys: BTreeMap<String, VerifyingKey>,
}

impl Verifier {
    /// A verifier for the given `(kid, key)` pairs; a later duplicate kid replaces an earlier one.
    pub fn from_public_keys(keys: impl IntoIterator<Item = (String, VerifyingKey)>) -> Self {
        Self {
            keys: keys.into_iter().collect(),
        }
    }

    /// Builds a verifier from a `GET /v1/keys` document. Entries of another `alg` are skipped,
    /// and of Ed25519 entries only `kid` and `public_key` are read, so that a newer server's
    /// document (other statuses, other fields) stays usable; a document with no Ed25519 key is
    /// an error.
    pub fn from_keys_json(json: &str) -> Result<Self, PublicKeysError> {
        #[derive(Deserialize)]
        struct Document {
            keys: Vec<serde_json::Value>,
        }
        #[derive(Deserialize)]
        struct Entry {
            kid: String,
            public_key: String,
        }
        let invalid = |reason: String| PublicKeysError(reason);
        let document: Document = serde_json::from_str(json)
            .map_err(|e| invalid(format!("keys document is not valid: {e}")))?;
        let mut keys = Vec::new();
        for value in document.keys {
            if value.get("alg").and_then(serde_json::Value::as_str) != Some(ALG) {
                continue;
            }
            let entry: Entry = serde_json::from_value(value)
                .map_err(|e| invalid(format!("an {ALG} entry of the keys document: {e}")))?;
            let key = parse_public_key(&entry.public_key).map_err(|reason| {
                invalid(format!("key {:?} in keys document: {reason}", entry.kid))
            })?;
            keys.push((entry.kid, key));
        }
        if keys.is_empty() {
            return Err(invalid("keys document holds no ed25519 key".into()));
        }
        Ok(Self::from_public_keys(keys))
    }

    /// Ids of the keys this verifier knows, sorted.
    pub fn kids(&self) -> Vec<&str> {
        self.keys.keys().map(String::as_str).collect()
    }
}

impl VerifyingKeys for Verifier {
    fn verifying_key(&self, kid: &str) -> Option<&VerifyingKey> {
        self.keys.get(kid)
    }
}

/// Decodes standard base64 of exactly 32 bytes.
pub fn decode_32(text: &str) -> Result<[u8; 32], String> {
    let bytes = STANDARD
        .decode(text.trim())
        .map_err(|e| format!("not standard base64 ({e})"))?;
    let len = bytes.len();
    <[u8; 32]>::try_from(bytes).map_err(|_| format!("expected 32 bytes, found {len}"))
}

/// Parses a base64 public key as used in `.pub` files and the keys document.
pub fn parse_public_key(text: &str) -> Result<VerifyingKey, String> {
    let bytes = decode_32(text)?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| "not a valid Ed25519 public key".to_owned())
}
