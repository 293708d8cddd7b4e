//! Fuzzing of the marketplace's request authentication: Scheme B's canonical JSON and
//! verification, the legacy `authToken` query as `GET /koogallery/license` reads it (decoded by
//! `url::form_urlencoded`, as `legacy.rs` does), and `Body-Sign` headers. Nothing may panic on
//! any input or clock; a call signed as KooGallery signs it verifies; canonicalisation is
//! idempotent and keeps every non-null value.

use chrono::{DateTime, TimeDelta, Utc};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::*;

/// JSON of any shape: the values KooGallery sends are strings, but a body may hold anything.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        "\\PC{0,12}".prop_map(Value::from),
        // Characters JSON must escape, and ones Java's order sorts apart from byte order.
        "[\"\\\\/\u{0}-\u{1f}\u{e000}-\u{e00f}\u{10000}-\u{10010}]{0,6}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("\\PC{0,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn any_object() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::vec(("\\PC{0,10}", any_json()), 0..8)
        .prop_map(|members| members.into_iter().collect())
}

/// A nonce KooGallery could send: 1 to 128 printable ASCII characters.
fn nonce() -> impl Strategy<Value = String> {
    "[!-~]{1,128}"
}

fn any_time() -> impl Strategy<Value = DateTime<Utc>> {
    (0_i64..253_402_300_799).prop_map(|secs| DateTime::from_timestamp(secs, 0).unwrap())
}

proptest! {
    #[test]
    fn canonical_payload_never_panics_and_is_idempotent(
        body in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        if let Some(payload) = canonical_payload(&body) {
            prop_assert_eq!(canonical_payload(payload.as_bytes()), Some(payload));
        }
    }

    #[test]
    fn canonical_payload_keeps_every_non_null_member(object in any_object()) {
        let body = serde_json::to_vec(&Value::Object(object.clone())).unwrap();
        let payload = canonical_payload(&body).unwrap();
        let read: Map<String, Value> = serde_json::from_str(&payload).unwrap();
        let kept: Map<String, Value> = object.into_iter().filter(|(_, v)| !v.is_null()).collect();
        prop_assert_eq!(&read, &kept);
        let keys: Vec<&String> = read.keys().collect();
        prop_assert!(keys.windows(2).all(|w| java_string_order(w[0], w[1]).is_le()));
        prop_assert_eq!(canonical_payload(payload.as_bytes()), Some(payload.clone()));
    }

    #[test]
    fn scheme_b_never_panics_on_any_parameters_or_clock(
        signature in prop::option::of("\\PC{0,70}"),
        timestamp in prop::option::of(prop_oneof!["[0-9]{0,25}", "\\PC{0,25}"]),
        nonce in prop::option::of("\\PC{0,140}"),
        body in prop::collection::vec(any::<u8>(), 0..128),
        now_ms in any::<i64>(),
        window_ms in any::<i64>(),
    ) {
        let params = SchemeBParams {
            signature: signature.as_deref(),
            timestamp: timestamp.as_deref(),
            nonce: nonce.as_deref(),
        };
        // Without the key's signature nothing verifies.
        prop_assert!(verify_scheme_b("access-key", &params, &body, now_ms, window_ms).is_err());
    }

    #[test]
    fn a_call_signed_as_koogallery_signs_it_verifies(
        key in "\\PC{0,40}",
        object in any_object(),
        nonce in nonce(),
        sent_ms in 10_000_000_000_i64..4_102_444_800_000,
        skew_ms in -60_000_i64..=60_000,
        in_seconds in any::<bool>(),
    ) {
        let body = serde_json::to_vec(&Value::Object(object)).unwrap();
        let payload = canonical_payload(&body).unwrap();
        // The seconds form is read as `sent / 1000` whole seconds.
        let (timestamp, sent) = if in_seconds {
            ((sent_ms / 1000).to_string(), sent_ms / 1000 * 1000)
        } else {
            (sent_ms.to_string(), sent_ms)
        };
        let signature = scheme_b_signature(&key, &nonce, &timestamp, &payload);
        let params = SchemeBParams {
            signature: Some(&signature),
            timestamp: Some(&timestamp),
            nonce: Some(&nonce),
        };
        let call = verify_scheme_b(&key, &params, &body, sent + skew_ms, 60_000).unwrap();
        prop_assert_eq!(call.timestamp_ms, sent);
        prop_assert_eq!(call.matched, SignedForm::Canonical);
        // A signature over the raw bytes (another canonicalisation) verifies as well.
        let raw = scheme_b_over_bytes(&key, &nonce, &timestamp, &body);
        let params = SchemeBParams { signature: Some(&raw), ..params };
        prop_assert!(verify_scheme_b(&key, &params, &body, sent, 60_000).is_ok());
    }

    #[test]
    fn legacy_queries_never_panic(
        query in "\\PC{0,200}",
        now in any_time(),
        window in any::<i64>(),
    ) {
        let params: Vec<(String, String)> =
            url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
        prop_assert!(verify_auth_token_fresh("legacy-key", &params, now, window).is_err());
    }

    #[test]
    fn a_legacy_query_signed_as_koogallery_signs_it_verifies(
        key in "\\PC{1,24}",
        pairs in prop::collection::vec(("[a-zA-Z]{1,10}", "\\PC{0,16}"), 0..6),
        now in any_time(),
        millis in 0_i64..1000,
        age_secs in -299_i64..=299,
        plus_left_raw in any::<bool>(),
    ) {
        let sent = now.naive_utc() - TimeDelta::seconds(age_secs) + TimeDelta::milliseconds(millis);
        let time_stamp = sent.format("%Y%m%d%H%M%S%3f").to_string();
        let mut params: Vec<(String, String)> = pairs
            .into_iter()
            .filter(|(name, _)| name != "authToken" && name != "timeStamp")
            .collect();
        params.push(("timeStamp".into(), time_stamp.clone()));
        let signed: Vec<(&str, &str)> =
            params.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let token = auth_token(&key, &time_stamp, &signed);
        let mut query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&params)
            .finish();
        if plus_left_raw {
            // A sender that did not escape the token: `+` then arrives as a space.
            query.push_str("&authToken=");
            query.push_str(&token);
        } else {
            query = url::form_urlencoded::Serializer::new(query)
                .append_pair("authToken", &token)
                .finish();
        }
        let received: Vec<(String, String)> =
            url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
        let window = 300;
        prop_assert_eq!(verify_auth_token_fresh(&key, &received, now, window), Ok(()));
    }

    #[test]
    fn body_sign_headers_round_trip_and_never_panic(
        key in "\\PC{0,24}",
        body in prop::collection::vec(any::<u8>(), 0..128),
        header in "\\PC{0,80}",
    ) {
        let signed = body_sign_header(&key, &body);
        prop_assert_eq!(parse_body_sign(&signed), Some(body_signature(&key, &body)));
        prop_assert!(verify_body_sign(&key, &body, &signed));
        let _ = parse_body_sign(&header);
        let _ = verify_body_sign(&key, &body, &header);
    }
}
