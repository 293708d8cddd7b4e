//! Settings: built-in defaults, then an optional `--config` TOML file, then `KOOLICENSE_*`
//! environment variables (the environment wins). Every error names the variable to fix.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

use crate::db::DatabaseUrl;

/// The longest journal retention accepted, in days (a hundred years: beyond it, say 0).
const MAX_RETENTION_DAYS: u32 = 36_500;

mod trusted_proxies;

pub use self::trusted_proxies::TrustedProxies;

/// Most database connections per process: r2d2 reserves room for the whole pool at startup,
/// so a huge value aborts the process instead of failing with a message.
pub const MAX_POOL_SIZE: u32 = 1000;
/// Most HTTP worker threads: actix starts every one at startup, and panics when it cannot.
pub const MAX_HTTP_WORKERS: usize = 1000;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable, for a terminal.
    Pretty,
    /// One JSON object per line, for log shippers.
    Json,
}

/// How a client's fingerprint is matched against a code's existing bindings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FingerprintMatch {
    /// Byte-for-byte after normalisation.
    Exact,
    /// Three of four parts agree: the same machine after a hardware change.
    Most,
}

/// Which header a trusted proxy names the client in. Only that one is read: a proxy passes the
/// other through as the client sent it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, ...`
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for=proxy1, ...`
    Forwarded,
}

/// Everything the server needs, checked.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `KOOLICENSE_LISTEN`
    pub listen: SocketAddr,
    /// `KOOLICENSE_DATABASE_URL`
    pub database_url: DatabaseUrl,
    /// `KOOLICENSE_DB_POOL_SIZE`
    pub db_pool_size: u32,
    /// `KOOLICENSE_KEYS_DIR`
    pub keys_dir: PathBuf,
    /// `KOOLICENSE_ACCESS_KEY`: verifies Scheme-B marketplace calls.
    pub access_key: Option<SecretString>,
    /// `KOOLICENSE_LEGACY_KEY`: verifies `authToken` calls and signs `Body-Sign`.
    pub legacy_key: Option<SecretString>,
    /// `KOOLICENSE_APIG_AK`
    pub apig_ak: Option<SecretString>,
    /// `KOOLICENSE_APIG_SK`
    pub apig_sk: Option<SecretString>,
    /// `KOOLICENSE_MARKETPLACE_URL`
    pub marketplace_url: url::Url,
    /// `KOOLICENSE_MARKETPLACE_FALLBACK_URL`
    pub marketplace_fallback_url: url::Url,
    /// `KOOLICENSE_MARKETPLACE_TIMEOUT_MS`: per outbound request.
    pub marketplace_timeout: Duration,
    /// `KOOLICENSE_TIMESTAMP_WINDOW_SECS`
    pub timestamp_window_secs: i64,
    /// `KOOLICENSE_LOG_FORMAT`
    pub log_format: LogFormat,
    /// `KOOLICENSE_FINGERPRINT_MATCH`
    pub fingerprint_match: FingerprintMatch,
    /// `KOOLICENSE_DEACTIVATION_LIMIT`: client deactivations per code per 30 days.
    pub deactivation_limit: i64,
    /// `KOOLICENSE_RATE_LIMIT_PER_MINUTE`: client-API requests per IP per minute.
    pub rate_limit_per_minute: u32,
    /// `KOOLICENSE_UNKNOWN_CODE_LIMIT_PER_HOUR`: attempts with unknown codes per IP per hour.
    pub unknown_code_limit_per_hour: u32,
    /// `KOOLICENSE_TRUSTED_PROXIES`: peers whose forwarded-for header names the client.
    pub trusted_proxies: TrustedProxies,
    /// `KOOLICENSE_FORWARDED_HEADER`: the header those peers set.
    pub forwarded_header: ForwardedHeader,
    /// `KOOLICENSE_INSTANCE_LIMIT`: most live (unreleased) online-License instances; a
    /// `newInstance` beyond it answers `000100`. Unset: no limit.
    pub instance_limit: Option<i64>,
    /// `KOOLICENSE_WORKER`: run the background job worker in this process.
    pub worker_enabled: bool,
    /// `KOOLICENSE_NODE_ID`: names this process in job leases; random when unset.
    pub node_id: String,
    /// `KOOLICENSE_HTTP_WORKERS`: actix worker threads.
    pub http_workers: usize,
    /// `KOOLICENSE_JOURNAL_RETENTION_DAYS`: marketplace journal rows (and counts of refused
    /// calls) older than this many days are deleted; 0 keeps them forever.
    pub journal_retention_days: u32,
    /// `KOOLICENSE_REQUEST_TIMEOUT_MS`: the whole request, head and body, must arrive within
    /// this time of its first byte, or the connection is closed (with a 408 where one can still
    /// be sent).
    pub request_timeout: Duration,
    /// `KOOLICENSE_KEEP_ALIVE_SECS`: how long an idle keep-alive connection stays open; zero
    /// closes every connection after its response.
    pub keep_alive: Duration,
    /// `KOOLICENSE_MAX_CONNECTIONS`: most connections open at once, all workers together.
    /// Unset: derived from the file-descriptor limit (see [`crate::http_limits`]).
    pub max_connections: Option<usize>,
}

/// A setting that could not be used, naming its environment variable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The value is malformed.
    #[error("{var}: {reason}")]
    Invalid {
        /// The environment variable (or the TOML key's variable name).
        var: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A setting needed for what was asked is not set.
    #[error("{var} is not set: {needed_for}")]
    Missing {
        /// The environment variable to set.
        var: &'static str,
        /// Why it is needed.
        needed_for: &'static str,
    },
    /// The `--config` file could not be read or parsed.
    #[error("config file {path}: {reason}")]
    File {
        /// The file named by `--config`.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

/// The `--config` TOML file: the same settings, named without the prefix, lower-case
/// (`listen`, `database_url`, `access_key`, ...).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    listen: Option<String>,
    database_url: Option<String>,
    db_pool_size: Option<toml::Value>,
    keys_dir: Option<String>,
    access_key: Option<String>,
    legacy_key: Option<String>,
    apig_ak: Option<String>,
    apig_sk: Option<String>,
    marketplace_url: Option<String>,
    marketplace_fallback_url: Option<String>,
    marketplace_timeout_ms: Option<toml::Value>,
    timestamp_window_secs: Option<toml::Value>,
    log_format: Option<String>,
    fingerprint_match: Option<String>,
    deactivation_limit: Option<toml::Value>,
    rate_limit_per_minute: Option<toml::Value>,
    unknown_code_limit_per_hour: Option<toml::Value>,
    /// A comma-separated string or an array of strings.
    trusted_proxies: Option<toml::Value>,
    forwarded_header: Option<String>,
    instance_limit: Option<toml::Value>,
    worker: Option<toml::Value>,
    node_id: Option<String>,
    http_workers: Option<toml::Value>,
    journal_retention_days: Option<toml::Value>,
    request_timeout_ms: Option<toml::Value>,
    keep_alive_secs: Option<toml::Value>,
    max_connections: Option<toml::Value>,
}

/// Looks settings up by variable name: the environment first, then the file.
struct Sources {
    env: HashMap<String, String>,
    file: HashMap<&'static str, String>,
}

impl Sources {
    fn get(&self, var: &'static str) -> Option<String> {
        self.env
            .get(var)
            .cloned()
            .or_else(|| self.file.get(var).cloned())
            .filter(|v| !v.trim().is_empty())
    }

    fn parsed<T: std::str::FromStr>(&self, var: &'static str, default: T) -> Result<T, ConfigError>
    where
        T::Err: std::fmt::Display,
    {
        match self.get(var) {
            None => Ok(default),
            Some(raw) => raw
                .trim()
                .parse()
                .map_err(|e: T::Err| ConfigError::Invalid {
                    var,
                    reason: format!("cannot parse {raw:?}: {e}"),
                }),
        }
    }

    /// A setting without a default: `None` when unset.
    fn optional<T: std::str::FromStr + Default>(
        &self,
        var: &'static str,
    ) -> Result<Option<T>, ConfigError>
    where
        T::Err: std::fmt::Display,
    {
        self.get(var)
            .map(|_| self.parsed(var, T::default()))
            .transpose()
    }

    fn database_url(&self) -> Result<DatabaseUrl, ConfigError> {
        let raw = self
            .get("KOOLICENSE_DATABASE_URL")
            .unwrap_or_else(|| "sqlite://koolicense.db".into());
        DatabaseUrl::parse(&raw).map_err(|reason| ConfigError::Invalid {
            var: "KOOLICENSE_DATABASE_URL",
            reason,
        })
    }

    fn secret(&self, var: &'static str) -> Option<SecretString> {
        self.get(var)
            .map(|v| SecretString::from(v.trim().to_owned()))
    }
}

fn toml_scalar(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Where and what the TOML error is, on one line, without the file's text: toml's own
/// rendering quotes the offending line, and serde's messages quote the offending value, either
/// of which may be a secret (`access_key = "..."`).
fn toml_error_reason(text: &str, error: &toml::de::Error) -> String {
    let mut problem = error.message().lines().collect::<Vec<_>>().join("; ");
    for kind in ["invalid type", "invalid value", "invalid length"] {
        if problem.starts_with(kind) {
            // "invalid type: integer `12345`, expected a string": keep what was expected.
            let expected = problem.find(", expected").map_or("", |i| &problem[i..]);
            problem = format!("{kind}{expected}");
            break;
        }
    }
    let Some(mut start) = error.span().map(|span| span.start.min(text.len())) else {
        return problem;
    };
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let before = &text[..start];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("line {line}, column {column}: {problem}")
}

/// A list setting: an array of strings joined with commas, or a string as it is.
fn toml_list(value: &toml::Value) -> String {
    match value {
        toml::Value::Array(items) => items.iter().map(toml_scalar).collect::<Vec<_>>().join(","),
        other => toml_scalar(other),
    }
}

fn read_file(path: &Path) -> Result<HashMap<&'static str, String>, ConfigError> {
    let file_error = |reason: String| ConfigError::File {
        path: path.to_owned(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| file_error(e.to_string()))?;
    let parsed: FileSettings =
        toml::from_str(&text).map_err(|e| file_error(toml_error_reason(&text, &e)))?;
    let mut map = HashMap::new();
    let mut put = |var: &'static str, value: Option<String>| {
        if let Some(v) = value {
            map.insert(var, v);
        }
    };
    put("KOOLICENSE_LISTEN", parsed.listen);
    put("KOOLICENSE_DATABASE_URL", parsed.database_url);
    put(
        "KOOLICENSE_DB_POOL_SIZE",
        parsed.db_pool_size.as_ref().map(toml_scalar),
    );
    put("KOOLICENSE_KEYS_DIR", parsed.keys_dir);
    put("KOOLICENSE_ACCESS_KEY", parsed.access_key);
    put("KOOLICENSE_LEGACY_KEY", parsed.legacy_key);
    put("KOOLICENSE_APIG_AK", parsed.apig_ak);
    put("KOOLICENSE_APIG_SK", parsed.apig_sk);
    put("KOOLICENSE_MARKETPLACE_URL", parsed.marketplace_url);
    put(
        "KOOLICENSE_MARKETPLACE_FALLBACK_URL",
        parsed.marketplace_fallback_url,
    );
    put(
        "KOOLICENSE_MARKETPLACE_TIMEOUT_MS",
        parsed.marketplace_timeout_ms.as_ref().map(toml_scalar),
    );
    put(
        "KOOLICENSE_TIMESTAMP_WINDOW_SECS",
        parsed.timestamp_window_secs.as_ref().map(toml_scalar),
    );
    put("KOOLICENSE_LOG_FORMAT", parsed.log_format);
    put("KOOLICENSE_FINGERPRINT_MATCH", parsed.fingerprint_match);
    put(
        "KOOLICENSE_DEACTIVATION_LIMIT",
        parsed.deactivation_limit.as_ref().map(toml_scalar),
    );
    put(
        "KOOLICENSE_RATE_LIMIT_PER_MINUTE",
        parsed.rate_limit_per_minute.as_ref().map(toml_scalar),
    );
    put(
        "KOOLICENSE_UNKNOWN_CODE_LIMIT_PER_HOUR",
        parsed.unknown_code_limit_per_hour.as_ref().map(toml_scalar),
    );
    put(
        "KOOLICENSE_TRUSTED_PROXIES",
        parsed.trusted_proxies.as_ref().map(toml_list),
    );
    put("KOOLICENSE_FORWARDED_HEADER", parsed.forwarded_header);
    put(
        "KOOLICENSE_INSTANCE_LIMIT",
        parsed.instance_limit.as_ref().map(toml_scalar),
    );
    put("KOOLICENSE_WORKER", parsed.worker.as_ref().map(toml_scalar));
    put("KOOLICENSE_NODE_ID", parsed.node_id);
    put(
        "KOOLICENSE_HTTP_WORKERS",
        parsed.http_workers.as_ref().map(toml_scalar),
    );
    put(
        "KOOLICENSE_JOURNAL_RETENTION_DAYS",
        parsed.journal_retention_days.as_ref().map(toml_scalar),
    );
    put(
        "KOOLICENSE_REQUEST_TIMEOUT_MS",
        parsed.request_timeout_ms.as_ref().map(toml_scalar),
    );
    put(
        "KOOLICENSE_KEEP_ALIVE_SECS",
        parsed.keep_alive_secs.as_ref().map(toml_scalar),
    );
    put(
        "KOOLICENSE_MAX_CONNECTIONS",
        parsed.max_connections.as_ref().map(toml_scalar),
    );
    Ok(map)
}

fn marketplace_url(
    sources: &Sources,
    var: &'static str,
    default: &str,
) -> Result<url::Url, ConfigError> {
    let raw = sources.get(var).unwrap_or_else(|| default.to_owned());
    let invalid = |reason: String| ConfigError::Invalid { var, reason };
    let url =
        url::Url::parse(raw.trim()).map_err(|e| invalid(format!("{raw:?} is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(invalid(format!(
            "{raw:?} must be an http:// or https:// URL with a host"
        )));
    }
    Ok(url)
}

fn enum_setting<T: Copy>(
    sources: &Sources,
    var: &'static str,
    default: T,
    choices: &[(&str, T)],
) -> Result<T, ConfigError> {
    let Some(raw) = sources.get(var) else {
        return Ok(default);
    };
    let wanted = raw.trim().to_ascii_lowercase();
    choices
        .iter()
        .find(|(name, _)| *name == wanted)
        .map(|(_, value)| *value)
        .ok_or_else(|| ConfigError::Invalid {
            var,
            reason: format!(
                "{raw:?} is not one of {}",
                choices
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
}

impl Settings {
    /// How long the marketplace journal is kept; `None` for ever.
    pub fn journal_retention(&self) -> Option<chrono::TimeDelta> {
        (self.journal_retention_days > 0)
            .then(|| chrono::TimeDelta::days(i64::from(self.journal_retention_days)))
    }

    /// Loads settings from the process environment and an optional TOML file.
    pub fn load(config_file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::from_sources(std::env::vars().collect(), config_file)
    }

    /// Loads settings from `env` (name → value) and an optional TOML file; used by tests too.
    pub fn from_sources(
        env: HashMap<String, String>,
        config_file: Option<&Path>,
    ) -> Result<Self, ConfigError> {
        let file = match config_file {
            Some(path) => read_file(path)?,
            None => HashMap::new(),
        };
        let s = Sources { env, file };
        let database_url = s.database_url()?;
        let settings = Settings {
            listen: s.parsed(
                "KOOLICENSE_LISTEN",
                SocketAddr::from(([127, 0, 0, 1], 8080)),
            )?,
            database_url,
            db_pool_size: s.parsed("KOOLICENSE_DB_POOL_SIZE", 16)?,
            keys_dir: PathBuf::from(
                s.get("KOOLICENSE_KEYS_DIR")
                    .unwrap_or_else(|| "keys".into()),
            ),
            access_key: s.secret("KOOLICENSE_ACCESS_KEY"),
            legacy_key: s.secret("KOOLICENSE_LEGACY_KEY"),
            apig_ak: s.secret("KOOLICENSE_APIG_AK"),
            apig_sk: s.secret("KOOLICENSE_APIG_SK"),
            marketplace_url: marketplace_url(
                &s,
                "KOOLICENSE_MARKETPLACE_URL",
                "https://mkt.myhuaweicloud.com",
            )?,
            marketplace_fallback_url: marketplace_url(
                &s,
                "KOOLICENSE_MARKETPLACE_FALLBACK_URL",
                "https://mkt.myhuaweicloud.cn",
            )?,
            marketplace_timeout: Duration::from_millis(
                s.parsed("KOOLICENSE_MARKETPLACE_TIMEOUT_MS", 3000)?,
            ),
            timestamp_window_secs: s.parsed("KOOLICENSE_TIMESTAMP_WINDOW_SECS", 60)?,
            log_format: enum_setting(
                &s,
                "KOOLICENSE_LOG_FORMAT",
                LogFormat::Pretty,
                &[("pretty", LogFormat::Pretty), ("json", LogFormat::Json)],
            )?,
            fingerprint_match: enum_setting(
                &s,
                "KOOLICENSE_FINGERPRINT_MATCH",
                FingerprintMatch::Exact,
                &[
                    ("exact", FingerprintMatch::Exact),
                    ("most", FingerprintMatch::Most),
                ],
            )?,
            deactivation_limit: s.parsed("KOOLICENSE_DEACTIVATION_LIMIT", 3)?,
            rate_limit_per_minute: s.parsed("KOOLICENSE_RATE_LIMIT_PER_MINUTE", 600)?,
            unknown_code_limit_per_hour: s.parsed("KOOLICENSE_UNKNOWN_CODE_LIMIT_PER_HOUR", 30)?,
            trusted_proxies: TrustedProxies::parse(
                &s.get("KOOLICENSE_TRUSTED_PROXIES").unwrap_or_default(),
            )
            .map_err(|reason| ConfigError::Invalid {
                var: "KOOLICENSE_TRUSTED_PROXIES",
                reason,
            })?,
            forwarded_header: enum_setting(
                &s,
                "KOOLICENSE_FORWARDED_HEADER",
                ForwardedHeader::XForwardedFor,
                &[
                    ("x-forwarded-for", ForwardedHeader::XForwardedFor),
                    ("forwarded", ForwardedHeader::Forwarded),
                ],
            )?,
            instance_limit: s.optional("KOOLICENSE_INSTANCE_LIMIT")?,
            worker_enabled: s.parsed("KOOLICENSE_WORKER", true)?,
            node_id: s.get("KOOLICENSE_NODE_ID").unwrap_or_else(|| {
                format!("node-{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
            }),
            http_workers: s.parsed(
                "KOOLICENSE_HTTP_WORKERS",
                std::thread::available_parallelism()
                    .map_or(2, std::num::NonZero::get)
                    .min(MAX_HTTP_WORKERS),
            )?,
            journal_retention_days: s.parsed("KOOLICENSE_JOURNAL_RETENTION_DAYS", 90)?,
            // 5 s: KooGallery gives up on a call after 5 s, so a request still arriving then
            // is lost anyway; a 64 KiB callback body needs only ~105 kbit/s to make it, a
            // 16 KiB client-API body ~26 kbit/s.
            request_timeout: Duration::from_millis(
                s.parsed("KOOLICENSE_REQUEST_TIMEOUT_MS", 5000)?,
            ),
            keep_alive: Duration::from_secs(s.parsed("KOOLICENSE_KEEP_ALIVE_SECS", 5)?),
            max_connections: s.optional("KOOLICENSE_MAX_CONNECTIONS")?,
        };
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |var, reason: &str| ConfigError::Invalid {
            var,
            reason: reason.to_owned(),
        };
        if !(1..=MAX_POOL_SIZE).contains(&self.db_pool_size) {
            return Err(invalid(
                "KOOLICENSE_DB_POOL_SIZE",
                &format!("must be between 1 and {MAX_POOL_SIZE}"),
            ));
        }
        if !(1..=3600).contains(&self.timestamp_window_secs) {
            return Err(invalid(
                "KOOLICENSE_TIMESTAMP_WINDOW_SECS",
                "must be between 1 and 3600",
            ));
        }
        if self.marketplace_timeout.is_zero() {
            return Err(invalid(
                "KOOLICENSE_MARKETPLACE_TIMEOUT_MS",
                "must be at least 1",
            ));
        }
        if self.instance_limit.is_some_and(|n| n < 0) {
            return Err(invalid("KOOLICENSE_INSTANCE_LIMIT", "must not be negative"));
        }
        if self.deactivation_limit < 0 {
            return Err(invalid(
                "KOOLICENSE_DEACTIVATION_LIMIT",
                "must not be negative",
            ));
        }
        if self.journal_retention_days > MAX_RETENTION_DAYS {
            return Err(invalid(
                "KOOLICENSE_JOURNAL_RETENTION_DAYS",
                "must be between 0 (keep forever) and 36500",
            ));
        }
        if !(1..=MAX_HTTP_WORKERS).contains(&self.http_workers) {
            return Err(invalid(
                "KOOLICENSE_HTTP_WORKERS",
                &format!("must be between 1 and {MAX_HTTP_WORKERS}"),
            ));
        }
        if !(100..=600_000).contains(&self.request_timeout.as_millis()) {
            return Err(invalid(
                "KOOLICENSE_REQUEST_TIMEOUT_MS",
                "must be between 100 and 600000",
            ));
        }
        if self.keep_alive > Duration::from_secs(3600) {
            return Err(invalid(
                "KOOLICENSE_KEEP_ALIVE_SECS",
                "must be between 0 and 3600",
            ));
        }
        if self.max_connections == Some(0) {
            return Err(invalid("KOOLICENSE_MAX_CONNECTIONS", "must be at least 1"));
        }
        if self.apig_ak.is_some() != self.apig_sk.is_some() {
            let var = if self.apig_ak.is_some() {
                "KOOLICENSE_APIG_SK"
            } else {
                "KOOLICENSE_APIG_AK"
            };
            return Err(ConfigError::Missing {
                var,
                needed_for: "the AK/SK pair must be set together",
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod fuzz;
