//! The rules between the HTTP layers (`api`, `admin`, `koogallery`) and storage (`db`): each rule
//! once, with no actix types, so that changing one touches one file.
//!
//! - [`seats`]: the seats a code allows, the seat check of an activation, and the device quota of
//!   an online-License instance.

pub mod seats;
