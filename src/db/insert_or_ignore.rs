//! `INSERT … ON CONFLICT DO NOTHING` that stays prepared.
//!
//! Diesel gives every `ON CONFLICT` statement a dynamic query id (`OnConflictValues` has no
//! static one, whatever its parts), so each execution rendered the whole SQL again, escaping
//! every identifier, to look the prepared statement up by its text: a sixth of the SQLite
//! writer's time on a first activation, which inserts six rows this way. [`InsertOrIgnore`]
//! appends the clause to a plain insert instead, whose id is static exactly when its values'
//! shape is fixed (no column left to its default), so the statement cache finds it by type.

use diesel::backend::Backend;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::{QueryResult, RunQueryDsl};

/// A plain `INSERT` statement `Q` followed by `ON CONFLICT DO NOTHING` (SQLite and PostgreSQL
/// alike): a row that would break a unique constraint is left out, and the statement reports 0
/// rows.
#[derive(Debug, Clone, Copy)]
pub struct InsertOrIgnore<Q>(pub Q);

impl<Q: QueryId> QueryId for InsertOrIgnore<Q> {
    type QueryId = InsertOrIgnore<Q::QueryId>;
    // The clause is constant text: the SQL is as fixed as the insert's.
    const HAS_STATIC_QUERY_ID: bool = Q::HAS_STATIC_QUERY_ID;
}

impl<Q, DB> QueryFragment<DB> for InsertOrIgnore<Q>
where
    DB: Backend,
    Q: QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.0.walk_ast(out.reborrow())?;
        out.push_sql(" ON CONFLICT DO NOTHING");
        Ok(())
    }
}

impl<Q, Conn> RunQueryDsl<Conn> for InsertOrIgnore<Q> {}

#[cfg(all(test, feature = "sqlite"))]
#[expect(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use diesel::prelude::*;
    use diesel::query_builder::QueryId;

    use super::InsertOrIgnore;
    use crate::db::schema::code_usage;

    fn static_id<Q: QueryId>(_: &Q) -> bool {
        Q::HAS_STATIC_QUERY_ID
    }

    /// A code's usage row of `client` (a macro: the tuple's concrete type matters here).
    macro_rules! usage {
        ($client:expr) => {
            (
                code_usage::code_id.eq("code-1"),
                code_usage::day.eq("2026-12-06"),
                code_usage::client_id.eq($client),
                code_usage::created_at.eq(chrono::NaiveDateTime::default()),
            )
        };
    }

    #[test]
    fn the_statement_is_found_by_type_where_diesels_upsert_is_rendered_each_time() {
        let ours = InsertOrIgnore(diesel::insert_into(code_usage::table).values(usage!("m")));
        assert!(static_id(&ours));
        let diesels = diesel::insert_into(code_usage::table)
            .values(usage!("m"))
            .on_conflict_do_nothing();
        assert!(
            !static_id(&diesels),
            "Diesel's upsert got a static id: drop the wrapper"
        );
    }

    #[test]
    fn a_taken_row_is_left_out_and_a_new_one_inserted() {
        let mut conn = SqliteConnection::establish(":memory:").unwrap();
        diesel::sql_query(
            "CREATE TABLE code_usage (code_id TEXT NOT NULL, day TEXT NOT NULL, \
             client_id TEXT NOT NULL, created_at TIMESTAMP NOT NULL, \
             PRIMARY KEY (code_id, day, client_id))",
        )
        .execute(&mut conn)
        .unwrap();
        let mut insert = |client: &str| {
            InsertOrIgnore(diesel::insert_into(code_usage::table).values(usage!(client)))
                .execute(&mut conn)
                .unwrap()
        };
        assert_eq!(insert("m1"), 1);
        assert_eq!(insert("m1"), 0, "the taken row is not inserted again");
        assert_eq!(insert("m2"), 1);
        let clients: Vec<String> = code_usage::table
            .select(code_usage::client_id)
            .order(code_usage::client_id)
            .load(&mut conn)
            .unwrap();
        assert_eq!(clients, ["m1", "m2"]);
    }
}
