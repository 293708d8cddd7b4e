//! Spending a Scheme-B nonce: remembered in the database, in its own write, so every node
//! behind the load balancer refuses a replay, whatever the first call was answered.

use std::sync::atomic::{AtomicU32, Ordering};

use chrono::{NaiveDateTime, TimeDelta};
use diesel::QueryResult;

use crate::db::models::nonces;
use crate::db::{self, DbConn};
use crate::startup::AppState;

/// What remembering a nonce found.
pub enum Spent {
    /// First seen now: the call goes on.
    Fresh,
    /// Seen before: a replay.
    Replayed,
    /// The database could not say (the call answers `000005`).
    Unknown,
}

/// Remembers `nonce`.
pub async fn spend(state: &AppState, nonce: String) -> Spent {
    let keep = TimeDelta::seconds(
        state
            .settings
            .marketplace
            .timestamp_window_secs
            .saturating_mul(2),
    );
    let fresh = db::write(&state.pool, move |conn| -> anyhow::Result<bool> {
        let now = crate::licensing::now_seconds();
        let fresh = nonces::remember(conn, &nonce, now)?;
        if fresh {
            purge_now_and_then(conn, now, keep)?;
        }
        Ok(fresh)
    })
    .await;
    match fresh {
        Ok(true) => Spent::Fresh,
        Ok(false) => Spent::Replayed,
        Err(e) => {
            tracing::error!(error = %e, "cannot remember a marketplace nonce");
            Spent::Unknown
        }
    }
}

fn purge_now_and_then(conn: &mut DbConn, now: NaiveDateTime, keep: TimeDelta) -> QueryResult<()> {
    static CALLS: AtomicU32 = AtomicU32::new(0);
    // Old nonces are useless (their timestamps fail the window); clearing them every 256th call
    // keeps the table small without a timer.
    if CALLS.fetch_add(1, Ordering::Relaxed) % 256 == 0 {
        nonces::purge(conn, now, keep)?;
    }
    Ok(())
}
