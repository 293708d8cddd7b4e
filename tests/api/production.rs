//! The production interface (`POST /koogallery/license`): every activity, every result code,
//! authentication, idempotency and concurrency, on both backends.

use serde_json::{Value, json};

use crate::both_backends;
use crate::callers::{ACCESS_KEY, LEGACY_KEY, SignedCall};
use crate::helpers::{TestApp, spawn_app_with};
use crate::marketplace::{Marketplace, spawn_with_marketplace};

fn new_instance(order: &str, business: &str) -> Value {
    json!({"activity": "newInstance", "orderId": order, "orderLineId": format!("{order}-000001"),
           "businessId": business})
}

fn license_async(instance: &str, event: &str, fingerprint: &str) -> Value {
    json!({"activity": "getLicenseAsync", "instanceId": instance, "eventId": event,
           "effectiveTime": crate::helpers::license_time(-30), "expireTime": crate::helpers::license_time(180),
           "deviceFingerprint": fingerprint})
}

/// An instance whose order (quantity `quantity`, periodic, expiring in a year) KooGallery knows.
async fn instance_with_order(
    app: &TestApp,
    sim: &Marketplace,
    order: &str,
    quantity: i64,
) -> String {
    sim.add_order(
        order,
        "PERIOD",
        quantity,
        &crate::client_api::compact_in(365),
    )
    .await;
    let business = format!("biz-{order}");
    let answer = app.callback(&new_instance(order, &business)).await;
    assert_eq!(answer.code(), "000000", "{:?}", answer.body);
    business
}

both_backends!(
    new_instance_answers_the_first_business_id_on_every_repeat,
    |app: TestApp| async move {
        let first = app.callback(&new_instance("CS1", "biz-1")).await;
        assert_eq!(first.status, 200);
        assert_eq!(
            first.body,
            json!({"resultCode": "000000", "resultMsg": "success.", "instanceId": "biz-1"})
        );
        let again = app.callback(&new_instance("CS1", "biz-2")).await;
        assert_eq!(again.body["instanceId"], "biz-1");
        assert_eq!(app.production_rows().0, 1);
    }
);

both_backends!(
    twenty_simultaneous_new_instances_make_one_instance,
    |app: TestApp| async move {
        let bodies: Vec<Value> = (0..20)
            .map(|i| new_instance("CS-RACE", &format!("biz-{i}")))
            .collect();
        let answers = futures_util::future::join_all(bodies.iter().map(|b| app.callback(b))).await;
        let ids: std::collections::HashSet<String> = answers
            .iter()
            .map(|a| a.body["instanceId"].as_str().unwrap().to_owned())
            .collect();
        assert!(
            answers.iter().all(|a| a.code() == "000000"),
            "{:?}",
            answers.iter().map(|a| &a.body).collect::<Vec<_>>()
        );
        assert_eq!(ids.len(), 1, "{ids:?}");
        assert_eq!(app.production_rows().0, 1);
    }
);

both_backends!(
    test_flag_calls_succeed_and_leave_no_production_data,
    |app: TestApp| async move {
        let before = app.production_rows();
        for body in [
            json!({"activity": "newInstance", "orderId": "T1", "orderLineId": "T1-1", "businessId": "b", "testFlag": "1"}),
            json!({"activity": "refreshInstance", "scene": "RENEWAL", "orderId": "T", "orderLineId": "T-1",
               "instanceId": "nope", "expireTime": "20271124023618", "testFlag": "1"}),
            json!({"activity": "updateInstanceStatus", "instanceId": "nope", "status": "FREEZE", "testFlag": "1"}),
            json!({"activity": "releaseInstance", "instanceId": "nope", "testFlag": "1"}),
            json!({"activity": "getLicenseAsync", "instanceId": "nope", "eventId": "e", "testFlag": "1",
               "effectiveTime": "2023-10-27 10:30:15 z", "deviceFingerprint": "AA|BB||CC"}),
            json!({"activity": "refreshLicenseCode", "scene": "RENEWAL", "orderId": "o", "orderLineId": "l",
               "license": "PLTEST", "expireTime": "20271124023618", "testFlag": "1"}),
            json!({"activity": "updateLicenseCodeStatus", "license": "PLTEST", "status": "FREEZE", "testFlag": "1"}),
            json!({"activity": "releaseLicenseCode", "license": "PLTEST", "testFlag": "1"}),
        ] {
            let answer = app.callback(&body).await;
            assert_eq!(answer.code(), "000000", "{body} -> {:?}", answer.body);
        }
        assert_eq!(app.production_rows(), before);
        // Validated like real calls: a malformed test call is still refused.
        let bad = app.callback(&json!({"activity": "updateInstanceStatus", "instanceId": "x", "status": "MELT", "testFlag": "1"})).await;
        assert_eq!(bad.code(), "000002");
    }
);

