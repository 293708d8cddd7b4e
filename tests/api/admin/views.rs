//! Search and detail views of codes, instances and licenses.

use koolicense::admin::auth::Role;
use serde_json::{Value, json};

use super::admin_app;
use crate::both_backends;
use crate::helpers::{Backend, TestApp};

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

fn kinds(events: &Value) -> Vec<String> {
    events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect()
}

fn assert_time_ordered(events: &Value) {
    let times: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["created_at"].as_str().unwrap())
        .collect();
    let mut sorted = times.clone();
    sorted.sort_unstable();
    assert_eq!(times, sorted, "events are oldest first");
}

async fn three_codes(app: &TestApp) -> [String; 3] {
    let a = app.seed_code("PLALPHA0000001", 2, "CS-A", "P1");
    let b = app.seed_code("PLALPHA0000002", 1, "CS-B", "P1");
    let c = app.seed_code("PLBETA00000003", 1, "CS-C", "P2");
    let freeze = json!({"activity": "updateLicenseCodeStatus", "license": "PLBETA00000003", "status": "FREEZE"});
    assert_eq!(app.callback(&freeze).await.code(), "000000");
    [a, b, c]
}

both_backends!(@backend codes_are_searched_by_code_order_and_product_with_cursor_pages, |backend: Backend| async move {
    let app = admin_app(backend).await;
    let token = app.token("helpdesk", Role::Support);
    let [a, b, c] = three_codes(&app).await;

    let all = app.admin_get(&token, "/admin/v1/codes").await;
    assert_eq!(all.status, 200, "{}", all.body);
    assert_eq!(ids(&all.body), vec![c.clone(), b.clone(), a.clone()], "newest first");
    assert!(all.body["next_cursor"].is_null());
    // Lists show hints, never full codes.
    assert!(!all.body.to_string().contains("PLALPHA0000001"), "{}", all.body);
    assert_eq!(all.body["items"][2]["code_hint"], "PLAL…01");
    assert_eq!(all.body["items"][2]["seats"], json!({"used": 0, "total": 2}));

    for (query, expected) in [
        ("q=PLALPHA", vec![b.clone(), a.clone()]),
        ("q=CS-C", vec![c.clone()]),
        ("q=P1", vec![b.clone(), a.clone()]),
        ("q=PL%25", vec![]),
        ("status=FROZEN", vec![c.clone()]),
        ("status=alive", vec![c.clone(), b.clone(), a.clone()]),
        ("q=P1&status=RELEASED", vec![]),
    ] {
        let page = app.admin_get(&token, &format!("/admin/v1/codes?{query}")).await;
        assert_eq!(page.status, 200, "{query}: {}", page.body);
        assert_eq!(ids(&page.body), expected, "{query}");
    }

    let first = app.admin_get(&token, "/admin/v1/codes?limit=2").await;
    assert_eq!(ids(&first.body), vec![c.clone(), b.clone()]);
    let cursor = first.body["next_cursor"].as_str().unwrap();
    let second = app.admin_get(&token, &format!("/admin/v1/codes?limit=2&cursor={cursor}")).await;
    assert_eq!(ids(&second.body), vec![a.clone()]);
    assert!(second.body["next_cursor"].is_null());

    for bad in ["status=LOST", "limit=0", "limit=201", "limit=many"] {
        let reply = app.admin_get(&token, &format!("/admin/v1/codes?{bad}")).await;
        assert_eq!(reply.status, 400, "{bad}");
        assert_eq!(reply.body["code"], "INVALID_REQUEST");
    }
});

both_backends!(@backend a_code_detail_shows_the_full_code_its_bindings_licenses_and_history, |backend: Backend| async move {
    let app = admin_app(backend).await;
    let token = app.token("helpdesk", Role::Support);
    let admin = app.token("root", Role::Admin);
    let [a, _, _] = three_codes(&app).await;
    let renew = json!({"activity": "refreshLicenseCode", "scene": "RENEWAL", "orderId": "CS-A2",
        "orderLineId": "CS-A2-1", "license": "PLALPHA0000001", "expireTime": "20281124023618"});
    assert_eq!(app.callback(&renew).await.code(), "000000");
    let (activation, license) = app.seed_activation(&a, "00:11:22:33:44:55|DISK1|BOARD1|CPU1");
    let revoked = app.admin_post(&admin, &format!("/admin/v1/licenses/{license}/revoke"),
        &json!({"reason": "chargeback"})).await;
    assert_eq!(revoked.status, 200, "{}", revoked.body);

    let by_code = app.admin_get(&token, "/admin/v1/codes/PLALPHA0000001").await;
    assert_eq!(by_code.status, 200, "{}", by_code.body);
    let by_id = app.admin_get(&token, &format!("/admin/v1/codes/{a}")).await;
    assert_eq!(by_code.body, by_id.body);
    let detail = by_code.body;
    assert_eq!(detail["code"]["code"], "PLALPHA0000001");
    assert_eq!(detail["code"]["id"], a.as_str());
    assert_eq!(detail["code"]["product_id"], "P1");
    assert_eq!(detail["code"]["seats"], json!({"used": 1, "total": 2}));
    assert_eq!(detail["activations"][0]["id"], activation.as_str());
    assert_eq!(detail["activations"][0]["live"], true);
    assert_eq!(detail["activations"][0]["hostname"], "build-01");
    assert_eq!(detail["licenses"][0]["id"], license.as_str());
    assert_eq!(detail["licenses"][0]["revoked"], true);
    assert_eq!(detail["licenses"][0]["revisions"][0]["revision"], 1);
    assert!(detail["licenses"][0].get("file").is_none(), "files only in the license detail");
    assert_eq!(kinds(&detail["events"]), vec!["refreshed", "revoked"]);
    assert_eq!(detail["events"][1]["subject_type"], "license");
    assert_eq!(detail["events"][1]["detail"]["reason"], "chargeback");
    assert_time_ordered(&detail["events"]);

    let missing = app.admin_get(&token, "/admin/v1/codes/PLNOPE").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.body, json!({"code": "NOT_FOUND", "message": "code not found"}));
});

