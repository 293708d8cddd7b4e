//! `POST /v1/activate`: first activation, repeats, the seat limit under concurrency, and every
//! error of §4.

use futures_util::future::join_all;
use serde_json::{Value, json};

use super::{Client, Reply, compact_in, machine, reply, rfc3339_of, start_with};
use crate::both_backends;
use crate::with_marketplace;

with_marketplace!(
    first_activation_returns_a_license_that_verifies,
    |client: Client| async move {
        // Arrange
        let expire = client.add_code("PLFIRST0000001", 2).await;
        let fp = machine(1);

        // Act
        let answer = client.activate("PLFIRST0000001", &fp).await;

        // Assert
        assert_eq!(answer.status, 201, "{:?}", answer.body);
        assert_eq!(answer.body["status"], "ACTIVE");
        assert_eq!(answer.body["seats"], json!({"used": 1, "total": 2}));
        assert_eq!(answer.body["expires_at"], rfc3339_of(&expire));
        let payload = client
            .app
            .verify_license(answer.license(), Some(&fp.to_lowercase()));
        assert_eq!(payload["license_id"], answer.body["license_id"]);
        assert_eq!(payload["revision"], 1);
        assert_eq!(payload["source"], "authcode");
        assert_eq!(payload["seats"], 2);
        assert_eq!(payload["order_id"], "CS-ORDER-1");
        assert_eq!(payload["product_id"], "OFFI-PRODUCT-1");
        assert_eq!(payload["expires_at"], rfc3339_of(&expire));
        let code_sha = koolicense::license_file::code_sha256("PLFIRST0000001");
        assert_eq!(payload["code_sha256"], code_sha);

        let code = client.code_row("PLFIRST0000001");
        assert!(code.activated);
        assert_eq!(
            (code.seats, code.order_id.as_deref()),
            (2, Some("CS-ORDER-1"))
        );
        assert_eq!(client.rows(), (1, 1, 1, 1));
        assert_eq!(client.sim_calls("activate", "PLFIRST0000001").await, 1);

        // The command-line verifier accepts it with the published keys, and only for this machine.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("license.lic");
        std::fs::write(&file, answer.license()).unwrap();
        let keys_url = client.app.url("/v1/keys");
        let run = |fingerprint: String| {
            let (file, keys_url) = (file.clone(), keys_url.clone());
            actix_web::web::block(move || {
                std::process::Command::new(env!("CARGO_BIN_EXE_koolicense"))
                    .args(["verify", "--license"])
                    .arg(&file)
                    .args(["--keys-url", &keys_url, "--fingerprint", &fingerprint])
                    .output()
                    .unwrap()
            })
        };
        let good = run(fp.clone()).await.unwrap();
        assert!(
            good.status.success(),
            "{}",
            String::from_utf8_lossy(&good.stdout)
        );
        let other = run(machine(2)).await.unwrap();
        assert!(!other.status.success());
    }
);

with_marketplace!(
    a_repeat_returns_the_same_bytes_and_takes_no_seat,
    |client: Client| async move {
        client.add_code("PLREPEAT000001", 2).await;

        let first = client.activate("PLREPEAT000001", &machine(1)).await;
        let again = client.activate("PLREPEAT000001", &machine(1)).await;
        // The normalised fingerprint is the same machine.
        let lower = client
            .activate(
                "PLREPEAT000001",
                &format!("  {}\n", machine(1).to_lowercase()),
            )
            .await;

        assert_eq!(first.status, 201);
        for repeat in [&again, &lower] {
            assert_eq!(repeat.status, 200, "{:?}", repeat.body);
            assert_eq!(repeat.license(), first.license());
            assert_eq!(repeat.body["license_id"], first.body["license_id"]);
            assert_eq!(repeat.body["seats"], json!({"used": 1, "total": 2}));
        }
        assert_eq!(client.live("PLREPEAT000001"), 1);
        assert_eq!(client.sim_calls("activate", "PLREPEAT000001").await, 1);
    }
);

with_marketplace!(
    ten_machines_at_once_get_exactly_the_seats,
    |client: Client| async move {
        client.add_code("PLSEATS0000001", 2).await;

        let machines: Vec<String> = (0..10).map(machine).collect();

        let answers: Vec<Reply> = join_all(
            machines
                .iter()
                .map(|fp| client.activate("PLSEATS0000001", fp)),
        )
        .await;

        let created = answers.iter().filter(|a| a.status == 201).count();
        let refused: Vec<&Reply> = answers.iter().filter(|a| a.status == 409).collect();
        assert_eq!(created, 2, "{answers:?}");
        assert_eq!(refused.len(), 8, "{answers:?}");
        for answer in refused {
            assert_eq!(answer.code(), "SEAT_LIMIT_REACHED");
        }
        assert_eq!(client.live("PLSEATS0000001"), 2);
        assert_eq!(client.rows().2, 2, "one license per binding");
    }
);

