//! `GET /admin/v1/marketplace/health`: what KooGallery will judge us by, seen first.
//!
//! KooGallery delists a product with more than five failed orders in a month. An order failed
//! when KooGallery's last `newInstance` for it this calendar month (UTC) was not answered with
//! success: KooGallery retries a failed call, so a later success clears the order. Debug-console
//! calls (`testFlag`) are not orders and do not count.
//!
//! Calls refused before authentication are not KooGallery's (anyone can send them): they count
//! in no error rate, only in their own figure, `rejected_unauthenticated_24h`.

use std::collections::{BTreeMap, HashMap};

use actix_web::web;
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, TimeDelta, Utc};
use diesel::QueryResult;
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::SupportToken;
use super::common::{ErrorBody, utc_opt};
use super::journal::is_success;
use crate::db::models::jobs::{self, JobKind, JobStatus};
use crate::db::models::{marketplace_calls as calls, marketplace_rejections};
use crate::db::{self, DbConn};
use crate::error::ApiError;
use crate::startup::AppState;

/// More failed orders than this in a calendar month and KooGallery delists the product.
pub const DELISTING_THRESHOLD: i64 = 5;

/// Failed order ids listed in full; the count is always exact.
const MAX_LISTED_ORDERS: usize = 100;

/// The marketplace integration's health.
#[derive(Debug, Serialize, ToSchema)]
pub struct MarketplaceHealth {
    pub generated_at: DateTime<Utc>,
    /// The calendar month counted, `YYYY-MM` (UTC).
    pub month: String,
    /// Orders whose latest `newInstance` this month was not answered with success.
    pub failed_orders_this_month: i64,
    /// KooGallery's limit: more failed orders than this in a month delists the product.
    pub delisting_threshold: i64,
    /// True once the failed orders reach the threshold: the next failure delists.
    pub at_risk: bool,
    /// The failed orders (at most 100).
    pub failed_order_ids: Vec<String>,
    /// Failed `newInstance` calls this month that named no order (authenticated, unparseable).
    pub failed_calls_without_order: i64,
    /// Per API and direction: traffic and errors over the last 24 hours, and the last success.
    /// Calls refused before authentication are not among them.
    pub apis: Vec<ApiHealth>,
    /// Production-interface calls refused before authentication over the last 24 hours.
    pub rejected_unauthenticated_24h: RejectedCalls,
    /// License uploads by status.
    pub uploads: UploadCounts,
    /// Background jobs that gave up, per kind (`upload_license`, `query_order`, `usage_report`).
    pub failed_jobs: BTreeMap<String, i64>,
}

/// One API's numbers.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiHealth {
    /// `inbound` (KooGallery's callbacks) or `outbound` (KooGallery's open APIs).
    pub direction: String,
    pub activity: String,
    pub calls_24h: i64,
    pub errors_24h: i64,
    /// `errors_24h / calls_24h`, 0 without calls.
    pub error_rate_24h: f64,
    pub last_call_at: Option<DateTime<Utc>>,
    /// The last successful call, however long ago.
    pub last_success_at: Option<DateTime<Utc>>,
}

/// Calls refused before authentication (see `GET /admin/v1/marketplace/rejections`).
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct RejectedCalls {
    pub calls: i64,
    /// Calls per reason (`bad_signature`, `stale_timestamp`, `replayed_nonce`, ...).
    pub by_reason: BTreeMap<String, i64>,
}

/// Upload jobs by status.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct UploadCounts {
    pub pending: i64,
    pub running: i64,
    pub done: i64,
    pub failed: i64,
    /// When the oldest upload still waiting was queued; `null` when none waits.
    pub oldest_pending_at: Option<DateTime<Utc>>,
}

/// The first instant of `now`'s calendar month.
fn month_start(now: NaiveDateTime) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(now.year(), now.month(), 1)
        .map_or(now, |d| d.and_time(chrono::NaiveTime::MIN))
}

/// (failed order ids, failed calls without an order) this month.
fn failed_orders(conn: &mut DbConn, since: NaiveDateTime) -> QueryResult<(Vec<String>, i64)> {
    let rows = calls::order_results_since(conn, "newInstance", since)?;
    let mut latest: HashMap<String, bool> = HashMap::new();
    let mut without_order = 0;
    for (order_id, code) in rows {
        match order_id {
            Some(order) => {
                latest.insert(order, is_success(&code));
            }
            None if !is_success(&code) => without_order += 1,
            None => {}
        }
    }
    let mut failed: Vec<String> = latest
        .into_iter()
        .filter(|(_, ok)| !ok)
        .map(|(o, _)| o)
        .collect();
    failed.sort();
    Ok((failed, without_order))
}

type Key = (String, String);

