//! The outbox on both backends: claiming, leases, back-off, dedupe, and the jobs themselves
//! run against the fake marketplace.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{NaiveDateTime, TimeDelta, Utc};
use diesel::prelude::*;
use koolicense::db::models::{jobs, now, orders};
use koolicense::db::schema::{auth_codes, code_usage, instances, jobs as jobs_table, licenses};
use koolicense::db::{DatabaseUrl, DbConn, Pool, build_pool};
use koolicense::koogallery::outbox;
use serde_json::json;

use super::market::{AK, Canned, Harness, Market, SK};
use crate::helpers::{Backend, TestDatabase, spawn_app_with, test_settings};

const NODE: &str = "node-a";
const LEASE: Duration = Duration::from_secs(60);

/// Expands a test body taking a `Backend` into `name::sqlite` and `name::postgres`.
macro_rules! per_backend {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;

            #[test]
            fn sqlite() {
                ($body)(Backend::Sqlite);
            }

            #[test]
            fn postgres() {
                ($body)(Backend::Postgres);
            }
        }
    };
    (async $name:ident, $body:expr) => {
        mod $name {
            use super::*;

            #[actix_web::test]
            async fn sqlite() {
                ($body)(Backend::Sqlite).await;
            }

            #[actix_web::test]
            async fn postgres() {
                ($body)(Backend::Postgres).await;
            }
        }
    };
}

/// A migrated database of `backend` and a pool of 12 connections to it.
fn database(backend: Backend) -> (TestDatabase, Pool) {
    let db = TestDatabase::create(backend);
    let keys = tempfile::tempdir().unwrap();
    let settings = test_settings(&db, keys.path(), &[]);
    drop(koolicense::startup::open_database(&settings).unwrap());
    let pool = build_pool(&settings.database.url, 12, Duration::from_secs(30)).unwrap();
    (db, pool)
}

fn enqueue(conn: &mut DbConn, key: Option<&str>, run_at: NaiveDateTime) -> jobs::Job {
    // The queue's rules do not depend on the kind; these jobs are claimed, never run.
    jobs::enqueue(
        conn,
        jobs::JobKind::UsageReport,
        &json!({"n": 1}),
        key,
        run_at,
    )
    .unwrap()
}

per_backend!(
    a_kind_this_build_does_not_know_is_left_for_a_node_that_does,
    |backend| {
        let (_db, pool) = database(backend);
        let conn = &mut pool.get().unwrap();
        let t = now();
        let known = enqueue(conn, None, t);
        // As a newer node would have queued it during a rolling upgrade.
        diesel::sql_query(format!(
        "INSERT INTO jobs (id, kind, payload, status, attempts, max_attempts, run_at, created_at, \
         updated_at) SELECT 'future', 'future_kind', '{{}}', status, 0, max_attempts, run_at, \
         created_at, updated_at FROM jobs WHERE id = '{}'",
        known.id
    ))
    .execute(conn)
    .unwrap();

        let claimed = jobs::claim_due(conn, NODE, LEASE, t).unwrap().unwrap();
        assert_eq!(claimed.id, known.id);
        assert_eq!(jobs::claim_due(conn, NODE, LEASE, t).unwrap(), None);
        let status: String = jobs_table::table
            .find("future")
            .select(jobs_table::status)
            .first(conn)
            .unwrap();
        assert_eq!(status, "pending", "neither claimed nor failed");
    }
);

per_backend!(a_claimed_job_runs_once_and_completes, |backend| {
    let (_db, pool) = database(backend);
    let conn = &mut pool.get().unwrap();
    let t = now();
    let job = enqueue(conn, None, t);
    assert_eq!((job.status, job.attempts), (jobs::JobStatus::Pending, 0));

    let claimed = jobs::claim_due(conn, NODE, LEASE, t).unwrap().unwrap();
    assert_eq!(claimed.id, job.id);
    assert_eq!(
        (claimed.status, claimed.attempts),
        (jobs::JobStatus::Running, 1)
    );
    assert_eq!(claimed.locked_by.as_deref(), Some(NODE));
    assert_eq!(claimed.locked_until, Some(t + TimeDelta::seconds(60)));
    assert_eq!(jobs::claim_due(conn, "node-b", LEASE, t).unwrap(), None);

    assert!(
        !jobs::complete(conn, &job.id, "node-b").unwrap(),
        "only the holder completes"
    );
    assert!(jobs::complete(conn, &job.id, NODE).unwrap());
    let done = jobs::find(conn, &job.id).unwrap().unwrap();
    assert_eq!((done.status, done.locked_by), (jobs::JobStatus::Done, None));
    assert_eq!(
        jobs::claim_due(conn, NODE, LEASE, t + TimeDelta::hours(1)).unwrap(),
        None
    );
});

