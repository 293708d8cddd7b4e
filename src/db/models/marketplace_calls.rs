//! The journal of every marketplace call, inbound and outbound. Holds no secrets: codes appear
//! only as hints, and no key, signature or fingerprint is ever written here.

use chrono::NaiveDateTime;
use diesel::dsl::count_star;
use diesel::prelude::*;
use serde::Serialize;

use crate::db::schema::marketplace_calls;
use crate::db::sql_time::SqlTime;
use crate::db::{DbConn, on_backend};

/// Which way the call went.
pub const INBOUND: &str = "inbound";
/// Which way the call went.
pub const OUTBOUND: &str = "outbound";

/// One journalled call.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = marketplace_calls)]
pub struct MarketplaceCall {
    pub id: String,
    pub direction: String,
    pub activity: String,
    pub order_id: Option<String>,
    pub instance_id: Option<String>,
    pub code_hint: Option<String>,
    pub event_id: Option<String>,
    pub result_code: String,
    pub http_status: Option<i64>,
    pub latency_ms: i64,
    pub test_flag: bool,
    pub detail: Option<String>,
    pub created_at: NaiveDateTime,
}

/// A call to journal.
#[derive(Debug, Clone, Default, Insertable, Serialize)]
// `None` is written as NULL, not as DEFAULT (the same for these nullable columns), so the
// statement's text never varies and Diesel caches it prepared.
#[diesel(table_name = marketplace_calls, treat_none_as_default_value = false)]
pub struct NewMarketplaceCall {
    pub id: String,
    pub direction: String,
    pub activity: String,
    pub order_id: Option<String>,
    pub instance_id: Option<String>,
    pub code_hint: Option<String>,
    pub event_id: Option<String>,
    pub result_code: String,
    pub http_status: Option<i64>,
    pub latency_ms: i64,
    pub test_flag: bool,
    pub detail: Option<String>,
    pub created_at: SqlTime,
}

impl NewMarketplaceCall {
    /// A journal entry with a fresh id and the current time; fill in the rest.
    pub fn new(direction: &str, activity: &str, result_code: &str, latency_ms: i64) -> Self {
        Self {
            id: super::new_id(),
            direction: direction.to_owned(),
            activity: activity.to_owned(),
            result_code: result_code.to_owned(),
            latency_ms,
            created_at: super::now().into(),
            ..Self::default()
        }
    }
}

/// Records `call`.
pub fn insert(conn: &mut DbConn, call: &NewMarketplaceCall) -> QueryResult<()> {
    on_backend!(conn, |c| diesel::insert_into(marketplace_calls::table)
        .values(call)
        .execute(c))
    .map(|_| ())
}

/// Deletes up to `batch` calls made before `cutoff`; returns how many went. Batches keep each
/// delete short, so other writers are not held up; a delete another node already made simply
/// finds nothing.
pub fn purge_before(conn: &mut DbConn, cutoff: NaiveDateTime, batch: i64) -> QueryResult<usize> {
    let ids: Vec<String> = marketplace_calls::table
        .filter(marketplace_calls::created_at.lt(cutoff))
        .select(marketplace_calls::id)
        .limit(batch)
        .load(conn)?;
    if ids.is_empty() {
        return Ok(0);
    }
    diesel::delete(marketplace_calls::table.filter(marketplace_calls::id.eq_any(&ids)))
        .execute(conn)
}

/// Result codes that mean the call worked: our `000000` (and `000004`, "being processed",
/// KooGallery's asynchronous success), the license APIs' `92020000`, the order and gateway
/// APIs' `MKT.0000`/`CBC.0000`, and `OK` for calls whose envelope carries no code.
pub const SUCCESS_CODES: &[&str] = &["000000", "000004", "92020000", "MKT.0000", "CBC.0000", "OK"];

/// True when `result_code` is a success.
pub fn is_success(result_code: &str) -> bool {
    SUCCESS_CODES.contains(&result_code)
}

/// Which results [`list`] keeps.
#[derive(Debug, Clone)]
pub enum ResultFilter {
    /// Any of [`SUCCESS_CODES`].
    Ok,
    /// None of [`SUCCESS_CODES`].
    Error,
    /// Exactly this code.
    Code(String),
}

/// Filters for [`list`].
#[derive(Debug, Default, Clone)]
pub struct CallFilter {
    pub direction: Option<String>,
    pub activity: Option<String>,
    pub result: Option<ResultFilter>,
    pub since: Option<NaiveDateTime>,
    /// Only calls before this time.
    pub until: Option<NaiveDateTime>,
    pub order_id: Option<String>,
    pub instance_id: Option<String>,
    pub code_hint: Option<String>,
    /// Only calls older than this id (cursor pagination, newest first).
    pub before_id: Option<String>,
    pub limit: i64,
}

