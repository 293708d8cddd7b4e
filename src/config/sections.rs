//! The sections of [`super::Settings`]. Each reads its own variables once: name, default and
//! bounds are here and nowhere else. The TOML file stays flat; sections are only in the code.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;

use super::sources::Sources;
use super::{
    ConfigError, FingerprintMatch, ForwardedHeader, LogFormat, MAX_HTTP_WORKERS, MAX_POOL_SIZE,
    TrustedProxies,
};
use crate::db::DatabaseUrl;

/// The longest journal retention accepted, in days (a hundred years: beyond it, say 0).
const MAX_RETENTION_DAYS: u32 = 36_500;

/// The HTTP server and this process.
#[derive(Debug, Clone)]
pub struct Server {
    /// `KOOLICENSE_LISTEN`
    pub listen: SocketAddr,
    /// `KOOLICENSE_LOG_FORMAT`
    pub log_format: LogFormat,
    /// `KOOLICENSE_NODE_ID`: names this process in job leases; random when unset.
    pub node_id: String,
    /// `KOOLICENSE_HTTP_WORKERS`: actix worker threads.
    pub http_workers: usize,
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

impl Server {
    /// Reads this section's variables.
    pub(super) fn read(s: &Sources) -> Result<Self, ConfigError> {
        Ok(Self {
            listen: s.address(
                "KOOLICENSE_LISTEN",
                SocketAddr::from(([127, 0, 0, 1], 8080)),
            )?,
            log_format: s.choice(
                "KOOLICENSE_LOG_FORMAT",
                LogFormat::Pretty,
                &[("pretty", LogFormat::Pretty), ("json", LogFormat::Json)],
            )?,
            node_id: s.text("KOOLICENSE_NODE_ID")?.unwrap_or_else(|| {
                format!("node-{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
            }),
            http_workers: s.bounded(
                "KOOLICENSE_HTTP_WORKERS",
                std::thread::available_parallelism()
                    .map_or(2, std::num::NonZero::get)
                    .min(MAX_HTTP_WORKERS),
                1,
                Some(MAX_HTTP_WORKERS),
            )?,
            // 5 s: KooGallery gives up on a call after 5 s, so a request still arriving then
            // is lost anyway; a 64 KiB callback body needs only ~105 kbit/s to make it, a
            // 16 KiB client-API body ~26 kbit/s.
            request_timeout: Duration::from_millis(s.bounded(
                "KOOLICENSE_REQUEST_TIMEOUT_MS",
                5000,
                100,
                Some(600_000),
            )?),
            keep_alive: Duration::from_secs(s.bounded(
                "KOOLICENSE_KEEP_ALIVE_SECS",
                5,
                0,
                Some(3600),
            )?),
            max_connections: s.optional_bounded("KOOLICENSE_MAX_CONNECTIONS", 1, None)?,
        })
    }
}

/// The database.
#[derive(Debug, Clone)]
pub struct Database {
    /// `KOOLICENSE_DATABASE_URL`
    pub url: DatabaseUrl,
    /// `KOOLICENSE_DB_POOL_SIZE`
    pub pool_size: u32,
}

impl Database {
    /// Reads this section's variables.
    pub(super) fn read(s: &Sources) -> Result<Self, ConfigError> {
        Ok(Self {
            url: s.database_url("KOOLICENSE_DATABASE_URL", "sqlite://koolicense.db")?,
            pool_size: s.bounded("KOOLICENSE_DB_POOL_SIZE", 16, 1, Some(MAX_POOL_SIZE))?,
        })
    }
}

/// The signing keys.
#[derive(Debug, Clone)]
pub struct Keys {
    /// `KOOLICENSE_KEYS_DIR`
    pub dir: PathBuf,
}

impl Keys {
    /// Reads this section's variables.
    pub(super) fn read(s: &Sources) -> Result<Self, ConfigError> {
        Ok(Self {
            dir: PathBuf::from(
                s.text("KOOLICENSE_KEYS_DIR")?
                    .unwrap_or_else(|| "keys".into()),
            ),
        })
    }
}

/// KooGallery: verifying its calls and calling it back.
#[derive(Debug, Clone)]
pub struct Marketplace {
    /// `KOOLICENSE_ACCESS_KEY`: verifies Scheme-B marketplace calls.
    pub access_key: Option<SecretString>,
    /// `KOOLICENSE_LEGACY_KEY`: verifies `authToken` calls and signs `Body-Sign`.
    pub legacy_key: Option<SecretString>,
    /// `KOOLICENSE_APIG_AK`
    pub apig_ak: Option<SecretString>,
    /// `KOOLICENSE_APIG_SK`
    pub apig_sk: Option<SecretString>,
    /// `KOOLICENSE_MARKETPLACE_URL`
    pub url: url::Url,
    /// `KOOLICENSE_MARKETPLACE_FALLBACK_URL`
    pub fallback_url: url::Url,
    /// `KOOLICENSE_MARKETPLACE_TIMEOUT_MS`: per outbound request.
    pub timeout: Duration,
    /// `KOOLICENSE_TIMESTAMP_WINDOW_SECS`
    pub timestamp_window_secs: i64,
    /// `KOOLICENSE_INSTANCE_LIMIT`: most live (unreleased) online-License instances; a
    /// `newInstance` beyond it answers `000100`. Unset: no limit.
    pub instance_limit: Option<i64>,
}

impl Marketplace {
    /// Reads this section's variables.
    pub(super) fn read(s: &Sources) -> Result<Self, ConfigError> {
        let marketplace = Self {
            access_key: s.secret("KOOLICENSE_ACCESS_KEY")?,
            legacy_key: s.secret("KOOLICENSE_LEGACY_KEY")?,
            apig_ak: s.secret("KOOLICENSE_APIG_AK")?,
            apig_sk: s.secret("KOOLICENSE_APIG_SK")?,
            url: s.url(
                "KOOLICENSE_MARKETPLACE_URL",
                "https://mkt.myhuaweicloud.com",
            )?,
            fallback_url: s.url(
                "KOOLICENSE_MARKETPLACE_FALLBACK_URL",
                "https://mkt.myhuaweicloud.cn",
            )?,
            timeout: Duration::from_millis(s.bounded(
                "KOOLICENSE_MARKETPLACE_TIMEOUT_MS",
                3000,
                1,
                None,
            )?),
            timestamp_window_secs: s.bounded(
                "KOOLICENSE_TIMESTAMP_WINDOW_SECS",
                60,
                1,
                Some(3600),
            )?,
            instance_limit: s.optional_bounded("KOOLICENSE_INSTANCE_LIMIT", 0, None)?,
        };
        marketplace.check_pairs()?;
        Ok(marketplace)
    }

