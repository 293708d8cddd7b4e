//! Black-box tests: each test body runs once against a fresh SQLite file and once against a fresh
//! PostgreSQL database, talking HTTP to a real koolicense server started on port 0.

#![expect(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod admin;
mod callers;
mod client_api;
mod helpers;
mod marketplace;
mod process;

mod backup;
mod body_limit;
mod callback_times;
mod cli;
mod clock_skew;
mod config_limits;
mod doctor;
mod drills;
mod edge;
mod file_modes;
mod health;
mod legacy;
mod legacy_fuzz;
mod no_secrets;
mod nonces;
mod outbound;
mod production;
mod production_fuzz;
mod rejections;
mod retention;
mod schema_drift;
mod sdk;
mod seat_model;
mod sim;
mod storage;
mod upgrade;
mod uploads;
mod zero_config;
