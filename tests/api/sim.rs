//! The local KooGallery (`koolicense sim`): its gateway, open APIs, control API and faults,
//! tested in-process over HTTP; and `sim drive` against our own production interface.

use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use koolicense::koogallery::apig;
use koolicense::sim::{self, SimHandle};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::{Backend, spawn_app_with};

const API: &str = "/api/mkp-openapi-public/global";
const BOUNDARY: &str = "----koolicense-sim-test";

/// A simulator and a client that signs like our marketplace client.
struct Market {
    sim: SimHandle,
    client: reqwest::Client,
}

/// How a test request is signed.
struct Signing<'a> {
    ak: &'a str,
    sk: &'a str,
    date: chrono::DateTime<Utc>,
    /// Sign this body instead of the one sent (to tamper).
    signed_body: Option<&'a [u8]>,
    unsigned_payload: bool,
}

impl Default for Signing<'_> {
    fn default() -> Self {
        Self {
            ak: "sim-ak",
            sk: "sim-sk",
            date: Utc::now(),
            signed_body: None,
            unsigned_payload: false,
        }
    }
}

async fn market() -> Market {
    let sim = sim::spawn("127.0.0.1:0".parse().unwrap(), Vec::new())
        .await
        .unwrap();
    Market {
        sim,
        client: reqwest::Client::new(),
    }
}

impl Market {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sim.base_url())
    }

    /// An APIG-signed request to an open API (`path` may carry a query).
    async fn signed(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
        signing: Signing<'_>,
    ) -> reqwest::Response {
        let url = url::Url::parse(&self.url(path)).unwrap();
        let mut headers = vec![("Content-Type".to_owned(), content_type.to_owned())];
        if signing.unsigned_payload {
            headers.push((
                "X-Sdk-Content-Sha256".to_owned(),
                apig::UNSIGNED_PAYLOAD.to_owned(),
            ));
        }
        let date = apig::format_sdk_date(signing.date);
        let signed_body = signing.signed_body.unwrap_or(&body);
        let s = apig::sign(
            signing.ak,
            signing.sk,
            method,
            &url,
            &headers,
            signed_body,
            &date,
        );
        let mut request = self
            .client
            .request(method.parse().unwrap(), url)
            .header("X-Sdk-Date", s.sdk_date)
            .header("Authorization", s.authorization)
            .body(body);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        request.send().await.unwrap()
    }

    async fn post(&self, api: &str, body: &Value) -> (u16, Value) {
        let response = self
            .signed(
                "POST",
                &format!("{API}{api}"),
                "application/json",
                body.to_string().into_bytes(),
                Signing::default(),
            )
            .await;
        (response.status().as_u16(), response.json().await.unwrap())
    }

    async fn order(&self, query: &str) -> (u16, Value) {
        let path = format!("{API}/v1/order/query?{query}");
        let response = self
            .signed(
                "GET",
                &path,
                "application/json",
                Vec::new(),
                Signing::default(),
            )
            .await;
        (response.status().as_u16(), response.json().await.unwrap())
    }

    async fn upload(&self, event_id: &str, body: Vec<u8>, signing: Signing<'_>) -> (u16, Value) {
        let path = format!("{API}/v1/market-event/{event_id}/file");
        let ct = format!("multipart/form-data; boundary={BOUNDARY}");
        let response = self.signed("POST", &path, &ct, body, signing).await;
        (response.status().as_u16(), response.json().await.unwrap())
    }

    async fn control(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.client.request(method.parse().unwrap(), self.url(path));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }

    async fn add_code(&self, spec: Value) {
        let (status, body) = self.control("POST", "/sim/codes", Some(spec)).await;
        assert_eq!(status, 201, "{body}");
    }
}

