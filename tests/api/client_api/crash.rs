//! `kill -9` in the middle of a burst of activations: after a restart on the same database,
//! every activation that was answered 2xx is answered again with the same bytes, and no code has
//! more live bindings than seats.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use futures_util::future::join_all;
use koolicense::db::schema::{activations, auth_codes, licenses};
use serde_json::json;

use super::{compact_in, machine};
use crate::both_backends;
use crate::helpers::TestDatabase;
use crate::marketplace::{Marketplace, SIM_AK, SIM_SK};
use crate::process::{ServerProcess, free_port};

const CODES: usize = 6;
const SEATS: u64 = 2;
const MACHINES_PER_CODE: usize = 4;
/// The server is killed once this many activations were answered.
const KILL_AFTER: usize = 16;

/// The server's settings: this test's database, keys and marketplace; no background worker.
fn server_env<'a>(db: &'a str, keys: &'a str, sim: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("KOOLICENSE_DATABASE_URL", db),
        ("KOOLICENSE_KEYS_DIR", keys),
        ("KOOLICENSE_MARKETPLACE_URL", sim),
        ("KOOLICENSE_MARKETPLACE_FALLBACK_URL", sim),
        ("KOOLICENSE_APIG_AK", SIM_AK),
        ("KOOLICENSE_APIG_SK", SIM_SK),
        ("KOOLICENSE_WORKER", "false"),
    ]
}

async fn activate(
    http: &reqwest::Client,
    url: &str,
    code: &str,
    fp: &str,
) -> Option<(u16, String)> {
    let response = http
        .post(format!("{url}/v1/activate"))
        .json(&json!({"code": code, "fingerprint": fp}))
        .send()
        .await
        .ok()?;
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.ok()?;
    Some((
        status,
        body["license"].as_str().unwrap_or_default().to_owned(),
    ))
}

both_backends!(@backend a_kill_mid_burst_loses_no_answered_activation, |backend| async move {
    // Arrange: codes of two seats each, and a marketplace slow enough on some of them that the
    // kill lands while their first activations are in flight.
    let sim = Marketplace::start().await;
    for i in 0..CODES {
        let body = json!({"code": format!("PLCRASH{i:07}"), "amount": SEATS, "expire_time": compact_in(365)});
        sim.post("/sim/codes", &body).await;
    }
    let fault = json!({"api": "activate", "kind": "delay_ms", "delay_ms": 400, "count": 2});
    sim.post("/sim/faults", &fault).await;
    let db = TestDatabase::create(backend);
    let keys = tempfile::tempdir().unwrap();
    let log = keys.path().join("serve.log");
    let port = free_port();
    let http = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
    let keys_dir = keys.path().display().to_string();
    let env = server_env(&db.url, &keys_dir, &sim.url);
    let mut server = ServerProcess::start(port, &env, &log).await;

    // Act: every machine of every code twice, all at once; kill -9 after KILL_AFTER answers.
    let requests: Vec<(String, String)> = (0..2)
        .flat_map(|_| (0..CODES).flat_map(|i| (0..MACHINES_PER_CODE).map(move |m| (i, m))))
        .map(|(i, m)| (format!("PLCRASH{i:07}"), machine(i * 10 + m)))
        .collect();
    let answered = Arc::new(AtomicUsize::new(0));
    let burst = join_all(requests.iter().map(|(code, fp)| {
        let (http, url, answered) = (http.clone(), server.url.clone(), Arc::clone(&answered));
        async move {
            let result = activate(&http, &url, code, fp).await;
            if result.is_some() {
                answered.fetch_add(1, Ordering::SeqCst);
            }
            (code.clone(), fp.clone(), result)
        }
    }));
    let killer = async {
        let deadline = Instant::now() + Duration::from_secs(30);
        while answered.load(Ordering::SeqCst) < KILL_AFTER && Instant::now() < deadline {
            actix_web::rt::time::sleep(Duration::from_millis(2)).await;
        }
        server.kill();
    };
    let (results, ()) = futures_util::future::join(burst, killer).await;

    // Assert: what was answered before the kill.
    let mut granted: HashMap<(String, String), String> = HashMap::new();
    let mut unanswered = 0;
    for (code, fp, result) in results {
        match result {
            Some((status @ (200 | 201), license)) => {
                let previous = granted.insert((code, fp), license.clone());
                assert!(previous.is_none_or(|p| p == license), "a repeat changed bytes (status {status})");
            }
            Some((409, _)) => {}
            Some((status, _)) => panic!("unexpected status {status}: {}", std::fs::read_to_string(&log).unwrap()),
            None => unanswered += 1,
        }
    }
    assert!(granted.len() >= 2, "too few activations before the kill");
    assert!(unanswered > 0, "the kill came after the burst; nothing was interrupted");

    // Restart on the same database and keys: every answered activation is still there.
    let mut server = ServerProcess::start(port, &env, &log).await;
    for ((code, fp), license) in &granted {
        let (status, again) = activate(&http, &server.url, code, fp).await.unwrap();
        assert_eq!(status, 200, "{code} {fp}");
        assert_eq!(&again, license, "{code} {fp}: different bytes after the restart");
    }
    let mut conn = db.connect();
    let live: Vec<(String, i64)> = activations::table
        .inner_join(auth_codes::table)
        .filter(activations::deactivated_at.is_null())
        .group_by(auth_codes::code)
        .select((auth_codes::code, diesel::dsl::count_star()))
        .load(&mut conn)
        .unwrap();
    for (code, n) in &live {
        assert!(*n <= SEATS as i64, "{code} has {n} live bindings for {SEATS} seats");
    }
    let bindings: i64 = activations::table.count().get_result(&mut conn).unwrap();
    let issued: i64 = licenses::table.count().get_result(&mut conn).unwrap();
    assert_eq!(bindings, issued, "every binding has exactly one license");
    server.kill();
});
