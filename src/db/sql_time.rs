//! Timestamps read from and written to SQLite without chrono's format strings, for the rows the
//! client API's hot paths read (a repeat activation, a check-in) and write (a first activation).
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
//!
//! Writing, Diesel formats each timestamp with chrono's `format("%F %T%.f")`, which parses its
//! format string every time: about 2,600 instructions, fourteen timestamps in a first
//! activation, all of them on SQLite's one writer thread. [`SqlTime`] as the type of an
//! insertable field writes the same text directly (years 0 to 9999; any other goes through
//! chrono), and on PostgreSQL Diesel's own binary encoding.

use chrono::NaiveDateTime;
use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::{Nullable, Timestamp};
use serde::Serialize;

/// The raw value a backend hands `FromSql`.
type RawValue<'a, DB> = <DB as Backend>::RawValue<'a>;

/// A `Timestamp` column's value, read and written quickly on SQLite; serialised as the
/// `NaiveDateTime` it holds.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, FromSqlRow, AsExpression, Serialize)]
#[diesel(sql_type = Timestamp)]
#[serde(transparent)]
pub struct SqlTime(pub NaiveDateTime);

impl From<NaiveDateTime> for SqlTime {
    fn from(time: NaiveDateTime) -> Self {
        Self(time)
    }
}

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
    use chrono::{Datelike, NaiveDate, Timelike};
    use diesel::sqlite::{Sqlite, SqliteType};

    use super::{
        FromSql, IsNull, NaiveDateTime, Nullable, Output, RawValue, SqlTime, SqlTimeOpt, Timestamp,
        ToSql, deserialize, serialize,
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

    impl ToSql<Timestamp, Sqlite> for SqlTime {
        fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
            match canonical_text(self.0) {
                Some(text) => {
                    out.set_value(text);
                    Ok(IsNull::No)
                }
                None => <NaiveDateTime as ToSql<Timestamp, Sqlite>>::to_sql(&self.0, out),
            }
        }
    }

    /// `time` as Diesel writes it (`%F %T%.f`: a fraction only when there is one, in 3, 6 or 9
    /// digits, whichever is exact); `None` outside years 0 to 9999 and for a leap second, which
    /// chrono then writes.
    pub(super) fn canonical_text(time: NaiveDateTime) -> Option<String> {
        let year = u32::try_from(time.year())
            .ok()
            .filter(|year| *year <= 9999)?;
        let nanos = time.nanosecond();
        if nanos >= 1_000_000_000 {
            return None;
        }
        let mut text = String::with_capacity(29);
        push_digits(&mut text, year, 4);
        for (separator, value) in [
            ('-', time.month()),
            ('-', time.day()),
            (' ', time.hour()),
            (':', time.minute()),
            (':', time.second()),
        ] {
            text.push(separator);
            push_digits(&mut text, value, 2);
        }
        if nanos != 0 {
            text.push('.');
            if nanos % 1_000_000 == 0 {
                push_digits(&mut text, nanos / 1_000_000, 3);
            } else if nanos % 1000 == 0 {
                push_digits(&mut text, nanos / 1000, 6);
            } else {
                push_digits(&mut text, nanos, 9);
            }
        }
        Some(text)
    }

    /// Appends `value` in `width` decimal digits, zero-padded (`value` has no more).
    fn push_digits(text: &mut String, value: u32, width: u32) {
        for place in (0..width).rev() {
            let digit = value / 10_u32.pow(place) % 10;
            text.push(char::from(b'0' + u8::try_from(digit).unwrap_or(0)));
        }
    }

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
        FromSql, NaiveDateTime, Nullable, Output, RawValue, SqlTime, SqlTimeOpt, Timestamp, ToSql,
        deserialize, serialize,
    };

    impl FromSql<Timestamp, Pg> for SqlTime {
        fn from_sql(value: RawValue<'_, Pg>) -> deserialize::Result<Self> {
            <NaiveDateTime as FromSql<Timestamp, Pg>>::from_sql(value).map(Self)
        }
    }

    nullable_from_sql!(Pg);

    impl ToSql<Timestamp, Pg> for SqlTime {
        fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
            <NaiveDateTime as ToSql<Timestamp, Pg>>::to_sql(&self.0, out)
        }
    }
}

/// Queries on the [`super::DbConn`] itself read through the impls of its backend, above.
mod multi {
    use super::{
        FromSql, IsNull, Nullable, Output, RawValue, SqlTime, SqlTimeOpt, Timestamp, ToSql,
        deserialize, serialize,
    };
    use crate::db::MultiBackend;

    impl FromSql<Timestamp, MultiBackend> for SqlTime {
        fn from_sql(value: RawValue<'_, MultiBackend>) -> deserialize::Result<Self> {
            value.from_sql::<Self, Timestamp>()
        }
    }

    nullable_from_sql!(MultiBackend);

    impl ToSql<Timestamp, MultiBackend> for SqlTime {
        fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, MultiBackend>) -> serialize::Result {
            out.set_value((Timestamp, self));
            Ok(IsNull::No)
        }
    }
}

#[cfg(all(test, feature = "sqlite"))]
mod tests;
