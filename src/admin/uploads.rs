//! License uploads to KooGallery (`getLicenseAsync` deliveries): the list, and support's retry of
//! an upload that ran out of attempts.

use actix_web::{HttpRequest, web};
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;

use super::auth::SupportToken;
use super::common::{
    ErrorBody, Limit, Page, ReasonBody, audit, non_empty, query, reason_from_body,
};
use super::views::UploadView;
use crate::db::models::events::{self, EventKind, NewEvent, Subject};
use crate::db::models::jobs::{self, JobKind, JobStatus};
use crate::db::{self};
use crate::error::ApiError;
use crate::koogallery::outbox;
use crate::startup::AppState;

/// Filters of the upload list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadSearch {
    /// `pending`, `running`, `done` or `failed`.
    pub status: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// License uploads, newest first.
#[utoipa::path(
    get,
    path = "/admin/v1/uploads",
    tag = "admin",
    params(UploadSearch),
    responses(
        (status = 200, description = "One page of uploads", body = Page<UploadView>),
        (status = 400, description = "Bad filter", body = ErrorBody),
        (status = 401, description = "Missing, unknown or revoked token", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    _caller: SupportToken,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<web::Json<Page<UploadView>>, ApiError> {
    let params: UploadSearch = query(&req)?;
    let limit = Limit::parse(params.limit)?;
    let status = match non_empty(params.status) {
        None => None,
        Some(s) => Some(JobStatus::parse(&s.to_lowercase()).ok_or_else(|| {
            ApiError::InvalidRequest("status: one of pending, running, done, failed".into())
        })?),
    };
    let cursor = non_empty(params.cursor);
    let page = db::run(&state.pool, move |conn| -> Result<_, ApiError> {
        let rows = jobs::list(
            conn,
            Some(JobKind::UploadLicense),
            status,
            cursor.as_deref(),
            limit.fetch(),
        )?;
        Ok(Page::from_rows(
            rows,
            limit,
            |j| j.id.clone(),
            UploadView::from,
        ))
    })
    .await?;
    Ok(web::Json(page))
}

/// Retry a failed upload: it runs again now, with fresh attempts.
#[utoipa::path(
    post,
    path = "/admin/v1/uploads/{id}/retry",
    tag = "admin",
    params(("id" = String, Path, description = "The upload (job) id")),
    request_body = ReasonBody,
    responses(
        (status = 200, description = "The upload, queued again", body = UploadView),
        (status = 400, description = "Missing or overlong reason", body = ErrorBody),
        (status = 401, description = "Missing, unknown or revoked token", body = ErrorBody),
        (status = 404, description = "No such upload", body = ErrorBody),
        (status = 409, description = "The upload has not failed", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all, fields(upload.id = %path.as_str()))]
pub async fn retry(
    SupportToken(caller): SupportToken,
    path: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<web::Json<UploadView>, ApiError> {
    let reason = reason_from_body(&body)?;
    let id = path.into_inner();
    let view = db::run(&state.pool, move |conn| {
        conn.write_tx(|conn| -> Result<UploadView, ApiError> {
            let job = jobs::find(conn, &id)?
                .filter(|j| j.kind == JobKind::UploadLicense)
                .ok_or(ApiError::NotFound("upload"))?;
            if job.status != JobStatus::Failed || !jobs::retry(conn, &id)? {
                return Err(ApiError::Conflict(format!(
                    "only a failed upload can be retried; this one is {}",
                    job.status
                )));
            }
            let before = UploadView::from(job);
            if let Some(license_id) = &before.license_id {
                let detail =
                    json!({"upload_id": id, "actor": caller.name, "reason": reason.as_str()});
                events::insert(
                    conn,
                    &NewEvent::new(
                        Subject::License,
                        license_id,
                        EventKind::UploadRetried,
                        &detail,
                    ),
                )?;
            }
            audit(
                conn,
                &caller,
                "upload.retry",
                ("upload", &id),
                &reason,
                json!({
                    "license_id": before.license_id,
                    "event_id": before.event_id,
                    "attempts": before.attempts,
                    "last_error": before.last_error,
                }),
            )?;
            let after = jobs::find(conn, &id)?.ok_or(ApiError::NotFound("upload"))?;
            Ok(UploadView::from(after))
        })
    })
    .await?;
    outbox::wake();
    Ok(web::Json(view))
}
