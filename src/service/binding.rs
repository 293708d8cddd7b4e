//! Binding machines to codes: the transactions of an activation and a deactivation.
//!
//! The seat limit holds across requests, workers and nodes because every change of a code's
//! bindings happens in one [`DbConn::write_tx`] that first locks the code's row
//! ([`auth_codes::lock`]; on SQLite the transaction itself takes the write lock): the count of
//! live bindings and the insert that follows cannot interleave with another one. The binding and
//! its signed license are written in that same transaction, so a binding never exists without
//! its license, and a repeat finds both.

use chrono::{NaiveDateTime, TimeDelta};
use serde_json::json;

mod first;

pub use first::first_binding;

use super::drift::{self, Candidate};
use super::issue::{self, CodeTerms, Presigned};
use crate::db::DbConn;
use crate::db::ids::{ActivationId, CodeId, LicenseId};
use crate::db::models::activations::{self, Activation, DeactivatedBy, NewActivation};
use crate::db::models::auth_codes::{self, AuthCode};
use crate::db::models::code_usage;
use crate::db::models::events::{self, EventKind, NewEvent, Subject};
use crate::db::models::licenses::{self, License};
use crate::db::models::machines::MachineView;
use crate::domain::fingerprint::Fingerprint;
use crate::domain::machine::Machine;
use crate::domain::validation::refusal;
use crate::keys::KeyStore;
use crate::service::Error;
use crate::service::seats::{self as seat_rule, Seats};

/// Client deactivations of a code are counted over this window.
pub const DEACTIVATION_WINDOW: TimeDelta = TimeDelta::days(30);

/// A machine's license and the code's seats.
#[derive(Debug, Clone)]
pub struct Granted {
    /// The license, current revision.
    pub license: License,
    /// The code's seats.
    pub seats: Seats,
}

/// How an activation ended.
#[derive(Debug, Clone)]
pub enum Bound {
    /// A new binding took a seat (`201`).
    New(Granted),
    /// The machine was already bound: its stored license, unchanged (`200`).
    Repeat(Granted),
    /// The machine was bound under an older fingerprint (hardware drift, `most` matching): it
    /// keeps its seat and gets its license's next revision, signed for the new fingerprint
    /// (`200`).
    Moved(Granted),
}

/// What the read-only first look of an activation found.
#[derive(Debug)]
pub enum Known {
    /// We have not activated the code with KooGallery yet.
    NotActivated,
    /// The code is activated but this machine is not bound (exactly) to it; the code's terms
    /// as read, to sign the license ahead ([`issue::Presigned`]).
    Unbound(Box<CodeTerms>),
    /// A repeat: the machine's license, to be returned as stored.
    Repeat {
        /// The license and seats.
        granted: Box<Granted>,
        /// The code's id when the machine is not counted in the day's usage yet.
        uncounted: Option<CodeId>,
    },
}

/// The activation's first look at the machine's `view` ([`crate::db::views::view`]): a repeat
/// is answered from here without taking any lock. The caller counts the machine in the day's
/// usage when `uncounted` says it is not yet.
pub fn look(view: Option<MachineView>, now: NaiveDateTime) -> Result<Known, Error> {
    let view = match view {
        Some(view) if view.code.activated => view,
        _ => return Ok(Known::NotActivated),
    };
    if view.activation.is_none() {
        return Ok(Known::Unbound(Box::new(CodeTerms::from(&view.code))));
    }
    let facts = view.license.as_ref().map(issue::license_facts);
    if let Some(status) = refusal(&issue::code_facts(&view.code), facts.as_ref(), now) {
        return Err(Error::refused(status));
    }
    let Some(license) = view.license else {
        return Ok(Known::Unbound(Box::new(CodeTerms::from(&view.code))));
    };
    let uncounted = (!view.counted).then(|| view.code.id.clone());
    Ok(Known::Repeat {
        granted: Box::new(Granted {
            license,
            seats: Seats::of_code(&view.code, view.used),
        }),
        uncounted,
    })
}

/// What was learnt of the code before [`bind`]: see there.
#[derive(Debug)]
pub struct Earlier<'a> {
    /// The binding the machine holds under an older fingerprint, as a read found it.
    pub drifted: Option<&'a Candidate>,
    /// The code's row, when the binding's transaction created it.
    pub created: Option<AuthCode>,
}

