//! `POST /koogallery/license`: KooGallery's calls to us. Authenticate (Scheme B), spend the
//! nonce, parse, dispatch, and answer with a JSON result code, signed with `Body-Sign` when the
//! legacy key is set.
//!
//! A call refused before it is authenticated (including a replayed nonce) is only counted
//! ([`Rejections`](super::callbacks::rejections::Rejections)): anyone can send one, so it must cost no journal row. Every authenticated
//! call is journalled, also when it is invalid.

mod body;
mod nonce;

use std::time::Instant;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use secrecy::ExposeSecret;

use super::auth::{self, SchemeBParams};
use super::callbacks::rejections::{Interface, Reason, activity_key};
use super::callbacks::reply::{Reply, ResultCode};
use super::callbacks::{self, request};
use crate::db;
use crate::db::models::marketplace_calls::{self, INBOUND, NewMarketplaceCall};
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
    let refuse = |reason, body: Option<&[u8]>| {
        let activity = body.map_or("unknown", activity_of);
        state.rejections.record(Interface::Post, activity, reason);
    };
    let body = match body::read(&req, payload, MAX_BODY_BYTES).await {
        Ok(body) => body,
        Err(body::Refused::TooLarge) => {
            refuse(Reason::BodyTooLarge, None);
            let reply = Reply::new(
                ResultCode::InvalidParam,
                format!("invalid parameter body: larger than {MAX_BODY_BYTES} bytes."),
            );
            return respond_with(&state, StatusCode::PAYLOAD_TOO_LARGE, &reply);
        }
        Err(body::Refused::Unreadable) => {
            refuse(Reason::UnreadableBody, None);
            let reply = Reply::new(
                ResultCode::InvalidParam,
                "invalid parameter body: could not be read.",
            );
            return respond(&state, &reply);
        }
    };
    let nonce = match authenticate(&req, &body, &state) {
        Ok(nonce) => nonce,
        Err((reason, reply)) => {
            refuse(reason, Some(&body));
            return respond(&state, &reply);
        }
    };
    // The nonce is spent before anything else happens, whatever the answer will be, so a
    // replay is refused on every node and never reaches the marketplace (order queries).
    match nonce::spend(&state, nonce).await {
        nonce::Spent::Fresh => {}
        nonce::Spent::Replayed => {
            refuse(Reason::ReplayedNonce, Some(&body));
            let reply = Reply::new(ResultCode::AuthFailed, "nonce already used.");
            return respond(&state, &reply);
        }
        nonce::Spent::Unknown => {
            let reply = Reply::new(ResultCode::Internal, "internal error; please retry.");
            return respond(&state, &reply);
        }
    }
    let reply = match request::parse(&body) {
        Err(bad) => {
            let reply = Reply::new(ResultCode::InvalidParam, bad.to_string());
            journal_invalid(&state, &body, reply, started).await
        }
        Ok(parsed) => callbacks::handle(&state, parsed, started).await,
    };
    respond(&state, &reply)
}

/// Scheme B: signature, timestamp inside the window, well-formed nonce. Returns the nonce to
/// spend, or why the call is refused and the answer.
fn authenticate(
    req: &HttpRequest,
    body: &[u8],
    state: &AppState,
) -> Result<String, (Reason, Reply)> {
    let Some(access_key) = &state.settings.marketplace.access_key else {
        // Logged once per flush of the counts, not once per call.
        let reply = Reply::new(
            ResultCode::Internal,
            "KOOLICENSE_ACCESS_KEY is not set on the server.",
        );
        return Err((Reason::KeyNotConfigured, reply));
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
    let window_ms = state
        .settings
        .marketplace
        .timestamp_window_secs
        .saturating_mul(1000);
    let now_ms = chrono::Utc::now().timestamp_millis();
    auth::verify_scheme_b(access_key.expose_secret(), &params, body, now_ms, window_ms)
        .map(|verified| verified.nonce)
        .map_err(|e| {
            let reply = Reply::new(
                ResultCode::AuthFailed,
                format!("authentication failed: {e}."),
            );
            (Reason::of(&e), reply)
        })
}

/// Journals an authenticated call whose body failed validation (`000002`).
async fn journal_invalid(state: &AppState, body: &[u8], reply: Reply, started: Instant) -> Reply {
    let mut call = NewMarketplaceCall::new(
        INBOUND,
        activity_of(body),
        reply.code.as_str(),
        callbacks::elapsed_ms(started),
    );
    call.test_flag = test_flag_of(body);
    call.detail = Some(reply.message.clone());
    let outcome = db::run(&state.pool, move |conn| {
        marketplace_calls::insert(conn, &call).map_err(anyhow::Error::from)
    })
    .await;
    if let Err(e) = outcome {
        tracing::warn!(error = %e, "journal write failed");
    }
    reply
}

/// The `activity` of a body, if it names a known one; `unknown` otherwise.
fn activity_of(body: &[u8]) -> &'static str {
    let value = serde_json::from_slice::<serde_json::Value>(body).ok();
    let raw = value.as_ref().and_then(|v| v.get("activity")?.as_str());
    activity_key(raw, &request::ACTIVITIES)
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
    if let Some(key) = &state.settings.marketplace.legacy_key {
        response.insert_header((
            "Body-Sign",
            auth::body_sign_header(key.expose_secret(), &body),
        ));
    }
    response.body(body)
}
