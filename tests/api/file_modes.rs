//! What `koolicense serve` leaves on disk is for its owner alone: the SQLite database and its
//! `-wal`/`-shm` files (full codes, fingerprints, licenses) are 0600 whatever the umask, and a
//! private key file others can read is reported, by name.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::process::free_port;

/// `koolicense serve` under umask 022 (the usual default, which makes new files 0644), its
/// output in `dir/server.log`; killed when dropped.
struct Server {
    child: Child,
    log: PathBuf,
}

impl Server {
    async fn start(dir: &Path, env: &[(&str, &str)]) -> Self {
        let log = dir.join("server.log");
        let out = std::fs::File::create(&log).unwrap();
        let port = free_port();
        let mut command = Command::new("sh");
        command
            .args(["-c", "umask 022 && exec \"$0\" serve"])
            .arg(env!("CARGO_BIN_EXE_koolicense"))
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out);
        for (name, _) in std::env::vars().filter(|(k, _)| k.starts_with("KOOLICENSE_")) {
            command.env_remove(name);
        }
        command
            .env("KOOLICENSE_LISTEN", format!("127.0.0.1:{port}"))
            .env("KOOLICENSE_HTTP_WORKERS", "2");
        for (k, v) in env {
            command.env(k, v);
        }
        let mut server = Self {
            child: command.spawn().unwrap(),
            log,
        };
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = http
                .get(format!("http://127.0.0.1:{port}/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200);
            if ready {
                return server;
            }
            let exited = server.child.try_wait().unwrap().is_some();
            assert!(
                !exited && Instant::now() < deadline,
                "serve did not become ready: {}",
                server.output()
            );
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The permission bits, in octal as `ls` and `chmod` write them.
fn mode(path: &Path) -> String {
    let metadata = std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    format!("{:o}", metadata.permissions().mode() & 0o777)
}

/// The database and the files SQLite keeps beside it while it is open.
fn database_files(dir: &Path) -> [PathBuf; 3] {
    ["koolicense.db", "koolicense.db-wal", "koolicense.db-shm"].map(|name| dir.join(name))
}

#[actix_web::test]
async fn a_new_sqlite_database_and_its_wal_and_shm_are_0600() {
    let dir = tempfile::tempdir().unwrap();

    let server = Server::start(dir.path(), &[]).await;

    for file in database_files(dir.path()) {
        assert_eq!(mode(&file), "600", "{}", file.display());
    }
    drop(server);
}

#[actix_web::test]
async fn a_readable_sqlite_database_is_tightened_with_a_warning() {
    // Arrange: a database made by an earlier server, then opened up to group and others.
    let dir = tempfile::tempdir().unwrap();
    drop(Server::start(dir.path(), &[]).await);
    let db = dir.path().join("koolicense.db");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();

    // Act
    let server = Server::start(dir.path(), &[]).await;

    // Assert
    for file in database_files(dir.path()) {
        assert_eq!(mode(&file), "600", "{}", file.display());
    }
    let output = server.output();
    assert!(
        output.contains("the SQLite file had mode 0644") && output.contains("koolicense.db"),
        "{output}"
    );
}

#[actix_web::test]
async fn a_private_key_others_can_read_is_reported_at_start_up() {
    // Arrange
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let kid = koolicense::keys::KeyStore::generate(&keys).unwrap();
    let key_file = keys.join(format!("{kid}.key"));
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();

    // Act
    let keys_dir = keys.display().to_string();
    let server = Server::start(dir.path(), &[("KOOLICENSE_KEYS_DIR", &keys_dir)]).await;

    // Assert
    let output = server.output();
    let line = output
        .lines()
        .find(|l| l.contains("WARN") && l.contains(&key_file.display().to_string()))
        .unwrap_or_else(|| panic!("no warning naming {}: {output}", key_file.display()));
    assert!(
        line.contains("mode 0644") && line.contains("chmod 600"),
        "{line}"
    );
    let seed = std::fs::read_to_string(&key_file).unwrap();
    assert!(!output.contains(seed.trim()), "the key leaked");
    // Reported, not refused, and left as it was.
    assert_eq!(mode(&key_file), "644");
}
