//! The client and admin APIs' error type, with its table of stable codes and HTTP statuses.
//!
//! Three tiers: model code returns `diesel::QueryResult`; helpers use `anyhow` with context;
//! handlers return [`ApiError`], whose `Internal` variant is logged once and rendered opaque.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::db::Unavailable;
use crate::service;

/// Every error a client or support user can see. `code` strings never change once shipped.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed; the message names the field.
    #[error("{0}")]
    InvalidRequest(String),
    /// The body is larger than the endpoint takes (`413`).
    #[error("the body is larger than {0} bytes")]
    BodyTooLarge(usize),
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
    /// KooGallery froze the license (expired, in its grace period).
    #[error("the license is frozen")]
    LicenseFrozen,
    /// The license has expired.
    #[error("the license has expired")]
    LicenseExpired,
    /// KooGallery released the license.
    #[error("the license has been released")]
    LicenseReleased,
    /// Support revoked the license.
    #[error("the license has been revoked")]
    LicenseRevoked,
    /// No live binding for this code and fingerprint.
    #[error("no activation of this code on this machine")]
    ActivationNotFound,
    /// Too many deactivations of one code inside 30 days.
    #[error("this code was deactivated {limit} times in the last 30 days; ask support to move it")]
    DeactivationLimitReached {
        /// The configured limit.
        limit: i64,
    },
    /// KooGallery could not be reached; nothing was recorded and the client may retry.
    #[error("KooGallery could not be reached; try again later")]
    MarketplaceUnavailable,
    /// Too many requests from this address.
    #[error("too many requests; retry after {retry_after_secs} s")]
    RateLimited {
        /// Seconds until the next request is allowed.
        retry_after_secs: u64,
    },
    /// Missing or unknown admin token.
    #[error("a valid bearer token is required")]
    Unauthorized,
    /// The token's role does not allow this.
    #[error("this action needs the {0} role")]
    Forbidden(&'static str),
    /// The named thing does not exist.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The change conflicts with the current state.
    #[error("{0}")]
    Conflict(String),
    /// The database is unreachable or saturated.
    #[error("the service is temporarily unavailable")]
    Unavailable,
    /// Anything unexpected; logged with its cause chain, rendered without it.
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

/// The `{"code", "message"}` body of every error answer: client API, admin API and the edge.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// The stable error code (`SEAT_LIMIT_REACHED`, `UNAUTHORIZED`, …; api.md §4, §6).
    pub code: String,
    /// A readable explanation.
    pub message: String,
}

impl ApiError {
    /// The stable code and HTTP status of this error.
    pub fn code_and_status(&self) -> (&'static str, StatusCode) {
        match self {
            Self::InvalidRequest(_) => ("INVALID_REQUEST", StatusCode::BAD_REQUEST),
            Self::BodyTooLarge(_) => ("INVALID_REQUEST", StatusCode::PAYLOAD_TOO_LARGE),
            Self::CodeNotFound => ("CODE_NOT_FOUND", StatusCode::NOT_FOUND),
            Self::CodeNotClaimed => ("CODE_NOT_CLAIMED", StatusCode::CONFLICT),
            Self::SeatLimitReached { .. } => ("SEAT_LIMIT_REACHED", StatusCode::CONFLICT),
            Self::LicenseFrozen => ("LICENSE_FROZEN", StatusCode::FORBIDDEN),
            Self::LicenseExpired => ("LICENSE_EXPIRED", StatusCode::FORBIDDEN),
            Self::LicenseReleased => ("LICENSE_RELEASED", StatusCode::FORBIDDEN),
            Self::LicenseRevoked => ("LICENSE_REVOKED", StatusCode::FORBIDDEN),
            Self::ActivationNotFound => ("ACTIVATION_NOT_FOUND", StatusCode::NOT_FOUND),
            Self::DeactivationLimitReached { .. } => {
                ("DEACTIVATION_LIMIT_REACHED", StatusCode::TOO_MANY_REQUESTS)
            }
            Self::MarketplaceUnavailable => {
                ("MARKETPLACE_UNAVAILABLE", StatusCode::SERVICE_UNAVAILABLE)
            }
            Self::RateLimited { .. } => ("RATE_LIMITED", StatusCode::TOO_MANY_REQUESTS),
            Self::Unauthorized => ("UNAUTHORIZED", StatusCode::UNAUTHORIZED),
            Self::Forbidden(_) => ("FORBIDDEN", StatusCode::FORBIDDEN),
            Self::NotFound(_) => ("NOT_FOUND", StatusCode::NOT_FOUND),
            Self::Conflict(_) => ("CONFLICT", StatusCode::CONFLICT),
            Self::Unavailable => ("UNAVAILABLE", StatusCode::SERVICE_UNAVAILABLE),
            Self::Internal(_) => ("INTERNAL", StatusCode::INTERNAL_SERVER_ERROR),
        }
    }
}

