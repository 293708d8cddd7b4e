//! The ids that rows, payloads and requests hand each other, one type each, so that a function
//! taking a code's id cannot be handed a license's. Each is the text it always was: the same
//! `TEXT` column, the same JSON string, the same path segment; only the compiler tells them
//! apart. They live next to [`super::text_enum`] because what they add to a `String` is exactly
//! its storage (Diesel's `Text` on both backends) and its wire form (serde, OpenAPI).
//!
//! A view that lists an id keeps the OpenAPI document's shape by declaring the field as a string
//! (`#[schema(value_type = String)]`): utoipa would otherwise reference a component per id type.

/// `text_id!(/// doc Name)`: a newtype over `String`, stored as `Text`, serialised as the string;
/// `text_id!(minted /// doc Name)` adds `Name::generate()` for the ids we create ourselves.
macro_rules! text_id {
    (minted $(#[$meta:meta])* $name:ident) => {
        text_id!($(#[$meta])* $name);

        impl $name {
            /// A new random id (uuid v7, as every row id we mint).
            pub fn generate() -> Self {
                Self(super::models::new_id())
            }
        }
    };
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(
            Debug,
            Clone,
            PartialEq,
            Eq,
            Hash,
            PartialOrd,
            Ord,
            diesel::AsExpression,
            diesel::FromSqlRow,
            serde::Serialize,
            serde::Deserialize,
        )]
        #[diesel(sql_type = diesel::sql_types::Text)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The id's text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> Self {
                Self(id)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                Self(id.to_owned())
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        /// Hashes and compares as its text, so a map keyed by the id is looked up by `&str`.
        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                <String as utoipa::PartialSchema>::schema()
            }
        }

        impl utoipa::ToSchema for $name {}

        super::text_enum::text_to_sql!($name);

        impl<DB> diesel::deserialize::FromSql<diesel::sql_types::Text, DB> for $name
        where
            DB: diesel::backend::Backend,
            String: diesel::deserialize::FromSql<diesel::sql_types::Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> diesel::deserialize::Result<Self> {
                String::from_sql(bytes).map(Self)
            }
        }
    };
}

text_id! {
    minted
    /// An authorization code's row (`auth_codes.id`; `code_id` in bindings, licenses and usage).
    /// Not the code itself, which is the client's credential.
    CodeId
}

text_id! {
    minted
    /// A binding of a code to a machine (`activations.id`, `licenses.activation_id`).
    ActivationId
}

text_id! {
    minted
    /// A signed license (`licenses.id`, `license_revisions.license_id`, the upload job's
    /// `license_id`); it is also the `license_id` inside the license file.
    LicenseId
}

text_id! {
    /// An online-License instance: KooGallery's `instanceId`, never one of ours
    /// (`instances.instance_id`, `licenses.instance_id`, the order query's `instance_id`).
    InstanceId
}

#[cfg(all(test, feature = "sqlite"))]
#[expect(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use std::collections::HashMap;

    use diesel::prelude::*;
    use diesel::sql_types::Text;

    use super::{CodeId, InstanceId};

    #[test]
    fn an_id_is_its_text_in_the_database_in_json_and_in_a_map() {
        let mut conn = SqliteConnection::establish(":memory:").unwrap();
        let id = CodeId::from("code-1");
        let stored: CodeId = diesel::select(id.clone().into_sql::<Text>())
            .get_result(&mut conn)
            .unwrap();
        assert_eq!(stored, id);
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"code-1\"");
        let read: InstanceId = serde_json::from_str("\"inst-1\"").unwrap();
        assert_eq!(read.as_str(), "inst-1");
        let seats = HashMap::from([(id, 2)]);
        assert_eq!(seats.get("code-1"), Some(&2));
    }

    #[test]
    fn generated_ids_differ() {
        assert_ne!(CodeId::generate(), CodeId::generate());
    }
}
