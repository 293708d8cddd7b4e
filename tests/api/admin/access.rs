//! Tokens and roles: who may call what, tokens stored only as hashes, token management and the
//! `admin create-token` command.

use diesel::prelude::*;
use koolicense::admin::auth::{Role, token_sha256};
use koolicense::db::schema::admin_tokens;
use reqwest::Method;
use serde_json::json;

use super::{admin_app, audit_rows};
use crate::both_backends;
use crate::helpers::Backend;

/// Every §6 endpoint, with a path that needs no data, and whether only admins may call it.
const ENDPOINTS: &[(&str, &str, bool)] = &[
    ("GET", "/admin/v1/codes", false),
    ("GET", "/admin/v1/codes/PLNOPE", false),
    ("GET", "/admin/v1/instances", false),
    ("GET", "/admin/v1/instances/nope", false),
    ("GET", "/admin/v1/licenses/nope", false),
    ("POST", "/admin/v1/licenses/nope/revoke", true),
    ("POST", "/admin/v1/licenses/nope/reinstate", true),
    (
        "DELETE",
        "/admin/v1/activations/nope?reason=new%20laptop",
        false,
    ),
    ("GET", "/admin/v1/marketplace/calls", false),
    ("GET", "/admin/v1/marketplace/health", false),
    ("GET", "/admin/v1/uploads", false),
    ("POST", "/admin/v1/uploads/nope/retry", false),
    ("GET", "/admin/v1/audit", false),
    ("POST", "/admin/v1/tokens", true),
    ("GET", "/admin/v1/tokens", true),
    ("DELETE", "/admin/v1/tokens/nope?reason=left", true),
];

fn method(name: &str) -> Method {
    Method::from_bytes(name.as_bytes()).unwrap()
}

