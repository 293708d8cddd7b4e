//! The API gateway in front of the simulated open APIs: body limit, routing, AK/SK signature
//! check, fault injection and the call record. Every open-API request passes through
//! [`handle`], which is the app's default service (everything outside `/sim/`).
//!
//! The order of checks mirrors the real gateway: an unpublished path is 404 before any
//! authentication, a bad signature is 401 before the backend sees the request, and the
//! backend's own checks (method, content type, body) come after.

use std::time::Duration;

use actix_web::http::{Method, StatusCode};
use actix_web::web::{self, Bytes, BytesMut};
use actix_web::{HttpRequest, HttpResponse};
use chrono::Utc;
use futures_util::StreamExt as _;
use percent_encoding::percent_decode_str;
use serde_json::{Value, json};

use super::records::Call;
use super::state::{Api, FaultKind, Sim, now_rfc3339, push_capped};
use super::upload;
use super::{open_api, orders};
use crate::koogallery::apig;

/// APIG's limit on AK/SK-signed request bodies (koogallery.md §2.7).
pub const MAX_BODY_BYTES: usize = 12 * 1024 * 1024;

/// Where all open APIs live.
const PREFIX: &str = "/api/mkp-openapi-public/global/";

/// An answer of a simulated API: status and JSON body.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: StatusCode,
    /// JSON body.
    pub body: Value,
}

impl Reply {
    /// A reply.
    pub fn new(status: StatusCode, body: Value) -> Self {
        Self { status, body }
    }

    /// The `error_code` (open APIs) or `resultCode` (order API) of the body.
    fn code(&self) -> Option<String> {
        self.body
            .get("error_code")
            .or_else(|| self.body.get("resultCode"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    }

    fn into_response(self) -> HttpResponse {
        HttpResponse::build(self.status)
            .content_type("application/json;charset=UTF-8")
            .body(self.body.to_string())
    }
}

/// Which API a path names, the method it takes, and the upload's `event_id`.
fn route(path: &str) -> (Api, Method, Option<String>) {
    let rest = path.strip_prefix(PREFIX).unwrap_or("");
    // The signing rules let a client omit or add the trailing slash.
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    match rest {
        "v1/license/activate" => (Api::Activate, Method::POST, None),
        "v1/license/heartbeat" => (Api::Heartbeat, Method::POST, None),
        "v2/license/software-usage-info" => (Api::Usage, Method::POST, None),
        "v1/order/query" => (Api::Order, Method::GET, None),
        _ => match rest
            .strip_prefix("v1/market-event/")
            .and_then(|r| r.strip_suffix("/file"))
            .filter(|id| !id.is_empty() && !id.contains('/'))
        {
            Some(id) => {
                let id = percent_decode_str(id).decode_utf8_lossy().into_owned();
                (Api::Upload, Method::POST, Some(id))
            }
            None => (Api::Unknown, Method::POST, None),
        },
    }
}

/// Reads the body, refusing more than `limit` bytes; `None` when over the limit or broken.
async fn read_body(mut payload: web::Payload, limit: usize) -> Option<Bytes> {
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.ok()?;
        if body.len() + chunk.len() > limit {
            return None;
        }
        body.extend_from_slice(&chunk);
    }
    Some(body.freeze())
}

/// The internal-error answer of an API family, for `http500` faults.
fn internal_error(api: Api) -> Reply {
    let body = match api {
        Api::Order => json!({"resultCode": "MKT.0999", "resultMsg": "System internal error."}),
        Api::Upload => json!({"error_code": "CBC.0999", "error_msg": "internal error"}),
        _ => json!({"error_code": "92020001", "error_msg": "internal error"}),
    };
    Reply::new(StatusCode::INTERNAL_SERVER_ERROR, body)
}

/// A response whose body fails at once, so the connection is dropped mid-response and the
/// client sees a transport error rather than an HTTP answer.
fn dropped_connection() -> HttpResponse {
    let failing = futures_util::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::other("fault injection: connection closed"))
    });
    HttpResponse::Ok().streaming(failing)
}

/// Every open-API request.
pub async fn handle(req: HttpRequest, payload: web::Payload, sim: web::Data<Sim>) -> HttpResponse {
    let (api, method, event_id) = route(req.path());
    let mut call = Call {
        api,
        method: req.method().to_string(),
        path: req
            .uri()
            .path_and_query()
            .map_or_else(|| req.path().to_owned(), ToString::to_string),
        status: 0,
        error_code: None,
        authenticated: false,
        ak: None,
        event_id,
        license: None,
        order_id: None,
        fault: None,
        time: now_rfc3339(),
    };
    let (reply, dropped) = respond(&req, payload, &sim, method, &mut call).await;
    call.status = if dropped { 0 } else { reply.status.as_u16() };
    call.error_code = reply.code();
    tracing::info!(
        sim.api = ?call.api,
        http.status = call.status,
        sim.error_code = call.error_code.as_deref().unwrap_or(""),
        "simulated open-API call"
    );
    push_capped(&mut sim.lock().calls, call);
    if dropped {
        dropped_connection()
    } else {
        reply.into_response()
    }
}