both_backends!(
    instance_lifecycle_callbacks_apply_once_and_repeat_as_success,
    |app: TestApp| async move {
        app.callback(&new_instance("CS2", "inst-2")).await;
        let refresh = json!({"activity": "refreshInstance", "scene": "RENEWAL", "orderId": "CS2-R",
        "orderLineId": "CS2-R-1", "instanceId": "inst-2", "expireTime": "20281124023618256"});
        for _ in 0..2 {
            assert_eq!(app.callback(&refresh).await.code(), "000000");
        }
        for status in ["FREEZE", "FREEZE", "UNFREEZE"] {
            let body = json!({"activity": "updateInstanceStatus", "instanceId": "inst-2", "status": status});
            assert_eq!(app.callback(&body).await.code(), "000000");
        }
        for _ in 0..2 {
            let release = json!({"activity": "releaseInstance", "instanceId": "inst-2"});
            assert_eq!(app.callback(&release).await.code(), "000000");
        }
        let history = app.get_events("instance", "inst-2");
        assert_eq!(
            history,
            ["created", "refreshed", "frozen", "unfrozen", "released"]
        );
    }
);

both_backends!(unknown_instances_answer_000003, |app: TestApp| async move {
    for body in [
        json!({"activity": "refreshInstance", "scene": "RENEWAL", "orderId": "o", "orderLineId": "l",
               "instanceId": "ghost", "expireTime": "20271124023618"}),
        json!({"activity": "updateInstanceStatus", "instanceId": "ghost", "status": "FREEZE"}),
        json!({"activity": "releaseInstance", "instanceId": "ghost"}),
        license_async("ghost", "e1", "AA|BB|CC|DD"),
    ] {
        assert_eq!(app.callback(&body).await.code(), "000003", "{body}");
    }
    assert_eq!(app.production_rows(), (0, 0, 0, 0, 0));
});

both_backends!(
    malformed_requests_answer_000002_naming_the_field,
    |app: TestApp| async move {
        let cases = [
            (
                json!({"activity": "newInstance", "orderLineId": "l", "businessId": "b"}),
                "orderId",
            ),
            (
                json!({"activity": "newInstance", "orderId": 42, "orderLineId": "l", "businessId": "b"}),
                "orderId",
            ),
            (
                json!({"activity": "newInstance", "orderId": "o".repeat(65), "orderLineId": "l", "businessId": "b"}),
                "orderId",
            ),
            (json!({"activity": "fly"}), "activity"),
            (json!({"orderId": "o"}), "activity"),
            (
                json!({"activity": "refreshInstance", "scene": "RENEWAL", "orderId": "o", "orderLineId": "l",
                "instanceId": "i", "expireTime": "2027-13-01"}),
                "expireTime",
            ),
            (
                json!({"activity": "updateInstanceStatus", "instanceId": "i", "status": "MELT"}),
                "status",
            ),
            (
                json!({"activity": "getLicenseAsync", "instanceId": "i", "eventId": "e"}),
                "effectiveTime",
            ),
            (
                json!({"activity": "newInstance", "orderId": "o", "orderLineId": "l", "businessId": "b", "testFlag": "yes"}),
                "testFlag",
            ),
        ];
        for (body, field) in cases {
            let answer = app.callback(&body).await;
            assert_eq!(answer.code(), "000002", "{body}");
            assert!(
                answer.body["resultMsg"].as_str().unwrap().contains(field),
                "{body} -> {:?}",
                answer.body
            );
        }
        let empty = json!({});
        let not_json = SignedCall::new(&empty);
        let answer = app
            .raw_callback(&not_json.query(), b"{not json".to_vec())
            .await;
        assert_eq!(
            answer.code(),
            "000001",
            "the signature covers the body, so garbage fails auth first"
        );
        assert_eq!(app.production_rows(), (0, 0, 0, 0, 0));
    }
);

