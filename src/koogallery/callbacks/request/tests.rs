#![expect(clippy::unwrap_used, reason = "tests")]

use proptest::prelude::*;
use serde_json::json;

use super::{Callback, parse};

fn field_of(body: &serde_json::Value) -> &'static str {
    parse(body.to_string().as_bytes()).unwrap_err().field
}

#[test]
fn every_activity_parses_with_its_mandatory_fields() {
    let bodies = [
        json!({"activity": "newInstance", "orderId": "o", "orderLineId": "l", "businessId": "b"}),
        json!({"activity": "refreshInstance", "scene": "RENEWAL", "orderId": "o", "orderLineId": "l",
               "instanceId": "i", "expireTime": "20221124023618256"}),
        json!({"activity": "updateInstanceStatus", "instanceId": "i", "status": "UNFREEZE"}),
        json!({"activity": "releaseInstance", "instanceId": "i"}),
        json!({"activity": "upgradeInstance", "instanceId": "i", "orderId": "o", "orderLineId": "l"}),
        json!({"activity": "queryInstance", "instanceId": "a,b, c"}),
        json!({"activity": "getLicenseAsync", "instanceId": "i", "eventId": "e",
               "effectiveTime": "2023-10-27 10:30:15 z"}),
        json!({"activity": "refreshLicenseCode", "scene": "RENEWAL", "orderId": "o", "orderLineId": "l",
               "license": "PL1", "expireTime": "20230523201932"}),
        json!({"activity": "updateLicenseCodeStatus", "license": "PL1", "status": "FREEZE"}),
        json!({"activity": "releaseLicenseCode", "license": "PL1"}),
    ];
    for body in bodies {
        let request = parse(body.to_string().as_bytes()).unwrap();
        assert_eq!(
            request.activity.as_str(),
            body["activity"].as_str().unwrap()
        );
        assert!(!request.test);
    }
}

#[test]
fn query_instance_splits_and_bounds_its_ids() {
    let request = parse(
        json!({"activity": "queryInstance", "instanceId": "a, b,,c"})
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    let Callback::QueryInstance(query) = request.callback else {
        panic!("wrong callback")
    };
    assert_eq!(query.instance_ids, ["a", "b", "c"]);
    let ids: Vec<String> = (0..101).map(|i| format!("id{i}")).collect();
    let too_many = json!({"activity": "queryInstance", "instanceId": ids.join(",")});
    assert_eq!(field_of(&too_many), "instanceId");
    let hundred = json!({"activity": "queryInstance", "instanceId": ids[..100].join(",")});
    assert!(parse(hundred.to_string().as_bytes()).is_ok());
}

#[test]
fn malformed_fields_are_named() {
    let cases = [
        (
            json!({"activity": "newInstance", "orderId": "o", "orderLineId": "l"}),
            "businessId",
        ),
        (
            json!({"activity": "newInstance", "orderId": 1, "orderLineId": "l", "businessId": "b"}),
            "orderId",
        ),
        (
            json!({"activity": "newInstance", "orderId": "", "orderLineId": "l", "businessId": "b"}),
            "orderId",
        ),
        (
            json!({"activity": "newInstance", "orderId": "o\u{1}", "orderLineId": "l", "businessId": "b"}),
            "orderId",
        ),
        (
            json!({"activity": "releaseInstance", "instanceId": "i".repeat(65)}),
            "instanceId",
        ),
        (
            json!({"activity": "releaseInstance", "instanceId": "i", "testFlag": "2"}),
            "testFlag",
        ),
        (
            json!({"activity": "releaseInstance", "instanceId": "i", "testFlag": 1}),
            "testFlag",
        ),
        (
            json!({"activity": "updateLicenseCodeStatus", "license": "PL", "status": "freeze"}),
            "status",
        ),
        (
            json!({"activity": "getLicenseAsync", "instanceId": "i", "eventId": "e", "effectiveTime": "soon"}),
            "effectiveTime",
        ),
        (
            json!({"activity": "getLicenseAsync", "instanceId": "i", "eventId": "e", "effectiveTime": "2023-10-27 10:30:15 z",
                "deviceFingerprint": "x".repeat(5121)}),
            "deviceFingerprint",
        ),
        (
            json!({"activity": "getLicenseAsync", "instanceId": "i", "eventId": "e",
                "effectiveTime": "2026-01-01 00:00:00 z", "expireTime": "9999-12-31T23:59:59-23:59"}),
            "expireTime",
        ),
        (
            json!({"activity": "getLicenseAsync", "instanceId": "i", "eventId": "e",
                "effectiveTime": "2026-01-01 00:00:00 z", "expireTime": "2025-12-31 23:59:59 z"}),
            "expireTime",
        ),
        (
            json!({"activity": "getLicenseAsync", "instanceId": "i", "eventId": "e",
                "effectiveTime": "1999-12-31 23:59:59 z"}),
            "effectiveTime",
        ),
        (
            json!({"activity": "refreshInstance", "scene": "RENEWAL", "orderId": "o", "orderLineId": "l",
                "instanceId": "i", "expireTime": "19991231235959"}),
            "expireTime",
        ),
        (json!({"activity": "newinstance"}), "activity"),
        (json!(["activity"]), "body"),
    ];
    for (body, field) in cases {
        assert_eq!(field_of(&body), field, "{body}");
    }
    assert_eq!(parse(b"{").unwrap_err().field, "body");
}

#[test]
fn test_flag_one_marks_a_debug_call() {
    let body = json!({"activity": "releaseInstance", "instanceId": "i", "testFlag": "1"});
    assert!(parse(body.to_string().as_bytes()).unwrap().test);
}

proptest! {
    #[test]
    fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse(&bytes);
    }

    #[test]
    fn any_string_values_either_parse_or_name_a_field(order in ".{0,80}", line in ".{0,80}", business in ".{0,80}") {
        let body = json!({"activity": "newInstance", "orderId": order, "orderLineId": line, "businessId": business});
        if let Err(bad) = parse(body.to_string().as_bytes()) {
            prop_assert!(["orderId", "orderLineId", "businessId"].contains(&bad.field));
        }
    }
}
