//! Test-side callers: KooGallery's signed production-interface calls, and a database peek for
//! asserting what changed (or did not).

use diesel::prelude::*;
use koolicense::db::DbConn;
use serde_json::Value;

use crate::helpers::TestApp;

/// The access key test servers are configured with.
pub const ACCESS_KEY: &str = "test-access-key";
/// The legacy Key值 test servers are configured with.
pub const LEGACY_KEY: &str = "test-legacy-key";

/// A Scheme-B-signed call as KooGallery makes it.
pub struct SignedCall<'a> {
    pub body: &'a Value,
    pub timestamp_ms: i64,
    pub nonce: String,
    pub key: &'a str,
}

impl<'a> SignedCall<'a> {
    pub fn new(body: &'a Value) -> Self {
        Self {
            body,
            timestamp_ms: chrono::Utc::now().timestamp_millis(),
            nonce: uuid::Uuid::new_v4().simple().to_string().to_uppercase(),
            key: ACCESS_KEY,
        }
    }

    pub fn query(&self) -> String {
        let raw = serde_json::to_vec(self.body).unwrap();
        let payload = koolicense::koogallery::auth::canonical_payload(&raw).unwrap();
        let ts = self.timestamp_ms.to_string();
        let signature =
            koolicense::koogallery::auth::scheme_b_signature(self.key, &self.nonce, &ts, &payload);
        format!("signature={signature}&timestamp={ts}&nonce={}", self.nonce)
    }
}

/// The parsed answer plus the raw response for header checks.
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub raw: Vec<u8>,
    pub body_sign: Option<String>,
}

impl Answer {
    pub fn code(&self) -> &str {
        self.body["resultCode"].as_str().unwrap_or("")
    }
}

impl TestApp {
    /// Sends `call` to `POST /koogallery/license`.
    pub async fn send(&self, call: &SignedCall<'_>) -> Answer {
        let url = format!("{}/koogallery/license?{}", self.address, call.query());
        let response = self
            .client
            .post(url)
            .header("Content-Type", "application/json")
            .body(serde_json::to_vec(call.body).unwrap())
            .send()
            .await
            .unwrap();
        answer(response).await
    }

    /// A correctly signed call with a fresh nonce.
    pub async fn callback(&self, body: &Value) -> Answer {
        self.send(&SignedCall::new(body)).await
    }

    /// A raw POST with the given query string and body bytes.
    pub async fn raw_callback(&self, query: &str, body: Vec<u8>) -> Answer {
        let url = format!("{}/koogallery/license?{query}", self.address);
        let response = self.client.post(url).body(body).send().await.unwrap();
        answer(response).await
    }

    /// A connection of the test's own to its database, to look at what the server stored.
    pub fn db(&self) -> DbConn {
        self.db.connect()
    }

    /// Rows in the tables that hold production data: (instances, licenses, codes, events, jobs
    /// other than the self-scheduled usage report).
    pub fn production_rows(&self) -> (i64, i64, i64, i64, i64) {
        use koolicense::db::schema::{auth_codes, events, instances, jobs, licenses};
        let mut c = self.db();
        (
            instances::table.count().get_result(&mut c).unwrap(),
            licenses::table.count().get_result(&mut c).unwrap(),
            auth_codes::table.count().get_result(&mut c).unwrap(),
            events::table.count().get_result(&mut c).unwrap(),
            // The worker schedules the daily usage report by itself; that is no callback's doing.
            jobs::table
                .filter(jobs::kind.ne("usage_report"))
                .count()
                .get_result(&mut c)
                .unwrap(),
        )
    }
}

async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let body_sign = response
        .headers()
        .get("Body-Sign")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let raw = response.bytes().await.unwrap().to_vec();
    let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    Answer {
        status,
        body,
        raw,
        body_sign,
    }
}

impl TestApp {
    /// The kinds of the events recorded for a subject, oldest first.
    pub fn get_events(&self, subject_type: &str, subject_id: &str) -> Vec<String> {
        use koolicense::db::models::events::{Subject, for_subject};
        let subject = Subject::parse(subject_type).expect("a subject type");
        for_subject(&mut self.db(), subject, subject_id)
            .unwrap()
            .into_iter()
            .map(|e| e.kind.as_str().to_owned())
            .collect()
    }

    /// The internal id of an authorization code.
    pub fn code_id(&self, code: &str) -> String {
        koolicense::db::models::auth_codes::find_by_code(&mut self.db(), code)
            .unwrap()
            .unwrap()
            .id
            .to_string()
    }

    /// Every journal row, as text, for "no secrets" checks.
    pub fn journal_text(&self) -> String {
        let filter = koolicense::db::models::marketplace_calls::CallFilter {
            limit: 10_000,
            ..Default::default()
        };
        let rows =
            koolicense::db::models::marketplace_calls::list(&mut self.db(), &filter).unwrap();
        serde_json::to_string(&rows).unwrap()
    }

    /// The license files of an instance, oldest first.
    pub fn licenses_of(&self, instance_id: &str) -> Vec<String> {
        koolicense::db::models::licenses::for_instance(&mut self.db(), &instance_id.into())
            .unwrap()
            .into_iter()
            .map(|l| l.file)
            .collect()
    }

    /// Verifies a license with the server's published keys (`GET /v1/keys` equivalent: the key
    /// directory), as strictly as api.md §5 reads (no clock tolerance), and returns its payload
    /// as JSON.
    pub fn verify_license(&self, file: &str, fingerprint: Option<&str>) -> Value {
        let keys = koolicense::keys::KeyStore::load(self.keys_dir.path()).unwrap();
        let now = chrono::Utc::now();
        let strict = std::time::Duration::ZERO;
        let payload = koolicense::license_file::verify(file, &keys, fingerprint, now, strict)
            .unwrap_or_else(|e| panic!("license does not verify: {e}"));
        serde_json::to_value(payload).unwrap()
    }
}
