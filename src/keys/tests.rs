use super::*;
use ed25519_dalek::{Signature, Verifier as _};

#[test]
fn generate_creates_an_active_key_with_private_mode_0600() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");

    let kid = KeyStore::generate(&keys).unwrap();

    assert!(kid.starts_with('k') && kid.len() == 16, "{kid}");
    let (date, suffix) = kid[1..].split_once('-').unwrap();
    assert!(date.len() == 8 && date.chars().all(|c| c.is_ascii_digit()));
    assert!(suffix.len() == 6 && suffix.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')));
    let mode = |name: &str| fs::metadata(keys.join(name)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&format!("{kid}.key")), 0o600);
    assert_eq!(mode(""), 0o700);
    assert_eq!(
        fs::read_to_string(keys.join("active")).unwrap(),
        format!("{kid}\n")
    );
    let seed = fs::read_to_string(keys.join(format!("{kid}.key"))).unwrap();
    assert_eq!(seed.lines().count(), 1);
    assert_eq!(STANDARD.decode(seed.trim()).unwrap().len(), 32);

    let store = KeyStore::load(&keys).unwrap();
    assert_eq!(store.active_kid(), kid);
    assert!(store.warnings().is_empty());
}

#[test]
fn generate_does_not_replace_the_active_key_but_rotate_does() {
    let dir = tempfile::tempdir().unwrap();
    let first = KeyStore::generate(dir.path()).unwrap();
    let second = KeyStore::generate(dir.path()).unwrap();
    assert_eq!(KeyStore::load(dir.path()).unwrap().active_kid(), first);

    let third = KeyStore::rotate(dir.path()).unwrap();

    let listed = KeyStore::list(dir.path()).unwrap();
    assert_eq!(listed.len(), 3);
    assert_eq!(listed[0].kid, third);
    assert_eq!(listed[0].status, KeyStatus::Active);
    assert_eq!(listed[0].status.to_string(), "active");
    for other in &listed[1..] {
        assert!([&first, &second].contains(&&other.kid));
        assert_eq!(other.status, KeyStatus::Retired);
        assert!(other.has_private);
    }
}

#[test]
fn load_after_rotate_signs_with_the_new_key_and_keeps_old_verifying_keys() {
    let dir = tempfile::tempdir().unwrap();
    let old = KeyStore::generate(dir.path()).unwrap();
    let before = KeyStore::load(dir.path()).unwrap();
    let (_, old_sig) = before.sign(b"hello");

    let new = KeyStore::rotate(dir.path()).unwrap();
    let store = KeyStore::load(dir.path()).unwrap();

    let (kid, sig) = store.sign(b"hello");
    assert_eq!(kid, new);
    let new_key = store.verifying_key(&new).unwrap();
    new_key
        .verify(b"hello", &Signature::from_bytes(&sig))
        .unwrap();
    let old_key = store.verifying_key(&old).unwrap();
    old_key
        .verify(b"hello", &Signature::from_bytes(&old_sig))
        .unwrap();
    assert_eq!(
        store.sign(b"hello").1,
        sig,
        "Ed25519 signatures are deterministic"
    );
}

#[test]
fn a_key_without_its_private_file_is_retired_and_verify_only() {
    let dir = tempfile::tempdir().unwrap();
    let old = KeyStore::generate(dir.path()).unwrap();
    KeyStore::rotate(dir.path()).unwrap();
    fs::remove_file(dir.path().join(format!("{old}.key"))).unwrap();

    let store = KeyStore::load(dir.path()).unwrap();

    let info = store
        .public_keys()
        .into_iter()
        .find(|i| i.kid == old)
        .unwrap();
    assert_eq!((info.status, info.has_private), (KeyStatus::Retired, false));
    assert!(store.verifying_key(&old).is_some());
}

#[test]
fn corrupt_key_file_gives_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let kid = KeyStore::generate(dir.path()).unwrap();
    let path = dir.path().join(format!("{kid}.key"));
    fs::write(&path, "not base64!\n").unwrap();

    let error = KeyStore::load(dir.path()).unwrap_err().to_string();

    assert!(error.contains(&path.display().to_string()), "{error}");
    assert!(error.contains("corrupt"), "{error}");
    fs::write(&path, format!("{}\n", STANDARD.encode([1_u8; 31]))).unwrap();
    let error = KeyStore::list(dir.path()).unwrap_err().to_string();
    assert!(error.contains("expected 32 bytes, found 31"), "{error}");
}

#[test]
fn mismatched_public_key_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let kid = KeyStore::generate(dir.path()).unwrap();
    let other = SigningKey::from_bytes(&[7; 32]).verifying_key();
    fs::write(
        dir.path().join(format!("{kid}.pub")),
        STANDARD.encode(other.to_bytes()),
    )
    .unwrap();
    assert!(matches!(
        KeyStore::load(dir.path()),
        Err(KeyError::Mismatch { .. })
    ));
}