/// A multipart body with an `isvUpdateFileReq` part and optionally a `file` part.
fn multipart(request: &Value, file: Option<(&str, &[u8])>) -> Vec<u8> {
    let mut out = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"isvUpdateFileReq\"\r\n\
         Content-Type: application/json\r\n\r\n{request}\r\n"
    )
    .into_bytes();
    if let Some((name, bytes)) = file {
        out.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
                 Content-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        out.extend_from_slice(bytes);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    out
}

#[actix_web::test]
async fn signed_requests_pass_the_gateway_and_bad_ones_get_401() {
    let m = market().await;
    let body = br#"{"license":"PLNOSUCH"}"#.to_vec();
    let path = format!("{API}/v1/license/heartbeat");
    let send = |signing: Signing<'static>, sent: &[u8]| {
        m.signed("POST", &path, "application/json", sent.to_vec(), signing)
    };

    let ok = send(Signing::default(), &body).await;
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.json::<Value>().await.unwrap()["error_code"], "92020005");

    let cases: [(Signing<'static>, &str); 4] = [
        (
            Signing {
                sk: "wrong-sk",
                ..Signing::default()
            },
            "APIGW.0301",
        ),
        (
            Signing {
                ak: "nobody",
                ..Signing::default()
            },
            "APIGW.0301",
        ),
        (
            Signing {
                signed_body: Some(br#"{"license":"PLOTHER"}"#),
                ..Signing::default()
            },
            "APIGW.0301",
        ),
        (
            Signing {
                date: Utc::now() - TimeDelta::minutes(20),
                ..Signing::default()
            },
            "APIGW.0303",
        ),
    ];
    for (signing, code) in cases {
        let response = send(signing, &body).await;
        assert_eq!(response.status(), 401);
        let json: Value = response.json().await.unwrap();
        assert_eq!(json["error_code"], code, "{json}");
        assert!(
            json["error_msg"]
                .as_str()
                .unwrap()
                .starts_with("Incorrect IAM authentication information")
        );
    }
    let unsigned = m
        .client
        .post(m.url(&path))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);

    let (_, calls) = m.control("GET", "/sim/calls?api=heartbeat", None).await;
    let calls = calls["calls"].as_array().unwrap();
    assert_eq!(calls.len(), 6);
    assert_eq!(calls[0]["authenticated"], true);
    assert_eq!(calls[0]["ak"], "sim-ak");
    assert_eq!(calls[0]["license"], "PLNOSUCH");
    assert!(
        calls[1..]
            .iter()
            .all(|c| c["authenticated"] == false && c["status"] == 401)
    );
    assert_eq!(calls[2]["ak"], "nobody");
}

#[actix_web::test]
async fn several_credentials_are_accepted_and_unknown_paths_are_404() {
    let creds = vec![
        ("ak-1".to_owned(), "sk-1".to_owned()),
        ("ak-2".to_owned(), "sk-2".to_owned()),
    ];
    let sim = sim::spawn("127.0.0.1:0".parse().unwrap(), creds)
        .await
        .unwrap();
    let m = Market {
        sim,
        client: reqwest::Client::new(),
    };
    let path = format!("{API}/v1/license/heartbeat");
    for (ak, sk, status) in [
        ("ak-1", "sk-1", 200),
        ("ak-2", "sk-2", 200),
        ("sim-ak", "sim-sk", 401),
    ] {
        let signing = Signing {
            ak,
            sk,
            ..Signing::default()
        };
        let body = br#"{"license":"PLNOSUCH"}"#.to_vec();
        let response = m
            .signed("POST", &path, "application/json", body, signing)
            .await;
        assert_eq!(response.status(), status, "{ak}");
    }
    let missing = m
        .client
        .post(m.url(&format!("{API}/v1/nothing")))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(
        missing.json::<Value>().await.unwrap()["error_code"],
        "APIGW.0101"
    );
    m.sim.stop().await;
}

