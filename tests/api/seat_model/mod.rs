//! A model-based property test of seats: random sequences of activations, deactivations,
//! support resets, freezes, renewals, releases, revocations and check-ins, against a real server
//! with `koolicense sim` as the marketplace, on both backends. Every answer is compared with
//! the model's (status, error code, seats, license bytes), the bindings are counted after every
//! step, and each case ends by comparing the server's view of its codes (admin API) with the
//! model. proptest shrinks a failure to a short sequence and keeps its seed in
//! `proptest-regressions/seat_model.txt`.
//!
//! Bounded for CI: `SEAT_MODEL_CASES` cases (default 16) of up to `SEAT_MODEL_STEPS` steps
//! (default 30) per backend; raise both to search longer.

mod admin_steps;
mod client_steps;
mod driver;
mod model;

use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestRunner};

use crate::helpers::Backend;
use model::Market;

/// Codes per case and machines per case: few, so that sequences revisit the same bindings.
pub const CODES: usize = 2;
pub const MACHINES: usize = 3;

/// One step of a case. `code` and `machine` index the case's codes and machines.
#[derive(Debug, Clone)]
pub enum Op {
    Activate {
        code: usize,
        machine: usize,
    },
    CheckIn {
        code: usize,
        machine: usize,
    },
    Deactivate {
        code: usize,
        machine: usize,
    },
    /// Support frees the machine's latest binding.
    Reset {
        code: usize,
        machine: usize,
    },
    /// `updateLicenseCodeStatus` FREEZE (`true`) or UNFREEZE.
    Freeze {
        code: usize,
        freeze: bool,
    },
    /// `refreshLicenseCode` to `days` from now (negative: a renewal period unsubscribed).
    Renew {
        code: usize,
        days: i64,
    },
    Release {
        code: usize,
    },
    /// An admin revokes (`true`) or reinstates the machine's latest license.
    Revoke {
        code: usize,
        machine: usize,
        revoke: bool,
    },
    /// The buyer claims an unclaimed code.
    Claim {
        code: usize,
    },
}

/// The codes of a case (market, seats) and its steps.
#[derive(Debug, Clone)]
pub struct Case {
    pub codes: Vec<(Market, i64)>,
    pub ops: Vec<Op>,
}

/// A bound of a randomised test, from the environment.
pub fn env_number(var: &str, default: u32) -> u32 {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn op() -> impl Strategy<Value = Op> {
    // Most steps go to the first code, so that its sequences reach deep states.
    let code = prop_oneof![3 => Just(0), 1 => 1..CODES];
    let machine = 0..MACHINES;
    let pair = (code.clone(), machine);
    prop_oneof![
        12 => pair.clone().prop_map(|(code, machine)| Op::Activate { code, machine }),
        6 => pair.clone().prop_map(|(code, machine)| Op::CheckIn { code, machine }),
        4 => pair.clone().prop_map(|(code, machine)| Op::Deactivate { code, machine }),
        3 => pair.clone().prop_map(|(code, machine)| Op::Reset { code, machine }),
        3 => (code.clone(), any::<bool>()).prop_map(|(code, freeze)| Op::Freeze { code, freeze }),
        4 => (code.clone(), prop_oneof![1 => -40_i64..-1, 3 => 30_i64..900])
            .prop_map(|(code, days)| Op::Renew { code, days }),
        1 => code.clone().prop_map(|code| Op::Release { code }),
        3 => (pair, any::<bool>())
            .prop_map(|((code, machine), revoke)| Op::Revoke { code, machine, revoke }),
        1 => code.prop_map(|code| Op::Claim { code }),
    ]
}

fn case(steps: usize) -> impl Strategy<Value = Case> {
    let market = prop_oneof![
        18 => Just(Market::Listed),
        1 => Just(Market::Unclaimed),
        1 => Just(Market::Absent),
    ];
    (
        prop::collection::vec((market, 1_i64..=3), CODES),
        prop::collection::vec(op(), 1..=steps),
    )
        .prop_map(|(codes, ops)| Case { codes, ops })
}

/// Runs the model's cases against a fresh server and simulator of `backend`.
fn run(backend: Backend) {
    let cases = env_number("SEAT_MODEL_CASES", 16);
    let steps = env_number("SEAT_MODEL_STEPS", 30) as usize;
    let system = actix_web::rt::System::new();
    let world = system.block_on(driver::World::start(backend));
    let mut runner = TestRunner::new(Config {
        cases,
        max_shrink_iters: 512,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/seat_model.txt",
        ))),
        ..Config::default()
    });
    let result = runner.run(&case(steps.max(1)), |case| {
        system.block_on(world.check(&case))
    });
    if let Err(failure) = result {
        panic!("{backend:?}: {failure}");
    }
}

#[test]
fn seats_follow_the_model_on_sqlite() {
    run(Backend::Sqlite);
}

#[test]
fn seats_follow_the_model_on_postgres() {
    run(Backend::Postgres);
}
