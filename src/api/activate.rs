//! `POST /v1/activate`: binds a machine to an authorization code and returns its signed license.

use actix_web::{HttpResponse, web};
use serde_json::Value;

use super::code_sync;
use super::context::{Client, Lookup};
use super::drift;
use super::dto::{ActivateRequest, ActivateResponse, ErrorBody, Machine, Seats};
use super::issue::Presigned;
use super::seats::{self, Bound, Known};
use crate::db;
use crate::db::models::code_usage::{self, day_key};
use crate::domain::times::rfc3339;
use crate::error::ApiError;
use crate::licensing::now_seconds;
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
    let (created, granted) = match bind(&state, &client, machine, lookup).await? {
        Bound::New(granted) => (true, granted),
        Bound::Repeat(granted) | Bound::Moved(granted) => (false, granted),
    };
    let body = ActivateResponse {
        license: granted.license.file,
        license_id: granted.license.id,
        status: "ACTIVE",
        expires_at: granted.license.expires_at.map(rfc3339),
        seats: Seats {
            used: granted.used,
            total: granted.total,
        },
    };
    Ok(if created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    }
    .json(body))
}

/// A repeat is answered from one read; anything else may activate the code with KooGallery
/// first, then binds in one locked transaction (a job of the group commit on SQLite, which also
/// records what KooGallery said when it was just asked). `lookup` goes back to the caller's
/// budget as soon as the code is known to exist.
async fn bind(
    state: &AppState,
    client: &Client,
    machine: Machine,
    lookup: Lookup,
) -> Result<Bound, ApiError> {
    let now = now_seconds();
    let day = day_key(now.date());
    let known = {
        let (machine, day) = (machine.clone(), day.clone());
        db::read(&state.pool, move |conn| {
            seats::look(conn, &machine, &day, now)
        })
        .await?
    };
    let (activated, expected) = match known {
        Known::Repeat { granted, uncounted } => {
            lookup.found();
            if let Some(code_id) = uncounted {
                let sha = machine.fingerprint.sha256_hex();
                db::write(&state.pool, move |conn| {
                    code_usage::record(conn, &code_id, &day, &sha, now).map_err(ApiError::from)
                })
                .await?;
            }
            return Ok(Bound::Repeat(*granted));
        }
        Known::NotActivated => {
            let activated =
                code_sync::ensure_activated(state, client, &machine.code, now, lookup).await?;
            let expected = activated
                .reported
                .as_ref()
                .map(|reported| reported.code_terms(machine.code.as_str()));
            (Some(activated), expected)
        }
        Known::Unbound(terms) => {
            lookup.found();
            (None, Some(*terms))
        }
    };
    let drifted = drift::find(state, state.settings.fingerprint_match, &machine).await?;
    // Signed here, on this worker, rather than on the database writer (see `Presigned`).
    let presigned = expected.and_then(|terms| {
        Presigned::sign(&state.keys, &terms, &machine.fingerprint.sha256_hex(), now)
    });
    let (gate, reported) = match activated {
        Some(code_sync::Activated { gate, reported }) => (Some(gate), reported),
        None => (None, None),
    };
    let keys = std::sync::Arc::clone(&state.keys);
    let bound = db::write(&state.pool, move |conn| {
        // What KooGallery reported stays recorded even when the binding is refused: the binding
        // rolls back to its own savepoint only.
        if let Some(reported) = &reported {
            code_sync::record(conn, machine.code.as_str(), reported, &day, now)?;
        }
        Ok::<_, ApiError>(seats::bind(
            conn,
            &keys,
            &machine,
            &day,
            now,
            presigned,
            drifted.as_ref(),
        ))
    })
    .await?;
    // Simultaneous first activations of the code waited on the gate until the code was recorded.
    drop(gate);
    bound
}
