//! Pure domain logic: no actix, no Diesel.

pub mod fingerprint;
pub mod times;
pub mod validation;