#[actix_web::test]
async fn activation_follows_the_code_lifecycle() {
    let m = market().await;
    m.add_code(
        json!({"code": "PLUNCLAIMED", "claimed": false, "amount": 3, "order_id": "CS1",
                      "product_id": "P1", "expire_time": "20300101000000"}),
    )
    .await;

    let (status, body) = m
        .post("/v1/license/activate", &json!({"license": "PLNOSUCH"}))
        .await;
    assert_eq!(
        (status, body["error_code"].as_str()),
        (200, Some("92020005"))
    );
    let (_, body) = m
        .post("/v1/license/activate", &json!({"license": "PLUNCLAIMED"}))
        .await;
    assert_eq!(body["error_code"], "92020004");
    let (_, body) = m
        .post("/v1/license/heartbeat", &json!({"license": "PLUNCLAIMED"}))
        .await;
    assert_eq!(body["error_code"], "92020011");

    let (status, _) = m
        .control(
            "POST",
            "/sim/codes/PLUNCLAIMED",
            Some(json!({"claimed": true})),
        )
        .await;
    assert_eq!(status, 200);
    let body = json!({"license": "PLUNCLAIMED", "real_effect_time": "20240101000000"});
    let (status, body) = m.post("/v1/license/activate", &body).await;
    assert_eq!(
        (status, body["error_code"].as_str()),
        (200, Some("92020000")),
        "{body}"
    );
    let info: Value =
        serde_json::from_str(body["data"]["license_code_info"].as_str().unwrap()).unwrap();
    assert_eq!(
        info,
        json!({"status": "ALIVE", "expire_time": "20300101000000", "product_id": "P1", "amount": 3, "order_id": "CS1"})
    );
    let (_, again) = m
        .post("/v1/license/activate", &json!({"license": "PLUNCLAIMED"}))
        .await;
    assert_eq!(again["error_code"], "92020003");

    // Renewal, then expiry, as the marketplace would report them.
    let change = json!({"expire_time": "20310101000000", "status": "EXPIRED"});
    m.control("POST", "/sim/codes/PLUNCLAIMED", Some(change))
        .await;
    let (_, body) = m
        .post("/v1/license/heartbeat", &json!({"license": "PLUNCLAIMED"}))
        .await;
    assert_eq!(body["error_code"], "92020000");
    let data = &body["data"];
    assert_eq!(data["license_code"], "PLUNCLAIMED");
    assert_eq!(data["status"], "EXPIRED");
    assert_eq!(data["expire_time"], "20310101000000");
    assert_eq!(
        (data["amount"].as_u64(), data["order_id"].as_str()),
        (Some(3), Some("CS1"))
    );
    assert_eq!(data["activate_time"].as_str().unwrap().len(), 14);

    let (_, code) = m.control("GET", "/sim/codes/PLUNCLAIMED", None).await;
    assert_eq!(
        (code["activated"].as_bool(), code["heartbeats"].as_u64()),
        (Some(true), Some(1))
    );
    assert_eq!(code["real_effect_time"], "20240101000000");
    assert_eq!(m.control("GET", "/sim/codes/PLNOSUCH", None).await.0, 404);
}

#[actix_web::test]
async fn malformed_open_api_requests_get_the_documented_codes() {
    let m = market().await;
    let (status, body) = m
        .post(
            "/v1/license/activate",
            &json!({"real_effect_time": "20240101000000"}),
        )
        .await;
    assert_eq!(
        (status, body["error_code"].as_str()),
        (400, Some("95000001"))
    );
    let (status, body) = m
        .post("/v1/license/activate", &json!({"license": "X".repeat(65)}))
        .await;
    assert_eq!(
        (status, body["error_code"].as_str()),
        (400, Some("95000001"))
    );

    let path = format!("{API}/v1/license/activate");
    let junk = m
        .signed(
            "POST",
            &path,
            "application/json",
            b"{not json".to_vec(),
            Signing::default(),
        )
        .await;
    assert_eq!(junk.status(), 400);
    assert_eq!(
        junk.json::<Value>().await.unwrap()["error_code"],
        "95000004"
    );
    let text = m
        .signed(
            "POST",
            &path,
            "text/plain",
            b"{}".to_vec(),
            Signing::default(),
        )
        .await;
    assert_eq!(text.status(), 415);
    assert_eq!(
        text.json::<Value>().await.unwrap()["error_code"],
        "95000003"
    );
    let get = m
        .signed(
            "GET",
            &path,
            "application/json",
            Vec::new(),
            Signing::default(),
        )
        .await;
    assert_eq!(get.status(), 405);
}

