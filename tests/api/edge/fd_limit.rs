//! Finding 2, connections: a server started under a low file-descriptor limit, flooded by more
//! slow clients than it has descriptors, keeps answering `GET /healthz` and never runs out of
//! descriptors; once the flood stops, its connections are released.

use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::slow_body_head;
use crate::both_backends;
use crate::helpers::TestDatabase;
use crate::process::{ServerProcess, free_port};

const FD_LIMIT: u32 = 256;
/// More slow clients than the server has descriptors.
const ATTACKERS: usize = 300;
const PROBES: usize = 5;
/// A liveness bound for each probe, not a speed target.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// One slow client: a request body at one byte a second, again whenever it is cut off. It
/// calls the production interface, which no per-address limit guards (a client-API flood
/// would mostly be refused by the rate limit, which is not what is tested here).
async fn slow_client(addr: String, stop: Rc<AtomicBool>) {
    let mut buf = [0u8; 1024];
    while !stop.load(Ordering::Relaxed) {
        let connected =
            tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(&addr)).await;
        let Ok(Ok(mut stream)) = connected else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        if stream
            .write_all(slow_body_head("/koogallery/license", 1000).as_bytes())
            .await
            .is_err()
        {
            continue;
        }
        while !stop.load(Ordering::Relaxed) {
            match tokio::time::timeout(Duration::from_secs(1), stream.read(&mut buf)).await {
                Ok(Ok(0) | Err(_)) => break,
                Ok(Ok(_)) => {}
                Err(_) => {
                    if stream.write_all(b"x").await.is_err() {
                        break;
                    }
                }
            }
        }
    }
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count)
}

both_backends!(@backend a_server_under_a_low_fd_limit_keeps_answering_while_slow_clients_flood_it, |backend| async move {
    // Arrange: a server with 256 descriptors and a short request deadline.
    let db = TestDatabase::create(backend);
    let keys = tempfile::tempdir().unwrap();
    let log = keys.path().join("serve.log");
    let keys_dir = keys.path().display().to_string();
    let env = [
        ("KOOLICENSE_DATABASE_URL", db.url.as_str()),
        ("KOOLICENSE_KEYS_DIR", keys_dir.as_str()),
        ("KOOLICENSE_WORKER", "false"),
        ("KOOLICENSE_REQUEST_TIMEOUT_MS", "1000"),
    ];
    let server = ServerProcess::start_with_fd_limit(free_port(), &env, &log, FD_LIMIT).await;
    let baseline = open_fds(server.pid());
    let probe = reqwest::Client::builder()
        .timeout(PROBE_TIMEOUT)
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();

    // Act: the flood, then plain requests while it goes on.
    let stop = Rc::new(AtomicBool::new(false));
    let addr = server.url.trim_start_matches("http://").to_owned();
    let flood: Vec<_> = (0..ATTACKERS)
        .map(|_| actix_web::rt::spawn(slow_client(addr.clone(), Rc::clone(&stop))))
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (mut answers, mut during) = (Vec::new(), 0);
    for _ in 0..PROBES {
        let started = Instant::now();
        let answer = probe.get(format!("{}/healthz", server.url)).send().await;
        answers.push((answer.map(|r| r.status().as_u16()).map_err(|e| e.to_string()), started.elapsed()));
        during = during.max(open_fds(server.pid()));
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for client in flood {
        let _ = client.await;
    }

    // Assert: every probe answered; no descriptor ran out; the flood's connections released.
    assert!(answers.iter().all(|(a, _)| a.as_ref().is_ok_and(|s| *s == 200)), "{answers:?}");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains("Too many open files"), "{text}");
    assert!(during > baseline + 20, "the flood held {during} descriptors against {baseline} idle");
    // A connection's socket is closed when it stops being counted open; only the connection
    // asking is left (database connections the pool opened meanwhile may stay).
    let released = Instant::now() + Duration::from_secs(5);
    let mut metrics = String::new();
    while Instant::now() < released {
        metrics = probe.get(format!("{}/metrics", server.url)).send().await.unwrap().text().await.unwrap();
        if metrics.contains("koolicense_http_connections_open 1\n") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(metrics.contains("koolicense_http_connections_open 1\n"), "{metrics}");
});
