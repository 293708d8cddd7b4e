//! Bindings of an authorization code to a machine. A binding is live until it is deactivated;
//! the partial unique index `activations_live` allows one live binding per (code, fingerprint),
//! and a deactivated row stays as history (and counts toward the deactivation limit).

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::dsl;
use diesel::prelude::*;
use serde::Serialize;

use crate::db::ids::{ActivationId, CodeId};
use crate::db::schema::{activations, licenses};
use crate::db::sql_time::{SqlTime, SqlTimeOpt};
use crate::db::text_enum::text_enum;
use crate::db::{DbConn, insert_unless_taken, on_backend};

text_enum! {
    /// Who freed a seat (`deactivated_by`).
    pub enum DeactivatedBy {
        /// The client software, through `POST /v1/deactivate` (limited per code per 30 days).
        Client => "client",
        /// Support staff, through the admin API's binding reset.
        Support => "support",
    }
}

/// The filter of a binding that holds a seat: it is live until it is deactivated. Every seat
/// count and every look for a live binding uses it; it takes the column so that an alias of the
/// table (the seat count inside [`super::machines::view`]) applies the same rule.
pub fn is_live<D>(deactivated_at: D) -> dsl::IsNull<D>
where
    D: Expression<SqlType = diesel::sql_types::Nullable<diesel::sql_types::Timestamp>>,
{
    deactivated_at.is_null()
}

/// One binding.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = activations)]
pub struct Activation {
    pub id: ActivationId,
    pub code_id: CodeId,
    /// The normalised fingerprint; kept for the hardware-drift rule. Never log it.
    #[serde(skip)]
    pub fingerprint: String,
    pub fingerprint_sha256: String,
    pub hostname: Option<String>,
    #[diesel(deserialize_as = SqlTime)]
    pub created_at: NaiveDateTime,
    #[diesel(deserialize_as = SqlTimeOpt)]
    pub deactivated_at: Option<NaiveDateTime>,
    pub deactivated_by: Option<DeactivatedBy>,
}

/// A binding to store.
#[derive(Debug, Clone, Insertable, Serialize)]
// `None` is written as NULL, not as DEFAULT (the same for these nullable columns), so the
// statement's text never varies and Diesel caches it prepared.
#[diesel(table_name = activations, treat_none_as_default_value = false)]
pub struct NewActivation<'a> {
    pub id: &'a ActivationId,
    pub code_id: &'a CodeId,
    pub fingerprint: &'a str,
    pub fingerprint_sha256: &'a str,
    /// Owned: Diesel's insert of a borrowed `Option<&str>` trips `clippy::ref_option_ref`.
    pub hostname: Option<String>,
    pub created_at: SqlTime,
}

impl From<&NewActivation<'_>> for Activation {
    /// The row as [`insert`] writes it.
    fn from(new: &NewActivation<'_>) -> Self {
        Self {
            id: new.id.clone(),
            code_id: new.code_id.clone(),
            fingerprint: new.fingerprint.to_owned(),
            fingerprint_sha256: new.fingerprint_sha256.to_owned(),
            hostname: new.hostname.clone(),
            created_at: new.created_at.into(),
            deactivated_at: None,
            deactivated_by: None,
        }
    }
}

impl<'a> From<&'a Activation> for NewActivation<'a> {
    /// The row to store for `activation` (live: its deactivation is not written).
    fn from(activation: &'a Activation) -> Self {
        Self {
            id: &activation.id,
            code_id: &activation.code_id,
            fingerprint: &activation.fingerprint,
            fingerprint_sha256: &activation.fingerprint_sha256,
            hostname: activation.hostname.clone(),
            created_at: activation.created_at.into(),
        }
    }
}

/// Stores a live binding. `Ok(false)` when the code already has a live binding for this
/// fingerprint (the unique index decided; the caller reads the winner).
pub fn insert(conn: &mut DbConn, activation: &NewActivation<'_>) -> QueryResult<bool> {
    insert_unless_taken!(conn, activations::table, activation)
}

