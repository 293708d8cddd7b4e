//! The legacy query-string interface: `GET /koogallery/license` with `authToken`, `Body-Sign` on
//! every answer.

use serde_json::Value;

use crate::both_backends;
use crate::callers::{ACCESS_KEY, LEGACY_KEY};
use crate::helpers::{TestApp, spawn_app_with};

fn time_stamp() -> String {
    chrono::Utc::now().format("%Y%m%d%H%M%S%3f").to_string()
}

/// Sends a legacy call signed with `key`; returns (body, Body-Sign verified).
async fn legacy(app: &TestApp, key: &str, params: &[(&str, &str)]) -> (Value, bool) {
    let ts = time_stamp();
    let mut all: Vec<(&str, &str)> = params.to_vec();
    all.push(("timeStamp", &ts));
    let token = koolicense::koogallery::auth::auth_token(key, &ts, &all);
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in &all {
        query.append_pair(k, v);
    }
    query.append_pair("authToken", &token);
    let response = app
        .client
        .get(format!(
            "{}/koogallery/license?{}",
            app.address,
            query.finish()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let header = response
        .headers()
        .get("Body-Sign")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let raw = response.bytes().await.unwrap();
    let signed = header
        .is_some_and(|h| koolicense::koogallery::auth::verify_body_sign(LEGACY_KEY, &raw, &h));
    (serde_json::from_slice(&raw).unwrap(), signed)
}

async fn app_with_legacy_key(backend: crate::helpers::Backend) -> TestApp {
    spawn_app_with(
        backend,
        &[
            ("KOOLICENSE_ACCESS_KEY", ACCESS_KEY),
            ("KOOLICENSE_LEGACY_KEY", LEGACY_KEY),
        ],
    )
    .await
}

const GET_LICENSE: [(&str, &str); 6] = [
    ("activity", "getLicense"),
    ("customerId", "cust-1"),
    ("businessId", "biz-legacy-1"),
    ("orderId", "CS-LEGACY"),
    ("productId", "00301-666666-0--0"),
    ("expireTime", "20281124000000"),
];

both_backends!(@backend get_license_returns_one_instance_and_license_per_order, |backend| async move {
    let app = app_with_legacy_key(backend).await;
    let (first, signed) = legacy(&app, LEGACY_KEY, &GET_LICENSE).await;
    assert!(signed, "Body-Sign must verify");
    assert_eq!(first["resultCode"], "000000");
    assert_eq!(first["instanceId"], "biz-legacy-1");
    let license = first["license"].as_str().unwrap().to_owned();
    let payload = app.verify_license(&license, None);
    assert_eq!(payload["order_id"], "CS-LEGACY");
    assert_eq!(payload["expires_at"], "2028-11-24T00:00:00Z");
    // No start time comes with the call: like a client-API license, it starts five minutes
    // before it was issued, so a client clock a little behind accepts it at once.
    let time = |field: &str| chrono::DateTime::parse_from_rfc3339(payload[field].as_str().unwrap()).unwrap();
    assert_eq!(time("issued_at") - time("not_before"), chrono::TimeDelta::seconds(300));
    // A retry carries a new businessId; the order still gets its first instance and license.
    let mut retry = GET_LICENSE;
    retry[2] = ("businessId", "biz-legacy-2");
    let (again, _) = legacy(&app, LEGACY_KEY, &retry).await;
    assert_eq!(again["instanceId"], "biz-legacy-1");
    assert_eq!(again["license"].as_str().unwrap(), license);
});

both_backends!(@backend legacy_lifecycle_calls_and_their_codes, |backend| async move {
    let app = app_with_legacy_key(backend).await;
    legacy(&app, LEGACY_KEY, &GET_LICENSE).await;
    for activity in ["refreshLicense", "expireLicense", "releaseLicense", "releaseLicense"] {
        let (answer, signed) = legacy(&app, LEGACY_KEY, &[
            ("activity", activity), ("orderId", "CS-LEGACY"), ("instanceId", "biz-legacy-1"),
            ("expireTime", "20291124000000"),
        ]).await;
        assert!(signed);
        assert_eq!(answer["resultCode"], "000000", "{activity}: {answer}");
    }
    assert_eq!(app.get_events("instance", "biz-legacy-1"), ["refreshed", "frozen", "released"]);
    let (unknown, _) = legacy(&app, LEGACY_KEY, &[("activity", "releaseLicense"), ("orderId", "o"), ("instanceId", "ghost")]).await;
    assert_eq!(unknown["resultCode"], "000003");
    let (missing, _) = legacy(&app, LEGACY_KEY, &[("activity", "refreshLicense"), ("orderId", "o"), ("instanceId", "biz-legacy-1")]).await;
    assert_eq!(missing["resultCode"], "000002");
    assert!(missing["resultMsg"].as_str().unwrap().contains("expireTime"));
});

both_backends!(@backend a_wrong_auth_token_answers_000001_signed_and_changes_nothing, |backend| async move {
    let app = app_with_legacy_key(backend).await;
    let (answer, signed) = legacy(&app, "wrong-key", &GET_LICENSE).await;
    assert!(signed);
    assert_eq!(answer["resultCode"], "000001");
    assert_eq!(app.production_rows(), (0, 0, 0, 0, 0));
});
