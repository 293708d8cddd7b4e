//! Issuing license files, for every entry point (the client API's activation and check-in,
//! `getLicenseAsync`, the legacy `getLicense`): what a license grants ([`LicenseTerms`], built
//! only here), its signed payload (api.md §5) and the row that stores its first revision. A field
//! added to the license is added here (and to the payload in `koolicense-core`).

use chrono::{NaiveDateTime, TimeDelta, Utc};

use crate::db::ids::{ActivationId, CodeId, InstanceId, LicenseId};
use crate::db::models::licenses::NewLicense;
use crate::keys::KeyStore;
use crate::license_file::{self, LicenseError, LicensePayload, LicenseSource, PAYLOAD_VERSION};

/// How long before its issuing second a license without a marketplace start time starts:
/// client clocks are minutes off, and a verifier with no tolerance (a strict reading of api.md
/// §5) must still accept a license just issued on a clock a few minutes behind.
/// (`getLicenseAsync` licenses start at the marketplace's `effectiveTime` instead.)
pub const NOT_BEFORE_LEEWAY: TimeDelta = TimeDelta::seconds(300);

/// The `not_before` of a first license issued at `now` (whole seconds) with no start time of
/// its own.
pub fn first_not_before(now: NaiveDateTime) -> NaiveDateTime {
    now - NOT_BEFORE_LEEWAY
}

/// What of an authorization code its licenses carry: a license is re-signed when any of it
/// changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeTerms {
    /// The authorization code (only its SHA-256 is signed).
    pub code: String,
    pub order_id: Option<String>,
    pub product_id: Option<String>,
    /// Machines allowed.
    pub seats: i64,
    /// `None`: perpetual.
    pub expires_at: Option<NaiveDateTime>,
}

/// What of an online-License instance (or a legacy order) a device's license carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceTerms<'a> {
    pub instance_id: &'a InstanceId,
    pub order_id: &'a str,
    pub product_id: Option<&'a str>,
    /// Devices the order allows.
    pub quantity: i64,
}

/// What a license grants, before it is signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenseTerms {
    /// Authcode or instance.
    pub source: LicenseSource,
    /// The authorization code (authcode licenses); only its SHA-256 enters the payload.
    pub code: Option<String>,
    /// The instance (instance licenses).
    pub instance_id: Option<InstanceId>,
    pub order_id: Option<String>,
    pub product_id: Option<String>,
    /// SHA-256 of the normalised fingerprint.
    pub fingerprint_sha256: String,
    pub seats: i64,
    pub not_before: NaiveDateTime,
    /// `None`: perpetual.
    pub expires_at: Option<NaiveDateTime>,
}

impl LicenseTerms {
    /// A machine's license under an authorization code.
    pub fn authcode(code: &CodeTerms, fingerprint_sha256: &str, not_before: NaiveDateTime) -> Self {
        Self {
            source: LicenseSource::Authcode,
            code: Some(code.code.clone()),
            instance_id: None,
            order_id: code.order_id.clone(),
            product_id: code.product_id.clone(),
            fingerprint_sha256: fingerprint_sha256.to_owned(),
            seats: code.seats,
            not_before: whole_seconds(not_before),
            expires_at: code.expires_at.map(whole_seconds),
        }
    }

    /// A device's license under an instance, valid from `not_before` until `expires_at`.
    pub fn instance(
        instance: &InstanceTerms<'_>,
        fingerprint_sha256: &str,
        not_before: NaiveDateTime,
        expires_at: Option<NaiveDateTime>,
    ) -> Self {
        Self {
            source: LicenseSource::Instance,
            code: None,
            instance_id: Some(instance.instance_id.clone()),
            order_id: Some(instance.order_id.to_owned()),
            product_id: instance.product_id.map(str::to_owned),
            fingerprint_sha256: fingerprint_sha256.to_owned(),
            seats: instance.quantity,
            not_before: whole_seconds(not_before),
            expires_at: expires_at.map(whole_seconds),
        }
    }
}

/// What a first license is stored under: the binding of a code, or an instance's event.
#[derive(Debug, Clone, Copy)]
pub enum Holder<'a> {
    /// A machine bound to an authorization code.
    Binding {
        code_id: &'a CodeId,
        activation_id: &'a ActivationId,
    },
    /// A device of an online-License instance, for one KooGallery event (`getLicenseAsync`'s
    /// `eventId`; the legacy `getLicense` has one per order).
    Event { event_id: &'a str },
}

