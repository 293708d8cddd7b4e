//! The command line: `keys generate|list|rotate`, `verify`, `fingerprint`, `migrate`.

use std::process::Output;

use chrono::{TimeDelta, Utc};
use koolicense::keys::KeyStore;
use koolicense::license_file::LicenseSource;
use koolicense::licensing::{LicenseTerms, issue, now_seconds};

use crate::process::koolicense_command;

fn koolicense(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = koolicense_command();
    command.args(args);
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn license(keys: &KeyStore, fingerprint: &str) -> String {
    let now = now_seconds();
    let terms = LicenseTerms {
        source: LicenseSource::Authcode,
        code: Some("PLCLITEST".into()),
        instance_id: None,
        order_id: Some("CS1".into()),
        product_id: None,
        fingerprint_sha256: koolicense::domain::fingerprint::sha256_hex_of_normalised(fingerprint),
        seats: 1,
        not_before: now - TimeDelta::minutes(1),
        expires_at: Some(now + TimeDelta::days(30)),
    };
    issue(keys, &"lic-cli".into(), 1, &terms, now).unwrap()
}

#[test]
fn keys_rotate_and_old_licenses_still_verify_offline() {
    let dir = tempfile::tempdir().unwrap();
    let keys_dir = dir.path().join("keys");
    let env = [("KOOLICENSE_KEYS_DIR", keys_dir.to_str().unwrap())];
    let first = stdout(&koolicense(&["keys", "generate"], &env))
        .trim()
        .to_owned();
    let old = license(&KeyStore::load(&keys_dir).unwrap(), "AA|BB|CC|DD");
    let second = stdout(&koolicense(&["keys", "rotate"], &env))
        .trim()
        .to_owned();
    assert_ne!(first, second);
    let list = stdout(&koolicense(&["keys", "list"], &env));
    assert!(
        list.lines()
            .any(|l| l.starts_with(&first) && l.contains("retired")),
        "{list}"
    );
    assert!(
        list.lines()
            .any(|l| l.starts_with(&second) && l.contains("active")),
        "{list}"
    );
    let new = license(&KeyStore::load(&keys_dir).unwrap(), "AA|BB|CC|DD");

    let license_file = dir.path().join("old.lic");
    std::fs::write(&license_file, &old).unwrap();
    let old_pub = keys_dir.join(format!("{first}.pub"));
    let ok = koolicense(
        &[
            "verify",
            "--license",
            license_file.to_str().unwrap(),
            "--public-key",
            old_pub.to_str().unwrap(),
            "--fingerprint",
            "aa|bb|cc|dd",
        ],
        &[],
    );
    assert!(ok.status.success(), "{}", stdout(&ok));
    let wrong_machine = koolicense(
        &[
            "verify",
            "--license",
            license_file.to_str().unwrap(),
            "--public-key",
            old_pub.to_str().unwrap(),
            "--fingerprint",
            "XX|BB|CC|DD",
        ],
        &[],
    );
    assert!(!wrong_machine.status.success());
    assert_eq!(stdout(&wrong_machine).lines().count(), 1, "one-line reason");

    // The new license is signed by the new key: the old public key does not verify it.
    std::fs::write(&license_file, &new).unwrap();
    let other_key = koolicense(
        &[
            "verify",
            "--license",
            license_file.to_str().unwrap(),
            "--public-key",
            old_pub.to_str().unwrap(),
        ],
        &[],
    );
    assert!(!other_key.status.success());
    // Any changed byte fails.
    let tampered = new.replacen('A', "B", 1);
    std::fs::write(&license_file, tampered).unwrap();
    let new_pub = keys_dir.join(format!("{second}.pub"));
    let bad = koolicense(
        &[
            "verify",
            "--license",
            license_file.to_str().unwrap(),
            "--public-key",
            new_pub.to_str().unwrap(),
        ],
        &[],
    );
    assert!(!bad.status.success());
}

#[test]
fn expired_licenses_fail_verification() {
    let dir = tempfile::tempdir().unwrap();
    let (keys, _) = KeyStore::load_or_generate_dev(dir.path()).unwrap();
    let now = Utc::now().naive_utc();
    let terms = LicenseTerms {
        source: LicenseSource::Instance,
        code: None,
        instance_id: Some("inst".into()),
        order_id: None,
        product_id: None,
        fingerprint_sha256: koolicense::domain::fingerprint::sha256_hex_of_normalised("A|B|C|D"),
        seats: 1,
        not_before: koolicense::licensing::whole_seconds(now - TimeDelta::days(10)),
        expires_at: Some(koolicense::licensing::whole_seconds(
            now - TimeDelta::days(1),
        )),
    };
    let file = dir.path().join("l.lic");
    std::fs::write(
        &file,
        issue(&keys, &"l".into(), 1, &terms, now_seconds()).unwrap(),
    )
    .unwrap();
    let public = dir.path().join(format!("{}.pub", keys.active_kid()));
    let out = koolicense(
        &[
            "verify",
            "--license",
            file.to_str().unwrap(),
            "--public-key",
            public.to_str().unwrap(),
        ],
        &[],
    );
    assert!(!out.status.success());
    assert!(
        stdout(&out).to_lowercase().contains("expired"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn fingerprint_prints_four_upper_case_parts() {
    let out = koolicense(&["fingerprint"], &[]);
    assert!(out.status.success());
    let text = stdout(&out);
    let line = text.trim_end();
    assert_eq!(line.split('|').count(), 4, "{line}");
    assert_eq!(line, line.to_uppercase());
}

#[test]
fn migrate_creates_the_schema_and_a_bad_url_names_its_variable() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    let url = format!("sqlite://{}", db.display());
    let out = koolicense(&["migrate"], &[("KOOLICENSE_DATABASE_URL", &url)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(db.is_file());
    let bad = koolicense(&["migrate"], &[("KOOLICENSE_DATABASE_URL", "mysql://nope")]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("KOOLICENSE_DATABASE_URL"));
}

/// A command that uses the pool exits with its own status, never a crash at exit: on PostgreSQL
/// over TLS (the local server offers it) a pool thread may still be in `OpenSSL` as `main`
/// returns. One run in about forty crashed before `db::establish_postgres` existed.
#[test]
fn commands_on_postgres_exit_cleanly_every_time() {
    let db = crate::helpers::TestDatabase::create(crate::helpers::Backend::Postgres);
    let keys = tempfile::tempdir().unwrap();
    let keys_dir = keys.path().to_string_lossy().into_owned();
    let env = [
        ("KOOLICENSE_DATABASE_URL", db.url.as_str()),
        ("KOOLICENSE_KEYS_DIR", keys_dir.as_str()),
    ];
    assert!(koolicense(&["migrate"], &env).status.success());
    for n in 0..60 {
        let name = format!("exit-{n}");
        let out = koolicense(
            &[
                "admin",
                "create-token",
                "--name",
                &name,
                "--role",
                "support",
            ],
            &env,
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "run {n}: {:?}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn keys_list_warns_about_a_private_key_others_can_read() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let keys_dir = dir.path().join("keys");
    let env = [("KOOLICENSE_KEYS_DIR", keys_dir.to_str().unwrap())];
    let kid = stdout(&koolicense(&["keys", "generate"], &env))
        .trim()
        .to_owned();
    let key_file = keys_dir.join(format!("{kid}.key"));
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o640)).unwrap();

    let out = koolicense(&["keys", "list"], &env);

    assert!(out.status.success());
    assert_eq!(
        stdout(&out).lines().count(),
        1,
        "the listing stays one line a key"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("warning: private key file {}", key_file.display()))
            && stderr.contains("mode 0640"),
        "{stderr}"
    );
    let seed = std::fs::read_to_string(&key_file).unwrap();
    assert!(!stderr.contains(seed.trim()), "the key leaked");
}

#[test]
fn a_config_file_syntax_error_names_the_place_but_shows_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("koolicense.toml");
    std::fs::write(
        &config,
        "log_format = \"json\"\naccess_key = \"SECRET-ACCESS-KEY\nlegacy_key = \"SECRET-LEGACY\"\n",
    )
    .unwrap();

    let out = koolicense(&["--config", config.to_str().unwrap(), "migrate"], &[]);

    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "config file {}: line 2, column ",
            config.display()
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("SECRET"), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
}
