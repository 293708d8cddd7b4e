//! The part of a callback that talks to KooGallery, done before its transaction: fetching an
//! order within the 5 s budget must not hold a write transaction open.

use std::time::Duration;

use super::activity::{GetLicenseAsync, UpgradeInstance};
use super::reply::{Reply, ResultCode};
use super::request::{Callback, Request};
use crate::db;
use crate::db::models::{events, instances as instance_rows, orders};
use crate::koogallery::client::MarketplaceError;
use crate::service::instances::upgrade_key;
use crate::startup::AppState;

/// How long an order fetch may take inside KooGallery's 5 s budget, leaving time for the rest.
const ORDER_FETCH_BUDGET: Duration = Duration::from_secs(3);

/// The part of a callback that talks to KooGallery, done before the transaction: an order the
/// instance's quota or an upgrade depends on. `Err` is the reply to give instead.
pub(super) async fn prefetch(
    state: &AppState,
    request: &Request,
) -> Result<Option<orders::OrderRecord>, Reply> {
    if request.test {
        return Ok(None);
    }
    match &request.callback {
        Callback::GetLicenseAsync(GetLicenseAsync { instance_id, .. }) => {
            let id = instance_id.clone();
            let instance = db::run(&state.pool, move |conn| {
                instance_rows::find(conn, &id).map_err(anyhow::Error::from)
            })
            .await
            .map_err(|_| Reply::new(ResultCode::Internal, "internal error; please retry."))?;
            if let Some(instance) = instance.filter(|i| i.quantity.is_none()) {
                let order = fetch_order(state, &instance.order_id, &instance.order_line_id).await?;
                let id = instance.instance_id.clone();
                db::run(&state.pool, move |conn| {
                    conn.write_tx(|conn| -> anyhow::Result<()> {
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
        Callback::UpgradeInstance(UpgradeInstance {
            instance_id,
            order_id,
            order_line_id,
        }) => {
            let (id, key) = (instance_id.clone(), upgrade_key(instance_id, order_id));
            let (known, applied) = db::run(&state.pool, move |conn| -> anyhow::Result<_> {
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
        // Everything else is answered from the local database alone.
        Callback::NewInstance(_)
        | Callback::RefreshInstance(_)
        | Callback::UpdateInstanceStatus(_)
        | Callback::ReleaseInstance(_)
        | Callback::QueryInstance(_)
        | Callback::RefreshLicenseCode(_)
        | Callback::UpdateLicenseCodeStatus(_)
        | Callback::ReleaseLicenseCode(_) => Ok(None),
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
        orders::find(conn, &oid, &lid).map_err(anyhow::Error::from)
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
