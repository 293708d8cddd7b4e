//! Secrets never reach the logs: a server with JSON logs at debug level handles activations,
//! check-ins, KooGallery callbacks and admin searches; its log holds none of the codes,
//! fingerprints, tokens or keys it saw.

use serde_json::json;

use crate::callers::{ACCESS_KEY, SignedCall};
use crate::helpers::{Backend, TestDatabase};
use crate::marketplace::{Marketplace, SIM_AK, SIM_SK};
use crate::process::{ServerProcess, free_port};

const CODE: &str = "PLSECRETCODE0001";
const FINGERPRINT: &str = "AA:BB:CC:DD:EE:FF|SECRETDISK|SECRETBOARD|SECRETCPU";

#[actix_web::test]
async fn logs_hold_no_codes_fingerprints_tokens_or_keys() {
    let sim = Marketplace::start().await;
    let code = json!({"code": CODE, "status": "ALIVE", "claimed": true, "amount": 2,
                      "expire_time": "20301231000000", "product_id": "p", "order_id": "CS-SECRET"});
    sim.client
        .post(format!("{}/sim/codes", sim.url))
        .json(&code)
        .send()
        .await
        .unwrap();
    let db = TestDatabase::create(Backend::Sqlite);
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys").display().to_string();
    let log = dir.path().join("server.log");
    let env = [
        ("KOOLICENSE_DATABASE_URL", db.url.as_str()),
        ("KOOLICENSE_KEYS_DIR", keys.as_str()),
        ("KOOLICENSE_ACCESS_KEY", ACCESS_KEY),
        ("KOOLICENSE_MARKETPLACE_URL", sim.url.as_str()),
        ("KOOLICENSE_MARKETPLACE_FALLBACK_URL", sim.url.as_str()),
        ("KOOLICENSE_APIG_AK", SIM_AK),
        ("KOOLICENSE_APIG_SK", SIM_SK),
        ("RUST_LOG", "debug"),
    ];
    let server = ServerProcess::start(free_port(), &env, &log).await;
    let http = reqwest::Client::new();
    let token = koolicense::admin::cli::create_token(
        &mut db.connect(),
        "auditor",
        koolicense::admin::auth::Role::Admin,
    )
    .unwrap()
    .token;

    let body = json!({"code": CODE, "fingerprint": FINGERPRINT});
    for path in [
        "/v1/activate",
        "/v1/activate",
        "/v1/check-in",
        "/v1/deactivate",
    ] {
        http.post(format!("{}{path}", server.url))
            .json(&body)
            .send()
            .await
            .unwrap();
    }
    http.post(format!("{}/v1/activate", server.url))
        .json(&json!({"code": "PLUNKNOWNSECRET9", "fingerprint": FINGERPRINT}))
        .send()
        .await
        .unwrap();
    for path in [
        format!("/admin/v1/codes?q={CODE}"),
        format!("/admin/v1/codes/{CODE}"),
    ] {
        let r = http
            .get(format!("{}{path}", server.url))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    // A refused admin request logs a line inside the request's span: the span must not carry
    // the query string.
    let support = koolicense::admin::cli::create_token(
        &mut db.connect(),
        "helpdesk",
        koolicense::admin::auth::Role::Support,
    )
    .unwrap()
    .token;
    let refused = http
        .get(format!("{}/admin/v1/tokens?q={CODE}", server.url))
        .bearer_auth(&support)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let callback =
        json!({"activity": "updateLicenseCodeStatus", "license": CODE, "status": "FREEZE"});
    let call = SignedCall::new(&callback);
    http.post(format!(
        "{}/koogallery/license?{}",
        server.url,
        call.query()
    ))
    .json(&callback)
    .send()
    .await
    .unwrap();
    drop(server);

    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.lines().count() > 5,
        "the server logged too little to judge: {text}"
    );
    let private_key = std::fs::read_dir(&keys)
        .unwrap()
        .filter_map(Result::ok)
        .find(|e| e.path().extension().is_some_and(|x| x == "key"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .unwrap();
    assert!(text.contains("admin request refused"), "{text}");
    for secret in [
        &support,
        CODE,
        "PLUNKNOWNSECRET9",
        "SECRETDISK",
        "SECRETBOARD",
        &token,
        ACCESS_KEY,
        SIM_SK,
        private_key.trim(),
        &call.nonce,
    ] {
        assert!(
            !text.contains(secret),
            "the log contains a secret ({} chars)",
            secret.len()
        );
    }
}
