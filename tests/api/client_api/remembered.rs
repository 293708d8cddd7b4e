//! On PostgreSQL a node answers repeat activations and check-ins from memory while the code's
//! generation is unchanged (`src/db/views.rs`): a change made through another node, by a
//! marketplace callback, an admin or straight in the database, is answered at once.

use koolicense::admin::auth::Role;
use koolicense::startup::Application;
use serde_json::{Value, json};

use super::{Client, Reply, machine, sample, signed_reply, start};
use crate::helpers::{Backend, test_settings};

const CODE: &str = "PLREMEMBER0001";

/// A second node: another server on node A's database and keys.
pub(super) fn second_node(client: &Client) -> String {
    let settings = test_settings(
        &client.app.db,
        client.app.keys_dir.path(),
        &[
            ("KOOLICENSE_MARKETPLACE_URL", client.sim.url.as_str()),
            (
                "KOOLICENSE_MARKETPLACE_FALLBACK_URL",
                client.sim.url.as_str(),
            ),
            ("KOOLICENSE_APIG_AK", crate::marketplace::SIM_AK),
            ("KOOLICENSE_APIG_SK", crate::marketplace::SIM_SK),
            ("KOOLICENSE_NODE_ID", "node-b"),
        ],
    );
    let app = Application::build(settings).unwrap();
    let address = format!("http://127.0.0.1:{}", app.port());
    actix_web::rt::spawn(app.run_until_stopped());
    address
}

/// `path` on node `node` for [`CODE`], the answer checked as the SDK checks it.
async fn on(client: &Client, node: &str, path: &str, fingerprint: &str) -> Reply {
    on_node(client, node, path, CODE, fingerprint).await
}

