//! Device fingerprints: parsing, normalisation, this machine's collection and the drift rule live
//! in [`koolicense_core::fingerprint`], shared with the client SDK.

pub use koolicense_core::fingerprint::*;
