use super::*;
use proptest::prelude::*;

const URL: &str = "https://mkt.myhuaweicloud.com/api/mkp-openapi-public/global/v1/license/activate";
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
                &format!("SDK-HMAC-SHA256 Access=AK, SignedHeaders=content-type;x-sdk-date, {sig}"),
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
