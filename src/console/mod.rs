//! The support console at `/console/`: static files compiled into the binary, a page that
//! works over the admin API only (`/admin/v1/...` with the signed-in token in the
//! `Authorization` header), so the API's roles and audit log stay the only rules.
//!
//! Served with a strict Content-Security-Policy: scripts and styles from this origin only, no
//! inline script or style, requests to this origin only, no framing. Nothing is fetched from a
//! third party, so the console works offline.

use std::sync::LazyLock;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use sha2::{Digest, Sha256};

/// What the browser may load and run for the console's pages.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
    /// A strong validator, so a reload costs a `304` and a new build is fetched at once.
    etag: String,
}

impl Asset {
    fn new(name: &'static str, content_type: &'static str, body: &'static [u8]) -> Self {
        let digest = Sha256::digest(body);
        Self {
            name,
            content_type,
            body,
            etag: format!("\"{}\"", hex::encode(&digest[..12])),
        }
    }
}

/// An embedded file of `assets/`, served under its own name.
macro_rules! asset {
    ($name:literal, $content_type:expr) => {
        Asset::new(
            $name,
            $content_type,
            include_bytes!(concat!("assets/", $name)),
        )
    };
}

const JS: &str = "text/javascript; charset=utf-8";

static ASSETS: LazyLock<Vec<Asset>> = LazyLock::new(|| {
    vec![
        asset!("index.html", "text/html; charset=utf-8"),
        asset!("app.css", "text/css; charset=utf-8"),
        // ES modules: a browser runs one only when it is served as JavaScript (`nosniff`).
        asset!("app.js", JS),
        asset!("dom.js", JS),
        asset!("api.js", JS),
        asset!("ui.js", JS),
        asset!("records.js", JS),
        asset!("pages-codes.js", JS),
        asset!("pages-licenses.js", JS),
        asset!("pages-activity.js", JS),
        asset!("pages-tokens.js", JS),
    ]
});

/// Registers `/console` (a redirect), `/console/` and its files.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/console",
        web::get().to(|| async {
            HttpResponse::PermanentRedirect()
                .insert_header((header::LOCATION, "/console/"))
                .finish()
        }),
    )
    .route("/console/", web::get().to(index))
    .route("/console/{file}", web::get().to(file));
}

async fn index(req: HttpRequest) -> HttpResponse {
    serve(&req, "index.html")
}

async fn file(req: HttpRequest, name: web::Path<String>) -> HttpResponse {
    serve(&req, &name)
}

fn serve(req: &HttpRequest, name: &str) -> HttpResponse {
    let Some(asset) = ASSETS.iter().find(|asset| asset.name == name) else {
        return with_policy(&mut HttpResponse::NotFound())
            .content_type("text/plain; charset=utf-8")
            .body("not found\n");
    };
    let unchanged = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|tag| tag.trim() == asset.etag));
    let mut response = if unchanged {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    let response = with_policy(&mut response)
        .insert_header((header::ETAG, asset.etag.as_str()))
        // Revalidated on every load: an upgraded server's console is used at once.
        .insert_header((header::CACHE_CONTROL, "no-cache"));
    if unchanged {
        response.finish()
    } else {
        response.content_type(asset.content_type).body(asset.body)
    }
}

/// The security headers of every console answer.
fn with_policy(
    response: &mut actix_web::HttpResponseBuilder,
) -> &mut actix_web::HttpResponseBuilder {
    response
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header(("Cross-Origin-Opener-Policy", "same-origin"))
        .insert_header(("Cross-Origin-Resource-Policy", "same-origin"))
}
