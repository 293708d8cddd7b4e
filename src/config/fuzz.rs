//! Fuzzing of the settings: `--config` TOML files of any text or any values, and environment
//! variables of any value. Loading never panics; a refusal names a variable of the table (or the
//! file); and settings that load are ones the server can start with.

#![expect(clippy::unwrap_used, reason = "tests")]

use std::collections::HashMap;

use proptest::prelude::*;

use super::{ConfigError, Settings};

/// The file's keys and their variables: every setting there is.
fn keys() -> Vec<(String, &'static str)> {
    Settings::variables()
        .into_iter()
        .map(|var| (var["KOOLICENSE_".len()..].to_ascii_lowercase(), var))
        .collect()
}

/// A TOML value of any type, biased to the edges of the numeric settings.
fn toml_value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        prop::sample::select(vec![
            "0",
            "1",
            "-1",
            "3600",
            "3601",
            "4294967295",
            "4294967296",
            "18446744073709551615",
            "1e3",
            "inf",
            "nan",
            "true",
            "false",
            "1979-05-27T07:32:00Z",
            "[]",
            "{}",
            "[1, 2]",
            "\"\"",
            "\" \"",
            "\"json\"",
            "\"MOST\"",
            "\"127.0.0.1:0\"",
            "\"[::1]:8080\"",
            "\"sqlite://k.db\"",
            "\"postgres://\"",
            "\"http://127.0.0.1:7070\"",
            "\"ftp://x\"",
        ])
        .prop_map(str::to_owned),
        any::<f64>().prop_map(|f| format!("{f:?}")),
        "\\PC{0,24}".prop_map(|s| toml::Value::String(s).to_string()),
    ]
}

fn loaded(text: &str, env: HashMap<String, String>) -> Result<Settings, ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("koolicense.toml");
    std::fs::write(&path, text).unwrap();
    Settings::from_sources(env, Some(&path))
}

/// What loading promises, whatever it was given.
fn holds_its_promises(result: &Result<Settings, ConfigError>) -> Result<(), TestCaseError> {
    match result {
        Ok(s) => {
            prop_assert!(s.database.pool_size >= 1 && s.server.http_workers >= 1);
            prop_assert!((1..=3600).contains(&s.marketplace.timestamp_window_secs));
            prop_assert!(!s.marketplace.timeout.is_zero());
            prop_assert!(
                s.client_api.deactivation_limit >= 0
                    && s.marketplace.instance_limit.is_none_or(|n| n >= 0)
            );
            // Each of these sizes a thread or connection pool at startup.
            prop_assert!(s.database.pool_size <= super::MAX_POOL_SIZE);
            prop_assert!(s.server.http_workers <= super::MAX_HTTP_WORKERS);
        }
        Err(ConfigError::Invalid { var, .. } | ConfigError::Missing { var, .. }) => {
            prop_assert!(
                keys().iter().any(|(_, v)| v == var),
                "{var} is not a setting"
            );
        }
        Err(ConfigError::File { .. }) => {}
    }
    Ok(())
}

/// The two values the server could not start with, found by reading what startup does with
/// them (r2d2 reserves the whole pool up front; actix spawns every worker thread); kept as
/// cases.
#[test]
fn pool_and_worker_counts_the_server_cannot_start_with_are_refused() {
    for (var, value) in [
        ("KOOLICENSE_DB_POOL_SIZE", "4294967295"),
        ("KOOLICENSE_HTTP_WORKERS", "100000"),
    ] {
        let env = HashMap::from([(var.to_owned(), value.to_owned())]);
        let err = Settings::from_sources(env, None).unwrap_err();
        assert!(err.to_string().starts_with(var), "{err} should name {var}");
    }
}

// Each case writes a file: fewer cases.
proptest! {
    #![proptest_config(crate::fuzzing::config(64))]

    #[test]
    fn any_file_text_loads_or_is_refused_by_name(text in prop_oneof![
        any::<String>(),
        prop::collection::vec(("[a-z_]{1,28}", toml_value()), 0..6)
            .prop_map(|lines| {
                lines.iter().map(|(k, v)| [k.as_str(), " = ", v, "\n"].concat()).collect()
            }),
    ]) {
        holds_its_promises(&loaded(&text, HashMap::new()))?;
    }

    #[test]
    fn any_values_of_the_known_keys_load_or_name_their_variable(
        values in prop::collection::btree_map(
            prop::sample::select(keys()),
            toml_value(),
            0..6,
        ),
    ) {
        let text: String =
            values.iter().map(|((key, _), v)| [key.as_str(), " = ", v.as_str(), "\n"].concat()).collect();
        let result = loaded(&text, HashMap::new());
        holds_its_promises(&result)?;
        if let Err(ConfigError::Invalid { var, .. }) = &result {
            prop_assert!(values.keys().any(|(_, v)| v == var), "{var} was not in the file");
        }
    }

    #[test]
    fn the_environment_wins_over_the_file(
        file_window in 1_i64..=3600,
        env_window in 1_i64..=3600,
        node in "[a-z0-9-]{1,20}",
    ) {
        let text = format!("timestamp_window_secs = {file_window}\nnode_id = \"file-node\"\n");
        let env = HashMap::from([
            ("KOOLICENSE_TIMESTAMP_WINDOW_SECS".to_owned(), env_window.to_string()),
            ("KOOLICENSE_NODE_ID".to_owned(), node.clone()),
        ]);
        let s = loaded(&text, env).unwrap();
        prop_assert_eq!(s.marketplace.timestamp_window_secs, env_window);
        prop_assert_eq!(s.server.node_id, node);
    }
}

proptest! {
    #[test]
    fn any_environment_value_loads_or_is_refused_by_name(
        values in prop::collection::btree_map(
            prop::sample::select(keys().into_iter().map(|(_, var)| var).collect::<Vec<_>>()),
            prop_oneof!["\\PC{0,24}", toml_value()],
            0..6,
        ),
    ) {
        let env: HashMap<String, String> =
            values.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        holds_its_promises(&Settings::from_sources(env, None))?;
    }
}
