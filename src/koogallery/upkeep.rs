//! The journal's upkeep, on every node: this node's counts of calls refused before
//! authentication are written every few seconds ([`Rejections::flush`]).

use std::sync::Arc;
use std::time::Duration;

use crate::db::Pool;
use crate::koogallery::callbacks::rejections::Rejections;

/// How often the refused calls counted in memory are written.
pub const FLUSH_EVERY: Duration = Duration::from_secs(10);

/// Starts the upkeep task on the current runtime.
pub fn spawn(pool: Pool, rejections: Arc<Rejections>, node_id: String) {
    actix_web::rt::spawn(async move {
        let mut flush = tokio::time::interval(FLUSH_EVERY);
        flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            flush.tick().await;
            if let Err(e) = rejections.flush(&pool, &node_id).await {
                tracing::warn!(error = %e, "cannot write the counts of refused marketplace calls");
            }
        }
    });
}
