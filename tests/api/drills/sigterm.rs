//! SIGTERM: in-flight requests get their normal answers, running jobs finish, the process exits 0
//! with a clean stop in its log, and the jobs still queued run as soon as a node starts again.

use std::time::{Duration, Instant};

use koolicense::db::models::jobs;
use koolicense::db::models::jobs::JobKind;
use serde_json::json;

use super::{delivery_count, server_env, try_activate, try_callback, wait_delivered, wait_drained};
use crate::both_backends;
use crate::client_api::{compact_in, machine};
use crate::helpers::TestDatabase;
use crate::marketplace::Marketplace;
use crate::process::{ServerProcess, free_port};
use crate::uploads::{license_async, new_instance_to};

/// Uploads the marketplace holds when the stop comes: one per worker slot.
const HELD: usize = 4;
/// Uploads queued behind them.
const QUEUED: usize = 3;
/// How long the marketplace holds each of the first uploads: long enough that the stop comes
/// while they run, even on a loaded machine, and within the client's timeout.
const HOLD_MS: u64 = 5000;

/// Waits until `n` uploads are running.
async fn wait_running(db: &TestDatabase, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let running = jobs::list(
            &mut db.connect(),
            Some(JobKind::UploadLicense),
            Some(jobs::JobStatus::Running),
            None,
            100,
        )
        .unwrap();
        if running.len() >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "only {} uploads running",
            running.len()
        );
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until every injected fault has hit a call: the delayed requests are then inside
/// their marketplace calls, so the stop finds them in flight.
async fn wait_faults_taken(sim: &Marketplace) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let faults = sim.get("/sim/faults").await;
        if faults["faults"].as_array().unwrap().is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "faults never hit: {faults}");
        actix_web::rt::time::sleep(Duration::from_millis(10)).await;
    }
}

both_backends!(@backend sigterm_finishes_what_runs_and_leaves_the_queue_for_the_next_start, |backend| async move {
    // Arrange: a server with its worker and a random node id (a restart gets a new one, so a
    // lease left behind would hold its job for a minute), an instance whose order is known.
    let sim = Marketplace::start().await;
    sim.post("/sim/codes", &json!({"code": "PLTERM0000001", "amount": 1, "expire_time": compact_in(365)})).await;
    let db = TestDatabase::create(backend);
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys").display().to_string();
    let log = dir.path().join("serve.log");
    let port = free_port();
    let mut env = server_env(&db, &keys, &sim.url);
    env.push(("KOOLICENSE_MARKETPLACE_TIMEOUT_MS", "8000"));
    let mut server = ServerProcess::start(port, &env, &log).await;
    let http = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
    let instance = new_instance_to(&server.url, &sim, "CS-TERM", 10).await;
    wait_drained(&db).await;

    // The marketplace holds the next uploads: every worker slot busy, more queued behind.
    let hold_uploads = json!({"api": "upload", "kind": "delay_ms", "delay_ms": HOLD_MS, "count": HELD});
    sim.post("/sim/faults", &hold_uploads).await;
    for i in 0..HELD {
        let body = license_async(&instance, &format!("evt-held-{i}"), &machine(i));
        assert_eq!(try_callback(&http, &server.url, &body).await.unwrap()["resultCode"], "000000");
    }
    wait_running(&db, HELD).await;
    for i in 0..QUEUED {
        let body = license_async(&instance, &format!("evt-queued-{i}"), &machine(10 + i));
        assert_eq!(try_callback(&http, &server.url, &body).await.unwrap()["resultCode"], "000000");
    }
    // Two requests in flight at the stop, each waiting on the marketplace: a first activation,
    // and a getLicenseAsync whose instance's order is still unknown (fetched inline).
    let slow = |api| json!({"api": api, "kind": "delay_ms", "delay_ms": 1500, "count": 1});
    sim.post("/sim/faults", &slow("activate")).await;
    sim.post("/sim/faults", &slow("order")).await;
    let late = new_instance_to(&server.url, &sim, "CS-TERM-LATE", 2).await;
    let url = server.url.clone();
    let (activate_http, async_http) = (http.clone(), http.clone());
    let activation = actix_web::rt::spawn(async move {
        try_activate(&activate_http, &url, "PLTERM0000001", &machine(99)).await
    });
    let url = server.url.clone();
    let in_flight_async = actix_web::rt::spawn(async move {
        try_callback(&async_http, &url, &license_async(&late, "evt-in-flight", &machine(98))).await
    });
    wait_faults_taken(&sim).await;
    let running = jobs::list(&mut db.connect(), Some(JobKind::UploadLicense), Some(jobs::JobStatus::Running), None, 100);
    assert_eq!(running.unwrap().len(), HELD, "the held uploads ended before the stop");

    // Act
    server.send_sigterm();
    let stopping = Instant::now();

    // Assert: the in-flight requests got their normal answers.
    let Some((status, license)) = activation.await.unwrap() else { panic!("the activation was cut off: {}", std::fs::read_to_string(&log).unwrap()) };
    assert_eq!(status, 201, "{}", std::fs::read_to_string(&log).unwrap());
    assert!(license.contains("BEGIN KOOLICENSE LICENSE"));
    let answer = in_flight_async.await.unwrap().expect("the getLicenseAsync was cut off");
    assert_eq!(answer["resultCode"], "000000", "{answer}");
    // The process stops by itself, cleanly.
    let exit = server.wait_exit(Duration::from_secs(25)).await;
    let stopped_after = stopping.elapsed();
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(exit.is_some_and(|s| s.success()), "exit {exit:?}: {logged}");
    assert!(logged.contains("job worker stopped"), "{logged}");
    assert!(logged.contains("koolicense stopped"), "{logged}");
    assert!(!logged.contains(r#""level":"ERROR""#), "{logged}");
    // The held uploads finished before the exit; the worker took nothing new; no lease is left.
    for i in 0..HELD {
        assert_eq!(delivery_count(&sim, &format!("evt-held-{i}")).await, 1, "evt-held-{i}");
    }
    for i in 0..QUEUED {
        assert_eq!(delivery_count(&sim, &format!("evt-queued-{i}")).await, 0, "evt-queued-{i}");
    }
    let running = jobs::list(&mut db.connect(), None, Some(jobs::JobStatus::Running), None, 100).unwrap();
    assert!(running.is_empty(), "leases left behind: {running:#?}");

    // The next start delivers the queue at once, and nothing twice.
    let restarted = ServerProcess::start(port, &env, &log).await;
    let events: Vec<String> = (0..QUEUED)
        .map(|i| format!("evt-queued-{i}"))
        .chain(["evt-in-flight".to_owned()])
        .collect();
    for event in &events {
        wait_delivered(&sim, event, 1).await;
    }
    wait_drained(&db).await;
    let held = (0..HELD).map(|i| format!("evt-held-{i}"));
    for event in events.into_iter().chain(held) {
        assert_eq!(delivery_count(&sim, &event).await, 1, "{event}");
    }
    let again = try_activate(&http, &restarted.url, "PLTERM0000001", &machine(99)).await.unwrap();
    assert_eq!(again, (200, license), "the activation answered during the stop is kept");
    println!(
        "sigterm drill ({backend:?}): 2 requests in flight answered, exit 0 after {:.1} s, \
         {HELD} running uploads finished and delivered once, {} queued uploads delivered once after \
         the restart, lost 0",
        stopped_after.as_secs_f64(),
        QUEUED + 1,
    );
});
