//! Fuzzing `POST /koogallery/license` over HTTP on both backends: bodies signed as KooGallery
//! signs them (Scheme B), with any activity and any field values or types. Every answer is HTTP
//! 200 with a verifying `Body-Sign`; none is our internal error (`000005`, which KooGallery
//! retries for hours); an answer that refuses the call stores nothing.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Map, Value, json};

use crate::callers::LEGACY_KEY;
use crate::helpers::{Backend, TestApp, spawn_app_with};

/// Each activity and the fields it needs.
const ACTIVITIES: &[(&str, &[&str])] = &[
    ("newInstance", &["orderId", "orderLineId", "businessId"]),
    (
        "refreshInstance",
        &[
            "scene",
            "orderId",
            "orderLineId",
            "instanceId",
            "expireTime",
        ],
    ),
    ("updateInstanceStatus", &["instanceId", "status"]),
    ("releaseInstance", &["instanceId"]),
    ("upgradeInstance", &["instanceId", "orderId", "orderLineId"]),
    ("queryInstance", &["instanceId"]),
    (
        "getLicenseAsync",
        &[
            "instanceId",
            "eventId",
            "effectiveTime",
            "expireTime",
            "deviceFingerprint",
        ],
    ),
    (
        "refreshLicenseCode",
        &["scene", "orderId", "orderLineId", "license", "expireTime"],
    ),
    ("updateLicenseCodeStatus", &["license", "status"]),
    ("releaseLicenseCode", &["license"]),
];

const FIELDS: &[&str] = &[
    "orderId",
    "orderLineId",
    "businessId",
    "instanceId",
    "license",
    "scene",
    "status",
    "expireTime",
    "effectiveTime",
    "eventId",
    "deviceFingerprint",
    "productId",
    "testFlag",
];

/// A value that fits the field (a few shared ids, so that calls meet the same instances).
fn fitting(name: &str) -> BoxedStrategy<Value> {
    let pick =
        |values: Vec<&'static str>| prop::sample::select(values).prop_map(Value::from).boxed();
    match name {
        "businessId" | "instanceId" => pick(vec!["inst-1", "inst-2", "inst-3", "inst-1,inst-2"]),
        "orderId" => pick(vec!["CS-1", "CS-2", "CS-UP-1"]),
        "orderLineId" => pick(vec!["CS-1-1", "CS-2-1"]),
        "license" => pick(vec!["PLFUZZ0001", "PLFUZZ0002"]),
        "scene" => pick(vec!["RENEWAL", "UNSUBSCRIBE_RENEWAL_PERIOD", "ELSE"]),
        "status" => pick(vec!["FREEZE", "UNFREEZE", "MELT"]),
        "expireTime" | "effectiveTime" => pick(vec![
            "20300101000000",
            "20200101000000",
            "2030-01-01 00:00:00 z",
            "2020-01-01 00:00:00 z",
            "0000-01-01T00:00:00+01:00",
            "9999-12-31 23:59:59 z",
            "20301301000000",
        ]),
        "eventId" => "[a-z0-9]{1,8}".prop_map(Value::from).boxed(),
        "deviceFingerprint" => pick(vec!["AA:BB|DISK|BOARD|CPU", " ", "a\u{0}b"]),
        "testFlag" => pick(vec!["0", "1"]),
        _ => "[A-Za-z0-9-]{1,12}".prop_map(Value::from).boxed(),
    }
}

fn odd() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        Just(json!("")),
        "[a-z]{65,80}".prop_map(Value::from),
        "x{5121}".prop_map(Value::from),
        "\\PC{0,16}".prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        Just(json!(["x"])),
        Just(json!({"a": 1})),
    ]
}

/// What is done to a well-formed call.
#[derive(Debug, Clone)]
enum Change {
    Drop(prop::sample::Index),
    Odd(prop::sample::Index, Value),
    Add(&'static str, Value),
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        any::<prop::sample::Index>().prop_map(Change::Drop),
        (any::<prop::sample::Index>(), odd()).prop_map(|(i, v)| Change::Odd(i, v)),
        prop::sample::select(FIELDS.to_vec())
            .prop_flat_map(|name| fitting(name).prop_map(move |v| Change::Add(name, v))),
    ]
}