/// `path` on node `node` for `code`, the answer checked as the SDK checks it.
pub(super) async fn on_node(
    client: &Client,
    node: &str,
    path: &str,
    code: &str,
    fingerprint: &str,
) -> Reply {
    let body = json!({"code": code, "fingerprint": fingerprint});
    let response = client
        .app
        .client
        .post(format!("{node}{path}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    signed_reply(response, &client.app, &body).await
}

/// What a check-in on `node` says.
async fn verdict(client: &Client, node: &str, fingerprint: &str) -> (bool, String) {
    let reply = on(client, node, "/v1/check-in", fingerprint).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    (
        reply.body["valid"].as_bool().unwrap(),
        reply.body["status"].as_str().unwrap().to_owned(),
    )
}

/// `koolicense_machine_view_reads_total{outcome}` on `node`.
async fn reads(client: &Client, node: &str, outcome: &str) -> u64 {
    let text = client
        .app
        .client
        .get(format!("{node}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    sample(
        &text,
        &format!("koolicense_machine_view_reads_total{{outcome=\"{outcome}\"}}"),
    )
}

#[actix_web::test]
async fn a_node_never_answers_from_memory_over_a_change_made_elsewhere() {
    // Arrange: a two-seat code bound on node A; node B on the same database.
    let client = start(Backend::Postgres).await;
    let (a, b) = (client.app.address.clone(), second_node(&client));
    client.add_code(CODE, 2).await;
    let first = client.activate(CODE, &machine(1)).await;
    assert_eq!(first.status, 201, "{}", first.body);
    let license = first.body["license"].as_str().unwrap().to_owned();

    // Node B answers repeats byte for byte, the later ones from memory.
    let remembered = reads(&client, &b, "remembered").await;
    for _ in 0..3 {
        let repeat = on(&client, &b, "/v1/activate", &machine(1)).await;
        assert_eq!(repeat.status, 200, "{}", repeat.body);
        assert_eq!(repeat.body["license"].as_str(), Some(license.as_str()));
    }
    assert!(reads(&client, &b, "remembered").await >= remembered + 2);
    assert_eq!(
        verdict(&client, &b, &machine(1)).await,
        (true, "VALID".into())
    );

    // Frozen through node A: node B refuses at once, and lets the machine in once unfrozen.
    let status = |status: &str| json!({"activity": "updateLicenseCodeStatus", "license": CODE, "status": status});
    assert_eq!(
        client.app.callback(&status("FREEZE")).await.code(),
        "000000"
    );
    let frozen = on(&client, &b, "/v1/activate", &machine(1)).await;
    assert_eq!((frozen.status, frozen.code()), (403, "LICENSE_FROZEN"));
    assert_eq!(
        verdict(&client, &b, &machine(1)).await,
        (false, "FROZEN".into())
    );
    assert_eq!(
        client.app.callback(&status("UNFREEZE")).await.code(),
        "000000"
    );
    assert_eq!(
        verdict(&client, &b, &machine(1)).await,
        (true, "VALID".into())
    );

    // Revoked and reinstated by an admin on node A.
    let admin = client.app.token("alice", Role::Admin);
    let license_id = first.body["license_id"].as_str().unwrap();
    let path = |action: &str| {
        format!("/admin/v1/licenses/{license_id}/{action}")
            .trim_end_matches('/')
            .to_owned()
    };
    let revoked = client
        .app
        .admin_post(&admin, &path("revoke"), &json!({"reason": "chargeback"}))
        .await;
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    let refused = on(&client, &b, "/v1/activate", &machine(1)).await;
    assert_eq!((refused.status, refused.code()), (403, "LICENSE_REVOKED"));
    assert_eq!(
        verdict(&client, &b, &machine(1)).await,
        (false, "REVOKED".into())
    );
    let reinstated = client
        .app
        .admin_post(&admin, &path("reinstate"), &json!({"reason": "withdrawn"}))
        .await;
    assert_eq!(reinstated.status, 200, "{}", reinstated.body);
    assert_eq!(
        verdict(&client, &b, &machine(1)).await,
        (true, "VALID".into())
    );

    // A second machine bound on node A is counted in what node B answers the first one.
    let seats = |reply: &Reply| reply.body["seats"].clone();
    let before = on(&client, &b, "/v1/activate", &machine(1)).await;
    assert_eq!(client.activate(CODE, &machine(2)).await.status, 201);
    let after = on(&client, &b, "/v1/activate", &machine(1)).await;
    assert_ne!(
        seats(&before),
        seats(&after),
        "{} / {}",
        before.body,
        after.body
    );
    assert_eq!(
        seats(&after),
        activate_seats(&client, &a, &machine(1)).await
    );

    // The binding reset by support on node A: node B no longer knows the machine.
    let detail = client.app.admin_get(&admin, &path("")).await;
    let activation = detail.body["license"]["activation_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let reset = client
        .app
        .admin_delete(
            &admin,
            &format!("/admin/v1/activations/{activation}?reason=new%20server"),
        )
        .await;
    assert_eq!(reset.status, 200, "{}", reset.body);
    let (valid, _) = verdict(&client, &b, &machine(1)).await;
    assert!(!valid, "a reset binding is not valid on node B");

    // Every stale memory was noticed: B read again rather than answering over the change.
    assert!(reads(&client, &b, "stale").await >= 5);
}

/// The seats node `node` answers a repeat activation of `fingerprint` with.
async fn activate_seats(client: &Client, node: &str, fingerprint: &str) -> Value {
    on(client, node, "/v1/activate", fingerprint).await.body["seats"].clone()
}

#[actix_web::test]
async fn sqlite_keeps_no_machine_views_in_memory() {
    let client = start(Backend::Sqlite).await;
    client.add_code(CODE, 1).await;
    assert_eq!(client.activate(CODE, &machine(1)).await.status, 201);
    assert_eq!(client.activate(CODE, &machine(1)).await.status, 200);
    let metrics = client.app.get("/metrics").await.text().await.unwrap();
    assert!(!metrics.contains("koolicense_machine_view_reads_total"));
}