#[actix_web::test]
async fn usage_reports_are_recorded_and_unknown_codes_listed() {
    let m = market().await;
    m.add_code(json!({"code": "PLUSED"})).await;
    let body = json!({"usage_info": [
        {"license": "PLUSED", "software_usage_Info": [{"id": "machine-1"}, {"active_num": 4}]},
        {"license": "PLNOSUCH", "software_usage_Info": [{"id": "machine-2"}]},
    ]});
    let (status, answer) = m.post("/v2/license/software-usage-info", &body).await;
    assert_eq!(
        (status, answer["error_code"].as_str()),
        (200, Some("92020000"))
    );
    assert_eq!(
        answer["data"]["check_fail_license_list"],
        json!(["PLNOSUCH"])
    );

    let (_, usage) = m.control("GET", "/sim/usage?license=PLUSED", None).await;
    let reports = usage["reports"].as_array().unwrap();
    assert_eq!(reports.len(), 2);
    assert_eq!(
        (reports[0]["id"].as_str(), reports[1]["active_num"].as_u64()),
        (Some("machine-1"), Some(4))
    );

    let one = json!({"license": "PLUSED", "software_usage_Info": [{"id": "m"}]});
    let too_many = json!({ "usage_info": vec![one; 101] });
    let (_, answer) = m.post("/v2/license/software-usage-info", &too_many).await;
    assert_eq!(answer["error_code"], "92020002");
    let lowercase =
        json!({"usage_info": [{"license": "PLUSED", "software_usage_info": [{"id": "m"}]}]});
    let (_, answer) = m.post("/v2/license/software-usage-info", &lowercase).await;
    assert_eq!(answer["error_code"], "92020002");
    let both = json!({"usage_info": [{"license": "PLUSED", "software_usage_Info": [{"id": "m", "active_num": 1}]}]});
    let (_, answer) = m.post("/v2/license/software-usage-info", &both).await;
    assert_eq!(answer["error_code"], "92020002");
}