per_backend!(jobs_are_not_claimed_before_they_are_due, |backend| {
    let (_db, pool) = database(backend);
    let conn = &mut pool.get().unwrap();
    let t = now();
    let later = enqueue(conn, None, t + TimeDelta::minutes(5));
    let sooner = enqueue(conn, None, t + TimeDelta::minutes(1));
    assert_eq!(jobs::claim_due(conn, NODE, LEASE, t).unwrap(), None);
    let first = jobs::claim_due(conn, NODE, LEASE, t + TimeDelta::minutes(10))
        .unwrap()
        .unwrap();
    assert_eq!(first.id, sooner.id, "the earliest due job first");
    let second = jobs::claim_due(conn, NODE, LEASE, t + TimeDelta::minutes(10))
        .unwrap()
        .unwrap();
    assert_eq!(second.id, later.id);
});

per_backend!(concurrent_claimers_never_get_the_same_job, |backend| {
    let (_db, pool) = database(backend);
    let t = now();
    let mut expected = HashSet::new();
    for _ in 0..40 {
        expected.insert(enqueue(&mut pool.get().unwrap(), None, t).id);
    }
    let claimers: Vec<_> = (0..8)
        .map(|n| {
            let pool = pool.clone();
            std::thread::spawn(move || {
                let conn = &mut pool.get().unwrap();
                let mut mine = Vec::new();
                while let Some(job) = jobs::claim_due(conn, &format!("node-{n}"), LEASE, t).unwrap()
                {
                    assert_eq!(job.locked_by, Some(format!("node-{n}")));
                    mine.push(job.id);
                }
                mine
            })
        })
        .collect();
    let claimed: Vec<String> = claimers
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    let distinct: HashSet<String> = claimed.iter().cloned().collect();
    assert_eq!(claimed.len(), 40, "each job claimed exactly once");
    assert_eq!(distinct, expected);
    let conn = &mut pool.get().unwrap();
    let running = jobs::list(conn, None, Some(jobs::JobStatus::Running), None, 100).unwrap();
    assert!(running.iter().all(|j| j.attempts == 1));
});

per_backend!(an_expired_lease_is_claimed_again, |backend| {
    let (_db, pool) = database(backend);
    let conn = &mut pool.get().unwrap();
    let t = now();
    let job = enqueue(conn, None, t);
    jobs::claim_due(conn, "crashed-node", LEASE, t)
        .unwrap()
        .unwrap();
    assert_eq!(
        jobs::claim_due(conn, NODE, LEASE, t + TimeDelta::seconds(59)).unwrap(),
        None
    );

    let taken = jobs::claim_due(conn, NODE, LEASE, t + TimeDelta::seconds(61))
        .unwrap()
        .unwrap();
    assert_eq!((taken.id.as_str(), taken.attempts), (job.id.as_str(), 2));
    assert_eq!(taken.locked_by.as_deref(), Some(NODE));
    assert!(
        !jobs::complete(conn, &job.id, "crashed-node").unwrap(),
        "the old holder lost it"
    );
    assert_eq!(
        jobs::fail(conn, &job.id, "crashed-node", "late", None).unwrap(),
        None
    );
    assert!(jobs::complete(conn, &job.id, NODE).unwrap());
});

