//! Actions with a required reason: revoke and reinstate a license, reset a binding, retry a
//! failed upload — each audited with its actor and reason.

use diesel::prelude::*;
use koolicense::admin::auth::Role;
use koolicense::db::schema::{activations, audit_log, jobs};
use serde_json::json;

use super::{admin_app, audit_rows};
use crate::both_backends;
use crate::helpers::Backend;

both_backends!(@backend a_license_is_revoked_and_reinstated_by_an_admin, |backend: Backend| async move {
    let app = admin_app(backend).await;
    let admin = app.token("root", Role::Admin);
    let code = app.seed_code("PLREVOKE000001", 1, "CS-R", "P1");
    let (_, license) = app.seed_activation(&code, "AA|BB|CC|DD");
    let path = |action: &str| format!("/admin/v1/licenses/{license}/{action}");

    for (body, message) in [
        (json!({}), "reason: required, say why this change is made"),
        (json!({"reason": ""}), "reason: required, say why this change is made"),
        (json!({"reason": "x".repeat(501)}), "reason: at most 500 characters"),
    ] {
        let reply = app.admin_post(&admin, &path("revoke"), &body).await;
        assert_eq!(reply.status, 400);
        assert_eq!(reply.body, json!({"code": "INVALID_REQUEST", "message": message}));
    }
    let not_json = app.client.post(app.url(&path("revoke"))).bearer_auth(&admin).body("reason").send().await.unwrap();
    assert_eq!(not_json.status(), 400);
    assert_eq!(app.admin_post(&admin, "/admin/v1/licenses/nope/revoke", &json!({"reason": "r"})).await.status, 404);

    let revoked = app.admin_post(&admin, &path("revoke"), &json!({"reason": "x".repeat(500)})).await;
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    assert_eq!(revoked.body["revoked"], true);
    assert_eq!(revoked.body["id"], license.as_str());
    let twice = app.admin_post(&admin, &path("revoke"), &json!({"reason": "again"})).await;
    assert_eq!(twice.status, 409);
    assert_eq!(twice.body, json!({"code": "CONFLICT", "message": "the license is already revoked"}));
    assert!(koolicense::db::models::licenses::find(&mut app.db(), &license.as_str().into()).unwrap().unwrap().revoked);

    let reinstated = app.admin_post(&admin, &path("reinstate"), &json!({"reason": "chargeback withdrawn"})).await;
    assert_eq!(reinstated.status, 200, "{}", reinstated.body);
    assert_eq!(reinstated.body["revoked"], false);
    assert_eq!(app.admin_post(&admin, &path("reinstate"), &json!({"reason": "r"})).await.status, 409);
    assert!(!koolicense::db::models::licenses::find(&mut app.db(), &license.as_str().into()).unwrap().unwrap().revoked);

    let detail = app.admin_get(&admin, &format!("/admin/v1/licenses/{license}")).await;
    let kinds: Vec<&str> = detail.body["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, vec!["revoked", "reinstated"]);
    let rows = audit_rows(&app, &admin, &format!("?target_id={license}")).await;
    assert_eq!(rows, vec![
        ("root".into(), "license.reinstate".into(), license.clone(), "chargeback withdrawn".into()),
        ("root".into(), "license.revoke".into(), license.clone(), "x".repeat(500)),
    ]);
});

both_backends!(@backend resetting_a_binding_frees_its_seat, |backend: Backend| async move {
    let app = admin_app(backend).await;
    let support = app.token("helpdesk", Role::Support);
    let code = app.seed_code("PLSEAT00000001", 1, "CS-S", "P1");
    let (activation, _) = app.seed_activation(&code, "AA|BB|CC|DD");
    let before = app.admin_get(&support, "/admin/v1/codes/PLSEAT00000001").await;
    assert_eq!(before.body["code"]["seats"], json!({"used": 1, "total": 1}));

    let path = format!("/admin/v1/activations/{activation}");
    let no_reason = app.admin_delete(&support, &path).await;
    assert_eq!(no_reason.status, 400);
    assert_eq!(no_reason.body["code"], "INVALID_REQUEST");
    let reset = app.admin_delete(&support, &format!("{path}?reason=customer%20replaced%20the%20server")).await;
    assert_eq!(reset.status, 200, "{}", reset.body);
    assert_eq!(reset.body["seats"], json!({"used": 0, "total": 1}));
    assert_eq!(reset.body["activation"]["live"], false);
    assert_eq!(reset.body["activation"]["deactivated_by"], "support");

    let (at, by): (Option<chrono::NaiveDateTime>, Option<String>) = activations::table
        .find(&activation)
        .select((activations::deactivated_at, activations::deactivated_by))
        .first(&mut app.db())
        .unwrap();
    assert!(at.is_some());
    assert_eq!(by.as_deref(), Some("support"));
    // The seat is free: the same machine can be bound again (the live-binding index lets it).
    app.seed_activation(&code, "AA|BB|CC|DD");

    let again = app.admin_delete(&support, &format!("{path}?reason=again")).await;
    assert_eq!(again.status, 409);
    assert_eq!(app.admin_delete(&support, "/admin/v1/activations/nope?reason=r").await.status, 404);

    let after = app.admin_get(&support, "/admin/v1/codes/PLSEAT00000001").await;
    let events: Vec<&str> = after.body["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(events, vec!["deactivated"]);
    assert_eq!(after.body["activations"].as_array().unwrap().len(), 2);
    let rows = audit_rows(&app, &support, "?action=activation.reset").await;
    assert_eq!(rows, vec![("helpdesk".into(), "activation.reset".into(), activation, "customer replaced the server".into())]);
});

both_backends!(@backend a_failed_upload_is_listed_and_retried, |backend: Backend| async move {
    let app = admin_app(backend).await;
    let support = app.token("helpdesk", Role::Support);
    assert_eq!(app.callback(&json!({"activity": "newInstance", "orderId": "CS9", "orderLineId": "CS9-1",
        "businessId": "biz-9"})).await.code(), "000000");
    let (license, upload) = app.seed_failed_upload("biz-9", "ev-9");

    let failed = app.admin_get(&support, "/admin/v1/uploads?status=failed").await;
    assert_eq!(failed.status, 200, "{}", failed.body);
    assert_eq!(failed.body["items"].as_array().unwrap().len(), 1);
    let item = &failed.body["items"][0];
    assert_eq!(item["id"], upload.as_str());
    assert_eq!((&item["license_id"], &item["event_id"]), (&json!(license), &json!("ev-9")));
    assert_eq!(item["last_error"], "HTTP 500");
    // Order queries are jobs too, but not uploads.
    assert_eq!(app.admin_get(&support, "/admin/v1/uploads").await.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(app.admin_get(&support, "/admin/v1/uploads?status=done").await.body["items"], json!([]));
    assert_eq!(app.admin_get(&support, "/admin/v1/uploads?status=lost").await.status, 400);

    let path = format!("/admin/v1/uploads/{upload}/retry");
    assert_eq!(app.admin_post(&support, &path, &json!({"reason": " "})).await.status, 400);
    let retried = app.admin_post(&support, &path, &json!({"reason": "KooGallery fixed their upload API"})).await;
    assert_eq!(retried.status, 200, "{}", retried.body);
    assert_eq!(retried.body["status"], "pending");
    assert_eq!(retried.body["attempts"], 0);
    let (status, attempts): (String, i64) =
        jobs::table.find(&upload).select((jobs::status, jobs::attempts)).first(&mut app.db()).unwrap();
    assert_eq!((status.as_str(), attempts), ("pending", 0));

    let again = app.admin_post(&support, &path, &json!({"reason": "r"})).await;
    assert_eq!(again.status, 409);
    assert_eq!(again.body["message"], "only a failed upload can be retried; this one is pending");
    assert_eq!(app.admin_post(&support, "/admin/v1/uploads/nope/retry", &json!({"reason": "r"})).await.status, 404);

    let detail = app.admin_get(&support, &format!("/admin/v1/licenses/{license}")).await;
    assert_eq!(detail.body["events"][0]["kind"], "upload_retried");
    let rows = audit_rows(&app, &support, "?action=upload.retry").await;
    assert_eq!(rows, vec![("helpdesk".into(), "upload.retry".into(), upload, "KooGallery fixed their upload API".into())]);
});

both_backends!(@backend every_change_is_in_the_audit_log_with_who_what_when_and_why, |backend: Backend| async move {
    let app = admin_app(backend).await;
    let admin = app.token("root", Role::Admin);
    let support = app.token("helpdesk", Role::Support);
    let code = app.seed_code("PLAUDIT0000001", 1, "CS-X", "P1");
    let (activation, license) = app.seed_activation(&code, "AA|BB|CC|DD");
    let new_instance = json!({"activity": "newInstance", "orderId": "CS-X", "orderLineId": "CS-X-1", "businessId": "biz-x"});
    assert_eq!(app.callback(&new_instance).await.code(), "000000");
    let (_, upload) = app.seed_failed_upload("biz-x", "ev-x");
    let started = chrono::Utc::now() - chrono::TimeDelta::minutes(1);

    let created = app.admin_post(&admin, "/admin/v1/tokens", &json!({"name": "carol", "role": "support", "reason": "r1"})).await;
    let carol_id = created.body["id"].as_str().unwrap().to_owned();
    let steps = [
        app.admin_post(&admin, &format!("/admin/v1/licenses/{license}/revoke"), &json!({"reason": "r2"})).await,
        app.admin_post(&admin, &format!("/admin/v1/licenses/{license}/reinstate"), &json!({"reason": "r3"})).await,
        app.admin_delete(&support, &format!("/admin/v1/activations/{activation}?reason=r4")).await,
        app.admin_post(&support, &format!("/admin/v1/uploads/{upload}/retry"), &json!({"reason": "r5"})).await,
        app.admin_delete(&admin, &format!("/admin/v1/tokens/{carol_id}?reason=r6")).await,
    ];
    assert!(steps.iter().all(|s| s.status == 200), "{:?}", steps.iter().map(|s| &s.body).collect::<Vec<_>>());
    // Refused changes leave no audit row.
    assert_eq!(app.admin_post(&admin, &format!("/admin/v1/licenses/{license}/reinstate"), &json!({"reason": "no"})).await.status, 409);

    let since = started.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let page = app.admin_get(&support, &format!("/admin/v1/audit?since={since}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let items = page.body["items"].as_array().unwrap();
    let seen: Vec<(&str, &str, &str, &str)> = items
        .iter()
        .filter(|e| e["actor"] != "cli")
        .map(|e| (e["actor"].as_str().unwrap(), e["action"].as_str().unwrap(), e["target_type"].as_str().unwrap(), e["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(seen, vec![
        ("root", "token.revoke", "token", "r6"),
        ("helpdesk", "upload.retry", "upload", "r5"),
        ("helpdesk", "activation.reset", "activation", "r4"),
        ("root", "license.reinstate", "license", "r3"),
        ("root", "license.revoke", "license", "r2"),
        ("root", "token.create", "token", "r1"),
    ]);
    for item in items.iter().filter(|e| e["actor"] != "cli") {
        assert!(item["created_at"].as_str().unwrap().ends_with('Z'));
        assert!(item["detail"]["actor_token_id"].is_string(), "{item}");
    }
    let by_actor = audit_rows(&app, &support, "?actor=helpdesk").await;
    assert_eq!(by_actor.len(), 2);
    let future = app.admin_get(&support, "/admin/v1/audit?since=2999-01-01T00:00:00Z").await;
    assert_eq!(future.body["items"], json!([]));
    assert_eq!(app.admin_get(&support, "/admin/v1/audit?since=yesterday").await.status, 400);

    // Paging: one row at a time walks the whole log.
    let mut cursor = String::new();
    let mut walked = 0;
    loop {
        let page = app.admin_get(&support, &format!("/admin/v1/audit?limit=1{cursor}")).await;
        walked += page.body["items"].as_array().unwrap().len();
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    let total: i64 = audit_log::table.count().get_result(&mut app.db()).unwrap();
    assert_eq!(i64::try_from(walked).unwrap(), total);
    // Two tokens from the command line, plus the six changes.
    assert_eq!(total, 8);
});