#[actix_web::test]
async fn mock_and_configured_orders_are_queryable() {
    let m = market().await;
    for id in [
        "MOCKPERIODYEARNEW",
        "MOCKONETIMENEW",
        "MOCKONDEMAND",
        "MOCKONDEMANDPKG",
        "MOCKPERIODDAYTRIAL",
        "MOCKMONTYTRIALTOFORMAL",
        "MOCKMONTYUNSUBSCRIBE",
        "MOCKMONTYRENEW",
        "MOCKMONTYCHANGE",
    ] {
        let (status, body) = m
            .order(&format!("orderId={id}&orderLineId={id}-000001"))
            .await;
        assert_eq!(
            (status, body["resultCode"].as_str()),
            (200, Some("MKT.0000")),
            "{id}"
        );
        let line = &body["orderInfo"]["orderLine"][0];
        assert_eq!(line["orderLineId"], format!("{id}-000001"));
        assert!(line["quantity"].as_u64().unwrap() >= 1);
        assert_eq!(line["productInfo"][0]["linearValue"], line["quantity"]);
        if line["chargingMode"] == "PERIOD" {
            let expire =
                koolicense::domain::times::parse_compact(line["expireTime"].as_str().unwrap())
                    .unwrap();
            assert!(
                expire > Utc::now().naive_utc() + TimeDelta::days(360),
                "{id}"
            );
        }
    }

    let order = json!({"orderId": "CSOWN", "orderType": "CHANGE", "createTime": "20240101000000", "lines": [
        {"orderLineId": "CSOWN-1", "chargingMode": "PERIOD", "expireTime": "20300101000000", "productId": "P9", "skuCode": "S9", "quantity": 7},
        {"orderLineId": "CSOWN-2", "chargingMode": "ONE_TIME", "productId": "P8", "quantity": 1},
    ]});
    assert_eq!(m.control("POST", "/sim/orders", Some(order)).await.0, 201);
    let (_, body) = m.order("orderId=CSOWN&orderLineId=CSOWN-1").await;
    assert_eq!(
        body["orderInfo"],
        json!({"orderId": "CSOWN", "orderType": "CHANGE", "createTime": "20240101000000", "orderLine": [
            {"orderLineId": "CSOWN-1", "chargingMode": "PERIOD", "expireTime": "20300101000000",
             "productInfo": [{"productId": "P9", "skuCode": "S9", "linearValue": 7}], "quantity": 7}]})
    );
    let (_, body) = m.order("orderId=CSOWN").await;
    assert_eq!(body["orderInfo"]["orderLine"].as_array().unwrap().len(), 2);

    let (status, body) = m.order("orderId=CSNOSUCH").await;
    assert_eq!(
        (status, body["resultCode"].as_str()),
        (500, Some("MKT.0100"))
    );
    assert!(body.get("orderInfo").is_none());
    let (status, body) = m.order("orderLineId=x").await;
    assert_eq!(
        (status, body["resultCode"].as_str()),
        (400, Some("MKT.0101"))
    );
    let bad = json!({"orderId": "X", "orderType": "GIFT", "lines": []});
    assert_eq!(m.control("POST", "/sim/orders", Some(bad)).await.0, 400);
}

#[actix_web::test]
async fn uploads_are_checked_recorded_and_counted() {
    let m = market().await;
    let chars = json!({"type": "CHARACTERS", "characters": "LICENSE-TEXT"});
    for _ in 0..2 {
        let (status, body) = m
            .upload("EV1", multipart(&chars, None), Signing::default())
            .await;
        assert_eq!(
            (status, body),
            (
                200,
                json!({"error_code": "CBC.0000", "error_msg": "Success"})
            )
        );
    }
    let file = b"-----BEGIN KOOLICENSE LICENSE-----\nabc\n-----END KOOLICENSE LICENSE-----\n";
    let sha = hex::encode(Sha256::digest(file));
    let req = json!({"type": "FILE", "file_name": "license.lic", "sha256": sha});
    let (status, _) = m
        .upload(
            "EV2",
            multipart(&req, Some(("license.lic", file))),
            Signing::default(),
        )
        .await;
    assert_eq!(status, 200);
    // The SDKs may skip the body hash for multipart; the gateway accepts that form too.
    let unsigned = Signing {
        unsigned_payload: true,
        ..Signing::default()
    };
    let (status, _) = m
        .upload(
            "EV3",
            multipart(&req, Some(("license.lic", file))),
            unsigned,
        )
        .await;
    assert_eq!(status, 200);

    let (_, ev1) = m.control("GET", "/sim/uploads?event_id=EV1", None).await;
    assert_eq!(ev1["deliveries"], 2);
    assert_eq!(ev1["uploads"][1]["delivery"], 2);
    assert_eq!(
        (
            ev1["uploads"][0]["type"].as_str(),
            ev1["uploads"][0]["content"].as_str()
        ),
        (Some("CHARACTERS"), Some("LICENSE-TEXT"))
    );
    let (_, ev2) = m.control("GET", "/sim/uploads?event_id=EV2", None).await;
    assert_eq!(
        ev2["uploads"][0]["content"],
        String::from_utf8_lossy(file).as_ref()
    );
    assert_eq!(ev2["uploads"][0]["sha256"], sha);

    let wrong_sha = json!({"type": "FILE", "file_name": "license.lic", "sha256": "00".repeat(32)});
    let too_long = json!({"type": "CHARACTERS", "characters": "x".repeat(1025)});
    let rejected = [
        multipart(&wrong_sha, Some(("license.lic", file))),
        multipart(&req, None),
        multipart(&too_long, None),
        multipart(&json!({"type": "PICTURE"}), None),
        b"not multipart at all".to_vec(),
    ];
    for body in rejected {
        let (status, answer) = m.upload("EV4", body, Signing::default()).await;
        assert_eq!(
            (status, answer["error_code"].as_str()),
            (400, Some("CBC.0101")),
            "{answer}"
        );
    }
    let (_, ev4) = m.control("GET", "/sim/uploads?event_id=EV4", None).await;
    assert_eq!(ev4["deliveries"], 0);
    let (_, calls) = m.control("GET", "/sim/calls?api=upload", None).await;
    assert_eq!(calls["calls"][0]["event_id"], "EV1");
}

