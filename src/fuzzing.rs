//! Shared settings of the fuzz modules (`*/fuzz.rs`): proptest properties over arbitrary and
//! structure-aware input of the parsers that take outside input. The helper itself is
//! [`koolicense_core::testing::fuzz_config`], which the shared crate's fuzz modules use too.

pub use koolicense_core::testing::fuzz_config as config;
