//! Marketplace calls refused before authentication, counted rather than journalled: one row per
//! minute, node, interface, activity and reason. Each node writes only its own rows, so adding
//! to a row needs no lock across nodes.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConn;
use crate::db::schema::marketplace_rejections as rejections;

/// One counted minute.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = rejections)]
pub struct Rejection {
    pub id: String,
    /// The minute (UTC) of the first call counted here.
    pub minute: NaiveDateTime,
    pub node_id: String,
    pub interface: String,
    pub activity: String,
    pub reason: String,
    pub calls: i64,
    pub first_seen_at: NaiveDateTime,
    pub last_seen_at: NaiveDateTime,
}

/// Calls to add to a minute's count.
#[derive(Debug, Clone)]
pub struct Tally<'a> {
    pub minute: NaiveDateTime,
    pub node_id: &'a str,
    pub interface: &'a str,
    pub activity: &'a str,
    pub reason: &'a str,
    pub calls: i64,
    pub first_seen_at: NaiveDateTime,
    pub last_seen_at: NaiveDateTime,
}

/// Adds `tally` to its minute's row, creating the row on the minute's first tally.
pub fn add(conn: &mut DbConn, tally: &Tally<'_>) -> QueryResult<()> {
    let key = rejections::minute
        .eq(tally.minute)
        .and(rejections::node_id.eq(tally.node_id))
        .and(rejections::interface.eq(tally.interface))
        .and(rejections::activity.eq(tally.activity))
        .and(rejections::reason.eq(tally.reason));
    let existing: Option<Rejection> = rejections::table
        .filter(key)
        .select(Rejection::as_select())
        .first(conn)
        .optional()?;
    match existing {
        Some(row) => diesel::update(rejections::table.find(&row.id))
            .set((
                rejections::calls.eq(row.calls.saturating_add(tally.calls)),
                rejections::first_seen_at.eq(row.first_seen_at.min(tally.first_seen_at)),
                rejections::last_seen_at.eq(row.last_seen_at.max(tally.last_seen_at)),
            ))
            .execute(conn)
            .map(|_| ()),
        None => diesel::insert_into(rejections::table)
            .values((
                rejections::id.eq(super::new_id()),
                rejections::minute.eq(tally.minute),
                rejections::node_id.eq(tally.node_id),
                rejections::interface.eq(tally.interface),
                rejections::activity.eq(tally.activity),
                rejections::reason.eq(tally.reason),
                rejections::calls.eq(tally.calls),
                rejections::first_seen_at.eq(tally.first_seen_at),
                rejections::last_seen_at.eq(tally.last_seen_at),
            ))
            .execute(conn)
            .map(|_| ()),
    }
}

/// Filters for [`list`].
#[derive(Debug, Default, Clone)]
pub struct RejectionFilter {
    pub interface: Option<String>,
    pub activity: Option<String>,
    pub reason: Option<String>,
    /// Minutes at or after this time.
    pub since: Option<NaiveDateTime>,
    /// Minutes before this time.
    pub until: Option<NaiveDateTime>,
    /// Only rows older than this id (cursor pagination, newest first).
    pub before_id: Option<String>,
    pub limit: i64,
}

/// Newest rows first, filtered.
pub fn list(conn: &mut DbConn, filter: &RejectionFilter) -> QueryResult<Vec<Rejection>> {
    let mut query = rejections::table.into_boxed();
    if let Some(interface) = &filter.interface {
        query = query.filter(rejections::interface.eq(interface.clone()));
    }
    if let Some(activity) = &filter.activity {
        query = query.filter(rejections::activity.eq(activity.clone()));
    }
    if let Some(reason) = &filter.reason {
        query = query.filter(rejections::reason.eq(reason.clone()));
    }
    if let Some(since) = filter.since {
        query = query.filter(rejections::minute.ge(since));
    }
    if let Some(until) = filter.until {
        query = query.filter(rejections::minute.lt(until));
    }
    if let Some(before) = &filter.before_id {
        query = query.filter(rejections::id.lt(before.clone()));
    }
    query
        .order(rejections::id.desc())
        .limit(filter.limit)
        .select(Rejection::as_select())
        .load(conn)
}

/// (reason, calls) of every row of a minute at or after `since`, for summing.
pub fn counts_since(conn: &mut DbConn, since: NaiveDateTime) -> QueryResult<Vec<(String, i64)>> {
    rejections::table
        .filter(rejections::minute.ge(since))
        .select((rejections::reason, rejections::calls))
        .load(conn)
}

/// Deletes up to `batch` rows of minutes before `cutoff`; returns how many went.
pub fn purge_before(conn: &mut DbConn, cutoff: NaiveDateTime, batch: i64) -> QueryResult<usize> {
    let ids: Vec<String> = rejections::table
        .filter(rejections::minute.lt(cutoff))
        .select(rejections::id)
        .limit(batch)
        .load(conn)?;
    if ids.is_empty() {
        return Ok(0);
    }
    diesel::delete(rejections::table.filter(rejections::id.eq_any(&ids))).execute(conn)
}
