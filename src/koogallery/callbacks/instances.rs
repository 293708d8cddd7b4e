//! Online-License instance callbacks: newInstance, refreshInstance, updateInstanceStatus,
//! releaseInstance, upgradeInstance, queryInstance.

use diesel::QueryResult;
use serde_json::json;

use super::Ctx;
use super::activity::{
    NewInstance, QueryInstance, RefreshInstance, ReleaseInstance, UpdateInstanceStatus,
    UpgradeInstance,
};
use super::reply::{InstanceInfo, Reply, ResultCode};
use crate::db::DbConn;
use crate::db::models::events::{self, EventKind, NewEvent, Subject};
use crate::db::models::instances::{self, InstanceStatus};
use crate::db::models::orders::{self, OrderRecord};
use crate::koogallery::outbox;

fn not_found(instance_id: &str) -> Reply {
    Reply::new(
        ResultCode::NotFound,
        format!("instance {instance_id} does not exist."),
    )
}

/// Advisory-lock key serialising instance creation when an instance limit is configured.
const INSTANCE_LIMIT_LOCK: i64 = 0x6b6c_696e_7374; // "klinst"

/// `newInstance`: the same order line always gets the same instance, the first call's
/// `businessId`; the order itself is fetched in the background. Beyond `limit` live instances,
/// a new order line answers `000100` (no instance resource available).
pub fn new_instance(ctx: &mut Ctx<'_>, call: &NewInstance) -> QueryResult<Reply> {
    let (conn, now, limit) = (&mut *ctx.conn, ctx.now, ctx.instance_limit);
    let NewInstance {
        order_id,
        order_line_id,
        business_id,
    } = call;
    if let Some(limit) = limit {
        conn.lock_key(INSTANCE_LIMIT_LOCK)?;
        let known = instances::find_by_order(conn, order_id, order_line_id)?.is_some();
        if !known && instances::count_live(conn)? >= limit {
            return Ok(Reply::new(
                ResultCode::NoResource,
                format!("no instance resource available: all {limit} instances are in use."),
            ));
        }
    }
    let Some((instance, created)) =
        instances::create_or_find(conn, business_id, order_id, order_line_id, now)?
    else {
        return Ok(Reply::new(
            ResultCode::InvalidParam,
            "invalid parameter businessId: already the instance of another order line",
        ));
    };
    if created {
        events::insert(
            conn,
            &NewEvent::new(
                Subject::Instance,
                &instance.instance_id,
                EventKind::Created,
                &json!({
                    "order_id": order_id, "order_line_id": order_line_id,
                }),
            ),
        )?;
        outbox::enqueue_order_query(conn, &instance.instance_id, order_id, order_line_id)?;
    }
    Ok(Reply::success().with_instance(instance.instance_id))
}

/// `refreshInstance`: a renewal, trial conversion or renewal-period unsubscription sets a new
/// expiry; the same (order, order line) applies once.
pub fn refresh_instance(ctx: &mut Ctx<'_>, call: &RefreshInstance) -> QueryResult<Reply> {
    let RefreshInstance {
        scene,
        order_id,
        order_line_id,
        instance_id,
        product_id,
        expire_time,
    } = call;
    let (conn, now, expire_time) = (&mut *ctx.conn, ctx.now, *expire_time);
    let product_id = product_id.as_deref();
    let Some(instance) = instances::lock(conn, instance_id, now)? else {
        return Ok(not_found(instance_id));
    };
    let event = NewEvent::new(
        Subject::Instance,
        &instance.instance_id,
        EventKind::Refreshed,
        &json!({
            "scene": scene, "order_id": order_id, "order_line_id": order_line_id,
            "product_id": product_id, "expires_at": crate::domain::times::rfc3339(expire_time),
        }),
    )
    .once(format!(
        "refreshInstance:{instance_id}:{order_id}:{order_line_id}"
    ));
    if events::insert(conn, &event)? {
        instances::set_expiry(conn, instance_id, expire_time, product_id, now)?;
    }
    Ok(Reply::success().with_instance(instance_id))
}

/// `updateInstanceStatus`: FREEZE / UNFREEZE. A released instance stays released.
pub fn update_instance_status(
    ctx: &mut Ctx<'_>,
    call: &UpdateInstanceStatus,
) -> QueryResult<Reply> {
    let (conn, now) = (&mut *ctx.conn, ctx.now);
    let (instance_id, freeze) = (call.instance_id.as_str(), call.freeze);
    let Some(instance) = instances::lock(conn, instance_id, now)? else {
        return Ok(not_found(instance_id));
    };
    if instance.status != InstanceStatus::Released {
        let target = if freeze {
            InstanceStatus::Frozen
        } else {
            InstanceStatus::Active
        };
        if instances::set_status(conn, &instance, target, now)? {
            let kind = if freeze {
                EventKind::Frozen
            } else {
                EventKind::Unfrozen
            };
            events::insert(
                conn,
                &NewEvent::new(Subject::Instance, instance_id, kind, &json!({})),
            )?;
        }
    }
    Ok(Reply::success().with_instance(instance_id))
}

