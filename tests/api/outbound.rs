//! The open-API client against a throwaway marketplace started in the test: signatures,
//! the fallback host, timeouts, every typed outcome, the upload's multipart body and the
//! journal. The outbox (jobs, worker) is in `outbound/outbox.rs`.

mod market;
mod outbox;
mod shutdown;

use std::net::TcpListener;
use std::time::Duration;

use koolicense::koogallery::apig;
use koolicense::koogallery::client::{ActivateOutcome, MarketplaceError, QueryOutcome, UsageEntry};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use self::market::{AK, Canned, Harness, Market};
use crate::helpers::Backend;

const CODE: &str = "PLTESTCODE0123456789";
fn ok(data: Value) -> Canned {
    Canned::Json(
        200,
        json!({"error_code": "92020000", "error_msg": "success", "data": data}),
    )
}

fn code(c: &str) -> Canned {
    Canned::Json(
        200,
        json!({"error_code": c, "error_msg": format!("failed for {CODE}")}),
    )
}

/// A port nothing listens on.
fn closed_port_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port())
}

#[actix_web::test]
async fn activate_maps_every_documented_answer_and_signs_each_request() {
    let info = r#"{"status":"ALIVE","expire_time":"20300726121646","product_id":"12345","amount":2,"order_id":"CS123","new_field":1}"#;
    let market = Market::start(vec![
        ok(json!({"license_code_info": info})),
        code("92020003"),
        code("92020004"),
        code("92020005"),
        code("92020002"),
    ]);
    let h = Harness::new(Backend::Sqlite, &market.url, &market.url, &[]);

    let ActivateOutcome::Activated(activated) = h.client.activate(CODE).await.unwrap() else {
        panic!("expected an activation");
    };
    assert_eq!(activated.status, "ALIVE");
    assert_eq!(activated.amount, Some(2));
    assert_eq!(activated.product_id.as_deref(), Some("12345"));
    assert_eq!(activated.order_id.as_deref(), Some("CS123"));
    assert_eq!(
        activated.expire_time.unwrap().to_string(),
        "2030-07-26 12:16:46"
    );
    assert_eq!(
        h.client.activate(CODE).await,
        Ok(ActivateOutcome::AlreadyActive)
    );
    assert_eq!(
        h.client.activate(CODE).await,
        Ok(ActivateOutcome::NotClaimed)
    );
    assert_eq!(h.client.activate(CODE).await, Ok(ActivateOutcome::NotFound));
    let Err(MarketplaceError::Rejected { code, message }) = h.client.activate(CODE).await else {
        panic!("expected a rejection");
    };
    assert_eq!(code, "92020002");
    assert!(
        !message.contains(CODE),
        "the code leaked into the error: {message}"
    );

    let seen = market.seen();
    assert_eq!(seen.len(), 5);
    for request in &seen {
        assert_eq!(request.signature, Ok(AK.to_owned()));
        assert_eq!(request.method, "POST");
        assert_eq!(
            request.path,
            "/api/mkp-openapi-public/global/v1/license/activate"
        );
        assert_eq!(request.json(), json!({"license": CODE}));
    }
    let journal = h.journal();
    assert_eq!(journal.len(), 5);
    let codes: Vec<&str> = journal
        .iter()
        .rev()
        .map(|c| c.result_code.as_str())
        .collect();
    assert_eq!(
        codes,
        ["92020000", "92020003", "92020004", "92020005", "92020002"]
    );
    for row in &journal {
        assert_eq!(row.direction, "outbound");
        assert_eq!(row.activity, "activate");
        assert_eq!(row.http_status, Some(200));
        assert_eq!(row.code_hint.as_deref(), Some("PLTE…89"));
        assert!(
            !serde_json::to_string(row).unwrap().contains(CODE),
            "full code journalled"
        );
    }
}

