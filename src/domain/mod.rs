//! Pure domain logic: no actix, no Diesel.

pub mod fingerprint;
pub mod machine;
pub mod times;
pub mod validation;