with_marketplace!(
    thirty_identical_requests_take_one_seat,
    |client: Client| async move {
        client.add_code("PLSAME00000001", 3).await;
        let fp = machine(7);

        let answers: Vec<Reply> =
            join_all((0..30).map(|_| client.activate("PLSAME00000001", &fp))).await;

        assert!(
            answers.iter().all(|a| a.status == 200 || a.status == 201),
            "{answers:?}"
        );
        assert_eq!(answers.iter().filter(|a| a.status == 201).count(), 1);
        let license = answers[0].license();
        assert!(answers.iter().all(|a| a.license() == license));
        assert_eq!(client.live("PLSAME00000001"), 1);
        // Coalesced in-process: KooGallery was asked once.
        assert_eq!(client.sim_calls("activate", "PLSAME00000001").await, 1);
    }
);

with_marketplace!(
    unclaimed_and_unknown_codes_record_nothing,
    |client: Client| async move {
        client
            .sim_post(
                "/sim/codes",
                &json!({"code": "PLUNCLAIMED001", "claimed": false}),
            )
            .await;

        let unclaimed = client.activate("PLUNCLAIMED001", &machine(1)).await;
        let unknown = client.activate("PLNOSUCHCODE01", &machine(1)).await;

        assert_eq!(
            (unclaimed.status, unclaimed.code()),
            (409, "CODE_NOT_CLAIMED")
        );
        assert!(
            unclaimed.body["message"]
                .as_str()
                .unwrap()
                .contains("claim")
        );
        assert_eq!((unknown.status, unknown.code()), (404, "CODE_NOT_FOUND"));
        assert_eq!(client.rows(), (0, 0, 0, 0));

        // Once claimed, the same code activates.
        client
            .sim_post("/sim/codes/PLUNCLAIMED001", &json!({"claimed": true}))
            .await;
        assert_eq!(
            client.activate("PLUNCLAIMED001", &machine(1)).await.status,
            201
        );
    }
);

with_marketplace!(
    an_unreachable_marketplace_answers_503_and_records_nothing,
    |client: Client| async move {
        client.add_code("PLDOWN00000001", 1).await;
        // Primary and fallback are both the simulator: two failures make the call fail.
        client
            .sim_post(
                "/sim/faults",
                &json!({"api": "activate", "kind": "http500", "count": 2}),
            )
            .await;

        let down = client.activate("PLDOWN00000001", &machine(1)).await;

        assert_eq!(
            (down.status, down.code()),
            (503, "MARKETPLACE_UNAVAILABLE"),
            "{:?}",
            down.body
        );
        assert_eq!(client.rows(), (0, 0, 0, 0));
        let retried = client.activate("PLDOWN00000001", &machine(1)).await;
        assert_eq!(retried.status, 201, "{:?}", retried.body);
    }
);

both_backends!(@backend a_closed_marketplace_port_answers_503, |backend| async move {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let client = start_with(backend, &[
        ("KOOLICENSE_MARKETPLACE_URL", &url),
        ("KOOLICENSE_MARKETPLACE_FALLBACK_URL", &url),
    ])
    .await;

    let down = client.activate("PLCLOSED000001", &machine(1)).await;

    assert_eq!((down.status, down.code()), (503, "MARKETPLACE_UNAVAILABLE"));
    assert_eq!(client.rows(), (0, 0, 0, 0));
});

with_marketplace!(
    a_code_activated_elsewhere_is_recorded_from_the_query,
    |client: Client| async move {
        client.add_code("PLELSEWHERE001", 4).await;
        client
            .sim_post("/sim/codes/PLELSEWHERE001", &json!({"activated": true}))
            .await;

        let answer = client.activate("PLELSEWHERE001", &machine(1)).await;

        assert_eq!(answer.status, 201, "{:?}", answer.body);
        assert_eq!(answer.body["seats"], json!({"used": 1, "total": 4}));
        assert_eq!(client.sim_calls("heartbeat", "PLELSEWHERE001").await, 1);
        let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
        assert_eq!(
            client.code_row("PLELSEWHERE001").last_queried_on,
            Some(today)
        );
    }
);

