//! The server's signed answers (`api.md` §4.5) as the SDK trusts them: the signature over the
//! exact body, the nonce the SDK sent, and a server time.
//!
//! The nonce is `R.T`: `R` 16 random bytes (unpadded base64url) and `T` a tag binding `R` to the
//! code and the machine (`koolicense/nonce/v1.` + `R` + code hash + fingerprint hash, SHA-256,
//! first 16 bytes in hex). A live answer must echo the nonce just sent; a stored answer must
//! carry a nonce whose tag matches the stored license's code and this machine, so an answer
//! copied from another machine's data directory proves nothing here.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use koolicense_core::answer;
use koolicense_core::keys::VerifyingKeys;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// What the request is about: the two hashes a nonce is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// Hex SHA-256 of the authorization code (as `code_sha256` in licenses).
    pub code_sha256: String,
    /// Hex SHA-256 of the normalised fingerprint (as `fingerprint_sha256` in licenses).
    pub fingerprint_sha256: String,
}

impl Binding {
    /// A fresh nonce bound to this code and machine.
    pub fn new_nonce(&self) -> String {
        let mut random = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut random);
        let random = URL_SAFE_NO_PAD.encode(random);
        let tag = self.tag(&random);
        format!("{random}.{tag}")
    }

    /// Whether `nonce` was made by [`Binding::new_nonce`] for this code and machine.
    pub fn made(&self, nonce: &str) -> bool {
        nonce
            .split_once('.')
            .is_some_and(|(random, tag)| random.len() == 22 && self.tag(random) == tag)
    }

    fn tag(&self, random: &str) -> String {
        let mut hash = Sha256::new();
        hash.update(b"koolicense/nonce/v1.");
        hash.update(random.as_bytes());
        hash.update(b".");
        hash.update(self.code_sha256.as_bytes());
        hash.update(b".");
        hash.update(self.fingerprint_sha256.as_bytes());
        hex::encode(&hash.finalize()[..16])
    }
}

/// An answer exactly as received: its body and its signature header. This is what the SDK
/// keeps in its state, and verifies again every time it reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedAnswer {
    /// The HTTP status of the answer.
    pub http_status: u16,
    /// The exact body.
    pub body: String,
    /// The `Koolicense-Signature` header value.
    pub signature: String,
}

/// A signed answer that verified, picked apart.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The HTTP status.
    pub http_status: u16,
    /// The body as JSON.
    pub json: Value,
    /// The server's clock when it answered.
    pub server_time: DateTime<Utc>,
}

impl Verified {
    /// A string field of the body.
    pub fn text(&self, field: &str) -> Option<&str> {
        self.json.get(field).and_then(Value::as_str)
    }
}

/// Why an answer proves nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unverified {
    /// The signature is missing or wrong.
    #[error("{0}")]
    Signature(#[from] answer::AnswerError),
    /// The body is not the JSON object of §4.5.
    #[error("the answer is not a JSON object with server_time and nonce")]
    Shape,
    /// The answer does not echo the request's nonce, or is bound to another code or machine.
    #[error("the answer is not for this request")]
    Nonce,
}

impl SignedAnswer {
    /// Checks the signature against `keys`, then that the body echoes a nonce accepted by
    /// `nonce_ok` and carries a server time.
    pub fn verify(
        &self,
        keys: &(impl VerifyingKeys + ?Sized),
        nonce_ok: impl FnOnce(&str) -> bool,
    ) -> Result<Verified, Unverified> {
        answer::verify(self.body.as_bytes(), Some(&self.signature), keys)?;
        let json: Value = serde_json::from_str(&self.body).map_err(|_| Unverified::Shape)?;
        let nonce = json.get("nonce").and_then(Value::as_str);
        if !nonce.is_some_and(nonce_ok) {
            return Err(Unverified::Nonce);
        }
        let server_time = json
            .get("server_time")
            .and_then(Value::as_str)
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .ok_or(Unverified::Shape)?
            .with_timezone(&Utc);
        Ok(Verified {
            http_status: self.http_status,
            json,
            server_time,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(code: &str, fp: &str) -> Binding {
        Binding {
            code_sha256: code.into(),
            fingerprint_sha256: fp.into(),
        }
    }

    #[test]
    fn a_nonce_is_bound_to_its_code_and_machine() {
        let here = binding("c1", "f1");
        let nonce = here.new_nonce();
        assert!(nonce.len() <= 64, "{nonce}");
        assert!(here.made(&nonce));
        assert!(!binding("c1", "f2").made(&nonce));
        assert!(!binding("c2", "f1").made(&nonce));
        assert!(!here.made("x.y") && !here.made(""));
        assert_ne!(here.new_nonce(), nonce);
    }
}
