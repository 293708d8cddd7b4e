//! The client API's service (api.md §4): activating a code on a machine, checking in and
//! freeing a seat, as [`Bindings`] methods that the handlers call once each.
//!
//! - `activate.rs`, `check_in.rs`, `deactivate.rs`: what each call does, in
//!   order: reads, KooGallery, then one locked write.
//! - [`super::binding`] and [`super::renewal`]: those locked writes.
//! - [`super::code_sync`]: the calls to KooGallery about a code.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::OwnedMutexGuard;

use crate::config::{FingerprintMatch, Settings};
use crate::db::Pool;
use crate::keys::KeyStore;
use crate::koogallery::client::MarketplaceClient;

/// What the client API's rules work with, built once per server and shared by its workers.
#[derive(Debug)]
pub struct Bindings {
    pub(super) pool: Pool,
    pub(super) keys: Arc<KeyStore>,
    pub(super) marketplace: Arc<MarketplaceClient>,
    pub(super) fingerprint_match: FingerprintMatch,
    pub(super) deactivation_limit: i64,
    gates: CodeGates,
}

impl Bindings {
    /// The service over `pool`, signing with `keys` and asking `marketplace`, as `settings` say.
    pub fn new(
        pool: Pool,
        keys: Arc<KeyStore>,
        marketplace: Arc<MarketplaceClient>,
        settings: &Settings,
    ) -> Self {
        Self {
            pool,
            keys,
            marketplace,
            fingerprint_match: settings.client_api.fingerprint_match,
            deactivation_limit: settings.client_api.deactivation_limit,
            gates: CodeGates::default(),
        }
    }

    /// Waits for the code's gate: simultaneous requests about one code in this process ask
    /// KooGallery once, in turn.
    pub(super) async fn gate(&self, code: &str) -> OwnedMutexGuard<()> {
        self.gates.enter(code).await
    }
}

/// The caller's unit of its unknown-code budget (api.md §4: guesses are limited per client).
/// The service hands it back with [`Lookup::found`] as soon as the code is known to exist;
/// dropping it keeps the unit spent.
pub trait Lookup: Send {
    /// The code exists: the unit goes back to the caller's budget.
    fn found(self);
}

/// One async mutex per code, kept only while someone holds or waits for it.
#[derive(Debug, Default)]
struct CodeGates(Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>);

impl CodeGates {
    async fn enter(&self, key: &str) -> OwnedMutexGuard<()> {
        let gate = {
            let mut gates = self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(gate) = gates.get(key).and_then(Weak::upgrade) {
                gate
            } else {
                // Gates nobody holds are dropped now and then, so the map stays small.
                if gates.len() >= 1024 {
                    gates.retain(|_, gate| gate.strong_count() > 0);
                }
                let gate = Arc::new(tokio::sync::Mutex::new(()));
                gates.insert(key.to_owned(), Arc::downgrade(&gate));
                gate
            }
        };
        gate.lock_owned().await
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[actix_web::test]
    async fn a_gate_admits_one_holder_per_key() {
        let gates = Arc::new(CodeGates::default());
        let held = gates.enter("PL1").await;
        let waiting = {
            let gates = Arc::clone(&gates);
            actix_web::rt::spawn(async move { gates.enter("PL1").await })
        };
        // Another key is not held up.
        drop(gates.enter("PL2").await);
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished());
        drop(held);
        let second = actix_web::rt::time::timeout(Duration::from_secs(5), waiting).await;
        assert!(matches!(second, Ok(Ok(_))));
    }
}
