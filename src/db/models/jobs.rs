//! The outbox: durable background jobs with leases, so work survives restarts and crashes and
//! several nodes can share one queue without running a job twice at the same time.
//!
//! A job is `pending` until a node claims it (`running`, with `locked_by` and a lease in
//! `locked_until`), then `done`, or `pending` again after a failure until `max_attempts`, then
//! `failed`. A `running` job whose lease expired (its node died) is claimable again.

use std::time::Duration;

use chrono::{NaiveDateTime, TimeDelta};
use diesel::prelude::*;
use serde::Serialize;

use crate::db::schema::jobs;
use crate::db::text_enum::text_enum;
use crate::db::{DbConn, insert_unless_taken};

text_enum! {
    /// Where a job is in its life.
    pub enum JobStatus {
        /// Waiting to run (maybe not yet due).
        Pending => "pending",
        /// Claimed by a node whose lease has not expired.
        Running => "running",
        /// Finished successfully.
        Done => "done",
        /// Gave up after `max_attempts`; support may [`retry`] it.
        Failed => "failed",
    }
}

text_enum! {
    /// What a job does; its payload's shape follows (see `koogallery::outbox`).
    pub enum JobKind {
        /// Upload a `getLicenseAsync` license.
        UploadLicense => "upload_license",
        /// Fetch an instance's order and apply it.
        QueryOrder => "query_order",
        /// Report a day's active clients per code.
        UsageReport => "usage_report",
    }
}

/// Attempts before a job is `failed` (about 45 minutes of back-off, see `outbox::backoff`).
pub const MAX_ATTEMPTS: i64 = 12;

/// Longest `last_error` kept, so a chatty error cannot grow a row without bound.
const MAX_ERROR_LEN: usize = 2000;

/// How many candidates one [`claim_due`] call tries before giving up to the other claimers.
const CLAIM_CANDIDATES: i64 = 8;

/// One job.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Serialize)]
#[diesel(table_name = jobs)]
pub struct Job {
    pub id: String,
    pub kind: JobKind,
    pub dedupe_key: Option<String>,
    /// JSON, shaped by `kind`.
    pub payload: String,
    pub status: JobStatus,
    /// Claims so far (a claim counts as an attempt even if its node dies).
    pub attempts: i64,
    pub max_attempts: i64,
    /// Not claimable before this time.
    pub run_at: NaiveDateTime,
    pub locked_by: Option<String>,
    pub locked_until: Option<NaiveDateTime>,
    pub last_error: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Insertable)]
