//! A Scheme-B nonce is spent by the first call that carries it, whatever that call was answered,
//! and before anything else happens: a byte-identical replay answers `000001` and queries
//! nothing from KooGallery.

use serde_json::{Value, json};

use crate::both_backends;
use crate::callers::SignedCall;
use crate::helpers::{Backend, TestApp, spawn_app_with};
use crate::marketplace::{Marketplace, SIM_AK, SIM_SK};

/// A server using the simulator as its marketplace, without the background worker, so every
/// order query the simulator sees was made by a callback. The fallback host refuses
/// connections, so one query is one call the simulator sees (not a second to the fallback).
async fn app_without_worker(backend: Backend) -> (TestApp, Marketplace) {
    let sim = Marketplace::start().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let fallback = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let app = spawn_app_with(
        backend,
        &[
            ("KOOLICENSE_MARKETPLACE_URL", &sim.url),
            ("KOOLICENSE_MARKETPLACE_FALLBACK_URL", &fallback),
            ("KOOLICENSE_APIG_AK", SIM_AK),
            ("KOOLICENSE_APIG_SK", SIM_SK),
            ("KOOLICENSE_WORKER", "false"),
        ],
    )
    .await;
    (app, sim)
}

/// How many order queries for `order` the simulator has answered.
async fn order_queries(sim: &Marketplace, order: &str) -> usize {
    let calls = sim.get("/sim/calls?api=order").await;
    calls["calls"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["order_id"] == order)
        .count()
}

fn new_instance(order: &str, business: &str) -> Value {
    json!({"activity": "newInstance", "orderId": order, "orderLineId": format!("{order}-000001"),
           "businessId": business})
}

both_backends!(@backend a_replayed_get_license_async_that_answered_000004_answers_000001_without_an_order_query, |backend| async move {
    let (app, sim) = app_without_worker(backend).await;
    // KooGallery does not know the order (yet): the quota cannot be read.
    assert_eq!(app.callback(&new_instance("CS-REPLAY", "inst-r")).await.code(), "000000");
    let body = json!({"activity": "getLicenseAsync", "instanceId": "inst-r", "eventId": "e1",
                      "effectiveTime": crate::helpers::license_time(-30), "deviceFingerprint": "AA|BB|CC|DD"});
    let call = SignedCall::new(&body);
    let first = app.send(&call).await;
    assert_eq!(first.code(), "000004", "{:?}", first.body);
    assert_eq!(order_queries(&sim, "CS-REPLAY").await, 1);
    for _ in 0..3 {
        let replay = app.send(&call).await;
        assert_eq!(replay.code(), "000001", "{:?}", replay.body);
    }
    assert_eq!(order_queries(&sim, "CS-REPLAY").await, 1, "a replay must not query the order");
    // KooGallery's own retry carries a new nonce and is served.
    assert_eq!(app.callback(&body).await.code(), "000004");
    assert_eq!(order_queries(&sim, "CS-REPLAY").await, 2);
});

both_backends!(@backend a_replayed_upgrade_that_answered_000004_answers_000001_without_an_order_query, |backend| async move {
    let (app, sim) = app_without_worker(backend).await;
    assert_eq!(app.callback(&new_instance("CS-UPG", "inst-u")).await.code(), "000000");
    let body = json!({"activity": "upgradeInstance", "instanceId": "inst-u", "orderId": "CS-UPG-2",
                      "orderLineId": "CS-UPG-2-000001"});
    let call = SignedCall::new(&body);
    assert_eq!(app.send(&call).await.code(), "000004");
    assert_eq!(app.send(&call).await.code(), "000001");
    assert_eq!(order_queries(&sim, "CS-UPG-2").await, 1);
});

both_backends!(
    a_seen_nonce_answers_000001_whatever_the_first_answer_was,
    |app: TestApp| async move {
        let invalid =
            json!({"activity": "updateInstanceStatus", "instanceId": "i", "status": "MELT"});
        let unknown = json!({"activity": "releaseInstance", "instanceId": "ghost"});
        let ok = new_instance("CS-N", "inst-n");
        for (body, first) in [(&invalid, "000002"), (&unknown, "000003"), (&ok, "000000")] {
            let call = SignedCall::new(body);
            assert_eq!(app.send(&call).await.code(), first, "{body}");
            assert_eq!(app.send(&call).await.code(), "000001", "replay of {body}");
        }
    }
);
