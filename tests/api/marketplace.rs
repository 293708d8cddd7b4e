//! A local KooGallery (`koolicense sim`) for tests, and a koolicense server wired to it.

use serde_json::json;

use crate::helpers::{Backend, TestApp, spawn_app_with};

/// The AK/SK the simulator accepts and test servers sign with.
pub const SIM_AK: &str = "sim-ak";
pub const SIM_SK: &str = "sim-sk";

/// A running simulator.
pub struct Marketplace {
    pub url: String,
    pub client: reqwest::Client,
    _handle: koolicense::sim::SimHandle,
}

impl Marketplace {
    pub async fn start() -> Self {
        let handle = koolicense::sim::spawn(
            "127.0.0.1:0".parse().unwrap(),
            vec![(SIM_AK.to_owned(), SIM_SK.to_owned())],
        )
        .await
        .unwrap();
        Self {
            url: handle.base_url(),
            // A fresh connection per control call: a kept-alive one the simulator closes while
            // idle can race with its reuse and fail the request (hyper's IncompleteMessage).
            client: reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .build()
                .unwrap(),
            _handle: handle,
        }
    }

    /// Sets up an order with one line `<order>-000001`.
    pub async fn add_order(&self, order: &str, charging_mode: &str, quantity: i64, expire: &str) {
        let body = json!({"orderId": order, "orderType": "NEW", "lines": [{
            "orderLineId": format!("{order}-000001"), "chargingMode": charging_mode,
            "expireTime": expire, "productId": "prod-1", "quantity": quantity}]});
        self.post("/sim/orders", &body).await;
    }

    /// A control-API POST (`/sim/orders`, `/sim/faults`, ...) that must succeed; its answer.
    pub async fn post(&self, path: &str, body: &serde_json::Value) -> serde_json::Value {
        let response = self
            .client
            .post(format!("{}{path}", self.url))
            .json(body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        assert!(status.is_success(), "{path} {body}: {status} {text}");
        serde_json::from_str(&text).unwrap()
    }

    /// A control-API GET, as JSON.
    pub async fn get(&self, path: &str) -> serde_json::Value {
        self.client
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

/// A simulator and a koolicense server that uses it as the marketplace.
pub async fn spawn_with_marketplace(backend: Backend) -> (TestApp, Marketplace) {
    let sim = Marketplace::start().await;
    let app = spawn_app_with(
        backend,
        &[
            ("KOOLICENSE_MARKETPLACE_URL", &sim.url),
            ("KOOLICENSE_MARKETPLACE_FALLBACK_URL", &sim.url),
            ("KOOLICENSE_APIG_AK", SIM_AK),
            ("KOOLICENSE_APIG_SK", SIM_SK),
        ],
    )
    .await;
    (app, sim)
}
