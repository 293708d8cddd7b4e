//! Bindings of codes to machines, as support sees them, and `DELETE /admin/v1/activations/{id}`:
//! resetting a binding frees its seat when a customer changed hardware.

use actix_web::{HttpRequest, web};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use super::auth::SupportToken;
use super::common::{ErrorBody, ReasonQuery, audit, reason_from_query, utc, utc_opt};
use crate::db;
use crate::db::ids::{ActivationId, CodeId};
use crate::db::models;
use crate::db::models::activations::Activation;
use crate::error::ApiError;
use crate::service::seats::Seats;
use crate::service::support;
use crate::startup::AppState;

/// A binding of a code to a machine.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActivationView {
    #[schema(value_type = String)]
    pub id: ActivationId,
    #[schema(value_type = String)]
    pub code_id: CodeId,
    /// The machine's fingerprint as the client sent it (`MAC|disk|board|cpu`).
    pub fingerprint: String,
    pub fingerprint_sha256: String,
    pub hostname: Option<String>,
    /// True while the binding holds a seat.
    pub live: bool,
    pub created_at: DateTime<Utc>,
    pub deactivated_at: Option<DateTime<Utc>>,
    /// `client` or `support`.
    pub deactivated_by: Option<String>,
}

impl From<Activation> for ActivationView {
    fn from(row: Activation) -> Self {
        Self {
            live: row.deactivated_at.is_none(),
            id: row.id,
            code_id: row.code_id,
            fingerprint: row.fingerprint,
            fingerprint_sha256: row.fingerprint_sha256,
            hostname: row.hostname,
            created_at: utc(row.created_at),
            deactivated_at: utc_opt(row.deactivated_at),
            deactivated_by: row.deactivated_by.map(|by| by.as_str().to_owned()),
        }
    }
}

/// The answer to a reset: the freed binding and the code's seats now.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResetBinding {
    pub activation: ActivationView,
    pub seats: Seats,
}

/// Reset a binding: frees the seat it holds (the customer changed hardware).
///
/// The reason goes in the query string (`?reason=...`), since `DELETE` bodies are dropped by many
/// HTTP clients. The code's license file on the old machine is not revoked; its check-ins answer
/// `NOT_ACTIVATED` from now on.
#[utoipa::path(
    delete,
    path = "/admin/v1/activations/{id}",
    tag = "admin",
    params(("id" = String, Path, description = "The activation id"), ReasonQuery),
    responses(
        (status = 200, description = "The seat is free", body = ResetBinding),
        (status = 400, description = "Missing or overlong reason", body = ErrorBody),
        (status = 401, description = "Missing, unknown or revoked token", body = ErrorBody),
        (status = 404, description = "No such activation", body = ErrorBody),
        (status = 409, description = "The activation was already deactivated", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all, fields(activation.id = %path.as_str()))]
pub async fn reset_binding(
    SupportToken(caller): SupportToken,
    path: web::Path<ActivationId>,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<web::Json<ResetBinding>, ApiError> {
    let reason = reason_from_query(&req)?;
    let id = path.into_inner();
    let answer = db::run(&state.pool, move |conn| {
        conn.write_tx(|conn| -> Result<ResetBinding, ApiError> {
            let (activation, seats) =
                support::reset_binding(conn, &id, &caller.name, reason.as_str(), models::now())?;
            audit(
                conn,
                &caller,
                "activation.reset",
                ("activation", id.as_str()),
                &reason,
                json!({
                    "code_id": activation.code_id,
                    "fingerprint_sha256": activation.fingerprint_sha256,
                }),
            )?;
            Ok(ResetBinding {
                activation: activation.into(),
                seats,
            })
        })
    })
    .await?;
    Ok(web::Json(answer))
}