/// Binds the machine to the (activated) code, or finds its binding, in one locked transaction.
/// `now` is whole seconds: it becomes the license's `not_before`. A new binding's license is
/// `presigned` when that still carries the code's terms. `earlier.drifted` is the binding the
/// machine holds under an older fingerprint, as a read found it ([`drift::find`]); it moves
/// when it is still that binding ([`drift::recheck`]).
///
/// `earlier.created` is the code's row when this transaction created it
/// ([`super::code_sync::record`]): no machine can be bound to it yet, and nobody else can change
/// it before the commit.
///
/// Runs in the caller's transaction when one is open (else in one of its own). A refusal (an
/// `Err` that [`Error::is_refusal`]) has written nothing; after any other `Err` the transaction
/// must be rolled back.
pub fn bind(
    conn: &mut DbConn,
    keys: &KeyStore,
    machine: &Machine,
    day: &str,
    now: NaiveDateTime,
    presigned: Option<Presigned>,
    earlier: Earlier<'_>,
) -> Result<Bound, Error> {
    let Earlier { drifted, created } = earlier;
    let sha = machine.fingerprint.sha256_hex();
    // Every refusal is decided before the first write, so a refused binding has nothing to undo
    // and needs no savepoint of its own (two round trips on PostgreSQL); any other failure fails
    // the caller's whole transaction.
    conn.atomically(|c| {
        let fresh = created.is_some();
        let code = match created {
            Some(code) => code,
            None => locked_code(c, machine)?,
        };
        let code_facts = issue::code_facts(&code);
        let live = if fresh {
            None
        } else {
            activations::find_live(c, &code.id, &sha)?
        };
        if let Some(activation) = live {
            let license = license_of(c, &activation)?;
            if let Some(status) = refusal(&code_facts, Some(&issue::license_facts(&license)), now) {
                return Err(Error::refused(status));
            }
            code_usage::record(c, &code.id, day, &sha, now)?;
            return granted(c, &code, license).map(Bound::Repeat);
        }
        if let Some(candidate) = drifted.filter(|_| !fresh) {
            if let Some(old) = drift::recheck(c, &code.id, candidate)? {
                let license = license_of(c, &old)?;
                if let Some(status) =
                    refusal(&code_facts, Some(&issue::license_facts(&license)), now)
                {
                    return Err(Error::refused(status));
                }
                code_usage::record(c, &code.id, day, &sha, now)?;
                let license =
                    move_binding(c, keys, &code, &old, &license, &machine.fingerprint, now)?;
                return granted(c, &code, license).map(Bound::Moved);
            }
        }
        if let Some(status) = refusal(&code_facts, None, now) {
            return Err(Error::refused(status));
        }
        // Counted under the code's lock: the seats once this binding is stored.
        let seats = if fresh {
            Seats::of_code(&code, 0)
        } else {
            seat_rule::of_code(c, &code)?
        }
        .take_one()?;
        code_usage::record(c, &code.id, day, &sha, now)?;
        let id = ActivationId::generate();
        let new = NewActivation {
            id: &id,
            code_id: &code.id,
            fingerprint: machine.fingerprint.as_str(),
            fingerprint_sha256: &sha,
            hostname: machine.hostname.clone(),
            created_at: now.into(),
        };
        if !activations::insert(c, &new)? {
            // Cannot happen under the code's lock: say so rather than guess.
            return Err(Error::Internal(anyhow::anyhow!(
                "live binding appeared under the code lock"
            )));
        }
        let activation = Activation::from(&new);
        let license = issue::first(c, keys, &code, &activation, presigned, now)?;
        events::insert(c, &activated_event(&activation, &license.id))?;
        Ok(Bound::New(Granted { license, seats }))
    })
}

/// The event of a new binding, whose license is `license_id`.
fn activated_event(activation: &Activation, license_id: &LicenseId) -> NewEvent {
    let detail = json!({
        "code_id": activation.code_id,
        "license_id": license_id,
        "fingerprint_sha256": activation.fingerprint_sha256,
    });
    NewEvent::new(
        Subject::Activation,
        &activation.id,
        EventKind::Activated,
        &detail,
    )
}

