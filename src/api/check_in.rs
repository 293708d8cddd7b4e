//! `POST /v1/check-in`: is this machine's license still good, and is there a newer one?

use actix_web::web;
use serde_json::Value;

use super::checks::{self, Change, CheckedIn, Look};
use super::code_sync;
use super::context::Client;
use super::drift::{self, Candidate};
use super::dto::{CheckInResponse, ErrorBody, Machine, MachineRequest};
use crate::config::FingerprintMatch;
use crate::db;
use crate::db::models::code_usage::{self, day_key};
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
    let now = now_seconds();
    let day = day_key(now.date());

    // A code nobody knows: the unit stays spent.
    let Some(mut look) = look(&state, &machine, &day, None).await? else {
        return Ok(not_activated());
    };
    lookup.found();
    let drifted = match (state.settings.fingerprint_match, look.unbound()) {
        (FingerprintMatch::Most, true) => {
            let (code_id, fingerprint) = (look.code.id.clone(), machine.fingerprint.clone());
            db::run(&state.pool, move |conn| {
                drift::search(conn, &code_id, &fingerprint)
            })
            .await?
        }
        _ => None,
    };
    let stale_day =
        look.code.activated && look.code.last_queried_on.as_deref() != Some(day.as_str());
    if stale_day {
        code_sync::daily_query(&state, &client, &look.code, &day).await;
    }
    if stale_day || drifted.is_some() {
        // The query may have changed the code; the drifted binding joins the look.
        look = match self::look(&state, &machine, &day, drifted.clone()).await? {
            Some(look) => look,
            None => return Ok(not_activated()),
        };
    }

    let (validation, change) = checks::decide(&look, now);
    let checked = if change == Change::None {
        if let Some((code_id, sha)) = look.uncounted() {
            let day = day.clone();
            db::write(&state.pool, move |conn| {
                code_usage::record(conn, &code_id, &day, &sha, now).map_err(ApiError::from)
            })
            .await?;
        }
        Some(CheckedIn {
            validation,
            expires_at: look.code.expires_at,
            license: None,
        })
    } else {
        let keys = std::sync::Arc::clone(&state.keys);
        let code_id = look.code.id.clone();
        db::write(&state.pool, move |conn| {
            checks::change(conn, &keys, &machine, &code_id, &day, now, drifted.as_ref())
        })
        .await?
    };
    let Some(CheckedIn {
        validation,
        expires_at,
        license,
    }) = checked
    else {
        return Ok(not_activated());
    };
    Ok(web::Json(CheckInResponse {
        valid: validation.valid,
        status: validation.status.into(),
        expires_at: expires_at.map(rfc3339),
        license,
    }))
}

/// One read of what we know of the machine ([`checks::look`]).
async fn look(
    state: &AppState,
    machine: &Machine,
    day: &str,
    drifted: Option<Candidate>,
) -> Result<Option<Look>, ApiError> {
    let (machine, day) = (machine.clone(), day.to_owned());
    db::read(&state.pool, move |conn| {
        checks::look(conn, &machine, &day, drifted.as_ref())
    })
    .await
}

/// The answer for a code nobody knows.
fn not_activated() -> web::Json<CheckInResponse> {
    let validation = Validation::from(Status::NotActivated);
    web::Json(CheckInResponse {
        valid: validation.valid,
        status: validation.status.into(),
        expires_at: None,
        license: None,
    })
}