// `None` is written as NULL, not as DEFAULT (the same for these nullable columns), so the
// statement's text never varies and Diesel caches it prepared.
#[diesel(table_name = jobs, treat_none_as_default_value = false)]
struct NewJob {
    id: String,
    kind: JobKind,
    dedupe_key: Option<String>,
    payload: String,
    status: JobStatus,
    attempts: i64,
    max_attempts: i64,
    run_at: NaiveDateTime,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

/// Adds a job due at `run_at`. With a `dedupe_key` that already exists, nothing is added and
/// the existing job is returned (whatever its state; see [`requeue`]).
pub fn enqueue(
    conn: &mut DbConn,
    kind: JobKind,
    payload: &serde_json::Value,
    dedupe_key: Option<&str>,
    run_at: NaiveDateTime,
) -> QueryResult<Job> {
    let now = super::now();
    let new = NewJob {
        id: super::new_id(),
        kind,
        dedupe_key: dedupe_key.map(str::to_owned),
        payload: payload.to_string(),
        status: JobStatus::Pending,
        attempts: 0,
        max_attempts: MAX_ATTEMPTS,
        run_at,
        created_at: now,
        updated_at: now,
    };
    let inserted = insert_unless_taken!(conn, jobs::table, &new)?;
    let found = match (inserted, dedupe_key) {
        (false, Some(key)) => find_by_dedupe_key(conn, key)?,
        _ => find(conn, &new.id)?,
    };
    found.ok_or(diesel::result::Error::NotFound)
}

/// The job with this id.
pub fn find(conn: &mut DbConn, id: &str) -> QueryResult<Option<Job>> {
    jobs::table
        .find(id)
        .select(Job::as_select())
        .first(conn)
        .optional()
}

/// The job with this dedupe key.
pub fn find_by_dedupe_key(conn: &mut DbConn, key: &str) -> QueryResult<Option<Job>> {
    jobs::table
        .filter(jobs::dedupe_key.eq(key))
        .select(Job::as_select())
        .first(conn)
        .optional()
}

/// Puts a job that is not running back to `pending`, due now, with its attempts reset. The
/// previous state and error are kept in `last_error` for support. Returns the rows changed
/// (0 when the job is running or does not exist).
///
/// A compare-and-set on the row as read, retried a few times, rather than a read-then-write
/// transaction: on SQLite such a transaction could fail to upgrade its read lock under load.
pub fn requeue(conn: &mut DbConn, id: &str) -> QueryResult<usize> {
    for _ in 0..5 {
        let Some(job) = find(conn, id)? else {
            return Ok(0);
        };
        if job.status == JobStatus::Running {
            return Ok(0);
        }
        let history = if job.status == JobStatus::Pending && job.attempts == 0 {
            job.last_error.clone()
        } else {
            Some(clip(&format!(
                "requeued after {} ({} attempts){}",
                job.status,
                job.attempts,
                job.last_error
                    .as_ref()
                    .map(|e| format!("; before: {e}"))
                    .unwrap_or_default()
            )))
        };
        let now = super::now();
        let changed = diesel::update(
            jobs::table
                .find(id)
                .filter(jobs::status.eq(&job.status))
                .filter(jobs::attempts.eq(job.attempts))
                .filter(jobs::updated_at.eq(job.updated_at)),
        )
        .set((
            jobs::status.eq(JobStatus::Pending),
            jobs::run_at.eq(now),
            jobs::attempts.eq(0),
            jobs::locked_by.eq(None::<String>),
            jobs::locked_until.eq(None::<NaiveDateTime>),
            jobs::last_error.eq(history),
            jobs::updated_at.eq(now),
        ))
        .execute(conn)?;
        if changed == 1 {
            return Ok(1);
        }
    }
    Ok(0)
}

/// Gives back the leases `node_id` holds: called when a node starts, so jobs its previous
/// incarnation was running when it died (kill -9, power loss) run again at once instead of after
/// the lease expires. Returns how many were released.
pub fn release_leases_of(conn: &mut DbConn, node_id: &str) -> QueryResult<usize> {
    diesel::update(
        jobs::table
            .filter(jobs::status.eq(JobStatus::Running))
            .filter(jobs::locked_by.eq(node_id)),
    )
    .set((
        jobs::status.eq(JobStatus::Pending),
        jobs::locked_by.eq(None::<String>),
        jobs::locked_until.eq(None::<NaiveDateTime>),
        jobs::run_at.eq(super::now()),
    ))
    .execute(conn)
}

/// Claims one due job for `node_id` until `now + lease`: a `pending` job whose `run_at` has
/// come, or a `running` job whose lease expired. Atomic across nodes on both backends: the
/// claiming `UPDATE` repeats the due condition, so of two nodes racing for a candidate only one
/// changes a row (SQLite serialises writers; PostgreSQL re-checks the condition on the row
/// version it waited for). The loser tries the next candidate.
pub fn claim_due(
    conn: &mut DbConn,
    node_id: &str,
    lease: Duration,
    now: NaiveDateTime,
) -> QueryResult<Option<Job>> {
    // Written as a macro because the boxed-expression type of this filter is unwieldy.
    macro_rules! due {
        () => {
            jobs::status
                .eq(JobStatus::Pending)
                .and(jobs::run_at.le(now))
                .or(jobs::status
                    .eq(JobStatus::Running)
                    .and(jobs::locked_until.lt(now)))
        };
    }
    let lease = TimeDelta::from_std(lease).unwrap_or(TimeDelta::MAX);
    let until = now.checked_add_signed(lease).unwrap_or(NaiveDateTime::MAX);
    // Only kinds this build knows: during a rolling upgrade an older node leaves a newer kind's
    // jobs to the nodes that can run them instead of failing them.
    let candidates: Vec<String> = jobs::table
        .filter(due!())
        .filter(jobs::kind.eq_any(JobKind::ALL))
        .order((jobs::run_at.asc(), jobs::id.asc()))
        .select(jobs::id)
        .limit(CLAIM_CANDIDATES)
        .load(conn)?;
    for id in candidates {
        let won = diesel::update(jobs::table.find(&id).filter(due!()))
            .set((
                jobs::status.eq(JobStatus::Running),
                jobs::locked_by.eq(node_id),
                jobs::locked_until.eq(until),
                jobs::attempts.eq(jobs::attempts + 1),
                jobs::updated_at.eq(now),
            ))
            .execute(conn)?;
        if won == 1 {
            return find(conn, &id);
        }
    }
    Ok(None)
}

/// Marks a job `node` holds as `done`. Returns false when `node` no longer held it (its lease
/// expired and another node took it, or support re-queued it).
pub fn complete(conn: &mut DbConn, id: &str, node: &str) -> QueryResult<bool> {
    let now = super::now();
    diesel::update(held(id, node))
        .set((
            jobs::status.eq(JobStatus::Done),
            jobs::locked_by.eq(None::<String>),
            jobs::locked_until.eq(None::<NaiveDateTime>),
            jobs::updated_at.eq(now),
        ))
        .execute(conn)
        .map(|n| n == 1)
}

/// Records a failed attempt of a job `node` holds: `failed` when its attempts are used up or
/// `next_run_at` is `None` (no point retrying), otherwise `pending` again at `next_run_at`.
/// Returns the new status, or `None` when `node` no longer held the job.
pub fn fail(
    conn: &mut DbConn,
    id: &str,
    node: &str,
    error: &str,
    next_run_at: Option<NaiveDateTime>,
) -> QueryResult<Option<JobStatus>> {
    let now = super::now();
    let error = clip(error);
    let release = (
        jobs::locked_by.eq(None::<String>),
        jobs::locked_until.eq(None::<NaiveDateTime>),
        jobs::last_error.eq(Some(error)),
        jobs::updated_at.eq(now),
    );
    let given_up = match next_run_at {
        None => diesel::update(held(id, node))
            .set((jobs::status.eq(JobStatus::Failed), release.clone()))
            .execute(conn)?,
        Some(_) => diesel::update(held(id, node).filter(jobs::attempts.ge(jobs::max_attempts)))
            .set((jobs::status.eq(JobStatus::Failed), release.clone()))
            .execute(conn)?,
    };
    if given_up == 1 {
        return Ok(Some(JobStatus::Failed));
    }
    let Some(next) = next_run_at else {
        return Ok(None);
    };
    let retried = diesel::update(held(id, node))
        .set((
            jobs::status.eq(JobStatus::Pending),
            jobs::run_at.eq(next),
            release,
        ))
        .execute(conn)?;
    Ok((retried == 1).then_some(JobStatus::Pending))
}

/// Puts a `failed` job back to `pending`, due now, with fresh attempts (support's retry).
/// Returns false when the job is not `failed`.
pub fn retry(conn: &mut DbConn, id: &str) -> QueryResult<bool> {
    let now = super::now();
    diesel::update(
        jobs::table
            .find(id)
            .filter(jobs::status.eq(JobStatus::Failed)),
    )
    .set((
        jobs::status.eq(JobStatus::Pending),
        jobs::run_at.eq(now),
        jobs::attempts.eq(0),
        jobs::updated_at.eq(now),
    ))
    .execute(conn)
    .map(|n| n == 1)
}

/// Jobs newest first, optionally of one kind and status, older than the `before_id` cursor.
pub fn list(
    conn: &mut DbConn,
    kind: Option<JobKind>,
    status: Option<JobStatus>,
    before_id: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<Job>> {
    let mut query = jobs::table.into_boxed();
    if let Some(kind) = kind {
        query = query.filter(jobs::kind.eq(kind));
    }
    if let Some(status) = status {
        query = query.filter(jobs::status.eq(status));
    }
    if let Some(before) = before_id {
        query = query.filter(jobs::id.lt(before.to_owned()));
    }
    query
        .order(jobs::id.desc())
        .limit(limit)
        .select(Job::as_select())
        .load(conn)
}

/// The query of [`held`].
type Held<'a> = diesel::dsl::Filter<
    diesel::dsl::Filter<
        diesel::dsl::Find<jobs::table, &'a str>,
        diesel::dsl::Eq<jobs::status, JobStatus>,
    >,
    diesel::dsl::Eq<jobs::locked_by, &'a str>,
>;

/// The job `id` while `node` holds it.
fn held<'a>(id: &'a str, node: &'a str) -> Held<'a> {
    jobs::table
        .find(id)
        .filter(jobs::status.eq(JobStatus::Running))
        .filter(jobs::locked_by.eq(node))
}

fn clip(text: &str) -> String {
    text.chars().take(MAX_ERROR_LEN).collect()
}

/// `(kind, status, jobs)` over the whole queue.
pub fn counts_by_kind_and_status(conn: &mut DbConn) -> QueryResult<Vec<(JobKind, JobStatus, i64)>> {
    jobs::table
        .group_by((jobs::kind, jobs::status))
        .select((jobs::kind, jobs::status, diesel::dsl::count_star()))
        .load(conn)
}

/// When the oldest job of `kind` still waiting (pending, retries included) was queued.
pub fn oldest_pending(conn: &mut DbConn, kind: JobKind) -> QueryResult<Option<NaiveDateTime>> {
    jobs::table
        .filter(jobs::kind.eq(kind))
        .filter(jobs::status.eq(JobStatus::Pending))
        .select(diesel::dsl::min(jobs::created_at))
        .first(conn)
}
