//! Scheme-B nonces: remembered in the database so every node behind the load balancer agrees
//! on what was already seen.

use chrono::{NaiveDateTime, TimeDelta};
use diesel::prelude::*;

use crate::db::schema::nonces;
use crate::db::{DbConn, insert_unless_taken};

/// Records `nonce`; `Ok(false)` when it was already seen (a replay).
pub fn remember(conn: &mut DbConn, nonce: &str, now: NaiveDateTime) -> QueryResult<bool> {
    insert_unless_taken!(
        conn,
        nonces::table,
        (nonces::nonce.eq(nonce), nonces::seen_at.eq(now))
    )
}

/// Forgets nonces older than `keep`: a request that old fails the timestamp check anyway.
pub fn purge(conn: &mut DbConn, now: NaiveDateTime, keep: TimeDelta) -> QueryResult<usize> {
    diesel::delete(nonces::table.filter(nonces::seen_at.lt(now - keep))).execute(conn)
}
