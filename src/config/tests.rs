#![expect(clippy::unwrap_used, reason = "tests")]

use std::collections::HashMap;

use super::{ConfigError, FingerprintMatch, ForwardedHeader, LogFormat, Settings};

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn no_configuration_gives_the_documented_defaults() {
    let s = Settings::from_sources(HashMap::new(), None).unwrap();
    assert_eq!(s.server.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(s.database.url.redacted(), "sqlite://koolicense.db");
    assert_eq!(s.keys.dir.to_str(), Some("keys"));
    assert_eq!(s.marketplace.url.as_str(), "https://mkt.myhuaweicloud.com/");
    assert_eq!(
        s.marketplace.fallback_url.as_str(),
        "https://mkt.myhuaweicloud.cn/"
    );
    assert_eq!(s.marketplace.timestamp_window_secs, 60);
    assert_eq!(s.server.log_format, LogFormat::Pretty);
    assert_eq!(s.client_api.fingerprint_match, FingerprintMatch::Exact);
    assert!(s.marketplace.access_key.is_none());
    assert!(s.client_api.trusted_proxies.is_empty());
    assert_eq!(
        s.client_api.forwarded_header,
        ForwardedHeader::XForwardedFor
    );
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
        ("KOOLICENSE_TRUSTED_PROXIES", "127.0.0.1,lb.internal"),
        ("KOOLICENSE_FORWARDED_HEADER", "x-real-ip"),
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
    assert_eq!(from_file.server.listen.port(), 9000);
    assert_eq!(from_file.marketplace.timestamp_window_secs, 30);
    let s = Settings::from_sources(env(&[("KOOLICENSE_LISTEN", "127.0.0.1:9001")]), Some(&path))
        .unwrap();
    assert_eq!(s.server.listen.port(), 9001);
    assert_eq!(s.marketplace.timestamp_window_secs, 30);
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
    assert_eq!(s.server.log_format, LogFormat::Json);
    assert_eq!(s.keys.dir.to_str(), Some("/var/lib/koolicense/keys"));
    assert!(
        s.client_api
            .trusted_proxies
            .contains("127.0.0.1".parse().unwrap())
    );
}

#[test]
fn trusted_proxies_come_as_a_string_or_a_toml_array() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.toml");
    std::fs::write(
        &path,
        "trusted_proxies = [\"10.0.0.0/8\", \"::1\"]\nforwarded_header = \"forwarded\"\n",
    )
    .unwrap();
    let s = Settings::from_sources(HashMap::new(), Some(&path)).unwrap();
    assert!(
        s.client_api
            .trusted_proxies
            .contains("10.9.9.9".parse().unwrap())
    );
    assert!(
        s.client_api
            .trusted_proxies
            .contains("::1".parse().unwrap())
    );
    assert!(
        !s.client_api
            .trusted_proxies
            .contains("127.0.0.1".parse().unwrap())
    );
    assert_eq!(s.client_api.forwarded_header, ForwardedHeader::Forwarded);
    let env = env(&[("KOOLICENSE_TRUSTED_PROXIES", "127.0.0.1")]);
    let s = Settings::from_sources(env, Some(&path)).unwrap();
    assert!(
        s.client_api
            .trusted_proxies
            .contains("127.0.0.1".parse().unwrap())
    );
    assert!(
        !s.client_api
            .trusted_proxies
            .contains("10.9.9.9".parse().unwrap())
    );
}

#[test]
fn a_toml_error_names_the_place_and_the_problem_but_never_the_text() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.toml");
    for (text, reason) in [
        (
            "listen = \"127.0.0.1:9000\"\naccess_key = \"SECRET-AK\n",
            "line 2, column 24: invalid basic string",
        ),
        (
            "access_key = \"SECRET-AK\" oops\n",
            "line 1, column 26: expected newline, `#`",
        ),
        (
            "access_key = SECRET-AK\n",
            "line 1, column 14: invalid string; expected `\"`, `'`",
        ),
        (
            "legacy_key = 4242SECRET\n",
            "line 1, column 18: expected newline, `#`",
        ),
        (
            "apig_sk = 424242\n",
            "line 1, column 11: invalid type, expected a string",
        ),
    ] {
        std::fs::write(&path, text).unwrap();
        let err = Settings::from_sources(HashMap::new(), Some(&path)).unwrap_err();
        let shown = err.to_string();
        assert_eq!(
            shown,
            format!("config file {}: {reason}", path.display()),
            "{text:?}"
        );
        for secret in ["SECRET", "424242"] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }
}

#[test]
fn the_journal_is_kept_90_days_unless_told_otherwise() {
    let default = Settings::from_sources(HashMap::new(), None).unwrap();
    assert_eq!(default.jobs.journal_retention_days, 90);
    assert_eq!(
        default.jobs.journal_retention(),
        Some(chrono::TimeDelta::days(90))
    );
    let forever =
        Settings::from_sources(env(&[("KOOLICENSE_JOURNAL_RETENTION_DAYS", "0")]), None).unwrap();
    assert_eq!(forever.jobs.journal_retention(), None);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.toml");
    std::fs::write(&path, "journal_retention_days = 30\n").unwrap();
    let from_file = Settings::from_sources(HashMap::new(), Some(&path)).unwrap();
    assert_eq!(
        from_file.jobs.journal_retention(),
        Some(chrono::TimeDelta::days(30))
    );
    for bad in ["-1", "soon", "36501", "1.5"] {
        let err = Settings::from_sources(env(&[("KOOLICENSE_JOURNAL_RETENTION_DAYS", bad)]), None)
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("KOOLICENSE_JOURNAL_RETENTION_DAYS"),
            "{bad}: {err}"
        );
    }
}

#[test]
fn the_http_edge_settings_default_and_name_their_variable() {
    let s = Settings::from_sources(HashMap::new(), None).unwrap();
    assert_eq!(s.server.request_timeout, std::time::Duration::from_secs(5));
    assert_eq!(s.server.keep_alive, std::time::Duration::from_secs(5));
    assert_eq!(s.server.max_connections, None);
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
    assert_eq!(s.server.request_timeout, std::time::Duration::from_secs(2));
    assert!(s.server.keep_alive.is_zero());
    assert_eq!(s.server.max_connections, Some(64));
}

#[test]
fn every_setting_is_documented_and_its_file_key_loads() {
    let readme = include_str!("../../README.md");
    let variables = Settings::variables();
    assert!(variables.len() >= 27, "{variables:?}");
    for var in variables {
        assert!(
            readme.contains(&format!("`{var}`")),
            "{var} is not in the README"
        );
    }
}

#[test]
fn a_misspelt_or_upper_case_key_is_named_with_its_place_not_its_value() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.toml");
    for (text, reason) in [
        (
            "listen = \"127.0.0.1:9000\"\nacess_key = \"SECRET\"\n",
            "line 2, column 13: unknown setting `acess_key`",
        ),
        (
            "LISTEN = \"127.0.0.1:9000\"\n",
            "line 1, column 10: unknown setting `LISTEN`",
        ),
        (
            "[marketplace]\nurl = \"http://x\"\n",
            "line 1, column 1: unknown setting `marketplace`",
        ),
        (
            "trusted_proxies = [\"10.0.0.1\", 7]\n",
            "line 1, column 19: invalid type, expected a string or an array of strings",
        ),
    ] {
        std::fs::write(&path, text).unwrap();
        let err = Settings::from_sources(HashMap::new(), Some(&path)).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("config file {}: {reason}", path.display()),
            "{text:?}"
        );
    }
}
