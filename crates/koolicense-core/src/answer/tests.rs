use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use proptest::prelude::*;

use super::*;
use crate::keys::Verifier;

struct OneKey(SigningKey);

impl Signer for OneKey {
    fn sign(&self, message: &[u8]) -> (&str, [u8; 64]) {
        ("k1", self.0.sign(message).to_bytes())
    }
}

fn key() -> OneKey {
    OneKey(SigningKey::from_bytes(&[7; 32]))
}

fn verifier(public: VerifyingKey) -> Verifier {
    Verifier::from_public_keys([("k1".to_owned(), public)])
}

#[test]
fn a_signed_answer_verifies_and_any_change_fails() {
    let signer = key();
    let keys = verifier(signer.0.verifying_key());
    let body = br#"{"valid":true,"status":"VALID","nonce":"n1"}"#;
    let header = sign(body, &signer);

    assert!(header.starts_with("kid=\"k1\", sig=\""), "{header}");
    assert_eq!(verify(body, Some(&header), &keys), Ok(()));
    let forged = br#"{"valid":true,"status":"FROZEN","nonce":"n1"}"#;
    assert_eq!(
        verify(forged, Some(&header), &keys),
        Err(AnswerError::BadSignature)
    );
    assert_eq!(verify(body, None, &keys), Err(AnswerError::Missing));
}

#[test]
fn the_signature_is_over_the_prefixed_body() {
    let signer = key();
    let body = b"{}";
    let header = sign(body, &signer);
    let sig = header
        .rsplit_once("sig=\"")
        .unwrap()
        .1
        .trim_end_matches('"');
    let raw = URL_SAFE_NO_PAD.decode(sig).unwrap();
    let expected = signer.0.sign(b"koolicense/answer/v1.{}").to_bytes();
    assert_eq!(raw, expected);
}

#[test]
fn headers_parse_strictly() {
    let signer = key();
    let keys = verifier(signer.0.verifying_key());
    let body = b"x";
    let good = sign(body, &signer);
    let sig = good.rsplit_once("sig=\"").unwrap().1.trim_end_matches('"');
    let swapped = format!(" sig=\"{sig}\" ,kid=\"k1\" ");
    assert_eq!(verify(body, Some(&swapped), &keys), Ok(()));
    for bad in [
        "",
        "kid=\"k1\"",
        &format!("kid=k1, sig=\"{sig}\""),
        &format!("kid=\"k1\", sig=\"{sig}\", sig=\"{sig}\""),
        &format!("kid=\"k1\", sig=\"{sig}\", x=\"1\""),
        "kid=\"k1\", sig=\"AAAA\"",
    ] {
        assert!(
            matches!(
                verify(body, Some(bad), &keys),
                Err(AnswerError::Malformed(_))
            ),
            "{bad}"
        );
    }
    let other = format!("kid=\"k2\", sig=\"{sig}\"");
    assert_eq!(
        verify(body, Some(&other), &keys),
        Err(AnswerError::UnknownKey("k2".into()))
    );
}

proptest! {
    #[test]
    fn arbitrary_headers_never_panic(header in ".{0,600}", body in proptest::collection::vec(any::<u8>(), 0..64)) {
        let keys = verifier(key().0.verifying_key());
        prop_assert!(verify(&body, Some(&header), &keys).is_err());
    }
}
