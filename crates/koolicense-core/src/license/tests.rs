use super::*;
use crate::keys::Verifier;
use crate::testing::TestKeys;
use ed25519_dalek::{Signer, SigningKey};
use proptest::prelude::*;
use std::sync::LazyLock;
use std::time::Duration;

const FINGERPRINT: &str = "04:7C:16:5E:E3:5D|001B_444A_488B_5CEC.||BFEBFBFF00090672";
const SEED: [u8; 32] = [9; 32];
const KID: &str = "k20260101-00c0de";

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

fn payload() -> LicensePayload {
    let mut features = Map::new();
    features.insert("modules".into(), serde_json::json!({"y": 2, "x": 1}));
    features.insert("edition".into(), "pro".into());
    LicensePayload {
        v: 1,
        license_id: "lic_0001".into(),
        revision: 1,
        source: LicenseSource::Authcode,
        code_sha256: Some(code_sha256("PL1234567890")),
        instance_id: None,
        order_id: Some("CS2601010000ABCDE".into()),
        product_id: None,
        fingerprint_sha256: sha256_hex_of_normalised(FINGERPRINT),
        seats: 2,
        issued_at: at("2026-01-01T08:00:00Z"),
        not_before: at("2026-01-01T08:00:00Z"),
        expires_at: Some(at("2027-01-01T08:00:00Z")),
        features,
    }
}

/// The fixed key `KID` (seed `SEED`).
fn fixed_store() -> TestKeys {
    TestKeys::new(&[(KID, SEED)])
}

static STORE: LazyLock<TestKeys> = LazyLock::new(fixed_store);
static LICENSE: LazyLock<String> = LazyLock::new(|| sign(&payload(), &*STORE).unwrap());

fn valid_time() -> DateTime<Utc> {
    at("2026-06-01T00:00:00Z")
}

fn rearmour(envelope: &Envelope) -> String {
    armour(&serde_json::to_vec(envelope).unwrap())
}

