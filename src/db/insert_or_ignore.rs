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
    use crate::db::schema::nonces;
    use crate::db::{DbConn, insert_unless_taken};

    fn static_id<Q: QueryId>(_: &Q) -> bool {
        Q::HAS_STATIC_QUERY_ID
    }

    /// The row of a nonce seen (a macro: the tuple's concrete type matters here). Nonces: a
    /// table with a unique key and no foreign key.
    macro_rules! seen {
        ($nonce:expr) => {
            (
                nonces::nonce.eq($nonce),
                nonces::seen_at.eq(chrono::NaiveDateTime::default()),
            )
        };
    }

    #[test]
    fn the_statement_is_found_by_type_where_diesels_upsert_is_rendered_each_time() {
        let ours = InsertOrIgnore(diesel::insert_into(nonces::table).values(seen!("n")));
        assert!(static_id(&ours));
        let diesels = diesel::insert_into(nonces::table)
            .values(seen!("n"))
            .on_conflict_do_nothing();
        assert!(
            !static_id(&diesels),
            "Diesel's upsert got a static id: drop the wrapper"
        );
    }

    #[test]
    fn a_taken_row_is_left_out_and_a_new_one_inserted() {
        let mut db = DbConn::Sqlite(SqliteConnection::establish(":memory:").unwrap());
        crate::db::run_migrations(&mut db).unwrap();
        let mut insert =
            |nonce: &str| insert_unless_taken!(&mut db, nonces::table, seen!(nonce)).unwrap();
        assert!(insert("n1"));
        assert!(!insert("n1"), "the taken row is not inserted again");
        assert!(insert("n2"));
        let seen: Vec<String> = nonces::table
            .select(nonces::nonce)
            .order(nonces::nonce)
            .load(&mut db)
            .unwrap();
        assert_eq!(seen, ["n1", "n2"]);
    }
}
