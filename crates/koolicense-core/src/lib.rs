//! What the koolicense server and its client SDK share, so that each is written once: the license
//! file format (`api.md` §5), device fingerprints (parsing and collection on Linux), public keys
//! (`GET /v1/keys`) and the signature of client-API answers (`api.md` §4.5).
//!
//! No I/O beyond reading this machine's hardware identifiers; no HTTP, database or async runtime.

pub mod answer;
pub mod fingerprint;
pub mod keys;
pub mod license;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