#[test]
fn sign_follows_the_specified_format_to_the_letter() {
    // An independent construction of api.md §5, from the payload JSON written out by hand.
    let payload_json = format!(
        concat!(
            r#"{{"v":1,"license_id":"lic_0001","revision":1,"source":"authcode","#,
            r#""code_sha256":"{}","order_id":"CS2601010000ABCDE","product_id":null,"#,
            r#""fingerprint_sha256":"{}","seats":2,"issued_at":"2026-01-01T08:00:00Z","#,
            r#""not_before":"2026-01-01T08:00:00Z","expires_at":"2027-01-01T08:00:00Z","#,
            r#""features":{{"edition":"pro","modules":{{"x":1,"y":2}}}}}}"#
        ),
        code_sha256("PL1234567890"),
        sha256_hex_of_normalised(FINGERPRINT),
    );
    assert_eq!(
        String::from_utf8(payload().to_json_bytes().unwrap()).unwrap(),
        payload_json
    );
    let p = URL_SAFE_NO_PAD.encode(payload_json.as_bytes());
    let sig = SigningKey::from_bytes(&SEED).sign(format!("koolicense/license/v1.{p}").as_bytes());
    let s = URL_SAFE_NO_PAD.encode(sig.to_bytes());
    let envelope = format!(r#"{{"alg":"ed25519","kid":"{KID}","payload":"{p}","sig":"{s}"}}"#);
    let body = STANDARD.encode(envelope.as_bytes());
    let lines: Vec<&str> = (0..body.len())
        .step_by(64)
        .map(|i| &body[i..body.len().min(i + 64)])
        .collect();
    let expected = format!(
        "-----BEGIN KOOLICENSE LICENSE-----\n{}\n-----END KOOLICENSE LICENSE-----\n",
        lines.join("\n")
    );

    assert_eq!(*LICENSE, expected);
}

#[test]
fn lines_are_64_characters_and_the_file_ends_with_a_newline() {
    let lines: Vec<&str> = LICENSE.split('\n').collect();
    assert_eq!(lines[0], BEGIN);
    assert_eq!(lines[lines.len() - 2], END);
    assert_eq!(lines[lines.len() - 1], "", "final newline");
    let body = &lines[1..lines.len() - 2];
    assert!(body.len() > 2);
    assert!(body[..body.len() - 1].iter().all(|line| line.len() == 64));
    assert!((1..=64).contains(&body[body.len() - 1].len()));
}

#[test]
fn a_valid_license_verifies_and_returns_its_payload() {
    let verified = verify(
        &LICENSE,
        &*STORE,
        Some(FINGERPRINT),
        valid_time(),
        Duration::ZERO,
    )
    .unwrap();
    assert_eq!(verified, payload());
    // The fingerprint is compared after trimming and upper-casing.
    let lower = format!("  {}\n", FINGERPRINT.to_lowercase());
    assert!(
        verify(
            &LICENSE,
            &*STORE,
            Some(&lower),
            valid_time(),
            Duration::ZERO
        )
        .is_ok()
    );
    assert!(verify(&LICENSE, &*STORE, None, valid_time(), Duration::ZERO).is_ok());
}

#[test]
fn the_same_payload_gives_the_same_bytes() {
    let mut reordered = payload();
    let mut features = Map::new();
    features.insert("edition".into(), "pro".into());
    features.insert("modules".into(), serde_json::json!({"x": 1, "y": 2}));
    reordered.features = features;
    assert_eq!(sign(&payload(), &*STORE).unwrap(), *LICENSE);
    assert_eq!(sign(&reordered, &*STORE).unwrap(), *LICENSE);
}

#[test]
fn crlf_and_surrounding_whitespace_are_tolerated() {
    let crlf = format!("\r\n  {}  \r\n\r\n", LICENSE.replace('\n', "\r\n"));
    assert!(
        verify(
            &crlf,
            &*STORE,
            Some(FINGERPRINT),
            valid_time(),
            Duration::ZERO
        )
        .is_ok()
    );
    let indented = LICENSE
        .lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        verify(
            &indented,
            &*STORE,
            Some(FINGERPRINT),
            valid_time(),
            Duration::ZERO
        )
        .is_ok()
    );
}

#[test]
fn fingerprint_mismatch_is_reported() {
    let other = "04:7C:16:5E:E3:5D|001B_444A_488B_5CEC.||BFEBFBFF00090673";
    let error = verify(&LICENSE, &*STORE, Some(other), valid_time(), Duration::ZERO).unwrap_err();
    assert_eq!(error, VerifyError::FingerprintMismatch);
    assert_eq!(
        error.to_string(),
        "license is bound to another machine fingerprint"
    );
}

#[test]
fn validity_bounds_are_inclusive() {
    let check = |now: &str| verify(&LICENSE, &*STORE, None, at(now), Duration::ZERO);
    assert!(check("2026-01-01T08:00:00Z").is_ok());
    assert!(check("2027-01-01T08:00:00Z").is_ok());
    let early = check("2026-01-01T07:59:59Z").unwrap_err();
    assert_eq!(
        early,
        VerifyError::NotYetValid {
            not_before: at("2026-01-01T08:00:00Z"),
            now: at("2026-01-01T07:59:59Z"),
            tolerance_secs: 0,
        }
    );
    assert_eq!(
        early.to_string(),
        "license is not valid before 2026-01-01T08:00:00Z; this clock reads \
         2026-01-01T07:59:59Z, more than 0 s earlier"
    );
    let late = check("2027-01-01T08:00:01Z").unwrap_err();
    assert_eq!(late, VerifyError::Expired(at("2027-01-01T08:00:00Z")));
    assert_eq!(late.to_string(), "license expired at 2027-01-01T08:00:00Z");
}