#[test]
fn load_without_an_active_key_explains_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let error = KeyStore::load(dir.path()).unwrap_err().to_string();
    assert!(error.contains("koolicense keys generate"), "{error}");

    let kid = KeyStore::generate(dir.path()).unwrap();
    fs::remove_file(dir.path().join(format!("{kid}.key"))).unwrap();
    let error = KeyStore::load(dir.path()).unwrap_err();
    assert!(
        matches!(error, KeyError::ActiveKeyMissing { .. }),
        "{error}"
    );
}

#[test]
fn load_or_generate_dev_generates_only_once() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("nested/keys");

    let (store, generated) = KeyStore::load_or_generate_dev(&keys).unwrap();
    let (again, generated_again) = KeyStore::load_or_generate_dev(&keys).unwrap();

    assert!(generated && !generated_again);
    assert_eq!(store.active_kid(), again.active_kid());
    assert_eq!(KeyStore::list(&keys).unwrap().len(), 1);
}

#[test]
fn loose_permissions_are_a_warning_not_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    let kid = KeyStore::generate(dir.path()).unwrap();
    let path = dir.path().join(format!("{kid}.key"));
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();

    let store = KeyStore::load(dir.path()).unwrap();

    assert_eq!(store.warnings().len(), 1);
    assert!(
        store.warnings()[0].contains("0644"),
        "{:?}",
        store.warnings()
    );
}

#[test]
fn debug_prints_no_key_material() {
    let dir = tempfile::tempdir().unwrap();
    let kid = KeyStore::generate(dir.path()).unwrap();
    let store = KeyStore::load(dir.path()).unwrap();
    let seed = fs::read_to_string(dir.path().join(format!("{kid}.key"))).unwrap();
    let public = &store.public_keys()[0].public_key_b64;

    let printed = format!("{store:?}");

    assert!(printed.contains(&kid), "{printed}");
    assert!(!printed.contains(seed.trim()) && !printed.contains(public.as_str()));
    assert!(!printed.contains("signing"), "{printed}");
}

#[test]
fn keys_document_round_trips_into_a_verifier() {
    let dir = tempfile::tempdir().unwrap();
    let old = KeyStore::generate(dir.path()).unwrap();
    let new = KeyStore::rotate(dir.path()).unwrap();
    let store = KeyStore::load(dir.path()).unwrap();

    let json = serde_json::to_string(&store.keys_document()).unwrap();
    let verifier = verifier_from_keys_json(&json).unwrap();

    assert!(json.starts_with(&format!(r#"{{"keys":[{{"kid":"{new}","alg":"ed25519","#)));
    assert!(json.contains(r#""status":"retired""#));
    assert_eq!(verifier.kids().len(), 2);
    for kid in [&old, &new] {
        assert_eq!(verifier.verifying_key(kid), store.verifying_key(kid));
    }
}

#[test]
fn keys_json_errors_and_foreign_algorithms() {
    let key = STANDARD.encode(SigningKey::from_bytes(&[3; 32]).verifying_key().to_bytes());
    let mixed = format!(
        r#"{{"keys":[{{"kid":"x","alg":"rsa","public_key":"AAAA","status":"active"}},
                    {{"kid":"k1","alg":"ed25519","public_key":"{key}","status":"retired"}}]}}"#
    );
    assert_eq!(verifier_from_keys_json(&mixed).unwrap().kids(), ["k1"]);
    for bad in [
        "not json",
        r#"{"keys":[]}"#,
        r#"{"keys":[{"kid":"k","alg":"ed25519","public_key":"AAAA","status":"active"}]}"#,
    ] {
        let error = verifier_from_keys_json(bad).unwrap_err();
        assert!(
            matches!(error, KeyError::InvalidPublicKeys(_)),
            "{bad}: {error}"
        );
    }
}

#[test]
fn public_key_file_gives_a_verifier_named_after_its_stem() {
    let dir = tempfile::tempdir().unwrap();
    let kid = KeyStore::generate(dir.path()).unwrap();
    let store = KeyStore::load(dir.path()).unwrap();

    let verifier = verifier_from_public_key_file(&dir.path().join(format!("{kid}.pub"))).unwrap();

    assert_eq!(verifier.kids(), [kid.as_str()]);
    assert_eq!(verifier.verifying_key(&kid), store.verifying_key(&kid));
    let missing = verifier_from_public_key_file(&dir.path().join("nope.pub")).unwrap_err();
    assert!(missing.to_string().contains("nope.pub"), "{missing}");
}

#[test]
fn signatures_are_those_of_the_key_file_as_rfc_8032_signs() {
    use ed25519_dalek::Signer as _;
    let dir = tempfile::tempdir().unwrap();
    let kid = KeyStore::generate(dir.path()).unwrap();
    let store = KeyStore::load(dir.path()).unwrap();
    let key = read_private_key_file(&dir.path().join(format!("{kid}.key"))).unwrap();
    for message in [&b""[..], b"hello", &[7u8; 3000]] {
        assert_eq!(store.sign(message).1, key.sign(message).to_bytes());
    }
}
