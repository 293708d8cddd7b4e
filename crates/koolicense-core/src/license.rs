//! License files (`api.md` §5): payload → signed envelope → armoured text, and back.
//!
//! ```text
//! -----BEGIN KOOLICENSE LICENSE-----
//! <standard base64 of the envelope JSON, lines of 64 characters>
//! -----END KOOLICENSE LICENSE-----
//! ```
//!
//! The envelope is `{"alg":"ed25519","kid":KID,"payload":P,"sig":S}`, `P` the unpadded base64url of
//! the payload JSON and `S` the unpadded base64url of the Ed25519 signature over
//! `koolicense/license/v1.` + `P`. The prefix separates license signatures from anything else the
//! key might ever sign. [`sign`] emits the armour with `\n` line ends and a final `\n`; [`verify`]
//! also accepts CRLF, other line widths and surrounding whitespace, but nothing else: the decoded
//! envelope must be exactly what [`sign`] writes, so every other changed byte is rejected.
//!
//! Serialisation is deterministic (fixed field order, feature keys sorted, times in whole seconds)
//! and Ed25519 is deterministic, so the same payload and key always give the same file, byte for
//! byte, which the idempotent license endpoints rely on.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, Datelike, Utc};
use ed25519_dalek::Signature;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::fingerprint::sha256_hex_of_normalised;
use crate::keys::{ALG, Signer, VerifyingKeys};

/// First line of a license file.
pub const BEGIN: &str = "-----BEGIN KOOLICENSE LICENSE-----";
/// Last line of a license file.
pub const END: &str = "-----END KOOLICENSE LICENSE-----";
/// Domain-separation prefix of the signed message. Never change: every license in the field is
/// signed over it.
pub const SIGNING_CONTEXT: &str = "koolicense/license/v1.";
/// The payload format version this module writes and accepts.
pub const PAYLOAD_VERSION: u8 = 1;

/// How far a verifying clock may run behind `not_before` by default: client clocks are minutes
/// off in the field, and a license just issued must verify on them (`client.md` §4,
/// `clock_tolerance_s`).
pub const DEFAULT_CLOCK_TOLERANCE: Duration = Duration::from_secs(300);

/// Width of the base64 lines in the armour.
const LINE_LEN: usize = 64;
/// Licenses are a few hundred bytes; refuse to decode megabytes of attacker input.
const MAX_TEXT_LEN: usize = 1 << 20;
/// RFC 3339, UTC, whole seconds: `YYYY-MM-DDTHH:MM:SSZ`.
const TIME_FORMAT: &str = "%Y-%m-%dT%H:%M:%SZ";

/// Where a license comes from: an activated authorization code or an online-License instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LicenseSource {
    /// License 2.0 authorization code (`POST /v1/activate`); the payload carries `code_sha256`.
    Authcode,
    /// Online-License instance (`getLicenseAsync`); the payload carries `instance_id`.
    Instance,
}

/// The signed content of a license, serialised in exactly this field order.
///
/// Of `code_sha256` and `instance_id` only the one that applies to `source` is written; the other
/// is omitted rather than `null`, so an authcode license never mentions instances and vice versa.
/// `order_id` and `product_id` are always written (`null` when unknown), `expires_at` is `null` for
/// a perpetual license. Times are serialised in whole seconds; sub-seconds are dropped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LicensePayload {
    /// Format version, [`PAYLOAD_VERSION`].
    pub v: u8,
    /// Stable id of the license; renewals keep it and raise `revision`.
    pub license_id: String,
    /// Increases with every re-issue of the same license.
    pub revision: i64,
    /// Authcode or instance.
    pub source: LicenseSource,
    /// Hex SHA-256 of the authorization code (authcode licenses only), see [`code_sha256`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_sha256: Option<String>,
    /// Online-License instance id (instance licenses only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    /// Marketplace order id, when known.
    pub order_id: Option<String>,
    /// Marketplace product id, when known.
    pub product_id: Option<String>,
    /// Hex SHA-256 of the normalised fingerprint, see [`sha256_hex_of_normalised`].
    pub fingerprint_sha256: String,
    /// Machines the license covers.
    pub seats: i64,
    /// When this revision was issued.
    #[serde(with = "utc_seconds")]
    pub issued_at: DateTime<Utc>,
    /// Start of validity.
    #[serde(with = "utc_seconds")]
    pub not_before: DateTime<Utc>,
    /// End of validity (inclusive); `None` for a perpetual license.
    #[serde(with = "utc_seconds_or_null")]
    pub expires_at: Option<DateTime<Utc>>,
    /// Product features; may be empty. Keys are written sorted, at every depth.
    #[serde(serialize_with = "serialize_sorted")]
    pub features: Map<String, Value>,
}

