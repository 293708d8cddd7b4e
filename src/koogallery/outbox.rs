//! Durable background work with `KooGallery`: license uploads, order queries and the daily
//! usage report, queued in the `jobs` table (see [`crate::db::models::jobs`]).
//!
//! Callbacks enqueue inside their own transaction, so a job exists exactly when the change that
//! needs it was committed. A worker per node claims due jobs with a lease; a node killed with
//! `kill -9` leaves its job `running` until the lease expires, then any node re-claims it (the
//! same node, restarted with the same `KOOLICENSE_NODE_ID`, at once). A node stopped with SIGTERM
//! claims nothing more and lets its running jobs finish or gives their leases back. All
//! jobs are idempotent on the marketplace's side (an upload replaces, a usage total is a total),
//! so a lease that runs out under a slow call costs at most a repeated call.

mod tasks;
mod worker;

use std::time::Duration;

use chrono::{NaiveDate, NaiveDateTime, SubsecRound, TimeDelta};
use diesel::prelude::*;
use rand::Rng;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

pub use self::worker::{Stopped, Worker, run_one, spawn_worker};
use crate::db::ids::{InstanceId, LicenseId};
use crate::db::models::jobs::{self, JobKind, JobStatus};
use crate::db::{self, DbConn};

/// How long a claimed job is ours before another node may take it over.
pub const LEASE: Duration = Duration::from_secs(60);
/// Poll interval when the queue is empty (a [`wake`] cuts it short).
const IDLE_POLL: Duration = Duration::from_millis(250);
/// Jobs one node runs at once.
const CONCURRENCY: usize = 4;
/// How long a stopping worker lets its running jobs finish before it gives their leases back.
/// A job's calls give up after `KOOLICENSE_MARKETPLACE_TIMEOUT_MS` per host (3 s, 6 s with the
/// fallback), so a job nearly always finishes; it stays well inside the 30 s that Kubernetes
/// and most supervisors allow between SIGTERM and SIGKILL.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// How often the worker makes sure the usage-report jobs exist.
const ENSURE_EVERY: Duration = Duration::from_secs(3600);
/// First retry delay; doubles per attempt.
const BACKOFF_BASE: Duration = Duration::from_secs(2);
/// Longest retry delay.
const BACKOFF_CAP: Duration = Duration::from_secs(15 * 60);

/// Wakes idle workers of this process, so freshly queued work starts without waiting a poll.
static WAKE: Notify = Notify::const_new();

/// Payload of [`JobKind::UploadLicense`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadLicense {
    /// `licenses.id`; the file is read when the job runs, so a re-queue sends the current one.
    pub license_id: LicenseId,
    /// `getLicenseAsync`'s `eventId`.
    pub event_id: String,
}

/// Payload of [`JobKind::QueryOrder`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryOrder {
    /// The instance whose terms the order sets.
    pub instance_id: InstanceId,
    /// The order to fetch.
    pub order_id: String,
    /// The line of it that is the instance.
    pub order_line_id: String,
}

/// Payload of [`JobKind::UsageReport`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageReport {
    /// The UTC day reported, `YYYY-MM-DD` (as in `code_usage.day`).
    pub day: String,
}

/// Wakes an idle worker of this process.
pub fn wake() {
    WAKE.notify_one();
}

/// Queues the upload of license `license_id` for `event_id`. A repeat (`getLicenseAsync`
/// called again) re-queues an upload that is pending, done or failed; one that is running is
/// left alone.
pub fn enqueue_upload(
    conn: &mut DbConn,
    license_id: &LicenseId,
    event_id: &str,
) -> QueryResult<()> {
    let payload = UploadLicense {
        license_id: license_id.clone(),
        event_id: event_id.to_owned(),
    };
    let key = format!("upload:{license_id}");
    let job = jobs::enqueue(
        conn,
        JobKind::UploadLicense,
        &to_json(&payload),
        Some(&key),
        db::models::now(),
    )?;
    if job.status != JobStatus::Running {
        jobs::requeue(conn, &job.id)?;
    }
    wake();
    Ok(())
}

/// Queues fetching the order line of instance `instance_id`; a repeat is a no-op unless the
/// earlier job failed for good, which it re-queues.
pub fn enqueue_order_query(
    conn: &mut DbConn,
    instance_id: &InstanceId,
    order_id: &str,
    order_line_id: &str,
) -> QueryResult<()> {
    let payload = QueryOrder {
        instance_id: instance_id.clone(),
        order_id: order_id.to_owned(),
        order_line_id: order_line_id.to_owned(),
    };
    let key = format!("order:{order_id}:{order_line_id}:{instance_id}");
    let job = jobs::enqueue(
        conn,
        JobKind::QueryOrder,
        &to_json(&payload),
        Some(&key),
        db::models::now(),
    )?;
    if job.status == JobStatus::Failed {
        jobs::requeue(conn, &job.id)?;
    }
    wake();
    Ok(())
}

