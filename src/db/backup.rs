//! `koolicense backup` and `koolicense restore` for the SQLite database.
//!
//! A backup is `VACUUM INTO`: one read transaction, so it is a consistent snapshot taken while
//! the server goes on serving (in WAL mode readers never block the writer, and it never blocks
//! them). It is written beside its destination, fsynced and renamed into place, so a backup
//! interrupted half-way never looks like a whole one. Like the database, it holds full codes,
//! fingerprints and licenses: it is created 0600.
//!
//! A restore checks the file first (SQLite's integrity check, a koolicense schema no newer than
//! this build) and refuses while a process has the target open: SQLite holds a POSIX lock on
//! its files for as long as a connection is open, and `F_GETLK` sees it without taking it.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use diesel::prelude::*;
use diesel::sql_types::Text;

use super::DbConn;
use super::schema::licenses;

/// What a backup or a restore checked of the copy.
#[derive(Debug)]
pub struct Checked {
    /// The copy's size.
    pub bytes: u64,
    /// Licenses it holds.
    pub licenses: i64,
}

/// Copies the live database at `db_path` to `out`, consistently, while it may be in use.
///
/// # Errors
/// When `out` exists, the database cannot be read, or the copy fails its check.
pub fn backup(db_path: &str, out: &Path) -> anyhow::Result<Checked> {
    if !Path::new(db_path).exists() {
        bail!("there is no database at {db_path}");
    }
    if out.exists() {
        bail!("{} exists already: give a new file", out.display());
    }
    let partial = sibling(out, ".partial");
    // Left by a backup that was cut off: never a whole copy (it is renamed only when whole).
    remove_if_present(&partial)?;
    // An empty file is a valid `VACUUM INTO` target: created first, so it is 0600 from the start.
    create_private(&partial)?;
    let copied = (|| -> anyhow::Result<()> {
        let mut conn = super::connect_sqlite(db_path)
            .with_context(|| format!("cannot open the database {db_path}"))?;
        diesel::sql_query("VACUUM INTO ?")
            .bind::<Text, _>(partial.to_string_lossy().into_owned())
            .execute(&mut conn)
            .context("the copy failed")?;
        File::open(&partial)?.sync_all()?;
        Ok(())
    })();
    if let Err(e) = copied {
        let _ = fs::remove_file(&partial);
        return Err(e);
    }
    let checked = check(&partial).inspect_err(|_| {
        let _ = fs::remove_file(&partial);
    })?;
    fs::rename(&partial, out).with_context(|| format!("cannot write {}", out.display()))?;
    sync_parent(out)?;
    Ok(checked)
}

/// Puts the backup `from` in place of the database at `db_path`. An existing database is kept
/// as `PATH.before-restore` and replaced only with `force`.
///
/// # Errors
/// When the backup fails its check, the database is in use, or it exists and `force` is not set.
pub fn restore(from: &Path, db_path: &str, force: bool) -> anyhow::Result<Checked> {
    let checked =
        check(from).with_context(|| format!("{} is not a usable backup", from.display()))?;
    let target = Path::new(db_path);
    if let Some(pid) = in_use(target)? {
        bail!(
            "the database {db_path} is open in process {pid} (a running koolicense?): stop it \
             first"
        );
    }
    let kept = sibling(target, ".before-restore");
    if target.exists() && !force {
        bail!(
            "a database exists at {db_path}: give --force to replace it (it is kept as {})",
            kept.display()
        );
    }
    // The companions too: a `-wal` left beside the restored file would be replayed into it.
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let file = sibling(target, suffix);
        if file.exists() {
            let keep = sibling(&kept, suffix);
            remove_if_present(&keep)?;
            fs::rename(&file, &keep)
                .with_context(|| format!("cannot move {} aside", file.display()))?;
        }
    }
    let incoming = sibling(target, ".restoring");
    remove_if_present(&incoming)?;
    create_private(&incoming)?;
    fs::copy(from, &incoming).with_context(|| format!("cannot copy to {}", incoming.display()))?;
    File::open(&incoming)?.sync_all()?;
    fs::rename(&incoming, target).with_context(|| format!("cannot write {db_path}"))?;
    sync_parent(target)?;
    Ok(checked)
}

/// Opens `path` read-only and checks it: intact, a koolicense schema this build knows.
fn check(path: &Path) -> anyhow::Result<Checked> {
    #[derive(QueryableByName)]
    struct Verdict {
        #[diesel(sql_type = Text)]
        integrity_check: String,
    }
    let bytes = fs::metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .len();
    // `mode=ro` and `immutable`: checking a copy must not change it (no journal mode switch, no
    // `-wal` beside it).
    let uri = format!("file:{}?mode=ro&immutable=1", path.display());
    let mut conn = DbConn::Sqlite(
        diesel::SqliteConnection::establish(&uri)
            .with_context(|| format!("cannot open {}", path.display()))?,
    );
    let verdicts: Vec<Verdict> = diesel::sql_query("PRAGMA integrity_check")
        .load(&mut conn)
        .context("not an SQLite database")?;
    if verdicts.iter().any(|v| v.integrity_check != "ok") {
        let first = verdicts.first().map_or("", |v| v.integrity_check.as_str());
        bail!("SQLite's integrity check failed: {first}");
    }
    let unknown = super::unknown_migrations(&mut conn).context("not a koolicense database")?;
    if !unknown.is_empty() {
        bail!(
            "it was written by a newer koolicense (migrations {}); restore it with that version",
            unknown.join(", ")
        );
    }
    let licenses = licenses::table
        .count()
        .get_result(&mut conn)
        .context("not a koolicense database: it has no licenses table")?;
    Ok(Checked { bytes, licenses })
}

/// The process holding a lock on the database or its shared-memory file, if any.
fn in_use(target: &Path) -> anyhow::Result<Option<i32>> {
    use rustix::process::{Flock, FlockOffsetType, FlockType, fcntl_getlk};
    for suffix in ["", "-shm"] {
        let path = sibling(target, suffix);
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot open {}", path.display())),
        };
        let whole_file = Flock {
            start: 0,
            length: 0,
            pid: None,
            typ: FlockType::WriteLock,
            offset_type: FlockOffsetType::Set,
        };
        let held = fcntl_getlk(&file, &whole_file)
            .with_context(|| format!("cannot test the locks on {}", path.display()))?;
        if let Some(lock) = held {
            return Ok(Some(lock.pid.map_or(0, |pid| pid.as_raw_nonzero().get())));
        }
    }
    Ok(None)
}

/// `path` with `suffix` appended to its file name (`koolicense.db` + `-wal`).
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn create_private(path: &Path) -> anyhow::Result<()> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    Ok(())
}

fn remove_if_present(path: &Path) -> anyhow::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("cannot remove {}", path.display()))
        }
        _ => Ok(()),
    }
}

/// The rename is durable only once the directory is synced.
fn sync_parent(path: &Path) -> anyhow::Result<()> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(parent)?.sync_all()?;
    Ok(())
}