both_backends!(
    authentication_failures_answer_000001_and_change_nothing,
    |app: TestApp| async move {
        let body = new_instance("CS-AUTH", "biz");
        let mut wrong_key = SignedCall::new(&body);
        wrong_key.key = "not-the-key";
        let mut stale = SignedCall::new(&body);
        stale.timestamp_ms -= 61_000;
        let mut future = SignedCall::new(&body);
        future.timestamp_ms += 61_000;
        for call in [&wrong_key, &stale, &future] {
            let answer = app.send(call).await;
            assert_eq!(answer.code(), "000001", "{:?}", answer.body);
        }
        let good = SignedCall::new(&body);
        let query = good.query();
        for missing in ["signature", "timestamp", "nonce"] {
            let partial: Vec<&str> = query
                .split('&')
                .filter(|p| !p.starts_with(missing))
                .collect();
            let answer = app
                .raw_callback(&partial.join("&"), serde_json::to_vec(&body).unwrap())
                .await;
            assert_eq!(answer.code(), "000001", "without {missing}");
        }
        let tampered = app
            .raw_callback(
                &query,
                serde_json::to_vec(&new_instance("CS-OTHER", "biz")).unwrap(),
            )
            .await;
        assert_eq!(tampered.code(), "000001");
        assert_eq!(app.production_rows(), (0, 0, 0, 0, 0));
        // The genuine call succeeds once; its replay is refused.
        assert_eq!(app.send(&good).await.code(), "000000");
        let rows = app.production_rows();
        assert_eq!(app.send(&good).await.code(), "000001");
        assert_eq!(app.production_rows(), rows);
    }
);

both_backends!(
    license_code_callbacks_record_unseen_codes_and_repeat_as_success,
    |app: TestApp| async move {
        let refresh = json!({"activity": "refreshLicenseCode", "scene": "RENEWAL", "orderId": "CS-R",
        "orderLineId": "CS-R-1", "license": "PLUNSEEN00000001", "expireTime": "20281124023618"});
        for _ in 0..2 {
            assert_eq!(app.callback(&refresh).await.code(), "000000");
        }
        for status in ["FREEZE", "UNFREEZE"] {
            let body = json!({"activity": "updateLicenseCodeStatus", "license": "PLUNSEEN00000001", "status": status});
            assert_eq!(app.callback(&body).await.code(), "000000");
        }
        for _ in 0..2 {
            let body = json!({"activity": "releaseLicenseCode", "license": "PLUNSEEN00000001"});
            assert_eq!(app.callback(&body).await.code(), "000000");
        }
        let code_id = app.code_id("PLUNSEEN00000001");
        assert_eq!(
            app.get_events("code", &code_id),
            ["refreshed", "frozen", "unfrozen", "released"]
        );
        // The journal keeps only a hint of the code.
        let journal = app.journal_text();
        assert!(journal.contains("PLUN…01"), "{journal}");
        assert!(!journal.contains("PLUNSEEN00000001"), "{journal}");
    }
);

both_backends!(@backend responses_carry_body_sign_when_the_legacy_key_is_set, |backend| async move {
    let app = spawn_app_with(backend, &[("KOOLICENSE_ACCESS_KEY", ACCESS_KEY), ("KOOLICENSE_LEGACY_KEY", LEGACY_KEY)]).await;
    for body in [new_instance("CS-BS", "biz"), json!({"activity": "nope"})] {
        let answer = app.callback(&body).await;
        let header = answer.body_sign.expect("Body-Sign header");
        assert!(header.starts_with("sign_type=\"HMAC-SHA256\", signature= \""), "{header}");
        assert!(koolicense::koogallery::auth::verify_body_sign(LEGACY_KEY, &answer.raw, &header));
    }
});

