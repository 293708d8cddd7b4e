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
