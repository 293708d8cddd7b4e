//! Authentication of `KooGallery` → ISV calls, and signing of our answers (spec §2.2–§2.5).
//!
//! * Scheme B (`signature`/`timestamp`/`nonce` query parameters, HMAC with the accessKey) guards
//!   the License 2.0 and online-License merchant interfaces.
//! * Scheme A (`authToken` + `timeStamp`, HMAC with Key值 + timeStamp) guards the legacy GET
//!   interfaces, whose responses carry a `Body-Sign` header.
//!
//! Everything here is pure: the caller supplies the clock and keeps the nonce replay cache.
//! Comparisons of secrets-derived values use `subtle` so timing does not leak how much matched.

use std::cmp::Ordering;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeDelta, Utc};
use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Longest nonce we accept. Documented nonces are 16 or 64 characters; the cap keeps a replay
/// cache keyed by nonce from being fed arbitrarily large keys.
pub const MAX_NONCE_LEN: usize = 128;

/// Why a `KooGallery` request failed authentication. The marketplace expects `resultCode`
/// `000001` for authentication failures; see [`AuthError::param`] for the malformed-parameter
/// cases the official sample answers with `000002` instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// A required parameter is absent or empty; carries its wire name.
    #[error("missing required parameter `{0}`")]
    Missing(&'static str),
    /// The timestamp is not a plain non-negative integer (Scheme B) or not a
    /// `yyyyMMddHHmmssSSS` UTC time (Scheme A).
    #[error("timestamp is not a valid epoch-milliseconds integer or yyyyMMddHHmmssSSS time")]
    BadTimestamp,
    /// The nonce is longer than [`MAX_NONCE_LEN`] or holds non-printable / non-ASCII characters.
    #[error("nonce must be 1 to 128 printable ASCII characters")]
    BadNonce,
    /// The timestamp is older than the freshness window allows.
    #[error("timestamp is older than the allowed window")]
    Stale,
    /// The timestamp lies further in the future than the freshness window allows.
    #[error("timestamp is further in the future than the allowed window")]
    Future,
    /// The signature or authToken does not match the request.
    #[error("request signature does not match")]
    BadSignature,
}

impl AuthError {
    /// The parameter at fault when the failure is a missing or malformed parameter (the
    /// official sample answers those with `000002`), or `None` when the request was
    /// well-formed but not authentic or not fresh (`000001`).
    pub fn param(&self) -> Option<&'static str> {
        match self {
            Self::Missing(name) => Some(name),
            Self::BadTimestamp => Some("timestamp"),
            Self::BadNonce => Some("nonce"),
            Self::Stale | Self::Future | Self::BadSignature => None,
        }
    }
}

/// Scheme-B query parameters as received; empty strings count as missing.
#[derive(Debug, Clone, Copy, Default)]
pub struct SchemeBParams<'a> {
    /// `signature`: hex HMAC, compared case-insensitively.
    pub signature: Option<&'a str>,
    /// `timestamp`: epoch milliseconds as a decimal string.
    pub timestamp: Option<&'a str>,
    /// `nonce`: a random string, unique per call.
    pub nonce: Option<&'a str>,
}

/// Which form of the body the Scheme-B signature matched, worth logging because the
/// marketplace's exact canonicalisation is not specified (spec §8 item 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignedForm {
    /// Sorted, compact, null-free JSON as the official sample computes it.
    Canonical,
    /// The body bytes exactly as received.
    RawBody,
}

/// A Scheme-B call whose signature and freshness checked out. The caller must still reject
/// a nonce it has already seen within the window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCall {
    /// The nonce, for the replay cache.
    pub nonce: String,
    /// The timestamp normalised to epoch milliseconds.
    pub timestamp_ms: i64,
    /// Which body form the signature was computed over.
    pub matched: SignedForm,
}

/// The Scheme-B signing payload: the JSON object with top-level `null` members dropped and
/// top-level keys sorted, re-serialised compactly. `None` if the body is not a JSON object.
///
/// This reproduces the official sample (`TreeMap` + Jackson): keys are ordered by UTF-16 code
/// units as Java's `String.compareTo` does (plain byte order for ASCII names), nested values
/// keep their received order, non-ASCII and `/` are written unescaped. Numbers are re-written
/// by `serde_json` (Jackson may spell large or long floats differently); `KooGallery` bodies
/// carry strings only, and the raw-body fallback in [`verify_scheme_b`] covers the rest.
pub fn canonical_payload(body: &[u8]) -> Option<String> {
    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) else {
        return None;
    };
    let mut members: Vec<(String, Value)> = map.into_iter().filter(|(_, v)| !v.is_null()).collect();
    members.sort_by(|(a, _), (b, _)| java_string_order(a, b));
    // With serde_json's `preserve_order` the map keeps this insertion order when written.
    let sorted: Map<String, Value> = members.into_iter().collect();
    serde_json::to_string(&Value::Object(sorted)).ok()
}

