//! `SqlTime` against Diesel's own reading and writing of SQLite timestamps.
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

use chrono::{NaiveDate, NaiveDateTime, TimeDelta};
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text, Timestamp};
use proptest::prelude::*;

use super::{SqlTime, SqlTimeOpt};
use crate::db::DbConn;

fn sqlite() -> DbConn {
    DbConn::Sqlite(SqliteConnection::establish(":memory:").unwrap())
}

/// What Diesel's own parser and [`SqlTime`] make of the SQL expression `value`, read through
/// the `MultiConnection` as the models read.
fn both(conn: &mut DbConn, value: &str) -> (Option<NaiveDateTime>, Option<NaiveDateTime>) {
    let diesel = diesel::select(sql::<Timestamp>(value))
        .get_result::<NaiveDateTime>(conn)
        .ok();
    let ours = diesel::select(sql::<Timestamp>(value))
        .get_result::<SqlTime>(conn)
        .ok()
        .map(NaiveDateTime::from);
    (diesel, ours)
}

#[test]
fn every_form_diesel_reads_is_read_to_the_same_value_and_the_rest_refused_alike() {
    let mut conn = sqlite();
    for value in [
        // Diesel's own form, without and with each fraction it writes.
        "'2026-12-07 10:11:12'",
        "'2026-12-07 10:11:12.5'",
        "'2026-12-07 10:11:12.123'",
        "'2026-12-07 10:11:12.123456'",
        "'2026-12-07 10:11:12.123456789'",
        "'0001-01-01 00:00:00'",
        "'9999-12-31 23:59:59.999999999'",
        // Forms only Diesel's parser reads.
        "'2026-12-07T10:11:12'",
        "'2026-12-07 10:11'",
        "'2026-12-07 10:11:12Z'",
        "'2026-12-07 10:11:12+02:00'",
        "'2016-12-31 23:59:60'",
        "'2026-12-07 10:11:12.1234567891'",
        "'12026-12-07 10:11:12'",
        "2461016.5",
        "'2461016.5'",
        "datetime('now')",
        // Not times at all.
        "'2026-02-30 10:11:12'",
        "'2026-12-07 24:00:00'",
        "'2026-12-07 10:11:12.'",
        "'2026-12-07+10:11:12'",
        "'2026-12-07 10:11:1x'",
        "'yesterday'",
        "''",
    ] {
        let (diesel, ours) = both(&mut conn, value);
        assert_eq!(ours, diesel, "{value}");
    }
}

#[test]
fn a_null_is_none_and_a_value_some() {
    let mut conn = sqlite();
    let read = |conn: &mut DbConn, value: &str| {
        diesel::select(sql::<Nullable<Timestamp>>(value))
            .get_result::<SqlTimeOpt>(conn)
            .unwrap()
            .0
    };
    assert_eq!(read(&mut conn, "NULL"), None);
    let time = NaiveDate::from_ymd_opt(2026, 12, 7)
        .unwrap()
        .and_hms_milli_opt(1, 2, 3, 400)
        .unwrap();
    assert_eq!(read(&mut conn, "'2026-12-07 01:02:03.400'"), Some(time));
}

proptest! {
    /// Whatever Diesel writes (years 1 to 9999), SqlTime reads back to the value written.
    #[test]
    fn what_diesel_writes_reads_back_unchanged(
        seconds in 0_i64..315_537_897_600,
        nanos in prop_oneof![Just(0_u32), 0_u32..1000, (0_u32..1000).prop_map(|n| n * 1_000_000), 0_u32..1_000_000_000],
    ) {
        let mut conn = sqlite();
        let written = NaiveDate::from_ymd_opt(1, 1, 1).unwrap().and_hms_opt(0, 0, 0).unwrap()
            + TimeDelta::seconds(seconds)
            + TimeDelta::nanoseconds(i64::from(nanos));
        let read: SqlTime = diesel::select(written.into_sql::<Timestamp>())
            .get_result(&mut conn)
            .unwrap();
        prop_assert_eq!(read.0, written);
    }
}

/// The text a timestamp is stored as, written by Diesel from a `NaiveDateTime` and by
/// [`SqlTime`], read back as text.
fn stored(conn: &mut DbConn, time: NaiveDateTime) -> (String, String) {
    let diesel = diesel::select(
        sql::<Text>("CAST(")
            .bind::<Timestamp, _>(time)
            .sql(" AS TEXT)"),
    )
    .get_result::<String>(conn)
    .unwrap();
    let ours = diesel::select(
        sql::<Text>("CAST(")
            .bind::<Timestamp, _>(SqlTime(time))
            .sql(" AS TEXT)"),
    )
    .get_result::<String>(conn)
    .unwrap();
    (diesel, ours)
}

#[test]
fn each_fraction_and_the_edges_are_written_as_diesel_writes_them() {
    let mut conn = sqlite();
    let day = NaiveDate::from_ymd_opt(2026, 12, 8).unwrap();
    for time in [
        day.and_hms_opt(0, 0, 0).unwrap(),
        day.and_hms_milli_opt(1, 2, 3, 500).unwrap(),
        day.and_hms_micro_opt(1, 2, 3, 500_001).unwrap(),
        day.and_hms_nano_opt(1, 2, 3, 500_000_001).unwrap(),
        day.and_hms_nano_opt(23, 59, 59, 999_999_999).unwrap(),
        // A leap second, and years outside four digits: chrono writes these.
        day.and_hms_milli_opt(23, 59, 59, 1_500).unwrap(),
        NaiveDate::from_ymd_opt(0, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap(),
        NaiveDate::from_ymd_opt(-1, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap(),
        NaiveDate::from_ymd_opt(10_000, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap(),
    ] {
        let (diesel, ours) = stored(&mut conn, time);
        assert_eq!(ours, diesel, "{time:?}");
    }
}

proptest! {
    /// Any time of years 0 to 9999, to the nanosecond, is stored as the text Diesel stores.
    #[test]
    fn what_sqltime_writes_is_what_diesel_writes(
        seconds in 0_i64..315_569_520_000,
        nanos in prop_oneof![Just(0_u32), (0_u32..1000).prop_map(|n| n * 1_000_000), (0_u32..1_000_000).prop_map(|n| n * 1000), 0_u32..1_000_000_000],
    ) {
        let mut conn = sqlite();
        let time = NaiveDate::from_ymd_opt(0, 1, 1).unwrap().and_hms_opt(0, 0, 0).unwrap()
            + TimeDelta::seconds(seconds)
            + TimeDelta::nanoseconds(i64::from(nanos));
        let (diesel, ours) = stored(&mut conn, time);
        prop_assert_eq!(ours, diesel);
    }
}
