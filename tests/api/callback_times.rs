//! Times KooGallery sends that no license can carry: out of range once in UTC, already over,
//! or ending before they start. Each answers `000002` naming the field and issues nothing.

use serde_json::{Value, json};

use crate::both_backends;
use crate::callers::{ACCESS_KEY, LEGACY_KEY};
use crate::helpers::{TestApp, spawn_app_with};
use crate::marketplace::{Marketplace, spawn_with_marketplace};

/// An instance whose order line is one-time (no expiry of its own), so only the request's
/// times bound the license.
async fn open_ended_instance(app: &TestApp, sim: &Marketplace, order: &str) -> String {
    let line = json!({"orderLineId": format!("{order}-000001"), "chargingMode": "ONE_TIME",
                      "productId": "prod-1", "quantity": 5});
    sim.post(
        "/sim/orders",
        &json!({"orderId": order, "orderType": "NEW", "lines": [line]}),
    )
    .await;
    let business = format!("biz-{order}");
    let body = json!({"activity": "newInstance", "orderId": order,
                      "orderLineId": format!("{order}-000001"), "businessId": business});
    assert_eq!(app.callback(&body).await.code(), "000000");
    business
}

fn license_async(instance: &str, event: &str, effective: &str, expire: &str) -> Value {
    json!({"activity": "getLicenseAsync", "instanceId": instance, "eventId": event,
           "effectiveTime": effective, "expireTime": expire, "deviceFingerprint": "AA|BB|CC|DD"})
}

both_backends!(@backend get_license_async_refuses_times_no_license_can_carry, |backend| async move {
    let (app, sim) = spawn_with_marketplace(backend).await;
    let instance = open_ended_instance(&app, &sim, "CS-TIMES").await;
    let cases = [
        // In UTC this is 10000-01-01T23:58:59Z: a five-digit year no license file can hold.
        ("2026-11-01 00:00:00 z", "9999-12-31T23:59:59-23:59", "expireTime"),
        ("1999-12-31 23:00:00 z", "2030-01-01 00:00:00 z", "effectiveTime"),
        // Over before it is issued.
        ("2020-01-01 00:00:00 z", "2021-01-01 00:00:00 z", "expireTime"),
        // Ends before it starts.
        ("2027-01-01 00:00:00 z", "2026-12-31 00:00:00 z", "expireTime"),
    ];
    for (i, (effective, expire, field)) in cases.into_iter().enumerate() {
        let answer = app.callback(&license_async(&instance, &format!("e{i}"), effective, expire)).await;
        assert_eq!(answer.code(), "000002", "{effective} .. {expire}: {:?}", answer.body);
        let message = answer.body["resultMsg"].as_str().unwrap();
        assert!(message.contains(field), "{message} should name {field}");
    }
    assert!(app.licenses_of(&instance).is_empty());
    // The edge that still fits: 9999-12-31T00:00:59Z, which the license carries and verifies.
    let edge = license_async(&instance, "e-edge", "2026-11-01 00:00:00 z", "9999-12-31T23:59:59+23:59");
    assert_eq!(app.callback(&edge).await.code(), "000000");
    let files = app.licenses_of(&instance);
    let payload = app.verify_license(&files[0], Some("AA|BB|CC|DD"));
    assert_eq!(payload["expires_at"], "9999-12-31T00:00:59Z");
});

fn time_stamp() -> String {
    chrono::Utc::now().format("%Y%m%d%H%M%S%3f").to_string()
}

/// A legacy `GET` signed with the legacy key; its JSON answer.
async fn legacy(app: &TestApp, params: &[(&str, &str)]) -> Value {
    let ts = time_stamp();
    let mut all: Vec<(&str, &str)> = params.to_vec();
    all.push(("timeStamp", &ts));
    let token = koolicense::koogallery::auth::auth_token(LEGACY_KEY, &ts, &all);
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in &all {
        query.append_pair(k, v);
    }
    query.append_pair("authToken", &token);
    let url = format!("{}/koogallery/license?{}", app.address, query.finish());
    app.client
        .get(url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

both_backends!(@backend a_legacy_get_license_that_expired_already_answers_000002, |backend| async move {
    let app = spawn_app_with(
        backend,
        &[("KOOLICENSE_ACCESS_KEY", ACCESS_KEY), ("KOOLICENSE_LEGACY_KEY", LEGACY_KEY)],
    )
    .await;
    let mut params = vec![
        ("activity", "getLicense"),
        ("customerId", "cust-1"),
        ("businessId", "biz-old"),
        ("orderId", "CS-OLD"),
        ("productId", "prod-1"),
        ("expireTime", "20200101000000"),
    ];
    let answer = legacy(&app, &params).await;
    assert_eq!(answer["resultCode"], "000002", "{answer}");
    assert!(answer["resultMsg"].as_str().unwrap().contains("expireTime"), "{answer}");
    assert_eq!(app.production_rows(), (0, 0, 0, 0, 0));
    params[5] = ("expireTime", "19991231235959");
    let answer = legacy(&app, &params).await;
    assert_eq!(answer["resultCode"], "000002", "{answer}");
    assert!(answer["resultMsg"].as_str().unwrap().contains("expireTime"), "{answer}");
    // Corrected, the same order gets its instance and a license that verifies.
    params[5] = ("expireTime", "20991231235959");
    let answer = legacy(&app, &params).await;
    assert_eq!(answer["resultCode"], "000000", "{answer}");
    let payload = app.verify_license(answer["license"].as_str().unwrap(), None);
    assert_eq!(payload["expires_at"], "2099-12-31T23:59:59Z");
});
