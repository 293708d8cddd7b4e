//! Settings: built-in defaults, then an optional `--config` TOML file, then `KOOLICENSE_*`
//! environment variables (the environment wins). Every error names the variable to fix.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub mod sections;
mod sources;
mod trusted_proxies;

use self::sources::Sources;

pub use self::sections::{ClientApi, Database, Jobs, Keys, Marketplace, Server};
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

/// Everything the server needs, checked, in sections (see [`sections`]).
#[derive(Debug, Clone)]
pub struct Settings {
    /// The HTTP server and this process.
    pub server: Server,
    /// The database.
    pub database: Database,
    /// The signing keys.
    pub keys: Keys,
    /// KooGallery: verifying its calls and calling it back.
    pub marketplace: Marketplace,
    /// The client API.
    pub client_api: ClientApi,
    /// Background jobs.
    pub jobs: Jobs,
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

impl Settings {
    /// Loads settings from the process environment and an optional TOML file.
    pub fn load(config_file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::from_sources(std::env::vars().collect(), config_file)
    }

    /// Loads settings from `env` (name → value) and an optional TOML file; used by tests too.
    pub fn from_sources(
        env: HashMap<String, String>,
        config_file: Option<&Path>,
    ) -> Result<Self, ConfigError> {
        let sources = Sources::new(env, config_file)?;
        let settings = Self::read(&sources)?;
        sources.refuse_unknown_keys()?;
        Ok(settings)
    }

    /// The variable of every setting, in the order they are read.
    pub fn variables() -> Vec<&'static str> {
        // No file and no environment: nothing can fail, and the names are what is wanted.
        match Sources::new(HashMap::new(), None) {
            Ok(sources) => {
                let _defaults = Self::read(&sources);
                sources.variables()
            }
            Err(_) => Vec::new(),
        }
    }

    /// Each section reads its own settings; each setting is named once, in its section.
    fn read(s: &Sources) -> Result<Self, ConfigError> {
        Ok(Settings {
            server: Server::read(s)?,
            database: Database::read(s)?,
            keys: Keys::read(s)?,
            marketplace: Marketplace::read(s)?,
            client_api: ClientApi::read(s)?,
            jobs: Jobs::read(s)?,
        })
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod fuzz;