/// A well-formed call of some activity with its fields filled in, then up to three changes.
fn body() -> impl Strategy<Value = Value> {
    let call = prop::sample::select(ACTIVITIES.to_vec()).prop_flat_map(|(activity, needs)| {
        let fields: Vec<BoxedStrategy<(&str, Value)>> = needs
            .iter()
            .map(|name| fitting(name).prop_map(move |v| (*name, v)).boxed())
            .collect();
        (Just(activity), fields)
    });
    (call, prop::collection::vec(change(), 0..3), 0..20_u8).prop_map(
        |((activity, fields), changes, wild)| {
            let mut body = Map::new();
            // Now and then an activity nobody knows, or none.
            let activity = match wild {
                0 => Value::Null,
                1 => json!("getLicense"),
                _ => json!(activity),
            };
            body.insert("activity".into(), activity);
            body.extend(fields.into_iter().map(|(k, v)| (k.to_owned(), v)));
            for change in changes {
                let keys: Vec<String> = body.keys().cloned().collect();
                match change {
                    Change::Drop(i) => {
                        body.remove(&keys[i.index(keys.len())]);
                    }
                    Change::Odd(i, v) if !keys.is_empty() => {
                        body.insert(keys[i.index(keys.len())].clone(), v);
                    }
                    Change::Add(name, v) => {
                        body.insert(name.to_owned(), v);
                    }
                    Change::Odd(..) => {}
                }
            }
            Value::Object(body)
        },
    )
}

async fn check(app: &TestApp, body: &Value) -> Result<(), TestCaseError> {
    let before = app.production_rows();
    let answer = app.callback(body).await;
    prop_assert_eq!(
        answer.status,
        200,
        "{}: {}",
        body,
        String::from_utf8_lossy(&answer.raw)
    );
    let signed = answer.body_sign.as_deref().is_some_and(|h| {
        koolicense::koogallery::auth::verify_body_sign(LEGACY_KEY, &answer.raw, h)
    });
    prop_assert!(signed, "Body-Sign does not verify");
    let code = answer.code();
    prop_assert!(
        code != "000005" && code != "000001" && code.len() == 6,
        "{body}: {}",
        answer.body
    );
    if ["000002", "000003"].contains(&code) {
        prop_assert_eq!(before, app.production_rows(), "{}: {}", body, answer.body);
    }
    Ok(())
}

fn run(backend: Backend) {
    let system = actix_web::rt::System::new();
    let mut app = system.block_on(spawn_app_with(
        backend,
        &[
            ("KOOLICENSE_LEGACY_KEY", LEGACY_KEY),
            // Nothing leaves the machine: queued work stays queued.
            ("KOOLICENSE_WORKER", "false"),
            ("KOOLICENSE_MARKETPLACE_URL", "http://127.0.0.1:9"),
            ("KOOLICENSE_MARKETPLACE_FALLBACK_URL", "http://127.0.0.1:9"),
        ],
    ));
    // No kept-alive connections: between cases nothing polls them.
    app.client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let mut runner = TestRunner::new(Config {
        cases: crate::seat_model::env_number("PRODUCTION_FUZZ_CASES", 256),
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::Direct(
                "proptest-regressions/production_fuzz.txt",
            ),
        )),
        ..Config::default()
    });
    let result = runner.run(&body(), |body| system.block_on(check(&app, &body)));
    if let Err(failure) = result {
        panic!("{backend:?}: {failure}");
    }
}

#[test]
fn callbacks_are_answered_signed_and_never_as_our_error_on_sqlite() {
    run(Backend::Sqlite);
}

#[test]
fn callbacks_are_answered_signed_and_never_as_our_error_on_postgres() {
    run(Backend::Postgres);
}
