//! `kill -9` over and over, each time in the middle of a burst of first activations and
//! `getLicenseAsync` calls, on the same database and keys. After every restart: each license
//! answered so far is answered again with the same bytes (activation repeat, and the upload a
//! `getLicenseAsync` repeat queues), no code or instance holds more machines than its seats, and
//! each queued upload reaches the simulator exactly once — or, when the kill cut its round trip
//! (KooGallery took it, the kill came before it was marked done), once more with the same bytes.
//!
//! `KOOLICENSE_DRILL_ROUNDS` sets the rounds per backend (3 here, 20 in `scripts/drills/run.sh`).

mod burst;
mod checks;

use std::collections::HashMap;
use std::time::Duration;

use serde_json::json;

use self::burst::{Answer, Request, burst_and_kill};
use self::checks::{check_repeats, check_seats, check_uploads};
use super::{deliveries, server_env, upload_jobs, wait_drained};
use crate::both_backends;
use crate::client_api::{compact_in, machine};
use crate::helpers::TestDatabase;
use crate::marketplace::Marketplace;
use crate::process::{ServerProcess, free_port};
use crate::uploads::new_instance_to;

/// Codes per round, each with `SEATS` seats and one machine more than that asking.
const CODES: usize = 3;
const SEATS: i64 = 2;
/// Instances per round, each with a quota of `QUOTA` devices and one device more asking.
const INSTANCES: usize = 2;
const QUOTA: i64 = 3;
/// The kill comes once this many requests of a burst were answered.
const KILL_AFTER: usize = 10;
/// How long the simulator holds the delayed calls, so that some are in flight at the kill.
const DELAY_MS: u64 = 300;

/// The rounds to run: `KOOLICENSE_DRILL_ROUNDS`, 3 when unset.
fn rounds() -> usize {
    std::env::var("KOOLICENSE_DRILL_ROUNDS").map_or(3, |v| {
        v.parse()
            .unwrap_or_else(|_| panic!("KOOLICENSE_DRILL_ROUNDS must be a number, not {v:?}"))
    })
}

/// What the drill did and saw, for its report.
#[derive(Debug, Default)]
pub struct Tally {
    pub requests: usize,
    pub answered_before_kill: usize,
    pub cut_off: usize,
    pub delays_hit: usize,
    pub repeats: usize,
    pub uploads_delivered: usize,
    pub delivered_again_after_cut: usize,
}

/// Everything answered so far, which every restart must answer again the same way.
#[derive(Debug, Default)]
pub struct Answered {
    /// (code, fingerprint) to the license answered.
    pub licenses: HashMap<(String, String), String>,
    /// `eventId` of a `getLicenseAsync` answered `000000`, to its (instance, fingerprint).
    pub events: HashMap<String, (String, String)>,
}

/// Sets up round `round`'s codes and instances (orders fetched) and returns its burst.
async fn arrange(sim: &Marketplace, url: &str, db: &TestDatabase, round: usize) -> Vec<Request> {
    let mut requests = Vec::new();
    for i in 0..CODES {
        let code = format!("PLKILL{round:03}{i:04}");
        let spec = json!({"code": code, "amount": SEATS, "expire_time": compact_in(365)});
        sim.post("/sim/codes", &spec).await;
        // Every machine twice at the same moment: one seat each, whatever the kill cuts.
        for m in 0..=SEATS as usize {
            let fingerprint = machine(round * 100 + i * 10 + m);
            let request = Request::Activate {
                code: code.clone(),
                fingerprint,
            };
            requests.extend([request.clone(), request]);
        }
    }
    for j in 0..INSTANCES {
        let instance = new_instance_to(url, sim, &format!("CS-KILL-{round}-{j}"), QUOTA).await;
        for d in 0..=QUOTA as usize {
            requests.push(Request::LicenseAsync {
                instance: instance.clone(),
                event: format!("evt-kill-{round}-{j}-{d}"),
                fingerprint: machine(5000 + round * 100 + j * 10 + d),
            });
        }
    }
    wait_drained(db).await;
    requests
}

