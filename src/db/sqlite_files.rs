//! The SQLite database holds full authorization codes, fingerprints and licenses, so its files
//! are for the owner alone (0600), whatever the umask.
//!
//! SQLite gives the `-wal`, `-shm` and `-journal` files it creates the mode of the database
//! file (and `fchmod`s them to it past the umask), so a database file created 0600 keeps all
//! of them 0600. Files made looser before (an older koolicense, a copy) are tightened at
//! start-up, with a warning; a mode is never loosened.

use std::fs::{self, OpenOptions};
use std::io;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Permission bits of everyone but the owner.
const GROUP_AND_OTHERS: u32 = 0o077;
/// The files SQLite keeps beside the database, by suffix.
const COMPANIONS: [&str; 3] = ["-wal", "-shm", "-journal"];

/// Creates the database file at `path` with mode 0600 when it does not exist, and takes group
/// and other bits off it and off its companion files when they have any.
///
/// # Errors
/// When the file cannot be created; a mode that cannot be changed is only a warning (the file
/// may belong to another user), as is a `file:` URI, which SQLite resolves itself.
pub(super) fn protect(path: &str) -> io::Result<()> {
    if path.starts_with("file:") {
        tracing::warn!(
            db.file = %path,
            "the SQLite database is given as a file: URI; its file mode is left to SQLite"
        );
        return Ok(());
    }
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    tighten(Path::new(path));
    for suffix in COMPANIONS {
        tighten(Path::new(&format!("{path}{suffix}")));
    }
    Ok(())
}

/// Takes group and other bits off `file` (when it exists and has any), with a warning.
fn tighten(file: &Path) {
    let Ok(metadata) = fs::metadata(file) else {
        return;
    };
    let mode = metadata.permissions().mode() & 0o777;
    if mode & GROUP_AND_OTHERS == 0 {
        return;
    }
    // At most 0600, and nothing the owner lacked (a read-only file stays read-only).
    let tightened = mode & 0o600;
    match fs::set_permissions(file, fs::Permissions::from_mode(tightened)) {
        Ok(()) => tracing::warn!(
            db.file = %file.display(),
            "the SQLite file had mode {mode:04o}, readable beyond its owner; set it to \
             {tightened:04o}"
        ),
        Err(e) => tracing::warn!(
            db.file = %file.display(),
            error = %e,
            "the SQLite file has mode {mode:04o}, readable beyond its owner, and cannot be \
             tightened: chmod 600 it"
        ),
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn modes_are_tightened_never_loosened() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("k.db");
        for (file, before, after) in [
            ("k.db", 0o644, 0o600),
            ("k.db-wal", 0o666, 0o600),
            ("k.db-shm", 0o400, 0o400),
            ("k.db-journal", 0o440, 0o400),
        ] {
            let path = dir.path().join(file);
            fs::write(&path, b"").unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(before)).unwrap();
            protect(db.to_str().unwrap()).unwrap();
            assert_eq!(mode(&path), after, "{file} {before:o}");
        }
    }

    #[test]
    fn a_missing_database_file_is_created_for_its_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("new.db");
        protect(db.to_str().unwrap()).unwrap();
        assert_eq!(mode(&db), 0o600);
        assert_eq!(
            fs::metadata(&db).unwrap().len(),
            0,
            "an empty file is an empty database"
        );
    }
}
