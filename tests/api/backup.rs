//! The backup drill: serve, load, back up during the load, restore into a new directory, and
//! find every license answered before the backup there, byte for byte and verifying offline.
//! Then what `restore` refuses: a database in use, one that exists (without `--force`), a file
//! that is not a backup; and `backup` on PostgreSQL, which says what to run instead.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

use koolicense::keys::KeyStore;
use serde_json::json;

use crate::client_api::{compact_in, machine};
use crate::drills::{server_env, try_activate};
use crate::helpers::{Backend, TestDatabase};
use crate::marketplace::Marketplace;
use crate::process::{ServerProcess, free_port, koolicense_command};

/// Codes bound before the backup, and during it.
const BEFORE: usize = 30;
const DURING: usize = 150;

/// `koolicense ARGS` with `env`, on a blocking thread (the simulator answers meanwhile).
async fn koolicense(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = koolicense_command();
    command.args(args);
    command.envs(env.iter().copied());
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

async fn add_codes(sim: &Marketplace, range: std::ops::Range<usize>) {
    for i in range {
        let spec =
            json!({"code": format!("PLBACKUP{i:06}"), "amount": 1, "expire_time": compact_in(365)});
        sim.post("/sim/codes", &spec).await;
    }
}

fn code(i: usize) -> String {
    format!("PLBACKUP{i:06}")
}

#[actix_web::test]
async fn a_backup_under_load_restores_every_license_answered_before_it() {
    let sim = Marketplace::start().await;
    add_codes(&sim, 0..BEFORE + DURING).await;
    let db = TestDatabase::create(Backend::Sqlite);
    let work = tempfile::tempdir().unwrap();
    let keys = work.path().join("keys");
    KeyStore::generate(&keys).unwrap();
    let keys = keys.to_str().unwrap().to_owned();
    let env = server_env(&db, &keys, &sim.url);
    let mut server = ServerProcess::start(free_port(), &env, &work.path().join("serve.log")).await;
    let http = reqwest::Client::new();

    let mut answered = Vec::new();
    for i in 0..BEFORE {
        let (status, license) = try_activate(&http, &server.url, &code(i), &machine(i))
            .await
            .unwrap();
        assert_eq!(status, 201, "{license}");
        answered.push((code(i), machine(i), license));
    }

    // First activations go on (a marketplace call and a commit each) while the backup runs.
    let load = {
        let (http, url) = (http.clone(), server.url.clone());
        actix_web::rt::spawn(async move {
            let mut statuses = Vec::new();
            for i in BEFORE..BEFORE + DURING {
                statuses.push(
                    try_activate(&http, &url, &code(i), &machine(i))
                        .await
                        .map(|a| a.0),
                );
            }
            statuses
        })
    };
    actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    let backup = work.path().join("koolicense.backup");
    let backup_str = backup.to_str().unwrap();
    let output = koolicense(&["backup", "--out", backup_str], &env).await;
    assert!(output.status.success(), "{}", text(&output));
    assert!(
        !load.is_finished(),
        "the backup was not taken during the load"
    );
    assert!(
        text(&output).contains("cannot be regenerated"),
        "{}",
        text(&output)
    );
    let statuses = load.await.unwrap();
    assert!(
        statuses.iter().all(|s| *s == Some(201)),
        "the load was disturbed: {statuses:?}"
    );
    let mode = std::fs::metadata(&backup).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the backup holds codes and fingerprints");

    // The live database is in use: restoring over it is refused, and nothing changes.
    let output = koolicense(&["restore", "--from", backup_str, "--force"], &env).await;
    assert!(!output.status.success());
    assert!(text(&output).contains("stop it first"), "{}", text(&output));
    server.terminate(Duration::from_secs(10)).await.unwrap();

    // Restored into a new directory, served by a new server with the same keys.
    let restored = tempfile::tempdir().unwrap();
    let restored_url = format!(
        "sqlite://{}",
        restored.path().join("koolicense.db").display()
    );
    let mut restored_env = env.clone();
    restored_env.retain(|(k, _)| *k != "KOOLICENSE_DATABASE_URL");
    restored_env.push(("KOOLICENSE_DATABASE_URL", &restored_url));
    let output = koolicense(&["restore", "--from", backup_str], &restored_env).await;
    assert!(output.status.success(), "{}", text(&output));
    let mut server = ServerProcess::start(
        free_port(),
        &restored_env,
        &work.path().join("restored.log"),
    )
    .await;
    let store = KeyStore::load(Path::new(&keys)).unwrap();
    for (code, fingerprint, license) in &answered {
        let (status, again) = try_activate(&http, &server.url, code, fingerprint)
            .await
            .unwrap();
        assert_eq!(status, 200, "{code} is not bound in the restored database");
        assert_eq!(&again, license, "{code}: another license after the restore");
        koolicense::license_file::verify(
            license,
            &store,
            Some(fingerprint),
            chrono::Utc::now(),
            Duration::from_secs(60),
        )
        .unwrap_or_else(|e| panic!("{code}: {e}"));
    }
    // A second restore over the restored database needs --force, and keeps what it replaces.
    server.terminate(Duration::from_secs(10)).await.unwrap();
    let output = koolicense(&["restore", "--from", backup_str], &restored_env).await;
    assert!(!output.status.success());
    assert!(text(&output).contains("--force"), "{}", text(&output));
    let output = koolicense(&["restore", "--from", backup_str, "--force"], &restored_env).await;
    assert!(output.status.success(), "{}", text(&output));
    assert!(
        restored
            .path()
            .join("koolicense.db.before-restore")
            .exists()
    );
}

#[actix_web::test]
async fn a_file_that_is_not_a_backup_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, b"not a database at all, just some bytes").unwrap();
    let target = dir.path().join("koolicense.db");
    let url = format!("sqlite://{}", target.display());
    let env = [("KOOLICENSE_DATABASE_URL", url.as_str())];
    let output = koolicense(&["restore", "--from", junk.to_str().unwrap()], &env).await;
    assert!(!output.status.success());
    assert!(
        text(&output).contains("not a usable backup"),
        "{}",
        text(&output)
    );
    assert!(!target.exists(), "a refused restore wrote the database");

    // An SQLite file that is not koolicense's.
    let other = dir.path().join("other.db");
    let mut conn = koolicense::db::connect(
        &koolicense::db::DatabaseUrl::parse(&format!("sqlite://{}", other.display())).unwrap(),
    )
    .unwrap();
    diesel::connection::SimpleConnection::batch_execute(&mut conn, "CREATE TABLE t (x INTEGER)")
        .unwrap();
    drop(conn);
    let output = koolicense(&["restore", "--from", other.to_str().unwrap()], &env).await;
    assert!(!output.status.success());
    assert!(
        text(&output).contains("not a koolicense database"),
        "{}",
        text(&output)
    );
    assert!(!target.exists());

    // A backup never overwrites a file.
    let output = koolicense(&["backup", "--out", junk.to_str().unwrap()], &env).await;
    assert!(!output.status.success());
}

#[actix_web::test]
async fn on_postgres_backup_says_what_to_run() {
    let db = TestDatabase::create(Backend::Postgres);
    let env = [("KOOLICENSE_DATABASE_URL", db.url.as_str())];
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("x.backup");
    let output = koolicense(&["backup", "--out", file.to_str().unwrap()], &env).await;
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output).contains("pg_dump"), "{}", text(&output));
    assert!(!file.exists());
}
