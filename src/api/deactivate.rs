//! `POST /v1/deactivate`: frees a machine's seat.

use actix_web::web;
use serde_json::Value;

use super::context::Client;
use super::dto::{DeactivateResponse, ErrorBody, Machine, MachineRequest};
use crate::error::ApiError;
use crate::startup::AppState;

/// Free the seat of a machine.
///
/// Clients may free seats of one code at most `KOOLICENSE_DEACTIVATION_LIMIT` times in 30 days,
/// so a code cannot hop between more machines than it pays for; beyond that support resets
/// bindings.
#[utoipa::path(
    post,
    path = "/v1/deactivate",
    tag = "client",
    request_body = MachineRequest,
    responses(
        (status = 200, description = "The seat is free", body = DeactivateResponse),
        (status = 400, description = "INVALID_REQUEST: the message names the field", body = ErrorBody),
        (status = 404, description = "ACTIVATION_NOT_FOUND: the code is not bound to this machine", body = ErrorBody),
        (status = 429, description = "DEACTIVATION_LIMIT_REACHED, or RATE_LIMITED with Retry-After", body = ErrorBody),
    )
)]
#[tracing::instrument(name = "deactivate", level = "debug", skip_all, fields(code.hint = tracing::field::Empty))]
pub async fn deactivate(
    client: Client,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<web::Json<DeactivateResponse>, ApiError> {
    let machine = Machine::try_from(MachineRequest::from_json(&body)?)?;
    tracing::Span::current().record("code.hint", machine.code.hint());
    let lookup = client.lookup().await?;
    let seats = state.bindings.deactivate(machine, lookup).await?;
    Ok(web::Json(DeactivateResponse {
        deactivated: true,
        seats,
    }))
}
