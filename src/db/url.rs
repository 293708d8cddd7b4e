//! Parsing `KOOLICENSE_DATABASE_URL` into the backend it names.

#[cfg(feature = "postgres")]
mod redact;

use std::path::Path;

#[cfg(feature = "postgres")]
use secrecy::{ExposeSecret, SecretString};

/// A database URL, checked: the scheme picked the backend, and the backend is compiled in.
#[derive(Clone)]
pub enum DatabaseUrl {
    /// `postgres://` or `postgresql://`; held secret because it may carry a password.
    #[cfg(feature = "postgres")]
    Postgres(PostgresUrl),
    /// `sqlite://PATH` (relative to the working directory) or `sqlite:///abs/path`.
    #[cfg(feature = "sqlite")]
    Sqlite(String),
}

impl DatabaseUrl {
    /// The SQLite database's path; `None` for PostgreSQL.
    #[cfg(feature = "sqlite")]
    pub fn sqlite_path(&self) -> Option<&str> {
        match self {
            Self::Sqlite(path) => Some(path),
            #[cfg(feature = "postgres")]
            Self::Postgres(_) => None,
        }
    }
}

/// A PostgreSQL URL whose `Debug` hides credentials.
#[cfg(feature = "postgres")]
#[derive(Clone)]
pub struct PostgresUrl(SecretString);

#[cfg(feature = "postgres")]
impl PostgresUrl {
    /// The URL itself, for connecting.
    #[must_use]
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// The URL with every password (userinfo, `password=` and `sslpassword=` parameters)
    /// replaced by `****`, fit for logs.
    #[must_use]
    pub fn redacted(&self) -> String {
        redact::Passwords::of(self.expose()).redacted()
    }

    /// `text` with every password of the URL, as written and percent-decoded, replaced by
    /// `****`: for libpq's errors, which may quote the URL or parts of it.
    #[must_use]
    pub fn scrub(&self, text: &str) -> String {
        redact::Passwords::of(self.expose()).scrub(text)
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl DatabaseUrl {
    /// Parses `url`; the error says what is wrong in words a user can act on.
    ///
    /// # Errors
    /// An unknown scheme, a backend this build lacks, or an SQLite path whose directory is missing
    /// (a mistyped path would otherwise silently create a new, empty database).
    pub fn parse(url: &str) -> Result<Self, String> {
        let url = url.trim();
        if let Some(rest) = url
            .strip_prefix("postgres://")
            .or_else(|| url.strip_prefix("postgresql://"))
        {
            if rest.is_empty() {
                return Err("a postgres:// URL needs a host and database".into());
            }
            #[cfg(feature = "postgres")]
            return Ok(Self::Postgres(PostgresUrl(SecretString::from(
                url.to_owned(),
            ))));
            #[cfg(not(feature = "postgres"))]
            return Err("this build has no PostgreSQL support (feature `postgres`)".into());
        }
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(
                    "a sqlite:// URL needs a file path, e.g. sqlite://koolicense.db".into(),
                );
            }
            if path == ":memory:" {
                return Err(
                    "an in-memory SQLite database is not shared between connections".into(),
                );
            }
            let parent = Path::new(path)
                .parent()
                .filter(|p| !p.as_os_str().is_empty());
            if let Some(dir) = parent {
                if !dir.is_dir() {
                    return Err(format!(
                        "the directory of the SQLite file does not exist: {}",
                        dir.display()
                    ));
                }
            }
            #[cfg(feature = "sqlite")]
            return Ok(Self::Sqlite(path.to_owned()));
            #[cfg(not(feature = "sqlite"))]
            return Err("this build has no SQLite support (feature `sqlite`)".into());
        }
        Err("must start with sqlite://, postgres:// or postgresql://".into())
    }

    /// The URL with any password replaced, fit for logs.
    #[must_use]
    pub fn redacted(&self) -> String {
        match self {
            #[cfg(feature = "postgres")]
            Self::Postgres(url) => url.redacted(),
            #[cfg(feature = "sqlite")]
            Self::Sqlite(path) => format!("sqlite://{path}"),
        }
    }

    /// Which backend, as a word for logs and metrics.
    #[must_use]
    pub fn backend(&self) -> &'static str {
        match self {
            #[cfg(feature = "postgres")]
            Self::Postgres(_) => "postgres",
            #[cfg(feature = "sqlite")]
            Self::Sqlite(_) => "sqlite",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::DatabaseUrl;

    #[test]
    fn schemes_pick_the_backend() {
        assert_eq!(
            DatabaseUrl::parse("sqlite://k.db").map(|u| u.backend()),
            Ok("sqlite")
        );
        assert_eq!(
            DatabaseUrl::parse("postgres://u@h/db").map(|u| u.backend()),
            Ok("postgres")
        );
        assert_eq!(
            DatabaseUrl::parse("postgresql://u@h/db").map(|u| u.backend()),
            Ok("postgres")
        );
    }

    #[test]
    fn bad_urls_are_refused_with_a_reason() {
        for bad in [
            "",
            "mysql://x",
            "sqlite://",
            "sqlite://:memory:",
            "sqlite:///no/such/dir/k.db",
        ] {
            assert!(DatabaseUrl::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn passwords_never_reach_the_redacted_form() {
        let url = DatabaseUrl::parse("postgres://app:hunter2@db:5432/k").map(|u| u.redacted());
        assert_eq!(url.as_deref(), Ok("postgres://app:****@db:5432/k"));
        let url = DatabaseUrl::parse("postgres://u@db/k?PASSWORD=hunter2").map(|u| u.redacted());
        assert_eq!(url.as_deref(), Ok("postgres://u@db/k?PASSWORD=****"));
        assert!(!format!("{url:?}").contains("hunter2"));
    }

    /// libpq quotes the offending part of a malformed URL in its error (a password with a
    /// space or a bad `%` escape, the whole URL for an unclosed `IPv6` bracket): the errors of
    /// our connections, which reach logs, must not carry it.
    #[cfg(feature = "postgres")]
    #[test]
    #[expect(clippy::unwrap_used, reason = "tests fail loudly")]
    fn connection_errors_carry_no_password() {
        for url in [
            "postgres://u@127.0.0.1:1/db?password=hunter2",
            "postgres://u:hunter2@127.0.0.1:1/db",
            "postgres://u:hun ter2@127.0.0.1:1/db",
            "postgres://u:hunter2%zz@127.0.0.1:1/db",
            "postgres://u@127.0.0.1:1/db?password=hunter2%zz",
            "postgres://u@127.0.0.1:1/db?password=hun ter2",
            "postgres://u@127.0.0.1:1/db?PASSWORD=hunter2",
            "postgres://u:hunter2@[::1/db",
        ] {
            let manager = crate::db::ConnectionManager::new(DatabaseUrl::parse(url).unwrap());
            let Err(error) = manager.connect() else {
                panic!("{url} connected");
            };
            let text = error.to_string();
            assert!(!text.is_empty(), "{url}");
            for secret in ["hunter2", "hun ter2", "hunter2%zz"] {
                assert!(!text.contains(secret), "{url}: {text}");
            }
        }
    }
}
