//! Online-License instances: search, and the detail view with licenses, uploads and history.
//!
//! Instance ids are KooGallery's `businessId`s, not time-ordered, so pages run on
//! (`created_at`, `instance_id`); the cursor is the last instance id of a page.

use actix_web::{HttpRequest, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::SupportToken;
use super::common::{ErrorBody, Limit, Page, non_empty, query, utc, utc_opt};
use super::views::{self, EventView, LicenseView, UploadView};
use crate::db;
use crate::db::ids::{InstanceId, LicenseId};
use crate::db::models::events::Subject;
use crate::db::models::instances::{self, Instance, InstanceStatus};
use crate::db::models::licenses;
use crate::error::ApiError;
use crate::startup::AppState;

/// Filters of the instance search.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InstanceSearch {
    /// An exact instance id, order id or product id.
    pub q: Option<String>,
    /// `ACTIVE`, `FROZEN` or `RELEASED`.
    pub status: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// An instance in a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct InstanceSummary {
    #[schema(value_type = String)]
    pub instance_id: InstanceId,
    pub order_id: String,
    pub order_line_id: String,
    /// `ACTIVE`, `FROZEN` or `RELEASED`.
    pub status: String,
    pub product_id: Option<String>,
    /// Devices the order allows (`null` until the order is known).
    pub quantity: Option<i64>,
    /// Distinct devices holding an unrevoked license.
    pub devices_used: i64,
    pub charging_mode: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An instance with everything that happened to it.
#[derive(Debug, Serialize, ToSchema)]
pub struct InstanceDetail {
    pub instance: InstanceSummary,
    /// Licenses issued by `getLicenseAsync`, oldest first, with their revisions.
    pub licenses: Vec<LicenseView>,
    /// Uploads of those licenses to KooGallery.
    pub uploads: Vec<UploadView>,
    /// The instance's and its licenses' events, oldest first.
    pub events: Vec<EventView>,
}

fn summary(instance: Instance, devices_used: i64) -> InstanceSummary {
    InstanceSummary {
        instance_id: instance.instance_id,
        order_id: instance.order_id,
        order_line_id: instance.order_line_id,
        status: instance.status.as_str().to_owned(),
        product_id: instance.product_id,
        quantity: instance.quantity,
        devices_used,
        charging_mode: instance.charging_mode,
        expires_at: utc_opt(instance.expires_at),
        created_at: utc(instance.created_at),
        updated_at: utc(instance.updated_at),
    }
}

/// Search online-License instances by instance id, order id or product id, newest first.
#[utoipa::path(
    get,
    path = "/admin/v1/instances",
    tag = "admin",
    params(InstanceSearch),
    responses(
        (status = 200, description = "One page of instances", body = Page<InstanceSummary>),
        (status = 400, description = "Bad filter or cursor", body = ErrorBody),
        (status = 401, description = "Missing, unknown or revoked token", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn search(
    _caller: SupportToken,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<web::Json<Page<InstanceSummary>>, ApiError> {
    let params: InstanceSearch = query(&req)?;
    let limit = Limit::parse(params.limit)?;
    let status_filter = match non_empty(params.status) {
        None => None,
        Some(s) => Some(InstanceStatus::parse(&s.to_uppercase()).ok_or_else(|| {
            ApiError::InvalidRequest("status: one of ACTIVE, FROZEN, RELEASED".into())
        })?),
    };
    let q = non_empty(params.q);
    let cursor = non_empty(params.cursor).map(InstanceId::from);
    let page = db::run(&state.pool, move |conn| -> Result<_, ApiError> {
        let after = match &cursor {
            None => None,
            Some(cursor) => Some(
                instances::find(conn, cursor)?
                    .ok_or_else(|| ApiError::InvalidRequest("cursor: no such instance".into()))?,
            ),
        };
        let filter = instances::Search {
            text: q.as_deref(),
            status: status_filter,
            after: after.as_ref(),
        };
        let rows = instances::search(conn, &filter, limit.fetch())?;
        let ids: Vec<InstanceId> = rows.iter().map(|i| i.instance_id.clone()).collect();
        let used = licenses::count_devices_by_instance(conn, &ids)?;
        Ok(Page::from_rows(
            rows,
            limit,
            |i| i.instance_id.to_string(),
            |i| {
                let n = used.get(&i.instance_id).copied().unwrap_or(0);
                summary(i, n)
            },
        ))
    })
    .await?;
    Ok(web::Json(page))
}

/// One instance with its licenses, their uploads, and its history.
#[utoipa::path(
    get,
    path = "/admin/v1/instances/{instanceId}",
    tag = "admin",
    params(("instanceId" = String, Path, description = "The instance id")),
    responses(
        (status = 200, description = "The instance in full", body = InstanceDetail),
        (status = 401, description = "Missing, unknown or revoked token", body = ErrorBody),
        (status = 404, description = "No such instance", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn detail(
    _caller: SupportToken,
    path: web::Path<InstanceId>,
    state: web::Data<AppState>,
) -> Result<web::Json<InstanceDetail>, ApiError> {
    let id = path.into_inner();
    let detail = db::run(&state.pool, move |conn| -> Result<_, ApiError> {
        let instance = instances::find(conn, &id)?.ok_or(ApiError::NotFound("instance"))?;
        let licenses = licenses::for_instance(conn, &id)?;
        let license_ids: Vec<&LicenseId> = licenses.iter().map(|l| &l.id).collect();
        let mut subjects = vec![(Subject::Instance, id.as_str())];
        subjects.extend(license_ids.iter().map(|l| (Subject::License, l.as_str())));
        let events = views::history(conn, &subjects)?;
        let uploads = views::uploads_of(conn, &license_ids)?;
        let used = licenses::count_devices(conn, &id)?;
        Ok(InstanceDetail {
            instance: summary(instance, used),
            licenses: views::license_views(conn, licenses)?,
            uploads,
            events,
        })
    })
    .await?;
    Ok(web::Json(detail))
}