#[actix_web::test]
async fn without_an_access_key_calls_are_refused_with_a_message_naming_it() {
    let app = spawn_app_with(
        crate::helpers::Backend::Sqlite,
        &[("KOOLICENSE_ACCESS_KEY", "")],
    )
    .await;
    let answer = app.callback(&new_instance("CS-NOKEY", "biz")).await;
    assert_eq!(answer.code(), "000005");
    assert!(
        answer.body["resultMsg"]
            .as_str()
            .unwrap()
            .contains("KOOLICENSE_ACCESS_KEY")
    );
}

mod with_marketplace {
    use super::*;

    both_backends!(@backend get_license_async_issues_one_license_per_request_and_repeats_it_byte_for_byte, |backend| async move {
        let (app, sim) = spawn_with_marketplace(backend).await;
        let instance = instance_with_order(&app, &sim, "CS-LIC", 2).await;
        let body = license_async(&instance, "evt-1", "04:7c:16:5e:e3:5d|disk1||bfebfbff00090672");
        assert_eq!(app.callback(&body).await.code(), "000000");
        let first = app.licenses_of(&instance);
        assert_eq!(first.len(), 1);
        for _ in 0..3 {
            assert_eq!(app.callback(&body).await.code(), "000000");
        }
        assert_eq!(app.licenses_of(&instance), first, "a repeat yields the same bytes");
        let payload = app.verify_license(&first[0], Some("04:7C:16:5E:E3:5D|DISK1||BFEBFBFF00090672"));
        assert_eq!(payload["instance_id"], instance.as_str());
        assert_eq!(payload["seats"], 2);
        let rfc3339 = |days| {
            (chrono::Utc::now() + chrono::TimeDelta::days(days))
                .format("%Y-%m-%dT00:00:00Z")
                .to_string()
        };
        assert_eq!(payload["not_before"], rfc3339(-30));
        assert_eq!(payload["expires_at"], rfc3339(180));
        assert_eq!(payload["source"], "instance");
    });

    both_backends!(@backend simultaneous_repeats_of_get_license_async_yield_one_license, |backend| async move {
        let (app, sim) = spawn_with_marketplace(backend).await;
        let instance = instance_with_order(&app, &sim, "CS-LIC-RACE", 1).await;
        let body = license_async(&instance, "evt-race", "AA|BB|CC|DD");
        let answers = futures_util::future::join_all((0..10).map(|_| app.callback(&body))).await;
        assert!(answers.iter().all(|a| a.code() == "000000"));
        assert_eq!(app.licenses_of(&instance).len(), 1);
    });

    both_backends!(@backend quota_period_expiry_and_fingerprint_rules_answer_0009xx, |backend| async move {
        let (app, sim) = spawn_with_marketplace(backend).await;
        let instance = instance_with_order(&app, &sim, "CS-QUOTA", 1).await;
        assert_eq!(app.callback(&license_async(&instance, "e1", "AA|BB|CC|DD")).await.code(), "000000");
        // The same device under a new event uses no new quota; a second device does.
        assert_eq!(app.callback(&license_async(&instance, "e2", "AA|BB|CC|DD")).await.code(), "000000");
        assert_eq!(app.callback(&license_async(&instance, "e3", "EE|FF|GG|HH")).await.code(), "000900");
        let mut beyond = license_async(&instance, "e4", "AA|BB|CC|DD");
        beyond["expireTime"] = json!("2030-01-01 00:00:00 z");
        assert_eq!(app.callback(&beyond).await.code(), "000901");
        let mut no_expiry = license_async(&instance, "e5", "AA|BB|CC|DD");
        no_expiry.as_object_mut().unwrap().remove("expireTime");
        assert_eq!(app.callback(&no_expiry).await.code(), "000902");
        let mut no_device = license_async(&instance, "e6", "AA|BB|CC|DD");
        no_device.as_object_mut().unwrap().remove("deviceFingerprint");
        assert_eq!(app.callback(&no_device).await.code(), "000903");
        assert_eq!(app.licenses_of(&instance).len(), 2);
    });

