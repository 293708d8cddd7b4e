#![expect(clippy::unwrap_used, reason = "tests")]

use std::collections::HashMap;

use super::{ConfigError, FingerprintMatch, LogFormat, Settings};

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn no_configuration_gives_the_documented_defaults() {
    let s = Settings::from_sources(HashMap::new(), None).unwrap();
    assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(s.database_url.redacted(), "sqlite://koolicense.db");
    assert_eq!(s.keys_dir.to_str(), Some("keys"));
    assert_eq!(s.marketplace_url.as_str(), "https://mkt.myhuaweicloud.com/");
    assert_eq!(
        s.marketplace_fallback_url.as_str(),
        "https://mkt.myhuaweicloud.cn/"
    );
    assert_eq!(s.timestamp_window_secs, 60);
    assert_eq!(s.log_format, LogFormat::Pretty);
    assert_eq!(s.fingerprint_match, FingerprintMatch::Exact);
    assert!(s.access_key.is_none());
}

#[test]
fn a_malformed_value_names_its_variable() {
    for (var, value) in [
        ("KOOLICENSE_LISTEN", "not-an-address"),
        ("KOOLICENSE_DATABASE_URL", "mysql://x"),
        ("KOOLICENSE_TIMESTAMP_WINDOW_SECS", "soon"),
        ("KOOLICENSE_LOG_FORMAT", "xml"),
        ("KOOLICENSE_MARKETPLACE_URL", "ftp://x"),
        ("KOOLICENSE_FINGERPRINT_MATCH", "some"),
    ] {
        let err = Settings::from_sources(env(&[(var, value)]), None).unwrap_err();
        assert!(err.to_string().starts_with(var), "{err} should name {var}");
    }
}

#[test]
fn half_an_aksk_pair_is_refused() {
    let err = Settings::from_sources(env(&[("KOOLICENSE_APIG_AK", "ak")]), None).unwrap_err();
    assert!(matches!(
        err,
        ConfigError::Missing {
            var: "KOOLICENSE_APIG_SK",
            ..
        }
    ));
}

#[test]
fn the_environment_wins_over_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.toml");
    std::fs::write(
        &path,
        "listen = \"127.0.0.1:9000\"\ntimestamp_window_secs = 30\n",
    )
    .unwrap();
    let from_file = Settings::from_sources(HashMap::new(), Some(&path)).unwrap();
    assert_eq!(from_file.listen.port(), 9000);
    assert_eq!(from_file.timestamp_window_secs, 30);
    let s = Settings::from_sources(env(&[("KOOLICENSE_LISTEN", "127.0.0.1:9001")]), Some(&path))
        .unwrap();
    assert_eq!(s.listen.port(), 9001);
    assert_eq!(s.timestamp_window_secs, 30);
}

#[test]
fn an_unknown_key_in_the_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.toml");
    std::fs::write(&path, "lisen = \"127.0.0.1:9000\"\n").unwrap();
    let err = Settings::from_sources(HashMap::new(), Some(&path)).unwrap_err();
    assert!(matches!(err, ConfigError::File { .. }), "{err}");
}

#[test]
fn the_shipped_example_config_loads() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/koolicense.example.toml");
    // Its SQLite path is a production directory that does not exist here.
    let env = env(&[("KOOLICENSE_DATABASE_URL", "sqlite://k.db")]);
    let s = Settings::from_sources(env, Some(&path)).unwrap();
    assert_eq!(s.log_format, LogFormat::Json);
    assert_eq!(s.keys_dir.to_str(), Some("/var/lib/koolicense/keys"));
}

#[test]
fn the_http_edge_settings_default_and_name_their_variable() {
    let s = Settings::from_sources(HashMap::new(), None).unwrap();
    assert_eq!(s.request_timeout, std::time::Duration::from_secs(5));
    assert_eq!(s.keep_alive, std::time::Duration::from_secs(5));
    assert_eq!(s.max_connections, None);
    for (var, value) in [
        ("KOOLICENSE_REQUEST_TIMEOUT_MS", "0"),
        ("KOOLICENSE_REQUEST_TIMEOUT_MS", "soon"),
        ("KOOLICENSE_KEEP_ALIVE_SECS", "86400"),
        ("KOOLICENSE_MAX_CONNECTIONS", "0"),
        ("KOOLICENSE_MAX_CONNECTIONS", "-1"),
    ] {
        let err = Settings::from_sources(env(&[(var, value)]), None).unwrap_err();
        assert!(err.to_string().starts_with(var), "{err} should name {var}");
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.toml");
    std::fs::write(
        &path,
        "request_timeout_ms = 2000\nkeep_alive_secs = 0\nmax_connections = 64\n",
    )
    .unwrap();
    let s = Settings::from_sources(HashMap::new(), Some(&path)).unwrap();
    assert_eq!(s.request_timeout, std::time::Duration::from_secs(2));
    assert!(s.keep_alive.is_zero());
    assert_eq!(s.max_connections, Some(64));
}
