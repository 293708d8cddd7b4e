//! `koolicense backup` and `koolicense restore`: the SQLite database's files
//! ([`crate::db::backup`]); on PostgreSQL, what to run instead.

use std::path::Path;

use crate::config::Settings;

/// What to run on PostgreSQL, where the database server owns the files.
const ON_POSTGRES: &str = "the database is PostgreSQL: back it up with \
    `pg_dump --format=custom --file=koolicense.dump \"$KOOLICENSE_DATABASE_URL\"` and restore \
    with `pg_restore --clean --if-exists --dbname=\"$KOOLICENSE_DATABASE_URL\" koolicense.dump` \
    (docs/backup.md); the keys directory is backed up separately either way";

/// Exit code of a command that does not apply to the configured backend.
const NOT_FOR_THIS_BACKEND: i32 = 2;

/// `koolicense backup --out FILE`.
pub fn backup(settings: &Settings, out: &Path) -> anyhow::Result<i32> {
    #[cfg(feature = "sqlite")]
    if let Some(path) = settings.database.url.sqlite_path() {
        let checked = crate::db::backup::backup(path, out)?;
        println!(
            "backed up {path} to {} ({} bytes, {} licenses, integrity checked)",
            out.display(),
            checked.bytes,
            checked.licenses
        );
        eprintln!(
            "note: the keys directory {} is not in the backup: copy it separately and keep it \
             offline; it cannot be regenerated",
            settings.keys.dir.display()
        );
        return Ok(0);
    }
    let _ = (settings, out);
    eprintln!("{ON_POSTGRES}");
    Ok(NOT_FOR_THIS_BACKEND)
}

/// `koolicense restore --from FILE [--force]`.
pub fn restore(settings: &Settings, from: &Path, force: bool) -> anyhow::Result<i32> {
    #[cfg(feature = "sqlite")]
    if let Some(path) = settings.database.url.sqlite_path() {
        let checked = crate::db::backup::restore(from, path, force)?;
        println!(
            "restored {} to {path} ({} bytes, {} licenses); the server applies any newer \
             migrations when it starts",
            from.display(),
            checked.bytes,
            checked.licenses
        );
        return Ok(0);
    }
    let _ = (settings, from, force);
    eprintln!("{ON_POSTGRES}");
    Ok(NOT_FOR_THIS_BACKEND)
}
