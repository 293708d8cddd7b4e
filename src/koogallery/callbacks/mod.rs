//! What each production-interface callback does, after authentication and once its nonce is
//! spent: the slow part (fetching an order within the 5 s budget) outside the transaction, then
//! one transaction that applies the callback and journals it, so a request either happened
//! entirely or not at all.

pub mod codes;
pub mod instances;
pub mod license_async;
pub mod rejections;
pub mod reply;
pub mod request;

use std::time::{Duration, Instant};

use self::license_async::AsyncRequest;
use self::reply::{Reply, ResultCode};
use self::request::{Callback, Request};
use crate::db::models::marketplace_calls::{self, INBOUND, NewMarketplaceCall};
use crate::db::models::{events, instances as instance_rows, orders};
use crate::db::{self, DbConn, Unavailable};
use crate::koogallery::client::MarketplaceError;
use crate::licensing::now_seconds;
use crate::startup::AppState;

/// How long an order fetch may take inside KooGallery's 5 s budget, leaving time for the rest.
const ORDER_FETCH_BUDGET: Duration = Duration::from_secs(3);

/// Anything that makes a callback answer `000005` (KooGallery then retries).
#[derive(Debug, thiserror::Error)]
pub enum CallbackError {
    #[error("database: {0}")]
    Database(#[from] diesel::result::Error),
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
    #[error("license: {0}")]
    License(#[from] crate::license_file::LicenseError),
}

/// Answers a parsed, authenticated request whose nonce is spent already; `started` is when it
/// arrived, for the journal's latency.
pub async fn handle(state: &AppState, request: Request, started: Instant) -> Reply {
    let upgrade_order = match prefetch(state, &request).await {
        Ok(order) => order,
        Err(reply) => return record_only(state, &request, started, reply).await,
    };
    let keys = state.keys.clone();
    let instance_limit = state.settings.instance_limit;
    let request_for_tx = request.clone();
    let result = db::run(&state.pool, move |conn| {
        conn.write_tx(|conn| -> Result<Reply, CallbackError> {
            let now = now_seconds();
            let reply = apply(
                conn,
                &keys,
                &request_for_tx,
                upgrade_order.as_ref(),
                instance_limit,
                now,
            )?;
            journal(conn, &request_for_tx, &reply, started)?;
            Ok(reply)
        })
    })
    .await;
    result.unwrap_or_else(|e| {
        tracing::error!(activity = request.activity, error = %e, "callback failed");
        Reply::new(ResultCode::Internal, "internal error; please retry.")
    })
}

fn apply(
    conn: &mut DbConn,
    keys: &crate::keys::KeyStore,
    request: &Request,
    upgrade_order: Option<&orders::OrderRecord>,
    instance_limit: Option<i64>,
    now: chrono::NaiveDateTime,
) -> Result<Reply, CallbackError> {
    if request.test {
        // Debug-console and dial-test calls: validated already, touch no production data.
        return Ok(test_reply(request));
    }
    let reply = match &request.callback {
        Callback::NewInstance {
            order_id,
            order_line_id,
            business_id,
        } => instances::new_instance(
            conn,
            order_id,
            order_line_id,
            business_id,
            instance_limit,
            now,
        )?,
        Callback::RefreshInstance {
            scene,
            order_id,
            order_line_id,
            instance_id,
            product_id,
            expire_time,
        } => instances::refresh_instance(
            conn,
            instance_id,
            scene,
            order_id,
            order_line_id,
            product_id.as_deref(),
            *expire_time,
            now,
        )?,
        Callback::UpdateInstanceStatus {
            instance_id,
            freeze,
        } => instances::update_instance_status(conn, instance_id, *freeze, now)?,
        Callback::ReleaseInstance {
            instance_id,
            order_id,
        } => instances::release_instance(conn, instance_id, order_id.as_deref(), now)?,
        Callback::UpgradeInstance {
            instance_id,
            order_id,
            ..
        } => match upgrade_order {
            Some(order) => instances::upgrade_instance(conn, instance_id, order, now)?,
            // No order fetched: the prefetch found the upgrade applied or the instance unknown.
            // Both are checked again here, under the transaction, rather than trusted.
            None => upgrade_without_order(conn, instance_id, order_id)?,
        },
        Callback::QueryInstance { instance_ids } => instances::query_instance(conn, instance_ids)?,
        Callback::GetLicenseAsync {
            instance_id,
            effective,
            expire,
            event_id,
            fingerprint,
        } => {
            let req = AsyncRequest {
                instance_id,
                event_id,
                effective: *effective,
                expire: *expire,
                fingerprint: fingerprint.as_ref(),
            };
            license_async::get_license_async(conn, keys, &req, now)?
        }
        Callback::RefreshLicenseCode {
            scene,
            order_id,
            order_line_id,
            code,
            product_id,
            expire_time,
        } => codes::refresh(
            conn,
            code,
            scene,
            order_id,
            order_line_id,
            product_id.as_deref(),
            *expire_time,
            now,
        )?,
        Callback::UpdateLicenseCodeStatus { code, freeze } => {
            codes::update_status(conn, code, *freeze, now)?
        }
        Callback::ReleaseLicenseCode { code, order_id } => {
            codes::release(conn, code, order_id.as_deref(), now)?
        }
    };
    Ok(reply)
}

/// `upgradeInstance` when the prefetch fetched no order. Success only if this upgrade is on
/// record; an instance that exists without it (it appeared after the prefetch looked) answers
/// `000004`, so KooGallery repeats the call and the next one fetches the order.
fn upgrade_without_order(
    conn: &mut DbConn,
    instance_id: &str,
    order_id: &str,
) -> Result<Reply, CallbackError> {
    if instance_rows::find(conn, instance_id)?.is_none() {
        return Ok(Reply::new(
            ResultCode::NotFound,
            format!("instance {instance_id} does not exist."),
        ));
    }
    if events::seen(conn, &instances::upgrade_key(instance_id, order_id))? {
        return Ok(Reply::success().with_instance(instance_id));
    }
    Ok(Reply::new(
        ResultCode::Processing,
        "the upgrade order is being fetched; ask again.",
    ))
}

fn test_reply(request: &Request) -> Reply {
    match &request.callback {
        Callback::NewInstance { business_id, .. } => {
            Reply::success().with_instance(business_id.clone())
        }
        Callback::QueryInstance { instance_ids } => {
            let mut reply = Reply::success();
            reply.info = Some(
                instance_ids
                    .iter()
                    .map(|id| reply::InstanceInfo {
                        instance_id: id.clone(),
                    })
                    .collect(),
            );
            reply
        }
        Callback::RefreshInstance { instance_id, .. }
        | Callback::UpdateInstanceStatus { instance_id, .. }
        | Callback::ReleaseInstance { instance_id, .. }
        | Callback::UpgradeInstance { instance_id, .. }
        | Callback::GetLicenseAsync { instance_id, .. } => {
            Reply::success().with_instance(instance_id.clone())
        }
        _ => Reply::success(),
    }
}

/// The part of a callback that talks to KooGallery, done before the transaction: an order the
/// instance's quota or an upgrade depends on. `Err` is the reply to give instead.
async fn prefetch(
    state: &AppState,
    request: &Request,
) -> Result<Option<orders::OrderRecord>, Reply> {
    if request.test {
        return Ok(None);
    }
    match &request.callback {
        Callback::GetLicenseAsync { instance_id, .. } => {
            let id = instance_id.clone();
            let instance = db::run(&state.pool, move |conn| {
                instance_rows::find(conn, &id).map_err(CallbackError::from)
            })
            .await
            .map_err(|_| Reply::new(ResultCode::Internal, "internal error; please retry."))?;
            if let Some(instance) = instance.filter(|i| i.quantity.is_none()) {
                let order = fetch_order(state, &instance.order_id, &instance.order_line_id).await?;
                let id = instance.instance_id.clone();
                db::run(&state.pool, move |conn| {
                    conn.write_tx(|conn| -> Result<(), CallbackError> {
                        orders::upsert(conn, &order)?;
                        orders::fill_instance(conn, &id, &order)?;
                        Ok(())
                    })
                })
                .await
                .map_err(|_| Reply::new(ResultCode::Internal, "internal error; please retry."))?;
            }
            Ok(None)
        }
        Callback::UpgradeInstance {
            instance_id,
            order_id,
            order_line_id,
        } => {
            let (id, key) = (
                instance_id.clone(),
                instances::upgrade_key(instance_id, order_id),
            );
            let (known, applied) = db::run(&state.pool, move |conn| -> Result<_, CallbackError> {
                Ok((
                    instance_rows::find(conn, &id)?.is_some(),
                    events::seen(conn, &key)?,
                ))
            })
            .await
            .map_err(|_| Reply::new(ResultCode::Internal, "internal error; please retry."))?;
            if !known || applied {
                return Ok(None);
            }
            fetch_order(state, order_id, order_line_id).await.map(Some)
        }
        _ => Ok(None),
    }
}

/// The order line, from the local copy or from KooGallery within the budget; `Err` answers `000004`
/// so KooGallery repeats the call (the quota is never guessed).
async fn fetch_order(
    state: &AppState,
    order_id: &str,
    order_line_id: &str,
) -> Result<orders::OrderRecord, Reply> {
    let processing = || {
        Reply::new(
            ResultCode::Processing,
            "the order is being fetched; ask again.",
        )
    };
    let (oid, lid) = (order_id.to_owned(), order_line_id.to_owned());
    let cached = db::run(&state.pool, move |conn| {
        orders::find(conn, &oid, &lid).map_err(CallbackError::from)
    })
    .await
    .map_err(|_| processing())?;
    if let Some(order) = cached {
        return Ok(order);
    }
    let fetched = tokio::time::timeout(
        ORDER_FETCH_BUDGET,
        state.marketplace.query_order(order_id, Some(order_line_id)),
    )
    .await;
    match fetched {
        Ok(Ok(info)) => {
            let line = info.lines.iter().find(|l| l.order_line_id == order_line_id);
            line.map(|line| info.record(line)).ok_or_else(|| {
                tracing::warn!(order.id = %order_id, "the order has no such order line");
                processing()
            })
        }
        Ok(Err(e)) => {
            log_fetch_failure(order_id, &e);
            Err(processing())
        }
        Err(_) => {
            tracing::warn!(order.id = %order_id, "order query exceeded its budget");
            Err(processing())
        }
    }
}

fn log_fetch_failure(order_id: &str, e: &MarketplaceError) {
    tracing::warn!(order.id = %order_id, error = %e, "order query failed");
}

/// Journals a request that is answered without applying anything (a prefetch failure).
async fn record_only(state: &AppState, request: &Request, started: Instant, reply: Reply) -> Reply {
    let (request, logged) = (request.clone(), reply.clone());
    let result = db::run(&state.pool, move |conn| -> Result<(), CallbackError> {
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
        request.activity,
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
