//! What the open APIs received (calls, uploads, usage reports) and the control API that reads
//! it back (`/sim/calls`, `/sim/uploads`, `/sim/usage`), plus fault injection (`/sim/faults`).

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::control::bad_request;
use super::state::{Api, Fault, FaultKind, Sim, api_name};

/// One open-API call as the simulator saw it.
#[derive(Debug, Clone, Serialize)]
pub struct Call {
    /// Which API (`unknown` for unpublished paths).
    pub api: Api,
    /// HTTP method.
    pub method: String,
    /// Path and query as received.
    pub path: String,
    /// HTTP status answered (0 when the connection was dropped by a `close` fault).
    pub status: u16,
    /// `error_code` / `resultCode` answered, if any.
    pub error_code: Option<String>,
    /// Whether the APIG signature verified.
    pub authenticated: bool,
    /// The access key named in `Authorization`, if parseable.
    pub ak: Option<String>,
    /// Path parameter of the upload API.
    pub event_id: Option<String>,
    /// `license` of activate / heartbeat calls.
    pub license: Option<String>,
    /// `orderId` of order queries.
    pub order_id: Option<String>,
    /// The fault that hit this call, if any.
    pub fault: Option<FaultKind>,
    /// When it arrived (RFC 3339 UTC).
    pub time: String,
}

/// An accepted license upload.
#[derive(Debug, Clone, Serialize)]
pub struct Upload {
    /// The `event_id` path parameter.
    pub event_id: String,
    /// `CHARACTERS` or `FILE`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The characters, or the file bytes as (lossy) UTF-8.
    pub content: String,
    /// `file_name` for FILE uploads.
    pub file_name: Option<String>,
    /// The declared (and checked) SHA-256 for FILE uploads.
    pub sha256: Option<String>,
    /// 1 for the first delivery to this `event_id`, 2 for the second, …
    pub delivery: u64,
    /// When it arrived (RFC 3339 UTC).
    pub time: String,
}

/// One `software_usage_Info` entry of an accepted usage report.
#[derive(Debug, Clone, Serialize)]
pub struct UsageReport {
    /// The code reported on.
    pub license: String,
    /// A client identity, when reported that way.
    pub id: Option<String>,
    /// A count of active clients, when reported that way.
    pub active_num: Option<u64>,
    /// When it arrived (RFC 3339 UTC).
    pub time: String,
}

/// Longest injected delay, so a typo cannot hang a client for hours.
const MAX_DELAY_MS: u64 = 600_000;
const FAULT_APIS: [&str; 6] = ["activate", "heartbeat", "usage", "order", "upload", "*"];

/// `POST /sim/faults` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FaultSpec {
    api: String,
    kind: FaultKind,
    count: Option<u32>,
    delay_ms: Option<u64>,
    error_code: Option<String>,
    http_status: Option<u16>,
}

fn check_fault(spec: FaultSpec, id: u64) -> Result<Fault, HttpResponse> {
    if !FAULT_APIS.contains(&spec.api.as_str()) {
        return Err(bad_request(&format!("api must be one of {FAULT_APIS:?}")));
    }
    let remaining = spec.count.unwrap_or(1);
    if remaining == 0 {
        return Err(bad_request("count must be at least 1"));
    }
    let delay_ms = match (spec.kind, spec.delay_ms) {
        (FaultKind::DelayMs, None) => return Err(bad_request("delay_ms is required")),
        (_, Some(ms)) if ms > MAX_DELAY_MS => {
            return Err(bad_request("delay_ms is at most 600000"));
        }
        (_, ms) => ms.unwrap_or(0),
    };
    if spec.kind == FaultKind::ErrorCode && spec.error_code.as_deref().is_none_or(str::is_empty) {
        return Err(bad_request("error_code is required"));
    }
    let default_status = if spec.kind == FaultKind::ErrorCode {
        200
    } else {
        500
    };
    let http_status = spec.http_status.unwrap_or(default_status);
    if !(200..=599).contains(&http_status) {
        return Err(bad_request("http_status must be 200 to 599"));
    }
    Ok(Fault {
        id,
        api: spec.api,
        kind: spec.kind,
        remaining,
        delay_ms,
        error_code: spec.error_code,
        http_status,
    })
}

pub(super) async fn add_fault(sim: web::Data<Sim>, spec: web::Json<FaultSpec>) -> HttpResponse {
    let mut state = sim.lock();
    let fault = match check_fault(spec.into_inner(), state.next_fault_id) {
        Ok(fault) => fault,
        Err(response) => return response,
    };
    state.next_fault_id += 1;
    state.faults.push(fault.clone());
    HttpResponse::Created().json(json!({ "fault": fault }))
}

/// `DELETE /sim/faults`: the marketplace recovers; codes, orders and records stay.
pub(super) async fn clear_faults(sim: web::Data<Sim>) -> HttpResponse {
    let cleared = std::mem::take(&mut sim.lock().faults);
    HttpResponse::Ok().json(json!({ "cleared": cleared.len() }))
}

pub(super) async fn list_faults(sim: web::Data<Sim>) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "faults": sim.lock().faults }))
}

/// Filters of the record endpoints; each applies only to the endpoint that has that field.
#[derive(Debug, Deserialize)]
pub(super) struct Filter {
    api: Option<String>,
    license: Option<String>,
    event_id: Option<String>,
}

pub(super) async fn calls(sim: web::Data<Sim>, filter: web::Query<Filter>) -> HttpResponse {
    let state = sim.lock();
    let calls: Vec<_> = state
        .calls
        .iter()
        .filter(|c| filter.api.as_deref().is_none_or(|a| api_name(c.api) == a))
        .filter(|c| filter.license.is_none() || c.license == filter.license)
        .filter(|c| filter.event_id.is_none() || c.event_id == filter.event_id)
        .collect();
    HttpResponse::Ok().json(json!({ "calls": calls }))
}

pub(super) async fn uploads(sim: web::Data<Sim>, filter: web::Query<Filter>) -> HttpResponse {
    let state = sim.lock();
    let uploads: Vec<_> = state
        .uploads
        .iter()
        .filter(|u| filter.event_id.as_deref().is_none_or(|e| u.event_id == e))
        .collect();
    let deliveries = match &filter.event_id {
        Some(event_id) => state.deliveries.get(event_id).copied().unwrap_or(0),
        None => state.deliveries.values().sum(),
    };
    HttpResponse::Ok().json(json!({ "uploads": uploads, "deliveries": deliveries }))
}

pub(super) async fn usage(sim: web::Data<Sim>, filter: web::Query<Filter>) -> HttpResponse {
    let state = sim.lock();
    let reports: Vec<_> = state
        .usage
        .iter()
        .filter(|r| filter.license.as_deref().is_none_or(|l| r.license == l))
        .collect();
    HttpResponse::Ok().json(json!({ "reports": reports }))
}
