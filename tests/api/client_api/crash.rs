//! `kill -9` in the middle of a burst of activations: after a restart on the same database,
//! every activation that was answered 2xx is answered again with the same bytes, and no code has
//! more live bindings than seats.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use futures_util::future::join_all;
use koolicense::db::schema::{activations, auth_codes, licenses};
use koolicense::db::{DatabaseUrl, DbConn};
use serde_json::json;

use super::{compact_in, machine};
use crate::both_backends;
use crate::helpers::TestDatabase;
use crate::marketplace::{Marketplace, SIM_AK, SIM_SK};

const CODES: usize = 6;
const SEATS: u64 = 2;
const MACHINES_PER_CODE: usize = 4;
/// The server is killed once this many activations were answered.
const KILL_AFTER: usize = 16;

/// `koolicense serve` as a child process.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(db_url: &str, keys: &Path, marketplace: &str, port: u16, log: &Path) -> Self {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_koolicense"))
            .arg("serve")
            .env("KOOLICENSE_LISTEN", format!("127.0.0.1:{port}"))
            .env("KOOLICENSE_DATABASE_URL", db_url)
            .env("KOOLICENSE_KEYS_DIR", keys)
            .env("KOOLICENSE_MARKETPLACE_URL", marketplace)
            .env("KOOLICENSE_MARKETPLACE_FALLBACK_URL", marketplace)
            .env("KOOLICENSE_APIG_AK", SIM_AK)
            .env("KOOLICENSE_APIG_SK", SIM_SK)
            .env("KOOLICENSE_HTTP_WORKERS", "2")
            .env("KOOLICENSE_DB_POOL_SIZE", "8")
            .env("KOOLICENSE_WORKER", "false")
            .env("KOOLICENSE_LOG_FORMAT", "json")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    async fn wait_ready(&mut self, http: &reqwest::Client) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(response) = http.get(format!("{}/readyz", self.url)).send().await {
                if response.status() == 200 {
                    return;
                }
            }
            assert!(
                self.child.try_wait().unwrap().is_none(),
                "koolicense serve exited early"
            );
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("koolicense serve did not become ready");
    }

    /// SIGKILL: no shutdown, no flushing beyond what each commit already made durable.
    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A connection of the test's own to the server's database.
fn connect(url: &str) -> DbConn {
    match DatabaseUrl::parse(url).unwrap() {
        DatabaseUrl::Postgres(pg) => {
            DbConn::Postgres(PgConnection::establish(pg.expose()).unwrap())
        }
        DatabaseUrl::Sqlite(path) => DbConn::Sqlite(SqliteConnection::establish(&path).unwrap()),
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
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
        let response = sim.client.post(format!("{}/sim/codes", sim.url)).json(&body).send().await.unwrap();
        assert!(response.status().is_success());
    }
    let fault = json!({"api": "activate", "kind": "delay_ms", "delay_ms": 400, "count": 2});
    sim.client.post(format!("{}/sim/faults", sim.url)).json(&fault).send().await.unwrap();
    let db = TestDatabase::create(backend);
    let keys = tempfile::tempdir().unwrap();
    let log = keys.path().join("serve.log");
    let port = free_port();
    let http = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
    let mut server = Server::start(&db.url, keys.path(), &sim.url, port, &log);
    server.wait_ready(&http).await;

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
    let mut server = Server::start(&db.url, keys.path(), &sim.url, port, &log);
    server.wait_ready(&http).await;
    for ((code, fp), license) in &granted {
        let (status, again) = activate(&http, &server.url, code, fp).await.unwrap();
        assert_eq!(status, 200, "{code} {fp}");
        assert_eq!(&again, license, "{code} {fp}: different bytes after the restart");
    }
    let mut conn = connect(&db.url);
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
