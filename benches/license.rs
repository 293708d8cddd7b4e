//! CPU cost of the pieces a client-API request is made of: an Ed25519 signature (the ceiling of
//! first activations on one core), a whole license issue, fingerprint parsing and hashing,
//! Scheme-B verification of a marketplace call, and verification of a license file.
//!
//! `cargo bench --bench license`; under `cargo test --all-targets` each runs once.

use std::hint::black_box;

use chrono::{NaiveDate, NaiveDateTime};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use koolicense::db::ids::LicenseId;
use koolicense::domain::fingerprint::Fingerprint;
use koolicense::keys::KeyStore;
use koolicense::koogallery::auth::{SchemeBParams, scheme_b_signature, verify_scheme_b};
use koolicense::license_file::{self, LicenseSource};
use koolicense::licensing::{self, LicenseTerms};

const FINGERPRINT: &str = "00:1A:2B:3C:4D:5E,00:1A:2B:3C:4D:5F|WD-WCC4N1234567|\
    BOARD-SN-0123456789|GenuineIntel-Intel(R) Xeon(R) Gold 6278C CPU @ 2.60GHz";

fn at(h: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2025, 6, 1)
        .and_then(|d| d.and_hms_opt(h, 0, 0))
        .unwrap_or_default()
}

fn terms() -> LicenseTerms {
    let fingerprint =
        Fingerprint::parse(FINGERPRINT).map_or_else(|_| "0".repeat(64), |f| f.sha256_hex());
    LicenseTerms {
        source: LicenseSource::Authcode,
        code: Some("PL0123456789ABCDEF".to_owned()),
        instance_id: None,
        order_id: Some("CS2506010000ABCDE".to_owned()),
        product_id: Some("OFFI863712345678901234".to_owned()),
        fingerprint_sha256: fingerprint,
        seats: 3,
        not_before: at(1),
        expires_at: Some(at(1) + chrono::TimeDelta::days(365)),
    }
}

fn keys(dir: &std::path::Path) -> Option<KeyStore> {
    KeyStore::generate(dir).ok()?;
    KeyStore::load(dir).ok()
}

fn crypto(c: &mut Criterion) {
    let dir = tempfile::tempdir().ok();
    let Some(keys) = dir.as_ref().and_then(|d| keys(d.path())) else {
        eprintln!("cannot create a key store in a temporary directory; skipping");
        return;
    };
    let terms = terms();
    let license_id = LicenseId::from("0197a0b0-0000-7000-8000-000000000000");
    let file = licensing::issue(&keys, &license_id, 1, &terms, at(1)).unwrap_or_default();

    let mut group = c.benchmark_group("license");
    group.throughput(Throughput::Elements(1));

    // What a license signs: `koolicense/license/v1.` and a ~600-character payload.
    let message = format!("koolicense/license/v1.{}", "x".repeat(600));
    group.bench_function("ed25519_sign", |b| {
        b.iter(|| keys.sign(black_box(message.as_bytes())));
    });
    group.bench_function("issue", |b| {
        b.iter(|| licensing::issue(&keys, black_box(&license_id), 1, black_box(&terms), at(1)));
    });
    group.bench_function("verify", |b| {
        b.iter(|| {
            let tolerance = license_file::DEFAULT_CLOCK_TOLERANCE;
            license_file::verify(
                black_box(&file),
                &keys,
                Some(FINGERPRINT),
                at(2).and_utc(),
                tolerance,
            )
        });
    });
    group.bench_function("fingerprint_parse_hash", |b| {
        b.iter(|| Fingerprint::parse(black_box(FINGERPRINT)).map(|f| f.sha256_hex()));
    });

    let body = br#"{"activity":"newInstance","orderId":"CS2506010000ABCDE","orderLineId":"CS2506010000ABCDE-000001","productId":"OFFI863712345678901234","customerId":"68cbc86abc2018ab880d92f36422fa0e","customerName":"buyer","testFlag":"0","chargingMode":"1","periodType":"year","periodNumber":"1","provisionType":"2","expireTime":"20260601000000","amount":"3"}"#;
    let (access_key, nonce, timestamp) = (
        "an-access-key-of-forty-characters-length",
        "0123456789abcdef",
        "1748739600000",
    );
    let payload = koolicense::koogallery::auth::canonical_payload(body).unwrap_or_default();
    let signature = scheme_b_signature(access_key, nonce, timestamp, &payload);
    let params = SchemeBParams {
        signature: Some(&signature),
        timestamp: Some(timestamp),
        nonce: Some(nonce),
    };
    group.bench_function("scheme_b_verify", |b| {
        b.iter(|| {
            verify_scheme_b(
                access_key,
                black_box(&params),
                black_box(body),
                1_748_739_601_000,
                60_000,
            )
        });
    });
    group.finish();
}

criterion_group!(benches, crypto);
criterion_main!(benches);
