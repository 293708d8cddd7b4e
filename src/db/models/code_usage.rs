//! Distinct clients seen per code per UTC day: what the daily usage report (koogallery.md §3.2.3)
//! counts. One row per (code, day, client); the primary key makes a repeat a no-op on any node.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::db::ids::CodeId;
use crate::db::schema::{auth_codes, code_usage};
use crate::db::sql_time::SqlTime;
use crate::db::{DbConn, insert_unless_taken, on_backend};

/// The `day` column's form of a UTC date: `YYYY-MM-DD`.
pub fn day_key(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

/// True when the client was already counted for the code on `day`.
pub fn seen(conn: &mut DbConn, code_id: &CodeId, day: &str, client_id: &str) -> QueryResult<bool> {
    on_backend!(conn, |c| diesel::select(diesel::dsl::exists(
        code_usage::table
            .filter(code_usage::code_id.eq(code_id))
            .filter(code_usage::day.eq(day))
            .filter(code_usage::client_id.eq(client_id)),
    ))
    .get_result(c))
}

/// Counts the client for the code on `day`; `Ok(false)` when it already was.
pub fn record(
    conn: &mut DbConn,
    code_id: &CodeId,
    day: &str,
    client_id: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    insert_unless_taken!(
        conn,
        code_usage::table,
        (
            code_usage::code_id.eq(code_id),
            code_usage::day.eq(day),
            code_usage::client_id.eq(client_id),
            code_usage::created_at.eq(SqlTime(now)),
        )
    )
}

/// Distinct clients of the code on `day`.
pub fn clients_on(conn: &mut DbConn, code_id: &CodeId, day: &str) -> QueryResult<i64> {
    code_usage::table
        .filter(code_usage::code_id.eq(code_id))
        .filter(code_usage::day.eq(day))
        .count()
        .get_result(conn)
}

/// Machines seen per code on `day` (`yyyy-mm-dd`), by full code in code order: the usage report.
pub fn machines_per_code(conn: &mut DbConn, day: &str) -> QueryResult<Vec<(String, i64)>> {
    code_usage::table
        .inner_join(auth_codes::table)
        .filter(code_usage::day.eq(day))
        .group_by(auth_codes::code)
        .select((
            auth_codes::code,
            diesel::dsl::count_distinct(code_usage::client_id),
        ))
        .order(auth_codes::code.asc())
        .load(conn)
}
