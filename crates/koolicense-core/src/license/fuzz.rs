//! Fuzzing of license-file parsing and verification (`koolicense verify`, clients): arbitrary
//! text, armoured garbage, envelopes with random fields, payloads that are validly signed but
//! otherwise anything, and edits of a real license. Nothing may panic; a file is accepted only
//! when it is exactly what [`sign`] wrote (up to line breaks and surrounding whitespace); and
//! whatever [`sign`] writes, [`verify`] reads back.
//!
//! Bounded: [`crate::testing::fuzz_config`] cases per property (scaled by `PROPTEST_CASES`).

use std::sync::LazyLock;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, TimeDelta, Utc};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::*;

/// One key, for the whole run.
static STORE: LazyLock<crate::testing::TestKeys> =
    LazyLock::new(|| crate::testing::TestKeys::new(&[("k-fuzz", [7; 32])]));

const FINGERPRINT: &str = "04:7C:16:5E:E3:5D|001B_444A_488B_5CEC.||BFEBFBFF00090672";

fn base_payload() -> LicensePayload {
    let start = DateTime::parse_from_rfc3339("2026-01-01T08:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    LicensePayload {
        v: PAYLOAD_VERSION,
        license_id: "lic-fuzz".into(),
        revision: 1,
        source: LicenseSource::Authcode,
        code_sha256: Some(code_sha256("PLFUZZ0001")),
        instance_id: None,
        order_id: Some("CS-FUZZ".into()),
        product_id: None,
        fingerprint_sha256: sha256_hex_of_normalised(FINGERPRINT),
        seats: 2,
        issued_at: start,
        not_before: start,
        expires_at: Some(start + TimeDelta::days(365)),
        features: Map::new(),
    }
}

static LICENSE: LazyLock<String> = LazyLock::new(|| sign(&base_payload(), &*STORE).unwrap());

/// Any instant chrono can represent, in whole seconds.
fn any_time() -> impl Strategy<Value = DateTime<Utc>> {
    let min = DateTime::<Utc>::MIN_UTC.timestamp();
    let max = DateTime::<Utc>::MAX_UTC.timestamp();
    prop_oneof![
        // Mostly this millennium, where licenses live.
        3 => 1_700_000_000_i64..2_000_000_000,
        1 => min..=max,
    ]
    .prop_map(|secs| DateTime::from_timestamp(secs, 0).unwrap())
}

/// JSON of any shape, a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        "\\PC{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("\\PC{0,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A payload-shaped object whose every field may be missing, mistyped or extreme.
fn payload_like_json() -> impl Strategy<Value = Value> {
    let field = |good: BoxedStrategy<Value>| {
        prop_oneof![
            6 => good.prop_map(Some),
            1 => Just(None),
            1 => any_json().prop_map(Some),
        ]
    };
    let time = any_time()
        .prop_map(|t| Value::from(t.format("%Y-%m-%dT%H:%M:%SZ").to_string()))
        .boxed();
    let text = "[a-z0-9-]{0,20}".prop_map(Value::from).boxed();
    let hex = prop_oneof![Just(sha256_hex_of_normalised(FINGERPRINT)), "[0-9a-f]{64}"]
        .prop_map(Value::from)
        .boxed();
    (
        field(prop_oneof![Just(json!(1)), any::<u8>().prop_map(Value::from)].boxed()),
        field(text.clone()),
        field(any::<i64>().prop_map(Value::from).boxed()),
        field(prop_oneof![Just(json!("authcode")), Just(json!("instance"))].boxed()),
        field(hex.clone()),
        field(text),
        field(hex),
        field(any::<i64>().prop_map(Value::from).boxed()),
        (field(time.clone()), field(time.clone()), field(time)),
        field(any_json().boxed()),
    )
        .prop_map(
            |(v, id, revision, source, code, order, fp, seats, (issued, start, end), features)| {
                let mut object = Map::new();
                let mut put = |name: &str, value: Option<Value>| {
                    if let Some(value) = value {
                        object.insert(name.to_owned(), value);
                    }
                };
                put("v", v);
                put("license_id", id);
                put("revision", revision);
                put("source", source);
                put("code_sha256", code);
                put("order_id", order);
                put("product_id", Some(Value::Null));
                put("fingerprint_sha256", fp);
                put("seats", seats);
                put("issued_at", issued);
                put("not_before", start);
                put("expires_at", end);
                put("features", features);
                Value::Object(object)
            },
        )
}