/// Newest calls first, filtered.
pub fn list(conn: &mut DbConn, filter: &CallFilter) -> QueryResult<Vec<MarketplaceCall>> {
    let mut query = marketplace_calls::table.into_boxed();
    if let Some(direction) = &filter.direction {
        query = query.filter(marketplace_calls::direction.eq(direction.clone()));
    }
    if let Some(activity) = &filter.activity {
        query = query.filter(marketplace_calls::activity.eq(activity.clone()));
    }
    match &filter.result {
        Some(ResultFilter::Ok) => {
            query = query.filter(marketplace_calls::result_code.eq_any(SUCCESS_CODES));
        }
        Some(ResultFilter::Error) => {
            query = query.filter(marketplace_calls::result_code.ne_all(SUCCESS_CODES));
        }
        Some(ResultFilter::Code(code)) => {
            query = query.filter(marketplace_calls::result_code.eq(code.clone()));
        }
        None => {}
    }
    if let Some(since) = filter.since {
        query = query.filter(marketplace_calls::created_at.ge(since));
    }
    if let Some(until) = filter.until {
        query = query.filter(marketplace_calls::created_at.lt(until));
    }
    if let Some(order_id) = &filter.order_id {
        query = query.filter(marketplace_calls::order_id.eq(order_id.clone()));
    }
    if let Some(instance_id) = &filter.instance_id {
        query = query.filter(marketplace_calls::instance_id.eq(instance_id.clone()));
    }
    if let Some(hint) = &filter.code_hint {
        query = query.filter(marketplace_calls::code_hint.eq(hint.clone()));
    }
    if let Some(before) = &filter.before_id {
        query = query.filter(marketplace_calls::id.lt(before.clone()));
    }
    query
        .order(marketplace_calls::id.desc())
        .limit(filter.limit)
        .select(MarketplaceCall::as_select())
        .load(conn)
}

/// An inbound call refused before authentication. Such calls are no longer journalled (they are
/// counted in `marketplace_rejections`); rows written by earlier versions are left out of every
/// figure below.
const UNAUTHENTICATED: &str = "000001";

/// `(order id, result code)` of every authenticated, non-test inbound `activity` call since
/// `since`, oldest first: the last one per order is its outcome.
pub fn order_results_since(
    conn: &mut DbConn,
    activity: &str,
    since: NaiveDateTime,
) -> QueryResult<Vec<(Option<String>, String)>> {
    marketplace_calls::table
        .filter(marketplace_calls::direction.eq(INBOUND))
        .filter(marketplace_calls::activity.eq(activity))
        .filter(marketplace_calls::test_flag.eq(false))
        .filter(marketplace_calls::result_code.ne(UNAUTHENTICATED))
        .filter(marketplace_calls::created_at.ge(since))
        .order((
            marketplace_calls::created_at.asc(),
            marketplace_calls::id.asc(),
        ))
        .select((marketplace_calls::order_id, marketplace_calls::result_code))
        .load(conn)
}

/// Calls of one (direction, activity): how many, and the last one's time.
pub type ApiTotal = (String, String, i64, Option<NaiveDateTime>);

/// `(direction, activity, calls, last call)` since `since`, of authenticated calls.
pub fn totals_since(conn: &mut DbConn, since: NaiveDateTime) -> QueryResult<Vec<ApiTotal>> {
    marketplace_calls::table
        .filter(authenticated())
        .filter(marketplace_calls::created_at.ge(since))
        .group_by((marketplace_calls::direction, marketplace_calls::activity))
        .select((
            marketplace_calls::direction,
            marketplace_calls::activity,
            count_star(),
            diesel::dsl::max(marketplace_calls::created_at),
        ))
        .load(conn)
}

/// `(direction, activity, calls)` since `since` of authenticated calls that did not succeed.
pub fn errors_since(
    conn: &mut DbConn,
    since: NaiveDateTime,
) -> QueryResult<Vec<(String, String, i64)>> {
    marketplace_calls::table
        .filter(authenticated())
        .filter(marketplace_calls::created_at.ge(since))
        .filter(marketplace_calls::result_code.ne_all(SUCCESS_CODES))
        .group_by((marketplace_calls::direction, marketplace_calls::activity))
        .select((
            marketplace_calls::direction,
            marketplace_calls::activity,
            count_star(),
        ))
        .load(conn)
}

/// `(direction, activity, last successful call)` over the whole journal.
pub fn last_successes(
    conn: &mut DbConn,
) -> QueryResult<Vec<(String, String, Option<NaiveDateTime>)>> {
    marketplace_calls::table
        .filter(marketplace_calls::result_code.eq_any(SUCCESS_CODES))
        .group_by((marketplace_calls::direction, marketplace_calls::activity))
        .select((
            marketplace_calls::direction,
            marketplace_calls::activity,
            diesel::dsl::max(marketplace_calls::created_at),
        ))
        .load(conn)
}

/// Outbound calls, and inbound ones that passed authentication.
fn authenticated() -> diesel::dsl::Or<
    diesel::dsl::NotEq<marketplace_calls::direction, &'static str>,
    diesel::dsl::NotEq<marketplace_calls::result_code, &'static str>,
> {
    marketplace_calls::direction
        .ne(INBOUND)
        .or(marketplace_calls::result_code.ne(UNAUTHENTICATED))
}
