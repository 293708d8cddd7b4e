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

/// A PostgreSQL password, in the userinfo or as a `password=` parameter in any spelling, never
/// reaches the output of a server that cannot connect (or of `migrate`), logs at debug
/// included: the URL is shown with `****`, and libpq's error quotes none of it.
#[actix_web::test]
async fn a_postgres_password_never_reaches_the_output() {
    let urls = [
        "postgres://u@127.0.0.1:1/db?password=hunter2",
        "postgres://u:hunter2@127.0.0.1:1/db",
        "postgres://u@127.0.0.1:1/db?sslmode=disable&PassWord=hunter2",
        "postgres://u@127.0.0.1:1/db?pass%77ord=hunter%32",
        "postgres://u:hunter2@[::1/db",
    ];
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys").display().to_string();
    let mut runs = Vec::new();
    for url in urls {
        for (command, format) in [("serve", "json"), ("serve", "pretty"), ("migrate", "json")] {
            let child = std::process::Command::new(env!("CARGO_BIN_EXE_koolicense"))
                .arg(command)
                .env("KOOLICENSE_DATABASE_URL", url)
                .env("KOOLICENSE_KEYS_DIR", &keys)
                .env("KOOLICENSE_LISTEN", format!("127.0.0.1:{}", free_port()))
                .env("KOOLICENSE_LOG_FORMAT", format)
                .env("RUST_LOG", "debug")
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            runs.push((format!("{command} ({format}) with {url}"), child));
        }
    }
    // All at once: each waits out the pool's 10 s connect timeout.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while runs
        .iter_mut()
        .any(|(_, c)| c.try_wait().unwrap().is_none())
    {
        assert!(
            std::time::Instant::now() < deadline,
            "a command did not give up"
        );
        actix_web::rt::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    for (what, child) in runs {
        let output = child.wait_with_output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(output.status.code(), Some(2), "{what}: {text}");
        assert!(
            text.contains("cannot open the database postgres://"),
            "{what}: {text}"
        );
        for secret in ["hunter2", "hunter%32"] {
            assert!(!text.contains(secret), "{what}: {text}");
        }
    }
}
