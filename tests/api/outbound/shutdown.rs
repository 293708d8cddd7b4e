//! The worker's stop, in-process on both backends: running jobs finish within the grace
//! period, the queue is left alone, and a job outlasting the grace period gives its lease back.
//! (The whole server under SIGTERM is `drills::sigterm`.)

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use koolicense::db::Pool;
use koolicense::db::models::{jobs, now};
use koolicense::koogallery::client::MarketplaceClient;
use koolicense::koogallery::outbox;
use serde_json::json;

use super::outbox::insert_license;
use crate::both_backends;
use crate::helpers::{Backend, TestDatabase, test_settings};
use crate::marketplace::{Marketplace, SIM_AK, SIM_SK};

const NODE: &str = "node-a";
const LEASE: Duration = Duration::from_secs(60);

/// A worker of its own on `backend`'s database, with the simulator as KooGallery.
async fn worker_harness(backend: Backend) -> (TestDatabase, Pool, Marketplace, outbox::Worker) {
    let sim = Marketplace::start().await;
    let db = TestDatabase::create(backend);
    let keys = tempfile::tempdir().unwrap();
    let settings = test_settings(
        &db,
        keys.path(),
        &[
            ("KOOLICENSE_MARKETPLACE_URL", &sim.url),
            ("KOOLICENSE_MARKETPLACE_FALLBACK_URL", &sim.url),
            ("KOOLICENSE_APIG_AK", SIM_AK),
            ("KOOLICENSE_APIG_SK", SIM_SK),
            ("KOOLICENSE_MARKETPLACE_TIMEOUT_MS", "10000"),
        ],
    );
    let pool = koolicense::startup::open_database(&settings).unwrap();
    {
        // Yesterday's usage report, which a starting worker queues and runs, is done already:
        // only the test's jobs run.
        let conn = &mut pool.get().unwrap();
        outbox::ensure_usage_report(conn, Utc::now().date_naive() - TimeDelta::days(1)).unwrap();
        if let Some(report) = jobs::claim_due(conn, "setup", LEASE, now()).unwrap() {
            assert!(jobs::complete(conn, &report.id, "setup").unwrap());
        }
    }
    let client = Arc::new(MarketplaceClient::new(&settings, pool.clone()).unwrap());
    let worker = outbox::spawn_worker(pool.clone(), client, NODE.to_owned());
    (db, pool, sim, worker)
}

/// Queues `n` uploads, each delayed `delay_ms` by the marketplace, and waits until `running` run.
async fn queue_slow_uploads(
    pool: &Pool,
    sim: &Marketplace,
    n: usize,
    delay_ms: u64,
    running: usize,
) {
    let fault = json!({"api": "upload", "kind": "delay_ms", "delay_ms": delay_ms, "count": n});
    sim.post("/sim/faults", &fault).await;
    {
        let conn = &mut pool.get().unwrap();
        for i in 0..n {
            insert_license(conn, &format!("LIC-S{i}"), "SLOW LICENSE");
            outbox::enqueue_upload(conn, &format!("LIC-S{i}").into(), &format!("EV-S{i}")).unwrap();
        }
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while jobs::list(
        &mut pool.get().unwrap(),
        None,
        Some(jobs::JobStatus::Running),
        None,
        100,
    )
    .unwrap()
    .len()
        < running
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the uploads never started"
        );
        actix_web::rt::time::sleep(Duration::from_millis(10)).await;
    }
}

both_backends!(@backend a_stopping_worker_finishes_its_running_jobs_and_claims_no_more, |backend| async move {
    let (_db, pool, sim, worker) = worker_harness(backend).await;
    // Six uploads, four at a time: two wait in the queue when the stop comes.
    queue_slow_uploads(&pool, &sim, 6, 800, 4).await;

    let stopped = worker.shutdown(Duration::from_secs(5)).await;

    assert_eq!(stopped, outbox::Stopped { finished: 4, released: 0 });
    let conn = &mut pool.get().unwrap();
    let done = jobs::list(conn, Some(jobs::JobKind::UploadLicense), Some(jobs::JobStatus::Done), None, 10).unwrap();
    assert_eq!(done.len(), 4);
    let waiting = jobs::list(conn, Some(jobs::JobKind::UploadLicense), Some(jobs::JobStatus::Pending), None, 10).unwrap();
    assert_eq!(waiting.len(), 2, "the queue stays for the next start");
    assert!(waiting.iter().all(|job| job.attempts == 0), "{waiting:#?}");
    assert_eq!(sim.get("/sim/uploads").await["deliveries"], 4);
});

both_backends!(@backend a_job_outlasting_the_grace_period_gives_its_lease_back, |backend| async move {
    let (_db, pool, sim, worker) = worker_harness(backend).await;
    queue_slow_uploads(&pool, &sim, 1, 8000, 1).await;

    let stopped = worker.shutdown(Duration::from_millis(200)).await;

    assert_eq!(stopped, outbox::Stopped { finished: 0, released: 1 });
    let conn = &mut pool.get().unwrap();
    let job = jobs::find_by_dedupe_key(conn, "upload:LIC-S0").unwrap().unwrap();
    assert_eq!((job.status, job.locked_by), (jobs::JobStatus::Pending, None));
    // Another node takes it at once, not when the 60 s lease would have run out.
    let next = jobs::claim_due(conn, "node-b", LEASE, now()).unwrap().unwrap();
    assert_eq!(next.id, job.id);
});