/// A license file for these payload bytes, signed with the real key.
fn signed_file(payload_json: &[u8]) -> String {
    let encoded = URL_SAFE_NO_PAD.encode(payload_json);
    let (kid, signature) = STORE.sign(signing_input(&encoded).as_bytes());
    let envelope = Envelope {
        alg: ALG.to_owned(),
        kid: kid.to_owned(),
        payload: encoded,
        sig: URL_SAFE_NO_PAD.encode(signature),
    };
    armour(&serde_json::to_vec(&envelope).unwrap())
}

/// Payloads [`sign`] is asked to sign: every field free within its type.
fn any_payload() -> impl Strategy<Value = LicensePayload> {
    (
        "\\PC{1,24}",
        any::<i64>(),
        any::<bool>(),
        "\\PC{0,24}",
        prop::option::of("\\PC{0,24}"),
        any::<i64>(),
        (any_time(), any_time(), prop::option::of(any_time())),
        prop::collection::btree_map("\\PC{0,8}", any_json(), 0..4),
    )
        .prop_map(
            |(id, revision, instance, source_id, order, seats, (issued, start, end), features)| {
                let (source, code_sha256, instance_id) = if instance {
                    (LicenseSource::Instance, None, Some(source_id))
                } else {
                    (LicenseSource::Authcode, Some(code_sha256(&source_id)), None)
                };
                LicensePayload {
                    license_id: id,
                    revision,
                    source,
                    code_sha256,
                    instance_id,
                    order_id: order,
                    seats,
                    issued_at: issued,
                    not_before: start,
                    expires_at: end,
                    features: features.into_iter().collect(),
                    ..base_payload()
                }
            },
        )
}

/// One edit of a license's text.
#[derive(Debug, Clone)]
enum Edit {
    Insert(prop::sample::Index, char),
    Delete(prop::sample::Index),
    Replace(prop::sample::Index, char),
    /// Re-wraps the base64 body at another width, with `\r\n` or `\n`.
    Rewrap(usize, bool),
}

fn edit() -> impl Strategy<Value = Edit> {
    let ch = prop_oneof![
        any::<char>(),
        prop::sample::select(vec![' ', '\n', '\r', '\t', '=', '+', '/', '-', '_', 'A'])
    ];
    prop_oneof![
        (any::<prop::sample::Index>(), ch.clone()).prop_map(|(i, c)| Edit::Insert(i, c)),
        any::<prop::sample::Index>().prop_map(Edit::Delete),
        (any::<prop::sample::Index>(), ch).prop_map(|(i, c)| Edit::Replace(i, c)),
        (1_usize..200, any::<bool>()).prop_map(|(w, crlf)| Edit::Rewrap(w, crlf)),
    ]
}

fn apply(text: &str, edit: &Edit) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    match edit {
        Edit::Insert(at, c) => chars.insert(at.index(chars.len() + 1), *c),
        Edit::Delete(at) if !chars.is_empty() => {
            chars.remove(at.index(chars.len()));
        }
        Edit::Replace(at, c) if !chars.is_empty() => {
            let i = at.index(chars.len());
            chars[i] = *c;
        }
        Edit::Rewrap(width, crlf) => {
            let lines: Vec<&str> = text.trim().lines().collect();
            if lines.len() < 3 {
                return text.to_owned();
            }
            let body: String = lines[1..lines.len() - 1].concat();
            let end = if *crlf { "\r\n" } else { "\n" };
            let wrapped: Vec<String> = body
                .as_bytes()
                .chunks(*width)
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect();
            return format!("{}{end}{}{end}{}{end}", lines[0], wrapped.join(end), END);
        }
        _ => {}
    }
    chars.into_iter().collect()
}