/// The decoded outer JSON of a license file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// Signature algorithm, always `ed25519`.
    pub alg: String,
    /// Id of the signing key.
    pub kid: String,
    /// Unpadded base64url of the payload JSON.
    pub payload: String,
    /// Unpadded base64url of the signature over [`SIGNING_CONTEXT`] + `payload`.
    pub sig: String,
}

/// Why a payload could not be signed.
#[derive(Debug, thiserror::Error)]
pub enum LicenseError {
    /// The payload breaks a rule of `api.md` §5.
    #[error("invalid license payload: {0}")]
    InvalidPayload(String),
    /// JSON serialisation failed.
    #[error("cannot serialise license: {0}")]
    Serialize(#[from] serde_json::Error),
}

/// Why a license file is not valid. Each message is one line, fit for `koolicense verify`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// Not a well-formed license file.
    #[error("malformed license: {0}")]
    Malformed(String),
    /// Signed with a key the verifier does not know.
    #[error("license is signed with unknown key {0:?}")]
    UnknownKey(String),
    /// The signature does not match the payload.
    #[error("license signature is invalid")]
    BadSignature,
    /// Issued for another machine.
    #[error("license is bound to another machine fingerprint")]
    FingerprintMismatch,
    /// `now` is before `not_before` by more than the clock tolerance: the license is not valid
    /// yet, or this clock is behind.
    #[error(
        "license is not valid before {}; this clock reads {}, more than {tolerance_secs} s \
         earlier",
        .not_before.format(TIME_FORMAT),
        .now.format(TIME_FORMAT)
    )]
    NotYetValid {
        /// The license's `not_before`.
        not_before: DateTime<Utc>,
        /// The verifying clock.
        now: DateTime<Utc>,
        /// The tolerance that was allowed, in seconds.
        tolerance_secs: u64,
    },
    /// `now` is after `expires_at`.
    #[error("license expired at {}", .0.format(TIME_FORMAT))]
    Expired(DateTime<Utc>),
    /// The envelope names an algorithm other than Ed25519.
    #[error("unsupported signature algorithm {0:?}")]
    UnsupportedAlg(String),
}

/// Hex SHA-256 of an authorization code's exact bytes, for `code_sha256`.
pub fn code_sha256(code: &str) -> String {
    hex::encode(Sha256::digest(code.as_bytes()))
}

impl LicensePayload {
    /// The payload JSON exactly as it is signed.
    pub fn to_json_bytes(&self) -> Result<Vec<u8>, LicenseError> {
        Ok(serde_json::to_vec(self)?)
    }

