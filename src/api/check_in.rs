//! `POST /v1/check-in`: is this machine's license still good, and is there a newer one?

use actix_web::web;
use serde_json::Value;

use super::checks::{self, CheckedIn};
use super::code_sync;
use super::context::Client;
use super::dto::{CheckInResponse, ErrorResponse, Machine, MachineRequest};
use crate::db;
use crate::db::models::auth_codes;
use crate::db::models::code_usage::day_key;
use crate::domain::times::rfc3339;
use crate::domain::validation::{Status, Validation};
use crate::error::ApiError;
use crate::licensing::now_seconds;
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
        (status = 400, description = "INVALID_REQUEST: the message names the field", body = ErrorResponse),
        (status = 429, description = "RATE_LIMITED, with Retry-After", body = ErrorResponse),
    )
)]
#[tracing::instrument(name = "check_in", skip_all, fields(code.hint = tracing::field::Empty))]
pub async fn check_in(
    client: Client,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<web::Json<CheckInResponse>, ApiError> {
    let machine = Machine::try_from(MachineRequest::from_json(&body)?)?;
    tracing::Span::current().record("code.hint", machine.code.hint());
    let now = now_seconds();
    let day = day_key(now.date());

    let wanted = machine.code.as_str().to_owned();
    let row = db::run(&state.pool, move |conn| {
        auth_codes::find_by_code(conn, &wanted).map_err(ApiError::from)
    })
    .await?;
    match &row {
        None => return unknown(&client),
        Some(code) if code.activated && code.last_queried_on.as_deref() != Some(day.as_str()) => {
            code_sync::daily_query(&state, &client, code, &day).await;
        }
        Some(_) => {}
    }

    let keys = std::sync::Arc::clone(&state.keys);
    let matching = state.settings.fingerprint_match;
    let checked = db::run(&state.pool, move |conn| {
        checks::check_in(conn, &keys, matching, &machine, &day, now)
    })
    .await?;
    let Some(CheckedIn {
        validation,
        expires_at,
        license,
    }) = checked
    else {
        return unknown(&client);
    };
    Ok(web::Json(CheckInResponse {
        valid: validation.valid,
        status: validation.status.into(),
        expires_at: expires_at.map(rfc3339),
        license,
    }))
}

/// A code nobody knows: counts toward the caller's unknown-code limit.
fn unknown(client: &Client) -> Result<web::Json<CheckInResponse>, ApiError> {
    client.unknown_code()?;
    let validation = Validation::from(Status::NotActivated);
    Ok(web::Json(CheckInResponse {
        valid: validation.valid,
        status: validation.status.into(),
        expires_at: None,
        license: None,
    }))
}
