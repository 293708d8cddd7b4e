//! This node's worker: claims due jobs, runs up to [`CONCURRENCY`] at once and records each
//! outcome; told to stop, it claims nothing more, lets running jobs finish within a grace period,
//! then cancels the rest and gives their leases back.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::tasks::{JobError, perform};
use super::{CONCURRENCY, ENSURE_EVERY, IDLE_POLL, LEASE, WAKE, ensure_usage_report, next_run_at};
use crate::db::models::jobs::{self, Job};
use crate::db::{self, Pool};
use crate::koogallery::client::MarketplaceClient;

/// A running worker, from [`spawn_worker`]. Dropping it stops the worker with no grace period.
#[must_use = "dropping a Worker stops it"]
pub struct Worker {
    /// `Some(grace)` once a stop is asked for.
    stop: watch::Sender<Option<Duration>>,
    task: tokio::task::JoinHandle<Stopped>,
}

/// What a stopping worker did with the jobs it was running.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stopped {
    /// Finished within the grace period, their outcomes recorded.
    pub finished: usize,
    /// Still running at its end: cancelled and their leases given back, so the next node to
    /// start runs them at once rather than after the lease.
    pub released: usize,
}

/// Starts this node's worker on the current actix system: it claims and runs due jobs (up to
/// four at once) and, once an hour, makes sure yesterday's and today's usage reports are queued.
pub fn spawn_worker(pool: Pool, client: Arc<MarketplaceClient>, node_id: String) -> Worker {
    let (stop, stop_rx) = watch::channel(None);
    let task = actix_web::rt::spawn(work(pool, client, node_id, stop_rx));
    Worker { stop, task }
}

impl Worker {
    /// Stops the worker: it claims no more jobs (queued ones stay queued), gives the running
    /// ones up to `grace` to finish, then cancels the rest and gives back their leases.
    pub async fn shutdown(self, grace: Duration) -> Stopped {
        // An error means the worker already ended; its task says how.
        let _ = self.stop.send(Some(grace));
        match self.task.await {
            Ok(stopped) => stopped,
            Err(e) => {
                tracing::error!(error = %e, "the job worker ended abnormally");
                Stopped::default()
            }
        }
    }
}

async fn work(
    pool: Pool,
    client: Arc<MarketplaceClient>,
    node_id: String,
    mut stop: watch::Receiver<Option<Duration>>,
) -> Stopped {
    release_leases(
        &pool,
        &node_id,
        "re-queued jobs this node was running when it stopped",
    )
    .await;
    tracing::info!(node.id = %node_id, "job worker started");
    let mut running = JoinSet::new();
    let mut next_ensure = tokio::time::Instant::now();
    let grace = loop {
        if let Some(grace) = stop_asked(&stop) {
            break grace;
        }
        while running.try_join_next().is_some() {}
        if tokio::time::Instant::now() >= next_ensure {
            next_ensure += ENSURE_EVERY;
            ensure_usage_reports(&pool).await;
        }
        if running.len() >= CONCURRENCY {
            tokio::select! {
                _ = stop.changed() => {}
                _ = running.join_next() => {}
            }
            continue;
        }
        match claim(&pool, &node_id).await {
            Ok(Some(job)) => {
                let (pool, client, node_id) = (pool.clone(), Arc::clone(&client), node_id.clone());
                running.spawn_local(async move { execute(&pool, &client, &node_id, job).await });
            }
            Ok(None) => pause(&mut stop, IDLE_POLL).await,
            Err(e) => {
                tracing::warn!(error = %e, "could not claim a job");
                pause(&mut stop, IDLE_POLL * 4).await;
            }
        }
    };
    finish(&pool, &node_id, running, grace).await
}

/// The grace period once a stop was asked for; a dropped [`Worker`] asks for none.
fn stop_asked(stop: &watch::Receiver<Option<Duration>>) -> Option<Duration> {
    let asked = *stop.borrow();
    asked.or_else(|| stop.has_changed().is_err().then_some(Duration::ZERO))
}

/// Waits `pause`, less when work is queued in this process or a stop is asked for.
async fn pause(stop: &mut watch::Receiver<Option<Duration>>, pause: Duration) {
    tokio::select! {
        _ = stop.changed() => {}
        _ = tokio::time::timeout(pause, WAKE.notified()) => {}
    }
}