/// The one mapping of the service layer's errors to the APIs' codes and statuses.
impl From<service::Error> for ApiError {
    fn from(e: service::Error) -> Self {
        use service::{Error as E, Refusal};
        match e {
            E::CodeNotFound => Self::CodeNotFound,
            E::CodeNotClaimed => Self::CodeNotClaimed,
            E::SeatLimitReached { total } => Self::SeatLimitReached { total },
            E::Refused { refusal } => match refusal {
                Refusal::Released => Self::LicenseReleased,
                Refusal::Revoked => Self::LicenseRevoked,
                Refusal::Frozen => Self::LicenseFrozen,
                Refusal::Expired => Self::LicenseExpired,
            },
            E::ActivationNotFound => Self::ActivationNotFound,
            E::DeactivationLimitReached { limit } => Self::DeactivationLimitReached { limit },
            E::MarketplaceUnavailable => Self::MarketplaceUnavailable,
            E::InstanceNotFound(_) => Self::NotFound("instance"),
            E::NotFound(what) => Self::NotFound(what),
            E::Pending(_)
            | E::Conflict(_)
            | E::InstanceReleased
            | E::InstanceFrozen
            | E::NoInstanceResource { .. }
            | E::QuotaExhausted { .. } => Self::Conflict(e.to_string()),
            E::OutsidePeriod | E::ExpiryRequired | E::FingerprintRequired | E::Invalid { .. } => {
                Self::InvalidRequest(e.to_string())
            }
            E::Unavailable => Self::Unavailable,
            E::Internal(cause) => Self::Internal(cause),
        }
    }
}

impl From<Unavailable> for ApiError {
    fn from(_: Unavailable) -> Self {
        Self::Unavailable
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(e: diesel::result::Error) -> Self {
        match e {
            diesel::result::Error::NotFound => Self::NotFound("record"),
            diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            ) => Self::Conflict("the record already exists".into()),
            other => Self::Internal(anyhow::Error::new(other).context("database error")),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.code_and_status().1
    }

    fn error_response(&self) -> HttpResponse {
        let (code, status) = self.code_and_status();
        if let Self::Internal(cause) = self {
            tracing::error!(error.cause_chain = ?cause, "request failed");
        }
        let mut response = HttpResponse::build(status);
        if let Self::RateLimited { retry_after_secs } = self {
            response.insert_header(("Retry-After", retry_after_secs.to_string()));
        }
        response.json(ErrorBody {
            code: code.to_owned(),
            message: self.to_string(),
        })
    }
}

/// Renders actix's own extractor failures (bad JSON, wrong content type, oversize bodies) in the
/// same `{"code", "message"}` shape, so no client ever sees a plain-text error.
pub fn json_error_handler(
    err: actix_web::error::JsonPayloadError,
    _req: &actix_web::HttpRequest,
) -> actix_web::Error {
    use actix_web::error::JsonPayloadError;
    let status = match &err {
        JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => {
            StatusCode::PAYLOAD_TOO_LARGE
        }
        JsonPayloadError::ContentType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        _ => StatusCode::BAD_REQUEST,
    };
    let body = ErrorBody {
        code: "INVALID_REQUEST".to_owned(),
        message: err.to_string(),
    };
    actix_web::error::InternalError::from_response(err, HttpResponse::build(status).json(body))
        .into()
}
