//! Schema drift: the Diesel schema (`src/db/schema.rs`) matches what each migration tree builds,
//! table for table and column for column (name, type, nullability, primary key), on a fresh
//! database of each backend. Diesel checks queries against `schema.rs` only, so a migration that
//! forgets a column, or a `schema.rs` edited by hand, would otherwise show only as a runtime error
//! on the one query that touches it, on the one backend whose tree is off.

use std::collections::BTreeMap;

use diesel::QueryableByName;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};

use crate::both_backends;
use crate::helpers::{Backend, TestDatabase};

/// One column as a table definition states it, in Diesel's type names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Column {
    name: String,
    sql_type: String,
    nullable: bool,
    primary_key: bool,
}

type Tables = BTreeMap<String, Vec<Column>>;

/// The tables of `src/db/schema.rs`, read from its `diesel::table!` blocks.
fn diesel_schema() -> Tables {
    let text = include_str!("../../src/db/schema.rs");
    let mut tables = Tables::new();
    for block in text.split("diesel::table! {").skip(1) {
        let block = &block[..block.find("\n}").expect("a table! block closes")];
        let (head, body) = block.split_once('{').expect("a table! block has columns");
        let (name, keys) = head.trim().split_once('(').expect("table (primary key)");
        let keys: Vec<&str> = keys
            .trim_end_matches(')')
            .split(',')
            .map(str::trim)
            .collect();
        let mut columns: Vec<Column> = body
            .lines()
            .filter_map(|line| line.trim().trim_end_matches(',').split_once(" -> "))
            .map(|(column, ty)| {
                let nullable = ty.starts_with("Nullable<");
                let ty = ty.trim_start_matches("Nullable<").trim_end_matches('>');
                Column {
                    name: column.trim().to_owned(),
                    sql_type: ty.to_owned(),
                    nullable,
                    primary_key: keys.contains(&column.trim()),
                }
            })
            .collect();
        columns.sort();
        tables.insert(name.trim().to_owned(), columns);
    }
    tables
}

#[derive(QueryableByName)]
struct Introspected {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    data_type: String,
    #[diesel(sql_type = Bool)]
    nullable: bool,
    #[diesel(sql_type = Bool)]
    primary_key: bool,
}

/// A backend's type name in Diesel's terms; anything unknown stays as it is, so it shows in the
/// failure.
fn diesel_type(backend: Backend, declared: &str) -> String {
    let declared = declared.to_ascii_lowercase();
    let mapped = match (backend, declared.as_str()) {
        (_, "text") => "Text",
        (_, "bigint") => "BigInt",
        (_, "integer") => "Integer",
        (_, "boolean") => "Bool",
        (Backend::Sqlite, "timestamp") | (Backend::Postgres, "timestamp without time zone") => {
            "Timestamp"
        }
        (Backend::Sqlite, "binary" | "blob") | (Backend::Postgres, "bytea") => "Binary",
        _ => return declared,
    };
    mapped.to_owned()
}

/// The tables a fresh database has after the migrations, Diesel's own bookkeeping left out.
fn migrated_schema(backend: Backend) -> Tables {
    let db = TestDatabase::create(backend);
    let mut conn = db.connect();
    koolicense::db::run_migrations(&mut conn).unwrap();
    let query = match backend {
        // `pk` counts a column's position in the primary key; `notnull` is SQLite's flag.
        Backend::Sqlite => {
            "SELECT m.name AS table_name, p.name AS column_name, p.type AS data_type,
                    (p.\"notnull\" = 0 AND p.pk = 0) AS nullable, (p.pk > 0) AS primary_key
             FROM sqlite_master m JOIN pragma_table_info(m.name) p
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'
               AND m.name <> '__diesel_schema_migrations'"
        }
        Backend::Postgres => {
            "SELECT c.table_name::text AS table_name, c.column_name::text AS column_name,
                    c.data_type::text AS data_type, (c.is_nullable = 'YES') AS nullable,
                    EXISTS (SELECT 1 FROM information_schema.table_constraints t
                            JOIN information_schema.key_column_usage k
                              ON k.constraint_name = t.constraint_name
                             AND k.table_schema = t.table_schema
                            WHERE t.constraint_type = 'PRIMARY KEY'
                              AND t.table_schema = c.table_schema
                              AND t.table_name = c.table_name
                              AND k.column_name = c.column_name) AS primary_key
             FROM information_schema.columns c
             WHERE c.table_schema = 'public' AND c.table_name <> '__diesel_schema_migrations'"
        }
    };
    let rows: Vec<Introspected> = diesel::sql_query(query).load(&mut conn).unwrap();
    let mut tables = Tables::new();
    for row in rows {
        tables.entry(row.table_name).or_default().push(Column {
            name: row.column_name,
            sql_type: diesel_type(backend, &row.data_type),
            nullable: row.nullable,
            primary_key: row.primary_key,
        });
    }
    for columns in tables.values_mut() {
        columns.sort();
    }
    tables
}

both_backends!(@backend the_diesel_schema_matches_the_migrations, |backend| async move {
    let expected = diesel_schema();
    assert!(expected.len() >= 10, "schema.rs parsed to {} tables", expected.len());
    let migrated = migrated_schema(backend);
    let names = |tables: &Tables| tables.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(&migrated), names(&expected), "tables differ on {backend:?}");
    for (table, columns) in &expected {
        assert_eq!(&migrated[table], columns, "table {table} differs on {backend:?}");
    }
});
