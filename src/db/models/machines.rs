//! What the client API's hot paths (a repeat activation, a check-in) read about one machine of
//! one code, in one statement of three indexed lookups.
//!
//! The queries run on the backend's own connection ([`crate::db::on_backend`]): Diesel then
//! keys its prepared-statement cache on the query's type, where the `MultiConnection` would
//! write the SQL text out again for every query.

use diesel::dsl::exists;
use diesel::prelude::*;

use super::activations::{Activation, is_live};
use super::auth_codes::AuthCode;
use super::licenses::License;
use crate::db::schema::{activations, auth_codes, code_usage, licenses};
use crate::db::{DbConn, on_backend};

/// One machine of one code as stored.
#[derive(Debug, Clone)]
pub struct MachineView {
    /// The code's row.
    pub code: AuthCode,
    /// The machine's live binding (exact fingerprint), if any.
    pub activation: Option<Activation>,
    /// That binding's license, if any.
    pub license: Option<License>,
    /// Live bindings of the code.
    pub used: i64,
    /// The machine is counted in `day`'s usage (false when it has no live binding).
    pub counted: bool,
}

impl MachineView {
    /// The machine has a live binding with its license.
    pub fn is_bound(&self) -> bool {
        self.activation.is_some() && self.license.is_some()
    }
}

/// The code `code` and the machine whose normalised fingerprint hashes to `sha`; `None` when we
/// do not know the code.
pub fn view(
    conn: &mut DbConn,
    code: &str,
    sha: &str,
    day: &str,
) -> QueryResult<Option<MachineView>> {
    // One statement, so one read snapshot without BEGIN/COMMIT: the seat count and the day's
    // usage are subqueries on the code's row.
    diesel::alias!(activations as seat: Seat);
    let used = seat
        .filter(seat.field(activations::code_id).eq(auth_codes::id))
        .filter(is_live(seat.field(activations::deactivated_at)))
        .count()
        .single_value();
    let in_usage = exists(
        code_usage::table
            .filter(code_usage::code_id.eq(auth_codes::id))
            .filter(code_usage::day.eq(day.to_owned()))
            .filter(code_usage::client_id.eq(sha.to_owned())),
    );
    let found = on_backend!(conn, |c| {
        auth_codes::table
            .left_join(
                activations::table.on(activations::code_id
                    .eq(auth_codes::id)
                    // Owned: a join's `ON` clause only takes binds that live for `'static`.
                    .and(activations::fingerprint_sha256.eq(sha.to_owned()))
                    .and(is_live(activations::deactivated_at))),
            )
            .left_join(licenses::table.on(licenses::activation_id.eq(activations::id.nullable())))
            .filter(auth_codes::code.eq(code))
            .select((
                AuthCode::as_select(),
                Option::<Activation>::as_select(),
                Option::<License>::as_select(),
                used,
                in_usage,
            ))
            .first::<(
                AuthCode,
                Option<Activation>,
                Option<License>,
                Option<i64>,
                bool,
            )>(c)
            .optional()?
    });
    Ok(
        found.map(|(code, activation, license, used, in_usage)| MachineView {
            counted: activation.is_some() && in_usage,
            code,
            activation,
            license,
            used: used.unwrap_or(0),
        }),
    )
}
