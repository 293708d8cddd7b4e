//! Operations endpoints: liveness, readiness, metrics, the OpenAPI description.

use actix_web::{HttpResponse, get, web};
use diesel::connection::SimpleConnection;

use crate::db;
use crate::metrics::Metrics;
use crate::startup::AppState;

/// Registers the operations routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(healthz)
        .service(readyz)
        .service(metrics)
        .service(openapi);
}

/// Alive: the process answers.
#[get("/healthz")]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// Ready: the database answers a query.
#[get("/readyz")]
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let ping = db::run(&state.pool, |conn| {
        conn.batch_execute("SELECT 1")
            .map_err(|e| db::Unavailable(e.to_string()))
    })
    .await;
    match ping {
        Ok(()) => HttpResponse::Ok().json(serde_json::json!({"status": "ready"})),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            HttpResponse::ServiceUnavailable()
                .json(serde_json::json!({"status": "unavailable", "reason": "database"}))
        }
    }
}

#[get("/metrics")]
async fn metrics(metrics: web::Data<Metrics>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(metrics.render())
}

#[get("/openapi.json")]
async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(crate::openapi::document())
}
