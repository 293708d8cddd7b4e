//! Timestamps read from SQLite without chrono's format parser, for the rows the client API's
//! hot reads load (a repeat activation, a check-in).
//!
//! SQLite stores a `Timestamp` as text, which Diesel parses by trying chrono's `parse_from_str`
//! with one format after another: about 2,200 instructions a column, eight columns a repeat
//! activation, nearly a tenth of its work beside the signature. Diesel itself writes exactly one form,
//! `YYYY-MM-DD HH:MM:SS` with `.` and 3, 6 or 9 digits when there is a fraction; [`SqlTime`]
//! reads that form directly and hands anything else (other forms SQLite's own functions or an
//! older writer left, a leap second, a year beyond 9999) to Diesel's parser, so it accepts
//! exactly what Diesel accepts and reads it to the same value. On PostgreSQL it is Diesel's own
//! binary decoding. Use it as `#[diesel(deserialize_as = SqlTime)]` (`SqlTimeOpt` for a nullable
//! column) on a `NaiveDateTime` field.

use chrono::NaiveDateTime;
use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::sql_types::{Nullable, Timestamp};

/// The raw value a backend hands `FromSql`.
type RawValue<'a, DB> = <DB as Backend>::RawValue<'a>;

/// A `Timestamp` column's value, read quickly on SQLite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromSqlRow)]
pub struct SqlTime(pub NaiveDateTime);

/// A nullable `Timestamp` column's value, read quickly on SQLite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromSqlRow)]
pub struct SqlTimeOpt(pub Option<NaiveDateTime>);

impl From<SqlTime> for NaiveDateTime {
    fn from(time: SqlTime) -> Self {
        time.0
    }
}

impl From<SqlTimeOpt> for Option<NaiveDateTime> {
    fn from(time: SqlTimeOpt) -> Self {
        time.0
    }
}

/// A nullable column is `None` or its value as [`SqlTime`] reads it, on every backend alike.
macro_rules! nullable_from_sql {
    ($backend:ty) => {
        impl FromSql<Nullable<Timestamp>, $backend> for SqlTimeOpt {
            fn from_sql(value: RawValue<'_, $backend>) -> deserialize::Result<Self> {
                <SqlTime as FromSql<Timestamp, $backend>>::from_sql(value)
                    .map(|time| Self(Some(time.0)))
            }

            fn from_nullable_sql(
                value: Option<RawValue<'_, $backend>>,
            ) -> deserialize::Result<Self> {
                value.map_or(
                    Ok(Self(None)),
                    <Self as FromSql<Nullable<Timestamp>, $backend>>::from_sql,
                )
            }
        }
    };
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use chrono::NaiveDate;
    use diesel::sqlite::{Sqlite, SqliteType};

    use super::{
        FromSql, NaiveDateTime, Nullable, RawValue, SqlTime, SqlTimeOpt, Timestamp, deserialize,
    };

    impl FromSql<Timestamp, Sqlite> for SqlTime {
        fn from_sql(mut value: RawValue<'_, Sqlite>) -> deserialize::Result<Self> {
            // Only a text value: reading a number as text would change how Diesel reads it.
            if value.value_type() == Some(SqliteType::Text)
                && let Some(time) = parse_canonical(value.read_text().as_bytes())
            {
                return Ok(Self(time));
            }
            <NaiveDateTime as FromSql<Timestamp, Sqlite>>::from_sql(value).map(Self)
        }
    }

    nullable_from_sql!(Sqlite);

    /// `YYYY-MM-DD HH:MM:SS[.F]` with one to nine fraction digits, as Diesel writes it; `None` for
    /// any other text, which the caller gives to Diesel's parser.
    fn parse_canonical(text: &[u8]) -> Option<NaiveDateTime> {
        let (whole, fraction) = match text.split_at_checked(19)? {
            (whole, []) => (whole, 0),
            (whole, [b'.', digits @ ..]) if (1..=9).contains(&digits.len()) => {
                let value = number(digits)?;
                (whole, value * 10_u32.pow(9 - digits.len() as u32))
            }
            _ => return None,
        };
        if [whole[4], whole[7], whole[10], whole[13], whole[16]] != *b"-- ::" {
            return None;
        }
        let year = number(&whole[0..4])?;
        let second = number(&whole[17..19])?;
        if second > 59 {
            // A leap second: chrono's parser knows how it reads.
            return None;
        }
        NaiveDate::from_ymd_opt(
            i32::try_from(year).ok()?,
            number(&whole[5..7])?,
            number(&whole[8..10])?,
        )?
        .and_hms_nano_opt(
            number(&whole[11..13])?,
            number(&whole[14..16])?,
            second,
            fraction,
        )
    }

    /// The decimal number `digits` spell (at most nine, so no overflow); `None` unless all are
    /// ASCII digits.
    fn number(digits: &[u8]) -> Option<u32> {
        digits.iter().try_fold(0_u32, |value, &digit| {
            digit
                .is_ascii_digit()
                .then(|| value * 10 + u32::from(digit - b'0'))
        })
    }
}

#[cfg(feature = "postgres")]
mod postgres {
    use diesel::pg::Pg;

    use super::{
        FromSql, NaiveDateTime, Nullable, RawValue, SqlTime, SqlTimeOpt, Timestamp, deserialize,
    };

    impl FromSql<Timestamp, Pg> for SqlTime {
        fn from_sql(value: RawValue<'_, Pg>) -> deserialize::Result<Self> {
            <NaiveDateTime as FromSql<Timestamp, Pg>>::from_sql(value).map(Self)
        }
    }

    nullable_from_sql!(Pg);
}

/// Queries on the [`super::DbConn`] itself read through the impls of its backend, above.
mod multi {
    use super::{FromSql, Nullable, RawValue, SqlTime, SqlTimeOpt, Timestamp, deserialize};
    use crate::db::MultiBackend;

    impl FromSql<Timestamp, MultiBackend> for SqlTime {
        fn from_sql(value: RawValue<'_, MultiBackend>) -> deserialize::Result<Self> {
            value.from_sql::<Self, Timestamp>()
        }
    }

    nullable_from_sql!(MultiBackend);
}

#[cfg(all(test, feature = "sqlite"))]
#[expect(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use chrono::{NaiveDate, NaiveDateTime, TimeDelta};
    use diesel::dsl::sql;
    use diesel::prelude::*;
    use diesel::sql_types::{Nullable, Timestamp};
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
}