with_marketplace!(
    callbacks_freeze_release_and_revoke_what_activation_answers,
    |client: Client| async move {
        client.add_code("PLSTATES000001", 3).await;
        let first = client.activate("PLSTATES000001", &machine(1)).await;
        assert_eq!(first.status, 201);

        // Frozen: the bound machine and a new one are refused; unfreezing lets them in again.
        let freeze = json!({"activity": "updateLicenseCodeStatus", "license": "PLSTATES000001", "status": "FREEZE"});
        assert_eq!(client.app.callback(&freeze).await.code(), "000000");
        for n in [1, 2] {
            let frozen = client.activate("PLSTATES000001", &machine(n)).await;
            assert_eq!((frozen.status, frozen.code()), (403, "LICENSE_FROZEN"));
        }
        let unfreeze = json!({"activity": "updateLicenseCodeStatus", "license": "PLSTATES000001", "status": "UNFREEZE"});
        assert_eq!(client.app.callback(&unfreeze).await.code(), "000000");
        assert_eq!(
            client.activate("PLSTATES000001", &machine(1)).await.status,
            200
        );

        // Revoked by support: that machine is refused, others are not.
        let license_id = first.body["license_id"].as_str().unwrap();
        let now = koolicense::db::models::now();
        koolicense::db::models::licenses::set_revoked(
            &mut client.app.db(),
            &license_id.into(),
            true,
            now,
        )
        .unwrap();
        let revoked = client.activate("PLSTATES000001", &machine(1)).await;
        assert_eq!((revoked.status, revoked.code()), (403, "LICENSE_REVOKED"));
        assert_eq!(
            client.activate("PLSTATES000001", &machine(2)).await.status,
            201
        );

        // Released: everything is refused, for good.
        let release = json!({"activity": "releaseLicenseCode", "license": "PLSTATES000001"});
        assert_eq!(client.app.callback(&release).await.code(), "000000");
        for n in [1, 2, 3] {
            let released = client.activate("PLSTATES000001", &machine(n)).await;
            assert_eq!(
                (released.status, released.code()),
                (403, "LICENSE_RELEASED")
            );
        }
        assert_eq!(client.sim_calls("activate", "PLSTATES000001").await, 1);
    }
);

with_marketplace!(
    codes_known_from_callbacks_are_refused_without_asking,
    |client: Client| async move {
        client.add_code("PLRELEASEDFIRST", 1).await;
        client.add_code("PLEXPIREDFIRST1", 1).await;
        let release = json!({"activity": "releaseLicenseCode", "license": "PLRELEASEDFIRST"});
        assert_eq!(client.app.callback(&release).await.code(), "000000");
        let lapsed = json!({"activity": "refreshLicenseCode", "scene": "UNSUBSCRIBE_RENEWAL_PERIOD",
        "orderId": "CS-U", "orderLineId": "CS-U-1", "license": "PLEXPIREDFIRST1",
        "expireTime": compact_in(-1)});
        assert_eq!(client.app.callback(&lapsed).await.code(), "000000");

        let released = client.activate("PLRELEASEDFIRST", &machine(1)).await;
        let expired = client.activate("PLEXPIREDFIRST1", &machine(1)).await;

        assert_eq!(
            (released.status, released.code()),
            (403, "LICENSE_RELEASED")
        );
        assert_eq!((expired.status, expired.code()), (403, "LICENSE_EXPIRED"));
        assert_eq!(client.sim_calls("activate", "PLRELEASEDFIRST").await, 0);
        assert_eq!(client.sim_calls("activate", "PLEXPIREDFIRST1").await, 0);
    }
);

with_marketplace!(
    an_expired_code_is_refused_after_activation,
    |client: Client| async move {
        client
            .sim_post(
                "/sim/codes",
                &json!({"code": "PLLAPSED000001", "expire_time": compact_in(-2)}),
            )
            .await;

        let answer = client.activate("PLLAPSED000001", &machine(1)).await;

        assert_eq!((answer.status, answer.code()), (403, "LICENSE_EXPIRED"));
        assert_eq!(client.live("PLLAPSED000001"), 0);
    }
);

