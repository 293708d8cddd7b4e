//! Settings that startup would act on blindly: a huge pool size made r2d2 reserve room for four
//! billion connections, and the process aborted without a word about the variable.

use std::os::unix::process::ExitStatusExt;
use std::process::Command;

#[test]
fn a_pool_size_the_server_cannot_hold_is_refused_by_name() {
    // Arrange
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("k.db").display());

    // Act
    let mut command = Command::new(env!("CARGO_BIN_EXE_koolicense"));
    for (name, _) in std::env::vars().filter(|(k, _)| k.starts_with("KOOLICENSE_")) {
        command.env_remove(name);
    }
    let output = command
        .arg("migrate")
        .env("KOOLICENSE_DATABASE_URL", &database)
        .env("KOOLICENSE_DB_POOL_SIZE", "4294967295")
        .current_dir(dir.path())
        .output()
        .unwrap();

    // Assert: an ordinary failure that names the variable, and no database was made.
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.signal(), None, "killed by a signal: {stderr}");
    assert!(!output.status.success());
    assert!(
        stderr.contains("KOOLICENSE_DB_POOL_SIZE: must be between 1 and 1000"),
        "{stderr}"
    );
    assert!(!dir.path().join("k.db").exists());
}
