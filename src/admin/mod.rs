//! The admin API for support staff (api.md §6), under `/admin/v1`.
//!
//! Every handler names the role it needs in its signature ([`auth::SupportToken`] or
//! [`auth::AdminToken`]). Every change is written to the audit log with the token's name and a
//! required reason, in the same transaction as the change. Lists are newest first, paged with
//! `limit` and an opaque `cursor` (`{"items": [...], "next_cursor": ...}`).

pub mod activations;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod codes;
pub mod common;
pub mod health;
pub mod instances;
pub mod journal;
pub mod licenses;
pub mod rejections;
pub mod tokens;
pub mod uploads;
pub mod views;
pub mod whoami;

use actix_web::web;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::ApiError;

#[derive(OpenApi)]
#[openapi(
    paths(
        codes::search,
        codes::detail,
        instances::search,
        instances::detail,
        licenses::detail,
        licenses::revoke,
        licenses::reinstate,
        activations::reset_binding,
        journal::calls,
        rejections::rejections,
        health::health,
        uploads::list,
        uploads::retry,
        audit::list,
        tokens::create,
        tokens::list,
        tokens::revoke,
        whoami::whoami,
    ),
    modifiers(&BearerAuth),
    tags((name = "admin", description = "Support staff: search, detail views, actions with a required \
        reason (all audited), the marketplace journal and health. `Authorization: Bearer TOKEN` from \
        `koolicense admin create-token`; missing or unknown token 401, insufficient role 403. \
        Actions take `{\"reason\": ...}` as a JSON body; `DELETE` endpoints take `?reason=` in the \
        query string."))
)]
struct ApiDoc;

/// Adds the `bearer` security scheme the admin paths refer to.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An admin token (`kl_admin_…`) from `koolicense admin create-token`",
                    ))
                    .build(),
            ),
        );
    }
}

/// Registers this API's routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/admin/v1")
            .route("/codes", web::get().to(codes::search))
            .route("/codes/{code}", web::get().to(codes::detail))
            .route("/instances", web::get().to(instances::search))
            .route("/instances/{instance_id}", web::get().to(instances::detail))
            .route("/licenses/{license_id}", web::get().to(licenses::detail))
            .route(
                "/licenses/{license_id}/revoke",
                web::post().to(licenses::revoke),
            )
            .route(
                "/licenses/{license_id}/reinstate",
                web::post().to(licenses::reinstate),
            )
            .route(
                "/activations/{id}",
                web::delete().to(activations::reset_binding),
            )
            .route("/marketplace/calls", web::get().to(journal::calls))
            .route(
                "/marketplace/rejections",
                web::get().to(rejections::rejections),
            )
            .route("/marketplace/health", web::get().to(health::health))
            .route("/uploads", web::get().to(uploads::list))
            .route("/uploads/{id}/retry", web::post().to(uploads::retry))
            .route("/audit", web::get().to(audit::list))
            .route("/tokens", web::post().to(tokens::create))
            .route("/tokens", web::get().to(tokens::list))
            .route("/tokens/{id}", web::delete().to(tokens::revoke))
            .route("/whoami", web::get().to(whoami::whoami))
            // Unknown admin paths answer in the API's error shape.
            .default_service(web::to(|| async {
                Err::<actix_web::HttpResponse, _>(ApiError::NotFound("endpoint"))
            })),
    );
}

/// This API's part of `/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