/// `releaseInstance`: repeat releases simply succeed.
pub fn release_instance(ctx: &mut Ctx<'_>, call: &ReleaseInstance) -> QueryResult<Reply> {
    let (conn, now) = (&mut *ctx.conn, ctx.now);
    let (instance_id, order_id) = (call.instance_id.as_str(), call.order_id.as_deref());
    let Some(instance) = instances::lock(conn, instance_id, now)? else {
        return Ok(not_found(instance_id));
    };
    if instances::set_status(conn, &instance, InstanceStatus::Released, now)? {
        events::insert(
            conn,
            &NewEvent::new(
                Subject::Instance,
                instance_id,
                EventKind::Released,
                &json!({
                    "order_id": order_id,
                }),
            ),
        )?;
    }
    Ok(Reply::success().with_instance(instance_id))
}

/// The dedupe key of an upgrade: one order upgrades an instance once.
pub fn upgrade_key(instance_id: &str, order_id: &str) -> String {
    format!("upgradeInstance:{instance_id}:{order_id}")
}

/// `upgradeInstance`, with the upgrade order the prefetch fetched, if any.
pub fn upgrade_instance(
    ctx: &mut Ctx<'_>,
    call: &UpgradeInstance,
    order: Option<&OrderRecord>,
) -> QueryResult<Reply> {
    match order {
        Some(order) => apply_upgrade(ctx, &call.instance_id, order),
        // No order fetched: the prefetch found the upgrade applied or the instance unknown.
        // Both are checked again here, under the transaction, rather than trusted.
        None => upgrade_without_order(ctx.conn, &call.instance_id, &call.order_id),
    }
}

/// `upgradeInstance` when the prefetch fetched no order. Success only if this upgrade is on
/// record; an instance that exists without it (it appeared after the prefetch looked) answers
/// `000004`, so KooGallery repeats the call and the next one fetches the order.
fn upgrade_without_order(
    conn: &mut DbConn,
    instance_id: &str,
    order_id: &str,
) -> QueryResult<Reply> {
    if instances::find(conn, instance_id)?.is_none() {
        return Ok(not_found(instance_id));
    }
    if events::seen(conn, &upgrade_key(instance_id, order_id))? {
        return Ok(Reply::success().with_instance(instance_id));
    }
    Ok(Reply::new(
        ResultCode::Processing,
        "the upgrade order is being fetched; ask again.",
    ))
}

/// The upgrade, once its order is known: the instance takes the order's product and quantity.
/// The dedupe event makes simultaneous repeats apply it once.
fn apply_upgrade(ctx: &mut Ctx<'_>, instance_id: &str, order: &OrderRecord) -> QueryResult<Reply> {
    let (conn, now) = (&mut *ctx.conn, ctx.now);
    let Some(instance) = instances::lock(conn, instance_id, now)? else {
        return Ok(not_found(instance_id));
    };
    let event = NewEvent::new(
        Subject::Instance,
        instance_id,
        EventKind::Upgraded,
        &json!({
            "order_id": order.order_id, "order_line_id": order.order_line_id,
            "from": {"product_id": instance.product_id, "quantity": instance.quantity},
            "to": {"product_id": order.product_id, "quantity": order.quantity},
        }),
    )
    .once(upgrade_key(instance_id, &order.order_id));
    if events::insert(conn, &event)? {
        orders::apply_to_instance(conn, instance_id, order)?;
    }
    Ok(Reply::success().with_instance(instance_id))
}

/// `queryInstance`: the known instances among the ids asked; unknown ids are left out.
pub fn query_instance(ctx: &mut Ctx<'_>, call: &QueryInstance) -> QueryResult<Reply> {
    let conn = &mut *ctx.conn;
    let asked: Vec<&str> = call.instance_ids.iter().map(String::as_str).collect();
    let known = instances::existing_ids(conn, &asked)?;
    let mut reply = Reply::success();
    reply.info = Some(
        known
            .into_iter()
            .map(|instance_id| InstanceInfo { instance_id })
            .collect(),
    );
    Ok(reply)
}
