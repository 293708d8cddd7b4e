//! Issuing license files: the terms of a license become a signed payload (api.md §5). Shared by
//! `getLicenseAsync` and the client API's activation and check-in.

use chrono::{NaiveDateTime, Utc};

use crate::keys::KeyStore;
use crate::license_file::{self, LicenseError, LicensePayload, LicenseSource, PAYLOAD_VERSION};

/// What a license grants, before it is signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenseTerms {
    /// Authcode or instance.
    pub source: LicenseSource,
    /// The authorization code (authcode licenses); only its SHA-256 enters the payload.
    pub code: Option<String>,
    /// The instance (instance licenses).
    pub instance_id: Option<String>,
    pub order_id: Option<String>,
    pub product_id: Option<String>,
    /// SHA-256 of the normalised fingerprint.
    pub fingerprint_sha256: String,
    pub seats: i64,
    pub not_before: NaiveDateTime,
    /// `None`: perpetual.
    pub expires_at: Option<NaiveDateTime>,
}

/// Signs revision `revision` of license `license_id` with the active key; returns the armoured file.
pub fn issue(
    keys: &KeyStore,
    license_id: &str,
    revision: i64,
    terms: &LicenseTerms,
    issued_at: NaiveDateTime,
) -> Result<String, LicenseError> {
    let payload = LicensePayload {
        v: PAYLOAD_VERSION,
        license_id: license_id.to_owned(),
        revision,
        source: terms.source,
        code_sha256: terms.code.as_deref().map(license_file::code_sha256),
        instance_id: terms.instance_id.clone(),
        order_id: terms.order_id.clone(),
        product_id: terms.product_id.clone(),
        fingerprint_sha256: terms.fingerprint_sha256.clone(),
        seats: terms.seats,
        issued_at: issued_at.and_utc(),
        not_before: terms.not_before.and_utc(),
        expires_at: terms.expires_at.map(|t| t.and_utc()),
        features: serde_json::Map::new(),
    };
    license_file::sign(&payload, keys)
}

/// Seconds precision, as license files carry it, so the stored times equal the signed ones.
pub fn whole_seconds(t: NaiveDateTime) -> NaiveDateTime {
    chrono::DateTime::from_timestamp(t.and_utc().timestamp(), 0).map_or(t, |d| d.naive_utc())
}

/// Now, in whole seconds.
pub fn now_seconds() -> NaiveDateTime {
    whole_seconds(Utc::now().naive_utc())
}
