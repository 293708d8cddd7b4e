//! Where settings come from, read through one path: the environment, then the `--config` TOML
//! file, each value checked for its kind and bounds, and every message naming the variable (or
//! the file's line and column, never its text).

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use secrecy::SecretString;

use super::ConfigError;
use crate::db::DatabaseUrl;

/// One value of the `--config` file, with where it stands in the file (for messages that must
/// not quote the file's text).
struct FileValue {
    key: String,
    value: toml::Value,
    at: String,
}

/// What a setting's TOML key may hold.
#[derive(Clone, Copy)]
enum Kind {
    /// A string (addresses, URLs, keys, names): `listen = 8080` is a mistake worth naming.
    Text,
    /// Any scalar, read as its text and parsed like the environment's value.
    Scalar,
    /// An array of strings, or one comma-separated string.
    List,
}

/// Looks settings up by variable name, the environment first, then the `--config` file (the
/// same names without the prefix, in lower case). Every setting is read through here, once, by
/// [`Settings::from_sources`]; a file key that no setting read is an unknown setting.
pub(super) struct Sources {
    env: HashMap<String, String>,
    /// By variable name.
    file: HashMap<String, FileValue>,
    path: PathBuf,
    read: RefCell<Vec<&'static str>>,
}

const PREFIX: &str = "KOOLICENSE_";

impl Sources {
    /// The environment `env` and the file at `path`, if any, read and parsed.
    pub(super) fn new(
        env: HashMap<String, String>,
        path: Option<&Path>,
    ) -> Result<Self, ConfigError> {
        let file = path.map(read_file).transpose()?.unwrap_or_default();
        // Keys are the lower-case names only: `LISTEN` is as unknown as `lisen`.
        let variable = |key: &str| {
            if key == key.to_ascii_lowercase() {
                format!("{PREFIX}{}", key.to_ascii_uppercase())
            } else {
                key.to_owned()
            }
        };
        let file = file.into_iter().map(|v| (variable(&v.key), v)).collect();
        Ok(Self {
            env,
            file,
            path: path.map(Path::to_owned).unwrap_or_default(),
            read: RefCell::new(Vec::new()),
        })
    }

    /// The raw value of `var`; a file value of the wrong kind is an error even when the
    /// environment overrides it, so a broken file never goes unnoticed.
    fn raw(&self, var: &'static str, kind: Kind) -> Result<Option<String>, ConfigError> {
        self.read.borrow_mut().push(var);
        let from_file = match self.file.get(var) {
            None => None,
            Some(entry) => Some(file_text(entry, kind).map_err(|reason| ConfigError::File {
                path: self.path.clone(),
                reason,
            })?),
        };
        Ok(self
            .env
            .get(var)
            .cloned()
            .or(from_file)
            .filter(|v| !v.trim().is_empty()))
    }

    pub(super) fn text(&self, var: &'static str) -> Result<Option<String>, ConfigError> {
        self.raw(var, Kind::Text)
    }

    pub(super) fn parsed<T: std::str::FromStr>(
        &self,
        var: &'static str,
        default: T,
    ) -> Result<T, ConfigError>
    where
        T::Err: std::fmt::Display,
    {
        Ok(self.optional(var)?.unwrap_or(default))
    }

    /// A setting without a default: `None` when unset.
    pub(super) fn optional<T: std::str::FromStr>(
        &self,
        var: &'static str,
    ) -> Result<Option<T>, ConfigError>
    where
        T::Err: std::fmt::Display,
    {
        let Some(raw) = self.raw(var, Kind::Scalar)? else {
            return Ok(None);
        };
        raw.trim()
            .parse()
            .map(Some)
            .map_err(|e: T::Err| ConfigError::Invalid {
                var,
                reason: format!("cannot parse {raw:?}: {e}"),
            })
    }

    /// A number that must lie within `min..=max` (`max`: `None` for no upper bound).
    pub(super) fn bounded<T>(
        &self,
        var: &'static str,
        default: T,
        min: T,
        max: Option<T>,
    ) -> Result<T, ConfigError>
    where
        T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
        T::Err: std::fmt::Display,
    {
        let value = self.parsed(var, default)?;
        check_bounds(var, value, min, max)?;
        Ok(value)
    }

    /// [`Self::bounded`] for a setting without a default.
    pub(super) fn optional_bounded<T>(
        &self,
        var: &'static str,
        min: T,
        max: Option<T>,
    ) -> Result<Option<T>, ConfigError>
    where
        T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
        T::Err: std::fmt::Display,
    {
        let value = self.optional(var)?;
        if let Some(value) = value {
            check_bounds(var, value, min, max)?;
        }
        Ok(value)
    }

    pub(super) fn list(&self, var: &'static str) -> Result<String, ConfigError> {
        Ok(self.raw(var, Kind::List)?.unwrap_or_default())
    }

    pub(super) fn secret(&self, var: &'static str) -> Result<Option<SecretString>, ConfigError> {
        Ok(self
            .text(var)?
            .map(|v| SecretString::from(v.trim().to_owned())))
    }