#[test]
fn a_clock_behind_by_at_most_the_tolerance_still_verifies() {
    let tolerance = DEFAULT_CLOCK_TOLERANCE;
    let check = |now: &str| verify(&LICENSE, &*STORE, Some(FINGERPRINT), at(now), tolerance);
    // not_before is 08:00:00; 300 s of tolerance reach back to 07:55:00.
    assert!(check("2026-01-01T07:59:00Z").is_ok(), "60 s behind");
    assert!(check("2026-01-01T07:55:10Z").is_ok(), "290 s behind");
    assert!(
        check("2026-01-01T07:55:00Z").is_ok(),
        "exactly the tolerance"
    );
    let early = check("2026-01-01T07:54:59Z").unwrap_err();
    assert!(matches!(
        early,
        VerifyError::NotYetValid {
            tolerance_secs: 300,
            ..
        }
    ));
    let ten_minutes = check("2026-01-01T07:50:00Z").unwrap_err();
    assert_eq!(
        ten_minutes.to_string(),
        "license is not valid before 2026-01-01T08:00:00Z; this clock reads \
         2026-01-01T07:50:00Z, more than 300 s earlier"
    );
    // The tolerance is for a clock behind only: expiry stays exact.
    assert!(matches!(
        check("2027-01-01T08:00:01Z"),
        Err(VerifyError::Expired(_))
    ));
}

#[test]
fn a_huge_tolerance_does_not_overflow() {
    let early = at("0001-01-01T00:00:00Z");
    assert!(verify(&LICENSE, &*STORE, None, early, Duration::MAX).is_ok());
    assert!(
        verify(
            &LICENSE,
            &*STORE,
            None,
            early,
            Duration::from_secs(u64::MAX / 2)
        )
        .is_ok()
    );
}

