//! `POST /v1/check-in`: is this machine's license still good, and is there a newer one?

use actix_web::web;
use serde_json::Value;

use super::context::Client;
use super::dto::{CheckInResponse, ErrorBody, Machine, MachineRequest};
use crate::domain::times::rfc3339;
use crate::error::ApiError;
use crate::service::renewal::CheckedIn;
use crate::startup::AppState;

/// Check a machine in.
///
/// Always `200` for a well-formed request: `valid` says whether the software may run, `status`
/// why. The first check-in of a code each UTC day asks KooGallery for the code's state (when
/// KooGallery cannot be reached, the local state answers). After a renewal, `license` carries the
/// license's next revision with the new expiry.
#[utoipa::path(
    post,
    path = "/v1/check-in",
    tag = "client",
    request_body = MachineRequest,
    responses(
        (status = 200, description = "The verdict", body = CheckInResponse),
        (status = 400, description = "INVALID_REQUEST: the message names the field", body = ErrorBody),
        (status = 429, description = "RATE_LIMITED, with Retry-After", body = ErrorBody),
    )
)]
#[tracing::instrument(name = "check_in", level = "debug", skip_all, fields(code.hint = tracing::field::Empty))]
pub async fn check_in(
    client: Client,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<web::Json<CheckInResponse>, ApiError> {
    let machine = Machine::try_from(MachineRequest::from_json(&body)?)?;
    tracing::Span::current().record("code.hint", machine.code.hint());
    let lookup = client.lookup().await?;
    let CheckedIn {
        validation,
        expires_at,
        license,
    } = state.bindings.check_in(machine, lookup).await?;
    Ok(web::Json(CheckInResponse {
        valid: validation.valid,
        status: validation.status.into(),
        expires_at: expires_at.map(rfc3339),
        license,
    }))
}