per_backend!(
    failures_back_off_then_fail_for_good_until_retried,
    |backend| {
        let (_db, pool) = database(backend);
        let conn = &mut pool.get().unwrap();
        let mut t = now();
        let job = enqueue(conn, None, t);
        for attempt in 1..=jobs::MAX_ATTEMPTS {
            let claimed = jobs::claim_due(conn, NODE, LEASE, t).unwrap().unwrap();
            assert_eq!(claimed.attempts, attempt);
            let next = outbox::next_run_at(t, attempt);
            let status =
                jobs::fail(conn, &job.id, NODE, &format!("boom {attempt}"), Some(next)).unwrap();
            let after = jobs::find(conn, &job.id).unwrap().unwrap();
            assert_eq!(
                after.last_error.as_deref(),
                Some(format!("boom {attempt}").as_str())
            );
            if attempt < jobs::MAX_ATTEMPTS {
                assert_eq!(status, Some(jobs::JobStatus::Pending));
                assert_eq!(after.run_at, next);
                assert_eq!(
                    jobs::claim_due(conn, NODE, LEASE, t).unwrap(),
                    None,
                    "not before its back-off"
                );
                t = next;
            } else {
                assert_eq!(status, Some(jobs::JobStatus::Failed));
            }
        }
        assert_eq!(
            jobs::claim_due(conn, NODE, LEASE, t + TimeDelta::days(1)).unwrap(),
            None
        );
        let failed = jobs::list(
            conn,
            Some(jobs::JobKind::UsageReport),
            Some(jobs::JobStatus::Failed),
            None,
            10,
        )
        .unwrap();
        assert_eq!(failed.len(), 1);

        assert!(jobs::retry(conn, &job.id).unwrap());
        assert!(
            !jobs::retry(conn, &job.id).unwrap(),
            "only a failed job is retried"
        );
        let retried = jobs::find(conn, &job.id).unwrap().unwrap();
        assert_eq!(
            (retried.status, retried.attempts),
            (jobs::JobStatus::Pending, 0)
        );
        assert!(jobs::claim_due(conn, NODE, LEASE, now()).unwrap().is_some());
    }
);

per_backend!(a_hopeless_failure_fails_at_once, |backend| {
    let (_db, pool) = database(backend);
    let conn = &mut pool.get().unwrap();
    let job = enqueue(conn, None, now());
    jobs::claim_due(conn, NODE, LEASE, now()).unwrap().unwrap();
    assert_eq!(
        jobs::fail(conn, &job.id, NODE, "no such license", None).unwrap(),
        Some(jobs::JobStatus::Failed)
    );
});

per_backend!(dedupe_keys_and_requeues, |backend| {
    let (_db, pool) = database(backend);
    let conn = &mut pool.get().unwrap();
    let first = enqueue(conn, Some("k"), now());
    assert_eq!(enqueue(conn, Some("k"), now()).id, first.id);

    // An upload repeat re-queues a finished upload, keeping its history.
    outbox::enqueue_upload(conn, &"L1".into(), "E1").unwrap();
    outbox::enqueue_upload(conn, &"L1".into(), "E1").unwrap();
    let uploads = jobs::list(conn, Some(jobs::JobKind::UploadLicense), None, None, 10).unwrap();
    assert_eq!(uploads.len(), 1);
    let upload = &uploads[0];
    assert_eq!(upload.dedupe_key.as_deref(), Some("upload:L1"));
    let payload: serde_json::Value = serde_json::from_str(&upload.payload).unwrap();
    assert_eq!(payload, json!({"license_id": "L1", "event_id": "E1"}));
    jobs::claim_due(conn, NODE, LEASE, now()).unwrap();
    let claimed = jobs::claim_due(conn, NODE, LEASE, now()).unwrap().unwrap();
    assert_eq!(claimed.id, upload.id);
    outbox::enqueue_upload(conn, &"L1".into(), "E1").unwrap();
    let running = jobs::find(conn, &upload.id).unwrap().unwrap();
    assert_eq!(
        running.status,
        jobs::JobStatus::Running,
        "a running upload is left alone"
    );
    jobs::complete(conn, &upload.id, NODE).unwrap();
    outbox::enqueue_upload(conn, &"L1".into(), "E1").unwrap();
    let requeued = jobs::find(conn, &upload.id).unwrap().unwrap();
    assert_eq!(
        (requeued.status, requeued.attempts),
        (jobs::JobStatus::Pending, 0)
    );
    assert!(requeued.last_error.unwrap().contains("requeued after done"));

    outbox::enqueue_order_query(conn, &"I1".into(), "O1", "O1-1").unwrap();
    outbox::enqueue_order_query(conn, &"I1".into(), "O1", "O1-1").unwrap();
    let queries = jobs::list(conn, Some(jobs::JobKind::QueryOrder), None, None, 10).unwrap();
    assert_eq!(queries.len(), 1);
    assert_eq!(queries[0].dedupe_key.as_deref(), Some("order:O1:O1-1:I1"));

    let day = chrono::NaiveDate::from_ymd_opt(2024, 2, 29).unwrap();
    outbox::ensure_usage_report(conn, day).unwrap();
    outbox::ensure_usage_report(conn, day).unwrap();
    let reports: Vec<_> = jobs::list(conn, Some(jobs::JobKind::UsageReport), None, None, 10)
        .unwrap()
        .into_iter()
        .filter(|job| job.id != first.id) // the test's own job above, of the same kind
        .collect();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].run_at.to_string(), "2024-03-01 00:10:00");
    assert_eq!(reports[0].payload, r#"{"day":"2024-02-29"}"#);
});

