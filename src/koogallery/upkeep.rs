//! The journal's upkeep, on every node: this node's counts of calls refused before
//! authentication are written every few seconds ([`Rejections::flush`]), and journal rows and
//! counts older than `KOOLICENSE_JOURNAL_RETENTION_DAYS` are deleted at start and hourly, so the
//! journal cannot fill the disk. Deletes are idempotent and in small batches, so nodes purging
//! at the same time only find less to delete.

use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;

use crate::db::models::{marketplace_calls, marketplace_rejections};
use crate::db::{self, Pool};
use crate::koogallery::callbacks::rejections::Rejections;

/// How often the refused calls counted in memory are written.
pub const FLUSH_EVERY: Duration = Duration::from_secs(10);
/// How often old journal rows are purged (and once at start).
pub const PURGE_EVERY: Duration = Duration::from_secs(3600);
/// Rows deleted per statement.
const PURGE_BATCH: i64 = 1000;
/// Pause between batches, so a large backlog never holds the database for long.
const PURGE_PAUSE: Duration = Duration::from_millis(20);

/// What the upkeep task needs.
pub struct Upkeep {
    pub pool: Pool,
    pub rejections: Arc<Rejections>,
    pub node_id: String,
    /// `None`: keep the journal forever.
    pub retention: Option<TimeDelta>,
}

/// Starts the upkeep task on the current runtime.
pub fn spawn(upkeep: Upkeep) {
    actix_web::rt::spawn(async move {
        let mut flush = tokio::time::interval(FLUSH_EVERY);
        flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut purge = tokio::time::interval(PURGE_EVERY);
        purge.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = flush.tick() => {
                    if let Err(e) = upkeep.rejections.flush(&upkeep.pool, &upkeep.node_id).await {
                        tracing::warn!(error = %e, "cannot write the counts of refused marketplace calls");
                    }
                }
                _ = purge.tick(), if upkeep.retention.is_some() => {
                    if let Some(keep) = upkeep.retention {
                        purge_older_than(&upkeep.pool, keep).await;
                    }
                }
            }
        }
    });
}

/// Deletes journal rows and counts older than `keep`, batch by batch, until none is left.
pub async fn purge_older_than(pool: &Pool, keep: TimeDelta) {
    let cutoff = crate::db::models::now() - keep;
    let mut deleted = 0_usize;
    loop {
        let batch = db::write(pool, move |conn| -> anyhow::Result<usize> {
            let calls = marketplace_calls::purge_before(conn, cutoff, PURGE_BATCH)?;
            let counts = marketplace_rejections::purge_before(conn, cutoff, PURGE_BATCH)?;
            Ok(calls + counts)
        })
        .await;
        match batch {
            Ok(0) => break,
            Ok(n) => deleted += n,
            Err(e) => {
                tracing::warn!(error = %e, "cannot purge the marketplace journal; next hour again");
                break;
            }
        }
        tokio::time::sleep(PURGE_PAUSE).await;
    }
    if deleted > 0 {
        tracing::info!(
            journal.deleted_rows = deleted,
            journal.cutoff = %crate::domain::times::rfc3339(cutoff),
            "purged marketplace journal rows past their retention"
        );
    }
}
