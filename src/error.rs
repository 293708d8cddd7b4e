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
    /// A licensing rule refused; the service layer's error carries the message and decides the
    /// code and status (below), so a refusal is worded in one place.
    #[error("{0}")]
    Rule(service::Error),
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
            Self::Rule(rule) => rule_code_and_status(rule),
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

/// The one mapping of the service layer's errors to the APIs' codes and statuses (api.md §4).
fn rule_code_and_status(rule: &service::Error) -> (&'static str, StatusCode) {
    use service::{Error as E, Refusal};
    match rule {
        E::CodeNotFound => ("CODE_NOT_FOUND", StatusCode::NOT_FOUND),
        E::CodeNotClaimed => ("CODE_NOT_CLAIMED", StatusCode::CONFLICT),
        E::SeatLimitReached { .. } => ("SEAT_LIMIT_REACHED", StatusCode::CONFLICT),
        E::Refused { refusal } => match refusal {
            Refusal::Released => ("LICENSE_RELEASED", StatusCode::FORBIDDEN),
            Refusal::Revoked => ("LICENSE_REVOKED", StatusCode::FORBIDDEN),
            Refusal::Frozen => ("LICENSE_FROZEN", StatusCode::FORBIDDEN),
            Refusal::Expired => ("LICENSE_EXPIRED", StatusCode::FORBIDDEN),
        },
        E::ActivationNotFound => ("ACTIVATION_NOT_FOUND", StatusCode::NOT_FOUND),
        E::DeactivationLimitReached { .. } => {
            ("DEACTIVATION_LIMIT_REACHED", StatusCode::TOO_MANY_REQUESTS)
        }
        E::MarketplaceUnavailable => ("MARKETPLACE_UNAVAILABLE", StatusCode::SERVICE_UNAVAILABLE),
        E::InstanceNotFound(_) | E::NotFound(_) => ("NOT_FOUND", StatusCode::NOT_FOUND),
        E::Pending(_)
        | E::Conflict(_)
        | E::InstanceReleased
        | E::InstanceFrozen
        | E::NoInstanceResource { .. }
        | E::QuotaExhausted { .. } => ("CONFLICT", StatusCode::CONFLICT),
        E::OutsidePeriod | E::ExpiryRequired | E::FingerprintRequired | E::Invalid { .. } => {
            ("INVALID_REQUEST", StatusCode::BAD_REQUEST)
        }
        E::Unavailable => ("UNAVAILABLE", StatusCode::SERVICE_UNAVAILABLE),
        E::Internal(_) => ("INTERNAL", StatusCode::INTERNAL_SERVER_ERROR),
    }
}

impl From<service::Error> for ApiError {
    fn from(e: service::Error) -> Self {
        match e {
            // Kept apart so the cause chain is logged by `error_response`.
            service::Error::Internal(cause) => Self::Internal(cause),
            // The production interface names the instance; the admin API says what is missing.
            service::Error::InstanceNotFound(_) => Self::NotFound("instance"),
            rule => Self::Rule(rule),
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
            lost if crate::db::connection_lost(&lost) => Self::Unavailable,
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
