//! A code's first binding, decided before the write: the code's row KooGallery just activated
//! does not exist yet, so no other machine can hold a seat of it and nothing needs locking. The
//! rows go to the database together ([`crate::db::models::first_bindings::write`]).

use chrono::NaiveDateTime;

use super::{Granted, activated_event};
use crate::db::ids::ActivationId;
use crate::db::models::activations::{Activation, NewActivation};
use crate::db::models::auth_codes::AuthCode;
use crate::db::models::first_bindings::FirstBinding;
use crate::db::models::licenses::License;
use crate::db::models::marketplace_calls::NewMarketplaceCall;
use crate::domain::machine::Machine;
use crate::domain::validation::refusal;
use crate::keys::KeyStore;
use crate::service::Error;
use crate::service::code_sync::Reported;
use crate::service::issue::{self, Presigned};
use crate::service::seats::Seats;

/// The rows that bind `machine` to its code as KooGallery `reported` it, with the `calls` that
/// asked, and what the client gets once they are written; the same rows [`super::bind`] and
/// [`crate::service::code_sync::record`] write for a code recorded in the binding's
/// transaction. `None` when that binding would be refused (a code reported expired, no seat):
/// the usual path then records the code and the refusal.
pub fn first_binding(
    keys: &KeyStore,
    machine: &Machine,
    reported: &Reported,
    calls: Vec<NewMarketplaceCall>,
    day: &str,
    now: NaiveDateTime,
    presigned: Option<Presigned>,
) -> Result<Option<(FirstBinding, Granted)>, Error> {
    let unrecorded = AuthCode::unactivated(machine.code.as_str(), now);
    let code = reported.applied_to(unrecorded, day, now);
    if refusal(&issue::code_facts(&code), None, now).is_some() {
        return Ok(None);
    }
    let Ok(seats) = Seats::of_code(&code, 0).take_one() else {
        return Ok(None);
    };
    let sha = machine.fingerprint.sha256_hex();
    let activation = Activation::from(&NewActivation {
        id: &ActivationId::generate(),
        code_id: &code.id,
        fingerprint: machine.fingerprint.as_str(),
        fingerprint_sha256: &sha,
        hostname: machine.hostname.clone(),
        created_at: now.into(),
    });
    let license = issue::first_row(keys, &code, &activation, presigned, now)?;
    let events = vec![
        reported.event(&code),
        activated_event(&activation, &license.id),
    ];
    let granted = Granted {
        license: License::from(license.clone()),
        seats,
    };
    let first = FirstBinding {
        code,
        calls,
        day: day.to_owned(),
        activation,
        license,
        events,
    };
    Ok(Some((first, granted)))
}