#[actix_web::test]
async fn faults_fire_the_requested_number_of_times_then_stop() {
    let m = market().await;
    m.add_code(json!({"code": "PLFAULT"})).await;
    let heartbeat = json!({"license": "PLFAULT"});
    let fault = json!({"api": "heartbeat", "kind": "http500", "count": 2});
    assert_eq!(m.control("POST", "/sim/faults", Some(fault)).await.0, 201);
    for _ in 0..2 {
        let (status, body) = m.post("/v1/license/heartbeat", &heartbeat).await;
        assert_eq!(
            (status, body["error_code"].as_str()),
            (500, Some("92020001"))
        );
    }
    let (status, body) = m.post("/v1/license/heartbeat", &heartbeat).await;
    assert_eq!(
        (status, body["error_code"].as_str()),
        (200, Some("92020011"))
    );

    let fault = json!({"api": "*", "kind": "error_code", "error_code": "92020020"});
    m.control("POST", "/sim/faults", Some(fault)).await;
    let (status, body) = m.order("orderId=MOCKONDEMAND").await;
    assert_eq!(
        (status, body["resultCode"].as_str()),
        (200, Some("92020020"))
    );
    let (_, body) = m.order("orderId=MOCKONDEMAND").await;
    assert_eq!(body["resultCode"], "MKT.0000");

    m.control(
        "POST",
        "/sim/faults",
        Some(json!({"api": "activate", "kind": "delay_ms", "delay_ms": 300})),
    )
    .await;
    let started = Instant::now();
    let (_, body) = m.post("/v1/license/activate", &heartbeat).await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(body["error_code"], "92020000");

    m.control(
        "POST",
        "/sim/faults",
        Some(json!({"api": "heartbeat", "kind": "close"})),
    )
    .await;
    let url = m.url(&format!("{API}/v1/license/heartbeat"));
    let date = apig::format_sdk_date(Utc::now());
    let body = heartbeat.to_string();
    let headers = [("Content-Type".to_owned(), "application/json".to_owned())];
    let s = apig::sign(
        "sim-ak",
        "sim-sk",
        "POST",
        &url::Url::parse(&url).unwrap(),
        &headers,
        body.as_bytes(),
        &date,
    );
    let sent = m
        .client
        .post(&url)
        .header("Content-Type", "application/json")
        .header("X-Sdk-Date", s.sdk_date)
        .header("Authorization", s.authorization)
        .body(body)
        .send()
        .await;
    let failed = match sent {
        Err(_) => true,
        Ok(response) => response.bytes().await.is_err(),
    };
    assert!(failed, "a `close` fault must not deliver a complete answer");
    let (_, body) = m.post("/v1/license/heartbeat", &heartbeat).await;
    assert_eq!(body["error_code"], "92020000");

    let (_, faults) = m.control("GET", "/sim/faults", None).await;
    assert_eq!(faults["faults"], json!([]));
    let (_, calls) = m.control("GET", "/sim/calls?api=heartbeat", None).await;
    let kinds: Vec<&Value> = calls["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["fault"])
        .collect();
    assert_eq!(
        kinds,
        [
            &json!("http500"),
            &json!("http500"),
            &Value::Null,
            &json!("close"),
            &Value::Null
        ]
    );
    let bad = json!({"api": "heartbeat", "kind": "delay_ms"});
    assert_eq!(m.control("POST", "/sim/faults", Some(bad)).await.0, 400);
}

#[actix_web::test]
async fn control_api_validates_input_and_reset_forgets_everything() {
    let m = market().await;
    let (status, body) = m
        .control(
            "POST",
            "/sim/codes",
            Some(json!({"code": "PL1", "colour": "red"})),
        )
        .await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("colour"), "{body}");
    let bad_time = json!({"code": "PL1", "expire_time": "2030-01-01"});
    assert_eq!(m.control("POST", "/sim/codes", Some(bad_time)).await.0, 400);
    let junk = m
        .client
        .post(m.url("/sim/codes"))
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(junk.status(), 400);

    m.add_code(json!({"code": "PL1"})).await;
    m.post("/v1/license/heartbeat", &json!({"license": "PL1"}))
        .await;
    let (status, _) = m.control("POST", "/sim/reset", None).await;
    assert_eq!(status, 200);
    assert_eq!(m.control("GET", "/sim/codes/PL1", None).await.0, 404);
    assert_eq!(
        m.control("GET", "/sim/calls", None).await.1["calls"],
        json!([])
    );
    let (status, _) = m.order("orderId=MOCKPERIODYEARNEW").await;
    assert_eq!(status, 200);
}

