//! Operations endpoints: liveness, readiness, metrics, the OpenAPI description.

use actix_web::{HttpResponse, get, web};
use diesel::connection::SimpleConnection;

use crate::db;
use crate::metrics::Metrics;

pub mod gauges;
use crate::startup::AppState;
use gauges::Gauges;

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

/// The process's metrics, then the gauges read from the database and the keys ([`gauges`]).
#[get("/metrics")]
async fn metrics(
    metrics: web::Data<Metrics>,
    gauges: web::Data<Gauges>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let mut text = metrics.render();
    text.push_str(&gauges.render(&state).await);
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(text)
}

#[get("/openapi.json")]
async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(crate::openapi::document())
}