/// The gateway's AK/SK check, exactly as APIG does it: raw path and query, every header,
/// the exact body bytes, the server clock. Notes the AK in `call` even when it fails.
fn authenticate(req: &HttpRequest, sim: &Sim, body: &[u8], call: &mut Call) -> Result<(), Reply> {
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            (name.as_str().to_owned(), value)
        })
        .collect();
    call.ak = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(apig::parse_authorization)
        .map(|a| a.access);
    let uri = req.uri();
    apig::verify(
        |ak| sim.sk_for(ak),
        req.method().as_str(),
        uri.path(),
        uri.query(),
        &headers,
        body,
        Utc::now(),
    )
    .map(|_| ())
    .map_err(|e| {
        let body = json!({
            "error_code": e.code(),
            "error_msg": format!("Incorrect IAM authentication information: {e}"),
        });
        Reply::new(StatusCode::UNAUTHORIZED, body)
    })
}

/// The answer to one request, and whether the connection is to be dropped instead.
async fn respond(
    req: &HttpRequest,
    payload: web::Payload,
    sim: &Sim,
    method: Method,
    call: &mut Call,
) -> (Reply, bool) {
    let Some(body) = read_body(payload, MAX_BODY_BYTES).await else {
        let body = json!({"error_code": "APIGW.0201", "error_msg": "Request entity too large"});
        return (Reply::new(StatusCode::PAYLOAD_TOO_LARGE, body), false);
    };
    if call.api == Api::Unknown {
        let body = json!({
            "error_code": "APIGW.0101",
            "error_msg": "The API does not exist or has not been published in the environment",
        });
        return (Reply::new(StatusCode::NOT_FOUND, body), false);
    }

    if let Err(reply) = authenticate(req, sim, &body, call) {
        return (reply, false);
    }
    call.authenticated = true;
    let uri = req.uri();
    match call.api {
        Api::Activate | Api::Heartbeat => call.license = open_api::license_of(&body),
        Api::Order => call.order_id = orders::order_params(uri.query().unwrap_or("")).0,
        _ => {}
    }

    if *req.method() != method {
        let body = json!({"error_code": "95000002", "error_msg": "Request method not supported"});
        return (Reply::new(StatusCode::METHOD_NOT_ALLOWED, body), false);
    }
    let fault = sim.lock().take_fault(call.api);
    if let Some(fault) = fault {
        call.fault = Some(fault.kind);
        match fault.kind {
            FaultKind::DelayMs => {
                actix_web::rt::time::sleep(Duration::from_millis(fault.delay_ms)).await;
            }
            FaultKind::Http500 => return (internal_error(call.api), false),
            FaultKind::Close => return (internal_error(call.api), true),
            FaultKind::ErrorCode => {
                let code = fault.error_code.unwrap_or_default();
                let body = if call.api == Api::Order {
                    json!({"resultCode": code, "resultMsg": "injected fault"})
                } else {
                    json!({"error_code": code, "error_msg": "injected fault"})
                };
                let status = StatusCode::from_u16(fault.http_status).unwrap_or(StatusCode::OK);
                return (Reply::new(status, body), false);
            }
        }
    }

    let json_api = matches!(call.api, Api::Activate | Api::Heartbeat | Api::Usage);
    let is_json = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/json")
        });
    if json_api && !is_json {
        let body = json!({"error_code": "95000003", "error_msg": "Content type not supported"});
        return (Reply::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, body), false);
    }
    let reply = match call.api {
        Api::Activate => open_api::activate(sim, &body),
        Api::Heartbeat => open_api::heartbeat(sim, &body),
        Api::Usage => open_api::usage(sim, &body),
        Api::Order => orders::order(sim, uri.query().unwrap_or("")),
        Api::Upload => {
            let event_id = call.event_id.clone().unwrap_or_default();
            let content_type = req
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok());
            upload::upload(sim, content_type, &body, &event_id)
        }
        Api::Unknown => internal_error(call.api),
    };
    (reply, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn routing_never_panics(path in "\\PC{0,80}") {
            let _ = route(&path);
            let _ = route(&format!("{PREFIX}v1/market-event/{path}/file"));
        }
    }

    #[test]
    fn paths_route_to_their_apis() {
        let p = |rest: &str| route(&format!("{PREFIX}{rest}"));
        assert_eq!(p("v1/license/activate").0, Api::Activate);
        assert_eq!(p("v1/license/activate/").0, Api::Activate);
        assert_eq!(p("v1/license/heartbeat").0, Api::Heartbeat);
        assert_eq!(p("v2/license/software-usage-info").0, Api::Usage);
        assert_eq!(p("v1/order/query").1, Method::GET);
        assert_eq!(
            p("v1/market-event/ev%201/file"),
            (Api::Upload, Method::POST, Some("ev 1".to_owned()))
        );
        for unknown in [
            "v1/market-event//file",
            "v1/market-event/a/b/file",
            "v9/x",
            "",
        ] {
            assert_eq!(p(unknown).0, Api::Unknown, "{unknown}");
        }
        assert_eq!(route("/elsewhere").0, Api::Unknown);
    }
}
