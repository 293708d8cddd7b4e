//! Authorization codes: search, and the detail view with activations, licenses and history.
//!
//! Lists show only a code's hint; the detail shows the full code (support reads it to the
//! customer), and nothing here ever logs it.

use actix_web::{HttpRequest, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::activations::ActivationView;
use super::auth::SupportToken;
use super::common::{ErrorBody, Limit, Page, non_empty, query, utc, utc_opt};
use super::views::{self, EventView, LicenseView};
use crate::db;
use crate::db::ids::CodeId;
use crate::db::models::auth_codes::{self, AuthCode, CodeStatus};
use crate::db::models::events::Subject;
use crate::db::models::{activations as activation_rows, licenses};
use crate::error::ApiError;
use crate::service::seats::{self as seat_rule, Seats};
use crate::startup::AppState;

/// The `FROZEN` status filter: KooGallery freezes a code apart from its lifecycle status.
const FROZEN: &str = "FROZEN";

/// Filters of the code search.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CodeSearch {
    /// The start of a code, or an exact order id or product id.
    pub q: Option<String>,
    /// `ALIVE`, `EXPIRED`, `RELEASED`, or `FROZEN`.
    pub status: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A code in a list (its hint, never the full code).
#[derive(Debug, Serialize, ToSchema)]
pub struct CodeSummary {
    /// Internal id: also accepted by `GET /admin/v1/codes/{code}`.
    #[schema(value_type = String)]
    pub id: CodeId,
    /// The first four and last two characters of the code.
    pub code_hint: String,
    /// `ALIVE`, `EXPIRED` or `RELEASED`.
    pub status: String,
    pub frozen: bool,
    /// The software has activated it with KooGallery.
    pub activated: bool,
    pub order_id: Option<String>,
    pub product_id: Option<String>,
    pub seats: Seats,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A code in full.
#[derive(Debug, Serialize, ToSchema)]
pub struct CodeView {
    #[serde(flatten)]
    pub summary: CodeSummary,
    /// The full authorization code.
    pub code: String,
    /// The UTC day of the last daily query of KooGallery.
    pub last_queried_on: Option<String>,
}

/// A code with everything that happened to it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CodeDetail {
    pub code: CodeView,
    /// Bindings to machines, oldest first (freed ones too).
    pub activations: Vec<ActivationView>,
    /// Licenses issued for the code, oldest first, with their revisions.
    pub licenses: Vec<LicenseView>,
    /// The code's, its activations' and its licenses' events, oldest first.
    pub events: Vec<EventView>,
}

fn summary(code: &AuthCode, seats: Seats) -> CodeSummary {
    CodeSummary {
        id: code.id.clone(),
        code_hint: code.code_hint.clone(),
        status: code.status.as_str().to_owned(),
        frozen: code.frozen,
        activated: code.activated,
        order_id: code.order_id.clone(),
        product_id: code.product_id.clone(),
        seats,
        expires_at: utc_opt(code.expires_at),
        created_at: utc(code.created_at),
        updated_at: utc(code.updated_at),
    }
}

/// Search authorization codes by code (prefix), order id or product id, newest first.
#[utoipa::path(
    get,
    path = "/admin/v1/codes",
    tag = "admin",
    params(CodeSearch),
    responses(
        (status = 200, description = "One page of codes", body = Page<CodeSummary>),
        (status = 400, description = "Bad filter", body = ErrorBody),
        (status = 401, description = "Missing, unknown or revoked token", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn search(
    _caller: SupportToken,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<web::Json<Page<CodeSummary>>, ApiError> {
    let params: CodeSearch = query(&req)?;
    let limit = Limit::parse(params.limit)?;
    let status_filter = non_empty(params.status).map(|s| s.to_uppercase());
    let frozen_only = status_filter.as_deref() == Some(FROZEN);
    let status = match status_filter.as_deref() {
        None | Some(FROZEN) => None,
        Some(s) => Some(CodeStatus::parse(s).ok_or_else(|| {
            ApiError::InvalidRequest("status: one of ALIVE, EXPIRED, RELEASED, FROZEN".into())
        })?),
    };
    let q = non_empty(params.q);
    let cursor = non_empty(params.cursor).map(CodeId::from);
    let page = db::run(&state.pool, move |conn| -> Result<_, ApiError> {
        let filter = auth_codes::Search {
            text: q.as_deref(),
            frozen_only,
            status,
            before_id: cursor.as_ref(),
        };
        let rows = auth_codes::search(conn, &filter, limit.fetch())?;
        let ids: Vec<CodeId> = rows.iter().map(|c| c.id.clone()).collect();
        let used = activation_rows::count_live_by_code(conn, &ids)?;
        Ok(Page::from_rows(
            rows,
            limit,
            |c| c.id.to_string(),
            |c| {
                summary(
                    &c,
                    Seats::of_code(&c, used.get(&c.id).copied().unwrap_or(0)),
                )
            },
        ))
    })
    .await?;
    Ok(web::Json(page))
}

/// One code (by the code itself or its internal id) with its activations, licenses and history.
#[utoipa::path(
    get,
    path = "/admin/v1/codes/{code}",
    tag = "admin",
    params(("code" = String, Path, description = "The authorization code, or its internal id")),
    responses(
        (status = 200, description = "The code in full", body = CodeDetail),
        (status = 401, description = "Missing, unknown or revoked token", body = ErrorBody),
        (status = 404, description = "No such code", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn detail(
    _caller: SupportToken,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<web::Json<CodeDetail>, ApiError> {
    let key = path.into_inner();
    let detail = db::run(&state.pool, move |conn| -> Result<_, ApiError> {
        let code = match auth_codes::find_by_code(conn, &key)? {
            Some(code) => code,
            None => {
                auth_codes::find(conn, &CodeId::from(key))?.ok_or(ApiError::NotFound("code"))?
            }
        };
        let activations = activation_rows::for_code(conn, &code.id)?;
        let licenses = licenses::for_code(conn, &code.id)?;
        let mut subjects = vec![(Subject::Code, code.id.as_str())];
        subjects.extend(
            activations
                .iter()
                .map(|a| (Subject::Activation, a.id.as_str())),
        );
        subjects.extend(licenses.iter().map(|l| (Subject::License, l.id.as_str())));
        let events = views::history(conn, &subjects)?;
        let view = CodeView {
            summary: summary(&code, seat_rule::of_code(conn, &code)?),
            code: code.code.clone(),
            last_queried_on: code.last_queried_on.clone(),
        };
        Ok(CodeDetail {
            code: view,
            activations: activations.into_iter().map(ActivationView::from).collect(),
            licenses: views::license_views(conn, licenses)?,
            events,
        })
    })
    .await?;
    Ok(web::Json(detail))
}