/// Scheme-B signature as upper-case hex:
/// `HMAC(accessKey, accessKey + nonce + timestamp + hex(HMAC(accessKey, payload)))`.
pub fn scheme_b_signature(access_key: &str, nonce: &str, timestamp: &str, payload: &str) -> String {
    scheme_b_over_bytes(access_key, nonce, timestamp, payload.as_bytes())
}

/// [`scheme_b_signature`] over any bytes, so a raw body need not be valid UTF-8.
fn scheme_b_over_bytes(access_key: &str, nonce: &str, timestamp: &str, payload: &[u8]) -> String {
    let key = access_key.as_bytes();
    let inner = hex::encode(hmac_sha256(key, payload));
    let canonical = [access_key, nonce, timestamp, inner.as_str()].concat();
    hex::encode_upper(hmac_sha256(key, canonical.as_bytes()))
}

/// Verifies a Scheme-B request: parameters present and well-formed, `|now − timestamp| ≤
/// window`, and the signature computed over [`canonical_payload`] or, failing that, over the
/// raw body (the spec's robust-verifier recommendation, §2.3).
///
/// The timestamp is epoch **milliseconds** (every example, the official sample and two of three
/// pages). One page says seconds, so a value of at most 10 digits is read as seconds: as
/// milliseconds it would fall in early 1970 and could never be fresh, so the reading is
/// unambiguous. The signature always covers the timestamp string exactly as received.
pub fn verify_scheme_b(
    access_key: &str,
    params: &SchemeBParams<'_>,
    raw_body: &[u8],
    now_ms: i64,
    window_ms: i64,
) -> Result<VerifiedCall, AuthError> {
    let signature = required(params.signature, "signature")?;
    let timestamp = required(params.timestamp, "timestamp")?;
    let nonce = required(params.nonce, "nonce")?;
    if nonce.len() > MAX_NONCE_LEN || !nonce.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(AuthError::BadNonce);
    }
    let timestamp_ms = parse_epoch_ms(timestamp).ok_or(AuthError::BadTimestamp)?;
    // i128 so that no combination of caller clock and window can overflow.
    let age = i128::from(now_ms) - i128::from(timestamp_ms);
    if age > i128::from(window_ms) {
        return Err(AuthError::Stale);
    }
    if -age > i128::from(window_ms) {
        return Err(AuthError::Future);
    }

    let received = signature.to_ascii_uppercase();
    let signs = |payload: &[u8]| {
        let expected = scheme_b_over_bytes(access_key, nonce, timestamp, payload);
        bool::from(expected.as_bytes().ct_eq(received.as_bytes()))
    };
    let matched = if canonical_payload(raw_body).is_some_and(|p| signs(p.as_bytes())) {
        SignedForm::Canonical
    } else if signs(raw_body) {
        SignedForm::RawBody
    } else {
        return Err(AuthError::BadSignature);
    };
    Ok(VerifiedCall {
        nonce: nonce.to_owned(),
        timestamp_ms,
        matched,
    })
}

/// Scheme-A `authToken`: `params` are all request parameters except `authToken`, including
/// `timeStamp`. They are sorted by name, joined as `name=value` with `&`, and signed with
/// `HMAC(key + timeStamp)`; the result is standard Base64 with padding.
pub fn auth_token(key: &str, time_stamp: &str, params: &[(&str, &str)]) -> String {
    let mut sorted = params.to_vec();
    // Stable sort: repeated names keep their received order.
    sorted.sort_by(|(a, _), (b, _)| java_string_order(a, b));
    let joined = sorted
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("&");
    let hmac_key = [key, time_stamp].concat();
    BASE64.encode(hmac_sha256(hmac_key.as_bytes(), joined.as_bytes()))
}

/// Verifies a Scheme-A GET request from its decoded query parameters. Blank values are signed
/// as `name=` (GET semantics). Because `authToken` contains `+`, a stack that decoded `+` as a
/// space is tolerated by also trying the token with spaces mapped back to `+`.
pub fn verify_auth_token(key: &str, params: &[(String, String)]) -> Result<(), AuthError> {
    let (token, time_stamp) = scheme_a_params(params)?;
    let signed: Vec<(&str, &str)> = params
        .iter()
        .filter(|(name, _)| name != "authToken")
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    let expected = auth_token(key, time_stamp, &signed);
    let equal = |candidate: &str| bool::from(expected.as_bytes().ct_eq(candidate.as_bytes()));
    if equal(token) || (token.contains(' ') && equal(&token.replace(' ', "+"))) {
        Ok(())
    } else {
        Err(AuthError::BadSignature)
    }
}

