//! Black-box tests: each test body runs once against a fresh SQLite file and once against a fresh
//! PostgreSQL database, talking HTTP to a real koolicense server started on port 0.

#![expect(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod admin;
mod callers;
mod client_api;
mod helpers;
mod marketplace;
mod process;

mod cli;
mod edge;
mod health;
mod legacy;
mod no_secrets;
mod outbound;
mod production;
mod sim;
mod storage;
mod upgrade;
mod uploads;
mod zero_config;
