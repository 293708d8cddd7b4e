//! Signing and storing authcode licenses, and reading stored rows as the facts the license
//! decision ([`crate::domain::validation`]) works on.
//!
//! A license follows its code: its expiry is the code's, its seats the code's `amount`. Times are
//! whole seconds, the same values that are signed, so a stored license compares equal to the
//! code it was issued from.

use chrono::NaiveDateTime;

use crate::db::DbConn;
use crate::db::models::activations::Activation;
use crate::db::models::auth_codes::AuthCode;
use crate::db::models::licenses::{self, License, NewLicense};
use crate::db::models::new_id;
use crate::domain::validation::{CodeFacts, LicenseFacts, MarketStatus, Status};
use crate::error::ApiError;
use crate::keys::KeyStore;
use crate::license_file::LicenseSource;
use crate::licensing::{self, LicenseTerms, whole_seconds};

/// `licenses.source` of authorization-code licenses.
pub const SOURCE_AUTHCODE: &str = "authcode";

/// The code as the license decision sees it.
pub fn code_facts(code: &AuthCode) -> CodeFacts {
    CodeFacts {
        activated: code.activated,
        status: MarketStatus::parse(&code.status),
        frozen: code.frozen,
        expires_at: code.expires_at,
    }
}

/// A license as the license decision sees it.
pub fn license_facts(license: &License) -> LicenseFacts {
    LicenseFacts {
        revoked: license.revoked,
    }
}

/// The `403` an activation answers for a refusal of [`crate::domain::validation::refusal`].
pub fn refused(status: Status) -> ApiError {
    match status {
        Status::Released => ApiError::LicenseReleased,
        Status::Revoked => ApiError::LicenseRevoked,
        Status::Frozen => ApiError::LicenseFrozen,
        Status::Expired => ApiError::LicenseExpired,
        other => ApiError::Internal(anyhow::anyhow!("{} is not a refusal", other.as_str())),
    }
}

/// The expiry a license of `code` carries now.
pub fn license_expiry(code: &AuthCode) -> Option<NaiveDateTime> {
    code.expires_at.map(whole_seconds)
}

/// True when the license no longer carries its code's expiry (a renewal, an unsubscription of a
/// renewal period, or the daily query corrected it) and a new revision can express the new one.
pub fn is_stale(code: &AuthCode, license: &License) -> bool {
    let wanted = license_expiry(code);
    wanted != license.expires_at && wanted.is_none_or(|end| end >= license.not_before)
}

fn terms(code: &AuthCode, fingerprint_sha256: &str, not_before: NaiveDateTime) -> LicenseTerms {
    LicenseTerms {
        source: LicenseSource::Authcode,
        code: Some(code.code.clone()),
        instance_id: None,
        order_id: code.order_id.clone(),
        product_id: code.product_id.clone(),
        fingerprint_sha256: fingerprint_sha256.to_owned(),
        seats: code.seats,
        not_before,
        expires_at: license_expiry(code),
    }
}

fn sign(
    keys: &KeyStore,
    license_id: &str,
    revision: i64,
    terms: &LicenseTerms,
    issued_at: NaiveDateTime,
) -> Result<String, ApiError> {
    licensing::issue(keys, license_id, revision, terms, issued_at)
        .map_err(|e| ApiError::Internal(anyhow::Error::new(e).context("signing a license")))
}

/// Signs and stores revision 1 of the license of a new binding; `now` is whole seconds and
/// becomes `not_before`.
pub fn first(
    conn: &mut DbConn,
    keys: &KeyStore,
    code: &AuthCode,
    activation: &Activation,
    now: NaiveDateTime,
) -> Result<License, ApiError> {
    let id = new_id();
    let terms = terms(code, &activation.fingerprint_sha256, now);
    let file = sign(keys, &id, 1, &terms, now)?;
    let license = NewLicense {
        id: id.clone(),
        source: SOURCE_AUTHCODE.to_owned(),
        code_id: Some(code.id.clone()),
        instance_id: None,
        activation_id: Some(activation.id.clone()),
        event_id: None,
        fingerprint_sha256: activation.fingerprint_sha256.clone(),
        revision: 1,
        file,
        not_before: now,
        expires_at: terms.expires_at,
        revoked: false,
        created_at: now,
        updated_at: now,
    };
    if !licenses::insert(conn, &license, "activated")? {
        return Err(ApiError::Internal(anyhow::anyhow!(
            "a new activation already had a license"
        )));
    }
    found(conn, &id)
}

/// Signs and stores the license's next revision with the code's current terms, for
/// `fingerprint_sha256` (the license's own, or a drifted machine's new one).
pub fn next_revision(
    conn: &mut DbConn,
    keys: &KeyStore,
    code: &AuthCode,
    license: &License,
    fingerprint_sha256: &str,
    reason: &str,
    now: NaiveDateTime,
) -> Result<License, ApiError> {
    let terms = terms(code, fingerprint_sha256, license.not_before);
    let file = sign(keys, &license.id, license.revision + 1, &terms, now)?;
    licenses::add_revision(conn, license, &file, terms.expires_at, reason, now)?;
    found(conn, &license.id)
}

fn found(conn: &mut DbConn, id: &str) -> Result<License, ApiError> {
    licenses::find(conn, id)?
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("license {id} vanished")))
}
