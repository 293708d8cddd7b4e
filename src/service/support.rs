//! What support staff change (api.md §6): resetting a binding when a customer changed hardware,
//! revoking and reinstating a license. Each is one change with its event; the admin handler
//! adds its audit row in the same transaction.

use chrono::NaiveDateTime;
use serde_json::json;

use super::Error;
use super::seats::{self, Seats};
use crate::db::DbConn;
use crate::db::ids::{ActivationId, LicenseId};
use crate::db::models::activations::{self, Activation, DeactivatedBy};
use crate::db::models::auth_codes;
use crate::db::models::events::{self, EventKind, NewEvent, Subject};
use crate::db::models::licenses::{self, License};

/// Frees the seat of binding `id`; the binding as it is now and its code's seats. `actor` and
/// `reason` go in the event. Call inside a write transaction.
pub fn reset_binding(
    conn: &mut DbConn,
    id: &ActivationId,
    actor: &str,
    reason: &str,
    now: NaiveDateTime,
) -> Result<(Activation, Seats), Error> {
    let row = activations::find(conn, id)?.ok_or(Error::NotFound("activation"))?;
    // Serialises with activations of the same code, so the seat count below is exact.
    let code = auth_codes::lock(conn, &row.code_id)?.ok_or(Error::NotFound("code"))?;
    if !activations::deactivate(conn, id, DeactivatedBy::Support, now)? {
        return Err(Error::Conflict("the activation was already deactivated"));
    }
    let detail = json!({"by": DeactivatedBy::Support, "actor": actor, "reason": reason});
    events::insert(
        conn,
        &NewEvent::new(Subject::Activation, id, EventKind::Deactivated, &detail),
    )?;
    let seats = seats::of_code(conn, &code)?;
    let activation = activations::find(conn, id)?.ok_or(Error::NotFound("activation"))?;
    Ok((activation, seats))
}

/// Revokes (or, with `revoked` false, reinstates) license `id`; the license as it is now.
/// Call inside a write transaction.
pub fn set_revoked(
    conn: &mut DbConn,
    id: &LicenseId,
    revoked: bool,
    actor: &str,
    reason: &str,
    now: NaiveDateTime,
) -> Result<License, Error> {
    let license = licenses::find(conn, id)?.ok_or(Error::NotFound("license"))?;
    if !licenses::set_revoked(conn, id, revoked, now)? {
        return Err(Error::Conflict(if license.revoked {
            "the license is already revoked"
        } else {
            "the license is already not revoked"
        }));
    }
    let kind = if revoked {
        EventKind::Revoked
    } else {
        EventKind::Reinstated
    };
    let detail = json!({"actor": actor, "reason": reason});
    events::insert(conn, &NewEvent::new(Subject::License, id, kind, &detail))?;
    licenses::find(conn, id)?.ok_or(Error::NotFound("license"))
}