#[test]
fn a_perpetual_license_has_null_expiry_and_no_upper_bound() {
    let perpetual = LicensePayload {
        expires_at: None,
        ..payload()
    };
    let text = sign(&perpetual, &*STORE).unwrap();
    let (_, decoded) = decode_unverified(&text).unwrap();
    let json = String::from_utf8(perpetual.to_json_bytes().unwrap()).unwrap();

    assert!(json.contains(r#""expires_at":null,"#), "{json}");
    assert_eq!(decoded.expires_at, None);
    assert!(
        verify(
            &text,
            &*STORE,
            None,
            at("9999-12-31T23:59:59Z"),
            Duration::ZERO
        )
        .is_ok()
    );
}

#[test]
fn instance_licenses_carry_instance_id_and_omit_code_sha256() {
    let instance = LicensePayload {
        source: LicenseSource::Instance,
        code_sha256: None,
        instance_id: Some("RA2AB4LVS".into()),
        ..payload()
    };
    let json = String::from_utf8(instance.to_json_bytes().unwrap()).unwrap();
    assert!(json.contains(r#""source":"instance","instance_id":"RA2AB4LVS","order_id""#));
    assert!(!json.contains("code_sha256"));
    let text = sign(&instance, &*STORE).unwrap();
    assert_eq!(
        verify(&text, &*STORE, None, valid_time(), Duration::ZERO).unwrap(),
        instance
    );
}

#[test]
fn sign_rejects_payloads_that_break_the_format() {
    let raw_fingerprint = LicensePayload {
        fingerprint_sha256: FINGERPRINT.into(),
        ..payload()
    };
    let both = LicensePayload {
        instance_id: Some("RA2".into()),
        ..payload()
    };
    let version = LicensePayload { v: 2, ..payload() };
    let backwards = LicensePayload {
        expires_at: Some(at("2025-01-01T00:00:00Z")),
        ..payload()
    };
    let no_instance = LicensePayload {
        source: LicenseSource::Instance,
        ..payload()
    };
    for bad in [raw_fingerprint, both, version, backwards, no_instance] {
        let error = sign(&bad, &*STORE).unwrap_err();
        assert!(matches!(error, LicenseError::InvalidPayload(_)), "{error}");
    }
}

#[test]
fn a_retired_key_still_verifies_its_licenses() {
    let old_store = TestKeys::new(&[("k-old", [1; 32])]);
    let old_license = sign(&payload(), &old_store).unwrap();

    let new_kid = "k-new";
    let store = TestKeys::new(&[("k-old", [1; 32]), (new_kid, [2; 32])]);
    let new_license = sign(&payload(), &store).unwrap();

    assert!(verify(&old_license, &store, None, valid_time(), Duration::ZERO).is_ok());
    assert_eq!(decode_unverified(&new_license).unwrap().0.kid, new_kid);
    let doc = serde_json::to_string(&store.keys_document()).unwrap();
    let verifier = Verifier::from_keys_json(&doc).unwrap();
    assert!(verify(&old_license, &verifier, None, valid_time(), Duration::ZERO).is_ok());
    assert!(verify(&new_license, &verifier, None, valid_time(), Duration::ZERO).is_ok());
}

#[test]
fn an_unknown_or_tampered_kid_is_rejected() {
    let (mut envelope, _) = decode_unverified(&LICENSE).unwrap();
    envelope.kid = "k20990101-ffffff".into();
    let error = verify(
        &rearmour(&envelope),
        &*STORE,
        None,
        valid_time(),
        Duration::ZERO,
    )
    .unwrap_err();
    assert_eq!(error, VerifyError::UnknownKey("k20990101-ffffff".into()));

    // Pointing the kid at another known key breaks the signature.
    let other = SigningKey::from_bytes(&[4; 32]).verifying_key();
    let verifier = Verifier::from_public_keys([
        (KID.to_owned(), *STORE.verifying_key(KID).unwrap()),
        ("other".to_owned(), other),
    ]);
    envelope.kid = "other".into();
    let error = verify(
        &rearmour(&envelope),
        &verifier,
        None,
        valid_time(),
        Duration::ZERO,
    )
    .unwrap_err();
    assert_eq!(error, VerifyError::BadSignature);
}

#[test]
fn other_algorithms_and_malformed_texts_are_rejected() {
    let (mut envelope, _) = decode_unverified(&LICENSE).unwrap();
    envelope.alg = "rs256".into();
    let error = verify(
        &rearmour(&envelope),
        &*STORE,
        None,
        valid_time(),
        Duration::ZERO,
    )
    .unwrap_err();
    assert_eq!(error, VerifyError::UnsupportedAlg("rs256".into()));

    let body_only: String = LICENSE
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let spaced = LICENSE.replacen('\n', "\n\n", 2);
    let reencoded = format!(
        "{BEGIN}\n{}\n{END}\n",
        STANDARD.encode(b"{\"alg\": \"ed25519\"}")
    );
    let no_body = format!("{BEGIN}\n{END}");
    let newline_key = format!(
        "{BEGIN}\n{}\n{END}\n",
        STANDARD.encode(br#"{"alg":"ed25519","kid\nx":"k"}"#)
    );
    for text in [
        "",
        "   ",
        body_only.as_str(),
        &LICENSE[..LICENSE.len() - 10],
        &reencoded,
        &no_body,
        &newline_key,
    ] {
        let error = verify(text, &*STORE, None, valid_time(), Duration::ZERO).unwrap_err();
        assert!(
            matches!(error, VerifyError::Malformed(_)),
            "{text:?}: {error}"
        );
        assert!(!error.to_string().contains('\n'));
    }
    // Blank lines inside the body are only whitespace: still the same file.
    assert!(verify(&spaced, &*STORE, None, valid_time(), Duration::ZERO).is_ok());
    let huge = "A".repeat(MAX_TEXT_LEN + 1);
    assert!(matches!(
        verify(&huge, &*STORE, None, valid_time(), Duration::ZERO),
        Err(VerifyError::Malformed(_))
    ));
}

#[test]
fn a_non_canonical_envelope_is_rejected() {
    let (envelope, _) = decode_unverified(&LICENSE).unwrap();
    let mut json = serde_json::to_vec(&envelope).unwrap();
    json.push(b' ');
    let error = verify(&armour(&json), &*STORE, None, valid_time(), Duration::ZERO).unwrap_err();
    assert_eq!(error, malformed("envelope is not in canonical form"));
}

#[test]
fn decode_unverified_shows_any_license() {
    let (envelope, decoded) = decode_unverified(&LICENSE).unwrap();
    assert_eq!(
        (envelope.alg.as_str(), envelope.kid.as_str()),
        ("ed25519", KID)
    );
    assert_eq!(decoded, payload());
}

fn mutated_char(original: u8, pick: u8) -> u8 {
    // Printable, non-space ASCII other than the original.
    let candidate = b'!' + pick % 94;
    if candidate == original {
        b'!' + (pick % 94 + 1) % 94
    } else {
        candidate
    }
}

proptest! {
    #[test]
    fn any_changed_character_fails_verification(
        index in any::<prop::sample::Index>(),
        pick in any::<u8>(),
    ) {
        let positions: Vec<usize> =
            LICENSE.bytes().enumerate().filter(|(_, b)| *b != b'\n').map(|(i, _)| i).collect();
        let at_index = positions[index.index(positions.len())];
        let mut bytes = LICENSE.as_bytes().to_vec();
        bytes[at_index] = mutated_char(bytes[at_index], pick);
        let text = String::from_utf8(bytes).unwrap();
        prop_assert!(verify(&text, &*STORE, Some(FINGERPRINT), valid_time(), Duration::ZERO).is_err());
    }

    #[test]
    fn any_changed_payload_or_signature_byte_fails(
        index in any::<prop::sample::Index>(),
        flip in 1_u8..=255,
        in_signature in any::<bool>(),
    ) {
        let (mut envelope, _) = decode_unverified(&LICENSE).unwrap();
        let field = if in_signature { &mut envelope.sig } else { &mut envelope.payload };
        let mut bytes = URL_SAFE_NO_PAD.decode(&*field).unwrap();
        let i = index.index(bytes.len());
        bytes[i] ^= flip;
        *field = URL_SAFE_NO_PAD.encode(&bytes);
        let result = verify(&rearmour(&envelope), &*STORE, None, valid_time(), Duration::ZERO);
        prop_assert_eq!(result, Err(VerifyError::BadSignature));
    }

    #[test]
    fn payloads_round_trip_deterministically(
        license_id in "[a-zA-Z0-9_-]{1,40}",
        revision in 0_i64..1_000_000,
        seats in 1_i64..10_000,
        start in 0_i64..4_000_000_000,
        length in prop::option::of(0_i64..400_000_000),
        fingerprint in "[ -~]{1,80}",
        features in prop::collection::vec(("[a-z]{1,8}", any::<i64>()), 0..6),
    ) {
        let not_before = DateTime::from_timestamp(start, 0).unwrap();
        let mut forward = Map::new();
        let mut backward = Map::new();
        for (key, value) in &features {
            forward.insert(key.clone(), (*value).into());
        }
        for (key, value) in forward.iter().rev() {
            backward.insert(key.clone(), value.clone());
        }
        let original = LicensePayload {
            license_id,
            revision,
            seats,
            fingerprint_sha256: sha256_hex_of_normalised(&fingerprint),
            not_before,
            expires_at: length.map(|secs| not_before + chrono::Duration::seconds(secs)),
            features: forward,
            ..payload()
        };
        let reordered = LicensePayload { features: backward, ..original.clone() };

        let text = sign(&original, &*STORE).unwrap();

        prop_assert_eq!(&sign(&reordered, &*STORE).unwrap(), &text);
        let verified = verify(&text, &*STORE, Some(&fingerprint), not_before, Duration::ZERO).unwrap();
        prop_assert_eq!(verified, original);
    }
}
