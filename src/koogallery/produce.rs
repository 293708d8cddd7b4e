//! `POST /koogallery/license`: KooGallery's calls to us. Authenticate (Scheme B), parse, dispatch,
//! and answer HTTP 200 with a JSON result code, signed with `Body-Sign` when the legacy key is set.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{NaiveDateTime, TimeDelta};
use diesel::QueryResult;
use secrecy::ExposeSecret;

mod body;

use super::auth::{self, SchemeBParams};
use super::callbacks::reply::{Reply, ResultCode};
use super::callbacks::{self, CallbackError, request};
use crate::db::models::marketplace_calls::{self, INBOUND, NewMarketplaceCall};
use crate::db::models::nonces;
use crate::db::{self, DbConn};
use crate::startup::AppState;

/// Bodies above this size are refused with HTTP 413, never read further than this.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Registers the production interface.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/koogallery/license")
            .route(web::post().to(post_callback))
            .route(web::get().to(super::legacy::get_callback)),
    );
}

async fn post_callback(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let started = Instant::now();
    let body = match body::read(&req, payload, MAX_BODY_BYTES).await {
        Ok(body) => body,
        Err(body::Refused::TooLarge) => {
            let reply = Reply::new(
                ResultCode::InvalidParam,
                format!("invalid parameter body: larger than {MAX_BODY_BYTES} bytes."),
            );
            return respond_with(&state, StatusCode::PAYLOAD_TOO_LARGE, &reply);
        }
        Err(body::Refused::Unreadable) => {
            let reply = Reply::new(
                ResultCode::InvalidParam,
                "invalid parameter body: could not be read.",
            );
            return respond(&state, &reply);
        }
    };
    let reply = match authenticate(&req, &body, &state) {
        Err(reply) => record_rejection(&state, &body, reply, started).await,
        // The nonce is spent before anything else happens, whatever the answer will be, so a
        // replay is refused on every node and never reaches the marketplace (order queries).
        Ok(nonce) => match spend_nonce(&state, nonce).await {
            Err(reply) => record_rejection(&state, &body, reply, started).await,
            Ok(()) => match request::parse(&body) {
                Err(bad) => {
                    let reply = Reply::new(ResultCode::InvalidParam, bad.to_string());
                    record_rejection(&state, &body, reply, started).await
                }
                Ok(parsed) => callbacks::handle(&state, parsed, started).await,
            },
        },
    };
    respond(&state, &reply)
}

/// Remembers a verified call's nonce in its own transaction; `Err` is the answer instead:
/// `000001` for a nonce already seen, `000005` when the database cannot say.
async fn spend_nonce(state: &AppState, nonce: String) -> Result<(), Reply> {
    let keep = TimeDelta::seconds(state.settings.timestamp_window_secs.saturating_mul(2));
    let fresh = db::write(&state.pool, move |conn| -> Result<bool, CallbackError> {
        let now = crate::licensing::now_seconds();
        let fresh = nonces::remember(conn, &nonce, now)?;
        if fresh {
            purge_now_and_then(conn, now, keep)?;
        }
        Ok(fresh)
    })
    .await;
    match fresh {
        Ok(true) => Ok(()),
        Ok(false) => Err(Reply::new(ResultCode::AuthFailed, "nonce already used.")),
        Err(e) => {
            tracing::error!(error = %e, "cannot remember a marketplace nonce");
            Err(Reply::new(
                ResultCode::Internal,
                "internal error; please retry.",
            ))
        }
    }
}

fn purge_now_and_then(conn: &mut DbConn, now: NaiveDateTime, keep: TimeDelta) -> QueryResult<()> {
    static CALLS: AtomicU32 = AtomicU32::new(0);
    // Old nonces are useless (their timestamps fail the window); clearing them every 256th call
    // keeps the table small without a timer.
    if CALLS.fetch_add(1, Ordering::Relaxed) % 256 == 0 {
        nonces::purge(conn, now, keep)?;
    }
    Ok(())
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

/// Journals a call answered before any callback ran (authentication or validation failed).
async fn record_rejection(state: &AppState, body: &[u8], reply: Reply, started: Instant) -> Reply {
    let mut call = NewMarketplaceCall::new(
        INBOUND,
        &activity_of(body),
        reply.code.as_str(),
        callbacks::elapsed_ms(started),
    );
    call.test_flag = test_flag_of(body);
    call.detail = Some(reply.message.clone());
    let outcome = db::run(&state.pool, move |conn| {
        marketplace_calls::insert(conn, &call).map_err(CallbackError::from)
    })
    .await;
    if let Err(e) = outcome {
        tracing::warn!(error = %e, "journal write failed");
    }
    reply
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
    respond_with(state, StatusCode::OK, reply)
}

/// [`respond`] with another status: the body and its `Body-Sign` stay the same as ever.
fn respond_with(state: &AppState, status: StatusCode, reply: &Reply) -> HttpResponse {
    let body = reply.to_bytes();
    let mut response = HttpResponse::build(status);
    response.content_type("application/json;charset=UTF-8");
    if let Some(key) = &state.settings.legacy_key {
        response.insert_header((
            "Body-Sign",
            auth::body_sign_header(key.expose_secret(), &body),
        ));
    }
    response.body(body)
}
