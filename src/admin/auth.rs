//! Who may call the admin API: bearer tokens, their roles, and the extractors that enforce them.
//!
//! A handler states the role it needs in its signature ([`SupportToken`] or [`AdminToken`]), so a
//! missing check shows in review. A missing, unknown or revoked token answers `401`; a token whose
//! role is too weak answers `403`. Tokens are stored only as their SHA-256.

use std::future::Future;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use base64::Engine;
use chrono::TimeDelta;
use futures_util::future::LocalBoxFuture;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::db::models::{self, admin_tokens};
use crate::db::{self, DbConn};
use crate::error::ApiError;
use crate::startup::AppState;

/// Every admin token starts with this. Never change it: secret scanners and operators recognise
/// leaked tokens by it, and the server refuses anything else without a database lookup.
pub const TOKEN_PREFIX: &str = "kl_admin_";

/// Random bytes in a token (256 bits).
const TOKEN_BYTES: usize = 32;

/// `last_used_at` is written at most this often per token, not on every request.
const TOUCH_EVERY_SECS: i64 = 60;

/// What a token may do. `Admin` includes everything `Support` may do.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read everything, reset a binding, retry an upload.
    Support,
    /// Also revoke and reinstate licenses and manage tokens.
    Admin,
}

impl Role {
    /// The role's name as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Support => "support",
            Self::Admin => "admin",
        }
    }

    /// The role named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "support" => Some(Self::Support),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The authenticated caller: the audit log's actor.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The token's id; `None` for the command line.
    pub token_id: Option<String>,
    /// The token's name (`cli` for the command line).
    pub name: String,
    pub role: Role,
}

impl Caller {
    /// The local operator running `koolicense admin ...` (shell access is admin access).
    pub fn cli() -> Self {
        Self {
            token_id: None,
            name: "cli".to_owned(),
            role: Role::Admin,
        }
    }
}

/// A caller with at least the `support` role.
#[derive(Debug, Clone)]
pub struct SupportToken(pub Caller);

/// A caller with the `admin` role.
#[derive(Debug, Clone)]
pub struct AdminToken(pub Caller);

impl FromRequest for SupportToken {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let caller = authenticate(req, Role::Support);
        Box::pin(async move { caller.await.map(Self) })
    }
}

impl FromRequest for AdminToken {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let caller = authenticate(req, Role::Admin);
        Box::pin(async move { caller.await.map(Self) })
    }
}

/// A new random token: the prefix and 32 random bytes, base64url without padding.
pub fn generate_token() -> String {
    let mut bytes = [0_u8; TOKEN_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// The hex SHA-256 under which a token is stored and looked up.
pub fn token_sha256(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The token of an `Authorization: Bearer TOKEN` header.
fn bearer(req: &HttpRequest) -> Option<String> {
    let value = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
}

/// Reads the header now (the request is borrowed) and looks the token up later.
fn authenticate(
    req: &HttpRequest,
    needed: Role,
) -> impl Future<Output = Result<Caller, ApiError>> + 'static {
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let token = bearer(req);
    async move {
        let state = state.ok_or_else(|| {
            ApiError::Internal(anyhow::anyhow!("the application state is missing"))
        })?;
        let Some(token) = token.filter(|t| t.starts_with(TOKEN_PREFIX)) else {
            return Err(ApiError::Unauthorized);
        };
        let hash = token_sha256(&token);
        let row = db::run(&state.pool, move |conn| lookup(conn, &hash)).await?;
        let Some(row) = row.filter(|r| r.revoked_at.is_none()) else {
            return Err(ApiError::Unauthorized);
        };
        // A role this version does not know grants nothing.
        let role = Role::parse(&row.role).ok_or(ApiError::Unauthorized)?;
        if role < needed {
            tracing::info!(admin.token.name = %row.name, admin.role.needed = needed.as_str(), "admin request refused");
            return Err(ApiError::Forbidden(needed.as_str()));
        }
        Ok(Caller {
            token_id: Some(row.id),
            name: row.name,
            role,
        })
    }
}

/// The token's row, recording its use when the last one is more than a minute old.
fn lookup(conn: &mut DbConn, hash: &str) -> Result<Option<admin_tokens::AdminToken>, ApiError> {
    let Some(row) = admin_tokens::find_by_hash(conn, hash)? else {
        return Ok(None);
    };
    let now = models::now();
    let every = TimeDelta::seconds(TOUCH_EVERY_SECS);
    let stale = row.last_used_at.is_none_or(|used| used < now - every);
    if row.revoked_at.is_none() && stale {
        // Bookkeeping only: a failed write must not refuse a valid token.
        if let Err(e) = admin_tokens::touch(conn, &row.id, now, every) {
            tracing::warn!(error = %e, "cannot record an admin token's use");
        }
    }
    Ok(Some(row))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_carry_the_prefix_and_256_random_bits() {
        let a = generate_token();
        let b = generate_token();
        assert!(a.starts_with(TOKEN_PREFIX));
        assert_eq!(a.len(), TOKEN_PREFIX.len() + 43);
        assert_ne!(a, b);
    }

    #[test]
    fn the_stored_hash_is_hex_sha256_of_the_whole_token() {
        assert_eq!(
            token_sha256("kl_admin_x"),
            hex::encode(Sha256::digest(b"kl_admin_x")),
        );
        assert_eq!(token_sha256("abc").len(), 64);
    }

    #[test]
    fn admin_outranks_support() {
        assert!(Role::Admin > Role::Support);
        assert_eq!(Role::parse("admin"), Some(Role::Admin));
        assert_eq!(Role::parse("root"), None);
    }
}