#[actix_web::test]
async fn bodies_over_12_mb_are_refused() {
    let m = market().await;
    let path = format!("{API}/v1/license/activate");
    let huge = vec![b' '; 12 * 1024 * 1024 + 1];
    let response = m
        .signed("POST", &path, "application/json", huge, Signing::default())
        .await;
    assert_eq!(response.status(), 413);
}

#[actix_web::test]
async fn sim_drive_reports_every_case_failed_when_nothing_listens() {
    let results = sim::drive("http://127.0.0.1:9/koogallery/license", "k", None).await;
    assert!(results.len() > 20);
    assert!(results.iter().all(|r| !r.passed()));
    assert_eq!(sim::drive("not a url", "k", None).await.len(), 1);
}

/// Our server, configured against a fresh simulator, passes every debug case.
async fn drive_against_our_server(backend: Backend) {
    let market = market().await;
    let sim_url = market.sim.base_url();
    let app = spawn_app_with(
        backend,
        &[
            ("KOOLICENSE_ACCESS_KEY", "drive-key"),
            ("KOOLICENSE_MARKETPLACE_URL", &sim_url),
            ("KOOLICENSE_MARKETPLACE_FALLBACK_URL", &sim_url),
            ("KOOLICENSE_APIG_AK", "sim-ak"),
            ("KOOLICENSE_APIG_SK", "sim-sk"),
        ],
    )
    .await;
    let results = sim::drive(&app.url("/koogallery/license"), "drive-key", None).await;
    let failures: Vec<String> = results
        .iter()
        .filter_map(|r| {
            r.failure
                .as_ref()
                .map(|f| format!("{}: {f}\n  {}", r.name, r.transcript.join("\n  ")))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(results.len() > 20);
}

mod sim_drive_passes_against_our_server {
    use super::*;

    #[actix_web::test]
    async fn sqlite() {
        drive_against_our_server(Backend::Sqlite).await;
    }

    #[actix_web::test]
    async fn postgres() {
        drive_against_our_server(Backend::Postgres).await;
    }
}
