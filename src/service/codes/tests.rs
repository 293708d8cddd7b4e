#![expect(clippy::unwrap_used, reason = "tests")]

use chrono::TimeDelta;
use diesel::Connection;

use super::{Renewal, refresh, release};
use crate::db::DbConn;
use crate::db::models::auth_codes::{self, CodeStatus};

/// A fresh in-memory database with every migration.
pub(crate) fn scratch() -> DbConn {
    let mut conn = DbConn::Sqlite(diesel::SqliteConnection::establish(":memory:").unwrap());
    crate::db::run_migrations(&mut conn).unwrap();
    conn
}

fn renewal(line: &str, expires_at: chrono::NaiveDateTime) -> Renewal {
    Renewal {
        scene: "RENEWAL".to_owned(),
        order_id: "CS-1".to_owned(),
        order_line_id: line.to_owned(),
        product_id: None,
        expires_at,
    }
}

#[test]
fn a_refresh_sets_expired_or_alive_once_per_order_line_and_never_revives_a_release() {
    let mut conn = scratch();
    let now = crate::licensing::now_seconds();
    let status_of = |conn: &mut DbConn| {
        auth_codes::find_by_code(conn, "PL1")
            .unwrap()
            .unwrap()
            .status
    };

    refresh(
        &mut conn,
        "PL1",
        &renewal("l1", now - TimeDelta::days(1)),
        now,
    )
    .unwrap();
    assert_eq!(status_of(&mut conn), CodeStatus::Expired);
    // The same order line again applies nothing, even with another expiry.
    refresh(
        &mut conn,
        "PL1",
        &renewal("l1", now + TimeDelta::days(30)),
        now,
    )
    .unwrap();
    assert_eq!(status_of(&mut conn), CodeStatus::Expired);
    refresh(
        &mut conn,
        "PL1",
        &renewal("l2", now + TimeDelta::days(30)),
        now,
    )
    .unwrap();
    assert_eq!(status_of(&mut conn), CodeStatus::Alive);

    release(&mut conn, "PL1", None, now).unwrap();
    refresh(
        &mut conn,
        "PL1",
        &renewal("l3", now + TimeDelta::days(60)),
        now,
    )
    .unwrap();
    let row = auth_codes::find_by_code(&mut conn, "PL1").unwrap().unwrap();
    assert_eq!(row.status, CodeStatus::Released);
    assert_eq!(row.expires_at, Some(now + TimeDelta::days(60)));
}
