//! Helpers for the tests of this crate and of its users (feature `testing`): bounded proptest
//! runs for the fuzz properties, and in-memory signing keys.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use proptest::test_runner::Config;

use crate::keys::{ALG, KeyStatus, KeysDocument, PublicKeyEntry, Signer, VerifyingKeys};

/// proptest's configuration with `cases` cases, scaled by `PROPTEST_CASES` the way proptest's
/// own default (256) is: `PROPTEST_CASES=25600` runs a hundred times as many. Costly properties
/// (signatures in debug builds, files) ask for fewer cases so that CI stays quick.
pub fn fuzz_config(cases: u32) -> Config {
    let default = Config::default();
    let scaled = u64::from(cases) * u64::from(default.cases) / 256;
    Config {
        cases: u32::try_from(scaled).unwrap_or(u32::MAX).max(1),
        ..default
    }
}

/// Ed25519 keys held in memory, `(kid, seed)` pairs; the last one signs.
pub struct TestKeys {
    keys: Vec<(String, SigningKey, VerifyingKey)>,
}

impl TestKeys {
    /// Keys from `(kid, seed)` pairs; the last one is active. At least one pair is needed.
    pub fn new(pairs: &[(&str, [u8; 32])]) -> Self {
        assert!(!pairs.is_empty(), "TestKeys needs a key");
        let keys = pairs
            .iter()
            .map(|(kid, seed)| {
                let signing = SigningKey::from_bytes(seed);
                let verifying = signing.verifying_key();
                ((*kid).to_owned(), signing, verifying)
            })
            .collect();
        Self { keys }
    }

    /// The id of the key that signs.
    pub fn active_kid(&self) -> &str {
        &self.keys[self.keys.len() - 1].0
    }

    /// The `GET /v1/keys` document of these keys.
    pub fn keys_document(&self) -> KeysDocument {
        let last = self.keys.len() - 1;
        let entry = |(i, (kid, _, verifying)): (usize, &(String, SigningKey, VerifyingKey))| {
            PublicKeyEntry {
                kid: kid.clone(),
                alg: ALG.into(),
                public_key: STANDARD.encode(verifying.to_bytes()),
                status: if i == last {
                    KeyStatus::Active
                } else {
                    KeyStatus::Retired
                },
            }
        };
        KeysDocument {
            keys: self.keys.iter().enumerate().map(entry).collect(),
        }
    }
}

impl Signer for TestKeys {
    fn sign(&self, message: &[u8]) -> (&str, [u8; 64]) {
        let (kid, signing, _) = &self.keys[self.keys.len() - 1];
        (kid.as_str(), signing.sign(message).to_bytes())
    }
}

impl VerifyingKeys for TestKeys {
    fn verifying_key(&self, kid: &str) -> Option<&VerifyingKey> {
        self.keys.iter().find(|k| k.0 == kid).map(|k| &k.2)
    }
}