pub(super) fn insert_license(conn: &mut DbConn, id: &str, file: &str) {
    let t = now();
    diesel::insert_into(licenses::table)
        .values((
            licenses::id.eq(id),
            licenses::source.eq("instance"),
            licenses::fingerprint_sha256.eq("00"),
            licenses::revision.eq(1_i64),
            licenses::file.eq(file),
            licenses::not_before.eq(t),
            licenses::created_at.eq(t),
            licenses::updated_at.eq(t),
        ))
        .execute(conn)
        .unwrap();
}

fn cbc_ok() -> Canned {
    Canned::Json(
        200,
        json!({"error_code": "CBC.0000", "error_msg": "Success"}),
    )
}

per_backend!(async uploads_run_retry_and_give_up_on_missing_licenses, |backend| async move {
    let market = Market::start(vec![Canned::Status(500), Canned::Status(500), cbc_ok()]);
    let h = Harness::new(backend, &market.url, &market.url, &[]);
    {
        let conn = &mut h.pool.get().unwrap();
        insert_license(conn, "LIC-1", "LICENSE TEXT");
        outbox::enqueue_upload(conn, &"LIC-1".into(), "EV-1").unwrap();
    }
    let after = outbox::run_one(&h.pool, &h.client, NODE).await.unwrap().unwrap();
    assert_eq!((after.status, after.attempts), (jobs::JobStatus::Pending, 1));
    assert!(after.last_error.unwrap().contains("unavailable"));
    assert!(after.run_at > now(), "backed off");
    assert!(outbox::run_one(&h.pool, &h.client, NODE).await.unwrap().is_none());

    let conn = &mut h.pool.get().unwrap();
    assert!(!jobs::retry(conn, &after.id).unwrap(), "retry is for failed jobs");
    // A repeat of the callback re-queues it instead.
    outbox::enqueue_upload(conn, &"LIC-1".into(), "EV-1").unwrap();
    let done = outbox::run_one(&h.pool, &h.client, NODE).await.unwrap().unwrap();
    assert_eq!(done.status, jobs::JobStatus::Done);
    let upload = market.seen().into_iter().last().unwrap();
    let req: serde_json::Value = serde_json::from_slice(&upload.parts[0].data).unwrap();
    assert_eq!(req["characters"], "LICENSE TEXT");

    outbox::enqueue_upload(conn, &"NO-SUCH-LICENSE".into(), "EV-2").unwrap();
    let gone = outbox::run_one(&h.pool, &h.client, NODE).await.unwrap().unwrap();
    assert_eq!((gone.status, gone.attempts), (jobs::JobStatus::Failed, 1));
});

per_backend!(async an_order_query_sets_the_instance_terms, |backend| async move {
    let market = Market::start(vec![Canned::Json(200, json!({
        "resultCode": "000000", "resultMsg": "success",
        "orderInfo": {"orderId": "MOCKPERIODYEARNEW", "orderType": "NEW", "createTime": "20240301101010",
            "orderLine": [{"orderLineId": "MOCKPERIODYEARNEW-000001", "chargingMode": "PERIOD",
                "expireTime": "20350301101010", "quantity": 5,
                "productInfo": [{"productId": "OFFER1", "skuCode": "SKU1", "linearValue": 5}]}]}
    }))]);
    let h = Harness::new(backend, &market.url, &market.url, &[]);
    let conn = &mut h.pool.get().unwrap();
    let t = now();
    diesel::insert_into(instances::table)
        .values((
            instances::instance_id.eq("INST-1"),
            instances::order_id.eq("MOCKPERIODYEARNEW"),
            instances::order_line_id.eq("MOCKPERIODYEARNEW-000001"),
            instances::status.eq("ACTIVE"),
            instances::created_at.eq(t),
            instances::updated_at.eq(t),
        ))
        .execute(conn)
        .unwrap();
    outbox::enqueue_order_query(conn, &"INST-1".into(), "MOCKPERIODYEARNEW", "MOCKPERIODYEARNEW-000001")
        .unwrap();

    let job = outbox::run_one(&h.pool, &h.client, NODE).await.unwrap().unwrap();
    assert_eq!(job.status, jobs::JobStatus::Done, "{:?}", job.last_error);
    let order = orders::find(conn, "MOCKPERIODYEARNEW", "MOCKPERIODYEARNEW-000001").unwrap().unwrap();
    assert_eq!((order.quantity, order.product_id.as_deref()), (Some(5), Some("OFFER1")));
    let (product, quantity, mode, expires): (Option<String>, Option<i64>, Option<String>, Option<NaiveDateTime>) =
        instances::table
            .find("INST-1")
            .select((instances::product_id, instances::quantity, instances::charging_mode, instances::expires_at))
            .first(conn)
            .unwrap();
    assert_eq!((product.as_deref(), quantity, mode.as_deref()), (Some("OFFER1"), Some(5), Some("PERIOD")));
    assert_eq!(expires.unwrap().to_string(), "2035-03-01 10:10:10");

    // A second fetch replaces the stored line rather than failing on the key.
    let mut refetched = order.clone();
    refetched.quantity = Some(7);
    orders::upsert(conn, &refetched).unwrap();
    assert_eq!(orders::find(conn, &order.order_id, &order.order_line_id).unwrap().unwrap().quantity, Some(7));
});