fn entry(
    apis: &mut BTreeMap<Key, ApiHealth>,
    direction: String,
    activity: String,
) -> &mut ApiHealth {
    apis.entry((direction.clone(), activity.clone()))
        .or_insert_with(|| ApiHealth {
            direction,
            activity,
            calls_24h: 0,
            errors_24h: 0,
            error_rate_24h: 0.0,
            last_call_at: None,
            last_success_at: None,
        })
}

fn api_health(conn: &mut DbConn, now: NaiveDateTime) -> QueryResult<Vec<ApiHealth>> {
    let day_ago = now - TimeDelta::hours(24);
    let totals = calls::totals_since(conn, day_ago)?;
    let errors = calls::errors_since(conn, day_ago)?;
    let successes = calls::last_successes(conn)?;
    let mut apis: BTreeMap<Key, ApiHealth> = BTreeMap::new();
    for (direction, activity, n, last) in totals {
        let api = entry(&mut apis, direction, activity);
        api.calls_24h = n;
        api.last_call_at = utc_opt(last);
    }
    for (direction, activity, n) in errors {
        entry(&mut apis, direction, activity).errors_24h = n;
    }
    for (direction, activity, last) in successes {
        entry(&mut apis, direction, activity).last_success_at = utc_opt(last);
    }
    let mut out: Vec<ApiHealth> = apis.into_values().collect();
    for api in &mut out {
        if api.calls_24h > 0 {
            api.error_rate_24h = api.errors_24h as f64 / api.calls_24h as f64;
        }
    }
    Ok(out)
}

fn rejected_since(conn: &mut DbConn, since: NaiveDateTime) -> QueryResult<RejectedCalls> {
    let mut rejected = RejectedCalls::default();
    for (reason, calls) in marketplace_rejections::counts_since(conn, since)? {
        rejected.calls = rejected.calls.saturating_add(calls);
        *rejected.by_reason.entry(reason).or_default() += calls;
    }
    Ok(rejected)
}

fn job_counts(conn: &mut DbConn) -> QueryResult<(UploadCounts, BTreeMap<String, i64>)> {
    let rows = jobs::counts_by_kind_and_status(conn)?;
    let mut uploads = UploadCounts::default();
    let mut failed = BTreeMap::new();
    for (kind, status, n) in rows {
        if status == JobStatus::Failed {
            failed.insert(kind.as_str().to_owned(), n);
        }
        if kind == JobKind::UploadLicense {
            let count = match status {
                JobStatus::Pending => &mut uploads.pending,
                JobStatus::Running => &mut uploads.running,
                JobStatus::Done => &mut uploads.done,
                JobStatus::Failed => &mut uploads.failed,
            };
            *count = n;
        }
    }
    uploads.oldest_pending_at = utc_opt(jobs::oldest_pending(conn, JobKind::UploadLicense)?);
    Ok((uploads, failed))
}

/// The report, as of now: the admin endpoint's answer and the gauges of `/metrics`
/// ([`crate::ops`]).
pub fn report(conn: &mut DbConn) -> Result<MarketplaceHealth, ApiError> {
    let now = crate::db::models::now();
    let start = month_start(now);
    let (failed, without_order) = failed_orders(conn, start)?;
    let count = i64::try_from(failed.len()).unwrap_or(i64::MAX);
    let (uploads, failed_jobs) = job_counts(conn)?;
    Ok(MarketplaceHealth {
        generated_at: now.and_utc(),
        month: start.format("%Y-%m").to_string(),
        failed_orders_this_month: count,
        delisting_threshold: DELISTING_THRESHOLD,
        at_risk: count >= DELISTING_THRESHOLD,
        failed_order_ids: failed.into_iter().take(MAX_LISTED_ORDERS).collect(),
        failed_calls_without_order: without_order,
        apis: api_health(conn, now)?,
        rejected_unauthenticated_24h: rejected_since(conn, now - TimeDelta::hours(24))?,
        uploads,
        failed_jobs,
    })
}

/// Failed orders this month against the delisting threshold, error rates and the last success per
/// API, and failed background work.
#[utoipa::path(
    get,
    path = "/admin/v1/marketplace/health",
    tag = "admin",
    responses(
        (status = 200, description = "The marketplace integration's health", body = MarketplaceHealth),
        (status = 401, description = "Missing, unknown or revoked token", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn health(
    _caller: SupportToken,
    state: web::Data<AppState>,
) -> Result<web::Json<MarketplaceHealth>, ApiError> {
    super::rejections::flush(&state).await;
    let report = db::run(&state.pool, report).await?;
    Ok(web::Json(report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_month_starts_at_midnight_utc_on_the_first() {
        let t = NaiveDate::from_ymd_opt(2026, 11, 23).and_then(|d| d.and_hms_opt(17, 5, 3));
        let start = t.map(month_start);
        assert_eq!(
            start.map(|s| s.to_string()).as_deref(),
            Some("2026-11-01 00:00:00")
        );
    }
}
