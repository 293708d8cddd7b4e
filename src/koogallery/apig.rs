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
mod tests {
    use super::*;
    use proptest::prelude::*;

    const URL: &str =
        "https://mkt.myhuaweicloud.com/api/mkp-openapi-public/global/v1/license/activate";
    const DATE: &str = "20240317T144237Z";

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn keys(ak: &str) -> Option<String> {
        (ak == "AK").then(|| "123".to_owned())
    }

    fn date() -> DateTime<Utc> {
        parse_sdk_date(DATE).unwrap()
    }

    /// Signs a request and returns the headers as they arrive at the gateway.
    fn signed_request(
        url: &url::Url,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Vec<(String, String)> {
        let s = sign("AK", "123", "POST", url, headers, body, DATE);
        let mut sent = headers.to_vec();
        sent.retain(|(k, _)| !k.eq_ignore_ascii_case("host"));
        sent.push(("Host".into(), s.host));
        sent.push(("X-Sdk-Date".into(), s.sdk_date));
        sent.push(("Authorization".into(), s.authorization));
        sent
    }

    fn check(
        sent: &[(String, String)],
        path: &str,
        query: Option<&str>,
        body: &[u8],
    ) -> Result<String, ApigError> {
        verify(keys, "POST", path, query, sent, body, date())
    }

    #[test]
    fn sign_matches_vector_1() {
        let url = url::Url::parse(URL).unwrap();
        let headers = h(&[
            ("Content-Type", "application/json"),
            ("x-stage", "RELEASE"),
            ("Host", "mkt.myhuaweicloud.com"),
        ]);
        let s = sign("anything", "123", "POST", &url, &headers, b"", DATE);
        assert_eq!(s.signed_headers, "content-type;host;x-sdk-date;x-stage");
        assert_eq!(
            s.signature,
            "77595ad624b6e4e49990b8c4e84bf1c287457fca61069c4e60b9b6765b52053d"
        );
        assert_eq!(
            s.authorization,
            format!(
                "SDK-HMAC-SHA256 Access=anything, SignedHeaders={}, Signature={}",
                s.signed_headers, s.signature
            )
        );
        assert_eq!(s.host, "mkt.myhuaweicloud.com");
    }

    #[test]
    fn sign_matches_vector_2_with_derived_host() {
        let url = url::Url::parse(URL).unwrap();
        let body = br#"{"license":"PLXXXXXX"}"#;
        assert_eq!(
            hex::encode(Sha256::digest(body)),
            "3e414c5e8434e4efeb16b0ab2d599390f9d7d358f943193cf068fe17b865ace3"
        );
        let s = sign(
            "AK",
            "123",
            "POST",
            &url,
            &h(&[("content-type", "application/json")]),
            body,
            DATE,
        );
        assert_eq!(s.signed_headers, "content-type;host;x-sdk-date");
        assert_eq!(
            s.signature,
            "721d4451908cd70cf6bf4e592a4322f7ef3a8b484e61e08e19beefec1e83cff1"
        );
        assert_eq!(s.host, "mkt.myhuaweicloud.com");
    }

    #[test]
    fn canonical_request_has_the_documented_layout() {
        let headers = h(&[("Host", " example.com "), ("X-Sdk-Date", DATE)]);
        let names = vec!["host".to_owned(), "x-sdk-date".to_owned()];
        let got = canonical_request("get", "/v1/x", Some("b=2&a=1"), &headers, &names, "HASH");
        assert_eq!(
            got,
            format!(
                "GET\n/v1/x/\na=1&b=2\nhost:example.com\nx-sdk-date:{DATE}\n\nhost;x-sdk-date\nHASH"
            )
        );
    }

    #[test]
    fn query_strings_are_canonicalised() {
        let cases = [
            (None, ""),
            (Some(""), ""),
            (Some("b=2&a=2&a=1"), "a=1&a=2&b=2"),
            (Some("c&d=&=orphan"), "c=&d="),
            (Some("s=a%20b&p=a+b"), "p=a%2Bb&s=a%20b"),
            (Some("u=%E4%B8%AD&r=中"), "r=%E4%B8%AD&u=%E4%B8%AD"),
            (Some("t=%7E&star=*&safe=-_.~"), "safe=-_.~&star=%2A&t=~"),
            (Some("k%3D=v%26"), "k%3D=v%26"),
        ];
        for (query, want) in cases {
            assert_eq!(canonical_query(query), want, "{query:?}");
        }
    }

    #[test]
    fn uris_are_canonicalised() {
        let cases = [
            ("", "/"),
            ("/", "/"),
            ("/v1/license", "/v1/license/"),
            ("/v1/license/", "/v1/license/"),
            ("/a b/%7Ex/%E4%B8%AD", "/a%20b/~x/%E4%B8%AD/"),
            ("/a%2Fb", "/a/b/"),
        ];
        for (path, want) in cases {
            assert_eq!(canonical_uri(path), want, "{path}");
        }
    }

    #[test]
    fn host_omits_default_ports_only() {
        for (url, want) in [
            ("https://h.example:443/x", "h.example"),
            ("http://h.example:80/x", "h.example"),
            ("http://127.0.0.1:8080/x", "127.0.0.1:8080"),
            ("https://[::1]:8443/", "[::1]:8443"),
        ] {
            assert_eq!(host_of(&url::Url::parse(url).unwrap()), want);
        }
    }

    #[test]
    fn signed_requests_verify_and_tampering_is_caught() {
        let url = url::Url::parse(&format!("{URL}?b=1&a=x%20y")).unwrap();
        let body = br#"{"license":"PLXXXXXX"}"#;
        let sent = signed_request(&url, &h(&[("Content-Type", "application/json")]), body);
        let (path, query) = (url.path(), url.query());
        assert_eq!(check(&sent, path, query, body), Ok("AK".to_owned()));

        assert_eq!(
            check(&sent, path, query, b"{}"),
            Err(ApigError::BadSignature)
        );
        assert_eq!(
            check(&sent, "/other", query, body),
            Err(ApigError::BadSignature)
        );
        assert_eq!(
            check(&sent, path, Some("b=2&a=x%20y"), body),
            Err(ApigError::BadSignature)
        );
        assert_eq!(check(&sent, path, None, body), Err(ApigError::BadSignature));
        let mut header_changed = sent.clone();
        header_changed[0].1 = "text/plain".into();
        assert_eq!(
            check(&header_changed, path, query, body),
            Err(ApigError::BadSignature)
        );
        let post = verify(keys, "PUT", path, query, &sent, body, date());
        assert_eq!(post, Err(ApigError::BadSignature));
        assert_eq!(ApigError::BadSignature.code(), "APIGW.0301");
    }

    #[test]
    fn clock_skew_beyond_15_minutes_is_0303() {
        let url = url::Url::parse(URL).unwrap();
        let sent = signed_request(&url, &h(&[("Content-Type", "application/json")]), b"");
        let at = |mins| {
            verify(
                keys,
                "POST",
                url.path(),
                None,
                &sent,
                b"",
                date() + TimeDelta::minutes(mins),
            )
        };
        assert!(at(15).is_ok());
        assert!(at(-15).is_ok());
        assert_eq!(at(16), Err(ApigError::ClockSkew));
        assert_eq!(at(-16), Err(ApigError::ClockSkew));
        assert_eq!(ApigError::ClockSkew.code(), "APIGW.0303");
        assert_eq!(ApigError::ClockSkew.http_status(), 401);
    }

    #[test]
    fn broken_authentication_headers_are_rejected() {
        let url = url::Url::parse(URL).unwrap();
        let sent = signed_request(&url, &h(&[("Content-Type", "application/json")]), b"");
        let without = |name: &str| -> Vec<(String, String)> {
            sent.iter().filter(|(k, _)| k != name).cloned().collect()
        };
        let replace = |name: &str, value: &str| -> Vec<(String, String)> {
            let mut v = without(name);
            v.push((name.to_owned(), value.to_owned()));
            v
        };
        let sig = "Signature=00";
        let cases = [
            (without("Authorization"), ApigError::MissingAuthorization),
            (
                replace("Authorization", "Basic abc"),
                ApigError::MalformedAuthorization,
            ),
            (
                replace(
                    "Authorization",
                    &format!("SDK-HMAC-SHA256 Access=AK, {sig}"),
                ),
                ApigError::MalformedAuthorization,
            ),
            (
                replace(
                    "Authorization",
                    &format!(
                        "SDK-HMAC-SHA256 Access=AK, SignedHeaders=content-type;x-sdk-date, {sig}"
                    ),
                ),
                ApigError::UnsignedHeader("host"),
            ),
            (
                replace(
                    "Authorization",
                    &format!("SDK-HMAC-SHA256 Access=AK, SignedHeaders=host, {sig}"),
                ),
                ApigError::UnsignedHeader("x-sdk-date"),
            ),
            (
                replace(
                    "Authorization",
                    &format!("SDK-HMAC-SHA256 Access=NOPE, SignedHeaders=host;x-sdk-date, {sig}"),
                ),
                ApigError::UnknownAccessKey,
            ),
            (without("X-Sdk-Date"), ApigError::MissingDate),
            (
                replace("X-Sdk-Date", "2024-03-17T14:42:37Z"),
                ApigError::BadDate,
            ),
        ];
        for (headers, want) in cases {
            assert_eq!(
                check(&headers, url.path(), None, b""),
                Err(want.clone()),
                "{want}"
            );
            assert_eq!(want.code(), "APIGW.0301");
        }
    }

    #[test]
    fn parse_authorization_is_strict() {
        let ok = parse_authorization(
            "SDK-HMAC-SHA256 Access=AK, SignedHeaders=host;x-sdk-date, Signature=ab",
        )
        .unwrap();
        assert_eq!(
            ok,
            ParsedAuthorization {
                access: "AK".into(),
                signed_headers: vec!["host".into(), "x-sdk-date".into()],
                signature: "ab".into(),
            }
        );
        for bad in [
            "",
            "SDK-HMAC-SHA256",
            "SDK-HMAC-SHA256Access=AK, SignedHeaders=host, Signature=ab",
            "SDK-HMAC-SHA1 Access=AK, SignedHeaders=host, Signature=ab",
            "SDK-HMAC-SHA256 Access=, SignedHeaders=host, Signature=ab",
            "SDK-HMAC-SHA256 Access=AK, SignedHeaders=host;;x, Signature=ab",
            "SDK-HMAC-SHA256 Access=AK, Access=AK, SignedHeaders=host, Signature=ab",
            "SDK-HMAC-SHA256 Access=AK, SignedHeaders=host, Signature=ab, Extra=1",
            "SDK-HMAC-SHA256 Access=AK SignedHeaders=host Signature=ab",
        ] {
            assert_eq!(parse_authorization(bad), None, "{bad}");
        }
    }

    #[test]
    fn sdk_dates_round_trip_and_reject_junk() {
        assert_eq!(format_sdk_date(date()), DATE);
        for bad in [
            "",
            "20240317T144237",
            "20240317 144237Z",
            "20241317T144237Z",
            "2024031aT144237Z",
            "+0240317T144237Z",
            "20240317T246000Z",
        ] {
            assert_eq!(parse_sdk_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn unsigned_payload_replaces_the_body_hash() {
        let url = url::Url::parse(URL).unwrap();
        let headers = h(&[
            ("Content-Type", "multipart/form-data"),
            ("X-Sdk-Content-Sha256", UNSIGNED_PAYLOAD),
        ]);
        let sent = signed_request(&url, &headers, b"part one");
        assert_eq!(
            check(&sent, url.path(), None, b"anything else"),
            Ok("AK".to_owned())
        );
        let names = vec!["host".to_owned()];
        assert!(
            canonical_request("POST", "/", None, &sent, &names, &payload_hash(&sent, b"x"))
                .ends_with("\nUNSIGNED-PAYLOAD")
        );
    }

    proptest! {
        #[test]
        fn sign_then_verify_round_trips(
            segments in prop::collection::vec("\\PC{0,8}", 0..4),
            pairs in prop::collection::vec(("\\PC{1,6}", "\\PC{0,6}"), 0..4),
            custom in "[ -~]{0,20}",
            body in prop::collection::vec(any::<u8>(), 0..64),
            flip in any::<prop::sample::Index>(),
        ) {
            let mut url = url::Url::parse("https://mkt.example.com/api").unwrap();
            url.path_segments_mut().unwrap().extend(&segments);
            for (k, v) in &pairs {
                url.query_pairs_mut().append_pair(k, v);
            }
            let headers = h(&[("Content-Type", "application/json"), ("X-Custom", &custom)]);
            let sent = signed_request(&url, &headers, &body);
            prop_assert_eq!(check(&sent, url.path(), url.query(), &body), Ok("AK".to_owned()));
            if !body.is_empty() {
                let mut changed = body.clone();
                let i = flip.index(changed.len());
                changed[i] ^= 0x01;
                prop_assert_eq!(check(&sent, url.path(), url.query(), &changed), Err(ApigError::BadSignature));
            }
        }

        #[test]
        fn parsers_never_panic(s in "\\PC{0,80}") {
            let _ = parse_authorization(&s);
            let _ = parse_sdk_date(&s);
            let _ = canonical_query(Some(&s));
            let _ = canonical_uri(&s);
        }
    }
}
