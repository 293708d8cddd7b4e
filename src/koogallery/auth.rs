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
mod tests {
    use super::*;
    use proptest::prelude::*;

    // §2.8 vector 4.
    const ACCESS_KEY: &str = "testAccessKey123";
    const NONCE: &str = "50D83FDECAED6CCD8EF597F2A577950527928BA287D04E6036E92B2806FD17DA";
    const TS: &str = "1680508066618";
    const TS_MS: i64 = 1_680_508_066_618;
    const PAYLOAD: &str = r#"{"activity":"getLicenseAsync","deviceFingerprint":"04:7C:16:5E:E3:5D|001B_444A_488B_5CEC.||BFEBFBFF00090672","effectiveTime":"2023-10-27 10:30:15 z","eventId":"evt-0001","expireTime":"2024-10-27 10:30:15 z","instanceId":"inst-0001","testFlag":"1"}"#;
    const SIGNATURE: &str = "95D9557CF4EFE14D5C79F90404257F664DF7D73BB64186ADA4A727EF65D97F85";
    // The same request in the unsorted order of the getLicenseAsync example (§4.2.5).
    const UNSORTED: &str = r#"{"activity":"getLicenseAsync","eventId":"evt-0001","instanceId":"inst-0001","effectiveTime":"2023-10-27 10:30:15 z","expireTime":"2024-10-27 10:30:15 z","deviceFingerprint":"04:7C:16:5E:E3:5D|001B_444A_488B_5CEC.||BFEBFBFF00090672","testFlag":"1"}"#;
    const WINDOW: i64 = 60_000;

