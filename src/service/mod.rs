//! The rules between the HTTP layers (`api`, `admin`, `koogallery`) and storage (`db`): each rule
//! once, with no actix types, so that changing one touches one file.
//!
//! - [`error`]: the one error type, mapped once to the APIs' errors and once to KooGallery's
//!   result codes.
//! - [`seats`]: the seats a code allows, the seat check of an activation, and the device quota of
//!   an online-License instance.

pub mod error;
pub mod seats;

pub use self::error::{Error, Refusal};
