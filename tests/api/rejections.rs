//! Calls refused before authentication cost no journal row and move no health figure: they are
//! counted per minute and reason, and support sees the counts.

use koolicense::admin::auth::Role;
use serde_json::{Value, json};

use crate::both_backends;
use crate::callers::{ACCESS_KEY, LEGACY_KEY, SignedCall};
use crate::helpers::{Backend, TestApp, spawn_app_with};

async fn app_with_both_keys(backend: Backend, extra: &[(&str, &str)]) -> TestApp {
    let mut settings = vec![
        ("KOOLICENSE_ACCESS_KEY", ACCESS_KEY),
        ("KOOLICENSE_LEGACY_KEY", LEGACY_KEY),
        ("KOOLICENSE_WORKER", "false"),
    ];
    settings.extend_from_slice(extra);
    spawn_app_with(backend, &settings).await
}

fn journal_rows(app: &TestApp) -> usize {
    let filter = koolicense::db::models::marketplace_calls::CallFilter {
        limit: 100_000,
        ..Default::default()
    };
    koolicense::db::models::marketplace_calls::list(&mut app.db(), &filter)
        .unwrap()
        .len()
}

/// `(interface, activity, reason) -> calls`, summed over the rows support sees.
fn totals(page: &Value) -> std::collections::BTreeMap<(String, String, String), i64> {
    let mut totals = std::collections::BTreeMap::new();
    for row in page["items"].as_array().unwrap() {
        let key = (
            row["interface"].as_str().unwrap().to_owned(),
            row["activity"].as_str().unwrap().to_owned(),
            row["reason"].as_str().unwrap().to_owned(),
        );
        *totals.entry(key).or_insert(0) += row["calls"].as_i64().unwrap();
    }
    totals
}

fn key(interface: &str, activity: &str, reason: &str) -> (String, String, String) {
    (interface.to_owned(), activity.to_owned(), reason.to_owned())
}

