//! Fuzzing of the `GET /v1/keys` document as `koolicense verify --keys-url` reads it from the
//! network: any text is read or refused without a panic, a served document reads back as the
//! keys it lists, and a document with no usable Ed25519 key is refused.

use std::sync::LazyLock;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use proptest::prelude::*;
use serde_json::json;

use super::*;

static STORE: LazyLock<KeyStore> = LazyLock::new(|| {
    let dir = tempfile::tempdir().unwrap();
    KeyStore::generate(dir.path()).unwrap();
    KeyStore::load(dir.path()).unwrap()
});

/// A `public_key` value: the real one, 32 random bytes (often not a curve point), or anything.
fn public_key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(STORE.keys_document().keys[0].public_key.clone()),
        prop::collection::vec(any::<u8>(), 32).prop_map(|b| STANDARD.encode(b)),
        prop::collection::vec(any::<u8>(), 0..48).prop_map(|b| STANDARD.encode(b)),
        "\\PC{0,50}",
    ]
}

fn entry() -> impl Strategy<Value = serde_json::Value> {
    (
        "\\PC{0,16}",
        prop_oneof![Just(ALG.to_owned()), "\\PC{0,10}"],
        public_key(),
        prop_oneof![Just(json!("active")), Just(json!("retired")), Just(json!(7))],
    )
        .prop_map(|(kid, alg, key, status)| {
            json!({"kid": kid, "alg": alg, "public_key": key, "status": status})
        })
}

/// What fuzzing found, kept as a case: an entry this version cannot read in full (another
/// algorithm, a status it does not know) made the whole document unreadable.
#[test]
fn entries_of_a_newer_server_do_not_hide_the_keys_it_still_serves() {
    let mut document = serde_json::to_value(STORE.keys_document()).unwrap();
    document["keys"][0]["status"] = json!("pinned");
    let keys = document["keys"].as_array_mut().unwrap();
    keys.push(json!({"kid": "k-pq", "alg": "ml-dsa-65", "public_key": "AAAA", "status": 7}));
    keys.push(json!({"alg": "ed448"}));
    let verifier = verifier_from_keys_json(&document.to_string()).unwrap();
    assert_eq!(verifier.kids(), vec![STORE.active_kid()]);
}

proptest! {
    #[test]
    fn any_keys_document_is_read_or_refused(text in prop_oneof![
        any::<String>(),
        prop::collection::vec(entry(), 0..4).prop_map(|keys| json!({"keys": keys}).to_string()),
    ]) {
        if let Ok(verifier) = verifier_from_keys_json(&text) {
            prop_assert!(!verifier.kids().is_empty());
        }
    }

    #[test]
    fn a_served_document_reads_back_as_its_keys(extra in prop::collection::vec(entry(), 0..3)) {
        let mut document = serde_json::to_value(STORE.keys_document()).unwrap();
        // A newer server may list keys of other algorithms: they are skipped.
        let others: Vec<_> = extra.into_iter().filter(|e| e["alg"] != ALG).collect();
        document["keys"].as_array_mut().unwrap().extend(others);
        let verifier = verifier_from_keys_json(&document.to_string()).unwrap();
        let kid = STORE.active_kid();
        prop_assert_eq!(verifier.verifying_key(kid), STORE.verifying_key(kid));
    }
}
