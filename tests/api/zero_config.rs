//! `koolicense serve` in an empty directory with no configuration: SQLite file, development key,
//! a warning, and a working server.

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::process::free_port;

#[actix_web::test]
async fn serve_with_no_configuration_creates_its_database_and_a_development_key() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_koolicense"));
    command
        .arg("serve")
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    for (name, _) in std::env::vars().filter(|(k, _)| k.starts_with("KOOLICENSE_")) {
        command.env_remove(name);
    }
    // The only setting: a free port instead of 8080, which another program may hold.
    command.env("KOOLICENSE_LISTEN", format!("127.0.0.1:{port}"));
    let log = dir.path().join("stderr.log");
    command.stderr(std::fs::File::create(&log).unwrap());
    let mut child = command.spawn().unwrap();

    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = http
            .get(format!("http://127.0.0.1:{port}/readyz"))
            .send()
            .await
        {
            if r.status() == 200 {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "not ready: {}",
            std::fs::read_to_string(&log).unwrap()
        );
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    let keys: serde_json::Value = http
        .get(format!("http://127.0.0.1:{port}/v1/keys"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kid = keys["keys"][0]["kid"].as_str().unwrap().to_owned();
    let _ = child.kill();
    let _ = child.wait();

    assert!(dir.path().join("koolicense.db").is_file());
    let key_file = dir.path().join("keys").join(format!("{kid}.key"));
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "private key mode");
    let stderr = std::fs::read_to_string(&log).unwrap();
    assert!(stderr.contains("development signing key"), "{stderr}");
    assert!(
        !stderr.contains(
            &std::fs::read_to_string(&key_file)
                .unwrap()
                .trim()
                .to_owned()
        ),
        "key leaked"
    );
}
