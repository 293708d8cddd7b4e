//! The OpenAPI 3 description of the client API (§4) and the admin API (§6), generated from the
//! handlers' annotations in each API's module.

use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(info(
    title = "koolicense",
    description = "License server for Huawei Cloud KooGallery"
))]
struct ApiDoc;

/// The document served at `/openapi.json`.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.merge(crate::api::openapi());
    doc.merge(crate::admin::openapi());
    doc
}
