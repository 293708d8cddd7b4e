//! Admin API tokens. Only the SHA-256 of a token is stored: the token itself is shown once, when
//! it is created, and a leaked database cannot be replayed against the API.

use chrono::{NaiveDateTime, TimeDelta};
use diesel::prelude::*;

use crate::db::DbConn;
use crate::db::schema::admin_tokens;

/// One token (without its secret, which is never stored).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = admin_tokens)]
pub struct AdminToken {
    pub id: String,
    /// Who holds it; the audit log's `actor`.
    pub name: String,
    /// `support` or `admin`.
    pub role: String,
    /// Hex SHA-256 of the token; never leaves the server.
    pub token_sha256: String,
    pub created_at: NaiveDateTime,
    /// Updated at most once a minute, see [`touch`].
    pub last_used_at: Option<NaiveDateTime>,
    /// Set when the token was revoked; it is refused from then on.
    pub revoked_at: Option<NaiveDateTime>,
}

/// A token to store.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = admin_tokens)]
pub struct NewAdminToken<'a> {
    pub id: String,
    pub name: &'a str,
    pub role: &'a str,
    pub token_sha256: &'a str,
    pub created_at: NaiveDateTime,
}

/// Stores `token`.
pub fn insert(conn: &mut DbConn, token: &NewAdminToken<'_>) -> QueryResult<usize> {
    diesel::insert_into(admin_tokens::table)
        .values(token)
        .execute(conn)
}

/// The token with this id.
pub fn find(conn: &mut DbConn, id: &str) -> QueryResult<Option<AdminToken>> {
    admin_tokens::table
        .find(id)
        .select(AdminToken::as_select())
        .first(conn)
        .optional()
}

/// The token whose SHA-256 is `token_sha256` (revoked or not).
pub fn find_by_hash(conn: &mut DbConn, token_sha256: &str) -> QueryResult<Option<AdminToken>> {
    admin_tokens::table
        .filter(admin_tokens::token_sha256.eq(token_sha256))
        .select(AdminToken::as_select())
        .first(conn)
        .optional()
}

/// True when a token that is not revoked carries `name`.
pub fn live_name_exists(conn: &mut DbConn, name: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        admin_tokens::table
            .filter(admin_tokens::name.eq(name))
            .filter(admin_tokens::revoked_at.is_null()),
    ))
    .get_result(conn)
}

/// Tokens newest first, older than the `before_id` cursor.
pub fn list(
    conn: &mut DbConn,
    before_id: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<AdminToken>> {
    let mut query = admin_tokens::table.into_boxed();
    if let Some(before) = before_id {
        query = query.filter(admin_tokens::id.lt(before.to_owned()));
    }
    query
        .order(admin_tokens::id.desc())
        .limit(limit)
        .select(AdminToken::as_select())
        .load(conn)
}

/// Revokes the token; returns false when it was already revoked (or does not exist).
pub fn revoke(conn: &mut DbConn, id: &str, now: NaiveDateTime) -> QueryResult<bool> {
    diesel::update(
        admin_tokens::table
            .find(id)
            .filter(admin_tokens::revoked_at.is_null()),
    )
    .set(admin_tokens::revoked_at.eq(now))
    .execute(conn)
    .map(|n| n == 1)
}

/// Records a use of the token unless one was recorded in the last `every`: one write per token
/// per interval rather than one per request. Returns true when it wrote.
pub fn touch(
    conn: &mut DbConn,
    id: &str,
    now: NaiveDateTime,
    every: TimeDelta,
) -> QueryResult<bool> {
    let stale = now - every;
    diesel::update(
        admin_tokens::table.find(id).filter(
            admin_tokens::last_used_at
                .is_null()
                .or(admin_tokens::last_used_at.lt(stale)),
        ),
    )
    .set(admin_tokens::last_used_at.eq(now))
    .execute(conn)
    .map(|n| n == 1)
}
