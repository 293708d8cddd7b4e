//! Online License: upgradeInstance and queryInstance.

use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::TestApp;
use crate::marketplace::spawn_with_marketplace;

fn upgrade(instance: &str, order: &str) -> Value {
    json!({"activity": "upgradeInstance", "instanceId": instance, "orderId": order,
           "orderLineId": format!("{order}-000001")})
}

fn license_async(instance: &str, event: &str, fingerprint: &str) -> Value {
    json!({"activity": "getLicenseAsync", "instanceId": instance, "eventId": event,
           "effectiveTime": crate::helpers::license_time(-30), "expireTime": crate::helpers::license_time(180),
           "deviceFingerprint": fingerprint})
}

async fn new_instance(app: &TestApp, order: &str, instance: &str) {
    let body = json!({"activity": "newInstance", "orderId": order,
                      "orderLineId": format!("{order}-000001"), "businessId": instance});
    assert_eq!(app.callback(&body).await.code(), "000000");
}

both_backends!(@backend an_upgrade_raises_the_quota_for_the_very_next_license, |backend| async move {
    let (app, sim) = spawn_with_marketplace(backend).await;
    sim.add_order("CS-BASE", "PERIOD", 1, &crate::client_api::compact_in(365)).await;
    sim.add_order("CS-UP", "PERIOD", 3, "20271101000000").await;
    new_instance(&app, "CS-BASE", "inst-up").await;
    assert_eq!(app.callback(&license_async("inst-up", "e1", "AA|1|1|1")).await.code(), "000000");
    assert_eq!(app.callback(&license_async("inst-up", "e2", "BB|2|2|2")).await.code(), "000900");

    assert_eq!(app.callback(&upgrade("inst-up", "CS-UP")).await.code(), "000000");
    assert_eq!(app.callback(&license_async("inst-up", "e2", "BB|2|2|2")).await.code(), "000000");
    assert_eq!(app.callback(&license_async("inst-up", "e3", "CC|3|3|3")).await.code(), "000000");
    assert_eq!(app.callback(&license_async("inst-up", "e4", "DD|4|4|4")).await.code(), "000900");
    let newest = app.licenses_of("inst-up").pop().unwrap();
    assert_eq!(app.verify_license(&newest, None)["seats"], 3);
    assert!(app.get_events("instance", "inst-up").contains(&"upgraded".to_owned()));
});

both_backends!(@backend a_late_base_order_fetch_does_not_undo_an_upgrade, |backend| async move {
    let (app, sim) = spawn_with_marketplace(backend).await;
    sim.add_order("CS-LATE", "PERIOD", 1, "20271101000000").await;
    sim.add_order("CS-LATE-UP", "PERIOD", 3, "20271101000000").await;
    // The background fetch of the base order (queued by newInstance) answers only after the
    // upgrade has been applied.
    sim.post("/sim/faults", &json!({"api": "order", "kind": "delay_ms", "delay_ms": 1500})).await;
    new_instance(&app, "CS-LATE", "inst-late").await;
    actix_web::rt::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(app.callback(&upgrade("inst-late", "CS-LATE-UP")).await.code(), "000000");
    wait_for_order_fetch(&app, "order:CS-LATE:CS-LATE-000001:inst-late").await;

    for (event, fingerprint) in [("e1", "AA|1|1|1"), ("e2", "BB|2|2|2"), ("e3", "CC|3|3|3")] {
        assert_eq!(app.callback(&license_async("inst-late", event, fingerprint)).await.code(), "000000");
    }
    assert_eq!(app.callback(&license_async("inst-late", "e4", "DD|4|4|4")).await.code(), "000900");
});

/// Waits until the background order query with this dedupe key has finished.
async fn wait_for_order_fetch(app: &TestApp, key: &str) {
    let mut conn = app.db.connect();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let job = koolicense::db::models::jobs::find_by_dedupe_key(&mut conn, key).unwrap();
        if job
            .as_ref()
            .is_some_and(|j| j.status == koolicense::db::models::jobs::JobStatus::Done)
        {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "order query not done: {job:?}"
        );
        actix_web::rt::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

both_backends!(@backend repeated_and_simultaneous_upgrades_of_one_order_apply_once, |backend| async move {
    let (app, sim) = spawn_with_marketplace(backend).await;
    sim.add_order("CS-B2", "PERIOD", 1, "20271101000000").await;
    sim.add_order("CS-U2", "PERIOD", 5, "20271101000000").await;
    new_instance(&app, "CS-B2", "inst-u2").await;
    let body = upgrade("inst-u2", "CS-U2");
    let answers = futures_util::future::join_all((0..8).map(|_| app.callback(&body))).await;
    assert!(answers.iter().all(|a| a.code() == "000000"), "{:?}", answers.iter().map(|a| &a.body).collect::<Vec<_>>());
    assert_eq!(app.callback(&body).await.code(), "000000");
    let upgrades = app.get_events("instance", "inst-u2").iter().filter(|k| *k == "upgraded").count();
    assert_eq!(upgrades, 1);
});

both_backends!(@backend upgrade_error_codes_and_test_flag, |backend| async move {
    let (app, sim) = spawn_with_marketplace(backend).await;
    sim.add_order("CS-U3", "PERIOD", 2, "20271101000000").await;
    assert_eq!(app.callback(&upgrade("ghost", "CS-U3")).await.code(), "000003");
    let missing = json!({"activity": "upgradeInstance", "instanceId": "i", "orderId": "CS-U3"});
    let answer = app.callback(&missing).await;
    assert_eq!(answer.code(), "000002");
    assert!(answer.body["resultMsg"].as_str().unwrap().contains("orderLineId"));
    new_instance(&app, "CS-B3", "inst-u3").await;
    let before = app.production_rows();
    let mut test = upgrade("inst-u3", "CS-U3");
    test["testFlag"] = json!("1");
    assert_eq!(app.callback(&test).await.code(), "000000");
    assert_eq!(app.production_rows(), before);
    // An upgrade order KooGallery does not know yet: ask again.
    assert_eq!(app.callback(&upgrade("inst-u3", "CS-NOT-YET")).await.code(), "000004");
    assert!(!app.get_events("instance", "inst-u3").contains(&"upgraded".to_owned()));
});

both_backends!(
    query_instance_lists_known_ids_only,
    |app: TestApp| async move {
        new_instance(&app, "CS-Q1", "inst-q1").await;
        new_instance(&app, "CS-Q2", "inst-q2").await;
        let answer = app
            .callback(&json!({"activity": "queryInstance", "instanceId": "inst-q1,ghost,inst-q2"}))
            .await;
        assert_eq!(answer.code(), "000000");
        assert_eq!(
            answer.body["info"],
            json!([{"instanceId": "inst-q1"}, {"instanceId": "inst-q2"}])
        );
        let ids: Vec<String> = (0..101).map(|i| format!("i{i}")).collect();
        let too_many = app
            .callback(&json!({"activity": "queryInstance", "instanceId": ids.join(",")}))
            .await;
        assert_eq!(too_many.code(), "000002");
        let none = app
            .callback(&json!({"activity": "queryInstance", "instanceId": "ghost"}))
            .await;
        assert_eq!(none.body["info"], json!([]));
    }
);
