//! Two nodes on one PostgreSQL (the only backend several nodes can share): duplicate callbacks
//! split across the nodes at the same moment make one instance, a nonce one node accepted is
//! refused by the other, and each background job (order query, upload, usage report) runs once.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use diesel::prelude::*;
use futures_util::future::join_all;
use koolicense::db::models::jobs::JobKind;
use koolicense::db::models::{jobs, now};
use koolicense::db::schema::{auth_codes, code_usage, instances};
use koolicense::koogallery::outbox;
use serde_json::{Value, json};

use super::{delivery_count, server_env, try_callback, wait_drained};
use crate::callers::SignedCall;
use crate::client_api::machine;
use crate::helpers::{Backend, TestDatabase, test_settings};
use crate::marketplace::Marketplace;
use crate::process::{ServerProcess, free_port};
use crate::uploads::license_async;

/// Orders whose `newInstance` arrives `DUPLICATES` times at once, split across the nodes.
const ORDERS: usize = 5;
const DUPLICATES: usize = 8;
/// `getLicenseAsync` calls split across the nodes, one upload each.
const UPLOADS: usize = 30;
/// Codes with check-ins on a day whose usage report is still queued.
const USAGE_CODES: usize = 3;

fn new_instance(order: &str, business: &str) -> Value {
    json!({"activity": "newInstance", "orderId": order, "orderLineId": format!("{order}-000001"),
           "businessId": business})
}

/// Check-ins of `USAGE_CODES` codes two days ago, and that day's usage report queued: the
/// nodes were down when it came due, so both find it due when they start.
async fn seed_usage(db: &TestDatabase, sim: &Marketplace) {
    let conn = &mut db.connect();
    let (t, day) = (now(), Utc::now().date_naive() - TimeDelta::days(2));
    for i in 0..USAGE_CODES {
        let code = format!("PLUSAGE{i:07}");
        sim.post("/sim/codes", &json!({"code": code})).await;
        diesel::insert_into(auth_codes::table)
            .values((
                auth_codes::id.eq(format!("code-{i}")),
                auth_codes::code.eq(&code),
                auth_codes::code_hint.eq("PLUS…"),
                auth_codes::status.eq("ALIVE"),
                auth_codes::created_at.eq(t),
                auth_codes::updated_at.eq(t),
            ))
            .execute(conn)
            .unwrap();
        diesel::insert_into(code_usage::table)
            .values((
                code_usage::code_id.eq(format!("code-{i}")),
                code_usage::day.eq(day.format("%Y-%m-%d").to_string()),
                code_usage::client_id.eq(format!("client-{i}")),
                code_usage::created_at.eq(t),
            ))
            .execute(conn)
            .unwrap();
    }
    outbox::ensure_usage_report(conn, day).unwrap();
}

