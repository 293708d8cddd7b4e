//! The rules between the HTTP layers (`api`, `admin`, `koogallery`) and storage (`db`): each rule
//! once, with no actix types, so that changing one touches one file.
//!
//! - [`error`]: the one error type, mapped once to the APIs' errors and once to KooGallery's
//!   result codes.
//! - [`bindings`]: the client API's service (activate, check in, deactivate), with
//!   [`binding`] and [`renewal`] (their locked writes), [`issue`] (signing authcode licenses),
//!   [`code_sync`] (KooGallery about a code) and [`drift`] (hardware changes).
//! - [`support`]: what support staff change (reset a binding, revoke, reinstate).
//! - [`codes`], [`instances`], [`instance_licenses`]: what KooGallery's callbacks change (codes,
//!   online-License instances, their licenses), for `koogallery::callbacks` and `legacy`.
//! - [`seats`]: the seats a code allows, the seat check of an activation, and the device quota of
//!   an online-License instance.

mod activate;
pub mod binding;
pub mod bindings;
mod check_in;
pub mod code_sync;
pub mod codes;
mod deactivate;
pub mod drift;
pub mod error;
pub mod instance_licenses;
pub mod instances;
pub mod issue;
pub mod renewal;
pub mod seats;
pub mod support;

pub use self::bindings::{Bindings, Lookup};
pub use self::error::{Error, Refusal};
