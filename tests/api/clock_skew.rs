//! A license verifies offline on a clock a few minutes behind the server's: `koolicense verify`
//! runs under `faketime` (libfaketime), which moves the whole process's clock.

use std::process::{Command, Output};

use chrono::TimeDelta;
use koolicense::keys::KeyStore;
use koolicense::license_file::LicenseSource;
use koolicense::licensing::{LicenseTerms, issue, now_seconds};

use crate::client_api::{Client, machine};
use crate::with_marketplace;

/// `koolicense verify ARGS` with the clock moved by `offset` (`-60`: a minute behind).
fn verify_at(offset: &str, args: &[&str]) -> Output {
    let mut command = Command::new("faketime");
    command
        .args(["-f", offset, env!("CARGO_BIN_EXE_koolicense"), "verify"])
        .args(args);
    command
        .output()
        .unwrap_or_else(|e| panic!("these tests need faketime (apt-get install faketime): {e}"))
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Asserts a verdict; `valid` is the exit status `koolicense verify` must give.
fn assert_verdict(output: &Output, valid: bool, what: &str) {
    assert_eq!(
        output.status.success(),
        valid,
        "{what}: {}{}",
        stdout(output),
        String::from_utf8_lossy(&output.stderr)
    );
}

with_marketplace!(
    a_fresh_activation_verifies_on_a_clock_minutes_behind,
    |client: Client| async move {
        // Arrange: a license just issued by a first activation.
        client.add_code("PLSKEW00000001", 1).await;
        let fp = machine(1);
        let answer = client.activate("PLSKEW00000001", &fp).await;
        assert_eq!(answer.status, 201, "{:?}", answer.body);
        let dir = tempfile::tempdir().unwrap();
        let license = dir.path().join("license.lic");
        std::fs::write(&license, answer.license()).unwrap();
        let kid = KeyStore::load(client.app.keys_dir.path())
            .unwrap()
            .active_kid()
            .to_owned();
        let public = client.app.keys_dir.path().join(format!("{kid}.pub"));
        let base = [
            "--license",
            license.to_str().unwrap(),
            "--public-key",
            public.to_str().unwrap(),
            "--fingerprint",
            &fp,
        ];
        let strict = [&base[..], &["--clock-tolerance-secs", "0"]].concat();

        // Act and assert: the default tolerance (300 s) covers a clock 60 s and 290 s behind;
        // a verifier with none does too, since the license starts 300 s before it was issued.
        for offset in ["-60", "-290"] {
            assert_verdict(&verify_at(offset, &base), true, offset);
            assert_verdict(&verify_at(offset, &strict), true, offset);
        }
        // Beyond both (300 s earlier start, 300 s tolerance) the license is not valid yet,
        // and the verdict says why.
        let far = verify_at("-11m", &base);
        assert_verdict(&far, false, "11 min behind");
        let reason = stdout(&far);
        assert!(
            reason.starts_with("invalid: license is not valid before ")
                && reason.contains("more than 300 s earlier"),
            "{reason}"
        );
    }
);

/// A license whose `not_before` is the issuing second, as a `getLicenseAsync` license starting
/// at its `effectiveTime` now: the tolerance alone decides.
#[test]
fn the_clock_tolerance_of_verify_decides_how_far_behind_a_clock_may_be() {
    let dir = tempfile::tempdir().unwrap();
    let (keys, _) = KeyStore::load_or_generate_dev(dir.path()).unwrap();
    let now = now_seconds();
    let terms = LicenseTerms {
        source: LicenseSource::Instance,
        code: None,
        instance_id: Some("inst-skew".into()),
        order_id: None,
        product_id: None,
        fingerprint_sha256: koolicense::domain::fingerprint::sha256_hex_of_normalised("A|B|C|D"),
        seats: 1,
        not_before: now,
        expires_at: Some(now + TimeDelta::days(30)),
    };
    let license = dir.path().join("l.lic");
    std::fs::write(&license, issue(&keys, &"l".into(), 1, &terms, now).unwrap()).unwrap();
    let public = dir.path().join(format!("{}.pub", keys.active_kid()));
    let args = [
        "--license",
        license.to_str().unwrap(),
        "--public-key",
        public.to_str().unwrap(),
    ];
    let with_tolerance =
        |secs: &'static str| [&args[..], &["--clock-tolerance-secs", secs]].concat();

    assert_verdict(&verify_at("-4m", &args), true, "4 min behind, default");
    assert_verdict(
        &verify_at("-60", &with_tolerance("0")),
        false,
        "no tolerance",
    );
    assert_verdict(&verify_at("-60", &with_tolerance("90")), true, "90 s");
    let far = verify_at("-10m", &with_tolerance("300"));
    assert_verdict(&far, false, "10 min behind");
    let not_before = now.format("%Y-%m-%dT%H:%M:%SZ");
    let reason = stdout(&far);
    assert!(
        reason.starts_with(&format!(
            "invalid: license is not valid before {not_before}; "
        )) && reason.contains("more than 300 s earlier"),
        "{reason}"
    );
    // A malformed tolerance is refused by the command line, not read as 0.
    let bad = verify_at("+0", &with_tolerance("-5"));
    assert_eq!(bad.status.code(), Some(2), "{}", stdout(&bad));
}
