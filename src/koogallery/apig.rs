//! Huawei API Gateway `SDK-HMAC-SHA256` request signing (spec §2.7).
//!
//! We sign our calls to the `KooGallery` open APIs with it, and the local `KooGallery`
//! simulator verifies them with it, rejecting bad signatures the way the gateway does, so
//! both directions share one canonicalisation.
//!
//! Open point: the Python and Go reference signers disagree on whether `+` in a query string
//! means a space. We follow RFC 3986 (`+` is a literal plus, as the Python signer does) and
//! encode spaces as `%20` when we build URLs, which both signers read the same way.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, percent_encode};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The algorithm name that opens the `Authorization` header and the string to sign.
pub const ALGORITHM: &str = "SDK-HMAC-SHA256";

/// `X-Sdk-Content-Sha256` value that makes the literal replace the body hash.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// How far `X-Sdk-Date` may be from the gateway's clock before `APIGW.0303`.
pub const MAX_CLOCK_SKEW: TimeDelta = TimeDelta::minutes(15);

/// RFC 3986 unreserved characters stay as they are; everything else is `%XY`.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The headers a caller must set on a request signed by [`sign`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// Value of the `Authorization` header.
    pub authorization: String,
    /// Value of the `X-Sdk-Date` header.
    pub sdk_date: String,
    /// Value of the `Host` header (as signed).
    pub host: String,
    /// The `SignedHeaders` list, lowercase and `;`-joined.
    pub signed_headers: String,
    /// The lowercase hex signature inside `authorization`.
    pub signature: String,
}

/// The three fields of an `Authorization: SDK-HMAC-SHA256 …` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedAuthorization {
    /// The access key (AK).
    pub access: String,
    /// Signed header names, in the order given.
    pub signed_headers: Vec<String>,
    /// The hex signature.
    pub signature: String,
}

/// Why the gateway refuses a request. All variants answer HTTP 401.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApigError {
    /// No `Authorization` header.
    #[error("missing Authorization header")]
    MissingAuthorization,
    /// `Authorization` is not `SDK-HMAC-SHA256 Access=…, SignedHeaders=…, Signature=…`.
    #[error("Authorization header is not `SDK-HMAC-SHA256 Access=…, SignedHeaders=…, Signature=…`")]
    MalformedAuthorization,
    /// `SignedHeaders` leaves out a header that must be signed.
    #[error("SignedHeaders must include `{0}`")]
    UnsignedHeader(&'static str),
    /// No `X-Sdk-Date` header.
    #[error("missing X-Sdk-Date header")]
    MissingDate,
    /// `X-Sdk-Date` is not `yyyyMMdd'T'HHmmss'Z'`.
    #[error("X-Sdk-Date is not yyyyMMdd'T'HHmmss'Z'")]
    BadDate,
    /// The access key is not known.
    #[error("unknown access key")]
    UnknownAccessKey,
    /// `X-Sdk-Date` is more than 15 minutes from the server clock.
    #[error("X-Sdk-Date differs from the server clock by more than 15 minutes")]
    ClockSkew,
    /// The signature does not match the request.
    #[error("signature does not match the request")]
    BadSignature,
}

impl ApigError {
    /// The gateway's error code: `APIGW.0303` for clock skew, `APIGW.0301` (incorrect
    /// authentication information) for everything else.
    pub fn code(&self) -> &'static str {
        match self {
            Self::ClockSkew => "APIGW.0303",
            _ => "APIGW.0301",
        }
    }

    /// The HTTP status the gateway answers with.
    pub fn http_status(&self) -> u16 {
        401
    }
}