    /// Checks what `api.md` §5 requires before anything is signed.
    fn validate(&self) -> Result<(), LicenseError> {
        let invalid = |reason: &str| Err(LicenseError::InvalidPayload(reason.to_owned()));
        let is_sha256 = |hex: &str| {
            hex.len() == 64
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        if self.v != PAYLOAD_VERSION {
            return invalid("v must be 1");
        }
        match (self.source, &self.code_sha256, &self.instance_id) {
            (LicenseSource::Authcode, Some(hash), None) if is_sha256(hash) => {}
            (LicenseSource::Instance, None, Some(id)) if !id.is_empty() => {}
            (LicenseSource::Authcode, ..) => {
                return invalid(
                    "an authcode license needs code_sha256 (lower-case hex SHA-256) only",
                );
            }
            (LicenseSource::Instance, ..) => {
                return invalid("an instance license needs a non-empty instance_id only");
            }
        }
        // Catches a raw fingerprint passed by mistake: it must never be written into a license.
        if !is_sha256(&self.fingerprint_sha256) {
            return invalid("fingerprint_sha256 must be a lower-case hex SHA-256");
        }
        if self.expires_at.is_some_and(|end| end < self.not_before) {
            return invalid("expires_at is before not_before");
        }
        // RFC 3339 has four-digit years: a time outside them would be written in a form no
        // verifier can read back.
        let writable = |t: &DateTime<Utc>| (0..=9999).contains(&t.year());
        let times = [Some(self.issued_at), Some(self.not_before), self.expires_at];
        if !times.iter().flatten().all(writable) {
            return invalid("times must lie in the years 0000 to 9999");
        }
        Ok(())
    }
}

/// Signs `payload` with the active key of `keys` and returns the armoured license file.
pub fn sign(
    payload: &LicensePayload,
    keys: &(impl Signer + ?Sized),
) -> Result<String, LicenseError> {
    payload.validate()?;
    let encoded_payload = URL_SAFE_NO_PAD.encode(payload.to_json_bytes()?);
    let (kid, signature) = keys.sign(signing_input(&encoded_payload).as_bytes());
    let envelope = Envelope {
        alg: ALG.to_owned(),
        kid: kid.to_owned(),
        payload: encoded_payload,
        sig: URL_SAFE_NO_PAD.encode(signature),
    };
    Ok(armour(&serde_json::to_vec(&envelope)?))
}

/// Verifies a license file: armour, key by `kid`, signature, then (when given) the fingerprint,
/// then `not_before - clock_tolerance <= now <= expires_at` (no upper bound when `expires_at` is
/// null). The tolerance covers a clock running behind; expiry gets none, since a clock ahead
/// only shortens the license. Returns the payload.
pub fn verify(
    text: &str,
    keys: &(impl VerifyingKeys + ?Sized),
    fingerprint: Option<&str>,
    now: DateTime<Utc>,
    clock_tolerance: Duration,
) -> Result<LicensePayload, VerifyError> {
    let payload = verify_signed(text, keys, fingerprint)?;
    check_validity(&payload, now, clock_tolerance)?;
    Ok(payload)
}

/// [`verify`] without the validity window: armour, key, signature and (when given) the
/// fingerprint. For callers that decide about dates themselves, in an order of their own (the
/// client SDK's clock and grace rules).
pub fn verify_signed(
    text: &str,
    keys: &(impl VerifyingKeys + ?Sized),
    fingerprint: Option<&str>,
) -> Result<LicensePayload, VerifyError> {
    let envelope = decode_envelope(text)?;
    if envelope.alg != ALG {
        return Err(VerifyError::UnsupportedAlg(envelope.alg));
    }
    let key = keys
        .verifying_key(&envelope.kid)
        .ok_or_else(|| VerifyError::UnknownKey(envelope.kid.clone()))?;
    let signature = URL_SAFE_NO_PAD
        .decode(&envelope.sig)
        .ok()
        .and_then(|bytes| <[u8; 64]>::try_from(bytes).ok())
        .ok_or_else(|| malformed("sig is not 64 bytes of unpadded base64url"))?;
    // verify_strict also rejects malleable signatures and weak keys.
    key.verify_strict(
        signing_input(&envelope.payload).as_bytes(),
        &Signature::from_bytes(&signature),
    )
    .map_err(|_| VerifyError::BadSignature)?;

    let payload = decode_payload(&envelope)?;
    if payload.v != PAYLOAD_VERSION {
        return Err(malformed(&format!(
            "unsupported payload version {}",
            payload.v
        )));
    }
    if let Some(fingerprint) = fingerprint {
        let expected = sha256_hex_of_normalised(fingerprint);
        if !payload.fingerprint_sha256.eq_ignore_ascii_case(&expected) {
            return Err(VerifyError::FingerprintMismatch);
        }
    }
    Ok(payload)
}

/// The validity window of a verified payload: `not_before - clock_tolerance <= now <=
/// expires_at`.
pub fn check_validity(
    payload: &LicensePayload,
    now: DateTime<Utc>,
    clock_tolerance: Duration,
) -> Result<(), VerifyError> {
    // Compared as a difference: `not_before - tolerance` could leave chrono's range.
    let tolerance = chrono::TimeDelta::from_std(clock_tolerance).unwrap_or(chrono::TimeDelta::MAX);
    if payload.not_before - now > tolerance {
        return Err(VerifyError::NotYetValid {
            not_before: payload.not_before,
            now,
            tolerance_secs: clock_tolerance.as_secs(),
        });
    }
    if let Some(expires_at) = payload.expires_at.filter(|end| now > *end) {
        return Err(VerifyError::Expired(expires_at));
    }
    Ok(())
}

/// Decodes a license file without checking its signature, fingerprint or dates: for display in
/// the admin API only, never to grant anything.
pub fn decode_unverified(text: &str) -> Result<(Envelope, LicensePayload), VerifyError> {
    let envelope = decode_envelope(text)?;
    let payload = decode_payload(&envelope)?;
    Ok((envelope, payload))
}

/// The message the signature covers.
fn signing_input(encoded_payload: &str) -> String {
    format!("{SIGNING_CONTEXT}{encoded_payload}")
}

/// A `Malformed` error; control characters (which parse errors may quote from the input) become
/// spaces so that the message stays on one line.
fn malformed(reason: &str) -> VerifyError {
    let one_line = reason
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    VerifyError::Malformed(one_line)
}

/// Wraps the envelope JSON: header, base64 lines of [`LINE_LEN`], footer, final newline.
fn armour(envelope_json: &[u8]) -> String {
    let body = STANDARD.encode(envelope_json);
    let mut text = String::with_capacity(body.len() + body.len() / LINE_LEN + 2 * BEGIN.len() + 4);
    text.push_str(BEGIN);
    for (i, c) in body.chars().enumerate() {
        if i % LINE_LEN == 0 {
            text.push('\n');
        }
        text.push(c);
    }
    text.push('\n');
    text.push_str(END);
    text.push('\n');
    text
}

/// Removes the armour and decodes the envelope, which must be byte for byte what [`sign`] writes.
fn decode_envelope(text: &str) -> Result<Envelope, VerifyError> {
    if text.len() > MAX_TEXT_LEN {
        return Err(malformed("license text is larger than 1 MiB"));
    }
    // `lines` splits on `\n` and `\r\n`; `trim` drops stray `\r` and indentation.
    let lines: Vec<&str> = text.trim().lines().map(str::trim).collect();
    let (Some(&first), Some(&last)) = (lines.first(), lines.last()) else {
        return Err(malformed("empty license text"));
    };
    if first != BEGIN {
        return Err(malformed(&format!("first line is not {BEGIN}")));
    }
    if last != END {
        return Err(malformed(&format!("last line is not {END}")));
    }
    if lines.len() < 3 {
        return Err(malformed("license body is empty"));
    }
    let body: String = lines[1..lines.len() - 1].concat();
    let json = STANDARD
        .decode(body)
        .map_err(|e| malformed(&format!("body is not standard base64 ({e})")))?;
    let envelope: Envelope = serde_json::from_slice(&json)
        .map_err(|e| malformed(&format!("envelope is not valid JSON ({e})")))?;
    // Whitespace or key order would otherwise let differently-encoded bodies pass as the same file.
    if serde_json::to_vec(&envelope).ok().as_deref() != Some(json.as_slice()) {
        return Err(malformed("envelope is not in canonical form"));
    }
    Ok(envelope)
}

fn decode_payload(envelope: &Envelope) -> Result<LicensePayload, VerifyError> {
    let json = URL_SAFE_NO_PAD
        .decode(&envelope.payload)
        .map_err(|e| malformed(&format!("payload is not unpadded base64url ({e})")))?;
    serde_json::from_slice(&json).map_err(|e| malformed(&format!("payload is not valid ({e})")))
}

/// A copy of `value` with object keys sorted at every depth.
fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(sorted_map(map)),
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

fn sorted_map(map: &Map<String, Value>) -> Map<String, Value> {
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    entries
        .into_iter()
        .map(|(k, v)| (k.clone(), sorted(v)))
        .collect()
}

/// `serde_json` keeps insertion order here (`preserve_order`), yet two equal maps may have been
/// built in different orders: sorting makes equal payloads serialise to equal bytes.
fn serialize_sorted<S: Serializer>(map: &Map<String, Value>, s: S) -> Result<S::Ok, S::Error> {
    sorted_map(map).serialize(s)
}

/// `YYYY-MM-DDTHH:MM:SSZ`; reading accepts any RFC 3339 time and converts it to UTC.
mod utc_seconds {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(time: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&time.format(super::TIME_FORMAT))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        parse(&String::deserialize(d)?).map_err(D::Error::custom)
    }

    pub fn parse(text: &str) -> Result<DateTime<Utc>, String> {
        DateTime::parse_from_rfc3339(text)
            .map(|time| time.with_timezone(&Utc))
            .map_err(|e| format!("{text:?} is not an RFC 3339 time ({e})"))
    }
}

/// As [`utc_seconds`], with `null` for `None`. The field is required: a missing `expires_at`
/// must not silently read as perpetual.
mod utc_seconds_or_null {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    #[expect(
        clippy::ref_option,
        reason = "serde's `with` passes a reference to the field"
    )]
    pub fn serialize<S: Serializer>(time: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match time {
            Some(time) => super::utc_seconds::serialize(time, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|text| super::utc_seconds::parse(&text).map_err(D::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests;

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod fuzz;
