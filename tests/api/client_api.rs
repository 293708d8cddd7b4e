//! The client API (api.md §4) against `koolicense sim` as the marketplace, on both backends:
//! activation, check-in, deactivation and limits. (`kill -9` in the middle of bursts is the
//! kill drill, `drills::kill`.)

mod abuse;
mod activation;
mod check_in;
mod deactivation;
mod fingerprints;
mod first_binding;
mod idle;
mod pool_metrics;
mod proxies;
mod remembered;
mod server_restart;
mod unknown_codes;

use chrono::{TimeDelta, Utc};
use diesel::prelude::*;
use koolicense::db::schema::{activations, auth_codes, code_usage, licenses};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, spawn_app_with};
use crate::marketplace::{Marketplace, SIM_AK, SIM_SK};

/// A koolicense server and the simulator it uses as KooGallery.
pub struct Client {
    pub app: TestApp,
    pub sim: Marketplace,
}

/// A client-API answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub retry_after: Option<String>,
}

impl Reply {
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }

    pub fn license(&self) -> &str {
        self.body["license"]
            .as_str()
            .unwrap_or_else(|| panic!("no license in {}", self.body))
    }
}

/// A distinct machine's fingerprint.
pub fn machine(n: usize) -> String {
    format!("AA:BB:CC:00:00:{n:02X}|DISK-{n}|BOARD-{n}|CPU-{n}")
}

/// An HTTP client whose connections come from `local`, another loopback address (the whole of
/// 127.0.0.0/8 is loopback on Linux): the server sees another TCP peer.
pub fn from_address(local: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(local.parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap()
}

/// The value of the series `series` (name and labels as exposed) in a `/metrics` text, 0 when
/// absent.
pub fn sample(metrics: &str, series: &str) -> u64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0, |n| n.trim().parse().unwrap())
}

/// A compact UTC time `days` from now, as the simulator and callbacks take it.
pub fn compact_in(days: i64) -> String {
    (Utc::now() + TimeDelta::days(days))
        .format("%Y%m%d%H%M%S")
        .to_string()
}

