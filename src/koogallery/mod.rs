//! The marketplace, both directions: inbound callbacks and outbound open-API calls.

pub mod apig;
pub mod auth;
pub mod client;