/// [`verify_auth_token`] plus a freshness check of `timeStamp` (UTC `yyyyMMddHHmmssSSS`;
/// 14 digits also accepted). The spec documents no window for Scheme A (§8 item 14), so the
/// caller chooses one; a few minutes is sensible.
pub fn verify_auth_token_fresh(
    key: &str,
    params: &[(String, String)],
    now: DateTime<Utc>,
    window_secs: i64,
) -> Result<(), AuthError> {
    let (_, time_stamp) = scheme_a_params(params)?;
    let sent = parse_time_stamp(time_stamp).ok_or(AuthError::BadTimestamp)?;
    let window = TimeDelta::try_seconds(window_secs).unwrap_or(TimeDelta::MAX);
    let age = now.naive_utc().signed_duration_since(sent);
    if age > window {
        return Err(AuthError::Stale);
    }
    if -age > window {
        return Err(AuthError::Future);
    }
    verify_auth_token(key, params)
}

/// The `Body-Sign` signature alone: Base64 of `HMAC(key, body)` with the plain Key值.
pub fn body_signature(key: &str, body: &[u8]) -> String {
    BASE64.encode(hmac_sha256(key.as_bytes(), body))
}

/// The full `Body-Sign` header value, byte-for-byte the documented form
/// `sign_type="HMAC-SHA256", signature= "<base64>"`. Sign the final serialised body.
pub fn body_sign_header(key: &str, body: &[u8]) -> String {
    format!(
        "sign_type=\"HMAC-SHA256\", signature= \"{}\"",
        body_signature(key, body)
    )
}

/// Extracts the Base64 signature from a `Body-Sign` header. Accepts the documented form and
/// the variant without spaces; both values must be double-quoted and `sign_type` must be
/// `HMAC-SHA256`.
pub fn parse_body_sign(header: &str) -> Option<String> {
    let mut sign_type = None;
    let mut signature = None;
    for part in header.split(',') {
        let (name, value) = part.split_once('=')?;
        let value = value.trim().strip_prefix('"')?.strip_suffix('"')?;
        let slot = match name.trim() {
            "sign_type" => &mut sign_type,
            "signature" => &mut signature,
            _ => return None,
        };
        if slot.replace(value).is_some() {
            return None;
        }
    }
    if sign_type? != "HMAC-SHA256" {
        return None;
    }
    signature.map(str::to_owned)
}

/// Whether `header` is a valid `Body-Sign` for `body` under `key` (constant-time compare).
pub fn verify_body_sign(key: &str, body: &[u8], header: &str) -> bool {
    parse_body_sign(header).is_some_and(|received| {
        bool::from(
            body_signature(key, body)
                .as_bytes()
                .ct_eq(received.as_bytes()),
        )
    })
}

#[expect(
    clippy::expect_used,
    reason = "HMAC accepts keys of any length, so new_from_slice cannot fail"
)]
fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(msg);
    mac.finalize().into_bytes().into()
}

/// Java `String.compareTo` order: by UTF-16 code unit, which differs from byte order only for
/// characters above U+FFFF against U+E000..U+FFFF.
fn java_string_order(a: &str, b: &str) -> Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

fn required<'a>(value: Option<&'a str>, name: &'static str) -> Result<&'a str, AuthError> {
    value
        .filter(|v| !v.is_empty())
        .ok_or(AuthError::Missing(name))
}

/// The first `authToken` and `timeStamp`, both required.
fn scheme_a_params(params: &[(String, String)]) -> Result<(&str, &str), AuthError> {
    let find = |name: &'static str| {
        let value = params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str());
        required(value, name)
    };
    Ok((find("authToken")?, find("timeStamp")?))
}

/// Scheme-B timestamp to epoch milliseconds; ≤ 10 digits is read as seconds (see
/// [`verify_scheme_b`]). Digits only: no sign, no spaces.
fn parse_epoch_ms(s: &str) -> Option<i64> {
    if s.len() > 19 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value: i64 = s.parse().ok()?;
    if s.len() <= 10 {
        value.checked_mul(1000)
    } else {
        Some(value)
    }
}

/// Scheme-A `timeStamp`, `yyyyMMddHHmmssSSS` (or 14 digits) in UTC. Kept local rather than
/// shared with `domain::times` so this module stays dependency-free.
fn parse_time_stamp(s: &str) -> Option<NaiveDateTime> {
    if !(s.len() == 14 || s.len() == 17) || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let field = |from: usize, len: usize| s.get(from..from + len)?.parse::<u32>().ok();
    let millis = if s.len() == 17 { field(14, 3)? } else { 0 };
    NaiveDate::from_ymd_opt(
        i32::try_from(field(0, 4)?).ok()?,
        field(4, 2)?,
        field(6, 2)?,
    )?
    .and_hms_milli_opt(field(8, 2)?, field(10, 2)?, field(12, 2)?, millis)
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests;

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod fuzz;