/// The same time as `koolicense` answers it (RFC 3339, seconds).
pub fn rfc3339_of(compact: &str) -> String {
    let t = chrono::NaiveDateTime::parse_from_str(compact, "%Y%m%d%H%M%S").unwrap();
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Starts a simulator and a server using it, with extra settings.
pub async fn start_with(backend: Backend, extra: &[(&str, &str)]) -> Client {
    let sim = Marketplace::start().await;
    let mut settings = vec![
        ("KOOLICENSE_MARKETPLACE_URL", sim.url.as_str()),
        ("KOOLICENSE_MARKETPLACE_FALLBACK_URL", sim.url.as_str()),
        ("KOOLICENSE_APIG_AK", SIM_AK),
        ("KOOLICENSE_APIG_SK", SIM_SK),
    ];
    settings.extend_from_slice(extra);
    let app = spawn_app_with(backend, &settings).await;
    Client { app, sim }
}

pub async fn start(backend: Backend) -> Client {
    start_with(backend, &[]).await
}

/// Runs a test body against both backends with a fresh simulator and server.
#[macro_export]
macro_rules! with_marketplace {
    ($name:ident, $body:expr) => {
        $crate::both_backends!(@backend $name, |backend| async move {
            let client = $crate::client_api::start(backend).await;
            ($body)(client).await;
        });
    };
}

pub async fn reply(response: reqwest::Response) -> Reply {
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("Retry-After")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Reply {
        status,
        body,
        retry_after,
    }
}

/// An answer of activate, check-in or deactivate, checked as the client SDK checks it
/// (`api.md` §4.5): signed over its exact body with one of the server's keys, echoing the
/// request's nonce (`null` when none was sent), with the server's time. `server_time` and
/// `nonce` are taken out of the returned body, so tests compare the rest.
pub async fn signed_reply(response: reqwest::Response, app: &TestApp, sent: &Value) -> Reply {
    let signature = response
        .headers()
        .get(koolicense_core::answer::HEADER)
        .map(|v| v.to_str().unwrap().to_owned());
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("Retry-After")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = response.text().await.unwrap();
    let keys = koolicense::keys::KeyStore::load(app.keys_dir.path()).unwrap();
    koolicense_core::answer::verify(text.as_bytes(), signature.as_deref(), &keys)
        .unwrap_or_else(|e| panic!("answer {status} {text}: {e}"));
    let mut body: Value = serde_json::from_str(&text).unwrap();
    let fields = body.as_object_mut().unwrap();
    let echoed = fields.remove("nonce").expect("the answer echoes the nonce");
    assert_eq!(&echoed, sent.get("nonce").unwrap_or(&Value::Null), "{text}");
    let server_time = fields
        .remove("server_time")
        .expect("the answer has server_time");
    let server_time = chrono::DateTime::parse_from_rfc3339(server_time.as_str().unwrap()).unwrap();
    let skew = (Utc::now() - server_time.with_timezone(&Utc))
        .num_seconds()
        .abs();
    assert!(skew < 300, "server_time {server_time} is not now");
    Reply {
        status,
        body,
        retry_after,
    }
}

impl Client {
    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        signed_reply(self.app.post_json(path, body).await, &self.app, body).await
    }

    /// A POST with extra headers, through `http` (e.g. [`from_address`]).
    pub async fn post_with(
        &self,
        http: &reqwest::Client,
        path: &str,
        body: &Value,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut request = http.post(self.app.url(path)).json(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.unwrap()
    }

    pub async fn activate(&self, code: &str, fingerprint: &str) -> Reply {
        self.post(
            "/v1/activate",
            &json!({"code": code, "fingerprint": fingerprint}),
        )
        .await
    }

    pub async fn check_in(&self, code: &str, fingerprint: &str) -> Reply {
        self.post(
            "/v1/check-in",
            &json!({"code": code, "fingerprint": fingerprint}),
        )
        .await
    }

    pub async fn deactivate(&self, code: &str, fingerprint: &str) -> Reply {
        self.post(
            "/v1/deactivate",
            &json!({"code": code, "fingerprint": fingerprint}),
        )
        .await
    }

    /// A simulator control-API POST that must succeed.
    pub async fn sim_post(&self, path: &str, body: &Value) -> Value {
        self.sim.post(path, body).await
    }

    /// A claimed, alive code that allows `amount` machines and expires in a year; returns its
    /// expiry as the simulator reports it.
    pub async fn add_code(&self, code: &str, amount: u64) -> String {
        let expire = compact_in(365);
        self.sim_post(
            "/sim/codes",
            &json!({"code": code, "amount": amount, "expire_time": expire,
                    "order_id": "CS-ORDER-1", "product_id": "OFFI-PRODUCT-1"}),
        )
        .await;
        expire
    }

    /// Calls of an open API (`activate`, `heartbeat`, ...) the simulator received for `code`.
    pub async fn sim_calls(&self, api: &str, code: &str) -> usize {
        let calls = self
            .sim
            .get(&format!("/sim/calls?api={api}&license={code}"))
            .await;
        calls["calls"].as_array().unwrap().len()
    }

    /// Live bindings of a code.
    pub fn live(&self, code: &str) -> i64 {
        let mut conn = self.app.db();
        activations::table
            .inner_join(auth_codes::table)
            .filter(auth_codes::code.eq(code))
            .filter(activations::deactivated_at.is_null())
            .count()
            .get_result(&mut conn)
            .unwrap()
    }

    /// Rows in (`auth_codes`, `activations`, `licenses`, `code_usage`).
    pub fn rows(&self) -> (i64, i64, i64, i64) {
        let mut c = self.app.db();
        (
            auth_codes::table.count().get_result(&mut c).unwrap(),
            activations::table.count().get_result(&mut c).unwrap(),
            licenses::table.count().get_result(&mut c).unwrap(),
            code_usage::table.count().get_result(&mut c).unwrap(),
        )
    }

    /// The stored row of a code.
    pub fn code_row(&self, code: &str) -> koolicense::db::models::auth_codes::AuthCode {
        koolicense::db::models::auth_codes::find_by_code(&mut self.app.db(), code)
            .unwrap()
            .unwrap_or_else(|| panic!("code {code} is not stored"))
    }

    /// Makes the code's daily query look a day old, as if the day had turned.
    pub fn age_daily_query(&self, code: &str) {
        let yesterday = (Utc::now() - TimeDelta::days(1))
            .format("%Y-%m-%d")
            .to_string();
        diesel::update(auth_codes::table.filter(auth_codes::code.eq(code)))
            .set(auth_codes::last_queried_on.eq(yesterday))
            .execute(&mut self.app.db())
            .unwrap();
    }
}