    both_backends!(@backend an_unknown_order_answers_000004_and_never_guesses_a_quota, |backend| async move {
        let (app, _sim) = spawn_with_marketplace(backend).await;
        assert_eq!(app.callback(&new_instance("CS-NOORDER", "inst-x")).await.code(), "000000");
        let answer = app.callback(&license_async("inst-x", "e1", "AA|BB|CC|DD")).await;
        assert_eq!(answer.code(), "000004");
        assert!(app.licenses_of("inst-x").is_empty());
    });
}

/// (activity, result code, order id, instance id, test flag) of one journal row.
type JournalRow = (String, String, Option<String>, Option<String>, bool);

both_backends!(
    every_authenticated_inbound_call_is_journalled_with_its_keys_and_result,
    |app: TestApp| async move {
        app.callback(&new_instance("CS-J", "inst-j")).await;
        let mut test = new_instance("CS-JT", "inst-jt");
        test["testFlag"] = json!("1");
        app.callback(&test).await;
        app.callback(&json!({"activity": "releaseInstance", "instanceId": "ghost"}))
            .await;
        let mut bad = SignedCall::new(&test);
        bad.key = "wrong";
        app.send(&bad).await;
        let filter = koolicense::db::models::marketplace_calls::CallFilter {
            direction: Some("inbound".into()),
            limit: 100,
            ..Default::default()
        };
        let mut rows =
            koolicense::db::models::marketplace_calls::list(&mut app.db(), &filter).unwrap();
        rows.reverse();
        let summary: Vec<JournalRow> = rows
            .iter()
            .map(|r| {
                (
                    r.activity.clone(),
                    r.result_code.clone(),
                    r.order_id.clone(),
                    r.instance_id.clone(),
                    r.test_flag,
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (
                    "newInstance".into(),
                    "000000".into(),
                    Some("CS-J".into()),
                    None,
                    false
                ),
                (
                    "newInstance".into(),
                    "000000".into(),
                    Some("CS-JT".into()),
                    None,
                    true
                ),
                (
                    "releaseInstance".into(),
                    "000003".into(),
                    None,
                    Some("ghost".into()),
                    false
                ),
                // The forged call is only counted (see rejections.rs): anyone can send one.
            ]
        );
        assert!(
            rows.iter()
                .all(|r| r.direction == "inbound" && r.latency_ms >= 0)
        );
        assert!(!app.journal_text().contains(ACCESS_KEY));
    }
);

both_backends!(@backend beyond_the_instance_limit_new_orders_answer_000100, |backend| async move {
    let app = spawn_app_with(backend, &[("KOOLICENSE_INSTANCE_LIMIT", "2")]).await;
    for (order, business) in [("CS-L1", "l1"), ("CS-L2", "l2")] {
        assert_eq!(app.callback(&new_instance(order, business)).await.code(), "000000");
    }
    let refused = app.callback(&new_instance("CS-L3", "l3")).await;
    assert_eq!(refused.code(), "000100", "{:?}", refused.body);
    // A repeat of a known order line is still answered with its instance.
    assert_eq!(app.callback(&new_instance("CS-L1", "l1-retry")).await.body["instanceId"], "l1");
    // Releasing one frees a place.
    app.callback(&json!({"activity": "releaseInstance", "instanceId": "l2"})).await;
    assert_eq!(app.callback(&new_instance("CS-L3", "l3")).await.code(), "000000");
    assert_eq!(app.production_rows().0, 3);
});

both_backends!(
    signed_but_unparseable_bodies_answer_000002_naming_the_body,
    |app: TestApp| async move {
        // KooGallery's signature over a body that is not JSON: the raw-bytes form verifies it.
        let raw = "{\"activity\": newInstance";
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let ts = chrono::Utc::now().timestamp_millis().to_string();
        let signature =
            koolicense::koogallery::auth::scheme_b_signature(ACCESS_KEY, &nonce, &ts, raw);
        let query = format!("signature={signature}&timestamp={ts}&nonce={nonce}");
        let answer = app.raw_callback(&query, raw.as_bytes().to_vec()).await;
        assert_eq!(answer.code(), "000002", "{:?}", answer.body);
        assert!(answer.body["resultMsg"].as_str().unwrap().contains("body"));
        assert_eq!(app.production_rows(), (0, 0, 0, 0, 0));
    }
);
