//! [`super::insert`] on PostgreSQL: every row in one statement.

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Text};
use serde_json::json;

use super::{FirstBinding, REASON};
use crate::db::models::activations::NewActivation;

/// Writes `first` in one statement; `Ok(false)`, having written nothing, when the code's row
/// exists already.
pub fn insert(pg: &mut PgConnection, first: &FirstBinding) -> QueryResult<bool> {
    let rows =
        document(first).map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?;
    let inserted: i64 = OneStatement { rows }.get_result(pg)?;
    Ok(inserted > 0)
}

/// The rows as one JSON document, each keyed by its table's column names, which
/// `jsonb_populate_record` maps onto the table's row type (a column left out would be NULL).
fn document(first: &FirstBinding) -> serde_json::Result<String> {
    let mut code = serde_json::to_value(&first.code)?;
    // Left out of the code's API form: the full code is a secret, the generation internal.
    code["code"] = json!(first.code.code);
    code["generation"] = json!(first.code.generation);
    let license = &first.license;
    Ok(json!({
        "code": code,
        "calls": first.calls,
        "usage": {
            "code_id": first.code.id,
            "day": first.day,
            "client_id": first.activation.fingerprint_sha256,
            "created_at": first.activation.created_at,
        },
        "activation": NewActivation::from(&first.activation),
        "license": license,
        // Its file is the license's, taken from that row rather than sent twice.
        "revision": {
            "id": crate::db::models::new_id(),
            "revision": license.revision,
            "expires_at": license.expires_at,
            "reason": REASON,
            "created_at": license.created_at,
        },
        "events": first.events,
    })
    .to_string())
}

/// The PostgreSQL statement. A row's `SELECT r.*` follows its table's column order, which is
/// the row type `jsonb_populate_record` returns. Each insert draws on the code's (or the
/// binding's) `RETURNING`, so all of them insert nothing when the code's row exists; every
/// sub-statement runs to completion whether or not the final `SELECT` reads it.
const STATEMENT: (&str, &str) = (
    "WITH doc AS (SELECT ",
    "::jsonb AS j), \
     code AS (INSERT INTO auth_codes SELECT r.* FROM doc, \
         jsonb_populate_record(NULL::auth_codes, doc.j->'code') r \
         ON CONFLICT DO NOTHING RETURNING id), \
     calls AS (INSERT INTO marketplace_calls SELECT r.* FROM code, doc, \
         jsonb_populate_recordset(NULL::marketplace_calls, doc.j->'calls') r), \
     usage AS (INSERT INTO code_usage SELECT r.* FROM code, doc, \
         jsonb_populate_record(NULL::code_usage, doc.j->'usage') r), \
     binding AS (INSERT INTO activations SELECT r.* FROM code, doc, \
         jsonb_populate_record(NULL::activations, doc.j->'activation') r RETURNING id), \
     license AS (INSERT INTO licenses SELECT r.* FROM binding, doc, \
         jsonb_populate_record(NULL::licenses, doc.j->'license') r RETURNING id, file), \
     revision AS (INSERT INTO license_revisions \
         (id, license_id, revision, file, expires_at, reason, created_at) \
         SELECT r.id, license.id, r.revision, license.file, r.expires_at, r.reason, r.created_at \
         FROM license, doc, jsonb_populate_record(NULL::license_revisions, doc.j->'revision') r), \
     events AS (INSERT INTO events SELECT r.* FROM code, doc, \
         jsonb_populate_recordset(NULL::events, doc.j->'events') r) \
     SELECT count(*) FROM code",
);

/// [`STATEMENT`] with its one parameter. A query of its own type with a static id, so that
/// Diesel keeps it prepared (its `sql_query` would be parsed and planned on every call).
#[derive(QueryId)]
struct OneStatement {
    rows: String,
}

impl QueryFragment<Pg> for OneStatement {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(STATEMENT.0);
        out.push_bind_param::<Text, _>(&self.rows)?;
        out.push_sql(STATEMENT.1);
        Ok(())
    }
}

impl Query for OneStatement {
    type SqlType = BigInt;
}

impl RunQueryDsl<diesel::PgConnection> for OneStatement {}
