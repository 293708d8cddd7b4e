//! The accept loops are ours (see `src/http_limits/server.rs`), so is stopping: SIGTERM stops
//! accepting, closes idle connections, answers what is open, and exits 0.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::both_backends;
use crate::helpers::TestDatabase;
use crate::process::{ServerProcess, free_port};

both_backends!(@backend sigterm_closes_idle_connections_and_exits_0, |backend| async move {
    // Arrange: a server with one kept-alive connection, idle after its answer.
    let db = TestDatabase::create(backend);
    let keys = tempfile::tempdir().unwrap();
    let log = keys.path().join("serve.log");
    let keys_dir = keys.path().display().to_string();
    let env = [
        ("KOOLICENSE_DATABASE_URL", db.url.as_str()),
        ("KOOLICENSE_KEYS_DIR", keys_dir.as_str()),
        ("KOOLICENSE_WORKER", "false"),
        ("KOOLICENSE_KEEP_ALIVE_SECS", "60"),
    ];
    let mut server = ServerProcess::start(free_port(), &env, &log).await;
    let mut idle = TcpStream::connect(server.url.trim_start_matches("http://")).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut buf = [0u8; 1024];
    let n = idle.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&buf[..n]));

    // Act
    let status = server.terminate(Duration::from_secs(10)).await;

    // Assert: gone well before the keep-alive time, cleanly, the idle connection closed.
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    let eof = tokio::time::timeout(Duration::from_secs(1), idle.read(&mut buf)).await;
    assert!(matches!(eof, Ok(Ok(0) | Err(_))), "{eof:?}");
});
