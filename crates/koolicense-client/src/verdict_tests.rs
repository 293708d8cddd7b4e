use chrono::TimeDelta;
use koolicense_core::license::{LicensePayload, LicenseSource, VerifyError};
use serde_json::Map;

use super::*;

fn at(hours: i64) -> DateTime<Utc> {
    DateTime::<Utc>::UNIX_EPOCH + TimeDelta::days(20_000) + TimeDelta::hours(hours)
}

fn license(issued: i64, expires: Option<i64>) -> Result<LicensePayload, VerifyError> {
    Ok(LicensePayload {
        v: 1,
        license_id: "lic".into(),
        revision: 1,
        source: LicenseSource::Authcode,
        code_sha256: Some("0".repeat(64)),
        instance_id: None,
        order_id: None,
        product_id: None,
        fingerprint_sha256: "1".repeat(64),
        seats: 1,
        issued_at: at(issued),
        not_before: at(issued) - TimeDelta::minutes(5),
        expires_at: expires.map(at),
        features: Map::new(),
    })
}

fn decide_at(
    now: i64,
    license: Option<&Result<LicensePayload, VerifyError>>,
    answer: Option<(ServerSays, i64)>,
) -> Status {
    let options = Options::default();
    decide(&Facts {
        now: at(now),
        options: &options,
        offline: false,
        license,
        answer: answer.map(|(s, h)| (s, at(h))),
        seen_at: None,
    })
    .status
}

#[test]
fn a_fresh_license_is_ok_then_due_then_grace_then_over() {
    let lic = license(0, Some(24 * 365));
    assert_eq!(decide_at(1, Some(&lic), None), Status::Ok);
    assert_eq!(decide_at(23, Some(&lic), None), Status::Ok);
    assert_eq!(decide_at(24, Some(&lic), None), Status::Grace);
    assert_eq!(decide_at(24 + 7 * 24 - 1, Some(&lic), None), Status::Grace);
    assert_eq!(decide_at(24 + 7 * 24, Some(&lic), None), Status::GraceOver);
    // A verified check-in moves the due time.
    let checked = Some((ServerSays::Valid, 100));
    assert_eq!(decide_at(110, Some(&lic), checked), Status::Ok);
    assert_eq!(decide_at(125, Some(&lic), checked), Status::Grace);
}

#[test]
fn the_server_verdict_is_kept_until_the_next_answer() {
    let lic = license(0, None);
    for (word, status) in [
        ("FROZEN", Status::Frozen),
        ("RELEASED", Status::Released),
        ("REVOKED", Status::Revoked),
        ("EXPIRED", Status::Expired),
        ("NOT_ACTIVATED", Status::NotActivated),
        ("FINGERPRINT_MISMATCH", Status::FingerprintMismatch),
    ] {
        let says = ServerSays::from_word(word).unwrap();
        assert_eq!(decide_at(2, Some(&lic), Some((says, 1))), status, "{word}");
    }
    assert_eq!(ServerSays::from_word("ACTIVE"), Some(ServerSays::Valid));
    assert_eq!(ServerSays::from_word("MAYBE"), None);
}

#[test]
fn the_checks_run_in_the_documented_order() {
    let lic = license(10, Some(20));
    // The clock before everything: behind the license's signed issue time.
    assert_eq!(decide_at(9, Some(&lic), None), Status::ClockTampered);
    // Within the tolerance it is not tampering.
    let options = Options::default();
    let nearly = decide(&Facts {
        now: at(10) - TimeDelta::seconds(299),
        options: &options,
        offline: false,
        license: Some(&lic),
        answer: None,
        seen_at: None,
    });
    assert_eq!(nearly.status, Status::Ok, "{}", nearly.reason);
    // The license before the server's word.
    let other: Result<LicensePayload, VerifyError> = Err(VerifyError::FingerprintMismatch);
    let frozen = Some((ServerSays::Refused(Status::Frozen), 11));
    assert_eq!(
        decide_at(12, Some(&other), frozen),
        Status::FingerprintMismatch
    );
    let forged: Result<LicensePayload, VerifyError> = Err(VerifyError::BadSignature);
    assert_eq!(decide_at(12, Some(&forged), None), Status::InvalidLicense);
    assert_eq!(decide_at(12, None, None), Status::NotActivated);
    // The server's word before the validity window.
    assert_eq!(decide_at(30, Some(&lic), frozen), Status::Frozen);
    // The window before the grace rules.
    assert_eq!(decide_at(300, Some(&lic), None), Status::Expired);
}

#[test]
fn an_air_gapped_client_never_falls_due() {
    let lic = license(0, Some(24 * 400));
    let options = Options::default();
    let facts = |now| Facts {
        now: at(now),
        options: &options,
        offline: true,
        license: Some(&lic),
        answer: None,
        seen_at: Some(at(now - 1)),
    };
    assert_eq!(decide(&facts(24 * 300)).status, Status::Ok);
    assert_eq!(decide(&facts(24 * 401)).status, Status::Expired);
}

#[test]
fn a_remembered_clock_reading_catches_a_clock_turned_back() {
    let lic = license(0, None);
    let options = Options::default();
    let facts = Facts {
        now: at(5),
        options: &options,
        offline: false,
        license: Some(&lic),
        answer: None,
        seen_at: Some(at(6)),
    };
    assert_eq!(decide(&facts).status, Status::ClockTampered);
    assert!(!decide(&facts).due);
}
