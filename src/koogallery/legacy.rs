//! `GET /koogallery/license`: the legacy (License 1.0) query-string interface with `authToken`
//! (koogallery.md §5): getLicense, refreshLicense, expireLicense, releaseLicense. Responses always
//! carry `Body-Sign`, which this interface requires.

mod activity;
mod call;

use std::time::Instant;

use actix_web::{HttpRequest, HttpResponse, web};
use secrecy::ExposeSecret;

use self::activity::LegacyActivity;
use super::auth;
use super::callbacks::elapsed_ms;
use super::callbacks::rejections::{Interface, Reason, activity_key};
use super::callbacks::reply::{Reply, ResultCode};
use super::fields::Fields;
use super::produce::respond;
use crate::db::ids::InstanceId;
use crate::db::models::marketplace_calls::{self, INBOUND, NewMarketplaceCall};
use crate::db::{self, DbConn};
use crate::licensing;
use crate::service;
use crate::startup::AppState;

/// Scheme A documents no freshness window; a few minutes bounds replays without rejecting
/// KooGallery's ordinary clock skew (koogallery.md §2.2 recommendation).
const LEGACY_WINDOW_SECS: i64 = 300;

/// The activities of the legacy interface, by wire name.
pub const ACTIVITIES: [&str; 4] = [
    LegacyActivity::Get.as_str(),
    LegacyActivity::Refresh.as_str(),
    LegacyActivity::Expire.as_str(),
    LegacyActivity::Release.as_str(),
];

pub(super) async fn get_callback(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let started = Instant::now();
    let params: Vec<(String, String)> = url::form_urlencoded::parse(req.query_string().as_bytes())
        .into_owned()
        .collect();
    // A call refused before it is authenticated is only counted: anyone can send one, so it
    // must cost no journal row (see `callbacks::rejections`).
    let refuse = |reason| {
        let activity = activity_key(Fields::Query(&params).peek("activity"), &ACTIVITIES);
        state.rejections.record(Interface::Legacy, activity, reason);
    };
    let Some(key) = &state.settings.marketplace.legacy_key else {
        refuse(Reason::KeyNotConfigured);
        let reply = Reply::new(
            ResultCode::Internal,
            "KOOLICENSE_LEGACY_KEY is not set on the server.",
        );
        return respond(&state, &reply);
    };
    let verified = auth::verify_auth_token_fresh(
        key.expose_secret(),
        &params,
        chrono::Utc::now(),
        LEGACY_WINDOW_SECS,
    );
    if let Err(e) = verified {
        refuse(Reason::of(&e));
        let reply = Reply::new(
            ResultCode::AuthFailed,
            format!("authentication failed: {e}."),
        );
        return respond(&state, &reply);
    }
    let reply = handle(&state, params.clone(), started).await;
    if reply.code == ResultCode::Internal {
        // The transaction that journals the call failed; journal it on its own.
        journal_async(&state, &params, &reply, started).await;
    }
    respond(&state, &reply)
}

async fn handle(state: &AppState, params: Vec<(String, String)>, started: Instant) -> Reply {
    let keys = state.keys.clone();
    let result = db::run(&state.pool, move |conn| {
        conn.write_tx(|conn| -> Result<Reply, service::Error> {
            let now = licensing::now_seconds();
            let fields = Fields::Query(&params);
            let reply = match call::parse(&fields, now) {
                Err(bad) => Reply::new(ResultCode::InvalidParam, bad.to_string()),
                // Refused, not failed: the refusal is journalled and committed like any answer.
                Ok(call) => Reply::or_refusal(call::answer(conn, &keys, &call, now))?,
            };
            journal(conn, &fields, &reply, started)?;
            Ok(reply)
        })
    })
    .await;
    result.unwrap_or_else(|e| {
        let _span = tracing::error_span!("legacy callback").entered();
        Reply::from(e)
    })
}

fn journal(
    conn: &mut DbConn,
    fields: &Fields<'_>,
    reply: &Reply,
    started: Instant,
) -> diesel::QueryResult<()> {
    let activity = fields.peek("activity").unwrap_or("unknown");
    let activity: String = activity.chars().take(32).collect();
    let mut call =
        NewMarketplaceCall::new(INBOUND, &activity, reply.code.as_str(), elapsed_ms(started));
    call.order_id = fields.peek("orderId").map(|s| s.chars().take(64).collect());
    call.instance_id = fields
        .peek("instanceId")
        .or(reply.instance_id.as_ref().map(InstanceId::as_str))
        .map(|s| s.chars().take(64).collect());
    call.test_flag = fields.peek("testFlag") == Some("1");
    call.detail = (reply.code != ResultCode::Success).then(|| reply.message.clone());
    marketplace_calls::insert(conn, &call)
}

async fn journal_async(
    state: &AppState,
    params: &[(String, String)],
    reply: &Reply,
    started: Instant,
) {
    let (params, reply) = (params.to_vec(), reply.clone());
    let result = db::run(&state.pool, move |conn| {
        journal(conn, &Fields::Query(&params), &reply, started).map_err(anyhow::Error::from)
    })
    .await;
    if let Err(e) = result {
        tracing::warn!(error = %e, "journal write failed");
    }
}