/// The row of revision 1 of license `license_id`, signed as `file` from `terms`, for `holder`.
pub fn first_row(
    license_id: LicenseId,
    terms: &LicenseTerms,
    file: String,
    holder: Holder<'_>,
    now: NaiveDateTime,
) -> NewLicense {
    let (code_id, activation_id, event_id) = match holder {
        Holder::Binding {
            code_id,
            activation_id,
        } => (Some(code_id), Some(activation_id), None),
        Holder::Event { event_id } => (None, None, Some(event_id)),
    };
    NewLicense {
        id: license_id,
        source: terms.source.into(),
        code_id: code_id.cloned(),
        instance_id: terms.instance_id.clone(),
        activation_id: activation_id.cloned(),
        event_id: event_id.map(str::to_owned),
        fingerprint_sha256: terms.fingerprint_sha256.clone(),
        revision: 1,
        file,
        not_before: terms.not_before.into(),
        expires_at: terms.expires_at.map(Into::into),
        revoked: false,
        created_at: now.into(),
        updated_at: now.into(),
    }
}

/// Signs revision 1 of a new license with `terms` at `now` (whole seconds) and gives its row.
pub fn first(
    keys: &KeyStore,
    terms: &LicenseTerms,
    holder: Holder<'_>,
    now: NaiveDateTime,
) -> Result<NewLicense, LicenseError> {
    let license_id = LicenseId::generate();
    let file = issue(keys, &license_id, 1, terms, whole_seconds(now))?;
    Ok(first_row(license_id, terms, file, holder, now))
}

/// Signs revision `revision` of license `license_id` with the active key; returns the armoured file.
pub fn issue(
    keys: &KeyStore,
    license_id: &LicenseId,
    revision: i64,
    terms: &LicenseTerms,
    issued_at: NaiveDateTime,
) -> Result<String, LicenseError> {
    let payload = LicensePayload {
        v: PAYLOAD_VERSION,
        license_id: license_id.to_string(),
        revision,
        source: terms.source,
        code_sha256: terms.code.as_deref().map(license_file::code_sha256),
        instance_id: terms.instance_id.clone().map(String::from),
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

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;
    use crate::license_file::decode_unverified;

    fn at(secs: i64, nanos: u32) -> NaiveDateTime {
        chrono::DateTime::from_timestamp(secs, nanos)
            .unwrap()
            .naive_utc()
    }

    #[test]
    fn each_holder_links_its_row_and_the_source_follows_the_terms() {
        let now = at(1_800_000_000, 0);
        let code = CodeTerms {
            code: "PLTERMS0001".into(),
            order_id: Some("CS-1".into()),
            product_id: None,
            seats: 3,
            expires_at: None,
        };
        let terms = LicenseTerms::authcode(&code, "ab", first_not_before(now));
        let binding = Holder::Binding {
            code_id: &"c1".into(),
            activation_id: &"a1".into(),
        };
        let row = first_row("l1".into(), &terms, "FILE".into(), binding, now);
        let links = (
            row.code_id.as_ref().map(CodeId::as_str),
            row.activation_id.as_ref().map(ActivationId::as_str),
        );
        assert_eq!(links, (Some("c1"), Some("a1")));
        assert_eq!((row.source.as_str(), row.event_id), ("authcode", None));
        assert_eq!(
            (row.revision, row.not_before.0),
            (1, now - NOT_BEFORE_LEEWAY)
        );

        let order = InstanceTerms {
            instance_id: &"i1".into(),
            order_id: "CS-2",
            product_id: Some("P"),
            quantity: 2,
        };
        let terms = LicenseTerms::instance(&order, "cd", now, None);
        let row = first_row(
            "l2".into(),
            &terms,
            "FILE".into(),
            Holder::Event { event_id: "e1" },
            now,
        );
        assert_eq!(
            (row.source.as_str(), row.event_id.as_deref()),
            ("instance", Some("e1"))
        );
        assert_eq!(
            (
                row.code_id,
                row.instance_id.as_ref().map(InstanceId::as_str)
            ),
            (None, Some("i1"))
        );
    }

    #[test]
    fn a_first_license_stores_exactly_what_it_signs_in_whole_seconds() {
        let dir = tempfile::tempdir().unwrap();
        KeyStore::generate(dir.path()).unwrap();
        let keys = KeyStore::load(dir.path()).unwrap();
        let order = InstanceTerms {
            instance_id: &"i1".into(),
            order_id: "CS-3",
            product_id: None,
            quantity: 4,
        };
        let (start, end) = (
            at(1_800_000_000, 250_000_000),
            at(1_900_000_000, 999_000_000),
        );
        let terms = LicenseTerms::instance(&order, &"ef".repeat(32), start, Some(end));
        let row = first(
            &keys,
            &terms,
            Holder::Event { event_id: "e1" },
            at(1_800_000_100, 5),
        )
        .unwrap();
        let (_, payload) = decode_unverified(&row.file).unwrap();
        assert_eq!(payload.license_id, row.id.as_str());
        assert_eq!(payload.not_before.naive_utc(), row.not_before.0);
        assert_eq!(
            payload.expires_at.map(|t| t.naive_utc()),
            row.expires_at.map(|t| t.0)
        );
        assert_eq!(row.not_before.0, at(1_800_000_000, 0));
        assert_eq!(
            (payload.seats, payload.source),
            (4, LicenseSource::Instance)
        );
    }
}
