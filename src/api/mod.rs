//! The client API (api.md §4): what the ISV's shipped software calls to activate an
//! authorization code on a machine, check in, free a seat, and fetch the keys that verify its
//! license.
//!
//! Handlers are extract → call → answer: [`dto`] turns bodies into checked values, and
//! [`crate::service::bindings::Bindings`] applies the rules (api.md §4) and answers in domain
//! terms, mapped to `ApiError` once, in `src/error.rs`. Every `/v1` request passes the per-address limit of
//! [`rate_limit`], and every answer of activate, check-in and deactivate is signed by
//! [`signed`] (`api.md` §4.5).

mod activate;
mod check_in;
mod client_address;
mod context;
mod deactivate;
pub mod dto;
mod keys;
mod rate_limit;
mod signed;

pub use self::context::ClientApi;

use actix_web::{middleware, web};
use utoipa::OpenApi;

/// Largest client-API request body: a 5120-byte fingerprint, a code and a hostname, JSON-escaped.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

#[derive(OpenApi)]
#[openapi(
    paths(activate::activate, check_in::check_in, deactivate::deactivate, keys::keys),
    components(schemas(
        dto::ActivateRequest,
        dto::MachineRequest,
        dto::ActivateResponse,
        dto::Seats,
        dto::CheckInResponse,
        dto::CheckInStatus,
        dto::DeactivateResponse,
        dto::KeysResponse,
        dto::PublicKey,
        dto::ErrorBody,
    )),
    tags((name = "client", description = "The client API: activation, check-in, deactivation, keys"))
)]
struct ApiDoc;

/// Registers this API's routes under `/v1`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let json = web::JsonConfig::default()
        .limit(MAX_BODY_BYTES)
        .error_handler(crate::error::json_error_handler);
    cfg.service(
        web::scope("/v1")
            .app_data(json)
            .wrap(middleware::from_fn(rate_limit::per_ip))
            // Outermost, so that the rate limit's 429 is signed too.
            .wrap(middleware::from_fn(signed::sign_answers))
            .route("/activate", web::post().to(activate::activate))
            .route("/check-in", web::post().to(check_in::check_in))
            .route("/deactivate", web::post().to(deactivate::deactivate))
            .route("/keys", web::get().to(keys::keys)),
    );
}

/// This API's part of `/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
