//! Admin tokens: creating (the token is shown once), listing and revoking them. Admin only.
//!
//! [`issue`] is shared with `koolicense admin create-token`.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use super::auth::{AdminToken, Caller, Role, generate_token, token_sha256};
use super::common::{
    ErrorBody, Limit, Page, Reason, ReasonQuery, audit, body, non_empty, query, reason_from_query,
    utc, utc_opt,
};
use crate::db::models::admin_tokens::{self, NewAdminToken};
use crate::db::models::{self};
use crate::db::{self, DbConn};
use crate::error::ApiError;
use crate::startup::AppState;

/// The longest token name, in characters.
const MAX_NAME_CHARS: usize = 100;

/// A token as listed: never its secret or hash.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenView {
    pub id: String,
    /// Who holds it; the audit log's actor.
    pub name: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    /// Updated at most once a minute.
    pub last_used_at: Option<DateTime<Utc>>,
    /// Set once revoked; the token is refused from then on.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl TokenView {
    fn new(row: admin_tokens::AdminToken) -> Self {
        Self {
            // Rows are only written through `issue`; an unknown role would be refused at use.
            role: Role::parse(&row.role).unwrap_or(Role::Support),
            id: row.id,
            name: row.name,
            created_at: utc(row.created_at),
            last_used_at: utc_opt(row.last_used_at),
            revoked_at: utc_opt(row.revoked_at),
        }
    }
}

/// A token just created, with its secret: shown this once, never again.
#[derive(Serialize, ToSchema)]
pub struct CreatedToken {
    #[serde(flatten)]
    pub view: TokenView,
    /// `kl_admin_…`: send as `Authorization: Bearer TOKEN`. Only its hash is stored.
    pub token: String,
}

/// A new token and its row.
pub struct IssuedToken {
    pub row: admin_tokens::AdminToken,
    /// The secret; print it once and forget it.
    pub token: String,
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken")
            .field("row", &self.row)
            .field("token", &"<redacted>")
            .finish()
    }
}

/// The body of `POST /admin/v1/tokens`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateToken {
    /// Who will hold the token (a person or a system); 1 to 100 characters.
    #[serde(default)]
    pub name: String,
    /// `support` or `admin`.
    #[serde(default)]
    #[schema(value_type = Role)]
    pub role: String,
    /// Why the token is created.
    #[serde(default)]
    pub reason: String,
}

/// Paging of the token list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TokenSearch {
    /// 1 to 200, default 50.
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A token name: trimmed, 1 to 100 characters, no control characters.
fn parse_name(raw: &str) -> Result<String, ApiError> {
    let name = raw.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(ApiError::InvalidRequest(format!(
            "name: 1 to {MAX_NAME_CHARS} characters without control characters"
        )));
    }
    Ok(name.to_owned())
}

/// Creates a token for `name` with `role` on behalf of `caller`, with its audit row, in one
/// transaction. A name already held by a live token is refused, so the audit log's actors stay
/// unambiguous.
pub fn issue(
    conn: &mut DbConn,
    caller: &Caller,
    name: &str,
    role: Role,
    reason: &Reason,
) -> Result<IssuedToken, ApiError> {
    let name = parse_name(name)?;
    conn.write_tx(|conn| {
        if admin_tokens::live_name_exists(conn, &name)? {
            return Err(ApiError::Conflict(format!(
                "a live token is already named {name:?}"
            )));
        }
        let token = generate_token();
        let hash = token_sha256(&token);
        let id = models::new_id();
        admin_tokens::insert(
            conn,
            &NewAdminToken {
                id: id.clone(),
                name: &name,
                role: role.as_str(),
                token_sha256: &hash,
                created_at: models::now(),
            },
        )?;
        audit(
            conn,
            caller,
            "token.create",
            ("token", &id),
            reason,
            json!({"name": name, "role": role}),
        )?;
        let row = admin_tokens::find(conn, &id)?.ok_or(ApiError::NotFound("token"))?;
        Ok(IssuedToken { row, token })
    })
}

