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
use diesel::Connection;
use serde_json::json;

use super::dto::Machine;
use super::issue;
use super::seats;
use crate::config::FingerprintMatch;
use crate::db::DbConn;
use crate::db::models::activations::{self, Activation};
use crate::db::models::auth_codes::{self, AuthCode};
use crate::db::models::code_usage;
use crate::db::models::events::{self, NewEvent};
use crate::db::models::licenses::{self, License};
use crate::domain::validation::{Binding, Status, Validation, validate};
use crate::error::ApiError;
use crate::keys::KeyStore;

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

/// Everything the decision needs, read in one transaction.
struct Look {
    code: AuthCode,
    /// This machine's live binding and its license.
    bound: Option<(Activation, License)>,
    /// No exact binding, but one of the same machine under an older fingerprint (`most`).
    drifted: Option<(Activation, License)>,
    /// Some machine holds a live binding of the code.
    others: bool,
    /// The machine is already counted in today's usage.
    counted: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    None,
    /// A new revision with the code's current expiry.
    Renew,
    /// Move the drifted binding to the new fingerprint.
    Move,
}

/// Checks the machine in. `Ok(None)`: we do not know the code at all.
pub fn check_in(
    conn: &mut DbConn,
    keys: &KeyStore,
    matching: FingerprintMatch,
    machine: &Machine,
    day: &str,
    now: NaiveDateTime,
) -> Result<Option<CheckedIn>, ApiError> {
    let Some(first) = conn.transaction(|c| look(c, matching, machine, day))? else {
        return Ok(None);
    };
    let (validation, change) = decide(&first, now);
    if change == Change::None {
        if let (Some((activation, _)), false) = (&first.bound, first.counted) {
            code_usage::record(
                conn,
                &first.code.id,
                day,
                &activation.fingerprint_sha256,
                now,
            )?;
        }
        let expires_at = first.code.expires_at;
        return Ok(Some(CheckedIn {
            validation,
            expires_at,
            license: None,
        }));
    }
    conn.write_tx(|c| {
        auth_codes::lock(c, &first.code.id, now)?;
        let Some(again) = look(c, matching, machine, day)? else {
            return Ok(None);
        };
        let (validation, change) = decide(&again, now);
        let license = match (change, &again.bound, &again.drifted) {
            (Change::Renew, Some((_, license)), _) => {
                Some(renew(c, keys, &again.code, license, now)?)
            }
            (Change::Move, _, Some((activation, license))) => Some(seats::move_binding(
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

fn look(
    conn: &mut DbConn,
    matching: FingerprintMatch,
    machine: &Machine,
    day: &str,
) -> Result<Option<Look>, ApiError> {
    let Some(code) = auth_codes::find_by_code(conn, machine.code.as_str())? else {
        return Ok(None);
    };
    let sha = machine.fingerprint.sha256_hex();
    let with_license = |conn: &mut DbConn, activation: Activation| -> Result<_, ApiError> {
        Ok(licenses::find_for_activation(conn, &activation.id)?
            .map(|license| (activation, license)))
    };
    let bound = match activations::find_live(conn, &code.id, &sha)? {
        Some(activation) => with_license(conn, activation)?,
        None => None,
    };
    let drifted = match (&bound, matching) {
        (None, FingerprintMatch::Most) => {
            match seats::same_machine(conn, &code.id, &machine.fingerprint)? {
                Some(activation) => with_license(conn, activation)?,
                None => None,
            }
        }
        _ => None,
    };
    let others = bound.is_some() || activations::count_live(conn, &code.id)? > 0;
    let counted = bound.is_some() && code_usage::seen(conn, &code.id, day, &sha)?;
    Ok(Some(Look {
        code,
        bound,
        drifted,
        others,
        counted,
    }))
}

fn decide(look: &Look, now: NaiveDateTime) -> (Validation, Change) {
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
) -> Result<License, ApiError> {
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
        &NewEvent::new("license", &license.id, "renewed", &detail),
    )?;
    Ok(renewed)
}
