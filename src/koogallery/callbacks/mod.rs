//! What each production-interface callback does, after authentication and once its nonce is
//! spent: the slow part (fetching an order within the 5 s budget) outside the transaction, then
//! one transaction that applies the callback and journals it, so a request either happened
//! entirely or not at all.

pub mod activity;
pub mod codes;
pub mod instances;
pub mod license_async;
mod prefetch;
pub mod rejections;
pub mod reply;
pub mod request;

use std::time::Instant;

use chrono::NaiveDateTime;

use self::activity::{
    GetLicenseAsync, RefreshInstance, ReleaseInstance, UpdateInstanceStatus, UpgradeInstance,
};
use self::reply::{Reply, ResultCode};
use self::request::{Callback, Request};
use crate::db::models::marketplace_calls::{self, INBOUND, NewMarketplaceCall};
use crate::db::models::orders;
use crate::db::{self, DbConn};
use crate::keys::KeyStore;
use crate::licensing::now_seconds;
use crate::service;
use crate::startup::AppState;

/// Answers a parsed, authenticated request whose nonce is spent already; `started` is when it
/// arrived, for the journal's latency.
pub async fn handle(state: &AppState, request: Request, started: Instant) -> Reply {
    let upgrade_order = match prefetch::prefetch(state, &request).await {
        Ok(order) => order,
        Err(reply) => return record_only(state, &request, started, reply).await,
    };
    let keys = state.keys.clone();
    let instance_limit = state.settings.marketplace.instance_limit;
    let request_for_tx = request.clone();
    let result = db::run(&state.pool, move |conn| {
        conn.write_tx(|conn| -> Result<Reply, service::Error> {
            let mut ctx = Ctx {
                conn: &mut *conn,
                keys: &keys,
                instance_limit,
                now: now_seconds(),
            };
            let outcome = apply(&mut ctx, &request_for_tx, upgrade_order.as_ref());
            let reply = Reply::or_refusal(outcome)?;
            journal(conn, &request_for_tx, &reply, started)?;
            Ok(reply)
        })
    })
    .await;
    result.unwrap_or_else(|e| {
        let _span =
            tracing::error_span!("callback", activity = request.activity.as_str()).entered();
        Reply::from(e)
    })
}

/// What every handler works with besides its own callback's fields.
pub struct Ctx<'a> {
    /// The connection, inside the callback's transaction.
    pub conn: &'a mut DbConn,
    /// The signing keys, for `getLicenseAsync`.
    pub keys: &'a KeyStore,
    /// The configured cap on live instances, for `newInstance`.
    pub instance_limit: Option<i64>,
    /// The transaction's time, whole seconds.
    pub now: NaiveDateTime,
}

fn apply(
    ctx: &mut Ctx<'_>,
    request: &Request,
    upgrade_order: Option<&orders::OrderRecord>,
) -> Result<Reply, service::Error> {
    if request.test {
        // Debug-console and dial-test calls: validated already, touch no production data.
        return Ok(test_reply(request));
    }
    match &request.callback {
        Callback::NewInstance(call) => instances::new_instance(ctx, call),
        Callback::RefreshInstance(call) => instances::refresh_instance(ctx, call),
        Callback::UpdateInstanceStatus(call) => instances::update_instance_status(ctx, call),
        Callback::ReleaseInstance(call) => instances::release_instance(ctx, call),
        Callback::UpgradeInstance(call) => instances::upgrade_instance(ctx, call, upgrade_order),
        Callback::QueryInstance(call) => instances::query_instance(ctx, call),
        Callback::GetLicenseAsync(call) => license_async::get_license_async(ctx, call),
        Callback::RefreshLicenseCode(call) => codes::refresh(ctx, call),
        Callback::UpdateLicenseCodeStatus(call) => codes::update_status(ctx, call),
        Callback::ReleaseLicenseCode(call) => codes::release(ctx, call),
    }
}

/// The answer to a `testFlag` call: success, echoing the instance the call names.
fn test_reply(request: &Request) -> Reply {
    match &request.callback {
        Callback::NewInstance(call) => Reply::success().with_instance(call.business_id.clone()),
        Callback::QueryInstance(call) => {
            let mut reply = Reply::success();
            reply.info = Some(
                call.instance_ids
                    .iter()
                    .map(|id| reply::InstanceInfo {
                        instance_id: id.clone(),
                    })
                    .collect(),
            );
            reply
        }
        Callback::RefreshInstance(RefreshInstance { instance_id, .. })
        | Callback::UpdateInstanceStatus(UpdateInstanceStatus { instance_id, .. })
        | Callback::ReleaseInstance(ReleaseInstance { instance_id, .. })
        | Callback::UpgradeInstance(UpgradeInstance { instance_id, .. })
        | Callback::GetLicenseAsync(GetLicenseAsync { instance_id, .. }) => {
            Reply::success().with_instance(instance_id.clone())
        }
        Callback::RefreshLicenseCode(_)
        | Callback::UpdateLicenseCodeStatus(_)
        | Callback::ReleaseLicenseCode(_) => Reply::success(),
    }
}

/// Journals a request that is answered without applying anything (a prefetch failure).
async fn record_only(state: &AppState, request: &Request, started: Instant, reply: Reply) -> Reply {
    let (request, logged) = (request.clone(), reply.clone());
    let result = db::run(&state.pool, move |conn| -> anyhow::Result<()> {
        journal(conn, &request, &logged, started)?;
        Ok(())
    })
    .await;
    if let Err(e) = result {
        tracing::warn!(error = %e, "journal write failed");
    }
    reply
}

/// Writes one inbound journal row. Codes appear only as hints.
pub fn journal(
    conn: &mut DbConn,
    request: &Request,
    reply: &Reply,
    started: Instant,
) -> diesel::QueryResult<()> {
    let (order_id, instance_id, code, event_id) = request.journal_keys();
    let mut call = NewMarketplaceCall::new(
        INBOUND,
        request.activity.as_str(),
        reply.code.as_str(),
        elapsed_ms(started),
    );
    call.order_id = order_id.map(str::to_owned);
    call.instance_id = instance_id.map(str::to_owned);
    call.code_hint = code.map(crate::telemetry::code_hint);
    call.event_id = event_id.map(str::to_owned);
    call.test_flag = request.test;
    call.detail = (reply.code != ResultCode::Success).then(|| reply.message.clone());
    marketplace_calls::insert(conn, &call)
}

/// Milliseconds since `started`.
pub fn elapsed_ms(started: Instant) -> i64 {
    i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX)
}
