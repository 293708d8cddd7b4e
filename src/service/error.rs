//! The one error type of the service layer: what a licensing rule refused, or why it could not
//! run. It is mapped once to the client and admin APIs' [`crate::error::ApiError`] (in
//! `src/error.rs`) and once to the production interface's result codes (in
//! `koogallery/callbacks/reply.rs`); nothing else decides what a refusal looks like on the wire.

use crate::db::Unavailable;
use crate::db::ids::InstanceId;
use crate::domain::validation::Status;

/// A rule's refusal, or a failure underneath it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// KooGallery does not know the authorization code (92020005).
    #[error("the authorization code does not exist")]
    CodeNotFound,
    /// The buyer has not claimed the code yet (92020004).
    #[error(
        "the buyer must claim the authorization code in KooGallery's service supervision first"
    )]
    CodeNotClaimed,
    /// Every machine the code allows is bound.
    #[error("all {total} machines this code allows are in use")]
    SeatLimitReached {
        /// Seats the code allows.
        total: i64,
    },
    /// The license decision refuses the code or license.
    #[error("the license is {}", refusal.as_str())]
    Refused {
        /// Released, revoked, frozen or expired.
        refusal: Refusal,
    },
    /// No live binding for this code and fingerprint.
    #[error("no activation of this code on this machine")]
    ActivationNotFound,
    /// Too many client deactivations of one code inside 30 days.
    #[error("this code was deactivated {limit} times in the last 30 days; ask support to move it")]
    DeactivationLimitReached {
        /// The configured limit.
        limit: i64,
    },
    /// KooGallery could not be reached; nothing was recorded.
    #[error("KooGallery could not be reached; try again later")]
    MarketplaceUnavailable,
    /// The online-License instance does not exist.
    #[error("instance {0} does not exist.")]
    InstanceNotFound(InstanceId),
    /// The online-License instance is released.
    #[error("the instance has been released.")]
    InstanceReleased,
    /// The online-License instance is frozen.
    #[error("the instance is frozen.")]
    InstanceFrozen,
    /// The configured number of live instances is reached.
    #[error("no instance resource available: all {limit} instances are in use.")]
    NoInstanceResource {
        /// `KOOLICENSE_INSTANCE_LIMIT`.
        limit: i64,
    },
    /// Every license the instance's order allows is issued.
    #[error("all {devices} licenses of the order are in use.")]
    QuotaExhausted {
        /// Devices the order allows.
        devices: i64,
    },
    /// The requested validity lies outside the order's period.
    #[error("the requested validity must lie within the order's period.")]
    OutsidePeriod,
    /// A yearly or monthly License needs an expiry.
    #[error("a yearly/monthly License needs expireTime.")]
    ExpiryRequired,
    /// A device-bound License needs a fingerprint.
    #[error("a device fingerprint is required.")]
    FingerprintRequired,
    /// What was asked is not acceptable as given; the message names the field.
    #[error("invalid parameter {field}: {reason}")]
    Invalid {
        /// The field, as the caller named it.
        field: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// The named record does not exist (support's changes, by id).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The change is already made (support's changes).
    #[error("{0}")]
    Conflict(&'static str),
    /// The data the rule needs is still being fetched; ask again.
    #[error("{0}; ask again.")]
    Pending(&'static str),
    /// The database is unreachable or saturated.
    #[error("the service is temporarily unavailable")]
    Unavailable,
    /// Anything unexpected, with its cause chain (logged by whoever answers).
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

/// A refusal of [`crate::domain::validation::refusal`]: the statuses that stop a license.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// KooGallery released the code.
    Released,
    /// Support revoked the license.
    Revoked,
    /// KooGallery froze the code.
    Frozen,
    /// The code's period is over.
    Expired,
}

impl Refusal {
    /// The word the messages use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Released => "released",
            Self::Revoked => "revoked",
            Self::Frozen => "frozen",
            Self::Expired => "expired",
        }
    }
}

impl Error {
    /// A rule's answer to the caller, as opposed to a failure underneath it (the database, the
    /// marketplace, a bug).
    pub fn is_refusal(&self) -> bool {
        !matches!(
            self,
            Self::MarketplaceUnavailable | Self::Pending(_) | Self::Unavailable | Self::Internal(_)
        )
    }

    /// The refusal of a license decision's `status`; a status that is not a refusal is a bug.
    pub fn refused(status: Status) -> Self {
        let refusal = match status {
            Status::Released => Refusal::Released,
            Status::Revoked => Refusal::Revoked,
            Status::Frozen => Refusal::Frozen,
            Status::Expired => Refusal::Expired,
            other @ (Status::Valid | Status::NotActivated | Status::FingerprintMismatch) => {
                return Self::Internal(anyhow::anyhow!("{} is not a refusal", other.as_str()));
            }
        };
        Self::Refused { refusal }
    }
}

impl From<Unavailable> for Error {
    fn from(_: Unavailable) -> Self {
        Self::Unavailable
    }
}

impl From<diesel::result::Error> for Error {
    fn from(e: diesel::result::Error) -> Self {
        if crate::db::connection_lost(&e) {
            return Self::Unavailable;
        }
        Self::Internal(anyhow::Error::new(e).context("database error"))
    }
}

impl From<crate::license_file::LicenseError> for Error {
    fn from(e: crate::license_file::LicenseError) -> Self {
        Self::Internal(anyhow::Error::new(e).context("signing a license"))
    }
}