/// The binding by id.
pub fn find(conn: &mut DbConn, id: &ActivationId) -> QueryResult<Option<Activation>> {
    on_backend!(conn, |c| activations::table
        .find(id)
        .select(Activation::as_select())
        .first(c)
        .optional())
}

/// The live binding of the code to this fingerprint.
pub fn find_live(
    conn: &mut DbConn,
    code_id: &CodeId,
    fingerprint_sha256: &str,
) -> QueryResult<Option<Activation>> {
    on_backend!(conn, |c| activations::table
        .filter(activations::code_id.eq(code_id))
        .filter(activations::fingerprint_sha256.eq(fingerprint_sha256))
        .filter(is_live(activations::deactivated_at))
        .select(Activation::as_select())
        .first(c)
        .optional())
}

/// Every live binding of the code, oldest first.
pub fn live_for_code(conn: &mut DbConn, code_id: &CodeId) -> QueryResult<Vec<Activation>> {
    activations::table
        .filter(activations::code_id.eq(code_id))
        .filter(is_live(activations::deactivated_at))
        .order((activations::created_at.asc(), activations::id.asc()))
        .select(Activation::as_select())
        .load(conn)
}

/// Every binding of the code, live or not, oldest first.
pub fn for_code(conn: &mut DbConn, code_id: &CodeId) -> QueryResult<Vec<Activation>> {
    activations::table
        .filter(activations::code_id.eq(code_id))
        .order((activations::created_at.asc(), activations::id.asc()))
        .select(Activation::as_select())
        .load(conn)
}

/// Seats in use: the code's live bindings.
pub fn count_live(conn: &mut DbConn, code_id: &CodeId) -> QueryResult<i64> {
    on_backend!(conn, |c| activations::table
        .filter(activations::code_id.eq(code_id))
        .filter(is_live(activations::deactivated_at))
        .count()
        .get_result(c))
}

/// Seats in use of each of the codes `code_ids` (a code without live bindings is absent).
pub fn count_live_by_code(
    conn: &mut DbConn,
    code_ids: &[CodeId],
) -> QueryResult<HashMap<CodeId, i64>> {
    let counts: Vec<(CodeId, i64)> = activations::table
        .filter(activations::code_id.eq_any(code_ids))
        .filter(is_live(activations::deactivated_at))
        .group_by(activations::code_id)
        .select((activations::code_id, dsl::count_star()))
        .load(conn)?;
    Ok(counts.into_iter().collect())
}

/// Frees the seat; returns true when the binding was live.
pub fn deactivate(
    conn: &mut DbConn,
    id: &ActivationId,
    by: DeactivatedBy,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    diesel::update(
        activations::table
            .find(id)
            .filter(activations::deactivated_at.is_null()),
    )
    .set((
        activations::deactivated_at.eq(now),
        activations::deactivated_by.eq(by),
    ))
    .execute(conn)
    .map(|n| n == 1)
}

/// Deactivations of the code by `by` at or after `since` (the seat-hopping limit).
pub fn deactivations_since(
    conn: &mut DbConn,
    code_id: &CodeId,
    by: DeactivatedBy,
    since: NaiveDateTime,
) -> QueryResult<i64> {
    activations::table
        .filter(activations::code_id.eq(code_id))
        .filter(activations::deactivated_by.eq(by))
        .filter(activations::deactivated_at.ge(since))
        .count()
        .get_result(conn)
}

/// Moves a live binding to a new fingerprint of the same machine (hardware drift), together with
/// the fingerprint hash of the license issued for it; the caller adds the license revision that
/// is signed for the new fingerprint.
pub fn move_to_fingerprint(
    conn: &mut DbConn,
    id: &ActivationId,
    fingerprint: &str,
    fingerprint_sha256: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(activations::table.find(id))
        .set((
            activations::fingerprint.eq(fingerprint),
            activations::fingerprint_sha256.eq(fingerprint_sha256),
        ))
        .execute(conn)?;
    diesel::update(licenses::table.filter(licenses::activation_id.eq(id)))
        .set((
            licenses::fingerprint_sha256.eq(fingerprint_sha256),
            licenses::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}
