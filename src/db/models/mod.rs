//! Row types and the queries on them, one file per table.