/// Files what a burst got; panics on an answer no rule allows.
fn record(results: Vec<(Request, Option<Answer>)>, answered: &mut Answered, tally: &mut Tally) {
    tally.requests += results.len();
    for (request, answer) in results {
        match (request, answer) {
            (_, None) => tally.cut_off += 1,
            (
                Request::Activate { code, fingerprint },
                Some(Answer::Activated(200 | 201, license)),
            ) => {
                let first = answered
                    .licenses
                    .entry((code, fingerprint))
                    .or_insert(license.clone());
                assert_eq!(first, &license, "a repeat in the burst got other bytes");
            }
            // One machine more than the seats asks: someone gets SEAT_LIMIT_REACHED.
            (Request::Activate { .. }, Some(Answer::Activated(409, _))) => {}
            (
                Request::LicenseAsync {
                    instance,
                    event,
                    fingerprint,
                },
                Some(Answer::Called(code)),
            ) if code == "000000" => {
                answered.events.insert(event, (instance, fingerprint));
            }
            // One device more than the quota asks: someone gets 000900.
            (Request::LicenseAsync { .. }, Some(Answer::Called(code))) if code == "000900" => {}
            (request, Some(answer)) => panic!("{request:?} was answered {answer:?}"),
        }
    }
    tally.answered_before_kill = tally.requests - tally.cut_off;
}

both_backends!(@backend kill_9_in_a_row_loses_nothing_answered_or_queued, |backend| async move {
    let sim = Marketplace::start().await;
    let db = TestDatabase::create(backend);
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys").display().to_string();
    let log = dir.path().join("serve.log");
    let port = free_port();
    let mut env = server_env(&db, &keys, &sim.url);
    // A stable node id: the restarted node takes back the jobs it was running at once.
    env.push(("KOOLICENSE_NODE_ID", "drill-node"));
    let http = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
    let mut server = ServerProcess::start(port, &env, &log).await;
    let (mut answered, mut tally) = (Answered::default(), Tally::default());
    let rounds = rounds();
    for round in 0..rounds {
        // Arrange: fresh codes and instances; the marketplace slow on a few calls.
        let requests = arrange(&sim, &server.url, &db, round).await;
        for api in ["activate", "upload"] {
            let delay = json!({"api": api, "kind": "delay_ms", "delay_ms": DELAY_MS, "count": 2});
            sim.post("/sim/faults", &delay).await;
        }

        // Act: the burst, cut by kill -9.
        let cut_before = tally.cut_off;
        let results = burst_and_kill(&http, &mut server, requests, KILL_AFTER).await;
        record(results, &mut answered, &mut tally);
        assert!(tally.cut_off > cut_before, "round {round}: the kill came after the burst");
        // What reached the simulator before the kill has been handled once its delay is over.
        actix_web::rt::time::sleep(Duration::from_millis(DELAY_MS + 300)).await;
        let left = sim.get("/sim/faults").await["faults"].as_array().unwrap().iter()
            .map(|f| f["remaining"].as_u64().unwrap() as usize).sum::<usize>();
        tally.delays_hit += 4 - left;
        let at_kill = (upload_jobs(&db), deliveries(&sim).await);
        sim.client.delete(format!("{}/sim/faults", sim.url)).send().await.unwrap();

        // Assert, after a restart on the same database and keys.
        server = ServerProcess::start(port, &env, &log).await;
        check_uploads(&db, &sim, &at_kill, &answered, &mut tally).await;
        check_repeats(&http, &server.url, &db, &sim, &answered, &mut tally).await;
        check_seats(&db, SEATS, QUOTA);
    }
    // Reached only when every check of every round passed: nothing was lost.
    println!(
        "kill drill ({backend:?}): {rounds} rounds, {rounds} kills -9, {} burst requests ({} answered \
         before a kill, {} cut off or unsent), {} marketplace delays hit, {} repeats answered the same, \
         {} uploads delivered ({} again after a kill cut their round trip), lost 0",
        tally.requests, tally.answered_before_kill, tally.cut_off, tally.delays_hit, tally.repeats,
        tally.uploads_delivered, tally.delivered_again_after_cut,
    );
});
