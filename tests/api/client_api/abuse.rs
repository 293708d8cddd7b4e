//! Per-address rate limits on the client API: `429 RATE_LIMITED` with `Retry-After`.

use super::{machine, reply, start_with};
use crate::both_backends;

both_backends!(@backend the_per_address_limit_answers_429_with_retry_after, |backend| async move {
    let client = start_with(backend, &[("KOOLICENSE_RATE_LIMIT_PER_MINUTE", "5")]).await;

    let mut answers = Vec::new();
    for _ in 0..5 {
        answers.push(reply(client.app.get("/v1/keys").await).await);
    }
    let limited = client.check_in("PLANY000000001", &machine(1)).await;

    assert!(answers.iter().all(|a| a.status == 200), "{answers:?}");
    assert_eq!((limited.status, limited.code()), (429, "RATE_LIMITED"));
    let wait: u64 = limited.retry_after.as_deref().unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    // Other routes are not limited.
    assert_eq!(client.app.get("/healthz").await.status(), 200);
});

both_backends!(@backend unknown_codes_hit_a_stricter_limit, |backend| async move {
    let client = start_with(backend, &[("KOOLICENSE_UNKNOWN_CODE_LIMIT_PER_HOUR", "2")]).await;
    client.add_code("PLREAL00000001", 1).await;
    assert_eq!(client.activate("PLREAL00000001", &machine(1)).await.status, 201);

    let first = client.activate("PLGUESS0000001", &machine(1)).await;
    let second = client.check_in("PLGUESS0000002", &machine(1)).await;
    let third = client.activate("PLGUESS0000003", &machine(1)).await;
    let fourth = client.activate("PLGUESS0000004", &machine(1)).await;

    assert_eq!((first.status, first.code()), (404, "CODE_NOT_FOUND"));
    assert_eq!(second.body["status"], "NOT_ACTIVATED");
    for limited in [&third, &fourth] {
        assert_eq!((limited.status, limited.code()), (429, "RATE_LIMITED"), "{:?}", limited.body);
        let wait: u64 = limited.retry_after.as_deref().unwrap().parse().unwrap();
        assert!(wait >= 60, "{wait}");
    }
    // While blocked, new codes are not even looked up.
    assert_eq!(client.sim_calls("activate", "PLGUESS0000004").await, 0);
    // Codes we know get the same refusal meanwhile (see `unknown_codes`).
    let known = client.check_in("PLREAL00000001", &machine(1)).await;
    assert_eq!((known.status, known.code()), (429, "RATE_LIMITED"));
});
