//! Signed answers of the client API (`api.md` §4.5): the server signs the exact body of every
//! answer of activate, check-in and deactivate, and the client SDK trusts only answers whose
//! signature verifies, so a man in the middle cannot turn a `FROZEN` verdict into `VALID`.
//!
//! `Koolicense-Signature: kid="KID", sig="S"`, `S` the unpadded base64url of the Ed25519
//! signature over [`SIGNING_CONTEXT`] followed by the body bytes.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::Signature;

use crate::keys::{Signer, VerifyingKeys};

/// The response header that carries the signature.
pub const HEADER: &str = "Koolicense-Signature";
/// Domain-separation prefix of the signed message. Never change: every client in the field
/// verifies answers over it.
pub const SIGNING_CONTEXT: &str = "koolicense/answer/v1.";
/// Longest header value worth parsing (a kid and 86 characters of signature need far less).
const MAX_HEADER_LEN: usize = 512;

/// Why an answer's signature is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnswerError {
    /// The answer has no signature header.
    #[error("the answer is not signed")]
    Missing,
    /// The header is not `kid="...", sig="..."`.
    #[error("malformed answer signature header: {0}")]
    Malformed(&'static str),
    /// Signed with a key the client does not know.
    #[error("the answer is signed with unknown key {0:?}")]
    UnknownKey(String),
    /// The signature does not match the body.
    #[error("the answer's signature is invalid")]
    BadSignature,
}

/// The header value signing `body` with the active key of `signer`.
pub fn sign(body: &[u8], signer: &(impl Signer + ?Sized)) -> String {
    let (kid, signature) = signer.sign(&signing_input(body));
    format!(
        "kid=\"{kid}\", sig=\"{}\"",
        URL_SAFE_NO_PAD.encode(signature)
    )
}

/// Checks that `header` (the [`HEADER`] value, `None` when absent) signs exactly `body` with one
/// of `keys`.
pub fn verify(
    body: &[u8],
    header: Option<&str>,
    keys: &(impl VerifyingKeys + ?Sized),
) -> Result<(), AnswerError> {
    let header = header.ok_or(AnswerError::Missing)?;
    let (kid, sig) = parse_header(header)?;
    let key = keys
        .verifying_key(kid)
        .ok_or_else(|| AnswerError::UnknownKey(kid.to_owned()))?;
    let signature = URL_SAFE_NO_PAD
        .decode(sig)
        .ok()
        .and_then(|bytes| <[u8; 64]>::try_from(bytes).ok())
        .ok_or(AnswerError::Malformed(
            "sig is not 64 bytes of unpadded base64url",
        ))?;
    key.verify_strict(&signing_input(body), &Signature::from_bytes(&signature))
        .map_err(|_| AnswerError::BadSignature)
}

fn signing_input(body: &[u8]) -> Vec<u8> {
    let mut input = Vec::with_capacity(SIGNING_CONTEXT.len() + body.len());
    input.extend_from_slice(SIGNING_CONTEXT.as_bytes());
    input.extend_from_slice(body);
    input
}

/// Splits `kid="K", sig="S"` (whitespace around the parts allowed, in either order) into
/// `(K, S)`. Each name must appear exactly once.
fn parse_header(header: &str) -> Result<(&str, &str), AnswerError> {
    if header.len() > MAX_HEADER_LEN {
        return Err(AnswerError::Malformed("header is too long"));
    }
    let (mut kid, mut sig) = (None, None);
    for part in header.split(',') {
        let (name, value) = part
            .trim()
            .split_once('=')
            .ok_or(AnswerError::Malformed("a part is not name=value"))?;
        let value = value
            .trim()
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .filter(|v| !v.contains('"'))
            .ok_or(AnswerError::Malformed("a value is not in double quotes"))?;
        let slot = match name.trim() {
            "kid" => &mut kid,
            "sig" => &mut sig,
            _ => return Err(AnswerError::Malformed("unknown part")),
        };
        if slot.replace(value).is_some() {
            return Err(AnswerError::Malformed("a part appears twice"));
        }
    }
    match (kid, sig) {
        (Some(kid), Some(sig)) if !kid.is_empty() => Ok((kid, sig)),
        _ => Err(AnswerError::Malformed("kid and sig are both required")),
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests;
