//! The marketplace journal (api.md §3): every call KooGallery made to us and we made to it.
//!
//! `result=ok` and `result=error` group the many success codes of KooGallery's APIs; any other
//! `result` is an exact result code.

use actix_web::{HttpRequest, web};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::SupportToken;
use super::common::{ErrorBody, Limit, Page, non_empty, parse_time, query, utc};
use crate::db::models::marketplace_calls::{
    self, CallFilter, INBOUND, MarketplaceCall, OUTBOUND, ResultFilter,
};
use crate::db::{self, DbConn};
use crate::error::ApiError;
use crate::startup::AppState;

pub use crate::db::models::marketplace_calls::{SUCCESS_CODES, is_success};

/// Filters of the journal.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallSearch {
    /// `inbound` (KooGallery called us) or `outbound` (we called KooGallery).
    pub direction: Option<String>,
    /// An activity, e.g. `newInstance`, `getLicenseAsync`, `activate`, `upload`.
    pub activity: Option<String>,
    /// `ok`, `error`, or an exact result code such as `000002`.
    pub result: Option<String>,
    /// Calls at or after this RFC 3339 time.
    pub since: Option<String>,
    /// Calls before this RFC 3339 time.
    pub until: Option<String>,
    /// Calls about this order.
    pub order_id: Option<String>,
    /// Calls about this instance.
    pub instance_id: Option<String>,
    /// Calls about codes with this hint, exactly as `code_hint` shows it (the journal never holds
    /// a full code, so another code with the same hint would match too).
    pub code_hint: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// One journalled call. Holds no secrets: codes appear only as hints.
#[derive(Debug, Serialize, ToSchema)]
pub struct CallView {
    pub id: String,
    /// `inbound` or `outbound`.
    pub direction: String,
    pub activity: String,
    pub order_id: Option<String>,
    pub instance_id: Option<String>,
    pub code_hint: Option<String>,
    pub event_id: Option<String>,
    pub result_code: String,
    /// True when `result_code` is a success code.
    pub ok: bool,
    pub http_status: Option<i64>,
    pub latency_ms: i64,
    /// A KooGallery debug-console or dial-test call.
    pub test_flag: bool,
    /// The answer's message for failures, or the host used for outbound calls.
    pub detail: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<MarketplaceCall> for CallView {
    fn from(c: MarketplaceCall) -> Self {
        Self {
            ok: is_success(&c.result_code),
            id: c.id,
            direction: c.direction,
            activity: c.activity,
            order_id: c.order_id,
            instance_id: c.instance_id,
            code_hint: c.code_hint,
            event_id: c.event_id,
            result_code: c.result_code,
            http_status: c.http_status,
            latency_ms: c.latency_ms,
            test_flag: c.test_flag,
            detail: c.detail,
            created_at: utc(c.created_at),
        }
    }
}

/// A checked [`CallSearch`].
struct Filter {
    direction: Option<String>,
    activity: Option<String>,
    result: Option<String>,
    since: Option<chrono::NaiveDateTime>,
    until: Option<chrono::NaiveDateTime>,
    order_id: Option<String>,
    instance_id: Option<String>,
    code_hint: Option<String>,
    cursor: Option<String>,
    limit: Limit,
}

impl Filter {
    fn parse(params: CallSearch) -> Result<Self, ApiError> {
        let direction = non_empty(params.direction).map(|d| d.to_lowercase());
        if direction
            .as_deref()
            .is_some_and(|d| d != INBOUND && d != OUTBOUND)
        {
            return Err(ApiError::InvalidRequest(
                "direction: inbound or outbound".into(),
            ));
        }
        Ok(Self {
            direction,
            activity: non_empty(params.activity),
            result: non_empty(params.result),
            since: parse_time("since", params.since.as_deref())?,
            until: parse_time("until", params.until.as_deref())?,
            order_id: non_empty(params.order_id),
            instance_id: non_empty(params.instance_id),
            code_hint: non_empty(params.code_hint),
            cursor: non_empty(params.cursor),
            limit: Limit::parse(params.limit)?,
        })
    }
}

fn rows(conn: &mut DbConn, f: &Filter) -> QueryResult<Vec<MarketplaceCall>> {
    let result = f.result.as_deref().map(|r| match r {
        "ok" => ResultFilter::Ok,
        "error" => ResultFilter::Error,
        code => ResultFilter::Code(code.to_owned()),
    });
    let filter = CallFilter {
        direction: f.direction.clone(),
        activity: f.activity.clone(),
        result,
        since: f.since,
        until: f.until,
        order_id: f.order_id.clone(),
        instance_id: f.instance_id.clone(),
        code_hint: f.code_hint.clone(),
        before_id: f.cursor.clone(),
        limit: f.limit.fetch(),
    };
    marketplace_calls::list(conn, &filter)
}

/// The journal of marketplace calls, newest first.
#[utoipa::path(
    get,
    path = "/admin/v1/marketplace/calls",
    tag = "admin",
    params(CallSearch),
    responses(
        (status = 200, description = "One page of journalled calls", body = Page<CallView>),
        (status = 400, description = "Bad filter", body = ErrorBody),
        (status = 401, description = "Missing, unknown or revoked token", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn calls(
    _caller: SupportToken,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<web::Json<Page<CallView>>, ApiError> {
    let filter = Filter::parse(query(&req)?)?;
    let page = db::run(&state.pool, move |conn| -> Result<_, ApiError> {
        let found = rows(conn, &filter)?;
        Ok(Page::from_rows(
            found,
            filter.limit,
            |c| c.id.clone(),
            CallView::from,
        ))
    })
    .await?;
    Ok(web::Json(page))
}
