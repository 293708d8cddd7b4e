//! License uploads to KooGallery through the durable outbox, against the simulator: injected
//! failures, a kill -9 in the middle, the fallback host and a wrong AK/SK. (Two nodes sharing
//! the uploads are in `drills::two_nodes`.)

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::both_backends;
use crate::callers::{ACCESS_KEY, SignedCall};
use crate::helpers::{Backend, TestDatabase, spawn_app_with};
use crate::marketplace::{Marketplace, SIM_AK, SIM_SK, spawn_with_marketplace};
use crate::process::{ServerProcess, free_port};

pub fn license_async(instance: &str, event: &str, fingerprint: &str) -> Value {
    json!({"activity": "getLicenseAsync", "instanceId": instance, "eventId": event,
           "effectiveTime": crate::helpers::license_time(-30),
           "expireTime": crate::helpers::license_time(180),
           "deviceFingerprint": fingerprint})
}

/// Polls the simulator until `event` has `deliveries` deliveries; returns its uploads.
async fn wait_for_uploads(sim: &Marketplace, event: &str, deliveries: u64) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let answer = sim.get(&format!("/sim/uploads?event_id={event}")).await;
        if answer["deliveries"].as_u64().unwrap_or(0) >= deliveries {
            return answer["uploads"].as_array().unwrap().clone();
        }
        assert!(Instant::now() < deadline, "no upload for {event}: {answer}");
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Posts a signed callback to a server by URL (for child-process servers).
pub async fn callback_to(url: &str, body: &Value) -> Value {
    let call = SignedCall::new(body);
    reqwest::Client::new()
        .post(format!("{url}/koogallery/license?{}", call.query()))
        .json(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

pub async fn new_instance_to(url: &str, sim: &Marketplace, order: &str, quantity: i64) -> String {
    sim.add_order(
        order,
        "PERIOD",
        quantity,
        &crate::client_api::compact_in(365),
    )
    .await;
    let instance = format!("inst-{order}");
    let body = json!({"activity": "newInstance", "orderId": order,
                      "orderLineId": format!("{order}-000001"), "businessId": instance});
    assert_eq!(callback_to(url, &body).await["resultCode"], "000000");
    instance
}

both_backends!(@backend uploads_arrive_despite_injected_failures_and_repeat_on_request, |backend| async move {
    let (app, sim) = spawn_with_marketplace(backend).await;
    let instance = new_instance_to(&app.address, &sim, "CS-UPL", 2).await;
    sim.post("/sim/faults", &json!({"api": "upload", "kind": "http500", "count": 2})).await;
    assert_eq!(app.callback(&license_async(&instance, "evt-upl", "AA|1|2|3")).await.code(), "000000");
    let uploads = wait_for_uploads(&sim, "evt-upl", 1).await;
    let stored = app.licenses_of(&instance).pop().unwrap();
    let delivered = uploads.iter().find(|u| u["delivery"] == 1).unwrap();
    let content = delivered["content"].as_str().unwrap();
    assert_eq!(content, stored, "KooGallery receives the stored license, byte for byte");
    let failed = sim.get("/sim/calls?api=upload").await["calls"].as_array().unwrap().len();
    assert!(failed >= 3, "two failures, then the delivery");
    // A repeated getLicenseAsync re-queues the same license.
    assert_eq!(app.callback(&license_async(&instance, "evt-upl", "AA|1|2|3")).await.code(), "000000");
    let again = wait_for_uploads(&sim, "evt-upl", 2).await;
    assert!(again.iter().all(|u| u["content"] == stored));
});

both_backends!(@backend the_fallback_host_delivers_when_the_first_is_unreachable, |backend| async move {
    let sim = Marketplace::start().await;
    let closed = format!("http://127.0.0.1:{}", free_port());
    let app = spawn_app_with(backend, &[
        ("KOOLICENSE_MARKETPLACE_URL", &closed),
        ("KOOLICENSE_MARKETPLACE_FALLBACK_URL", &sim.url),
        ("KOOLICENSE_APIG_AK", SIM_AK),
        ("KOOLICENSE_APIG_SK", SIM_SK),
    ]).await;
    let instance = new_instance_to(&app.address, &sim, "CS-FB", 1).await;
    assert_eq!(app.callback(&license_async(&instance, "evt-fb", "AA|1|2|3")).await.code(), "000000");
    wait_for_uploads(&sim, "evt-fb", 1).await;
});

#[actix_web::test]
async fn a_wrong_secret_key_is_rejected_by_the_marketplace_and_nothing_is_delivered() {
    let sim = Marketplace::start().await;
    let app = spawn_app_with(
        Backend::Sqlite,
        &[
            ("KOOLICENSE_MARKETPLACE_URL", &sim.url),
            ("KOOLICENSE_MARKETPLACE_FALLBACK_URL", &sim.url),
            ("KOOLICENSE_APIG_AK", SIM_AK),
            ("KOOLICENSE_APIG_SK", "not-the-secret"),
        ],
    )
    .await;
    app.callback(
        &json!({"activity": "newInstance", "orderId": "CS-SK", "orderLineId": "CS-SK-1",
                         "businessId": "inst-sk"}),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let calls = sim.get("/sim/calls?api=order").await;
        let calls = calls["calls"].as_array().unwrap();
        if let Some(call) = calls.first() {
            assert_eq!(call["authenticated"], false, "{call}");
            assert_eq!(call["status"], 401, "{call}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the order query never reached the simulator"
        );
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    // The journal row is written after the simulator's answer, so it may lag the simulator's
    // record of the call.
    let mut journal = app.journal_text();
    while !journal.contains("APIGW.0301") && Instant::now() < deadline {
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
        journal = app.journal_text();
    }
    assert!(journal.contains("APIGW.0301"), "{journal}");
}

fn node_env<'a>(
    db: &'a TestDatabase,
    keys: &'a str,
    sim: &'a str,
    node: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("KOOLICENSE_DATABASE_URL", db.url.as_str()),
        ("KOOLICENSE_KEYS_DIR", keys),
        ("KOOLICENSE_ACCESS_KEY", ACCESS_KEY),
        ("KOOLICENSE_MARKETPLACE_URL", sim),
        ("KOOLICENSE_MARKETPLACE_FALLBACK_URL", sim),
        ("KOOLICENSE_APIG_AK", SIM_AK),
        ("KOOLICENSE_APIG_SK", SIM_SK),
        ("KOOLICENSE_NODE_ID", node),
    ]
}

both_backends!(@backend queued_uploads_survive_a_kill_9_and_a_restart, |backend| async move {
    let sim = Marketplace::start().await;
    let db = TestDatabase::create(backend);
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys").display().to_string();
    let log = dir.path().join("server.log");
    let port = free_port();
    let env = node_env(&db, &keys, &sim.url, "node-a");
    let mut server = ServerProcess::start(port, &env, &log).await;
    let instance = new_instance_to(&server.url, &sim, "CS-KILL", 5).await;
    // The marketplace refuses uploads for now: every event is queued, none delivered.
    sim.post("/sim/faults", &json!({"api": "upload", "kind": "http500", "count": 1000})).await;
    for i in 0..5 {
        let answer = callback_to(&server.url, &license_async(&instance, &format!("evt-k{i}"), &format!("M{i}|D|B|C"))).await;
        assert_eq!(answer["resultCode"], "000000");
    }
    server.kill();
    reset_faults(&sim).await;
    let _restarted = ServerProcess::start(port, &env, &log).await;
    for i in 0..5 {
        wait_for_uploads(&sim, &format!("evt-k{i}"), 1).await;
    }
});

async fn reset_faults(sim: &Marketplace) {
    // Clear the remaining injected failures; orders and codes stay.
    let faults = sim.get("/sim/faults").await;
    if faults["faults"].as_array().is_some_and(|f| !f.is_empty()) {
        let response = sim
            .client
            .delete(format!("{}/sim/faults", sim.url))
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "the simulator needs DELETE /sim/faults"
        );
    }
}
