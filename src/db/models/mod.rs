//! Row types and the queries on them, one file per table.

pub mod activations;
pub mod admin_tokens;
pub mod audit_log;
pub mod auth_codes;
pub mod code_usage;
pub mod events;
pub mod first_bindings;
pub mod instances;
pub mod jobs;
pub mod licenses;
pub mod machines;
pub mod marketplace_calls;
pub mod marketplace_rejections;
pub mod nonces;
pub mod orders;

/// The current UTC time as stored in `TIMESTAMP` columns (microsecond precision, so a value read
/// back compares equal on both backends).
pub fn now() -> chrono::NaiveDateTime {
    let now = chrono::Utc::now().naive_utc();
    chrono::Timelike::with_nanosecond(&now, now.and_utc().timestamp_subsec_micros() * 1000)
        .unwrap_or(now)
}

/// A new random row id.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
