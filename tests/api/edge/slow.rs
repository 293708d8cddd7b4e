//! Finding 2, time: a request must arrive whole within `KOOLICENSE_REQUEST_TIMEOUT_MS` of its
//! first byte (of the connection's opening, for the first request), or its connection is
//! closed, after a 408 where one can still be sent. Idle keep-alive connections close too.

use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{drip_until_closed, slow_body_head, socket_addr};
use crate::both_backends;
use crate::helpers::{Backend, TestApp, spawn_app_with};

const TIMEOUT_MS: &str = "1500";
const DEADLINE: Duration = Duration::from_millis(1500);
/// How long past the deadline a client waits for the server to close: a liveness bound.
const GRACE: Duration = Duration::from_secs(3);
const DRIP: Duration = Duration::from_secs(1);

async fn spawn(backend: Backend) -> TestApp {
    spawn_app_with(backend, &[("KOOLICENSE_REQUEST_TIMEOUT_MS", TIMEOUT_MS)]).await
}

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(socket_addr(&app.address)).await.unwrap()
}

async fn metrics(app: &TestApp) -> String {
    app.get("/metrics").await.text().await.unwrap()
}

/// `/metrics` once it shows `line` (a connection is counted closed only once its task ended,
/// which may be a moment after the client saw it close); the last text otherwise.
async fn metrics_showing(app: &TestApp, line: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    loop {
        let text = metrics(app).await;
        if text.contains(line) || std::time::Instant::now() > deadline {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

both_backends!(@backend a_body_sent_one_byte_a_second_is_cut_off_at_the_deadline, |backend| async move {
    // Arrange
    let app = spawn(backend).await;
    let mut stream = connect(&app).await;
    stream.write_all(slow_body_head("/v1/activate", 200).as_bytes()).await.unwrap();

    // Act
    let cut = drip_until_closed(stream, br#"{"code": "PL"#, DRIP, DEADLINE + GRACE).await;

    // Assert: a 408 in the API's error shape, then the connection closed (and released).
    assert!(cut.closed, "still open after {:?}: {:?}", cut.after, cut.received);
    assert!(cut.after + Duration::from_millis(300) >= DEADLINE, "cut after {:?}", cut.after);
    assert!(cut.received.starts_with("HTTP/1.1 408"), "{:?}", cut.received);
    assert!(cut.received.contains(r#""code":"REQUEST_TIMEOUT""#), "{:?}", cut.received);
    let open = "koolicense_http_connections_open 1\n";
    let text = metrics_showing(&app, open).await;
    assert!(text.contains(r#"koolicense_http_request_timeouts_total{phase="body"} 1"#), "{text}");
    assert!(
        text.contains(r#"koolicense_http_requests_total{method="POST",route="/v1/activate",status="408"} 1"#),
        "{text}"
    );
    // Only the connection asking for /metrics is still open.
    assert!(text.contains(open), "{text}");
});

both_backends!(@backend a_first_head_sent_slowly_is_answered_408_at_the_deadline, |backend| async move {
    let app = spawn(backend).await;
    let stream = connect(&app).await;

    let cut = drip_until_closed(stream, b"GET /healthz HTTP/1.1\r\nHost: x\r\n", DRIP, DEADLINE + GRACE).await;

    assert!(cut.closed, "still open after {:?}: {:?}", cut.after, cut.received);
    assert!(cut.received.starts_with("HTTP/1.1 408"), "{:?}", cut.received);
    let text = metrics(&app).await;
    assert!(text.contains(r#"koolicense_http_request_timeouts_total{phase="head"} 1"#), "{text}");
});

both_backends!(@backend a_later_head_sent_slowly_on_a_kept_alive_connection_is_closed, |backend| async move {
    // Arrange: one request answered on the connection, which stays open (keep-alive).
    let app = spawn(backend).await;
    let mut stream = connect(&app).await;
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut first = [0u8; 1024];
    let n = stream.read(&mut first).await.unwrap();
    assert!(first[..n].starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&first[..n]));

    // Act: the next request's head, one byte a second.
    let cut = drip_until_closed(stream, b"GET /healthz HTTP/1.1\r\nHost: x\r\n", DRIP, DEADLINE + GRACE).await;

    // Assert: closed (no answer: the codec may still hold part of the previous response).
    assert!(cut.closed, "still open after {:?}: {:?}", cut.after, cut.received);
    let text = metrics(&app).await;
    assert!(text.contains(r#"koolicense_http_request_timeouts_total{phase="head"} 1"#), "{text}");
});

both_backends!(@backend an_idle_kept_alive_connection_is_closed_after_the_keep_alive_time, |backend| async move {
    let app = spawn_app_with(backend, &[("KOOLICENSE_KEEP_ALIVE_SECS", "1")]).await;
    let mut stream = connect(&app).await;
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();

    // Nothing more is sent: the server closes once the keep-alive time has passed.
    let idle = drip_until_closed(stream, b"", Duration::from_secs(10), Duration::from_millis(3500)).await;

    assert!(idle.closed, "still open after {:?}", idle.after);
    assert!(idle.received.starts_with("HTTP/1.1 200"), "{:?}", idle.received);
});

both_backends!(@backend a_body_arriving_in_pieces_within_the_deadline_is_served, |backend| async move {
    let app = spawn(backend).await;
    let body = r#"{"activity": "newInstance", "testFlag": "1"}"#;
    let mut stream = connect(&app).await;
    let head = slow_body_head("/koogallery/license", body.len());
    stream.write_all(head.as_bytes()).await.unwrap();
    let (first, rest) = body.split_at(10);
    stream.write_all(first.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    stream.write_all(rest.as_bytes()).await.unwrap();

    let answer = drip_until_closed(stream, b"", Duration::from_secs(10), Duration::from_secs(1)).await;

    // Unsigned, so refused: but by the production interface, not by the deadline.
    assert!(answer.received.starts_with("HTTP/1.1 200"), "{:?}", answer.received);
    assert!(answer.received.contains(r#""resultCode":"000001""#), "{:?}", answer.received);
});

both_backends!(@backend a_slow_marketplace_does_not_count_against_the_request_deadline, |backend| async move {
    // Arrange: KooGallery answers the activation after 1.2 s; requests must arrive in 0.5 s.
    let client = crate::client_api::start_with(backend, &[("KOOLICENSE_REQUEST_TIMEOUT_MS", "500")]).await;
    client.add_code("PLEDGESLOW0001", 1).await;
    client
        .sim_post("/sim/faults", &json!({"api": "activate", "kind": "delay_ms", "delay_ms": 1200}))
        .await;

    // Act
    let answer = client.activate("PLEDGESLOW0001", &crate::client_api::machine(1)).await;

    // Assert: the deadline bounds receiving the request, not answering it.
    assert_eq!(answer.status, 201, "{:?}", answer.body);
});
