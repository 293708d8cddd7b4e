//! One license with its file and history; revoking and reinstating it (admin only).
//!
//! A revoked license answers `REVOKED` on check-in and `LICENSE_REVOKED` on activation (the
//! client API reads `licenses.revoked`); reinstating it lets it work again.

use actix_web::web;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use super::activations::ActivationView;
use super::auth::{AdminToken, Caller, SupportToken};
use super::common::{ErrorBody, Reason, ReasonBody, audit, reason_from_body};
use super::views::{self, EventView, LicenseView, UploadView};
use crate::db::ids::LicenseId;
use crate::db::models::events::Subject;
use crate::db::models::{self, activations as activation_rows, licenses};
use crate::db::{self, DbConn};
use crate::error::ApiError;
use crate::service::support;
use crate::startup::AppState;

/// A license with its file, every revision's file, its binding, uploads and history.
#[derive(Debug, Serialize, ToSchema)]
pub struct LicenseDetail {
    /// The license, its current file and its revisions (with their files).
    pub license: LicenseView,
    /// The binding the license was issued for (authorization-code licenses).
    pub activation: Option<ActivationView>,
    /// Uploads to KooGallery (instance licenses).
    pub uploads: Vec<UploadView>,
    /// The license's events, oldest first.
    pub events: Vec<EventView>,
}

/// One license, its file and history.
#[utoipa::path(
    get,
    path = "/admin/v1/licenses/{license_id}",
    tag = "admin",
    params(("license_id" = String, Path, description = "The license id")),
    responses(
        (status = 200, description = "The license in full", body = LicenseDetail),
        (status = 401, description = "Missing, unknown or revoked token", body = ErrorBody),
        (status = 404, description = "No such license", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn detail(
    _caller: SupportToken,
    path: web::Path<LicenseId>,
    state: web::Data<AppState>,
) -> Result<web::Json<LicenseDetail>, ApiError> {
    let id = path.into_inner();
    let detail = db::run(&state.pool, move |conn| -> Result<_, ApiError> {
        let license = licenses::find(conn, &id)?.ok_or(ApiError::NotFound("license"))?;
        let activation = match &license.activation_id {
            Some(a) => activation_rows::find(conn, a)?.map(ActivationView::from),
            None => None,
        };
        let uploads = views::uploads_of(conn, &[&id])?;
        let events = views::history(conn, &[(Subject::License, id.as_str())])?;
        Ok(LicenseDetail {
            license: views::license_view(conn, license, true)?,
            activation,
            uploads,
            events,
        })
    })
    .await?;
    Ok(web::Json(detail))
}

/// Revoke or reinstate, with its event and audit row, in one transaction.
fn set_revoked(
    conn: &mut DbConn,
    caller: &Caller,
    id: &LicenseId,
    revoked: bool,
    reason: &Reason,
) -> Result<LicenseView, ApiError> {
    conn.write_tx(|conn| {
        let license = support::set_revoked(
            conn,
            id,
            revoked,
            &caller.name,
            reason.as_str(),
            models::now(),
        )?;
        let action = if revoked {
            "license.revoke"
        } else {
            "license.reinstate"
        };
        audit(
            conn,
            caller,
            action,
            ("license", id.as_str()),
            reason,
            json!({
                "code_id": license.code_id,
                "instance_id": license.instance_id,
                "revision": license.revision,
            }),
        )?;
        Ok(views::license_view(conn, license, false)?)
    })
}

/// Revoke a license: check-ins answer `REVOKED` and activations `LICENSE_REVOKED` until it is
/// reinstated. Admin only.
#[utoipa::path(
    post,
    path = "/admin/v1/licenses/{license_id}/revoke",
    tag = "admin",
    params(("license_id" = String, Path, description = "The license id")),
    request_body = ReasonBody,
    responses(
        (status = 200, description = "The license, now revoked", body = LicenseView),
        (status = 400, description = "Missing or overlong reason", body = ErrorBody),
        (status = 401, description = "Missing, unknown or revoked token", body = ErrorBody),
        (status = 403, description = "The token is not an admin token", body = ErrorBody),
        (status = 404, description = "No such license", body = ErrorBody),
        (status = 409, description = "Already revoked", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all, fields(license.id = %path.as_str()))]
pub async fn revoke(
    AdminToken(caller): AdminToken,
    path: web::Path<LicenseId>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<web::Json<LicenseView>, ApiError> {
    let reason = reason_from_body(&body)?;
    let id = path.into_inner();
    let view = db::run(&state.pool, move |conn| {
        set_revoked(conn, &caller, &id, true, &reason)
    })
    .await?;
    Ok(web::Json(view))
}

/// Reinstate a revoked license. Admin only.
#[utoipa::path(
    post,
    path = "/admin/v1/licenses/{license_id}/reinstate",
    tag = "admin",
    params(("license_id" = String, Path, description = "The license id")),
    request_body = ReasonBody,
    responses(
        (status = 200, description = "The license, valid again", body = LicenseView),
        (status = 400, description = "Missing or overlong reason", body = ErrorBody),
        (status = 401, description = "Missing, unknown or revoked token", body = ErrorBody),
        (status = 403, description = "The token is not an admin token", body = ErrorBody),
        (status = 404, description = "No such license", body = ErrorBody),
        (status = 409, description = "Not revoked", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all, fields(license.id = %path.as_str()))]
pub async fn reinstate(
    AdminToken(caller): AdminToken,
    path: web::Path<LicenseId>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<web::Json<LicenseView>, ApiError> {
    let reason = reason_from_body(&body)?;
    let id = path.into_inner();
    let view = db::run(&state.pool, move |conn| {
        set_revoked(conn, &caller, &id, false, &reason)
    })
    .await?;
    Ok(web::Json(view))
}
