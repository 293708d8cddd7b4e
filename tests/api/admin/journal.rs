//! The marketplace journal, its health report, and the OpenAPI description of §6.

use koolicense::admin::auth::Role;
use koolicense::db::models::marketplace_calls::{self, NewMarketplaceCall};
use serde_json::{Value, json};

use super::admin_app;
use crate::both_backends;
use crate::helpers::{Backend, TestApp};

fn new_instance(order: &str, business: &str) -> Value {
    json!({"activity": "newInstance", "orderId": order, "orderLineId": format!("{order}-1"), "businessId": business})
}

/// An outbound call as the marketplace client journals it.
fn outbound(app: &TestApp, activity: &str, result_code: &str) {
    let mut call = NewMarketplaceCall::new(marketplace_calls::OUTBOUND, activity, result_code, 120);
    call.http_status = Some(200);
    call.code_hint = Some("PL12…AB".into());
    marketplace_calls::insert(&mut app.db(), &call).unwrap();
}

fn activities(page: &Value) -> Vec<(String, String)> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["activity"].as_str().unwrap().to_owned(),
                c["result_code"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

both_backends!(@backend the_journal_is_filtered_by_direction_result_activity_and_time, |backend: Backend| async move {
    let app = admin_app(backend).await;
    let token = app.token("helpdesk", Role::Support);
    assert_eq!(app.callback(&new_instance("CS1", "biz-1")).await.code(), "000000");
    // The same business id for another order line: refused with 000002.
    assert_eq!(app.callback(&new_instance("CS2", "biz-1")).await.code(), "000002");
    outbound(&app, "activate", "92020000");
    outbound(&app, "upload", "HTTP 500");

    let all = app.admin_get(&token, "/admin/v1/marketplace/calls").await;
    assert_eq!(all.status, 200, "{}", all.body);
    assert_eq!(activities(&all.body), vec![
        ("upload".into(), "HTTP 500".into()),
        ("activate".into(), "92020000".into()),
        ("newInstance".into(), "000002".into()),
        ("newInstance".into(), "000000".into()),
    ]);
    let refused = &all.body["items"][2];
    assert_eq!(refused["direction"], "inbound");
    assert_eq!(refused["order_id"], "CS2");
    assert_eq!(refused["ok"], false);
    assert!(refused["detail"].as_str().unwrap().contains("businessId"));

    for (query, expected) in [
        ("direction=outbound", vec![("upload", "HTTP 500"), ("activate", "92020000")]),
        ("direction=inbound&result=error", vec![("newInstance", "000002")]),
        ("result=ok", vec![("activate", "92020000"), ("newInstance", "000000")]),
        ("result=error", vec![("upload", "HTTP 500"), ("newInstance", "000002")]),
        ("result=000000", vec![("newInstance", "000000")]),
        ("activity=newInstance&order_id=CS1", vec![("newInstance", "000000")]),
        ("since=2999-01-01T00:00:00Z", vec![]),
        ("until=2000-01-01T00:00:00Z", vec![]),
        ("since=2000-01-01T00:00:00Z&activity=upload", vec![("upload", "HTTP 500")]),
    ] {
        let page = app.admin_get(&token, &format!("/admin/v1/marketplace/calls?{query}")).await;
        assert_eq!(page.status, 200, "{query}: {}", page.body);
        let expected: Vec<(String, String)> = expected.iter().map(|(a, r)| ((*a).to_owned(), (*r).to_owned())).collect();
        assert_eq!(activities(&page.body), expected, "{query}");
    }

    let first = app.admin_get(&token, "/admin/v1/marketplace/calls?limit=3").await;
    assert_eq!(first.body["items"].as_array().unwrap().len(), 3);
    let cursor = first.body["next_cursor"].as_str().unwrap();
    let rest = app.admin_get(&token, &format!("/admin/v1/marketplace/calls?limit=3&cursor={cursor}")).await;
    assert_eq!(activities(&rest.body), vec![("newInstance".to_owned(), "000000".to_owned())]);
    assert!(rest.body["next_cursor"].is_null());

    for bad in ["direction=sideways", "since=last%20week", "limit=0"] {
        let reply = app.admin_get(&token, &format!("/admin/v1/marketplace/calls?{bad}")).await;
        assert_eq!(reply.status, 400, "{bad}");
    }
});

both_backends!(@backend health_counts_failed_orders_against_the_delisting_threshold, |backend: Backend| async move {
    let app = admin_app(backend).await;
    let token = app.token("helpdesk", Role::Support);
    let empty = app.admin_get(&token, "/admin/v1/marketplace/health").await;
    assert_eq!(empty.status, 200, "{}", empty.body);
    assert_eq!(empty.body["failed_orders_this_month"], 0);
    assert_eq!(empty.body["delisting_threshold"], 5);
    assert_eq!(empty.body["at_risk"], false);
    assert_eq!(empty.body["apis"], json!([]));

    assert_eq!(app.callback(&new_instance("CS0", "biz-0")).await.code(), "000000");
    // Four orders fail (their business id is taken)...
    for order in ["CS1", "CS2", "CS3", "CS4"] {
        assert_eq!(app.callback(&new_instance(order, "biz-0")).await.code(), "000002");
    }
    // ...one fails and then succeeds on KooGallery's retry: not a failed order...
    assert_eq!(app.callback(&new_instance("CS5", "biz-0")).await.code(), "000002");
    assert_eq!(app.callback(&new_instance("CS5", "biz-5")).await.code(), "000000");
    // ...and a debug-console call is not an order.
    let mut test_call = new_instance("CS-T", "biz-0");
    test_call["testFlag"] = json!("1");
    test_call["orderLineId"] = json!(String::from_utf8(vec![b'x'; 65]).unwrap());
    assert_eq!(app.callback(&test_call).await.code(), "000002");
    outbound(&app, "activate", "92020000");
    outbound(&app, "activate", "92020001");
    app.seed_failed_upload("biz-0", "ev-0");

    let health = app.admin_get(&token, "/admin/v1/marketplace/health").await.body;
    assert_eq!(health["failed_orders_this_month"], 4, "{health}");
    assert_eq!(health["failed_order_ids"], json!(["CS1", "CS2", "CS3", "CS4"]));
    assert_eq!(health["at_risk"], false);
    assert_eq!(health["month"], chrono::Utc::now().format("%Y-%m").to_string());
    assert_eq!(health["uploads"]["failed"], 1);
    assert_eq!(health["failed_jobs"]["upload_license"], 1);

    let api = |direction: &str, activity: &str| -> Value {
        health["apis"].as_array().unwrap().iter()
            .find(|a| a["direction"] == direction && a["activity"] == activity)
            .cloned()
            .unwrap_or_else(|| panic!("no {direction} {activity} in {health}"))
    };
    let inbound = api("inbound", "newInstance");
    assert_eq!((inbound["calls_24h"].as_i64(), inbound["errors_24h"].as_i64()), (Some(8), Some(6)));
    assert!((inbound["error_rate_24h"].as_f64().unwrap() - 0.75).abs() < 1e-9);
    assert!(inbound["last_success_at"].is_string());
    let activate = api("outbound", "activate");
    assert_eq!((activate["calls_24h"].as_i64(), activate["errors_24h"].as_i64()), (Some(2), Some(1)));
    assert!((activate["error_rate_24h"].as_f64().unwrap() - 0.5).abs() < 1e-9);

    // The fifth failed order reaches the threshold.
    assert_eq!(app.callback(&new_instance("CS6", "biz-0")).await.code(), "000002");
    let at_risk = app.admin_get(&token, "/admin/v1/marketplace/health").await.body;
    assert_eq!(at_risk["failed_orders_this_month"], 5);
    assert_eq!(at_risk["at_risk"], true);
});

/// Every §6 path and method, and ours (`whoami`).
const ADMIN_PATHS: &[(&str, &str)] = &[
    ("/admin/v1/codes", "get"),
    ("/admin/v1/codes/{code}", "get"),
    ("/admin/v1/instances", "get"),
    ("/admin/v1/instances/{instanceId}", "get"),
    ("/admin/v1/licenses/{license_id}", "get"),
    ("/admin/v1/licenses/{license_id}/revoke", "post"),
    ("/admin/v1/licenses/{license_id}/reinstate", "post"),
    ("/admin/v1/activations/{id}", "delete"),
    ("/admin/v1/marketplace/calls", "get"),
    ("/admin/v1/marketplace/rejections", "get"),
    ("/admin/v1/marketplace/health", "get"),
    ("/admin/v1/uploads", "get"),
    ("/admin/v1/uploads/{id}/retry", "post"),
    ("/admin/v1/audit", "get"),
    ("/admin/v1/tokens", "post"),
    ("/admin/v1/tokens", "get"),
    ("/admin/v1/tokens/{id}", "delete"),
    ("/admin/v1/whoami", "get"),
];

both_backends!(
    openapi_describes_every_admin_endpoint_with_bearer_security,
    |app: TestApp| async move {
        let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
        for (path, method) in ADMIN_PATHS {
            let operation = &doc["paths"][path][method];
            assert!(operation.is_object(), "{method} {path} is missing");
            assert_eq!(
                operation["security"],
                json!([{"bearer": []}]),
                "{method} {path}"
            );
            assert!(operation["responses"]["401"].is_object(), "{method} {path}");
        }
        assert_eq!(
            doc["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
        for schema in [
            "CodeDetail",
            "InstanceDetail",
            "LicenseDetail",
            "MarketplaceHealth",
            "RejectedCalls",
            "AuditView",
            "ReasonBody",
        ] {
            assert!(
                doc["components"]["schemas"][schema].is_object(),
                "schema {schema} is missing"
            );
        }
        let reset = &doc["paths"]["/admin/v1/activations/{id}"]["delete"];
        let params = reset["parameters"].as_array().unwrap();
        assert!(
            params
                .iter()
                .any(|p| p["name"] == "reason" && p["in"] == "query" && p["required"] == true),
            "{reset}"
        );
    }
);

both_backends!(@backend the_metrics_carry_the_health_report_and_the_key_state, |backend: Backend| async move {
    use diesel::prelude::*;
    use koolicense::db::models::jobs::{self, JobKind};
    use koolicense::db::schema::jobs as job_rows;

    let app = admin_app(backend).await;
    assert_eq!(app.callback(&new_instance("CS0", "biz-0")).await.code(), "000000");
    for order in ["CS1", "CS2", "CS3"] {
        assert_eq!(app.callback(&new_instance(order, "biz-0")).await.code(), "000002");
    }
    outbound(&app, "activate", "92020000");
    outbound(&app, "activate", "HTTP 500");
    app.seed_failed_upload("biz-0", "ev-0");
    // An upload waiting for two hours (due tomorrow, so no worker takes it meanwhile).
    let mut conn = app.db();
    let now = koolicense::db::models::now();
    let waiting = jobs::enqueue(&mut conn, JobKind::UploadLicense, &json!({}), None, now + chrono::TimeDelta::days(1)).unwrap();
    diesel::update(job_rows::table.find(&waiting.id))
        .set(job_rows::created_at.eq(now - chrono::TimeDelta::hours(2)))
        .execute(&mut conn)
        .unwrap();

    let text = app.get("/metrics").await.text().await.unwrap();
    // The sample as exposed: integers print without a fraction.
    let value = |series: &str| -> String {
        text.lines()
            .find_map(|line| Some(line.strip_prefix(series)?.strip_prefix(' ')?.to_owned()))
            .unwrap_or_else(|| panic!("no {series} in\n{text}"))
    };
    let number = |series: &str| -> f64 { value(series).parse().unwrap() };
    assert_eq!(value("koolicense_marketplace_failed_orders_this_month"), "3");
    assert_eq!(value("koolicense_marketplace_delisting_threshold"), "5");
    assert_eq!(value(r#"koolicense_marketplace_calls_24h{activity="newInstance",direction="inbound"}"#), "4");
    assert_eq!(value(r#"koolicense_marketplace_errors_24h{activity="newInstance",direction="inbound"}"#), "3");
    assert_eq!(value(r#"koolicense_marketplace_errors_24h{activity="activate",direction="outbound"}"#), "1");
    let last_success = number(r#"koolicense_marketplace_last_success_timestamp_seconds{activity="activate",direction="outbound"}"#);
    assert!((chrono::Utc::now().timestamp() as f64 - last_success).abs() < 120.0, "{last_success}");
    assert_eq!(value(r#"koolicense_uploads{status="failed"}"#), "1");
    assert_eq!(value(r#"koolicense_uploads{status="pending"}"#), "1");
    assert_eq!(value(r#"koolicense_jobs_failed{kind="upload_license"}"#), "1");
    let oldest = number("koolicense_upload_oldest_pending_age_seconds");
    assert!((7_190.0..7_300.0).contains(&oldest), "{oldest}");
    assert_eq!(value("koolicense_marketplace_gauges_up"), "1");
    assert_eq!(value("koolicense_signing_key_active_current"), "1");
    assert!(number("koolicense_signing_key_active_age_seconds") < 86_400.0 * 2.0);

    // Another node rotated the key: this one still signs with the old one until restarted.
    koolicense::keys::KeyStore::rotate(app.keys_dir.path()).unwrap();
    let text = app.get("/metrics").await.text().await.unwrap();
    assert!(text.contains("koolicense_signing_key_active_current 0"), "{text}");
});
