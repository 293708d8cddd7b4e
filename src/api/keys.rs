//! `GET /v1/keys`: the public keys that verify license files.

use actix_web::{HttpResponse, web};

use super::dto::{ErrorBody, KeysResponse};
use crate::startup::AppState;

/// The public keys that verify license files, active first. Retired keys stay listed so that
/// licenses they signed keep verifying.
#[utoipa::path(
    get,
    path = "/v1/keys",
    tag = "client",
    responses(
        (status = 200, description = "The keys", body = KeysResponse),
        (status = 429, description = "RATE_LIMITED, with Retry-After", body = ErrorBody),
    )
)]
pub async fn keys(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "public, max-age=300"))
        .json(KeysResponse::from(state.keys.keys_document()))
}
