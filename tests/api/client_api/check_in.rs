//! `POST /v1/check-in`: verdicts, the once-a-day query, renewals, and the usage it records.

use diesel::prelude::*;
use koolicense::db::schema::code_usage;
use serde_json::json;

use super::{Client, Reply, compact_in, machine, rfc3339_of};
use crate::with_marketplace;

with_marketplace!(
    check_ins_are_valid_and_query_once_a_day,
    |client: Client| async move {
        // Arrange: activation itself does not count as the day's query (it reports an estimate).
        let expire = client.add_code("PLDAILY0000001", 2).await;
        assert_eq!(
            client.activate("PLDAILY0000001", &machine(1)).await.status,
            201
        );

        // Act
        let mut answers = Vec::new();
        for _ in 0..3 {
            answers.push(client.check_in("PLDAILY0000001", &machine(1)).await);
        }

        // Assert
        for answer in &answers {
            assert_eq!(answer.status, 200);
            assert_eq!(
                answer.body,
                json!({"valid": true, "status": "VALID", "expires_at": rfc3339_of(&expire)})
            );
        }
        assert_eq!(client.sim_calls("heartbeat", "PLDAILY0000001").await, 1);

        // The next UTC day, the first check-in queries again.
        client.age_daily_query("PLDAILY0000001");
        assert_eq!(
            client.check_in("PLDAILY0000001", &machine(1)).await.body["valid"],
            true
        );
        assert_eq!(
            client.check_in("PLDAILY0000001", &machine(1)).await.body["valid"],
            true
        );
        assert_eq!(client.sim_calls("heartbeat", "PLDAILY0000001").await, 2);
    }
);

with_marketplace!(
    simultaneous_first_check_ins_query_once,
    |client: Client| async move {
        client.add_code("PLDAILYBURST01", 1).await;
        assert_eq!(
            client.activate("PLDAILYBURST01", &machine(1)).await.status,
            201
        );

        let fp = machine(1);
        let answers =
            futures_util::future::join_all((0..12).map(|_| client.check_in("PLDAILYBURST01", &fp)))
                .await;

        assert!(
            answers.iter().all(|a| a.body["status"] == "VALID"),
            "{answers:?}"
        );
        assert_eq!(client.sim_calls("heartbeat", "PLDAILYBURST01").await, 1);
    }
);

with_marketplace!(
    a_renewal_gives_the_next_revision_on_the_next_check_in,
    |client: Client| async move {
        client.add_code("PLRENEW0000001", 1).await;
        let activated = client.activate("PLRENEW0000001", &machine(1)).await;
        assert_eq!(
            client.check_in("PLRENEW0000001", &machine(1)).await.body["valid"],
            true
        );

        // KooGallery renews: the callback, and the marketplace's own record.
        let renewed = compact_in(730);
        let refresh = json!({"activity": "refreshLicenseCode", "scene": "RENEWAL", "orderId": "CS-RENEW",
        "orderLineId": "CS-RENEW-1", "license": "PLRENEW0000001", "expireTime": renewed});
        assert_eq!(client.app.callback(&refresh).await.code(), "000000");
        client
            .sim_post(
                "/sim/codes/PLRENEW0000001",
                &json!({"expire_time": renewed}),
            )
            .await;

        let next = client.check_in("PLRENEW0000001", &machine(1)).await;

        assert_eq!(next.body["status"], "VALID");
        assert_eq!(next.body["expires_at"], rfc3339_of(&renewed));
        let payload = client.app.verify_license(next.license(), Some(&machine(1)));
        assert_eq!(payload["revision"], 2);
        assert_eq!(payload["license_id"], activated.body["license_id"]);
        assert_eq!(payload["expires_at"], rfc3339_of(&renewed));
        let old = client
            .app
            .verify_license(activated.license(), Some(&machine(1)));
        assert_eq!(payload["not_before"], old["not_before"]);

        // Only once; and a repeat activation now returns the current revision.
        let later = client.check_in("PLRENEW0000001", &machine(1)).await;
        assert!(later.body.get("license").is_none(), "{}", later.body);
        let repeat = client.activate("PLRENEW0000001", &machine(1)).await;
        assert_eq!((repeat.status, repeat.license()), (200, next.license()));
        assert_eq!(client.sim_calls("activate", "PLRENEW0000001").await, 1);
    }
);

with_marketplace!(
    the_daily_query_updates_the_code_and_its_license,
    |client: Client| async move {
        client.add_code("PLQUERIED00001", 1).await;
        assert_eq!(
            client.activate("PLQUERIED00001", &machine(1)).await.status,
            201
        );
        let corrected = compact_in(400);
        client
            .sim_post(
                "/sim/codes/PLQUERIED00001",
                &json!({"expire_time": corrected}),
            )
            .await;

        let first = client.check_in("PLQUERIED00001", &machine(1)).await;

        assert_eq!(first.body["expires_at"], rfc3339_of(&corrected));
        let payload = client
            .app
            .verify_license(first.license(), Some(&machine(1)));
        assert_eq!(
            (payload["revision"].as_i64(), payload["expires_at"].as_str()),
            (Some(2), Some(&*rfc3339_of(&corrected)))
        );

        // KooGallery reports the code expired: the next day's check-in says so.
        client
            .sim_post("/sim/codes/PLQUERIED00001", &json!({"status": "EXPIRED"}))
            .await;
        client.age_daily_query("PLQUERIED00001");
        let expired = client.check_in("PLQUERIED00001", &machine(1)).await;
        assert_eq!(
            (
                expired.body["valid"].as_bool(),
                expired.body["status"].as_str()
            ),
            (Some(false), Some("EXPIRED"))
        );
    }
);