both_backends!(@backend every_endpoint_refuses_a_missing_unknown_or_revoked_token, |backend: Backend| async move {
    let app = admin_app(backend).await;
    let revoked = app.token("gone", Role::Admin);
    let admin = app.token("root", Role::Admin);
    let id: String = admin_tokens::table
        .filter(admin_tokens::name.eq("gone"))
        .select(admin_tokens::id)
        .first(&mut app.db())
        .unwrap();
    let r = app.admin_delete(&admin, &format!("/admin/v1/tokens/{id}?reason=offboarded")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let body = json!({"reason": "r", "name": "n", "role": "support"});
    let unauthorized = json!({"code": "UNAUTHORIZED", "message": "a valid bearer token is required"});
    for (verb, path, _) in ENDPOINTS {
        for token in [None, Some("kl_admin_unknown"), Some("not-even-prefixed"), Some(revoked.as_str())] {
            let reply = app.admin(method(verb), token, path, Some(&body)).await;
            assert_eq!(reply.status, 401, "{verb} {path} with {token:?}: {}", reply.body);
            assert_eq!(reply.body, unauthorized, "{verb} {path}");
        }
    }
    // Other schemes are not bearer tokens.
    let basic = app.client.get(app.url("/admin/v1/codes")).basic_auth("root", Some(&admin)).send().await.unwrap();
    assert_eq!(basic.status(), 401);
});

both_backends!(@backend support_tokens_get_403_on_admin_only_endpoints_and_pass_elsewhere, |backend: Backend| async move {
    let app = admin_app(backend).await;
    let support = app.token("helpdesk", Role::Support);
    let admin = app.token("root", Role::Admin);
    let body = json!({"reason": "r", "name": "n", "role": "support"});
    let forbidden = json!({"code": "FORBIDDEN", "message": "this action needs the admin role"});
    for (verb, path, admin_only) in ENDPOINTS {
        let as_support = app.admin(method(verb), Some(&support), path, Some(&body)).await;
        let as_admin = app.admin(method(verb), Some(&admin), path, Some(&body)).await;
        assert!(![401, 403].contains(&as_admin.status), "{verb} {path} as admin: {}", as_admin.body);
        if *admin_only {
            assert_eq!(as_support.status, 403, "{verb} {path}: {}", as_support.body);
            assert_eq!(as_support.body, forbidden);
        } else {
            assert!(![401, 403].contains(&as_support.status), "{verb} {path} as support: {}", as_support.body);
        }
    }
});

both_backends!(@backend tokens_are_stored_only_as_their_sha256, |backend: Backend| async move {
    let app = admin_app(backend).await;
    let cli_token = app.token("root", Role::Admin);
    let created = app.admin_post(&cli_token, "/admin/v1/tokens",
        &json!({"name": "alice", "role": "support", "reason": "new support engineer"})).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let api_token = created.body["token"].as_str().unwrap().to_owned();
    assert!(api_token.starts_with("kl_admin_") && cli_token.starts_with("kl_admin_"));

    let rows: Vec<(String, String, String, String)> = admin_tokens::table
        .select((admin_tokens::id, admin_tokens::name, admin_tokens::role, admin_tokens::token_sha256))
        .load(&mut app.db())
        .unwrap();
    assert_eq!(rows.len(), 2);
    let dump = format!("{rows:?}");
    for token in [&cli_token, &api_token] {
        let secret = token.trim_start_matches("kl_admin_");
        assert!(!dump.contains(secret), "a token is stored in clear");
        assert!(rows.iter().any(|r| r.3 == token_sha256(token)));
    }
    // Listing never shows secrets or hashes.
    let listed = app.admin_get(&cli_token, "/admin/v1/tokens").await;
    assert_eq!(listed.status, 200);
    let text = listed.body.to_string();
    assert!(!text.contains(&api_token) && !text.contains(&token_sha256(&api_token)), "{text}");
    assert!(!text.contains("token_sha256"));
});

both_backends!(@backend admins_create_list_and_revoke_tokens, |backend: Backend| async move {
    let app = admin_app(backend).await;
    let root = app.token("root", Role::Admin);

    let created = app.admin_post(&root, "/admin/v1/tokens",
        &json!({"name": "bob", "role": "admin", "reason": "second admin"})).await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["name"], "bob");
    assert_eq!(created.body["role"], "admin");
    assert!(created.body["revoked_at"].is_null());
    let bob = created.body["token"].as_str().unwrap().to_owned();
    let bob_id = created.body["id"].as_str().unwrap().to_owned();

    // The new token works, and its use is recorded.
    assert_eq!(app.admin_get(&bob, "/admin/v1/tokens").await.status, 200);
    let listed = app.admin_get(&root, "/admin/v1/tokens").await;
    let items = listed.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["id"], bob_id.as_str(), "newest first");
    assert!(items[0]["last_used_at"].is_string(), "{}", listed.body);
    assert!(items[0].get("token").is_none());

    // Pages of one.
    let first = app.admin_get(&root, "/admin/v1/tokens?limit=1").await;
    let cursor = first.body["next_cursor"].as_str().unwrap().to_owned();
    let second = app.admin_get(&root, &format!("/admin/v1/tokens?limit=1&cursor={cursor}")).await;
    assert_eq!(second.body["items"][0]["name"], "root");
    assert!(second.body["next_cursor"].is_null());

    // Bad requests.
    for (body, why) in [
        (json!({"name": "x", "role": "god", "reason": "r"}), "role"),
        (json!({"name": "", "role": "admin", "reason": "r"}), "name"),
        (json!({"name": "x", "role": "admin"}), "reason"),
        (json!({"name": "x", "role": "admin", "reason": "  "}), "reason"),
    ] {
        let r = app.admin_post(&root, "/admin/v1/tokens", &body).await;
        assert_eq!(r.status, 400, "{why}: {}", r.body);
        assert_eq!(r.body["code"], "INVALID_REQUEST");
        assert!(r.body["message"].as_str().unwrap().starts_with(why), "{}", r.body);
    }
    let dup = app.admin_post(&root, "/admin/v1/tokens", &json!({"name": "bob", "role": "support", "reason": "r"})).await;
    assert_eq!(dup.status, 409, "{}", dup.body);

    // Revoke: the token is refused at once; a second revoke conflicts; unknown ids are 404.
    let no_reason = app.admin_delete(&root, &format!("/admin/v1/tokens/{bob_id}")).await;
    assert_eq!(no_reason.status, 400);
    let revoked = app.admin_delete(&root, &format!("/admin/v1/tokens/{bob_id}?reason=left%20the%20team")).await;
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    assert!(revoked.body["revoked_at"].is_string());
    assert_eq!(app.admin_get(&bob, "/admin/v1/tokens").await.status, 401);
    let again = app.admin_delete(&root, &format!("/admin/v1/tokens/{bob_id}?reason=again")).await;
    assert_eq!(again.status, 409);
    let missing = app.admin_delete(&root, "/admin/v1/tokens/nope?reason=r").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.body, json!({"code": "NOT_FOUND", "message": "token not found"}));

    // Both changes are audited under the actor's name, with the reason.
    let rows = audit_rows(&app, &root, "?target_type=token").await;
    assert!(rows.contains(&("root".into(), "token.revoke".into(), bob_id.clone(), "left the team".into())), "{rows:?}");
    assert!(rows.contains(&("root".into(), "token.create".into(), bob_id.clone(), "second admin".into())), "{rows:?}");
    assert!(rows.iter().any(|r| r.0 == "cli" && r.1 == "token.create"), "{rows:?}");
});

both_backends!(@backend the_binary_prints_a_working_token_alone_on_the_last_line, |backend: Backend| async move {
    let app = admin_app(backend).await;
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_koolicense"))
        .args(["admin", "create-token", "--name", "ops", "--role", "support"])
        .env("KOOLICENSE_DATABASE_URL", &app.db.url)
        .env("KOOLICENSE_KEYS_DIR", app.keys_dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let last = stdout.lines().last().unwrap();
    assert!(last.starts_with("kl_admin_") && !last.contains(' '), "{stdout}");
    assert!(stdout.lines().count() > 1, "some human text precedes the token");
    assert!(!String::from_utf8_lossy(&output.stderr).contains(last), "the token is never logged");

    let reply = app.admin_get(last, "/admin/v1/codes").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    // Support, not admin.
    assert_eq!(app.admin_get(last, "/admin/v1/tokens").await.status, 403);

    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_koolicense"))
        .args(["admin", "create-token", "--name", "ops", "--role", "root"])
        .env("KOOLICENSE_DATABASE_URL", &app.db.url)
        .output()
        .unwrap();
    assert!(!bad.status.success());
});
