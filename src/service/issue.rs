//! Signing and storing authcode licenses, and reading stored rows as the facts the license
//! decision ([`crate::domain::validation`]) works on.
//!
//! A license follows its code: its expiry is the code's, its seats the code's `amount`. Times are
//! whole seconds, the same values that are signed, so a stored license compares equal to the
//! code it was issued from.

use chrono::NaiveDateTime;

use crate::db::DbConn;
use crate::db::ids::LicenseId;
use crate::db::models::activations::Activation;
use crate::db::models::auth_codes::{AuthCode, CodeStatus};
use crate::db::models::first_bindings;
use crate::db::models::licenses::{self, License, NewLicense};
use crate::domain::validation::{CodeFacts, LicenseFacts, MarketStatus};
use crate::keys::KeyStore;
use crate::licensing::{self, Holder, LicenseTerms, whole_seconds};
use crate::service::Error;

pub use crate::licensing::{CodeTerms, first_not_before};

/// The code as the license decision sees it.
pub fn code_facts(code: &AuthCode) -> CodeFacts {
    CodeFacts {
        activated: code.activated,
        status: market_status(code.status),
        frozen: code.frozen,
        expires_at: code.expires_at,
    }
}

/// The stored status as the license decision reads it.
fn market_status(status: CodeStatus) -> MarketStatus {
    match status {
        CodeStatus::Alive => MarketStatus::Alive,
        CodeStatus::Expired => MarketStatus::Expired,
        CodeStatus::Released => MarketStatus::Released,
    }
}