/// How many jobs a node's log says it finished.
fn jobs_done(log: &std::path::Path) -> usize {
    std::fs::read_to_string(log)
        .unwrap()
        .matches(r#""message":"job done""#)
        .count()
}

#[actix_web::test]
async fn two_nodes_on_one_postgres_make_one_instance_refuse_replays_and_run_each_job_once() {
    // Arrange: a migrated database with a queued usage report; two nodes started together.
    let sim = Marketplace::start().await;
    let db = TestDatabase::create(Backend::Postgres);
    let dir = tempfile::tempdir().unwrap();
    drop(koolicense::startup::open_database(&test_settings(&db, dir.path(), &[])).unwrap());
    seed_usage(&db, &sim).await;
    let keys = dir.path().join("keys").display().to_string();
    std::fs::create_dir_all(&keys).unwrap();
    koolicense::keys::KeyStore::load_or_generate_dev(std::path::Path::new(&keys)).unwrap();
    let (log_a, log_b) = (dir.path().join("a.log"), dir.path().join("b.log"));
    let mut env_a = server_env(&db, &keys, &sim.url);
    let mut env_b = env_a.clone();
    env_a.push(("KOOLICENSE_NODE_ID", "node-a"));
    env_b.push(("KOOLICENSE_NODE_ID", "node-b"));
    let (a, b) = tokio::join!(
        ServerProcess::start(free_port(), &env_a, &log_a),
        ServerProcess::start(free_port(), &env_b, &log_b),
    );
    let nodes = [a.url.clone(), b.url.clone()];
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();

    // Duplicate newInstance calls (a new businessId each, as KooGallery retries), all at once.
    let mut calls = Vec::new();
    for o in 0..ORDERS {
        let order = format!("CS-TWO-{o}");
        sim.add_order(&order, "PERIOD", UPLOADS as i64, "20271101000000")
            .await;
        for d in 0..DUPLICATES {
            calls.push((
                order.clone(),
                nodes[d % 2].clone(),
                new_instance(&order, &format!("biz-{o}-{d}")),
            ));
        }
    }
    let answers = join_all(calls.iter().map(|(order, url, body)| {
        let http = http.clone();
        async move { (order.clone(), try_callback(&http, url, body).await.unwrap()) }
    }))
    .await;
    let mut ids: HashMap<String, HashSet<String>> = HashMap::new();
    for (order, answer) in &answers {
        assert_eq!(answer["resultCode"], "000000", "{order}: {answer}");
        ids.entry(order.clone())
            .or_default()
            .insert(answer["instanceId"].as_str().unwrap().to_owned());
    }
    assert!(
        ids.values().all(|i| i.len() == 1),
        "one instance id per order: {ids:?}"
    );
    let count = |db: &TestDatabase| -> i64 {
        instances::table
            .count()
            .get_result(&mut db.connect())
            .unwrap()
    };
    assert_eq!(count(&db), ORDERS as i64);

    // A nonce node A accepted is refused by node B, one after the other and at the same moment.
    let body = new_instance("CS-NONCE-0", "biz-nonce-0");
    sim.add_order("CS-NONCE-0", "PERIOD", 1, "20271101000000")
        .await;
    let call = SignedCall::new(&body);
    let send = |url: &str| {
        let request = http
            .post(format!("{url}/koogallery/license?{}", call.query()))
            .json(&body);
        async move { request.send().await.unwrap().json::<Value>().await.unwrap()["resultCode"].clone() }
    };
    assert_eq!(send(&nodes[0]).await, "000000");
    assert_eq!(send(&nodes[1]).await, "000001");
    assert_eq!(count(&db), ORDERS as i64 + 1, "the replay changed nothing");
    let pairs = join_all((1..=5).map(|n| {
        let (http, nodes) = (http.clone(), nodes.clone());
        let (order, sim) = (format!("CS-NONCE-{n}"), &sim);
        async move {
            sim.add_order(&order, "PERIOD", 1, "20271101000000").await;
            let body = new_instance(&order, &format!("biz-nonce-{n}"));
            let call = SignedCall::new(&body);
            let results = join_all(nodes.iter().map(|url| {
                let request = http
                    .post(format!("{url}/koogallery/license?{}", call.query()))
                    .json(&body);
                async move {
                    request.send().await.unwrap().json::<Value>().await.unwrap()["resultCode"]
                        .clone()
                }
            }))
            .await;
            let mut codes: Vec<String> = results
                .iter()
                .map(|c| c.as_str().unwrap().to_owned())
                .collect();
            codes.sort();
            codes
        }
    }))
    .await;
    for codes in &pairs {
        assert_eq!(
            codes,
            &["000000", "000001"],
            "one node takes a nonce, the other refuses it"
        );
    }
    assert_eq!(count(&db), ORDERS as i64 + 6);

    // Uploads of getLicenseAsync calls split across the nodes, once the orders are in.
    wait_drained(&db).await;
    let instance = ids["CS-TWO-0"].iter().next().unwrap().clone();
    let uploads = join_all((0..UPLOADS).map(|i| {
        let body = license_async(&instance, &format!("evt-two-{i}"), &machine(i));
        let (http, url) = (http.clone(), nodes[i % 2].clone());
        async move { try_callback(&http, &url, &body).await.unwrap()["resultCode"].clone() }
    }))
    .await;
    assert!(uploads.iter().all(|c| c == "000000"), "{uploads:?}");
    wait_drained(&db).await;
    // Give a duplicate every chance to show up before counting.
    actix_web::rt::time::sleep(Duration::from_secs(1)).await;

    // Assert: every job ran once.
    for i in 0..UPLOADS {
        assert_eq!(
            delivery_count(&sim, &format!("evt-two-{i}")).await,
            1,
            "evt-two-{i}"
        );
    }
    let order_calls = sim.get("/sim/calls?api=order").await;
    let mut per_order: HashMap<String, usize> = HashMap::new();
    for call in order_calls["calls"].as_array().unwrap() {
        *per_order
            .entry(call["order_id"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    assert_eq!(per_order.len(), ORDERS + 6, "{per_order:?}");
    assert!(
        per_order.values().all(|n| *n == 1),
        "an order was queried twice: {per_order:?}"
    );
    let usage_calls = sim.get("/sim/calls?api=usage").await["calls"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(usage_calls, 1, "the queued usage report was sent once");
    let reports = sim.get("/sim/usage").await["reports"]
        .as_array()
        .unwrap()
        .clone();
    let reported: Vec<&str> = reports
        .iter()
        .map(|r| r["license"].as_str().unwrap())
        .collect();
    assert_eq!(reported.len(), USAGE_CODES, "{reports:?}");
    assert_eq!(
        reported.iter().collect::<HashSet<_>>().len(),
        USAGE_CODES,
        "{reports:?}"
    );
    let report_jobs = jobs::list(
        &mut db.connect(),
        Some(JobKind::UsageReport),
        None,
        None,
        10,
    )
    .unwrap();
    assert_eq!(
        report_jobs.len(),
        3,
        "one job per day, though both nodes queue them: {report_jobs:#?}"
    );
    // Both nodes did their share, so "once" was a race between them.
    let (done_a, done_b) = (jobs_done(&log_a), jobs_done(&log_b));
    assert!(
        done_a > 0 && done_b > 0,
        "node a ran {done_a} jobs, node b {done_b}"
    );
    println!(
        "two-node drill: {} newInstance duplicates for {ORDERS} orders, 6 nonces offered to both \
         nodes, {UPLOADS} uploads, {} order queries, 1 usage report; jobs run by node a {done_a}, \
         node b {done_b}; every one once",
        ORDERS * DUPLICATES,
        ORDERS + 6,
    );
}
