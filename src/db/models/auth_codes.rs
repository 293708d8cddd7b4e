//! License 2.0 authorization codes. The full code is stored (it is the client's credential and
//! KooGallery's key); logs and the journal only ever see [`crate::telemetry::code_hint`].

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use crate::db::ids::CodeId;
use crate::db::schema::auth_codes;
use crate::db::sql_time::{SqlTime, SqlTimeOpt};
use crate::db::text_enum::text_enum;
use crate::db::{DbConn, insert_unless_taken, on_backend};

text_enum! {
    /// Marketplace statuses of a code (`status` column); `frozen` is kept apart because
    /// KooGallery freezes and unfreezes independently of the lifecycle status.
    pub enum CodeStatus {
        /// Valid.
        Alive => "ALIVE",
        /// Past its expiry.
        Expired => "EXPIRED",
        /// Released by KooGallery.
        Released => "RELEASED",
    }
}

impl CodeStatus {
    /// The status KooGallery reported (koogallery.md §3.2.2). Any other word counts as alive
    /// (the expiry still applies): KooGallery may add statuses, and an unknown word must not
    /// lock customers out.
    pub fn reported(raw: &str) -> Self {
        match raw.trim().to_ascii_uppercase().as_str() {
            "EXPIRED" => Self::Expired,
            "RELEASED" => Self::Released,
            _ => Self::Alive,
        }
    }
}

/// One authorization code.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, Serialize)]
// `None` is written as NULL, not as DEFAULT, so the insert's text never varies and stays prepared.
#[diesel(table_name = auth_codes, treat_none_as_default_value = false)]
pub struct AuthCode {
    pub id: CodeId,
    #[serde(skip)]
    pub code: String,
    pub code_hint: String,
    pub status: CodeStatus,
    pub frozen: bool,
    pub activated: bool,
    pub order_id: Option<String>,
    pub product_id: Option<String>,
    pub seats: i64,
    #[diesel(deserialize_as = SqlTimeOpt)]
    pub expires_at: Option<NaiveDateTime>,
    pub last_queried_on: Option<String>,
    #[diesel(deserialize_as = SqlTime)]
    pub created_at: NaiveDateTime,
    #[diesel(deserialize_as = SqlTime)]
    pub updated_at: NaiveDateTime,
    /// Changes with every change to the code's answers (PostgreSQL's triggers; 0 on SQLite):
    /// see [`crate::db::views`].
    #[serde(skip)]
    pub generation: i64,
}

impl AuthCode {
    /// A new row for `code` (with a fresh id), not yet activated, `ALIVE`.
    pub fn unactivated(code: &str, now: NaiveDateTime) -> Self {
        Self {
            id: CodeId::generate(),
            code: code.to_owned(),
            code_hint: crate::telemetry::code_hint(code),
            status: CodeStatus::Alive,
            frozen: false,
            activated: false,
            order_id: None,
            product_id: None,
            seats: crate::service::seats::DEFAULT_SEATS,
            expires_at: None,
            last_queried_on: None,
            created_at: now,
            updated_at: now,
            generation: 0,
        }
    }
}

/// The code's row.
pub fn find_by_code(conn: &mut DbConn, code: &str) -> QueryResult<Option<AuthCode>> {
    on_backend!(conn, |c| auth_codes::table
        .filter(auth_codes::code.eq(code))
        .select(AuthCode::as_select())
        .first(c)
        .optional())
}

/// The code's row by id.
pub fn find(conn: &mut DbConn, id: &CodeId) -> QueryResult<Option<AuthCode>> {
    on_backend!(conn, |c| auth_codes::table
        .find(id)
        .select(AuthCode::as_select())
        .first(c)
        .optional())
}

/// The code's row, created (not yet activated, `ALIVE`) when KooGallery tells us about a code
/// the software never activated.
pub fn find_or_create(conn: &mut DbConn, code: &str, now: NaiveDateTime) -> QueryResult<AuthCode> {
    find_or_insert(conn, code, now).map(|(row, _)| row)
}

/// [`find_or_create`], and whether the row was inserted by this transaction (then no other
/// transaction can see it, let alone bind a machine to it, before our commit).
pub fn find_or_insert(
    conn: &mut DbConn,
    code: &str,
    now: NaiveDateTime,
) -> QueryResult<(AuthCode, bool)> {
    if let Some(found) = find_by_code(conn, code)? {
        return Ok((found, false));
    }
    let new = AuthCode::unactivated(code, now);
    let inserted = insert_new(conn, &new)?;
    if inserted {
        // Ours, and no other transaction sees it before our commit: no need to read it back.
        return Ok((new, true));
    }
    // Another transaction inserted it first: its row, as committed.
    let theirs = find_by_code(conn, code)?.ok_or(diesel::result::Error::NotFound)?;
    Ok((theirs, false))
}

/// Stores `code` as a new row; `Ok(false)`, writing nothing, when its code (or id) is stored
/// already.
pub fn insert_new(conn: &mut DbConn, code: &AuthCode) -> QueryResult<bool> {
    insert_unless_taken!(conn, auth_codes::table, code)
}

/// Locks the code's row for the rest of the transaction and returns it fresh.
///
/// PostgreSQL: `SELECT … FOR UPDATE`, a row lock that other transactions (other nodes too) wait
/// on. SQLite: a plain read, since a write transaction (`BEGIN IMMEDIATE`, or the group commit's)
/// already holds the database's write lock.
pub fn lock(conn: &mut DbConn, id: &CodeId) -> QueryResult<Option<AuthCode>> {
    match conn {
        #[cfg(feature = "postgres")]
        DbConn::Postgres(pg) => auth_codes::table
            .find(id)
            .select(AuthCode::as_select())
            .for_update()
            .first(pg)
            .optional(),
        #[cfg(feature = "sqlite")]
        DbConn::Sqlite(_) => find(conn, id),
    }
}

