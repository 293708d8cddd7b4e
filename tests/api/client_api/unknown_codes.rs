//! The unknown-code limit against enumeration: once an address has spent its budget, no answer
//! tells a real code from a guess, and simultaneous guesses cannot make more marketplace calls
//! than the limit.

use futures_util::future::join_all;
use serde_json::{Value, json};

use super::{Client, from_address, machine, reply, start_with};
use crate::both_backends;

/// An answer as a client sees it, but for what differs between any two requests (`date`,
/// `x-request-id`).
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

async fn seen(client: &Client, path: &str, body: &Value) -> Seen {
    let response = client.app.post_json(path, body).await;
    let status = response.status().as_u16();
    let mut headers: Vec<(String, String)> = response
        .headers()
        .iter()
        .filter(|(name, _)| !matches!(name.as_str(), "date" | "x-request-id"))
        .map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_owned()))
        .collect();
    headers.sort();
    let body = response.text().await.unwrap();
    Seen {
        status,
        headers,
        body,
    }
}

/// The answer to `real`, asked between two asks of `guess` that got the same answer. Whatever
/// depends on time only (`Retry-After`) moves one way, so the answer in the middle must be
/// theirs too; a pair straddling a second is asked again.
async fn between_guesses(client: &Client, path: &str, real: &Value, guess: &Value) -> (Seen, Seen) {
    for _ in 0..5 {
        let before = seen(client, path, guess).await;
        let middle = seen(client, path, real).await;
        let after = seen(client, path, guess).await;
        if before == after {
            return (middle, before);
        }
    }
    panic!("two guesses in a row never got the same answer on {path}");
}

both_backends!(@backend a_blocked_address_gets_the_same_answer_for_real_codes_and_guesses, |backend| async move {
    // Arrange: a real, bound code, and an address that spent its budget on two guesses.
    let client = start_with(backend, &[("KOOLICENSE_UNKNOWN_CODE_LIMIT_PER_HOUR", "2")]).await;
    client.add_code("PLREAL00000001", 2).await;
    assert_eq!(client.activate("PLREAL00000001", &machine(1)).await.status, 201);
    assert_eq!(client.activate("PLGUESS0000001", &machine(1)).await.status, 404);
    let second = client.check_in("PLGUESS0000002", &machine(1)).await;
    assert_eq!(second.body["status"], "NOT_ACTIVATED");

    for path in ["/v1/activate", "/v1/check-in", "/v1/deactivate"] {
        // Act
        let real = json!({"code": "PLREAL00000001", "fingerprint": machine(1)});
        let guess = json!({"code": "PLGUESS0000009", "fingerprint": machine(1)});
        let (for_real, for_guess) = between_guesses(&client, path, &real, &guess).await;

        // Assert: byte for byte the same refusal.
        assert_eq!(for_real, for_guess, "{path}");
        assert_eq!(for_real.status, 429, "{path}: {}", for_real.body);
        assert!(for_real.body.contains("RATE_LIMITED"), "{}", for_real.body);
        let retry_after = &for_real.headers.iter().find(|(n, _)| n == "retry-after").unwrap().1;
        assert!(retry_after.parse::<u64>().unwrap() >= 60, "{retry_after}");
    }
    // Nothing was done for the real code, nothing asked for the guess.
    assert_eq!(client.live("PLREAL00000001"), 1);
    assert_eq!(client.sim_calls("activate", "PLGUESS0000009").await, 0);

    // Another address is not affected.
    let elsewhere = from_address("127.0.0.2");
    let body = json!({"code": "PLREAL00000001", "fingerprint": machine(1)});
    let checked = reply(client.post_with(&elsewhere, "/v1/check-in", &body, &[]).await).await;
    assert_eq!(checked.body["status"], "VALID");
    let body = json!({"code": "PLGUESS0000009", "fingerprint": machine(1)});
    let guessed = reply(client.post_with(&elsewhere, "/v1/activate", &body, &[]).await).await;
    assert_eq!((guessed.status, guessed.code()), (404, "CODE_NOT_FOUND"));
});

both_backends!(@backend simultaneous_guesses_make_no_more_marketplace_calls_than_the_limit, |backend| async move {
    // Arrange: KooGallery answers slowly, so that every activation is in flight at once.
    let client = start_with(backend, &[("KOOLICENSE_UNKNOWN_CODE_LIMIT_PER_HOUR", "5")]).await;
    let slow = json!({"api": "activate", "kind": "delay_ms", "delay_ms": 500, "count": 60});
    client.sim_post("/sim/faults", &slow).await;

    // Act: 60 activations of 60 codes nobody knows.
    let answers = join_all(
        (0..60).map(|n| {
            let (code, fingerprint) = (format!("PLGUESS{n:07}"), machine(n));
            let client = &client;
            async move { client.activate(&code, &fingerprint).await }
        }),
    )
    .await;

    // Assert
    let calls = client.sim.get("/sim/calls?api=activate").await["calls"].as_array().unwrap().len();
    assert!((1..=5).contains(&calls), "{calls} activate calls reached KooGallery");
    let not_found = answers.iter().filter(|a| (a.status, a.code()) == (404, "CODE_NOT_FOUND"));
    let limited = answers.iter().filter(|a| (a.status, a.code()) == (429, "RATE_LIMITED"));
    assert_eq!((not_found.count(), limited.count()), (calls, 60 - calls), "{answers:?}");
    assert_eq!(client.rows(), (0, 0, 0, 0));
});

both_backends!(@backend first_activations_of_real_codes_cost_no_budget, |backend| async move {
    let client = start_with(backend, &[("KOOLICENSE_UNKNOWN_CODE_LIMIT_PER_HOUR", "2")]).await;
    for n in 0..4 {
        client.add_code(&format!("PLREAL0000000{n}"), 1).await;
    }
    // A code KooGallery knows but its buyer has not claimed exists too.
    client
        .sim_post("/sim/codes", &json!({"code": "PLUNCLAIMED001", "amount": 1, "claimed": false}))
        .await;

    for n in 0..4 {
        let first = client.activate(&format!("PLREAL0000000{n}"), &machine(n)).await;
        assert_eq!(first.status, 201, "{:?}", first.body);
    }
    let unclaimed = client.activate("PLUNCLAIMED001", &machine(1)).await;
    assert_eq!((unclaimed.status, unclaimed.code()), (409, "CODE_NOT_CLAIMED"));

    // The whole budget is left for guesses.
    assert_eq!(client.activate("PLGUESS0000001", &machine(1)).await.status, 404);
    assert_eq!(client.deactivate("PLGUESS0000002", &machine(1)).await.status, 404);
    let third = client.check_in("PLGUESS0000003", &machine(1)).await;
    assert_eq!((third.status, third.code()), (429, "RATE_LIMITED"));
});
