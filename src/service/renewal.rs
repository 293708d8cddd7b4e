//! The storage side of `POST /v1/check-in`: read what we know, let
//! [`crate::domain::validation::validate`] decide, and bring the machine's license up to date
//! when its code changed.
//!
//! Most check-ins only read (and count the machine in the day's usage once a day). Only when the
//! license must change, because the code's expiry moved (renewal, unsubscription of a renewal
//! period, the daily query) or the machine's hardware drifted (`most` matching), does the
//! check-in take the code's lock and write the license's next revision; the decision is then
//! taken again under the lock, so simultaneous check-ins add one revision, not several.

use chrono::NaiveDateTime;
use serde_json::json;

use super::binding;
use super::drift::{self, Candidate};
use super::issue;
use crate::db::DbConn;
use crate::db::ids::CodeId;
use crate::db::models::activations::Activation;
use crate::db::models::auth_codes::{self, AuthCode};
use crate::db::models::code_usage;
use crate::db::models::events::{self, EventKind, NewEvent, Subject};
use crate::db::models::licenses::{self, License};
use crate::db::models::machines::{self, MachineView};
use crate::domain::machine::Machine;
use crate::domain::validation::{Binding, Status, Validation, validate};
use crate::keys::KeyStore;
use crate::service::Error;

/// What a check-in answers.
#[derive(Debug, Clone)]
pub struct CheckedIn {
    /// The decision.
    pub validation: Validation,
    /// The code's expiry.
    pub expires_at: Option<NaiveDateTime>,
    /// The license file, when this check-in produced a newer one.
    pub license: Option<String>,
}

/// Everything the decision needs.
#[derive(Debug)]
pub struct Look {
    /// The code's row.
    pub code: AuthCode,
    /// This machine's live binding and its license.
    bound: Option<(Activation, License)>,
    /// No exact binding, but one of the same machine under an older fingerprint (`most`).
    drifted: Option<(Activation, License)>,
    /// Some machine holds a live binding of the code.
    others: bool,
    /// The machine is already counted in today's usage.
    counted: bool,
}

impl Look {
    /// No live binding of the code has exactly this machine's fingerprint.
    pub fn unbound(&self) -> bool {
        self.bound.is_none()
    }

    /// The code's id and the machine's fingerprint hash when the machine is bound but not
    /// counted in the day's usage yet.
    pub fn uncounted(&self) -> Option<(CodeId, String)> {
        match (&self.bound, self.counted) {
            (Some((activation, _)), false) => {
                Some((self.code.id.clone(), activation.fingerprint_sha256.clone()))
            }
            _ => None,
        }
    }
}

/// Whether the check-in changes the license.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Nothing to write (but the day's usage, once).
    None,
    /// A new revision with the code's current expiry.
    Renew,
    /// Move the drifted binding to the new fingerprint.
    Move,
}

/// Brings the machine's license up to date (a [`Change`] other than `None` was decided on a
/// read): under the code's lock, reads and decides again, so simultaneous check-ins add one
/// revision, not several. `Ok(None)`: we do not know the code at all.
pub fn change(
    conn: &mut DbConn,
    keys: &KeyStore,
    machine: &Machine,
    code_id: &CodeId,
    day: &str,
    now: NaiveDateTime,
    drifted: Option<&Candidate>,
) -> Result<Option<CheckedIn>, Error> {
    conn.write_tx(|c| {
        auth_codes::lock(c, code_id)?;
        let Some(again) = look(c, machine, day, drifted)? else {
            return Ok(None);
        };
        let (validation, change) = decide(&again, now);
        let license = match (change, &again.bound, &again.drifted) {
            (Change::Renew, Some((_, license)), _) => {
                Some(renew(c, keys, &again.code, license, now)?)
            }
            (Change::Move, _, Some((activation, license))) => Some(binding::move_binding(
                c,
                keys,
                &again.code,
                activation,
                license,
                &machine.fingerprint,
                now,
            )?),
            _ => None,
        };
        if again.bound.is_some() || license.is_some() {
            code_usage::record(
                c,
                &again.code.id,
                day,
                &machine.fingerprint.sha256_hex(),
                now,
            )?;
        }
        let expires_at = again.code.expires_at;
        Ok(Some(CheckedIn {
            validation,
            expires_at,
            license: license.map(|l| l.file),
        }))
    })
}

/// What we know of the machine and its code, in one read ([`machines::view`]; without an exact
/// binding, one more for the `drifted` binding a search found, if it is still that binding);
/// `None` when we do not know the code at all.
pub fn look(
    conn: &mut DbConn,
    machine: &Machine,
    day: &str,
    drifted: Option<&Candidate>,
) -> Result<Option<Look>, Error> {
    let sha = machine.fingerprint.sha256_hex();
    let Some(view) = machines::view(conn, machine.code.as_str(), &sha, day)? else {
        return Ok(None);
    };
    let moved = match drifted {
        Some(candidate) if !view.is_bound() => recheck_drifted(conn, &view.code.id, candidate)?,
        _ => None,
    };
    Ok(Some(Look::of(view, moved)))
}

/// The `candidate` binding and its license, when it is still a live binding of the code.
pub fn recheck_drifted(
    conn: &mut DbConn,
    code_id: &CodeId,
    candidate: &Candidate,
) -> Result<Option<(Activation, License)>, Error> {
    Ok(match drift::recheck(conn, code_id, candidate)? {
        Some(activation) => licenses::find_for_activation(conn, &activation.id)?
            .map(|license| (activation, license)),
        None => None,
    })
}

impl Look {
    /// The machine as `view` shows it, with the `drifted` binding it holds under an older
    /// fingerprint (ignored when the view has an exact binding).
    pub fn of(view: MachineView, drifted: Option<(Activation, License)>) -> Self {
        let bound = view.activation.zip(view.license);
        Self {
            others: bound.is_some() || view.used > 0,
            counted: bound.is_some() && view.counted,
            code: view.code,
            drifted: if bound.is_some() { None } else { drifted },
            bound,
        }
    }
}

/// The verdict, and whether the license must change.
pub fn decide(look: &Look, now: NaiveDateTime) -> (Validation, Change) {
    let facts = issue::code_facts(&look.code);
    let binding = match look.bound.as_ref().or(look.drifted.as_ref()) {
        Some((_, license)) => Binding::Bound(Some(issue::license_facts(license))),
        None => Binding::Unbound {
            others: look.others,
        },
    };
    let validation = validate(Some(&facts), binding, now);
    let change = match (&look.bound, &look.drifted) {
        (Some((_, license)), _)
            if matches!(
                validation.status,
                Status::Valid | Status::Expired | Status::Frozen
            ) && issue::is_stale(&look.code, license) =>
        {
            Change::Renew
        }
        (None, Some(_)) if validation.valid => Change::Move,
        _ => Change::None,
    };
    (validation, change)
}

fn renew(
    conn: &mut DbConn,
    keys: &KeyStore,
    code: &AuthCode,
    license: &License,
    now: NaiveDateTime,
) -> Result<License, Error> {
    let renewed = issue::next_revision(
        conn,
        keys,
        code,
        license,
        &license.fingerprint_sha256,
        "renewed",
        now,
    )?;
    let expires_at = renewed.expires_at.map(crate::domain::times::rfc3339);
    let detail = json!({"revision": renewed.revision, "expires_at": expires_at});
    events::insert(
        conn,
        &NewEvent::new(Subject::License, &license.id, EventKind::Renewed, &detail),
    )?;
    Ok(renewed)
}
