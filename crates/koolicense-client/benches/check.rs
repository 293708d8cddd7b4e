//! The SDK's offline path: `kl_check` calls per second, and what `kl_is_genuine` costs when no
//! check-in is due (it must be cheap enough for every start of the application: under 1 ms).
//!
//! `cargo bench -p koolicense-client --bench check`

use std::ffi::CString;
use std::hint::black_box;

use base64::Engine;
use chrono::{TimeDelta, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use ed25519_dalek::{Signer as _, SigningKey};
use koolicense_client::Client;
use koolicense_core::license::{self, LicensePayload, LicenseSource};

const FINGERPRINT: &str = "AA:BB:CC:DD:EE:FF|DISK-1|BOARD-1|CPU-1";

struct Key(SigningKey);

impl koolicense_core::keys::Signer for Key {
    fn sign(&self, message: &[u8]) -> (&str, [u8; 64]) {
        ("kbench", self.0.sign(message).to_bytes())
    }
}

/// A data directory holding a fresh license for [`FINGERPRINT`]; the keys document.
fn setup(dir: &std::path::Path) -> String {
    let key = Key(SigningKey::from_bytes(&[5; 32]));
    let now = Utc::now();
    let payload = LicensePayload {
        v: 1,
        license_id: "lic-bench".into(),
        revision: 1,
        source: LicenseSource::Authcode,
        code_sha256: Some(license::code_sha256("PLBENCH0000001")),
        instance_id: None,
        order_id: None,
        product_id: None,
        fingerprint_sha256: koolicense_core::fingerprint::sha256_hex_of_normalised(FINGERPRINT),
        seats: 1,
        issued_at: now,
        not_before: now - TimeDelta::minutes(5),
        expires_at: Some(now + TimeDelta::days(365)),
        features: serde_json::Map::new(),
    };
    std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{e}"));
    let text = license::sign(&payload, &key).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.join("license.lic"), text).unwrap_or_else(|e| panic!("{e}"));
    let public = base64::engine::general_purpose::STANDARD.encode(key.0.verifying_key().to_bytes());
    format!(
        r#"{{"keys":[{{"kid":"kbench","alg":"ed25519","public_key":"{public}","status":"active"}}]}}"#
    )
}

fn offline(c: &mut Criterion) {
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let dir = root.path().join("data");
    let keys = setup(&dir);
    let client = Client::builder(&dir)
        .server("http://127.0.0.1:9")
        .public_keys(&keys)
        .fingerprint(FINGERPRINT)
        .open()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        client
            .check()
            .is_ok_and(|v| v.status() == koolicense_client::Status::Ok)
    );
    c.bench_function("check (Rust API)", |b| b.iter(|| black_box(client.check())));

    let (dir_c, keys_c) = (
        CString::new(dir.to_string_lossy().as_bytes()).unwrap_or_default(),
        CString::new(keys).unwrap_or_default(),
    );
    let server = c"http://127.0.0.1:9";
    let fingerprint = CString::new(FINGERPRINT).unwrap_or_default();
    #[expect(
        unsafe_code,
        reason = "the benchmark calls the C API as a C program would"
    )]
    unsafe {
        use koolicense_client::ffi::{
            KL_OK, kl_check, kl_close, kl_is_genuine, kl_open, kl_set_fingerprint,
        };
        let handle = kl_open(server.as_ptr(), dir_c.as_ptr(), keys_c.as_ptr());
        assert!(!handle.is_null());
        assert_eq!(kl_set_fingerprint(handle, fingerprint.as_ptr()), KL_OK);
        assert_eq!(kl_is_genuine(handle), KL_OK);
        c.bench_function("kl_check", |b| b.iter(|| black_box(kl_check(handle))));
        c.bench_function("kl_is_genuine, no check-in due", |b| {
            b.iter(|| black_box(kl_is_genuine(handle)));
        });
        kl_close(handle);
    }
}

criterion_group!(benches, offline);
criterion_main!(benches);