/// What fuzzing found, kept as cases: payloads whose signed file did not read back as signed.
#[test]
fn payloads_that_did_not_read_back_are_refused_or_read_back() {
    // Year -1: `sign` wrote `-0001-12-31T23:59:59Z`, which no RFC 3339 reader accepts.
    let early = DateTime::from_timestamp(-62_167_219_201, 0).unwrap();
    let outside = LicensePayload {
        not_before: early,
        issued_at: early,
        expires_at: None,
        ..base_payload()
    };
    assert!(matches!(
        sign(&outside, &*STORE),
        Err(LicenseError::InvalidPayload(_))
    ));
    // A float feature read back as a neighbouring float.
    let mut features = Map::new();
    features.insert("f".into(), json!(-4.263_142_500_057_631e246));
    let float = LicensePayload {
        features,
        ..base_payload()
    };
    let text = sign(&float, &*STORE).unwrap();
    assert_eq!(
        verify(&text, &*STORE, None, float.not_before, Duration::ZERO),
        Ok(float)
    );
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(text in any::<String>(), now in any_time()) {
        prop_assert!(verify(&text, &*STORE, Some(FINGERPRINT), now, Duration::ZERO).is_err());
        let _ = decode_unverified(&text);
    }

    #[test]
    fn armoured_garbage_is_refused(
        bytes in prop::collection::vec(any::<u8>(), 0..700),
        width in 1_usize..100,
        now in any_time(),
    ) {
        let body = STANDARD.encode(&bytes);
        let lines: Vec<&str> =
            body.as_bytes().chunks(width).map(|c| std::str::from_utf8(c).unwrap()).collect();
        let text = format!("{BEGIN}\n{}\n{END}\n", lines.join("\n"));
        prop_assert!(verify(&text, &*STORE, None, now, Duration::ZERO).is_err());
        let _ = decode_unverified(&text);
    }

    #[test]
    fn envelopes_with_random_fields_are_refused(
        alg in prop_oneof![Just(ALG.to_owned()), "\\PC{0,10}"],
        known_kid in any::<bool>(),
        kid in "\\PC{0,20}",
        payload in prop_oneof![
            payload_like_json().prop_map(|p| URL_SAFE_NO_PAD.encode(p.to_string())),
            "[A-Za-z0-9_=+/-]{0,80}",
        ],
        sig in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..80).prop_map(|b| URL_SAFE_NO_PAD.encode(b)),
            "\\PC{0,90}",
        ],
    ) {
        let kid = if known_kid { STORE.active_kid().to_owned() } else { kid };
        let envelope = Envelope { alg, kid, payload, sig };
        let text = armour(&serde_json::to_vec(&envelope).unwrap());
        prop_assert!(verify(&text, &*STORE, None, Utc::now(), Duration::ZERO).is_err());
        let _ = decode_unverified(&text);
    }
}

// Each case signs (and verifies) once: slow in debug builds, so fewer cases.
proptest! {
    #![proptest_config(crate::testing::fuzz_config(64))]

    #[test]
    fn validly_signed_odd_payloads_never_panic(
        payload in prop_oneof![3 => payload_like_json(), 1 => any_json()],
        fingerprint in prop::option::of(prop_oneof![Just(FINGERPRINT.to_owned()), "\\PC{0,20}"]),
        now in any_time(),
    ) {
        let text = signed_file(payload.to_string().as_bytes());
        if let Ok(accepted) = verify(&text, &*STORE, fingerprint.as_deref(), now, Duration::ZERO) {
            // What is accepted holds every rule verification promises.
            prop_assert_eq!(accepted.v, PAYLOAD_VERSION);
            prop_assert!(accepted.not_before <= now);
            prop_assert!(accepted.expires_at.is_none_or(|end| now <= end));
            if let Some(fp) = &fingerprint {
                prop_assert_eq!(&accepted.fingerprint_sha256, &sha256_hex_of_normalised(fp));
            }
        }
        let _ = decode_unverified(&text);
    }

    #[test]
    fn whatever_sign_writes_verify_reads_back(payload in any_payload()) {
        if let Ok(text) = sign(&payload, &*STORE) {
            let read = verify(&text, &*STORE, Some(FINGERPRINT), payload.not_before, Duration::ZERO);
            prop_assert_eq!(read, Ok(payload.clone()));
            let (_, decoded) = decode_unverified(&text).unwrap();
            prop_assert_eq!(decoded, payload);
        }
    }

    #[test]
    fn an_edited_license_is_refused_unless_only_its_wrapping_changed(
        edits in prop::collection::vec(edit(), 1..4),
    ) {
        let text = edits.iter().fold(LICENSE.clone(), |text, e| apply(&text, e));
        let now = base_payload().not_before;
        if let Ok(accepted) = verify(&text, &*STORE, Some(FINGERPRINT), now, Duration::ZERO) {
            prop_assert_eq!(accepted, base_payload());
            let squeeze = |t: &str| t.split_whitespace().collect::<String>();
            prop_assert_eq!(squeeze(&text), squeeze(&LICENSE));
        }
    }
}
