//! Fuzzing `GET /koogallery/license` (legacy.rs) over HTTP on both backends: queries signed as
//! KooGallery signs them, with any activity and any field values, and unsigned ones. Every
//! answer is HTTP 200 with a verifying `Body-Sign`; a client's mistake is never answered as our
//! internal error (`000005`, which KooGallery retries for hours); a refusal changes nothing.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::Value;

use crate::both_backends;
use crate::callers::{ACCESS_KEY, LEGACY_KEY};
use crate::helpers::{Backend, TestApp, spawn_app_with};

/// A value for a field: absent, empty, ordinary, too long, or odd.
fn value(ordinary: BoxedStrategy<String>) -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        2 => Just(None),
        1 => Just(Some(String::new())),
        6 => ordinary.prop_map(Some),
        1 => "[a-z]{65,120}".prop_map(Some),
        1 => "\\PC{0,12}".prop_map(Some),
    ]
}

/// A compact time: past, future, the ends of the years, or malformed.
fn time() -> BoxedStrategy<String> {
    prop_oneof![
        (2000_u32..2100, 1_u32..13, 1_u32..29)
            .prop_map(|(y, m, d)| format!("{y}{m:02}{d:02}000000")),
        Just("00000101000000".to_owned()),
        Just("99991231235959".to_owned()),
        Just("20261301000000".to_owned()),
        "[0-9]{13,18}",
    ]
    .boxed()
}

fn query() -> impl Strategy<Value = Vec<(&'static str, Option<String>)>> {
    let known = vec![
        "getLicense",
        "refreshLicense",
        "expireLicense",
        "releaseLicense",
    ];
    let activity = prop_oneof![
        4 => prop::sample::select(known).prop_map(str::to_owned),
        1 => "\\PC{0,24}",
    ];
    let id = || "[A-Za-z0-9-]{1,12}".boxed();
    let amount = prop_oneof![Just("1".to_owned()), "-?[0-9]{1,20}", "\\PC{0,6}"].boxed();
    (
        activity,
        value(id()),
        // Mostly new orders (whose first call issues a license), sometimes a repeat.
        value(prop_oneof![3 => id(), 1 => Just("biz-1".to_owned())].boxed()),
        value(prop_oneof![3 => id(), 1 => Just("CS-1".to_owned())].boxed()),
        value(id()),
        value(time()),
        value(amount),
        value(
            prop::sample::select(vec!["biz-1", "biz-2", "ghost"])
                .prop_map(str::to_owned)
                .boxed(),
        ),
        value(
            prop::sample::select(vec!["0", "1"])
                .prop_map(str::to_owned)
                .boxed(),
        ),
    )
        .prop_map(
            |(activity, customer, business, order, product, expire, amount, instance, test)| {
                vec![
                    ("activity", Some(activity)),
                    ("customerId", customer),
                    ("businessId", business),
                    ("orderId", order),
                    ("productId", product),
                    ("expireTime", expire),
                    ("amount", amount),
                    ("instanceId", instance),
                    ("testFlag", test),
                ]
            },
        )
}

/// Sends the query, signed with the legacy key when `signed`; the answer's body.
async fn send(
    app: &TestApp,
    fields: &[(&str, Option<String>)],
    signed: bool,
) -> Result<Value, TestCaseError> {
    let ts = chrono::Utc::now().format("%Y%m%d%H%M%S%3f").to_string();
    let mut params: Vec<(&str, &str)> = fields
        .iter()
        .filter_map(|(k, v)| v.as_deref().map(|v| (*k, v)))
        .collect();
    params.push(("timeStamp", &ts));
    let token = koolicense::koogallery::auth::auth_token(LEGACY_KEY, &ts, &params);
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.extend_pairs(&params);
    if signed {
        query.append_pair("authToken", &token);
    }
    let url = format!("{}/koogallery/license?{}", app.address, query.finish());
    let response = app.client.get(url).send().await.unwrap();
    let status = response.status().as_u16();
    let header = response
        .headers()
        .get("Body-Sign")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let raw = response.bytes().await.unwrap();
    prop_assert_eq!(status, 200, "{}", String::from_utf8_lossy(&raw));
    let verified = header
        .is_some_and(|h| koolicense::koogallery::auth::verify_body_sign(LEGACY_KEY, &raw, &h));
    prop_assert!(verified, "Body-Sign does not verify");
    Ok(serde_json::from_slice(&raw).unwrap_or(Value::Null))
}

async fn check(
    app: &TestApp,
    fields: &[(&str, Option<String>)],
    signed: bool,
) -> Result<(), TestCaseError> {
    let before = app.production_rows();
    let answer = send(app, fields, signed).await?;
    let code = answer["resultCode"].as_str().unwrap_or("");
    if !signed {
        prop_assert!(code == "000001" || code == "000002", "unsigned: {answer}");
    }
    prop_assert!(
        ["000000", "000001", "000002", "000003"].contains(&code),
        "{fields:?}: {answer}"
    );
    if code != "000000" {
        // Journal rows aside, a refusal stores nothing.
        let after = app.production_rows();
        prop_assert_eq!(
            (before.0, before.1, before.2, before.4),
            (after.0, after.1, after.2, after.4)
        );
    }
    Ok(())
}

async fn legacy_app(backend: Backend) -> TestApp {
    let mut app = spawn_app_with(
        backend,
        &[
            ("KOOLICENSE_ACCESS_KEY", ACCESS_KEY),
            ("KOOLICENSE_LEGACY_KEY", LEGACY_KEY),
        ],
    )
    .await;
    // No kept-alive connections: between cases nothing polls them.
    app.client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    app
}

// What fuzzing found, kept as a case: a getLicense whose expiry has passed could not be
// signed, and was answered 000005 (retry), so KooGallery would have retried it for hours.
both_backends!(@backend a_past_expiry_is_a_bad_parameter_not_our_error, |backend| async move {
    let app = legacy_app(backend).await;
    let fields: Vec<(&str, Option<String>)> = [
        ("activity", "getLicense"), ("customerId", "c"), ("businessId", "biz-past"),
        ("orderId", "CS-PAST"), ("productId", "p"), ("expireTime", "20200101000000"),
    ]
    .into_iter()
    .map(|(k, v)| (k, Some(v.to_owned())))
    .collect();

    let answer = send(&app, &fields, true).await.unwrap();

    assert_eq!(answer["resultCode"], "000002", "{answer}");
    assert!(answer["resultMsg"].as_str().unwrap().contains("expireTime"), "{answer}");
    assert_eq!(app.production_rows(), (0, 0, 0, 0, 0));
});

fn run(backend: Backend) {
    let system = actix_web::rt::System::new();
    let app = system.block_on(legacy_app(backend));
    let mut runner = TestRunner::new(Config {
        cases: crate::seat_model::env_number("LEGACY_FUZZ_CASES", 128),
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::Direct(
                "proptest-regressions/legacy_fuzz.txt",
            ),
        )),
        ..Config::default()
    });
    let result = runner.run(&(query(), any::<bool>()), |(fields, unsigned)| {
        system.block_on(check(&app, &fields, !unsigned))
    });
    if let Err(failure) = result {
        panic!("{backend:?}: {failure}");
    }
}

#[test]
fn legacy_queries_are_answered_signed_and_never_as_our_error_on_sqlite() {
    run(Backend::Sqlite);
}

#[test]
fn legacy_queries_are_answered_signed_and_never_as_our_error_on_postgres() {
    run(Backend::Postgres);
}