/// Makes sure the usage report of `day` is queued, due at 00:10 UTC the next day (when the
/// day's check-ins are complete).
pub fn ensure_usage_report(conn: &mut DbConn, day: NaiveDate) -> QueryResult<()> {
    let payload = UsageReport {
        day: day.format("%Y-%m-%d").to_string(),
    };
    let key = format!("usage:{}", payload.day);
    let run_at = (day + TimeDelta::days(1))
        .and_hms_opt(0, 10, 0)
        .unwrap_or_default();
    jobs::enqueue(
        conn,
        JobKind::UsageReport,
        &to_json(&payload),
        Some(&key),
        run_at,
    )
    .map(|_| ())
}

/// The delay before retrying a job that has failed `attempts` times: 2 s doubling per attempt,
/// `jitter` (clamped to −1…1) scaling it by up to ±25 % so failed jobs do not retry in lockstep,
/// never more than 15 minutes.
pub fn backoff(attempts: i64, jitter: f64) -> Duration {
    let exponent = u32::try_from(attempts.saturating_sub(1).clamp(0, 20)).unwrap_or(20);
    let base = BACKOFF_BASE
        .saturating_mul(2u32.saturating_pow(exponent))
        .min(BACKOFF_CAP);
    base.mul_f64(1.0 + 0.25 * jitter.clamp(-1.0, 1.0))
        .min(BACKOFF_CAP)
}

/// When a job that has failed `attempts` times runs next, with random jitter; microsecond
/// precision, as stored.
pub fn next_run_at(now: NaiveDateTime, attempts: i64) -> NaiveDateTime {
    let delay = backoff(attempts, rand::thread_rng().gen_range(-1.0..=1.0));
    let delay = TimeDelta::from_std(delay).unwrap_or(TimeDelta::MAX);
    now.checked_add_signed(delay)
        .unwrap_or(NaiveDateTime::MAX)
        .trunc_subsecs(6)
}

fn to_json<T: Serialize>(payload: &T) -> serde_json::Value {
    serde_json::to_value(payload).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_two_seconds() {
        assert_eq!(backoff(1, 0.0), Duration::from_secs(2));
        assert_eq!(backoff(2, 0.0), Duration::from_secs(4));
        assert_eq!(backoff(5, 0.0), Duration::from_secs(32));
        assert_eq!(backoff(9, 0.0), Duration::from_secs(512));
    }

    #[test]
    fn backoff_is_capped_at_fifteen_minutes() {
        assert_eq!(backoff(10, 0.0), BACKOFF_CAP);
        assert_eq!(backoff(10, 1.0), BACKOFF_CAP);
        assert_eq!(backoff(i64::MAX, 0.0), BACKOFF_CAP);
        assert!(backoff(10, -1.0) >= BACKOFF_CAP.mul_f64(0.75));
    }

    #[test]
    fn jitter_stays_within_a_quarter() {
        assert_eq!(backoff(3, 1.0), Duration::from_secs(10));
        assert_eq!(backoff(3, -1.0), Duration::from_secs(6));
        assert_eq!(backoff(3, 7.0), Duration::from_secs(10));
        assert_eq!(backoff(0, 0.0), Duration::from_secs(2));
        assert_eq!(backoff(-3, 0.0), Duration::from_secs(2));
    }

    #[test]
    fn next_run_is_in_the_jitter_window() {
        let now = db::models::now();
        for attempts in 1..15 {
            // Truncation to microseconds may shave off less than one.
            let wait = (next_run_at(now, attempts) - now)
                .to_std()
                .unwrap_or_default()
                + Duration::from_micros(1);
            let nominal = backoff(attempts, 0.0);
            assert!(wait >= nominal.mul_f64(0.75));
            assert!(wait <= nominal.mul_f64(1.25).min(BACKOFF_CAP) + Duration::from_micros(1));
        }
    }

    #[test]
    fn the_retry_budget_is_about_three_quarters_of_an_hour() {
        let total: Duration = (1..jobs::MAX_ATTEMPTS).map(|a| backoff(a, 0.0)).sum();
        assert!(total > Duration::from_secs(40 * 60) && total < Duration::from_secs(50 * 60));
    }
}
