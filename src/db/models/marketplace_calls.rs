//! The journal of every marketplace call, inbound and outbound. Holds no secrets: codes appear
//! only as hints, and no key, signature or fingerprint is ever written here.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use crate::db::schema::marketplace_calls;
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
#[derive(Debug, Clone, Default, Insertable)]
#[diesel(table_name = marketplace_calls)]
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
    pub created_at: NaiveDateTime,
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
            created_at: super::now(),
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

/// Filters for [`list`].
#[derive(Debug, Default, Clone)]
pub struct CallFilter {
    pub direction: Option<String>,
    pub activity: Option<String>,
    pub result_code: Option<String>,
    pub since: Option<NaiveDateTime>,
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
    if let Some(result) = &filter.result_code {
        query = query.filter(marketplace_calls::result_code.eq(result.clone()));
    }
    if let Some(since) = filter.since {
        query = query.filter(marketplace_calls::created_at.ge(since));
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