    pub(super) fn address(
        &self,
        var: &'static str,
        default: SocketAddr,
    ) -> Result<SocketAddr, ConfigError> {
        let Some(raw) = self.text(var)? else {
            return Ok(default);
        };
        raw.trim().parse().map_err(|e| ConfigError::Invalid {
            var,
            reason: format!("cannot parse {raw:?}: {e}"),
        })
    }

    pub(super) fn database_url(
        &self,
        var: &'static str,
        default: &str,
    ) -> Result<DatabaseUrl, ConfigError> {
        let raw = self.text(var)?;
        DatabaseUrl::parse(raw.as_deref().unwrap_or(default))
            .map_err(|reason| ConfigError::Invalid { var, reason })
    }

    pub(super) fn url(&self, var: &'static str, default: &str) -> Result<url::Url, ConfigError> {
        let raw = self.text(var)?.unwrap_or_else(|| default.to_owned());
        let invalid = |reason: String| ConfigError::Invalid { var, reason };
        let url = url::Url::parse(raw.trim())
            .map_err(|e| invalid(format!("{raw:?} is not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(invalid(format!(
                "{raw:?} must be an http:// or https:// URL with a host"
            )));
        }
        Ok(url)
    }

    pub(super) fn choice<T: Copy>(
        &self,
        var: &'static str,
        default: T,
        choices: &[(&str, T)],
    ) -> Result<T, ConfigError> {
        let Some(raw) = self.text(var)? else {
            return Ok(default);
        };
        let wanted = raw.trim().to_ascii_lowercase();
        let names = || {
            choices
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", ")
        };
        choices
            .iter()
            .find(|(name, _)| *name == wanted)
            .map(|(_, value)| *value)
            .ok_or_else(|| ConfigError::Invalid {
                var,
                reason: format!("{raw:?} is not one of {}", names()),
            })
    }

    /// Every variable read so far, in order.
    pub(super) fn variables(&self) -> Vec<&'static str> {
        self.read.borrow().clone()
    }

    /// Refuses a file key that no setting read: a misspelt key would otherwise be ignored.
    pub(super) fn refuse_unknown_keys(&self) -> Result<(), ConfigError> {
        let read = self.read.borrow();
        let mut unknown: Vec<&FileValue> = self
            .file
            .iter()
            .filter(|(var, _)| !read.iter().any(|r| r == var))
            .map(|(_, value)| value)
            .collect();
        unknown.sort_by(|a, b| a.key.cmp(&b.key));
        match unknown.first() {
            None => Ok(()),
            Some(first) => Err(ConfigError::File {
                path: self.path.clone(),
                reason: format!("{}: unknown setting `{}`", first.at, first.key),
            }),
        }
    }
}

fn check_bounds<T: PartialOrd + std::fmt::Display>(
    var: &'static str,
    value: T,
    min: T,
    max: Option<T>,
) -> Result<(), ConfigError> {
    let within = value >= min && max.as_ref().is_none_or(|max| value <= *max);
    if within {
        return Ok(());
    }
    let reason = match max {
        Some(max) => format!("must be between {min} and {max}"),
        None => format!("must be at least {min}"),
    };
    Err(ConfigError::Invalid { var, reason })
}

/// A file value as the text its setting parses; the wrong kind names where it stands, not what
/// it holds (it may be a secret).
fn file_text(entry: &FileValue, kind: Kind) -> Result<String, String> {
    let wrong = |expected: &str| format!("{}: invalid type, expected {expected}", entry.at);
    match (kind, &entry.value) {
        (Kind::Text | Kind::List, toml::Value::String(s)) => Ok(s.clone()),
        (Kind::Text, _) => Err(wrong("a string")),
        (Kind::Scalar, value) => Ok(toml_scalar(value)),
        (Kind::List, toml::Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                toml::Value::String(s) => Ok(s.clone()),
                _ => Err(wrong("a string or an array of strings")),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(|items| items.join(",")),
        (Kind::List, _) => Err(wrong("a string or an array of strings")),
    }
}

fn toml_scalar(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `line L, column C` of byte `offset` in `text`.
fn position(text: &str, offset: usize) -> String {
    let mut start = offset.min(text.len());
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let before = &text[..start];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("line {line}, column {column}")
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
    match error.span() {
        Some(span) => format!("{}: {problem}", position(text, span.start)),
        None => problem,
    }
}

/// The `--config` file's top-level keys and values, each with its position.
fn read_file(path: &Path) -> Result<Vec<FileValue>, ConfigError> {
    use toml::Spanned;
    let file_error = |reason: String| ConfigError::File {
        path: path.to_owned(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| file_error(e.to_string()))?;
    let parsed: std::collections::BTreeMap<Spanned<String>, Spanned<toml::Value>> =
        toml::from_str(&text).map_err(|e| file_error(toml_error_reason(&text, &e)))?;
    Ok(parsed
        .into_iter()
        .map(|(key, value)| FileValue {
            at: position(&text, value.span().start),
            key: key.into_inner(),
            value: value.into_inner(),
        })
        .collect())
}
