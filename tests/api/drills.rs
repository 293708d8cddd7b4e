//! Drills (README "Drills"): `kill -9` over and over in the middle of bursts, two nodes on one
//! PostgreSQL, and SIGTERM. Each runs real `koolicense serve` processes against the simulator
//! and checks from the outside what a user would: answers, the simulator's records, the database.
//! The kill drill runs a few rounds here and its full length from `scripts/drills/run.sh`.

mod kill;
mod sigterm;
mod two_nodes;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use koolicense::db::models::jobs::JobKind;
use koolicense::db::models::jobs::{self, Job};
use serde_json::{Value, json};

use crate::callers::{ACCESS_KEY, SignedCall};
use crate::helpers::TestDatabase;
use crate::marketplace::{Marketplace, SIM_AK, SIM_SK};

/// A drill server's settings: its database and keys, the simulator as KooGallery, and a rate
/// limit that bursts from one address do not reach.
pub fn server_env<'a>(
    db: &'a TestDatabase,
    keys: &'a str,
    sim: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("KOOLICENSE_DATABASE_URL", db.url.as_str()),
        ("KOOLICENSE_KEYS_DIR", keys),
        ("KOOLICENSE_ACCESS_KEY", ACCESS_KEY),
        ("KOOLICENSE_MARKETPLACE_URL", sim),
        ("KOOLICENSE_MARKETPLACE_FALLBACK_URL", sim),
        ("KOOLICENSE_APIG_AK", SIM_AK),
        ("KOOLICENSE_APIG_SK", SIM_SK),
        ("KOOLICENSE_RATE_LIMIT_PER_MINUTE", "1000000"),
    ]
}

/// A signed callback to the server at `url`; `None` when no answer came (the server died).
pub async fn try_callback(http: &reqwest::Client, url: &str, body: &Value) -> Option<Value> {
    let call = SignedCall::new(body);
    let response = http
        .post(format!("{url}/koogallery/license?{}", call.query()))
        .json(body)
        .send()
        .await
        .ok()?;
    response.json().await.ok()
}

/// `POST /v1/activate`: the status and the license (empty when none); `None` when no answer came.
pub async fn try_activate(
    http: &reqwest::Client,
    url: &str,
    code: &str,
    fingerprint: &str,
) -> Option<(u16, String)> {
    let response = http
        .post(format!("{url}/v1/activate"))
        .json(&json!({"code": code, "fingerprint": fingerprint}))
        .send()
        .await
        .ok()?;
    let status = response.status().as_u16();
    let body: Value = response.json().await.ok()?;
    let license = body["license"].as_str().unwrap_or_default().to_owned();
    Some((status, license))
}

/// Upload and order-query jobs that are not done (daily usage reports, queued for later by the
/// worker itself, are left out).
pub fn unfinished_jobs(db: &TestDatabase) -> Vec<Job> {
    let mut conn = db.connect();
    let mut unfinished = Vec::new();
    for kind in [JobKind::UploadLicense, JobKind::QueryOrder] {
        for status in [jobs::JobStatus::Pending, jobs::JobStatus::Running] {
            unfinished
                .extend(jobs::list(&mut conn, Some(kind), Some(status), None, 10_000).unwrap());
        }
    }
    unfinished
}

/// Waits until every upload and order query is done; panics after 40 s with what is left.
pub async fn wait_drained(db: &TestDatabase) {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let left = unfinished_jobs(db);
        if left.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "jobs never finished: {left:#?}");
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every upload job by its `eventId`, with its status.
pub fn upload_jobs(db: &TestDatabase) -> HashMap<String, jobs::JobStatus> {
    let mut conn = db.connect();
    jobs::list(&mut conn, Some(JobKind::UploadLicense), None, None, 100_000)
        .unwrap()
        .into_iter()
        .map(|job| {
            let payload: Value = serde_json::from_str(&job.payload).unwrap();
            (payload["event_id"].as_str().unwrap().to_owned(), job.status)
        })
        .collect()
}

/// What the simulator accepted per `eventId`: the contents, in delivery order.
pub async fn deliveries(sim: &Marketplace) -> HashMap<String, Vec<String>> {
    let answer = sim.get("/sim/uploads").await;
    let mut by_event: HashMap<String, Vec<(u64, String)>> = HashMap::new();
    for upload in answer["uploads"].as_array().unwrap() {
        let event = upload["event_id"].as_str().unwrap().to_owned();
        let content = upload["content"].as_str().unwrap().to_owned();
        by_event
            .entry(event)
            .or_default()
            .push((upload["delivery"].as_u64().unwrap(), content));
    }
    by_event
        .into_iter()
        .map(|(event, mut uploads)| {
            uploads.sort();
            (event, uploads.into_iter().map(|(_, c)| c).collect())
        })
        .collect()
}

/// How many times the simulator accepted an upload for `event`.
pub async fn delivery_count(sim: &Marketplace, event: &str) -> u64 {
    let answer = sim.get(&format!("/sim/uploads?event_id={event}")).await;
    answer["deliveries"].as_u64().unwrap()
}

/// Polls until `event` has been delivered `expected` times (at least); panics after 20 s.
pub async fn wait_delivered(sim: &Marketplace, event: &str, expected: u64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while delivery_count(sim, event).await < expected {
        assert!(
            Instant::now() < deadline,
            "{event} never reached {expected} deliveries"
        );
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
}
