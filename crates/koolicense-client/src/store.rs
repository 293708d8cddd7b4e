//! The data directory (`client.md` §4 "Storage"): `license.lic` as received, `state.json` (the
//! code, the last verified answer, the latest time seen) and `keys.json` (pinned public keys
//! when none were embedded). Files are written to a temporary name, fsynced and renamed, mode
//! 0600; read-modify-write cycles hold an exclusive lock on `lock`, so several processes can
//! share one directory.
//!
//! Nothing here is trusted for what it says: the license and the answer are verified every time
//! they are read, and the times that grant anything come only from them.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write};
#[cfg(unix)]
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::answer::SignedAnswer;

/// The license file as received.
pub const LICENSE_FILE: &str = "license.lic";
/// The SDK's state.
pub const STATE_FILE: &str = "state.json";
/// Public keys pinned on first use.
pub const KEYS_FILE: &str = "keys.json";
const LOCK_FILE: &str = "lock";
/// No file of ours is larger than this; anything bigger is not ours.
const MAX_FILE_LEN: u64 = 1 << 20;

/// What `state.json` holds. Every field may have been edited by the user: the answer is verified
/// on every read, the code only names what to check in, and `seen_at` can only make the clock
/// check stricter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// The authorization code of the stored license (needed to check in and deactivate).
    #[serde(default)]
    pub code: Option<String>,
    /// The latest answer of activate or check-in that verified, as received.
    #[serde(default)]
    pub answer: Option<SignedAnswer>,
    /// The latest local clock reading seen, in Unix seconds.
    #[serde(default)]
    pub seen_at: Option<i64>,
}

/// One data directory.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

/// Holds the directory's lock until dropped.
pub struct Locked {
    _file: File,
}

impl Store {
    /// Opens `dir`, creating it (mode 0700) when missing.
    pub fn open(dir: &Path) -> Result<Self, Error> {
        if dir.as_os_str().is_empty() {
            return Err(Error::invalid_argument("data_dir is empty"));
        }
        if !dir.is_dir() {
            let mut builder = DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            builder.mode(0o700);
            builder
                .create(dir)
                .map_err(|e| Error::store(format!("cannot create {}: {e}", dir.display())))?;
        }
        Ok(Self {
            dir: dir.to_path_buf(),
        })
    }

    /// Takes the directory's exclusive lock (waits for another process to finish its write).
    pub fn lock(&self) -> Result<Locked, Error> {
        let path = self.dir.join(LOCK_FILE);
        let file = private_file()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::store(format!("cannot open {}: {e}", path.display())))?;
        file.lock()
            .map_err(|e| Error::store(format!("cannot lock {}: {e}", path.display())))?;
        Ok(Locked { _file: file })
    }

    /// The text of `name`, `None` when it does not exist.
    pub fn read(&self, name: &str) -> Result<Option<String>, Error> {
        let path = self.dir.join(name);
        let too_big = fs::metadata(&path).is_ok_and(|m| m.len() > MAX_FILE_LEN);
        if too_big {
            return Err(Error::store(format!("{} is too large", path.display())));
        }
        match fs::read_to_string(&path) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::store(format!("cannot read {}: {e}", path.display()))),
        }
    }

    /// The state; a missing or unreadable-as-JSON state is the empty state (it only ever
    /// loosens nothing: without it the SDK knows less, never more).
    pub fn state(&self) -> Result<State, Error> {
        Ok(self
            .read(STATE_FILE)?
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default())
    }

    /// Writes the state (hold [`Store::lock`]).
    pub fn write_state(&self, _locked: &Locked, state: &State) -> Result<(), Error> {
        let json = serde_json::to_vec_pretty(state).map_err(Error::store)?;
        self.write(STATE_FILE, &json)
    }

    /// Writes `contents` to `name` atomically: a temporary file, fsync, rename, fsync of the
    /// directory.
    pub fn write(&self, name: &str, contents: &[u8]) -> Result<(), Error> {
        let path = self.dir.join(name);
        let temp = self.dir.join(format!(
            ".{name}.{}.{:08x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        let written = (|| -> io::Result<()> {
            let mut file = private_file().write(true).create_new(true).open(&temp)?;
            file.write_all(contents)?;
            file.sync_all()?;
            fs::rename(&temp, &path)?;
            sync_dir(&self.dir)
        })();
        written.map_err(|e| {
            let _ = fs::remove_file(&temp);
            Error::store(format!("cannot write {}: {e}", path.display()))
        })
    }

    /// Removes `name`; a file that is already gone is fine.
    pub fn remove(&self, name: &str) -> Result<(), Error> {
        let path = self.dir.join(name);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::store(format!(
                "cannot remove {}: {e}",
                path.display()
            ))),
        }
    }
}

/// Options for a file only its owner may read (mode 0600 on Unix).
pub(crate) fn private_file() -> OpenOptions {
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    options.mode(0o600);
    options
}

/// Makes a rename in `dir` durable (Unix; elsewhere the rename is what the system offers).
fn sync_dir(dir: &Path) -> io::Result<()> {
    if cfg!(unix) {
        File::open(dir)?.sync_all()
    } else {
        Ok(())
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn files_are_private_and_replaced_whole() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/b");
        let store = Store::open(&dir).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);

        store.write(LICENSE_FILE, b"one").unwrap();
        store.write(LICENSE_FILE, b"two").unwrap();
        assert_eq!(store.read(LICENSE_FILE).unwrap().as_deref(), Some("two"));
        assert_eq!(mode(&dir.join(LICENSE_FILE)), 0o600);
        let names: Vec<_> = fs::read_dir(&dir).unwrap().map(|e| e.unwrap()).collect();
        assert_eq!(names.len(), 1, "no temporary file is left behind");

        store.remove(LICENSE_FILE).unwrap();
        store.remove(LICENSE_FILE).unwrap();
        assert_eq!(store.read(LICENSE_FILE).unwrap(), None);
    }

    #[test]
    fn a_garbled_state_reads_as_empty() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::open(root.path()).unwrap();
        store.write(STATE_FILE, b"{not json").unwrap();
        assert_eq!(store.state().unwrap(), State::default());
        let locked = store.lock().unwrap();
        let state = State {
            code: Some("PL1".into()),
            seen_at: Some(5),
            answer: None,
        };
        store.write_state(&locked, &state).unwrap();
        assert_eq!(store.state().unwrap(), state);
    }
}
