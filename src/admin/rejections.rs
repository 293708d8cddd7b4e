//! `GET /admin/v1/marketplace/rejections`: production-interface calls refused before
//! authentication, which are counted per minute instead of journalled one by one (anyone can
//! send them). Newest first; each row counts one minute of one node, interface, activity and
//! reason.

use actix_web::{HttpRequest, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::SupportToken;
use super::common::{ErrorBody, Limit, Page, non_empty, parse_time, query, utc};
use crate::db;
use crate::db::models::marketplace_rejections::{self, Rejection, RejectionFilter};
use crate::error::ApiError;
use crate::koogallery::callbacks::rejections::Reason;
use crate::startup::AppState;

/// Filters of the counts.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RejectionSearch {
    /// `post` (`POST /koogallery/license`) or `legacy` (`GET` with `authToken`).
    pub interface: Option<String>,
    /// An activity, or `unknown` for calls that named none we know.
    pub activity: Option<String>,
    /// `missing_parameter`, `malformed_timestamp`, `malformed_nonce`, `stale_timestamp`,
    /// `future_timestamp`, `bad_signature`, `replayed_nonce`, `key_not_configured`,
    /// `body_too_large` or `unreadable_body`.
    pub reason: Option<String>,
    /// Minutes at or after this RFC 3339 time.
    pub since: Option<String>,
    /// Minutes before this RFC 3339 time.
    pub until: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// The calls of one minute refused on one node for one reason.
#[derive(Debug, Serialize, ToSchema)]
pub struct RejectionView {
    pub id: String,
    /// The minute (UTC) of the first call counted.
    pub minute: DateTime<Utc>,
    /// The node that refused them (`KOOLICENSE_NODE_ID`).
    pub node_id: String,
    /// `post` or `legacy`.
    pub interface: String,
    /// The activity the calls named, or `unknown`.
    pub activity: String,
    pub reason: String,
    /// How many calls.
    pub calls: i64,
    pub first_seen_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
}

impl From<Rejection> for RejectionView {
    fn from(r: Rejection) -> Self {
        Self {
            id: r.id,
            minute: utc(r.minute),
            node_id: r.node_id,
            interface: r.interface,
            activity: r.activity,
            reason: r.reason,
            calls: r.calls,
            first_seen_at: utc(r.first_seen_at),
            last_seen_at: utc(r.last_seen_at),
        }
    }
}

fn filter(params: RejectionSearch) -> Result<(RejectionFilter, Limit), ApiError> {
    let interface = non_empty(params.interface).map(|i| i.to_lowercase());
    if interface
        .as_deref()
        .is_some_and(|i| i != "post" && i != "legacy")
    {
        return Err(ApiError::InvalidRequest("interface: post or legacy".into()));
    }
    let reason = non_empty(params.reason);
    if reason
        .as_deref()
        .is_some_and(|r| !Reason::ALL.iter().any(|known| known.as_str() == r))
    {
        return Err(ApiError::InvalidRequest(
            "reason: one of the documented reasons, e.g. bad_signature".into(),
        ));
    }
    let limit = Limit::parse(params.limit)?;
    let filter = RejectionFilter {
        interface,
        activity: non_empty(params.activity),
        reason,
        since: parse_time("since", params.since.as_deref())?,
        until: parse_time("until", params.until.as_deref())?,
        before_id: non_empty(params.cursor),
        limit: limit.fetch(),
    };
    Ok((filter, limit))
}

/// Calls refused before authentication, counted per minute, newest first.
#[utoipa::path(
    get,
    path = "/admin/v1/marketplace/rejections",
    tag = "admin",
    params(RejectionSearch),
    responses(
        (status = 200, description = "One page of counts", body = Page<RejectionView>),
        (status = 400, description = "Bad filter", body = ErrorBody),
        (status = 401, description = "Missing, unknown or revoked token", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn rejections(
    _caller: SupportToken,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<web::Json<Page<RejectionView>>, ApiError> {
    let (filter, limit) = filter(query(&req)?)?;
    flush(&state).await;
    let page = db::run(&state.pool, move |conn| -> Result<_, ApiError> {
        let rows = marketplace_rejections::list(conn, &filter)?;
        Ok(Page::from_rows(
            rows,
            limit,
            |r| r.id.clone(),
            RejectionView::from,
        ))
    })
    .await?;
    Ok(web::Json(page))
}

/// Writes this node's counts of refused calls first, so a view shows them up to now (other
/// nodes' within their flush interval). A failure only delays them: they stay counted.
pub async fn flush(state: &AppState) {
    if let Err(e) = state
        .rejections
        .flush(&state.pool, &state.settings.server.node_id)
        .await
    {
        tracing::warn!(error = %e, "cannot write the counts of refused marketplace calls");
    }
}
