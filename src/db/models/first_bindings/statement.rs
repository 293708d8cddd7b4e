//! [`super::insert_all`] on PostgreSQL: the rows of many first bindings in one statement.

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::Text;
use serde_json::json;

use super::{FirstBinding, REASON};
use crate::db::models::activations::NewActivation;

/// Writes every binding of `firsts` whose code's row does not exist yet, in one statement; for
/// each, whether it was written.
pub fn insert_all(pg: &mut PgConnection, firsts: &[FirstBinding]) -> QueryResult<Vec<bool>> {
    // In the codes' order: two nodes' statements then take the codes' index entries in the same
    // order and wait on each other (the same new code) without ever waiting in a circle.
    let mut order: Vec<usize> = (0..firsts.len()).collect();
    order.sort_by(|&a, &b| firsts[a].code.code.cmp(&firsts[b].code.code));
    let items = order
        .iter()
        .map(|&i| item(&firsts[i]))
        .collect::<serde_json::Result<Vec<_>>>()
        .map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?;
    let rows = serde_json::Value::Array(items).to_string();
    let written: Vec<String> = Statement { rows }.load(pg)?;
    Ok(firsts
        .iter()
        .map(|first| written.iter().any(|id| id == first.code.id.as_str()))
        .collect())
}

/// One binding's rows as JSON, each keyed by its table's column names, which
/// `jsonb_populate_record` maps onto the table's row type (a column left out would be NULL).
fn item(first: &FirstBinding) -> serde_json::Result<serde_json::Value> {
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
    }))
}

/// The PostgreSQL statement over a JSON array of [`item`]s. A row's `SELECT r.*` follows its
/// table's column order, which is the row type `jsonb_populate_record` returns. The codes'
/// insert skips a code whose row exists (or an earlier item's same code); `won` is the items
/// whose code it inserted, and every other insert draws on it, so an item that lost writes
/// nothing. Every sub-statement runs to completion whether or not the final `SELECT` reads it.
const STATEMENT: (&str, &str) = (
    "WITH items AS (SELECT e.j FROM jsonb_array_elements(",
    "::jsonb) AS e(j)), \
     code AS (INSERT INTO auth_codes SELECT r.* FROM items, \
         jsonb_populate_record(NULL::auth_codes, items.j->'code') r \
         ON CONFLICT DO NOTHING RETURNING id), \
     won AS (SELECT items.j FROM items JOIN code ON code.id = items.j->'code'->>'id'), \
     calls AS (INSERT INTO marketplace_calls SELECT r.* FROM won, \
         jsonb_populate_recordset(NULL::marketplace_calls, won.j->'calls') r), \
     usage AS (INSERT INTO code_usage SELECT r.* FROM won, \
         jsonb_populate_record(NULL::code_usage, won.j->'usage') r), \
     binding AS (INSERT INTO activations SELECT r.* FROM won, \
         jsonb_populate_record(NULL::activations, won.j->'activation') r), \
     license AS (INSERT INTO licenses SELECT r.* FROM won, \
         jsonb_populate_record(NULL::licenses, won.j->'license') r RETURNING id, file), \
     revision AS (INSERT INTO license_revisions \
         (id, license_id, revision, file, expires_at, reason, created_at) \
         SELECT r.id, license.id, r.revision, license.file, r.expires_at, r.reason, r.created_at \
         FROM won JOIN license ON license.id = won.j->'license'->>'id', \
         jsonb_populate_record(NULL::license_revisions, won.j->'revision') r), \
     events AS (INSERT INTO events SELECT r.* FROM won, \
         jsonb_populate_recordset(NULL::events, won.j->'events') r) \
     SELECT id FROM code",
);

/// [`STATEMENT`] with its one parameter. A query of its own type with a static id, so that
/// Diesel keeps it prepared (its `sql_query` would be parsed and planned on every call).
#[derive(QueryId)]
struct Statement {
    rows: String,
}

impl QueryFragment<Pg> for Statement {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(STATEMENT.0);
        out.push_bind_param::<Text, _>(&self.rows)?;
        out.push_sql(STATEMENT.1);
        Ok(())
    }
}

impl Query for Statement {
    type SqlType = Text;
}

impl RunQueryDsl<diesel::PgConnection> for Statement {}