with_marketplace!(
    invalid_requests_name_the_field,
    |client: Client| async move {
        let fp = machine(1);
        let cases: Vec<(Value, &str)> = vec![
            (json!({"fingerprint": fp}), "code"),
            (json!({"code": 42, "fingerprint": fp}), "code"),
            (json!({"code": "PL WITH SPACE", "fingerprint": fp}), "code"),
            (json!({"code": "P".repeat(65), "fingerprint": fp}), "code"),
            (json!({"code": "PLOK", "fingerprint": ""}), "fingerprint"),
            (
                json!({"code": "PLOK", "fingerprint": "F".repeat(5121)}),
                "fingerprint",
            ),
            (
                json!({"code": "PLOK", "fingerprint": fp, "hostname": ["x"]}),
                "hostname",
            ),
        ];
        for path in ["/v1/activate", "/v1/check-in", "/v1/deactivate"] {
            for (body, field) in &cases {
                if path != "/v1/activate" && *field == "hostname" {
                    continue;
                }
                let answer = client.post(path, body).await;
                assert_eq!(
                    (answer.status, answer.code()),
                    (400, "INVALID_REQUEST"),
                    "{path} {body}"
                );
                let message = answer.body["message"].as_str().unwrap();
                assert!(
                    message.starts_with(&format!("{field}:")),
                    "{path} {body}: {message}"
                );
            }
        }
        let garbage = client
            .app
            .client
            .post(client.app.url("/v1/activate"))
            .header("Content-Type", "application/json")
            .body("{not json")
            .send()
            .await
            .unwrap();
        let garbage = reply(garbage).await;
        assert_eq!((garbage.status, garbage.code()), (400, "INVALID_REQUEST"));
        let huge = client
            .post(
                "/v1/activate",
                &json!({"code": "PL", "fingerprint": "F".repeat(40_000)}),
            )
            .await;
        assert_eq!((huge.status, huge.code()), (413, "INVALID_REQUEST"));
        assert_eq!(client.rows(), (0, 0, 0, 0));
    }
);

with_marketplace!(
    keys_and_the_openapi_document_describe_the_client_api,
    |client: Client| async move {
        let keys = client.app.get("/v1/keys").await;
        assert_eq!(keys.status(), 200);
        let keys: Value = keys.json().await.unwrap();
        let first = &keys["keys"][0];
        assert_eq!(
            (first["alg"].as_str(), first["status"].as_str()),
            (Some("ed25519"), Some("active"))
        );
        assert!(first["kid"].is_string() && first["public_key"].is_string());

        let doc: Value = client.app.get("/openapi.json").await.json().await.unwrap();
        for path in ["/v1/activate", "/v1/check-in", "/v1/deactivate", "/v1/keys"] {
            assert!(
                doc["paths"][path].is_object(),
                "{path} missing from the OpenAPI document"
            );
        }
    }
);

with_marketplace!(
    every_marketplace_call_of_an_activation_is_journalled_however_it_ends,
    |client: Client| async move {
        use koolicense::db::models::marketplace_calls::{self, CallFilter};
        let journal = || -> Vec<(String, String)> {
            let filter = CallFilter {
                direction: Some("outbound".into()),
                limit: 100,
                ..CallFilter::default()
            };
            let mut calls = marketplace_calls::list(&mut client.app.db(), &filter).unwrap();
            calls.reverse();
            calls
                .into_iter()
                .map(|c| (c.activity, c.result_code))
                .collect()
        };
        let call = |activity: &str, code: &str| (activity.to_owned(), code.to_owned());

        // Bound: the row is written in the binding's transaction.
        client.add_code("PLJOURNAL00001", 1).await;
        assert_eq!(
            client.activate("PLJOURNAL00001", &machine(1)).await.status,
            201
        );
        assert_eq!(journal(), vec![call("activate", "92020000")]);
        // Refused before any write (KooGallery does not know the code): written on its own.
        assert_eq!(
            client.activate("PLJOURNAL00404", &machine(1)).await.status,
            404
        );
        // No answer from either host: written on its own too, and the retry binds.
        client.add_code("PLJOURNAL00503", 1).await;
        let down = json!({"api": "activate", "kind": "http500", "count": 2});
        client.sim_post("/sim/faults", &down).await;
        assert_eq!(
            client.activate("PLJOURNAL00503", &machine(1)).await.status,
            503
        );
        assert_eq!(
            client.activate("PLJOURNAL00503", &machine(1)).await.status,
            201
        );
        let calls = journal();
        assert_eq!(calls.len(), 4, "{calls:?}");
        assert_eq!(calls[1], call("activate", "92020005"));
        assert_ne!(calls[2].1, "92020000", "{calls:?}");
        assert_eq!(calls[3], call("activate", "92020000"));
        // The seat is taken: refused in the locked write, with no marketplace call.
        assert_eq!(
            client.activate("PLJOURNAL00001", &machine(2)).await.status,
            409
        );
        assert_eq!(journal().len(), 4);
    }
);