    fn params<'a>(sig: &'a str, ts: &'a str, nonce: &'a str) -> SchemeBParams<'a> {
        SchemeBParams {
            signature: Some(sig),
            timestamp: Some(ts),
            nonce: Some(nonce),
        }
    }

    fn verify(p: &SchemeBParams<'_>, body: &str) -> Result<VerifiedCall, AuthError> {
        verify_scheme_b(ACCESS_KEY, p, body.as_bytes(), TS_MS + 1_000, WINDOW)
    }

    #[test]
    fn scheme_b_matches_vector_4() {
        let inner = hex::encode(hmac_sha256(ACCESS_KEY.as_bytes(), PAYLOAD.as_bytes()));
        assert_eq!(
            inner,
            "a0bc332bc9be438f1f6090b4b3521d0ddfe85a31e58f993698b1ae85ceb63db0"
        );
        assert_eq!(
            scheme_b_signature(ACCESS_KEY, NONCE, TS, PAYLOAD),
            SIGNATURE
        );
        assert_eq!(canonical_payload(PAYLOAD.as_bytes()).unwrap(), PAYLOAD);
    }

    #[test]
    fn unsorted_body_verifies_over_its_canonical_form() {
        let call = verify(&params(SIGNATURE, TS, NONCE), UNSORTED).unwrap();
        assert_eq!(
            call,
            VerifiedCall {
                nonce: NONCE.into(),
                timestamp_ms: TS_MS,
                matched: SignedForm::Canonical
            }
        );
        let lower = SIGNATURE.to_ascii_lowercase();
        assert!(verify(&params(&lower, TS, NONCE), UNSORTED).is_ok());
    }

    #[test]
    fn canonical_payload_drops_top_level_nulls_only() {
        let body = r#"{"b":null,"a":{"z":null,"y":1},"c":[null],"é":"/ü","B":true}"#;
        assert_eq!(
            canonical_payload(body.as_bytes()).unwrap(),
            r#"{"B":true,"a":{"z":null,"y":1},"c":[null],"é":"/ü"}"#
        );
        let with_null = UNSORTED.replacen('{', r#"{"extra":null, "#, 1);
        assert!(verify(&params(SIGNATURE, TS, NONCE), &with_null).is_ok());
    }

    #[test]
    fn canonical_payload_is_none_for_non_objects() {
        for body in [
            "",
            "[]",
            "1",
            "\"x\"",
            "null",
            "{",
            "{\"a\":1}x",
            "\u{feff}{}",
        ] {
            assert_eq!(canonical_payload(body.as_bytes()), None, "{body:?}");
        }
        assert_eq!(canonical_payload(b"\xff"), None);
    }

    #[test]
    fn canonical_keys_sort_like_java_strings() {
        // U+FF5E sorts after U+1F600 in UTF-16 (surrogates are 0xD83D..) but before it in UTF-8.
        let body = r#"{"😀":1,"～":2,"a":3,"B":4}"#;
        assert_eq!(
            canonical_payload(body.as_bytes()).unwrap(),
            r#"{"B":4,"a":3,"😀":1,"～":2}"#
        );
    }

    #[test]
    fn raw_body_signature_is_accepted_as_a_fallback() {
        for body in [r#"{ "b": 1, "a": 2 }"#, "not json"] {
            let sig = scheme_b_signature(ACCESS_KEY, NONCE, TS, body);
            assert_eq!(
                verify(&params(&sig, TS, NONCE), body).unwrap().matched,
                SignedForm::RawBody
            );
        }
        let bytes = b"\xff\xfe";
        let sig = scheme_b_over_bytes(ACCESS_KEY, NONCE, TS, bytes);
        let p = params(&sig, TS, NONCE);
        assert!(verify_scheme_b(ACCESS_KEY, &p, bytes, TS_MS, WINDOW).is_ok());
    }

    #[test]
    fn missing_or_empty_parameters_are_named() {
        let cases = [
            (
                SchemeBParams {
                    signature: None,
                    ..params(SIGNATURE, TS, NONCE)
                },
                "signature",
            ),
            (
                SchemeBParams {
                    timestamp: None,
                    ..params(SIGNATURE, TS, NONCE)
                },
                "timestamp",
            ),
            (
                SchemeBParams {
                    nonce: None,
                    ..params(SIGNATURE, TS, NONCE)
                },
                "nonce",
            ),
            (params("", TS, NONCE), "signature"),
            (params(SIGNATURE, "", NONCE), "timestamp"),
            (params(SIGNATURE, TS, ""), "nonce"),
        ];
        for (p, name) in cases {
            let err = verify(&p, UNSORTED).unwrap_err();
            assert_eq!(err, AuthError::Missing(name));
            assert_eq!(err.param(), Some(name));
        }
    }

    #[test]
    fn malformed_timestamp_and_nonce_are_rejected() {
        for ts in [
            "abc",
            "-1",
            "+1680508066618",
            "1680508066618.0",
            " 1680508066618",
            "99999999999999999999",
        ] {
            let err = verify(&params(SIGNATURE, ts, NONCE), UNSORTED).unwrap_err();
            assert_eq!(err, AuthError::BadTimestamp, "{ts}");
            assert_eq!(err.param(), Some("timestamp"));
        }
        let long = "a".repeat(MAX_NONCE_LEN + 1);
        for nonce in [long.as_str(), "has space", "tab\t", "nön"] {
            let err = verify(&params(SIGNATURE, TS, nonce), UNSORTED).unwrap_err();
            assert_eq!(err, AuthError::BadNonce, "{nonce}");
            assert_eq!(err.param(), Some("nonce"));
        }
    }

    #[test]
    fn freshness_window_is_symmetric_and_inclusive() {
        let p = params(SIGNATURE, TS, NONCE);
        let at = |now| verify_scheme_b(ACCESS_KEY, &p, UNSORTED.as_bytes(), now, WINDOW);
        assert!(at(TS_MS + WINDOW).is_ok());
        assert!(at(TS_MS - WINDOW).is_ok());
        assert_eq!(at(TS_MS + WINDOW + 1).unwrap_err(), AuthError::Stale);
        assert_eq!(at(TS_MS - WINDOW - 1).unwrap_err(), AuthError::Future);
        assert_eq!(at(i64::MIN).unwrap_err(), AuthError::Future);
        assert_eq!(at(i64::MAX).unwrap_err(), AuthError::Stale);
        assert_eq!(AuthError::Stale.param(), None);
    }

    #[test]
    fn ten_digit_timestamps_are_seconds() {
        let ts = "1680508066";
        let sig = scheme_b_signature(ACCESS_KEY, NONCE, ts, PAYLOAD);
        let call = verify(&params(&sig, ts, NONCE), PAYLOAD).unwrap();
        assert_eq!(call.timestamp_ms, 1_680_508_066_000);
    }

    #[test]
    fn wrong_key_or_signature_is_bad_signature() {
        let err = verify(&params(&"0".repeat(64), TS, NONCE), UNSORTED).unwrap_err();
        assert_eq!(err, AuthError::BadSignature);
        assert_eq!(err.param(), None);
        let p = params(SIGNATURE, TS, NONCE);
        let other_key = verify_scheme_b("otherKey", &p, UNSORTED.as_bytes(), TS_MS, WINDOW);
        assert_eq!(other_key.unwrap_err(), AuthError::BadSignature);
        assert!(verify(&params("zz", TS, NONCE), UNSORTED).is_err());
    }

    // §2.8 vector 3.
    const TOKEN: &str = "Gzbfjf9LHRBcI3bFVi++sLinCNOBF6qa7is1fvjEgYQ=";
    const TIME_STAMP: &str = "20200727073711903";

    fn legacy_params(token: &str) -> Vec<(String, String)> {
        [
            ("timeStamp", TIME_STAMP),
            ("orderId", "CS1906666666ABCDE"),
            ("authToken", token),
            ("activity", "newInstance"),
            ("businessId", "61e834ba-7b97-4418-b8f7-e5345137278c"),
            ("customerId", "68cbc86abc2018ab880d92f36422fa0e"),
            ("expireTime", "20200727153156"),
            ("productId", "00301-666666-0--0"),
            ("testFlag", "1"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
    }

    fn legacy_now(offset_secs: i64) -> DateTime<Utc> {
        parse_time_stamp(TIME_STAMP).unwrap().and_utc() + TimeDelta::seconds(offset_secs)
    }

    #[test]
    fn auth_token_matches_vector_3() {
        let all = legacy_params(TOKEN);
        let signed: Vec<(&str, &str)> = all
            .iter()
            .filter(|(k, _)| k != "authToken")
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(auth_token("xxxxxxx", TIME_STAMP, &signed), TOKEN);
        assert_eq!(verify_auth_token("xxxxxxx", &all), Ok(()));
        assert_eq!(
            verify_auth_token("yyyyyyy", &all),
            Err(AuthError::BadSignature)
        );
    }

    #[test]
    fn auth_token_survives_plus_decoded_as_space() {
        let mangled = TOKEN.replace('+', " ");
        assert_eq!(
            verify_auth_token("xxxxxxx", &legacy_params(&mangled)),
            Ok(())
        );
        let mut tampered = legacy_params(TOKEN);
        tampered.push(("extra".into(), String::new()));
        assert_eq!(
            verify_auth_token("xxxxxxx", &tampered),
            Err(AuthError::BadSignature)
        );
    }

    #[test]
    fn blank_get_values_are_signed_as_name_equals() {
        let with_blank = auth_token("k", "1", &[("timeStamp", "1"), ("memo", "")]);
        let without = auth_token("k", "1", &[("timeStamp", "1")]);
        assert_ne!(with_blank, without);
        let params = vec![
            ("memo".to_owned(), String::new()),
            ("timeStamp".to_owned(), "1".to_owned()),
            ("authToken".to_owned(), with_blank),
        ];
        assert_eq!(verify_auth_token("k", &params), Ok(()));
    }

    #[test]
    fn auth_token_requires_token_and_time_stamp() {
        let mut no_token = legacy_params(TOKEN);
        no_token.retain(|(k, _)| k != "authToken");
        assert_eq!(
            verify_auth_token("xxxxxxx", &no_token),
            Err(AuthError::Missing("authToken"))
        );
        let mut no_ts = legacy_params(TOKEN);
        no_ts.retain(|(k, _)| k != "timeStamp");
        assert_eq!(
            verify_auth_token("xxxxxxx", &no_ts),
            Err(AuthError::Missing("timeStamp"))
        );
        assert_eq!(
            verify_auth_token("xxxxxxx", &legacy_params("")),
            Err(AuthError::Missing("authToken"))
        );
    }

    #[test]
    fn auth_token_freshness_is_checked() {
        let all = legacy_params(TOKEN);
        let check = |offset| verify_auth_token_fresh("xxxxxxx", &all, legacy_now(offset), 300);
        assert_eq!(check(0), Ok(()));
        assert_eq!(check(300), Ok(()));
        assert_eq!(check(-300), Ok(()));
        assert_eq!(check(301), Err(AuthError::Stale));
        assert_eq!(check(-301), Err(AuthError::Future));
        let huge = verify_auth_token_fresh("xxxxxxx", &all, legacy_now(9_999_999), i64::MAX);
        assert_eq!(huge, Ok(()));
        let mut bad = legacy_params(TOKEN);
        for (k, v) in &mut bad {
            if k == "timeStamp" {
                *v = "2020072707371190x".into();
            }
        }
        let err = verify_auth_token_fresh("xxxxxxx", &bad, legacy_now(0), 300).unwrap_err();
        assert_eq!(err, AuthError::BadTimestamp);
    }

    // §2.8 vector 5.
    const BODY: &[u8] = br#"{"resultCode":"000000","resultMsg":"success."}"#;
    const BODY_SIG: &str = "YB9MRaDz8ENM8JzoKzW8YT4yUrcMdby3kM31MTz8tO4=";

    #[test]
    fn body_sign_matches_vector_5_in_the_documented_form() {
        assert_eq!(body_signature("xxxxxxx", BODY), BODY_SIG);
        let header = body_sign_header("xxxxxxx", BODY);
        assert_eq!(
            header,
            format!("sign_type=\"HMAC-SHA256\", signature= \"{BODY_SIG}\"")
        );
        assert_eq!(parse_body_sign(&header).unwrap(), BODY_SIG);
        assert!(verify_body_sign("xxxxxxx", BODY, &header));
        assert!(!verify_body_sign("xxxxxxx", b"{}", &header));
    }

    #[test]
    fn parse_body_sign_accepts_both_spacings_and_rejects_junk() {
        let tight = format!("sign_type=\"HMAC-SHA256\",signature=\"{BODY_SIG}\"");
        assert_eq!(parse_body_sign(&tight).unwrap(), BODY_SIG);
        let bad = [
            String::new(),
            format!("sign_type=HMAC-SHA256, signature= \"{BODY_SIG}\""),
            format!("sign_type=\"HMAC-SHA1\", signature= \"{BODY_SIG}\""),
            format!("signature= \"{BODY_SIG}\""),
            "sign_type=\"HMAC-SHA256\"".to_owned(),
            format!("sign_type=\"HMAC-SHA256\", signature= {BODY_SIG}"),
            format!("sign_type=\"HMAC-SHA256\", signature= \"{BODY_SIG}\", x=\"1\""),
            format!("sign_type=\"HMAC-SHA256\", signature=\"a\", signature=\"{BODY_SIG}\""),
        ];
        for header in bad {
            assert_eq!(parse_body_sign(&header), None, "{header}");
        }
    }

    fn json_object() -> impl Strategy<Value = Vec<(String, Value)>> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            // Short decimals only: serde_json without `float_roundtrip` may be off by one ulp
            // on long mantissas, which the raw-body fallback absorbs.
            any::<i32>().prop_map(|m| Value::from(f64::from(m) / 1000.0)),
            "\\PC{0,12}".prop_map(Value::from),
        ];
        let nested = prop::collection::vec(("[a-z]{1,3}", leaf.clone()), 0..4)
            .prop_map(|kv| Value::Object(kv.into_iter().collect()));
        prop::collection::btree_map("\\PC{1,8}", prop_oneof![leaf, nested], 0..8)
            .prop_map(|m| m.into_iter().collect::<Vec<_>>())
    }

    /// A body already in canonical form whose values need no escapes, so that every
    /// single-byte change alters the signed content.
    fn canonical_body() -> impl Strategy<Value = String> {
        prop::collection::btree_map("[a-zA-Z_]{1,8}", "[a-zA-Z0-9 /é中😀._-]{0,16}", 1..6)
            .prop_map(|m| canonical_payload(&serde_json::to_vec(&m).unwrap()).unwrap())
    }

    proptest! {
        #[test]
        fn canonical_payload_is_idempotent_and_order_independent(
            (members, shuffled) in json_object()
                .prop_flat_map(|m| (Just(m.clone()), Just(m).prop_shuffle()))
        ) {
            let encode = |kv: Vec<(String, Value)>| {
                serde_json::to_vec(&Value::Object(kv.into_iter().collect())).unwrap()
            };
            let once = canonical_payload(&encode(members)).unwrap();
            prop_assert_eq!(canonical_payload(once.as_bytes()).unwrap(), once.clone());
            prop_assert_eq!(canonical_payload(&encode(shuffled)).unwrap(), once);
        }

        #[test]
        fn any_changed_body_byte_fails(body in canonical_body(), idx in any::<prop::sample::Index>(), byte in any::<u8>()) {
            let sig = scheme_b_signature(ACCESS_KEY, NONCE, TS, &body);
            let mut bytes = body.into_bytes();
            let i = idx.index(bytes.len());
            prop_assume!(bytes[i] != byte);
            bytes[i] = byte;
            let p = params(&sig, TS, NONCE);
            prop_assert!(verify_scheme_b(ACCESS_KEY, &p, &bytes, TS_MS, WINDOW).is_err());
        }

        #[test]
        fn any_changed_nonce_or_timestamp_char_fails(
            nonce in "[A-Za-z0-9]{1,64}",
            idx in any::<prop::sample::Index>(),
            ch in any::<char>(),
            in_nonce in any::<bool>(),
        ) {
            let sig = scheme_b_signature(ACCESS_KEY, &nonce, TS, PAYLOAD);
            let target = if in_nonce { nonce.clone() } else { TS.to_owned() };
            let mut chars: Vec<char> = target.chars().collect();
            let i = idx.index(chars.len());
            prop_assume!(chars[i] != ch);
            chars[i] = ch;
            let changed: String = chars.into_iter().collect();
            let (n, t) = if in_nonce { (changed.as_str(), TS) } else { (nonce.as_str(), changed.as_str()) };
            let p = params(&sig, t, n);
            prop_assert!(verify_scheme_b(ACCESS_KEY, &p, PAYLOAD.as_bytes(), TS_MS, WINDOW).is_err());
        }

        #[test]
        fn auth_token_round_trips(
            pairs in prop::collection::vec(("[a-zA-Z]{1,8}", "\\PC{0,12}"), 0..6),
            key in "\\PC{1,16}",
        ) {
            let mut params: Vec<(String, String)> = pairs
                .into_iter()
                .filter(|(k, _)| k != "authToken" && k != "timeStamp")
                .collect();
            params.push(("timeStamp".into(), TIME_STAMP.into()));
            let borrowed: Vec<(&str, &str)> =
                params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let token = auth_token(&key, TIME_STAMP, &borrowed);
            params.push(("authToken".into(), token));
            prop_assert_eq!(verify_auth_token(&key, &params), Ok(()));
        }
    }
}