    /// Settings that only make sense together.
    fn check_pairs(&self) -> Result<(), ConfigError> {
        if self.apig_ak.is_some() == self.apig_sk.is_some() {
            return Ok(());
        }
        let var = if self.apig_ak.is_some() {
            "KOOLICENSE_APIG_SK"
        } else {
            "KOOLICENSE_APIG_AK"
        };
        Err(ConfigError::Missing {
            var,
            needed_for: "the AK/SK pair must be set together",
        })
    }
}

/// The client API: binding, deactivation and abuse limits.
#[derive(Debug, Clone)]
pub struct ClientApi {
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
}

impl ClientApi {
    /// Reads this section's variables.
    pub(super) fn read(s: &Sources) -> Result<Self, ConfigError> {
        Ok(Self {
            fingerprint_match: s.choice(
                "KOOLICENSE_FINGERPRINT_MATCH",
                FingerprintMatch::Exact,
                &[
                    ("exact", FingerprintMatch::Exact),
                    ("most", FingerprintMatch::Most),
                ],
            )?,
            deactivation_limit: s.bounded("KOOLICENSE_DEACTIVATION_LIMIT", 3, 0, None)?,
            rate_limit_per_minute: s.parsed("KOOLICENSE_RATE_LIMIT_PER_MINUTE", 600)?,
            unknown_code_limit_per_hour: s.parsed("KOOLICENSE_UNKNOWN_CODE_LIMIT_PER_HOUR", 30)?,
            trusted_proxies: TrustedProxies::parse(&s.list("KOOLICENSE_TRUSTED_PROXIES")?)
                .map_err(|reason| ConfigError::Invalid {
                    var: "KOOLICENSE_TRUSTED_PROXIES",
                    reason,
                })?,
            forwarded_header: s.choice(
                "KOOLICENSE_FORWARDED_HEADER",
                ForwardedHeader::XForwardedFor,
                &[
                    ("x-forwarded-for", ForwardedHeader::XForwardedFor),
                    ("forwarded", ForwardedHeader::Forwarded),
                ],
            )?,
        })
    }
}

/// Background jobs.
#[derive(Debug, Clone)]
pub struct Jobs {
    /// `KOOLICENSE_WORKER`: run the background job worker in this process.
    pub worker_enabled: bool,
    /// `KOOLICENSE_JOURNAL_RETENTION_DAYS`: marketplace journal rows (and counts of refused
    /// calls) older than this many days are deleted; 0 keeps them forever.
    pub journal_retention_days: u32,
}

impl Jobs {
    /// Reads this section's variables.
    pub(super) fn read(s: &Sources) -> Result<Self, ConfigError> {
        Ok(Self {
            worker_enabled: s.parsed("KOOLICENSE_WORKER", true)?,
            journal_retention_days: s.bounded(
                "KOOLICENSE_JOURNAL_RETENTION_DAYS",
                90,
                0,
                Some(MAX_RETENTION_DAYS),
            )?,
        })
    }

    /// How long the marketplace journal is kept; `None` for ever.
    pub fn journal_retention(&self) -> Option<chrono::TimeDelta> {
        (self.journal_retention_days > 0)
            .then(|| chrono::TimeDelta::days(i64::from(self.journal_retention_days)))
    }
}