/// What a deactivation found.
#[derive(Debug)]
pub enum Unbound {
    /// We do not know the code at all.
    UnknownCode,
    /// The code is not bound to this machine (`404 ACTIVATION_NOT_FOUND`).
    NotBound,
    /// Clients freed seats of the code `limit` times in 30 days already.
    LimitReached {
        /// The configured limit.
        limit: i64,
    },
    /// The seat is free; the code's seats after it.
    Freed(Seats),
}

/// Frees the machine's seat, unless the code was deactivated by clients `limit` times in the
/// last 30 days already. Without an exact binding, frees `drifted` ([`drift::find`]) if it is
/// still the binding the read found.
pub fn unbind(
    conn: &mut DbConn,
    machine: &Machine,
    limit: i64,
    now: NaiveDateTime,
    drifted: Option<&Candidate>,
) -> Result<Unbound, Error> {
    conn.write_tx(|c| {
        let Some(code) = auth_codes::lock_by_code(c, machine.code.as_str())? else {
            return Ok(Unbound::UnknownCode);
        };
        let sha = machine.fingerprint.sha256_hex();
        let activation = match (activations::find_live(c, &code.id, &sha)?, drifted) {
            (Some(exact), _) => Some(exact),
            (None, Some(candidate)) => drift::recheck(c, &code.id, candidate)?,
            (None, None) => None,
        };
        let Some(activation) = activation else {
            return Ok(Unbound::NotBound);
        };
        let since = now - DEACTIVATION_WINDOW;
        if activations::deactivations_since(c, &code.id, DeactivatedBy::Client, since)? >= limit {
            return Ok(Unbound::LimitReached { limit });
        }
        activations::deactivate(c, &activation.id, DeactivatedBy::Client, now)?;
        let detail = json!({"by": DeactivatedBy::Client, "code_id": code.id});
        events::insert(
            c,
            &NewEvent::new(
                Subject::Activation,
                &activation.id,
                EventKind::Deactivated,
                &detail,
            ),
        )?;
        Ok(Unbound::Freed(seat_rule::of_code(c, &code)?))
    })
}

/// The code's row, locked for the rest of the transaction.
fn locked_code(conn: &mut DbConn, machine: &Machine) -> Result<AuthCode, Error> {
    auth_codes::lock_by_code(conn, machine.code.as_str())?.ok_or_else(|| {
        Error::Internal(anyhow::anyhow!(
            "the activated code {} vanished",
            machine.code.hint()
        ))
    })
}

fn license_of(conn: &mut DbConn, activation: &Activation) -> Result<License, Error> {
    licenses::find_for_activation(conn, &activation.id)?.ok_or_else(|| {
        Error::Internal(anyhow::anyhow!(
            "activation {} has no license",
            activation.id
        ))
    })
}

fn granted(conn: &mut DbConn, code: &AuthCode, license: License) -> Result<Granted, Error> {
    Ok(Granted {
        seats: seat_rule::of_code(conn, code)?,
        license,
    })
}

/// Moves a binding to the machine's new fingerprint and issues the license's next revision for
/// it. Call inside a write transaction that holds the code's lock.
pub fn move_binding(
    conn: &mut DbConn,
    keys: &KeyStore,
    code: &AuthCode,
    activation: &Activation,
    license: &License,
    fingerprint: &Fingerprint,
    now: NaiveDateTime,
) -> Result<License, Error> {
    let sha = fingerprint.sha256_hex();
    let moved = issue::next_revision(conn, keys, code, license, &sha, "fingerprint_changed", now)?;
    activations::move_to_fingerprint(conn, &activation.id, fingerprint.as_str(), &sha, now)?;
    let detail =
        json!({"from": activation.fingerprint_sha256, "to": sha, "revision": moved.revision});
    events::insert(
        conn,
        &NewEvent::new(
            Subject::Activation,
            &activation.id,
            EventKind::FingerprintChanged,
            &detail,
        ),
    )?;
    licenses::find(conn, &license.id)?
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("license {} vanished", license.id)))
}