/// Lets the running jobs finish within `grace`, then cancels the rest and releases their leases.
/// A cancelled call may have reached KooGallery already; every job kind tolerates running again.
async fn finish(pool: &Pool, node_id: &str, mut running: JoinSet<()>, grace: Duration) -> Stopped {
    let at_stop = running.len();
    let _ = tokio::time::timeout(grace, async {
        while running.join_next().await.is_some() {}
    })
    .await;
    let mut stopped = Stopped {
        finished: at_stop - running.len(),
        released: 0,
    };
    if !running.is_empty() {
        running.abort_all();
        while running.join_next().await.is_some() {}
        stopped.released =
            release_leases(pool, node_id, "gave back the leases of unfinished jobs").await;
    }
    tracing::info!(
        jobs.finished = stopped.finished,
        jobs.released = stopped.released,
        "job worker stopped"
    );
    stopped
}

/// Makes the jobs `node_id` holds claimable at once; logs `what` when there were any.
async fn release_leases(pool: &Pool, node_id: &str, what: &'static str) -> usize {
    let node = node_id.to_owned();
    match db::run(pool, move |conn| {
        jobs::release_leases_of(conn, &node).map_err(JobError::from)
    })
    .await
    {
        Ok(0) => 0,
        Ok(n) => {
            tracing::info!(jobs.released = n, "{what}");
            n
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not release this node's leases");
            0
        }
    }
}

async fn ensure_usage_reports(pool: &Pool) {
    let today = Utc::now().date_naive();
    let ensured = db::run(pool, move |conn| -> Result<(), JobError> {
        ensure_usage_report(conn, today - TimeDelta::days(1))?;
        ensure_usage_report(conn, today)?;
        Ok(())
    })
    .await;
    if let Err(e) = ensured {
        tracing::warn!(error = %e, "could not queue the usage reports");
    }
}

/// Claims one due job and runs it to its next state; returns the job as it stands afterwards,
/// or `None` when nothing was due. The worker's step, exposed for tests and tools.
pub async fn run_one(
    pool: &Pool,
    client: &MarketplaceClient,
    node_id: &str,
) -> Result<Option<Job>, db::Unavailable> {
    let Some(job) = claim(pool, node_id)
        .await
        .map_err(|e| db::Unavailable(e.to_string()))?
    else {
        return Ok(None);
    };
    let id = job.id.clone();
    execute(pool, client, node_id, job).await;
    db::run(pool, move |conn| {
        jobs::find(conn, &id).map_err(JobError::from)
    })
    .await
    .map_err(|e| db::Unavailable(e.to_string()))
}

async fn claim(pool: &Pool, node_id: &str) -> Result<Option<Job>, JobError> {
    let node = node_id.to_owned();
    db::run(pool, move |conn| {
        jobs::claim_due(conn, &node, LEASE, db::models::now()).map_err(JobError::from)
    })
    .await
}

/// Runs `job` and records the outcome (done, retry later, or failed), inside a span naming it.
async fn execute(pool: &Pool, client: &MarketplaceClient, node_id: &str, job: Job) {
    let span = tracing::info_span!("job", job.id = %job.id, job.kind = %job.kind, job.attempt = job.attempts);
    tracing::Instrument::instrument(execute_in_span(pool, client, node_id, job), span).await;
}

async fn execute_in_span(pool: &Pool, client: &MarketplaceClient, node_id: &str, job: Job) {
    let result = perform(pool, client, &job).await;
    let (id, node, attempts) = (job.id, node_id.to_owned(), job.attempts);
    let recorded = match &result {
        Ok(()) => {
            db::run(pool, move |conn| {
                jobs::complete(conn, &id, &node)
                    .map(|_| None)
                    .map_err(JobError::from)
            })
            .await
        }
        Err(e) => {
            let next = match e {
                JobError::Permanent(_) => None,
                _ => Some(next_run_at(db::models::now(), attempts)),
            };
            let error = e.to_string();
            db::run(pool, move |conn| {
                jobs::fail(conn, &id, &node, &error, next).map_err(JobError::from)
            })
            .await
        }
    };
    match (result, recorded) {
        (_, Err(e)) => tracing::error!(error = %e, "could not record a job's outcome"),
        (Ok(()), Ok(_)) => tracing::info!("job done"),
        (Err(e), Ok(Some(status))) => {
            tracing::warn!(error = %e, job.status = status.as_str(), "job attempt failed");
        }
        (Err(e), Ok(None)) => {
            tracing::warn!(error = %e, "job attempt failed after its lease ended");
        }
    }
}