/// A license as the license decision sees it.
pub fn license_facts(license: &License) -> LicenseFacts {
    LicenseFacts {
        revoked: license.revoked,
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

impl From<&AuthCode> for CodeTerms {
    fn from(code: &AuthCode) -> Self {
        Self {
            code: code.code.clone(),
            order_id: code.order_id.clone(),
            product_id: code.product_id.clone(),
            seats: code.seats,
            expires_at: code.expires_at,
        }
    }
}

/// Revision 1 of a new binding's license, signed before the binding's transaction with the
/// terms the code is expected to have, so that the signature (the costliest step of an
/// activation) is not made on SQLite's single writer thread. [`first`] uses it only when the
/// locked code still has those terms, and signs afresh otherwise.
#[derive(Debug, Clone)]
pub struct Presigned {
    id: LicenseId,
    terms: LicenseTerms,
    file: String,
}

impl Presigned {
    /// Signs revision 1 for `code` as expected, the machine `fingerprint_sha256`, at `now`
    /// (whole seconds, the binding's time). `None` when these terms cannot be signed (an expiry
    /// already past): the transaction then refuses the code, or signs and reports the error.
    pub fn sign(
        keys: &KeyStore,
        code: &CodeTerms,
        fingerprint_sha256: &str,
        now: NaiveDateTime,
    ) -> Option<Self> {
        let id = LicenseId::generate();
        let terms = LicenseTerms::authcode(code, fingerprint_sha256, first_not_before(now));
        let file = sign(keys, &id, 1, &terms, now).ok()?;
        Some(Self { id, terms, file })
    }
}

fn sign(
    keys: &KeyStore,
    license_id: &LicenseId,
    revision: i64,
    terms: &LicenseTerms,
    issued_at: NaiveDateTime,
) -> Result<String, Error> {
    licensing::issue(keys, license_id, revision, terms, issued_at)
        .map_err(|e| Error::Internal(anyhow::Error::new(e).context("signing a license")))
}

/// Stores revision 1 of the license of a new binding: `presigned` when it carries the code's
/// current terms, else signed now. `now` is whole seconds; `not_before` is
/// [`first_not_before`] of it, and later revisions keep that.
pub fn first(
    conn: &mut DbConn,
    keys: &KeyStore,
    code: &AuthCode,
    activation: &Activation,
    presigned: Option<Presigned>,
    now: NaiveDateTime,
) -> Result<License, Error> {
    let license = first_row(keys, code, activation, presigned, now)?;
    if !licenses::insert(conn, &license, first_bindings::REASON)? {
        return Err(Error::Internal(anyhow::anyhow!(
            "a new activation already had a license"
        )));
    }
    // Exactly the row just written: no need to read it back.
    Ok(License::from(license))
}

/// Revision 1 of the license of a new binding, as [`first`] stores it.
pub fn first_row(
    keys: &KeyStore,
    code: &AuthCode,
    activation: &Activation,
    presigned: Option<Presigned>,
    now: NaiveDateTime,
) -> Result<NewLicense, Error> {
    let terms = LicenseTerms::authcode(
        &CodeTerms::from(code),
        &activation.fingerprint_sha256,
        first_not_before(now),
    );
    let (id, file) = first_file(keys, presigned, &terms, now)?;
    let holder = Holder::Binding {
        code_id: &code.id,
        activation_id: &activation.id,
    };
    Ok(licensing::first_row(id, &terms, file, holder, now))
}

/// The id and file of revision 1 with `terms`: the presigned ones when they carry exactly
/// these terms, else freshly signed.
fn first_file(
    keys: &KeyStore,
    presigned: Option<Presigned>,
    terms: &LicenseTerms,
    now: NaiveDateTime,
) -> Result<(LicenseId, String), Error> {
    match presigned {
        Some(signed) if signed.terms == *terms => Ok((signed.id, signed.file)),
        _ => {
            let id = LicenseId::generate();
            let file = sign(keys, &id, 1, terms, now)?;
            Ok((id, file))
        }
    }
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
) -> Result<License, Error> {
    let terms = LicenseTerms::authcode(
        &CodeTerms::from(code),
        fingerprint_sha256,
        license.not_before,
    );
    let file = sign(keys, &license.id, license.revision + 1, &terms, now)?;
    licenses::add_revision(conn, license, &file, terms.expires_at, reason, now)?;
    found(conn, &license.id)
}

fn found(conn: &mut DbConn, id: &LicenseId) -> Result<License, Error> {
    licenses::find(conn, id)?
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("license {id} vanished")))
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use chrono::TimeDelta;

    use super::*;
    use crate::license_file::decode_unverified;

    fn keys(dir: &tempfile::TempDir) -> KeyStore {
        KeyStore::generate(dir.path()).unwrap();
        KeyStore::load(dir.path()).unwrap()
    }

    fn code(expires_in_days: i64, now: NaiveDateTime) -> CodeTerms {
        CodeTerms {
            code: "PLPRESIGNED0001".into(),
            order_id: Some("CS-1".into()),
            product_id: Some("OFFI-1".into()),
            seats: 2,
            expires_at: Some(now + TimeDelta::days(expires_in_days)),
        }
    }

    #[test]
    fn a_presigned_license_is_used_only_while_the_code_keeps_its_terms() {
        let dir = tempfile::tempdir().unwrap();
        let keys = keys(&dir);
        let now = crate::licensing::now_seconds();
        let sha = "ab".repeat(32);
        let signed = Presigned::sign(&keys, &code(30, now), &sha, now).unwrap();

        let same = LicenseTerms::authcode(&code(30, now), &sha, first_not_before(now));
        let (id, file) = first_file(&keys, Some(signed.clone()), &same, now).unwrap();
        assert_eq!(
            (id.as_str(), file.as_str()),
            (signed.id.as_str(), signed.file.as_str())
        );

        // Renewed between the signature and the transaction: signed again, with the new expiry.
        let renewed = LicenseTerms::authcode(&code(60, now), &sha, first_not_before(now));
        let (id, file) = first_file(&keys, Some(signed.clone()), &renewed, now).unwrap();
        assert_ne!(id, signed.id);
        let (_, payload) = decode_unverified(&file).unwrap();
        assert_eq!(payload.expires_at, renewed.expires_at.map(|t| t.and_utc()));
        assert_eq!(payload.license_id, id.as_str());
    }

    #[test]
    fn a_first_license_starts_five_minutes_before_it_is_issued() {
        let dir = tempfile::tempdir().unwrap();
        let keys = keys(&dir);
        let now = crate::licensing::now_seconds();
        let signed = Presigned::sign(&keys, &code(30, now), &"ef".repeat(32), now).unwrap();
        let (_, payload) = decode_unverified(&signed.file).unwrap();
        assert_eq!(payload.issued_at, now.and_utc());
        assert_eq!(payload.not_before, now.and_utc() - TimeDelta::seconds(300));
    }

    #[test]
    fn terms_that_cannot_be_signed_are_not_presigned() {
        let dir = tempfile::tempdir().unwrap();
        let keys = keys(&dir);
        let now = crate::licensing::now_seconds();
        assert!(Presigned::sign(&keys, &code(-1, now), &"cd".repeat(32), now).is_none());
    }
}
