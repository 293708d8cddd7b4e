//! `KOOLICENSE_TRUSTED_PROXIES`: behind a trusted load balancer each client has its own limits;
//! from anyone else, forwarded headers are ignored.

use serde_json::json;

use super::{Client, Reply, from_address, machine, reply, start_with};
use crate::both_backends;

const LIMIT: (&str, &str) = ("KOOLICENSE_UNKNOWN_CODE_LIMIT_PER_HOUR", "2");

/// A check-in of a code nobody knows, with `headers`, from `http`.
async fn guess_via(client: &Client, http: &reqwest::Client, headers: &[(&str, &str)]) -> Reply {
    let body = json!({"code": "PLGUESS0000001", "fingerprint": machine(1)});
    reply(client.post_with(http, "/v1/check-in", &body, headers).await).await
}

async fn guess(client: &Client, forwarded_for: &str) -> Reply {
    guess_via(
        client,
        &client.app.client,
        &[("X-Forwarded-For", forwarded_for)],
    )
    .await
}

fn allowed(answer: &Reply) -> bool {
    match (answer.status, answer.code()) {
        (200, _) if answer.body["status"] == "NOT_ACTIVATED" => true,
        (429, "RATE_LIMITED") => false,
        _ => panic!("unexpected answer {answer:?}"),
    }
}

both_backends!(@backend forwarded_headers_are_ignored_unless_the_peer_is_trusted, |backend| async move {
    let client = start_with(backend, &[LIMIT]).await;

    // Each guess claims another client, in both headers.
    let answers = [
        guess(&client, "203.0.113.1").await,
        guess(&client, "203.0.113.2").await,
        guess_via(&client, &client.app.client, &[
            ("X-Forwarded-For", "203.0.113.3"),
            ("Forwarded", "for=203.0.113.4"),
        ])
        .await,
    ];

    let allowed: Vec<bool> = answers.iter().map(allowed).collect();
    assert_eq!(allowed, [true, true, false], "spoofing escaped the limit");
});

both_backends!(@backend a_trusted_proxy_gives_each_forwarded_client_its_own_budget, |backend| async move {
    let proxies = ("KOOLICENSE_TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/8");
    let client = start_with(backend, &[LIMIT, proxies]).await;

    // Client A spends its budget.
    assert!(allowed(&guess(&client, "203.0.113.1").await));
    assert!(allowed(&guess(&client, "203.0.113.1").await));
    assert!(!allowed(&guess(&client, "203.0.113.1").await));

    // Client B, behind the same proxy, is not locked out.
    assert!(allowed(&guess(&client, "203.0.113.2").await));
    // A spoofed left-most entry does not make A another client; proxies on the way are skipped.
    assert!(!allowed(&guess(&client, "198.51.100.7, 203.0.113.1").await));
    assert!(!allowed(&guess(&client, "203.0.113.1, 10.0.0.5").await));
    // Nor is the spoofed entry taken as the client: the right-most untrusted one is.
    assert!(allowed(&guess(&client, "203.0.113.1, 203.0.113.3").await));
    // Garbage the client wrote to the left is ignored too.
    assert!(!allowed(&guess(&client, "not-an-address, 203.0.113.1").await));

    // IPv6 clients are limited per /64.
    assert!(allowed(&guess(&client, "2001:db8:0:1::1").await));
    assert!(allowed(&guess(&client, "2001:db8:0:1::2").await));
    assert!(!allowed(&guess(&client, "2001:db8:0:1::3").await));
    assert!(allowed(&guess(&client, "2001:db8:0:2::1").await));

    // The header of a peer that is not trusted is ignored: it counts as itself.
    let untrusted = from_address("127.0.0.2");
    for (forwarded_for, expected) in [("203.0.113.50", true), ("203.0.113.51", true), ("203.0.113.52", false)] {
        let answer = guess_via(&client, &untrusted, &[("X-Forwarded-For", forwarded_for)]).await;
        assert_eq!(allowed(&answer), expected, "{forwarded_for}");
    }
});

both_backends!(@backend the_forwarded_header_is_read_when_configured, |backend| async move {
    let settings = [
        LIMIT,
        ("KOOLICENSE_TRUSTED_PROXIES", "127.0.0.1"),
        ("KOOLICENSE_FORWARDED_HEADER", "forwarded"),
    ];
    let client = start_with(backend, &settings).await;
    let http = &client.app.client;
    let from = |value: &'static str| [("Forwarded", value)];

    assert!(allowed(&guess_via(&client, http, &from("for=203.0.113.1;proto=https")).await));
    assert!(allowed(&guess_via(&client, http, &from("for=203.0.113.1")).await));
    assert!(!allowed(&guess_via(&client, http, &from("for=\"203.0.113.1:5000\"")).await));
    assert!(allowed(&guess_via(&client, http, &from("for=\"[2001:db8::1]:443\"")).await));
    // In this mode X-Forwarded-For is what a client could have set: not read.
    let spoofed = [("Forwarded", "for=203.0.113.1"), ("X-Forwarded-For", "203.0.113.9")];
    assert!(!allowed(&guess_via(&client, http, &spoofed).await));
});