per_backend!(async the_usage_report_counts_distinct_clients_per_code, |backend| async move {
    let market = Market::start(vec![Canned::Json(200, json!({"error_code": "92020000", "error_msg": "ok"}))]);
    let h = Harness::new(backend, &market.url, &market.url, &[]);
    let conn = &mut h.pool.get().unwrap();
    let t = now();
    let day = Utc::now().date_naive() - TimeDelta::days(3);
    let day_text = day.format("%Y-%m-%d").to_string();
    for (id, code) in [("C1", "PLAAAA1111"), ("C2", "PLBBBB2222")] {
        diesel::insert_into(auth_codes::table)
            .values((
                auth_codes::id.eq(id),
                auth_codes::code.eq(code),
                auth_codes::code_hint.eq("hint"),
                auth_codes::status.eq("ALIVE"),
                auth_codes::created_at.eq(t),
                auth_codes::updated_at.eq(t),
            ))
            .execute(conn)
            .unwrap();
    }
    for (code_id, day, client) in [
        ("C1", day_text.as_str(), "m1"),
        ("C1", day_text.as_str(), "m2"),
        ("C2", day_text.as_str(), "m1"),
        ("C2", "1999-01-01", "m2"),
    ] {
        diesel::insert_into(code_usage::table)
            .values((
                code_usage::code_id.eq(code_id),
                code_usage::day.eq(day),
                code_usage::client_id.eq(client),
                code_usage::created_at.eq(t),
            ))
            .execute(conn)
            .unwrap();
    }
    outbox::ensure_usage_report(conn, day).unwrap();

    let job = outbox::run_one(&h.pool, &h.client, NODE).await.unwrap().unwrap();
    assert_eq!(job.status, jobs::JobStatus::Done, "{:?}", job.last_error);
    let sent = market.seen()[0].json();
    assert_eq!(
        sent,
        json!({"usage_info": [
            {"license": "PLAAAA1111", "software_usage_Info": [{"active_num": 2}]},
            {"license": "PLBBBB2222", "software_usage_Info": [{"active_num": 1}]},
        ]})
    );
});

per_backend!(async the_server_runs_a_worker_that_drains_the_queue, |backend| async move {
    let market = Market::start(vec![cbc_ok()]);
    let app = spawn_app_with(backend, &[
        ("KOOLICENSE_APIG_AK", AK),
        ("KOOLICENSE_APIG_SK", SK),
        ("KOOLICENSE_MARKETPLACE_URL", &market.url),
        ("KOOLICENSE_MARKETPLACE_FALLBACK_URL", &market.url),
    ])
    .await;
    let pool = build_pool(&DatabaseUrl::parse(&app.db.url).unwrap(), 2, Duration::from_secs(10)).unwrap();
    {
        let conn = &mut pool.get().unwrap();
        insert_license(conn, "LIC-W", "WORKER LICENSE");
        outbox::enqueue_upload(conn, &"LIC-W".into(), "EV-W").unwrap();
    }
    let mut status = jobs::JobStatus::Pending;
    for _ in 0..100 {
        let conn = &mut pool.get().unwrap();
        let job = jobs::find_by_dedupe_key(conn, "upload:LIC-W").unwrap().unwrap();
        status = job.status;
        if status == jobs::JobStatus::Done {
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, jobs::JobStatus::Done);
    assert_eq!(market.seen().len(), 1);
    assert_eq!(market.seen()[0].signature, Ok(AK.to_owned()));
});