with_marketplace!(
    an_unreachable_marketplace_leaves_the_local_state_in_charge,
    |client: Client| async move {
        client.add_code("PLOFFLINE00001", 1).await;
        assert_eq!(
            client.activate("PLOFFLINE00001", &machine(1)).await.status,
            201
        );
        client
            .sim_post(
                "/sim/faults",
                &json!({"api": "heartbeat", "kind": "http500", "count": 2}),
            )
            .await;

        let offline = client.check_in("PLOFFLINE00001", &machine(1)).await;

        assert_eq!(offline.body["status"], "VALID");
        assert_eq!(client.code_row("PLOFFLINE00001").last_queried_on, None);
        // The next check-in tries again, and succeeds.
        assert_eq!(
            client.check_in("PLOFFLINE00001", &machine(1)).await.body["status"],
            "VALID"
        );
        assert_eq!(client.sim_calls("heartbeat", "PLOFFLINE00001").await, 3);
        assert!(client.code_row("PLOFFLINE00001").last_queried_on.is_some());
    }
);

with_marketplace!(
    machines_without_a_binding_are_told_why,
    |client: Client| async move {
        client.add_code("PLUNBOUND00001", 1).await;
        let unknown = client.check_in("PLNEVERSEEN001", &machine(1)).await;
        assert_eq!(
            unknown.body,
            json!({"valid": false, "status": "NOT_ACTIVATED", "expires_at": null})
        );

        assert_eq!(
            client.activate("PLUNBOUND00001", &machine(1)).await.status,
            201
        );
        let other = client.check_in("PLUNBOUND00001", &machine(2)).await;
        assert_eq!(
            (other.body["valid"].as_bool(), other.body["status"].as_str()),
            (Some(false), Some("FINGERPRINT_MISMATCH"))
        );

        assert_eq!(
            client
                .deactivate("PLUNBOUND00001", &machine(1))
                .await
                .status,
            200
        );
        let freed = client.check_in("PLUNBOUND00001", &machine(1)).await;
        assert_eq!(freed.body["status"], "NOT_ACTIVATED");
    }
);

with_marketplace!(
    frozen_released_and_revoked_codes_check_in_invalid,
    |client: Client| async move {
        client.add_code("PLVERDICTS0001", 2).await;
        let first = client.activate("PLVERDICTS0001", &machine(1)).await;
        assert_eq!(
            client.activate("PLVERDICTS0001", &machine(2)).await.status,
            201
        );
        let status = |reply: Reply| {
            (
                reply.body["valid"].as_bool().unwrap(),
                reply.body["status"].as_str().unwrap().to_owned(),
            )
        };

        let freeze = json!({"activity": "updateLicenseCodeStatus", "license": "PLVERDICTS0001", "status": "FREEZE"});
        client.app.callback(&freeze).await;
        assert_eq!(
            status(client.check_in("PLVERDICTS0001", &machine(1)).await),
            (false, "FROZEN".into())
        );
        let unfreeze = json!({"activity": "updateLicenseCodeStatus", "license": "PLVERDICTS0001", "status": "UNFREEZE"});
        client.app.callback(&unfreeze).await;
        assert_eq!(
            status(client.check_in("PLVERDICTS0001", &machine(1)).await),
            (true, "VALID".into())
        );

        let license_id = first.body["license_id"].as_str().unwrap();
        koolicense::db::models::licenses::set_revoked(
            &mut client.app.db(),
            &license_id.into(),
            true,
            koolicense::db::models::now(),
        )
        .unwrap();
        assert_eq!(
            status(client.check_in("PLVERDICTS0001", &machine(1)).await),
            (false, "REVOKED".into())
        );
        assert_eq!(
            status(client.check_in("PLVERDICTS0001", &machine(2)).await),
            (true, "VALID".into())
        );

        let release = json!({"activity": "releaseLicenseCode", "license": "PLVERDICTS0001"});
        client.app.callback(&release).await;
        for n in [1, 2] {
            assert_eq!(
                status(client.check_in("PLVERDICTS0001", &machine(n)).await),
                (false, "RELEASED".into())
            );
        }
    }
);

with_marketplace!(
    check_ins_feed_the_daily_usage,
    |client: Client| async move {
        client.add_code("PLUSAGE0000001", 3).await;
        for n in 1..=3 {
            assert_eq!(
                client.activate("PLUSAGE0000001", &machine(n)).await.status,
                201
            );
        }
        let code_id = client.code_row("PLUSAGE0000001").id;
        let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
        // Yesterday's activations do not count today; today's check-ins do, once per machine.
        diesel::delete(code_usage::table)
            .execute(&mut client.app.db())
            .unwrap();

        for n in [1, 2, 2, 1, 2] {
            assert_eq!(
                client.check_in("PLUSAGE0000001", &machine(n)).await.body["valid"],
                true
            );
        }
        client.check_in("PLUSAGE0000001", &machine(9)).await;

        let clients: Vec<String> = code_usage::table
            .filter(code_usage::code_id.eq(&code_id))
            .filter(code_usage::day.eq(&today))
            .select(code_usage::client_id)
            .order(code_usage::client_id)
            .load(&mut client.app.db())
            .unwrap();
        let mut expected: Vec<String> = [1, 2]
            .iter()
            .map(|n| koolicense::domain::fingerprint::sha256_hex_of_normalised(&machine(*n)))
            .collect();
        expected.sort();
        assert_eq!(clients, expected);
    }
);