/// Sends `n` copies of a legacy call whose `authToken` is wrong.
async fn bad_legacy_calls(app: &TestApp, n: usize) {
    let ts = chrono::Utc::now().format("%Y%m%d%H%M%S%3f").to_string();
    for _ in 0..n {
        let url = format!(
            "{}/koogallery/license?activity=getLicense&orderId=o&timeStamp={ts}&authToken=forged",
            app.address
        );
        let answer: Value = app
            .client
            .get(url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(answer["resultCode"], "000001");
    }
}

both_backends!(@backend unauthenticated_calls_are_counted_not_journalled_and_leave_health_alone, |backend| async move {
    let app = app_with_both_keys(backend, &[]).await;
    let token = app.token("helpdesk", Role::Support);
    // Real traffic: one success and one authenticated but invalid call (000002).
    let ok = json!({"activity": "newInstance", "orderId": "CS1", "orderLineId": "CS1-1", "businessId": "b1"});
    assert_eq!(app.callback(&ok).await.code(), "000000");
    let invalid = json!({"activity": "newInstance", "orderId": "CS2", "orderLineId": "CS2-1", "businessId": "b1"});
    assert_eq!(app.callback(&invalid).await.code(), "000002");
    let health_before = app.admin_get(&token, "/admin/v1/marketplace/health").await.body;
    let rows_before = journal_rows(&app);
    assert_eq!(rows_before, 2);

    // The flood: 400 unsigned POSTs, a forged signature, a replay and bad legacy GETs.
    let unsigned = serde_json::to_vec(&ok).unwrap();
    let sends = (0..400).map(|_| app.raw_callback("", unsigned.clone()));
    for answer in futures_util::future::join_all(sends).await {
        assert_eq!(answer.code(), "000001");
    }
    let mut forged = SignedCall::new(&ok);
    forged.key = "not-the-key";
    assert_eq!(app.send(&forged).await.code(), "000001");
    let replayed = SignedCall::new(&invalid);
    assert_eq!(app.send(&replayed).await.code(), "000002");
    assert_eq!(app.send(&replayed).await.code(), "000001");
    bad_legacy_calls(&app, 20).await;

    // Only the one authenticated call of the flood was journalled.
    assert_eq!(journal_rows(&app), rows_before + 1);
    let health = app.admin_get(&token, "/admin/v1/marketplace/health").await.body;
    let inbound = |h: &Value| {
        h["apis"].as_array().unwrap().iter()
            .find(|a| a["direction"] == "inbound" && a["activity"] == "newInstance")
            .map(|a| (a["calls_24h"].clone(), a["errors_24h"].clone(), a["error_rate_24h"].clone()))
    };
    assert_eq!(inbound(&health_before), Some((json!(2), json!(1), json!(0.5))));
    assert_eq!(inbound(&health), Some((json!(3), json!(2), json!(2.0 / 3.0))), "{health}");
    assert_eq!(health["failed_calls_without_order"], health_before["failed_calls_without_order"]);
    assert_eq!(health["apis"].as_array().unwrap().len(), health_before["apis"].as_array().unwrap().len());
    assert_eq!(health["rejected_unauthenticated_24h"]["calls"], 422, "{health}");
    assert_eq!(health["rejected_unauthenticated_24h"]["by_reason"],
        json!({"bad_signature": 21, "missing_parameter": 400, "replayed_nonce": 1}));

    // Support sees them aggregated: a handful of rows, whatever the number of calls.
    let page = app.admin_get(&token, "/admin/v1/marketplace/rejections").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let rows = page.body["items"].as_array().unwrap();
    assert!(rows.len() <= 8, "{} rows for 4 kinds of calls", rows.len());
    let seen = totals(&page.body);
    assert_eq!(seen, [
        (key("legacy", "getLicense", "bad_signature"), 20),
        (key("post", "newInstance", "bad_signature"), 1),
        (key("post", "newInstance", "missing_parameter"), 400),
        (key("post", "newInstance", "replayed_nonce"), 1),
    ].into_iter().collect());
    for row in rows {
        assert!(row["first_seen_at"].as_str() <= row["last_seen_at"].as_str(), "{row}");
        assert!(row["node_id"].is_string());
    }
    let filtered = app.admin_get(&token, "/admin/v1/marketplace/rejections?interface=legacy&reason=bad_signature").await;
    assert_eq!(totals(&filtered.body), [(key("legacy", "getLicense", "bad_signature"), 20)].into_iter().collect());
    for bad in ["interface=sideways", "reason=whatever", "since=yesterday", "limit=0"] {
        let reply = app.admin_get(&token, &format!("/admin/v1/marketplace/rejections?{bad}")).await;
        assert_eq!(reply.status, 400, "{bad}");
    }
    let anonymous = app.admin(reqwest::Method::GET, None, "/admin/v1/marketplace/rejections", None).await;
    assert_eq!(anonymous.status, 401);

    // And Prometheus counts them too, by interface and reason.
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(r#"koolicense_marketplace_rejected_calls_total{interface="post",reason="missing_parameter"} 400"#),
        "{metrics}"
    );
});

both_backends!(@backend attacker_chosen_activities_are_counted_as_unknown, |backend| async move {
    let app = app_with_both_keys(backend, &[]).await;
    let token = app.token("helpdesk", Role::Support);
    for i in 0..50 {
        let body = json!({"activity": format!("evil-{i}-{}", "x".repeat(200))});
        let answer = app.raw_callback("signature=00&timestamp=1&nonce=n", serde_json::to_vec(&body).unwrap()).await;
        assert_eq!(answer.code(), "000001");
    }
    let page = app.admin_get(&token, "/admin/v1/marketplace/rejections").await;
    assert_eq!(totals(&page.body), [(key("post", "unknown", "stale_timestamp"), 50)].into_iter().collect());
    assert_eq!(journal_rows(&app), 0);
});

both_backends!(@backend calls_without_a_configured_key_are_counted_not_journalled, |backend| async move {
    let app = spawn_app_with(backend, &[("KOOLICENSE_ACCESS_KEY", ""), ("KOOLICENSE_WORKER", "false")]).await;
    let token = app.token("helpdesk", Role::Support);
    let body = json!({"activity": "newInstance", "orderId": "CS1", "orderLineId": "CS1-1", "businessId": "b1"});
    for _ in 0..5 {
        assert_eq!(app.callback(&body).await.code(), "000005");
    }
    let legacy: Value = app.get("/koogallery/license?activity=getLicense").await.json().await.unwrap();
    assert_eq!(legacy["resultCode"], "000005");
    assert!(legacy["resultMsg"].as_str().unwrap().contains("KOOLICENSE_LEGACY_KEY"));
    assert_eq!(journal_rows(&app), 0);
    let page = app.admin_get(&token, "/admin/v1/marketplace/rejections?reason=key_not_configured").await;
    assert_eq!(totals(&page.body), [
        (key("legacy", "getLicense", "key_not_configured"), 1),
        (key("post", "newInstance", "key_not_configured"), 5),
    ].into_iter().collect());
});
