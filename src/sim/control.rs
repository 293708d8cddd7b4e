//! The simulator's own JSON API under `/sim/`, unauthenticated: set up codes and orders,
//! inject faults, read back what the open APIs received, reset.
//!
//! Inputs are strict (`deny_unknown_fields`) so a typo in a test's set-up fails loudly
//! instead of silently falling back to a default. Errors are `{"error": "..."}`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, error, web};
use chrono::{TimeDelta, Utc};
use serde::Deserialize;
use serde_json::json;

use super::state::{Code, CodeStatus, Sim, SimState};
use super::{orders, records};
use crate::domain::times;

/// Largest control-API request body.
const MAX_CONTROL_BODY: usize = 1024 * 1024;
/// Registers `/sim/...`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let json = web::JsonConfig::default()
        .limit(MAX_CONTROL_BODY)
        .content_type_required(false)
        .error_handler(|err, _| {
            let response = bad_request(&err.to_string());
            error::InternalError::from_response(err, response).into()
        });
    let query = web::QueryConfig::default().error_handler(|err, _| {
        let response = bad_request(&err.to_string());
        error::InternalError::from_response(err, response).into()
    });
    cfg.service(
        web::scope("/sim")
            .app_data(json)
            .app_data(query)
            .route("/codes", web::post().to(create_code))
            .route("/codes", web::get().to(list_codes))
            .route("/codes/{code}", web::get().to(get_code))
            .route("/codes/{code}", web::post().to(update_code))
            .route("/orders", web::post().to(orders::create_order))
            .route("/orders/{order_id}", web::get().to(orders::get_order))
            .route("/faults", web::post().to(records::add_fault))
            .route("/faults", web::get().to(records::list_faults))
            .route("/faults", web::delete().to(records::clear_faults))
            .route("/calls", web::get().to(records::calls))
            .route("/uploads", web::get().to(records::uploads))
            .route("/usage", web::get().to(records::usage))
            .route("/reset", web::post().to(reset))
            .default_service(web::to(|req: HttpRequest| async move {
                error_response(
                    StatusCode::NOT_FOUND,
                    &format!("no simulator route {}", req.path()),
                )
            })),
    );
}

pub(super) fn error_response(status: StatusCode, msg: &str) -> HttpResponse {
    HttpResponse::build(status).json(json!({ "error": msg }))
}

pub(super) fn bad_request(msg: &str) -> HttpResponse {
    error_response(StatusCode::BAD_REQUEST, msg)
}

/// A compact time, normalised to 14 digits.
pub(super) fn compact(name: &str, value: &str) -> Result<String, HttpResponse> {
    times::parse_compact(value)
        .map(times::format_compact)
        .map_err(|_| bad_request(&format!("{name} must be yyyyMMddHHmmss (UTC)")))
}

/// `POST /sim/codes` body; everything but `code` has a default.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CodeSpec {
    code: String,
    status: Option<CodeStatus>,
    claimed: Option<bool>,
    expire_time: Option<String>,
    product_id: Option<String>,
    order_id: Option<String>,
    amount: Option<u64>,
}

/// `POST /sim/codes/{code}` body: the fields to change. `activated: false` undoes an
/// activation; `true` marks the code activated now (as if done elsewhere).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CodePatch {
    status: Option<CodeStatus>,
    claimed: Option<bool>,
    expire_time: Option<String>,
    product_id: Option<String>,
    order_id: Option<String>,
    amount: Option<u64>,
    activated: Option<bool>,
}

/// Creates (or replaces) a code, not yet activated.
async fn create_code(sim: web::Data<Sim>, spec: web::Json<CodeSpec>) -> HttpResponse {
    let spec = spec.into_inner();
    if spec.code.is_empty() || spec.code.chars().count() > 64 {
        return bad_request("code must be 1 to 64 characters");
    }
    let expire_time = match spec.expire_time {
        Some(t) => match compact("expire_time", &t) {
            Ok(t) => t,
            Err(response) => return response,
        },
        None => times::format_compact(Utc::now().naive_utc() + TimeDelta::days(365)),
    };
    let code = Code {
        code: spec.code.clone(),
        status: spec.status.unwrap_or(CodeStatus::Alive),
        claimed: spec.claimed.unwrap_or(true),
        expire_time,
        product_id: spec
            .product_id
            .unwrap_or_else(|| "OFFI-SIM-PRODUCT".to_owned()),
        order_id: spec.order_id.unwrap_or_else(|| "CS-SIM-ORDER".to_owned()),
        amount: spec.amount.unwrap_or(1),
        activated: false,
        activate_time: None,
        real_effect_time: None,
        activations: 0,
        heartbeats: 0,
    };
    sim.lock().codes.insert(spec.code, code.clone());
    HttpResponse::Created().json(code)
}

async fn list_codes(sim: web::Data<Sim>) -> HttpResponse {
    let codes: Vec<Code> = sim.lock().codes.values().cloned().collect();
    HttpResponse::Ok().json(json!({ "codes": codes }))
}

async fn get_code(sim: web::Data<Sim>, code: web::Path<String>) -> HttpResponse {
    match sim.lock().codes.get(code.as_str()) {
        Some(found) => HttpResponse::Ok().json(found),
        None => error_response(StatusCode::NOT_FOUND, "no such code"),
    }
}

async fn update_code(
    sim: web::Data<Sim>,
    code: web::Path<String>,
    patch: web::Json<CodePatch>,
) -> HttpResponse {
    let patch = patch.into_inner();
    let expire_time = match patch
        .expire_time
        .as_deref()
        .map(|t| compact("expire_time", t))
    {
        Some(Err(response)) => return response,
        Some(Ok(t)) => Some(t),
        None => None,
    };
    let mut state = sim.lock();
    let Some(found) = state.codes.get_mut(code.as_str()) else {
        return error_response(StatusCode::NOT_FOUND, "no such code");
    };
    if let Some(status) = patch.status {
        found.status = status;
    }
    if let Some(claimed) = patch.claimed {
        found.claimed = claimed;
    }
    if let Some(t) = expire_time {
        found.expire_time = t;
    }
    if let Some(product_id) = patch.product_id {
        found.product_id = product_id;
    }
    if let Some(order_id) = patch.order_id {
        found.order_id = order_id;
    }
    if let Some(amount) = patch.amount {
        found.amount = amount;
    }
    match patch.activated {
        Some(true) if !found.activated => {
            found.activated = true;
            found.activate_time = Some(super::state::now_compact());
        }
        Some(false) => {
            found.activated = false;
            found.activate_time = None;
            found.real_effect_time = None;
        }
        _ => {}
    }
    HttpResponse::Ok().json(&*found)
}

/// Forgets everything but the credentials; the mock orders come back.
async fn reset(sim: web::Data<Sim>) -> HttpResponse {
    *sim.lock() = SimState::new();
    HttpResponse::Ok().json(json!({ "reset": true }))
}