/// Formats a time as `X-Sdk-Date`: `yyyyMMdd'T'HHmmss'Z'`.
pub fn format_sdk_date(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

/// Parses an `X-Sdk-Date` value; `None` unless it is exactly `yyyyMMdd'T'HHmmss'Z'`.
pub fn parse_sdk_date(s: &str) -> Option<DateTime<Utc>> {
    let b = s.as_bytes();
    if b.len() != 16 || b.get(8) != Some(&b'T') || b.get(15) != Some(&b'Z') {
        return None;
    }
    // Digits only: `str::parse` alone would also accept a leading `+`.
    let field = |from: usize, len: usize| {
        let f = s.get(from..from + len)?;
        if f.bytes().all(|c| c.is_ascii_digit()) {
            f.parse::<u32>().ok()
        } else {
            None
        }
    };
    let date = NaiveDate::from_ymd_opt(
        i32::try_from(field(0, 4)?).ok()?,
        field(4, 2)?,
        field(6, 2)?,
    )?;
    Some(
        date.and_hms_opt(field(9, 2)?, field(11, 2)?, field(13, 2)?)?
            .and_utc(),
    )
}

/// The canonical request of §2.7. `path` and `query` are as they appear in the request line
/// (percent-encoded); `signed_headers` are the lowercase names as they appear in
/// `SignedHeaders`, whose values are looked up case-insensitively in `headers` (the last
/// occurrence wins, a missing one signs as empty).
pub fn canonical_request(
    method: &str,
    path: &str,
    query: Option<&str>,
    headers: &[(String, String)],
    signed_headers: &[String],
    body_hash_hex: &str,
) -> String {
    let mut out = method.to_ascii_uppercase();
    out.push('\n');
    out.push_str(&canonical_uri(path));
    out.push('\n');
    out.push_str(&canonical_query(query));
    out.push('\n');
    for name in signed_headers {
        out.push_str(&name.to_ascii_lowercase());
        out.push(':');
        out.push_str(header(headers, name).unwrap_or("").trim());
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&signed_headers.join(";").to_ascii_lowercase());
    out.push('\n');
    out.push_str(body_hash_hex);
    out
}

/// Signs a request. `headers` must hold `Content-Type` and any other header to be signed;
/// `Host` is derived from `url` (default port omitted) when absent, and `X-Sdk-Date` is set
/// from `sdk_date` (see [`format_sdk_date`]). Send the request with the returned `Host`,
/// `X-Sdk-Date` and `Authorization` headers plus the ones passed in.
pub fn sign(
    ak: &str,
    sk: &str,
    method: &str,
    url: &url::Url,
    headers: &[(String, String)],
    body: &[u8],
    sdk_date: &str,
) -> Signed {
    let host = header(headers, "host").map_or_else(|| host_of(url), |h| h.trim().to_owned());
    let mut all: Vec<(String, String)> = headers
        .iter()
        .filter(|(name, _)| {
            !name.eq_ignore_ascii_case("host") && !name.eq_ignore_ascii_case("x-sdk-date")
        })
        .cloned()
        .collect();
    all.push(("host".to_owned(), host.clone()));
    all.push(("x-sdk-date".to_owned(), sdk_date.to_owned()));
    let mut names: Vec<String> = all
        .iter()
        .map(|(name, _)| name.to_ascii_lowercase())
        .collect();
    names.sort();
    names.dedup();

    let request = canonical_request(
        method,
        url.path(),
        url.query(),
        &all,
        &names,
        &payload_hash(&all, body),
    );
    let signature = signature(sk, sdk_date, &request);
    let signed_headers = names.join(";");
    Signed {
        authorization: format!(
            "{ALGORITHM} Access={ak}, SignedHeaders={signed_headers}, Signature={signature}"
        ),
        sdk_date: sdk_date.to_owned(),
        host,
        signed_headers,
        signature,
    }
}

/// Parses `SDK-HMAC-SHA256 Access=<AK>, SignedHeaders=<a;b>, Signature=<hex>`; the three pairs
/// may come in any order but each exactly once, and none may be empty.
pub fn parse_authorization(h: &str) -> Option<ParsedAuthorization> {
    let rest = h.trim().strip_prefix(ALGORITHM)?;
    if !rest.starts_with(' ') {
        return None;
    }
    let (mut access, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let (name, value) = part.split_once('=')?;
        let slot = match name.trim() {
            "Access" => &mut access,
            "SignedHeaders" => &mut signed,
            "Signature" => &mut signature,
            _ => return None,
        };
        if slot.replace(value.trim()).is_some() {
            return None;
        }
    }
    let signed_headers: Vec<String> = signed?.split(';').map(str::to_owned).collect();
    if signed_headers.iter().any(String::is_empty) {
        return None;
    }
    Some(ParsedAuthorization {
        access: access.filter(|a| !a.is_empty())?.to_owned(),
        signed_headers,
        signature: signature.filter(|s| !s.is_empty())?.to_owned(),
    })
}

/// The gateway's check of an incoming request; returns the access key on success.
/// `sk_for_ak` looks up the secret key of an access key.
pub fn verify(
    sk_for_ak: impl Fn(&str) -> Option<String>,
    method: &str,
    path: &str,
    query: Option<&str>,
    headers: &[(String, String)],
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<String, ApigError> {
    let auth = header(headers, "authorization").ok_or(ApigError::MissingAuthorization)?;
    let parsed = parse_authorization(auth).ok_or(ApigError::MalformedAuthorization)?;
    for required in ["host", "x-sdk-date"] {
        if !parsed
            .signed_headers
            .iter()
            .any(|h| h.eq_ignore_ascii_case(required))
        {
            return Err(ApigError::UnsignedHeader(required));
        }
    }
    let sdk_date = header(headers, "x-sdk-date")
        .ok_or(ApigError::MissingDate)?
        .trim();
    let sent = parse_sdk_date(sdk_date).ok_or(ApigError::BadDate)?;
    let sk = sk_for_ak(&parsed.access).ok_or(ApigError::UnknownAccessKey)?;
    if now.signed_duration_since(sent).abs() > MAX_CLOCK_SKEW {
        return Err(ApigError::ClockSkew);
    }
    let request = canonical_request(
        method,
        path,
        query,
        headers,
        &parsed.signed_headers,
        &payload_hash(headers, body),
    );
    let expected = signature(&sk, sdk_date, &request);
    if bool::from(expected.as_bytes().ct_eq(parsed.signature.as_bytes())) {
        Ok(parsed.access)
    } else {
        Err(ApigError::BadSignature)
    }
}

fn signature(sk: &str, sdk_date: &str, canonical_request: &str) -> String {
    let hashed = hex::encode(Sha256::digest(canonical_request.as_bytes()));
    let string_to_sign = format!("{ALGORITHM}\n{sdk_date}\n{hashed}");
    hex::encode(hmac_sha256(sk.as_bytes(), string_to_sign.as_bytes()))
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

/// Lowercase hex SHA-256 of the body, or the `UNSIGNED-PAYLOAD` literal when that header asks
/// the gateway to skip body hashing.
fn payload_hash(headers: &[(String, String)], body: &[u8]) -> String {
    if header(headers, "x-sdk-content-sha256").is_some_and(|v| v.trim() == UNSIGNED_PAYLOAD) {
        UNSIGNED_PAYLOAD.to_owned()
    } else {
        hex::encode(Sha256::digest(body))
    }
}

/// Last value of a header, name matched case-insensitively (the reference signers keep the
/// last one too).
fn header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .rev()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// `host[:port]`, the port only when it is not the scheme's default.
fn host_of(url: &url::Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

/// Decodes the whole path first and then splits on `/`, as the reference signers do, so each
/// segment is re-encoded once; always ends with `/`.
fn canonical_uri(path: &str) -> String {
    let decoded: Vec<u8> = percent_decode_str(path).collect();
    let mut out = decoded
        .split(|b| *b == b'/')
        .map(|segment| percent_encode(segment, UNRESERVED).to_string())
        .collect::<Vec<_>>()
        .join("/");
    if !out.ends_with('/') {
        out.push('/');
    }
    out
}

/// Parameters decoded (`+` stays `+`), empty names dropped, sorted by name then value
/// (byte order of the decoded UTF-8, i.e. code-point order), and re-encoded per RFC 3986.
fn canonical_query(query: Option<&str>) -> String {
    let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = query
        .unwrap_or("")
        .split('&')
        .filter_map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (!name.is_empty()).then(|| {
                (
                    percent_decode_str(name).collect(),
                    percent_decode_str(value).collect(),
                )
            })
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(name, value)| {
            format!(
                "{}={}",
                percent_encode(name, UNRESERVED),
                percent_encode(value, UNRESERVED)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests;

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod fuzz;
