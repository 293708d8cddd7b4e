//! The marketplace, both directions: inbound callbacks and outbound open-API calls.

pub mod apig;
pub mod auth;
pub mod callbacks;
pub mod client;
pub mod fields;
pub mod legacy;
pub mod outbox;
pub mod produce;
pub mod upkeep;
