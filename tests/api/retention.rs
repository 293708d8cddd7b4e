//! The journal keeps `KOOLICENSE_JOURNAL_RETENTION_DAYS` (90 by default): older rows, and older
//! counts of refused calls, are purged in the background soon after start.

use std::time::Duration;

use chrono::{NaiveDateTime, TimeDelta};
use diesel::prelude::*;
use koolicense::db::DbConn;
use koolicense::db::models::marketplace_calls::{self, INBOUND, NewMarketplaceCall, OUTBOUND};
use koolicense::db::models::marketplace_rejections::{self, Tally};
use koolicense::db::schema::{marketplace_calls as calls, marketplace_rejections as counts};
use koolicense::startup::Application;

use crate::both_backends;
use crate::helpers::{TestDatabase, test_settings};

fn days_ago(days: i64) -> NaiveDateTime {
    koolicense::db::models::now() - TimeDelta::days(days)
}

/// `n` journal rows made `age` days ago, alternately inbound and outbound.
fn backdated_calls(conn: &mut DbConn, n: usize, age: i64, activity: &str) {
    for i in 0..n {
        let direction = if i % 2 == 0 { INBOUND } else { OUTBOUND };
        let mut call = NewMarketplaceCall::new(direction, activity, "000000", 3);
        call.created_at = days_ago(age).into();
        marketplace_calls::insert(conn, &call).unwrap();
    }
}

fn backdated_count(conn: &mut DbConn, age: i64, reason: &str) {
    let at = days_ago(age);
    let tally = Tally {
        minute: at,
        node_id: "node-old",
        interface: "post",
        activity: "unknown",
        reason,
        calls: 7,
        first_seen_at: at,
        last_seen_at: at,
    };
    marketplace_rejections::add(conn, &tally).unwrap();
}

fn activities_left(conn: &mut DbConn) -> Vec<(String, i64)> {
    let rows: Vec<String> = calls::table.select(calls::activity).load(conn).unwrap();
    let mut left: Vec<(String, i64)> = Vec::new();
    for activity in rows {
        match left.iter_mut().find(|(a, _)| *a == activity) {
            Some((_, n)) => *n += 1,
            None => left.push((activity, 1)),
        }
    }
    left.sort();
    left
}

both_backends!(@backend journal_rows_past_the_default_90_days_are_purged_at_start, |backend| async move {
    let db = TestDatabase::create(backend);
    let keys = tempfile::tempdir().unwrap();
    let settings = test_settings(&db, keys.path(), &[("KOOLICENSE_WORKER", "false")]);
    drop(koolicense::startup::open_database(&settings).unwrap());
    let mut conn = db.connect();
    conn.transaction(|conn| -> QueryResult<()> {
        // More old rows than one purge batch holds.
        backdated_calls(conn, 2500, 120, "old");
        backdated_calls(conn, 3, 91, "just-too-old");
        backdated_calls(conn, 4, 89, "kept");
        backdated_calls(conn, 2, 0, "today");
        backdated_count(conn, 100, "bad_signature");
        backdated_count(conn, 10, "stale_timestamp");
        Ok(())
    })
    .unwrap();

    let app = Application::build(settings).unwrap();
    actix_web::rt::spawn(app.run_until_stopped());
    let want = vec![("kept".to_owned(), 4), ("today".to_owned(), 2)];
    let mut left = activities_left(&mut conn);
    // A liveness bound, not a speed requirement: the purge runs at start.
    for _ in 0..100 {
        if left == want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        left = activities_left(&mut conn);
    }
    assert_eq!(left, want);
    let reasons: Vec<String> = counts::table.select(counts::reason).load(&mut conn).unwrap();
    assert_eq!(reasons, ["stale_timestamp"]);
});