/// Create a token. The answer holds the token itself, shown this once; only its hash is stored.
#[utoipa::path(
    post,
    path = "/admin/v1/tokens",
    tag = "admin",
    request_body = CreateToken,
    responses(
        (status = 201, description = "The new token, with its secret", body = CreatedToken),
        (status = 400, description = "Bad name, role or reason", body = ErrorBody),
        (status = 401, description = "Missing, unknown or revoked token", body = ErrorBody),
        (status = 403, description = "The token is not an admin token", body = ErrorBody),
        (status = 409, description = "A live token already has this name", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn create(
    AdminToken(caller): AdminToken,
    bytes: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let request: CreateToken = body(&bytes)?;
    let role = Role::parse(request.role.trim())
        .ok_or_else(|| ApiError::InvalidRequest("role: support or admin".into()))?;
    let reason = Reason::parse(&request.reason)?;
    let name = parse_name(&request.name)?;
    let issued = db::run(&state.pool, move |conn| {
        issue(conn, &caller, &name, role, &reason)
    })
    .await?;
    let created = CreatedToken {
        view: TokenView::new(issued.row),
        token: issued.token,
    };
    Ok(HttpResponse::Created().json(created))
}

/// The tokens, newest first, revoked ones included.
#[utoipa::path(
    get,
    path = "/admin/v1/tokens",
    tag = "admin",
    params(TokenSearch),
    responses(
        (status = 200, description = "One page of tokens", body = Page<TokenView>),
        (status = 401, description = "Missing, unknown or revoked token", body = ErrorBody),
        (status = 403, description = "The token is not an admin token", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    _caller: AdminToken,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<web::Json<Page<TokenView>>, ApiError> {
    let params: TokenSearch = query(&req)?;
    let limit = Limit::parse(params.limit)?;
    let cursor = non_empty(params.cursor);
    let page = db::run(&state.pool, move |conn| -> Result<_, ApiError> {
        let rows = admin_tokens::list(conn, cursor.as_deref(), limit.fetch())?;
        Ok(Page::from_rows(
            rows,
            limit,
            |t| t.id.clone(),
            TokenView::new,
        ))
    })
    .await?;
    Ok(web::Json(page))
}

/// Revoke a token: it is refused from now on. The reason goes in the query string.
#[utoipa::path(
    delete,
    path = "/admin/v1/tokens/{id}",
    tag = "admin",
    params(("id" = String, Path, description = "The token id"), ReasonQuery),
    responses(
        (status = 200, description = "The token, now revoked", body = TokenView),
        (status = 400, description = "Missing or overlong reason", body = ErrorBody),
        (status = 401, description = "Missing, unknown or revoked token", body = ErrorBody),
        (status = 403, description = "The token is not an admin token", body = ErrorBody),
        (status = 404, description = "No such token", body = ErrorBody),
        (status = 409, description = "Already revoked", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all, fields(token.id = %path.as_str()))]
pub async fn revoke(
    AdminToken(caller): AdminToken,
    path: web::Path<String>,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<web::Json<TokenView>, ApiError> {
    let reason = reason_from_query(&req)?;
    let id = path.into_inner();
    let view = db::run(&state.pool, move |conn| {
        conn.write_tx(|conn| -> Result<TokenView, ApiError> {
            let row = admin_tokens::find(conn, &id)?.ok_or(ApiError::NotFound("token"))?;
            if !admin_tokens::revoke(conn, &id, models::now())? {
                return Err(ApiError::Conflict("the token is already revoked".into()));
            }
            audit(
                conn,
                &caller,
                "token.revoke",
                ("token", &id),
                &reason,
                json!({
                    "name": row.name, "role": row.role,
                }),
            )?;
            let fresh = admin_tokens::find(conn, &id)?.ok_or(ApiError::NotFound("token"))?;
            Ok(TokenView::new(fresh))
        })
    })
    .await?;
    Ok(web::Json(view))
}
