//! Bodies over 64 kibibytes: HTTP 413 with the production interface's JSON answer and `Body-Sign`,
//! decided from `Content-Length` before reading, or while reading a chunked body, and never by
//! reading past the limit.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::both_backends;
use crate::callers::{ACCESS_KEY, LEGACY_KEY, SignedCall};
use crate::helpers::{Backend, TestApp, spawn_app_with};

const LIMIT: usize = 64 * 1024;

async fn app_with_legacy_key(backend: Backend) -> TestApp {
    spawn_app_with(
        backend,
        &[
            ("KOOLICENSE_ACCESS_KEY", ACCESS_KEY),
            ("KOOLICENSE_LEGACY_KEY", LEGACY_KEY),
        ],
    )
    .await
}

/// A signed `newInstance` whose serialised body is exactly `size` bytes.
fn body_of_size(size: usize) -> Value {
    let mut body = json!({"activity": "newInstance", "orderId": "CS-BIG", "orderLineId": "CS-BIG-1",
                          "businessId": "biz-big", "pad": ""});
    let base = serde_json::to_vec(&body).unwrap().len();
    body["pad"] = json!("x".repeat(size - base));
    assert_eq!(serde_json::to_vec(&body).unwrap().len(), size);
    body
}

/// Checks a 413 answer: the JSON result, the limit named, `Body-Sign` over the exact bytes.
fn assert_refused(status: u16, body: &[u8], body_sign: Option<&str>) {
    assert_eq!(status, 413, "{}", String::from_utf8_lossy(body));
    let json: Value = serde_json::from_slice(body).expect("a JSON body");
    assert_eq!(json["resultCode"], "000002", "{json}");
    assert!(
        json["resultMsg"].as_str().unwrap().contains("65536"),
        "{json}"
    );
    let header = body_sign.expect("Body-Sign header");
    assert!(koolicense::koogallery::auth::verify_body_sign(
        LEGACY_KEY, body, header
    ));
}

/// Writes `head` (and `body`) on a raw connection and reads the answer, which must come within
/// 5 s although the request is never completed. Returns (status, Body-Sign, body).
async fn raw_exchange(app: &TestApp, head: &str, body: &[u8]) -> (u16, Option<String>, Vec<u8>) {
    let address = app.address.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    // The server may stop reading (and close) before all of this is written.
    let _ = stream.write_all(body).await;
    let mut received = Vec::new();
    let read = async {
        let mut buf = [0_u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
            if complete(&received) {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .expect("an answer within 5 s, not a wait for the rest of the body");
    parse_response(&received)
}

fn split_head(raw: &[u8]) -> Option<(&str, &[u8])> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    Some((std::str::from_utf8(&raw[..end]).ok()?, &raw[end + 4..]))
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn complete(raw: &[u8]) -> bool {
    split_head(raw).is_some_and(|(head, body)| {
        header(head, "content-length")
            .and_then(|n| n.parse::<usize>().ok())
            .is_some_and(|n| body.len() >= n)
    })
}

fn parse_response(raw: &[u8]) -> (u16, Option<String>, Vec<u8>) {
    let (head, body) = split_head(raw).expect("an HTTP answer");
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let length = header(head, "content-length").map_or(body.len(), |n| n.parse().unwrap());
    (
        status,
        header(head, "body-sign").map(str::to_owned),
        body[..length].to_vec(),
    )
}

both_backends!(@backend a_body_over_64_kib_answers_413_as_json_with_body_sign, |backend| async move {
    let app = app_with_legacy_key(backend).await;
    let big = body_of_size(LIMIT + 1);
    let call = SignedCall::new(&big);
    let answer = app.raw_callback(&call.query(), serde_json::to_vec(&big).unwrap()).await;
    assert_refused(answer.status, &answer.raw, answer.body_sign.as_deref());
    // Exactly at the limit the call is served.
    let fits = body_of_size(LIMIT);
    let answer = app.send(&SignedCall::new(&fits)).await;
    assert_eq!((answer.status, answer.code()), (200, "000000"), "{:?}", answer.body);
});

both_backends!(@backend a_declared_length_over_the_limit_is_refused_before_the_body_is_sent, |backend| async move {
    let app = app_with_legacy_key(backend).await;
    let head = "POST /koogallery/license?signature=x&timestamp=1&nonce=n HTTP/1.1\r\n\
                Host: 127.0.0.1\r\nContent-Type: application/json\r\n\
                Content-Length: 10485760\r\n\r\n";
    let (status, body_sign, body) = raw_exchange(&app, head, b"").await;
    assert_refused(status, &body, body_sign.as_deref());
});

both_backends!(@backend a_chunked_body_is_refused_once_it_passes_the_limit, |backend| async move {
    let app = app_with_legacy_key(backend).await;
    let head = "POST /koogallery/license?signature=x&timestamp=1&nonce=n HTTP/1.1\r\n\
                Host: 127.0.0.1\r\nContent-Type: application/json\r\n\
                Transfer-Encoding: chunked\r\n\r\n";
    // 80 KiB in 16 KiB chunks, and no final chunk: the body never ends.
    let mut chunks = Vec::new();
    for _ in 0..5 {
        chunks.extend_from_slice(format!("{:x}\r\n", 16 * 1024).as_bytes());
        chunks.extend_from_slice(&[b'x'; 16 * 1024]);
        chunks.extend_from_slice(b"\r\n");
    }
    let (status, body_sign, body) = raw_exchange(&app, head, &chunks).await;
    assert_refused(status, &body, body_sign.as_deref());
    assert_eq!(app.production_rows(), (0, 0, 0, 0, 0));
});