#[actix_web::test]
async fn activation_without_an_amount_binds_one_machine() {
    let market = Market::start(vec![ok(
        json!({"license_code_info": r#"{"status":"ALIVE"}"#}),
    )]);
    let h = Harness::new(Backend::Sqlite, &market.url, &market.url, &[]);
    let ActivateOutcome::Activated(info) = h.client.activate(CODE).await.unwrap() else {
        panic!("expected an activation");
    };
    assert_eq!(
        (info.amount, info.expire_time, info.product_id),
        (None, None, None)
    );
    let seats = koolicense::service::seats::SeatLimit::from_activation(info.amount);
    assert_eq!(seats.get(), 1);
}

#[actix_web::test]
async fn query_tolerates_unknown_and_missing_fields() {
    let market = Market::start(vec![
        ok(
            json!({"license_code": CODE, "status": "expired", "activate_time": "20240101080000",
                  "expire_time": "20250101080000", "order_id": "CS1", "amount": "3", "future": {"x": 1}}),
        ),
        ok(json!({"license_code": CODE, "status": "ALIVE"})),
        code("92020011"),
        code("92020005"),
    ]);
    let h = Harness::new(Backend::Sqlite, &market.url, &market.url, &[]);
    let QueryOutcome::Info(info) = h.client.query(CODE).await.unwrap() else {
        panic!()
    };
    assert_eq!(info.status, "EXPIRED");
    assert_eq!(
        info.activate_time.unwrap().to_string(),
        "2024-01-01 08:00:00"
    );
    assert_eq!(info.expire_time.unwrap().to_string(), "2025-01-01 08:00:00");
    assert_eq!(
        (info.order_id.as_deref(), info.amount),
        (Some("CS1"), Some(3))
    );
    let QueryOutcome::Info(bare) = h.client.query(CODE).await.unwrap() else {
        panic!()
    };
    assert_eq!(
        (bare.status.as_str(), bare.expire_time, bare.product_id),
        ("ALIVE", None, None)
    );
    assert_eq!(h.client.query(CODE).await, Ok(QueryOutcome::NotActivated));
    assert_eq!(h.client.query(CODE).await, Ok(QueryOutcome::NotFound));
    assert!(
        market
            .seen()
            .iter()
            .all(|s| s.path.ends_with("/v1/license/heartbeat"))
    );
    assert!(h.journal().iter().all(|row| row.activity == "query"));
}

#[actix_web::test]
async fn the_fallback_host_answers_when_the_primary_fails_with_a_5xx() {
    let primary = Market::start(vec![Canned::Status(502)]);
    let fallback = Market::start(vec![code("92020005")]);
    let h = Harness::new(Backend::Sqlite, &primary.url, &fallback.url, &[]);

    assert_eq!(h.client.activate(CODE).await, Ok(ActivateOutcome::NotFound));

    assert_eq!(primary.seen().len(), 1);
    assert_eq!(fallback.seen().len(), 1);
    assert_eq!(
        fallback.seen()[0].signature,
        Ok(AK.to_owned()),
        "re-signed for the fallback host"
    );
    let detail = h.journal()[0].detail.clone().unwrap();
    let fallback_host = fallback.url.trim_start_matches("http://");
    assert!(
        detail.starts_with(&format!("host={fallback_host} (fallback")),
        "{detail}"
    );
    assert!(detail.contains("HTTP 502"), "{detail}");
}

#[actix_web::test]
async fn the_fallback_host_answers_when_the_primary_is_unreachable() {
    let fallback = Market::start(vec![code("92020004")]);
    let h = Harness::new(Backend::Sqlite, &closed_port_url(), &fallback.url, &[]);
    assert_eq!(
        h.client.activate(CODE).await,
        Ok(ActivateOutcome::NotClaimed)
    );
    assert_eq!(fallback.seen().len(), 1);
}

#[actix_web::test]
async fn both_hosts_failing_is_unavailable_and_retryable() {
    let primary = Market::start(vec![Canned::Status(500)]);
    let h = Harness::new(Backend::Sqlite, &primary.url, &closed_port_url(), &[]);
    let err = h.client.query(CODE).await.unwrap_err();
    assert!(matches!(err, MarketplaceError::Unavailable(_)), "{err:?}");
    assert!(err.is_retryable());
    let row = &h.journal()[0];
    assert_eq!(
        (row.result_code.as_str(), row.http_status),
        ("UNAVAILABLE", None)
    );
}

#[actix_web::test]
async fn a_slow_marketplace_times_out_as_unavailable() {
    let slow = Market::start(vec![Canned::Slow(Duration::from_secs(5))]);
    let h = Harness::new(
        Backend::Sqlite,
        &slow.url,
        &slow.url,
        &[("KOOLICENSE_MARKETPLACE_TIMEOUT_MS", "300")],
    );
    let started = std::time::Instant::now();
    let err = h.client.activate(CODE).await.unwrap_err();
    let MarketplaceError::Unavailable(why) = &err else {
        panic!("{err:?}")
    };
    assert!(why.contains("timeout"), "{why}");
    assert_eq!(slow.seen().len(), 2, "the fallback was tried too");
    assert!(started.elapsed() < Duration::from_secs(4));
}

#[actix_web::test]
async fn gateway_refusals_are_unauthorized_and_not_retried_elsewhere() {
    let primary = Market::start(vec![code("92020000")]);
    let fallback = Market::start(vec![code("92020000")]);
    let h = Harness::new(
        Backend::Sqlite,
        &primary.url,
        &fallback.url,
        &[("KOOLICENSE_APIG_SK", "wrong-sk")],
    );
    let err = h.client.activate(CODE).await.unwrap_err();
    assert_eq!(
        err,
        MarketplaceError::Unauthorized {
            code: "APIGW.0301".into()
        }
    );
    assert!(!err.is_retryable());
    assert_eq!(
        primary.seen()[0].signature,
        Err(apig::ApigError::BadSignature)
    );
    assert!(fallback.seen().is_empty());
    assert_eq!(h.journal()[0].http_status, Some(401));
}

#[actix_web::test]
async fn without_ak_and_sk_nothing_is_sent() {
    let market = Market::start(vec![code("92020000")]);
    let h = Harness::new(
        Backend::Sqlite,
        &market.url,
        &market.url,
        &[("KOOLICENSE_APIG_AK", ""), ("KOOLICENSE_APIG_SK", "")],
    );
    let err = h.client.activate(CODE).await.unwrap_err();
    assert_eq!(err, MarketplaceError::NotConfigured);
    assert!(err.to_string().contains("KOOLICENSE_APIG_AK"));
    assert!(market.seen().is_empty());
}

#[actix_web::test]
async fn usage_reports_use_the_documented_shape_and_read_failed_codes() {
    let market = Market::start(vec![ok(json!({"check_fail_license_list": ["PLBAD"]}))]);
    let h = Harness::new(Backend::Sqlite, &market.url, &market.url, &[]);
    let batch = vec![
        UsageEntry {
            license: CODE.into(),
            active_num: 3,
        },
        UsageEntry {
            license: "PLBAD".into(),
            active_num: 1,
        },
    ];
    let outcome = h.client.report_usage(&batch).await.unwrap();
    assert_eq!(outcome.failed_codes, ["PLBAD"]);
    let seen = market.seen();
    assert_eq!(
        seen[0].path,
        "/api/mkp-openapi-public/global/v2/license/software-usage-info"
    );
    assert_eq!(
        seen[0].json(),
        json!({"usage_info": [
            {"license": CODE, "software_usage_Info": [{"active_num": 3}]},
            {"license": "PLBAD", "software_usage_Info": [{"active_num": 1}]},
        ]})
    );
    assert_eq!(h.journal()[0].activity, "usage");

    let too_many: Vec<UsageEntry> = (0..101)
        .map(|i| UsageEntry {
            license: format!("PL{i}"),
            active_num: 1,
        })
        .collect();
    assert!(matches!(
        h.client.report_usage(&too_many).await,
        Err(MarketplaceError::Rejected { .. })
    ));
    assert_eq!(market.seen().len(), 1, "an oversized batch is not sent");
}

#[actix_web::test]
async fn order_query_reads_product_info_and_signs_the_query_string() {
    let market = Market::start(vec![Canned::Json(
        200,
        json!({
            "resultCode": "000000", "resultMsg": "success",
            "orderInfo": {"orderId": "MOCK ORDER", "orderType": "NEW", "createTime": "20240301101010",
                "buyerInfo": {"mobilePhone": "secret"}, "extendParams": [],
                "orderLine": [{"orderLineId": "MOCK ORDER-000001", "chargingMode": "PERIOD",
                    "expireTime": "20250301101010", "quantity": 9,
                    "productInfo": [{"productId": "OFFER1", "skuCode": "SKU1", "linearValue": 5}]}]}
        }),
    )]);
    let h = Harness::new(Backend::Sqlite, &market.url, &market.url, &[]);
    let order = h
        .client
        .query_order("MOCK ORDER", Some("MOCK ORDER-000001"))
        .await
        .unwrap();
    assert_eq!(
        (order.order_id.as_str(), order.order_type.as_str()),
        ("MOCK ORDER", "NEW")
    );
    assert_eq!(
        order.create_time.unwrap().to_string(),
        "2024-03-01 10:10:10"
    );
    let line = &order.lines[0];
    assert_eq!(line.product_id.as_deref(), Some("OFFER1"));
    assert_eq!(
        line.quantity,
        Some(5),
        "productInfo's linearValue wins over quantity"
    );
    assert_eq!(line.charging_mode.as_deref(), Some("PERIOD"));
    assert!(!order.raw.contains("secret"), "buyer data is not kept");

    let seen = &market.seen()[0];
    assert_eq!(
        (seen.method.as_str(), seen.signature.clone()),
        ("GET", Ok(AK.to_owned()))
    );
    assert_eq!(
        seen.query.as_deref(),
        Some("orderId=MOCK%20ORDER&orderLineId=MOCK%20ORDER-000001")
    );
    let row = &h.journal()[0];
    assert_eq!(
        (row.activity.as_str(), row.order_id.as_deref()),
        ("order_query", Some("MOCK ORDER"))
    );
    assert_eq!(row.result_code, "000000");
}

#[actix_web::test]
async fn order_query_errors_are_rejections() {
    let market = Market::start(vec![Canned::Json(
        200,
        json!({"resultCode": "MKT.9001", "resultMsg": "no"}),
    )]);
    let h = Harness::new(Backend::Sqlite, &market.url, &market.url, &[]);
    let err = h.client.query_order("O", None).await.unwrap_err();
    assert_eq!(
        err,
        MarketplaceError::Rejected {
            code: "MKT.9001".into(),
            message: "no".into()
        }
    );
    assert_eq!(market.seen()[0].query.as_deref(), Some("orderId=O"));
}

#[actix_web::test]
async fn short_licenses_upload_as_characters() {
    let market = Market::start(vec![Canned::Json(
        200,
        json!({"error_code": "CBC.0000", "error_msg": "Success"}),
    )]);
    let h = Harness::new(Backend::Sqlite, &market.url, &market.url, &[]);
    let license = "-----BEGIN LICENSE-----\nabc\n-----END LICENSE-----\n";
    h.client.upload_license("EV-1", license).await.unwrap();

    let seen = &market.seen()[0];
    assert_eq!(
        seen.path,
        "/api/mkp-openapi-public/global/v1/market-event/EV-1/file"
    );
    assert_eq!(
        seen.signature,
        Ok(AK.to_owned()),
        "the body hash covers the multipart bytes"
    );
    assert_eq!(seen.parts.len(), 1);
    let req = &seen.parts[0];
    assert_eq!(req.name, "isvUpdateFileReq");
    assert_eq!(req.content_type.as_deref(), Some("application/json"));
    let req: Value = serde_json::from_slice(&req.data).unwrap();
    assert_eq!(req, json!({"type": "CHARACTERS", "characters": license}));
    let row = &h.journal()[0];
    assert_eq!(
        (row.activity.as_str(), row.event_id.as_deref()),
        ("upload", Some("EV-1"))
    );
    assert_eq!(row.result_code, "CBC.0000");
    assert!(!row.detail.clone().unwrap_or_default().contains("abc"));
}

#[actix_web::test]
async fn long_licenses_upload_as_a_file_with_its_sha256() {
    let market = Market::start(vec![
        Canned::Json(
            200,
            json!({"error_code": "CBC.0000", "error_msg": "Success"}),
        ),
        Canned::Json(
            200,
            json!({"error_code": "91381037", "error_msg": "Invalid license format."}),
        ),
    ]);
    let h = Harness::new(Backend::Sqlite, &market.url, &market.url, &[]);
    let license = "L".repeat(3000);
    h.client.upload_license("EV 2", &license).await.unwrap();

    let seen = &market.seen()[0];
    assert_eq!(
        seen.path,
        "/api/mkp-openapi-public/global/v1/market-event/EV%202/file"
    );
    assert_eq!(seen.signature, Ok(AK.to_owned()));
    let req = seen
        .parts
        .iter()
        .find(|p| p.name == "isvUpdateFileReq")
        .unwrap();
    let req: Value = serde_json::from_slice(&req.data).unwrap();
    let sha = hex::encode(Sha256::digest(license.as_bytes()));
    assert_eq!(
        req,
        json!({"type": "FILE", "file_name": "license-EV_2.lic", "sha256": sha})
    );
    let file = seen.parts.iter().find(|p| p.name == "file").unwrap();
    assert_eq!(file.file_name.as_deref(), Some("license-EV_2.lic"));
    assert_eq!(file.data, license.as_bytes());

    let err = h.client.upload_license("EV 2", &license).await.unwrap_err();
    assert!(matches!(err, MarketplaceError::Rejected { ref code, .. } if code == "91381037"));
}
