//! `GET /koogallery/license`: the legacy (License 1.0) query-string interface with `authToken`
//! (koogallery.md §5): getLicense, refreshLicense, expireLicense, releaseLicense. Responses always
//! carry `Body-Sign`, which this interface requires.

mod activity;
mod apply;

use std::time::Instant;

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::NaiveDateTime;
use secrecy::ExposeSecret;

use self::activity::{Change, LegacyActivity};
use super::auth;
use super::callbacks::rejections::{Interface, Reason, activity_key};
use super::callbacks::reply::{Reply, ResultCode};
use super::callbacks::{CallbackError, Ctx, elapsed_ms};
use super::produce::respond;
use crate::db::models::marketplace_calls::{self, INBOUND, NewMarketplaceCall};
use crate::db::{self, DbConn};
use crate::domain::times;
use crate::licensing;
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
        let activity = activity_key(param(&params, "activity"), &ACTIVITIES);
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

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

fn required<'a>(
    params: &'a [(String, String)],
    name: &'static str,
    max: usize,
) -> Result<&'a str, LegacyError> {
    match param(params, name) {
        None => Err(LegacyError::InvalidParam(format!(
            "invalid parameter {name}: missing"
        ))),
        Some(v) if v.chars().count() > max => Err(LegacyError::InvalidParam(format!(
            "invalid parameter {name}: longer than {max}"
        ))),
        Some(v) => Ok(v),
    }
}

async fn handle(state: &AppState, params: Vec<(String, String)>, started: Instant) -> Reply {
    let keys = state.keys.clone();
    let instance_limit = state.settings.marketplace.instance_limit;
    let result = db::run(&state.pool, move |conn| {
        conn.write_tx(|conn| -> Result<Reply, CallbackError> {
            let mut ctx = Ctx {
                conn: &mut *conn,
                keys: &keys,
                instance_limit,
                now: licensing::now_seconds(),
            };
            let reply = match dispatch(&mut ctx, &params) {
                Ok(reply) => reply,
                // Refused, not failed: the refusal is journalled and committed like any answer.
                Err(LegacyError::InvalidParam(message)) => {
                    Reply::new(ResultCode::InvalidParam, message)
                }
                Err(LegacyError::Failed(e)) => return Err(e),
            };
            journal(conn, &params, &reply, started)?;
            Ok(reply)
        })
    })
    .await;
    result.unwrap_or_else(|e| {
        tracing::error!(error = %e, "legacy callback failed");
        Reply::new(ResultCode::Internal, "internal error; please retry.")
    })
}

/// Why a legacy call was not applied.
#[derive(Debug)]
enum LegacyError {
    /// A parameter is missing or malformed; the message names it. Answered `000002` and
    /// journalled: nothing else happened.
    InvalidParam(String),
    /// The database or the signing failed: the transaction rolls back, the call answers `000005`
    /// and KooGallery retries.
    Failed(CallbackError),
}

impl From<CallbackError> for LegacyError {
    fn from(e: CallbackError) -> Self {
        Self::Failed(e)
    }
}

fn dispatch(ctx: &mut Ctx<'_>, params: &[(String, String)]) -> Result<Reply, LegacyError> {
    let raw = required(params, "activity", 20)?;
    let Some(activity) = LegacyActivity::from_wire(raw) else {
        return Err(LegacyError::InvalidParam(format!(
            "invalid parameter activity: unknown activity {raw:?}"
        )));
    };
    let test = param(params, "testFlag") == Some("1");
    match activity {
        LegacyActivity::Get => get_license(ctx, params, test),
        LegacyActivity::Refresh => {
            let instance_id = instance_of(params)?;
            let expire = optional_time(params, "expireTime")?.ok_or_else(|| {
                LegacyError::InvalidParam("invalid parameter expireTime: missing".to_owned())
            })?;
            change_instance(ctx, test, instance_id, Change::Refresh(expire))
        }
        LegacyActivity::Expire => change_instance(ctx, test, instance_of(params)?, Change::Expire),
        LegacyActivity::Release => {
            change_instance(ctx, test, instance_of(params)?, Change::Release)
        }
    }
}

fn get_license(
    ctx: &mut Ctx<'_>,
    params: &[(String, String)],
    test: bool,
) -> Result<Reply, LegacyError> {
    required(params, "customerId", 100)?;
    let business_id = required(params, "businessId", 64)?;
    let order_id = required(params, "orderId", 64)?;
    let product_id = required(params, "productId", 64)?;
    let expire = optional_time(params, "expireTime")?;
    // A license cannot end before it starts (now): a bad parameter, not our error.
    if expire.is_some_and(|t| licensing::whole_seconds(t) < ctx.now) {
        return Err(LegacyError::InvalidParam(
            "invalid parameter expireTime: already past".to_owned(),
        ));
    }
    let amount = match param(params, "amount") {
        None => 1,
        Some(raw) => raw.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
            LegacyError::InvalidParam("invalid parameter amount: not a positive number".to_owned())
        })?,
    };
    if test {
        return Ok(Reply::success().with_instance(business_id));
    }
    let call = apply::GetLicense {
        business_id,
        order_id,
        product_id,
        expire,
        amount,
    };
    Ok(apply::get_license(ctx, &call)?)
}

/// The instance a refresh, expiry or release names, once its order id is checked too.
fn instance_of(params: &[(String, String)]) -> Result<&str, LegacyError> {
    let instance_id = required(params, "instanceId", 64)?;
    required(params, "orderId", 64)?;
    Ok(instance_id)
}

fn change_instance(
    ctx: &mut Ctx<'_>,
    test: bool,
    instance_id: &str,
    change: Change,
) -> Result<Reply, LegacyError> {
    if test {
        return Ok(Reply::success().with_instance(instance_id));
    }
    let call = apply::ChangeInstance {
        instance_id,
        change,
    };
    Ok(apply::change_instance(ctx, &call)?)
}

fn optional_time(
    params: &[(String, String)],
    name: &'static str,
) -> Result<Option<NaiveDateTime>, LegacyError> {
    param(params, name)
        .map(|raw| {
            times::parse_compact(raw)
                .map_err(|e| LegacyError::InvalidParam(format!("invalid parameter {name}: {e}")))
        })
        .transpose()
}

fn journal(
    conn: &mut DbConn,
    params: &[(String, String)],
    reply: &Reply,
    started: Instant,
) -> diesel::QueryResult<()> {
    let activity = param(params, "activity").unwrap_or("unknown");
    let activity: String = activity.chars().take(32).collect();
    let mut call =
        NewMarketplaceCall::new(INBOUND, &activity, reply.code.as_str(), elapsed_ms(started));
    call.order_id = param(params, "orderId").map(|s| s.chars().take(64).collect());
    call.instance_id = param(params, "instanceId")
        .or(reply.instance_id.as_deref())
        .map(|s| s.chars().take(64).collect());
    call.test_flag = param(params, "testFlag") == Some("1");
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
        journal(conn, &params, &reply, started).map_err(CallbackError::from)
    })
    .await;
    if let Err(e) = result {
        tracing::warn!(error = %e, "journal write failed");
    }
}