/// Writes the code's marketplace state (status, activation, order, product, seats, expiry, day
/// of the last query) from `code` in one statement of a fixed shape, which stays prepared.
pub fn store_state(conn: &mut DbConn, code: &AuthCode) -> QueryResult<usize> {
    on_backend!(conn, |c| diesel::update(auth_codes::table.find(&code.id))
        .set((
            auth_codes::status.eq(&code.status),
            auth_codes::activated.eq(code.activated),
            auth_codes::order_id.eq(&code.order_id),
            auth_codes::product_id.eq(&code.product_id),
            auth_codes::seats.eq(code.seats),
            auth_codes::expires_at.eq(code.expires_at),
            auth_codes::last_queried_on.eq(&code.last_queried_on),
            auth_codes::updated_at.eq(code.updated_at),
        ))
        .execute(c))
}

/// [`lock`] by the code itself; `None` when we do not know the code.
pub fn lock_by_code(conn: &mut DbConn, code: &str) -> QueryResult<Option<AuthCode>> {
    match conn {
        #[cfg(feature = "postgres")]
        DbConn::Postgres(pg) => auth_codes::table
            .filter(auth_codes::code.eq(code))
            .select(AuthCode::as_select())
            .for_update()
            .first(pg)
            .optional(),
        #[cfg(feature = "sqlite")]
        DbConn::Sqlite(_) => find_by_code(conn, code),
    }
}

/// What a marketplace answer or callback changes on a code.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = auth_codes)]
pub struct AuthCodeChangeset {
    pub status: Option<CodeStatus>,
    pub frozen: Option<bool>,
    pub activated: Option<bool>,
    pub order_id: Option<Option<String>>,
    pub product_id: Option<Option<String>>,
    pub seats: Option<i64>,
    pub expires_at: Option<Option<NaiveDateTime>>,
    pub last_queried_on: Option<Option<String>>,
    pub updated_at: Option<NaiveDateTime>,
}

/// Applies `changes` to the code.
pub fn update(conn: &mut DbConn, id: &CodeId, changes: &AuthCodeChangeset) -> QueryResult<usize> {
    diesel::update(auth_codes::table.find(id))
        .set(changes)
        .execute(conn)
}

/// What the admin code search filters by; `None` filters nothing.
#[derive(Debug, Default)]
pub struct Search<'a> {
    /// A code prefix, or an exact order or product id.
    pub text: Option<&'a str>,
    /// Lifecycle status.
    pub status: Option<CodeStatus>,
    /// Frozen codes only (KooGallery freezes a code apart from its status).
    pub frozen_only: bool,
    /// Codes with a smaller id than this (the page cursor).
    pub before_id: Option<&'a CodeId>,
}

/// Codes matching `filter`, newest id first, at most `limit`.
pub fn search(conn: &mut DbConn, filter: &Search<'_>, limit: i64) -> QueryResult<Vec<AuthCode>> {
    let mut query = auth_codes::table.into_boxed();
    if let Some(text) = filter.text {
        let prefix = format!("{}%", escape_like(text));
        query = query.filter(
            auth_codes::code
                .like(prefix)
                .escape('\\')
                .or(auth_codes::order_id.eq(text.to_owned()))
                .or(auth_codes::product_id.eq(text.to_owned())),
        );
    }
    if let Some(status) = filter.status {
        query = query.filter(auth_codes::status.eq(status));
    }
    if filter.frozen_only {
        query = query.filter(auth_codes::frozen.eq(true));
    }
    if let Some(cursor) = filter.before_id {
        query = query.filter(auth_codes::id.lt(cursor.clone()));
    }
    query
        .order(auth_codes::id.desc())
        .limit(limit)
        .select(AuthCode::as_select())
        .load(conn)
}

/// `LIKE` metacharacters taken literally.
fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// Takes the day's marketplace query of code `id` for the caller: true when no node had taken
/// it for `day` yet (one conditional update, so two nodes never both query).
pub fn claim_daily_query(conn: &mut DbConn, id: &CodeId, day: &str) -> QueryResult<bool> {
    let not_today = auth_codes::last_queried_on
        .is_null()
        .or(auth_codes::last_queried_on.ne(day));
    let claimed = diesel::update(auth_codes::table.find(id).filter(not_today))
        .set(auth_codes::last_queried_on.eq(day))
        .execute(conn)?;
    Ok(claimed == 1)
}

/// Gives the day's query back (to `previous`) after it failed, unless another day took over.
pub fn unclaim_daily_query(
    conn: &mut DbConn,
    id: &CodeId,
    day: &str,
    previous: Option<String>,
) -> QueryResult<()> {
    diesel::update(
        auth_codes::table
            .find(id)
            .filter(auth_codes::last_queried_on.eq(day)),
    )
    .set(auth_codes::last_queried_on.eq(previous))
    .execute(conn)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::CodeStatus;

    #[test]
    fn a_reported_status_is_read_leniently() {
        assert_eq!(CodeStatus::reported("released"), CodeStatus::Released);
        assert_eq!(CodeStatus::reported(" EXPIRED "), CodeStatus::Expired);
        assert_eq!(CodeStatus::reported("SOMETHING_NEW"), CodeStatus::Alive);
    }
}
