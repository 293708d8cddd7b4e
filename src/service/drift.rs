//! Finding the binding a machine holds under an older fingerprint (hardware drift,
//! `KOOLICENSE_FINGERPRINT_MATCH=most`).
//!
//! The search compares the fingerprint with every live binding of the code, so it runs on a
//! read of its own, on the blocking pool, before any write transaction: the write lock (SQLite's
//! one writer) is never held for it. Under the code's lock only the binding it chose is checked
//! again, by id and fingerprint hash ([`recheck`]), so the seat rules hold as before: if a
//! simultaneous request moved or freed that binding meanwhile, this one is treated as a new
//! machine and takes a seat only if one is free.

use super::Error;
use super::bindings::Bindings;
use crate::config::FingerprintMatch;
use crate::db::ids::{ActivationId, CodeId};
use crate::db::models::activations::{self, Activation};
use crate::db::models::auth_codes;
use crate::db::{self, DbConn};
use crate::domain::fingerprint::{Fingerprint, MachineParts};
use crate::domain::machine::Machine;

/// A live binding that the search found to be the machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The binding.
    pub activation_id: ActivationId,
    /// Its fingerprint's hash when it was found.
    pub fingerprint_sha256: String,
}

/// With `most` matching, the oldest live binding of `machine`'s code that is the same machine
/// under another fingerprint; `None` with `exact` matching, or when there is none.
pub async fn find(service: &Bindings, machine: &Machine) -> Result<Option<Candidate>, Error> {
    if service.fingerprint_match != FingerprintMatch::Most {
        return Ok(None);
    }
    let (code, fingerprint) = (
        machine.code.as_str().to_owned(),
        machine.fingerprint.clone(),
    );
    db::run(&service.pool, move |conn| {
        let Some(code) = auth_codes::find_by_code(conn, &code)? else {
            return Ok(None);
        };
        search(conn, &code.id, &fingerprint)
    })
    .await
}

/// [`find`] for a code whose id is known, on a connection the caller holds (not a
/// transaction's).
pub fn search(
    conn: &mut DbConn,
    code_id: &CodeId,
    fingerprint: &Fingerprint,
) -> Result<Option<Candidate>, Error> {
    let probe = MachineParts::of(fingerprint);
    let sha = fingerprint.sha256_hex();
    let live = activations::live_for_code(conn, code_id)?;
    Ok(live
        .into_iter()
        .find(|old| {
            old.fingerprint_sha256 != sha
                && MachineParts::of_normalised(&old.fingerprint).same_machine(&probe)
        })
        .map(|old| Candidate {
            activation_id: old.id,
            fingerprint_sha256: old.fingerprint_sha256,
        }))
}

/// Under the code's lock: the candidate's binding if it is still live, still the code's and
/// still bound to the fingerprint the search compared.
pub fn recheck(
    conn: &mut DbConn,
    code_id: &CodeId,
    candidate: &Candidate,
) -> Result<Option<Activation>, Error> {
    Ok(
        activations::find(conn, &candidate.activation_id)?.filter(|binding| {
            binding.code_id == *code_id
                && binding.deactivated_at.is_none()
                && binding.fingerprint_sha256 == candidate.fingerprint_sha256
        }),
    )
}
