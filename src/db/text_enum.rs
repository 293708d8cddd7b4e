//! Closed sets of values stored as `TEXT` (style rule 1: enums as text on both backends): a Rust
//! enum in the code, its wire spelling in the database, and a row with any other spelling is a
//! loud read error rather than a string nobody matches.

/// `text_enum!(pub enum Name { Variant => "SPELLING", ... })`: the enum with `as_str`, `parse`,
/// `ALL`, serde as its spelling, and Diesel's `Text` mapping on every backend.
macro_rules! text_enum {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, diesel::AsExpression, diesel::FromSqlRow,
        )]
        #[diesel(sql_type = diesel::sql_types::Text)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant,)+];

            /// The stored (and serialised) spelling.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)+
                }
            }

            /// The value spelt `text`, exactly.
            pub fn parse(text: &str) -> Option<Self> {
                match text {
                    $($text => Some(Self::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        crate::db::text_enum::text_to_sql!($name);

        impl<DB> diesel::deserialize::FromSql<diesel::sql_types::Text, DB> for $name
        where
            DB: diesel::backend::Backend,
            String: diesel::deserialize::FromSql<diesel::sql_types::Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> diesel::deserialize::Result<Self> {
                let text = String::from_sql(bytes)?;
                Self::parse(&text).ok_or_else(|| {
                    format!(concat!("unknown ", stringify!($name), " {:?}"), text).into()
                })
            }
        }
    };
}

pub(crate) use text_enum;

/// `text_to_sql!(Name)`: Diesel's `Text` writing on every backend for a type with `as_str()`,
/// which is what is stored (the enums here, the ids of [`super::ids`]).
macro_rules! text_to_sql {
    ($name:ident) => {
        impl<DB> diesel::serialize::ToSql<diesel::sql_types::Text, DB> for $name
        where
            DB: diesel::backend::Backend,
            str: diesel::serialize::ToSql<diesel::sql_types::Text, DB>,
        {
            fn to_sql<'b>(
                &'b self,
                out: &mut diesel::serialize::Output<'b, '_, DB>,
            ) -> diesel::serialize::Result {
                self.as_str().to_sql(out)
            }
        }
    };
}

pub(crate) use text_to_sql;

#[cfg(all(test, feature = "sqlite"))]
#[expect(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use diesel::dsl::sql;
    use diesel::prelude::*;
    use diesel::sql_types::Text;

    text_enum! {
        /// A test set.
        pub enum Colour {
            /// One.
            Red => "RED",
            /// Two.
            Blue => "BLUE",
        }
    }

    #[test]
    fn every_value_round_trips_through_its_spelling_and_the_database() {
        let mut conn = SqliteConnection::establish(":memory:").unwrap();
        for colour in Colour::ALL {
            assert_eq!(Colour::parse(colour.as_str()), Some(*colour));
            let stored: Colour = diesel::select(colour.into_sql::<Text>())
                .get_result(&mut conn)
                .unwrap();
            assert_eq!(stored, *colour);
        }
        assert_eq!(Colour::parse("red"), None, "spellings are exact");
        assert_eq!(serde_json::to_string(&Colour::Blue).unwrap(), "\"BLUE\"");
    }

    #[test]
    fn a_stored_spelling_outside_the_set_is_a_read_error() {
        let mut conn = SqliteConnection::establish(":memory:").unwrap();
        let read = diesel::select(sql::<Text>("'GREEN'")).get_result::<Colour>(&mut conn);
        let err = read.unwrap_err().to_string();
        assert!(err.contains("unknown Colour \"GREEN\""), "{err}");
    }
}
