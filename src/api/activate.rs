//! `POST /v1/activate`: binds a machine to an authorization code and returns its signed license.

use actix_web::{HttpResponse, web};
use serde_json::Value;

use super::context::Client;
use super::dto::{ActivateRequest, ActivateResponse, ErrorBody, Machine};
use crate::domain::times::rfc3339;
use crate::error::ApiError;
use crate::service::binding::Bound;
use crate::startup::AppState;

/// Activate an authorization code on a machine.
///
/// The first activation of a code activates it with KooGallery. A new binding answers `201`; a
/// repeat of the same code and fingerprint answers `200` with the stored license, byte for byte,
/// and takes no seat. With `KOOLICENSE_FINGERPRINT_MATCH=most`, a machine whose hardware partly
/// changed keeps its seat and gets its license's next revision for the new fingerprint (`200`).
#[utoipa::path(
    post,
    path = "/v1/activate",
    tag = "client",
    request_body = ActivateRequest,
    responses(
        (status = 201, description = "A new binding and its license", body = ActivateResponse),
        (status = 200, description = "The machine was already bound: its license", body = ActivateResponse),
        (status = 400, description = "INVALID_REQUEST: the message names the field", body = ErrorBody),
        (status = 403, description = "LICENSE_FROZEN, LICENSE_EXPIRED, LICENSE_RELEASED or LICENSE_REVOKED", body = ErrorBody),
        (status = 404, description = "CODE_NOT_FOUND: KooGallery does not know the code", body = ErrorBody),
        (status = 409, description = "CODE_NOT_CLAIMED (the buyer must claim it first) or SEAT_LIMIT_REACHED", body = ErrorBody),
        (status = 429, description = "RATE_LIMITED, with Retry-After", body = ErrorBody),
        (status = 503, description = "MARKETPLACE_UNAVAILABLE: nothing was recorded; retry later", body = ErrorBody),
    )
)]
#[tracing::instrument(name = "activate", level = "debug", skip_all, fields(code.hint = tracing::field::Empty))]
pub async fn activate(
    client: Client,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let machine = Machine::try_from(ActivateRequest::from_json(&body)?)?;
    tracing::Span::current().record("code.hint", machine.code.hint());
    let lookup = client.lookup().await?;
    let (created, granted) = match state.bindings.activate(machine, lookup).await? {
        Bound::New(granted) => (true, granted),
        Bound::Repeat(granted) | Bound::Moved(granted) => (false, granted),
    };
    let body = ActivateResponse {
        license: granted.license.file,
        license_id: granted.license.id,
        status: "ACTIVE",
        expires_at: granted.license.expires_at.map(rfc3339),
        seats: granted.seats,
    };
    Ok(if created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    }
    .json(body))
}
