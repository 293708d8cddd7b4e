//! The HTTP edge under hostile clients (issue 11): `/metrics` labels from closed sets, requests
//! bounded in time from their first byte, and a server under a low file-descriptor limit that
//! keeps serving while slow clients flood it.

mod fd_limit;
mod labels;
mod shutdown;
mod slow;

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A request head for `path` promising a body of `length` bytes that will come slowly, if at
/// all.
pub fn slow_body_head(path: &str, length: usize) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Length: {length}\r\n\r\n"
    )
}

/// What a slow client saw of the server.
#[derive(Debug)]
pub struct Cutoff {
    /// Everything the server sent.
    pub received: String,
    /// Whether the server closed (EOF or reset) before the client gave up.
    pub closed: bool,
    /// When, from the start of the drip.
    pub after: Duration,
}

/// Sends `drip` one byte every `interval` (then spaces; nothing when `drip` is empty) until the
/// server closes the connection or `give_up` has passed; collects what the server sent.
pub async fn drip_until_closed(
    mut stream: TcpStream,
    drip: &[u8],
    interval: Duration,
    give_up: Duration,
) -> Cutoff {
    let started = Instant::now();
    let mut received = Vec::new();
    let mut next = 0;
    let mut buf = [0u8; 4096];
    let mut closed = false;
    let mut next_drip = started + interval;
    while started.elapsed() < give_up {
        let until = next_drip.min(started + give_up);
        match tokio::time::timeout_at(until.into(), stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => {
                closed = true;
                break;
            }
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
            Err(_) if Instant::now() >= next_drip && !drip.is_empty() => {
                let byte = drip.get(next).copied().unwrap_or(b' ');
                next += 1;
                next_drip += interval;
                if stream.write_all(&[byte]).await.is_err() {
                    closed = true;
                    break;
                }
            }
            Err(_) => {}
        }
    }
    Cutoff {
        received: String::from_utf8_lossy(&received).into_owned(),
        closed,
        after: started.elapsed(),
    }
}

/// The address of a test server's URL (`http://127.0.0.1:PORT`).
pub fn socket_addr(url: &str) -> String {
    url.trim_start_matches("http://").to_owned()
}
