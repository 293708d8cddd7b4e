//! The admin API (api.md §6): tokens and roles, search and detail views, audited actions, the
//! marketplace journal and health, and its OpenAPI description — on both backends.

mod access;
mod actions;
mod console;
mod end_to_end;
mod journal;
mod views;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use koolicense::admin::auth::Role;
use koolicense::db::models::{self, auth_codes, licenses};
use koolicense::db::schema::{activations, jobs};
use serde_json::Value;

use crate::helpers::{Backend, TestApp, spawn_app_with};

/// A server without the background worker, so jobs stay where a test puts them.
pub async fn admin_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, &[("KOOLICENSE_WORKER", "false")]).await
}

/// A status and a JSON body.
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl TestApp {
    /// A new token made as `koolicense admin create-token` makes it.
    pub fn token(&self, name: &str, role: Role) -> String {
        koolicense::admin::cli::create_token(&mut self.db(), name, role)
            .unwrap()
            .token
    }

    /// A request to the admin API with `token` (none when `None`).
    pub async fn admin(
        &self,
        method: reqwest::Method,
        token: Option<&str>,
        path: &str,
        body: Option<&Value>,
    ) -> Reply {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        Reply {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
        }
    }

    pub async fn admin_get(&self, token: &str, path: &str) -> Reply {
        self.admin(reqwest::Method::GET, Some(token), path, None)
            .await
    }

    pub async fn admin_post(&self, token: &str, path: &str, body: &Value) -> Reply {
        self.admin(reqwest::Method::POST, Some(token), path, Some(body))
            .await
    }

    pub async fn admin_delete(&self, token: &str, path: &str) -> Reply {
        self.admin(reqwest::Method::DELETE, Some(token), path, None)
            .await
    }

    /// An authorization code with `seats`, order and product, as a refresh would leave it.
    pub fn seed_code(&self, code: &str, seats: i64, order: &str, product: &str) -> String {
        let mut conn = self.db();
        let row = auth_codes::find_or_create(&mut conn, code, models::now()).unwrap();
        let changes = auth_codes::AuthCodeChangeset {
            seats: Some(seats),
            activated: Some(true),
            order_id: Some(Some(order.to_owned())),
            product_id: Some(Some(product.to_owned())),
            ..Default::default()
        };
        auth_codes::update(&mut conn, &row.id, &changes).unwrap();
        row.id.to_string()
    }

    /// A live binding of code `code_id` to `fingerprint`, with its license; (activation, license).
    pub fn seed_activation(&self, code_id: &str, fingerprint: &str) -> (String, String) {
        let mut conn = self.db();
        let (activation_id, now) = (models::new_id(), models::now());
        let fp_sha = koolicense::domain::fingerprint::sha256_hex_of_normalised(fingerprint);
        diesel::insert_into(activations::table)
            .values((
                activations::id.eq(&activation_id),
                activations::code_id.eq(code_id),
                activations::fingerprint.eq(fingerprint),
                activations::fingerprint_sha256.eq(&fp_sha),
                activations::hostname.eq("build-01"),
                activations::created_at.eq(now),
            ))
            .execute(&mut conn)
            .unwrap();
        let license = new_license(Some(code_id), None, Some(&activation_id), &fp_sha, now);
        licenses::insert(&mut conn, &license, "activation").unwrap();
        (activation_id, license.id.to_string())
    }

    /// An instance license with a `failed` upload job; (license, job).
    pub fn seed_failed_upload(&self, instance_id: &str, event_id: &str) -> (String, String) {
        let mut conn = self.db();
        let now = models::now();
        let license = new_license(None, Some(instance_id), None, "ab".repeat(32).as_str(), now);
        let license = licenses::NewLicense {
            event_id: Some(event_id.to_owned()),
            ..license
        };
        licenses::insert(&mut conn, &license, "getLicenseAsync").unwrap();
        let payload = serde_json::json!({"license_id": license.id, "event_id": event_id});
        let job = koolicense::db::models::jobs::enqueue(
            &mut conn,
            koolicense::db::models::jobs::JobKind::UploadLicense,
            &payload,
            Some(&format!("upload:{}", license.id)),
            now,
        )
        .unwrap();
        diesel::update(jobs::table.find(&job.id))
            .set((
                jobs::status.eq("failed"),
                jobs::attempts.eq(12),
                jobs::last_error.eq("HTTP 500"),
            ))
            .execute(&mut conn)
            .unwrap();
        (license.id.to_string(), job.id)
    }
}

fn new_license(
    code_id: Option<&str>,
    instance_id: Option<&str>,
    activation_id: Option<&str>,
    fingerprint_sha256: &str,
    now: NaiveDateTime,
) -> licenses::NewLicense {
    licenses::NewLicense {
        id: models::new_id().into(),
        source: if code_id.is_some() {
            licenses::Source::Authcode
        } else {
            licenses::Source::Instance
        },
        code_id: code_id.map(Into::into),
        instance_id: instance_id.map(Into::into),
        activation_id: activation_id.map(Into::into),
        event_id: None,
        fingerprint_sha256: fingerprint_sha256.to_owned(),
        revision: 1,
        file: "-----BEGIN KOOLICENSE LICENSE-----\nAAAA\n-----END KOOLICENSE LICENSE-----\n"
            .to_owned(),
        not_before: now.into(),
        expires_at: None,
        revoked: false,
        created_at: now.into(),
        updated_at: now.into(),
    }
}

/// The audit rows' (actor, action, target id, reason), newest first.
pub async fn audit_rows(
    app: &TestApp,
    token: &str,
    query: &str,
) -> Vec<(String, String, String, String)> {
    let reply = app
        .admin_get(token, &format!("/admin/v1/audit{query}"))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let text = |k: &str| e[k].as_str().unwrap().to_owned();
            (
                text("actor"),
                text("action"),
                text("target_id"),
                text("reason"),
            )
        })
        .collect()
}
