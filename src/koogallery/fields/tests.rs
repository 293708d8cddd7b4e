#![expect(clippy::unwrap_used, reason = "tests")]

use serde_json::json;

use super::Fields;

fn query(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn both_sources_trim_and_treat_empty_as_missing() {
    let body = json!({"a": "  x  ", "b": "   "});
    let map = body.as_object().unwrap();
    let params = query(&[("a", "  x  "), ("b", "   ")]);
    for f in [Fields::Json(map), Fields::Query(&params)] {
        assert_eq!(f.optional("a", 64).unwrap().as_deref(), Some("x"));
        assert_eq!(f.optional("b", 64).unwrap(), None);
        assert_eq!(
            f.required("b", 64).unwrap_err().to_string(),
            "invalid parameter b: missing"
        );
        assert_eq!(f.optional("c", 64).unwrap(), None);
    }
}

#[test]
fn both_sources_refuse_control_characters_and_long_values_in_their_own_words() {
    let body = json!({"a": "x\u{1}y", "b": "xxx"});
    let map = body.as_object().unwrap();
    let params = query(&[("a", "x\u{1}y"), ("b", "xxx")]);
    let (json, legacy) = (Fields::Json(map), Fields::Query(&params));
    for f in [json, legacy] {
        let message = f.optional("a", 64).unwrap_err().to_string();
        assert_eq!(message, "invalid parameter a: contains control characters");
    }
    let message = |f: Fields<'_>| f.optional("b", 2).unwrap_err().to_string();
    assert_eq!(
        message(json),
        "invalid parameter b: longer than 2 characters"
    );
    assert_eq!(message(legacy), "invalid parameter b: longer than 2");
}

#[test]
fn only_a_json_value_can_be_of_the_wrong_type() {
    let body = json!({"a": 1, "b": null});
    let f = Fields::Json(body.as_object().unwrap());
    assert_eq!(f.optional("a", 64).unwrap_err().reason, "must be a string");
    assert_eq!(f.optional("b", 64).unwrap(), None);
    assert_eq!(f.peek("a"), None);
}

#[test]
fn the_first_of_a_repeated_parameter_counts() {
    let params = query(&[("a", "first"), ("a", "second")]);
    assert_eq!(Fields::Query(&params).peek("a"), Some("first"));
}

#[test]
fn times_statuses_and_numbers_read_the_same_from_both() {
    let body = json!({"t": "20230523201932", "status": "FREEZE", "n": "3", "bad": "-1"});
    let map = body.as_object().unwrap();
    let params = query(&[
        ("t", "20230523201932"),
        ("status", "FREEZE"),
        ("n", "3"),
        ("bad", "-1"),
    ]);
    for f in [Fields::Json(map), Fields::Query(&params)] {
        assert!(f.compact_time("t").is_ok());
        assert_eq!(f.compact_time("missing").unwrap_err().reason, "missing");
        assert!(f.freeze().unwrap());
        assert_eq!(f.optional_positive("n", 20).unwrap(), Some(3));
        assert_eq!(f.optional_positive("bad", 20).unwrap_err().field, "bad");
    }
}
