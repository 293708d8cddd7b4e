//! Shared settings of the fuzz modules (`*/fuzz.rs`): proptest properties over arbitrary and
//! structure-aware input of the parsers that take outside input.

use proptest::test_runner::Config;

/// proptest's configuration with `cases` cases, scaled by `PROPTEST_CASES` the way proptest's
/// own default (256) is: `PROPTEST_CASES=25600` runs a hundred times as many. Costly properties
/// (signatures in debug builds, files) ask for fewer cases so that CI stays quick.
pub fn config(cases: u32) -> Config {
    let default = Config::default();
    let scaled = u64::from(cases) * u64::from(default.cases) / 256;
    Config {
        cases: u32::try_from(scaled).unwrap_or(u32::MAX).max(1),
        ..default
    }
}
