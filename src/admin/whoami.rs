//! Who the caller is: what the console shows after sign-in, and how it knows which actions to
//! offer (the API still refuses what the role may not do).

use actix_web::web;
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::{Role, SupportToken};
use super::common::ErrorBody;

/// The signed-in token: its holder and role, never its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct Whoami {
    /// The token's name (the audit log's actor).
    pub name: String,
    pub role: Role,
}

/// The caller's token name and role.
#[utoipa::path(
    get,
    path = "/admin/v1/whoami",
    tag = "admin",
    responses(
        (status = 200, description = "The token's name and role", body = Whoami),
        (status = 401, description = "Missing, unknown or revoked token", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn whoami(SupportToken(caller): SupportToken) -> web::Json<Whoami> {
    web::Json(Whoami {
        name: caller.name,
        role: caller.role,
    })
}
