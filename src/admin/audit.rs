//! `GET /admin/v1/audit`: every change made through the admin API — who (token name), what,
//! when, why.

use actix_web::{HttpRequest, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::SupportToken;
use super::common::{ErrorBody, Limit, Page, json_value, non_empty, parse_time, query, utc};
use crate::db;
use crate::db::models::audit_log::{self, AuditEntry, AuditFilter};
use crate::error::ApiError;
use crate::startup::AppState;

/// Filters of the audit log.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditSearch {
    /// A token name (`cli` for `koolicense admin create-token`).
    pub actor: Option<String>,
    /// An action, e.g. `license.revoke`, `activation.reset`, `upload.retry`, `token.create`.
    pub action: Option<String>,
    /// `license`, `activation`, `upload` or `token`.
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    /// Changes at or after this RFC 3339 time.
    pub since: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// One audited change.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditView {
    pub id: String,
    /// The token's name.
    pub actor: String,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    pub reason: String,
    /// Particulars of the change.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

impl From<AuditEntry> for AuditView {
    fn from(e: AuditEntry) -> Self {
        Self {
            id: e.id,
            actor: e.actor,
            action: e.action,
            target_type: e.target_type,
            target_id: e.target_id,
            reason: e.reason,
            detail: json_value(&e.detail),
            created_at: utc(e.created_at),
        }
    }
}

/// The audit log, newest first.
#[utoipa::path(
    get,
    path = "/admin/v1/audit",
    tag = "admin",
    params(AuditSearch),
    responses(
        (status = 200, description = "One page of audited changes", body = Page<AuditView>),
        (status = 400, description = "Bad filter", body = ErrorBody),
        (status = 401, description = "Missing, unknown or revoked token", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    _caller: SupportToken,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<web::Json<Page<AuditView>>, ApiError> {
    let params: AuditSearch = query(&req)?;
    let limit = Limit::parse(params.limit)?;
    let filter = AuditFilter {
        actor: non_empty(params.actor),
        action: non_empty(params.action),
        target_type: non_empty(params.target_type),
        target_id: non_empty(params.target_id),
        since: parse_time("since", params.since.as_deref())?,
        before_id: non_empty(params.cursor),
        limit: limit.fetch(),
    };
    let page = db::run(&state.pool, move |conn| -> Result<_, ApiError> {
        let rows = audit_log::list(conn, &filter)?;
        Ok(Page::from_rows(
            rows,
            limit,
            |e| e.id.clone(),
            AuditView::from,
        ))
    })
    .await?;
    Ok(web::Json(page))
}