fn new_instance(order: &str, business: &str) -> Value {
    json!({"activity": "newInstance", "orderId": order, "orderLineId": format!("{order}-1"), "businessId": business})
}

fn instance_ids(page: &Value) -> Vec<&str> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["instance_id"].as_str().unwrap())
        .collect()
}

both_backends!(@backend instances_are_searched_paged_and_shown_with_licenses_uploads_and_history, |backend: Backend| async move {
    let app = admin_app(backend).await;
    let token = app.token("helpdesk", Role::Support);
    for (order, business) in [("CS1", "biz-1"), ("CS2", "biz-2"), ("CS3", "biz-3")] {
        assert_eq!(app.callback(&new_instance(order, business)).await.code(), "000000");
    }
    let freeze = json!({"activity": "updateInstanceStatus", "instanceId": "biz-2", "status": "FREEZE"});
    assert_eq!(app.callback(&freeze).await.code(), "000000");
    let (license, upload) = app.seed_failed_upload("biz-1", "ev-1");

    let all = app.admin_get(&token, "/admin/v1/instances").await;
    assert_eq!(all.status, 200, "{}", all.body);
    assert_eq!(instance_ids(&all.body), vec!["biz-3", "biz-2", "biz-1"]);
    assert_eq!(all.body["items"][2]["devices_used"], 1);
    let first = app.admin_get(&token, "/admin/v1/instances?limit=2").await;
    assert_eq!(instance_ids(&first.body), vec!["biz-3", "biz-2"]);
    assert_eq!(first.body["next_cursor"], "biz-2");
    let second = app.admin_get(&token, "/admin/v1/instances?limit=2&cursor=biz-2").await;
    assert_eq!(instance_ids(&second.body), vec!["biz-1"]);
    assert!(second.body["next_cursor"].is_null());
    for (query, expected) in [("q=CS1", vec!["biz-1"]), ("q=biz-3", vec!["biz-3"]), ("status=FROZEN", vec!["biz-2"])] {
        let page = app.admin_get(&token, &format!("/admin/v1/instances?{query}")).await;
        assert_eq!(instance_ids(&page.body), expected, "{query}");
    }
    assert_eq!(app.admin_get(&token, "/admin/v1/instances?cursor=nope").await.status, 400);
    assert_eq!(app.admin_get(&token, "/admin/v1/instances?status=GONE").await.status, 400);

    let frozen = app.admin_get(&token, "/admin/v1/instances/biz-2").await;
    assert_eq!(frozen.status, 200);
    assert_eq!(frozen.body["instance"]["status"], "FROZEN");
    assert_eq!(kinds(&frozen.body["events"]), vec!["created", "frozen"]);
    assert_time_ordered(&frozen.body["events"]);

    let with_license = app.admin_get(&token, "/admin/v1/instances/biz-1").await;
    assert_eq!(with_license.body["instance"]["order_id"], "CS1");
    assert_eq!(with_license.body["licenses"][0]["id"], license.as_str());
    assert_eq!(with_license.body["licenses"][0]["event_id"], "ev-1");
    assert_eq!(with_license.body["uploads"][0]["id"], upload.as_str());
    assert_eq!(with_license.body["uploads"][0]["status"], "failed");

    let missing = app.admin_get(&token, "/admin/v1/instances/nope").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.body, json!({"code": "NOT_FOUND", "message": "instance not found"}));
});

both_backends!(@backend a_license_detail_shows_its_file_revisions_binding_and_history, |backend: Backend| async move {
    let app = admin_app(backend).await;
    let token = app.token("helpdesk", Role::Support);
    let code = app.seed_code("PLGAMMA0000009", 1, "CS-G", "P3");
    let (activation, license) = app.seed_activation(&code, "AA|BB|CC|DD");

    let reply = app.admin_get(&token, &format!("/admin/v1/licenses/{license}")).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let detail = reply.body;
    assert!(detail["license"]["file"].as_str().unwrap().starts_with("-----BEGIN KOOLICENSE LICENSE-----"));
    assert_eq!(detail["license"]["revisions"][0]["file"], detail["license"]["file"]);
    assert_eq!(detail["license"]["revisions"][0]["reason"], "activation");
    assert_eq!(detail["license"]["code_id"], code.as_str());
    assert_eq!(detail["activation"]["id"], activation.as_str());
    assert_eq!(detail["events"], json!([]));
    assert_eq!(detail["uploads"], json!([]));

    let missing = app.admin_get(&token, "/admin/v1/licenses/nope").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.body, json!({"code": "NOT_FOUND", "message": "license not found"}));
});
