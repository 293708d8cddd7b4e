//! `POST /koogallery/license`: KooGallery's calls to us. Authenticate (Scheme B), parse, dispatch,
//! and answer HTTP 200 with a JSON result code, signed with `Body-Sign` when the legacy key is set.

use std::time::Instant;

use actix_web::{HttpRequest, HttpResponse, web};
use secrecy::ExposeSecret;

use super::auth::{self, SchemeBParams};
use super::callbacks::reply::{Reply, ResultCode};
use super::callbacks::{self, Inbound, request};
use crate::db::models::marketplace_calls::{self, INBOUND, NewMarketplaceCall};
use crate::db::models::nonces;
use crate::db::{self, Unavailable};
use crate::startup::AppState;

/// Bodies above this size are refused with HTTP 413 before they are read.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Registers the production interface.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/koogallery/license")
            .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
            .route(web::post().to(post_callback))
            .route(web::get().to(super::legacy::get_callback)),
    );
}

async fn post_callback(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    let started = Instant::now();
    let reply = match authenticate(&req, &body, &state) {
        Err(reply) => {
            record_rejection(&state, &body, &reply, started, None).await;
            reply
        }
        Ok(nonce) => match request::parse(&body) {
            Err(bad) => {
                let reply = Reply::new(ResultCode::InvalidParam, bad.to_string());
                record_rejection(&state, &body, &reply, started, Some(nonce)).await
            }
            Ok(parsed) => {
                callbacks::handle(
                    &state,
                    parsed,
                    Inbound {
                        nonce: Some(nonce),
                        started,
                    },
                )
                .await
            }
        },
    };
    respond(&state, &reply)
}

/// Scheme B: signature, timestamp inside the window, well-formed nonce. Returns the nonce, which
/// the callback's transaction remembers (so a replay is refused on every node).
fn authenticate(req: &HttpRequest, body: &[u8], state: &AppState) -> Result<String, Reply> {
    let Some(access_key) = &state.settings.access_key else {
        tracing::error!("KOOLICENSE_ACCESS_KEY is not set: marketplace calls cannot be verified");
        return Err(Reply::new(
            ResultCode::Internal,
            "KOOLICENSE_ACCESS_KEY is not set on the server.",
        ));
    };
    let query: Vec<(String, String)> = url::form_urlencoded::parse(req.query_string().as_bytes())
        .into_owned()
        .collect();
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let params = SchemeBParams {
        signature: param("signature"),
        timestamp: param("timestamp"),
        nonce: param("nonce"),
    };
    let window_ms = state.settings.timestamp_window_secs.saturating_mul(1000);
    let now_ms = chrono::Utc::now().timestamp_millis();
    auth::verify_scheme_b(access_key.expose_secret(), &params, body, now_ms, window_ms)
        .map(|verified| verified.nonce)
        .map_err(|e| {
            tracing::warn!(reason = %e, "marketplace call failed authentication");
            Reply::new(
                ResultCode::AuthFailed,
                format!("authentication failed: {e}."),
            )
        })
}

/// Journals a call answered before any callback ran (authentication or validation failed). An
/// authenticated call also spends its nonce, in the same transaction; a replay answers `000001`.
async fn record_rejection(
    state: &AppState,
    body: &[u8],
    reply: &Reply,
    started: Instant,
    nonce: Option<String>,
) -> Reply {
    let activity = activity_of(body);
    let test = test_flag_of(body);
    let mut answer = reply.clone();
    let outcome = db::run(&state.pool, move |conn| {
        conn.write_tx(|conn| -> Result<Reply, diesel::result::Error> {
            if let Some(nonce) = &nonce {
                if !nonces::remember(conn, nonce, crate::licensing::now_seconds())? {
                    answer = Reply::new(ResultCode::AuthFailed, "nonce already used.");
                }
            }
            let mut call = NewMarketplaceCall::new(
                INBOUND,
                &activity,
                answer.code.as_str(),
                callbacks::elapsed_ms(started),
            );
            call.test_flag = test;
            call.detail = Some(answer.message.clone());
            marketplace_calls::insert(conn, &call)?;
            Ok(answer)
        })
        .map_err(|e| Unavailable(e.to_string()))
    })
    .await;
    outcome.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "journal write failed");
        reply.clone()
    })
}

/// The `activity` of a body that failed validation, if it names a known one.
fn activity_of(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("activity")
                .and_then(|a| a.as_str())
                .map(str::to_owned)
        })
        .filter(|a| request::ACTIVITIES.contains(&a.as_str()))
        .unwrap_or_else(|| "unknown".to_owned())
}

fn test_flag_of(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .is_some_and(|v| v.get("testFlag").and_then(|t| t.as_str()) == Some("1"))
}

/// HTTP 200 with the reply's exact bytes, and `Body-Sign` over them when the legacy key is set.
pub fn respond(state: &AppState, reply: &Reply) -> HttpResponse {
    let body = reply.to_bytes();
    let mut response = HttpResponse::Ok();
    response.content_type("application/json;charset=UTF-8");
    if let Some(key) = &state.settings.legacy_key {
        response.insert_header((
            "Body-Sign",
            auth::body_sign_header(key.expose_secret(), &body),
        ));
    }
    response.body(body)
}
