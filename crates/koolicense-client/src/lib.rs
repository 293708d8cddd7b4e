//! The koolicense client SDK: what the ISV's shipped software links to use its KooGallery
//! authorization code (`client.md`).
//!
//! It reads this machine's fingerprint, activates the code through a koolicense server, keeps
//! the signed license file, verifies it offline, checks in once a day, keeps working through a
//! short outage (grace), notices a clock turned back, frees its seat, and works on air-gapped
//! machines. It trusts only what is signed: the license file, and the server's answers
//! (`api.md` §4.5), each bound to the request by a nonce.
//!
//! The same operations are offered to C (see `include/koolicense.h`) and on the command line
//! (`koolicense-client`).
//!
//! ```no_run
//! use koolicense_client::{Client, Status};
//!
//! // The GET /v1/keys document of your server, embedded at build time.
//! const KEYS: &str = r#"{"keys":[{"kid":"k1","alg":"ed25519","public_key":"...","status":"active"}]}"#;
//!
//! let client = Client::builder("/var/lib/my-app/license")
//!     .server("https://licenses.example.com")
//!     .public_keys(KEYS)
//!     .open()?;
//! if client.check()?.status() == Status::NotActivated {
//!     client.activate("PL0123456789")?;
//! }
//! // On every start: cheap when no check-in is due, a check-in once a day otherwise.
//! let verdict = client.is_genuine()?;
//! if !verdict.may_run() {
//!     eprintln!("license: {} ({})", verdict.status(), verdict.reason());
//! }
//! # Ok::<(), koolicense_client::Error>(())
//! ```

mod answer;
mod client;
mod error;
pub mod ffi;
mod http;
mod online;
mod options;
mod status;
mod store;
mod verdict;

pub use client::{Builder, Client, this_machine};
pub use error::{Error, Result};
pub use koolicense_core::fingerprint::Fingerprint;
pub use koolicense_core::license::LicensePayload;
pub use online::offline_activate;
pub use options::Options;
pub use status::{Status, Verdict};
pub use store::{LICENSE_FILE, STATE_FILE};
