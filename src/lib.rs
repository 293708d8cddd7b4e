//! koolicense: the license server an ISV runs to sell License products on Huawei Cloud KooGallery.

pub mod admin;
pub mod api;
pub mod cli;
pub mod config;
pub mod console;
pub mod db;
pub mod db_commands;
pub mod doctor;
pub mod domain;
pub mod error;
#[cfg(test)]
mod fuzzing;
pub mod http_limits;
pub mod keys;
pub mod koogallery;
pub mod license_file;
pub mod licensing;
pub mod memory;
pub mod metrics;
pub mod openapi;
pub mod ops;
pub mod service;
pub mod sim;
pub mod startup;
pub mod telemetry;
