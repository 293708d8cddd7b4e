//! Online-License instance callbacks: newInstance, refreshInstance, updateInstanceStatus,
//! releaseInstance, upgradeInstance, queryInstance; the rules are [`crate::service::instances`].

use super::Ctx;
use super::activity::{
    NewInstance, QueryInstance, RefreshInstance, ReleaseInstance, UpdateInstanceStatus,
    UpgradeInstance,
};
use super::reply::{InstanceInfo, Reply};
use crate::db::models::orders::OrderRecord;
use crate::service::{self, instances};

/// `newInstance`: answers the order line's instance, created or found.
pub fn new_instance(ctx: &mut Ctx<'_>, call: &NewInstance) -> Result<Reply, service::Error> {
    let new = instances::NewInstance {
        order_id: &call.order_id,
        order_line_id: &call.order_line_id,
        business_id: &call.business_id,
    };
    let instance_id = instances::create(ctx.conn, &new, ctx.instance_limit, ctx.now)?;
    Ok(Reply::success().with_instance(instance_id))
}

/// `refreshInstance`: a new expiry, applied once per (order, order line).
pub fn refresh_instance(
    ctx: &mut Ctx<'_>,
    call: &RefreshInstance,
) -> Result<Reply, service::Error> {
    instances::refresh(ctx.conn, &call.instance_id, &call.renewal, ctx.now)?;
    Ok(Reply::success().with_instance(call.instance_id.clone()))
}

/// `updateInstanceStatus`: FREEZE / UNFREEZE.
pub fn update_instance_status(
    ctx: &mut Ctx<'_>,
    call: &UpdateInstanceStatus,
) -> Result<Reply, service::Error> {
    instances::set_frozen(ctx.conn, &call.instance_id, call.freeze, ctx.now)?;
    Ok(Reply::success().with_instance(call.instance_id.clone()))
}

/// `releaseInstance`: repeat releases simply succeed.
pub fn release_instance(
    ctx: &mut Ctx<'_>,
    call: &ReleaseInstance,
) -> Result<Reply, service::Error> {
    let order_id = call.order_id.as_deref();
    instances::release(ctx.conn, &call.instance_id, order_id, ctx.now)?;
    Ok(Reply::success().with_instance(call.instance_id.clone()))
}

/// `upgradeInstance`, with the upgrade order the prefetch fetched, if any. Without one, the
/// prefetch found the upgrade applied or the instance unknown; the service checks both again
/// under the transaction rather than trusting it.
pub fn upgrade_instance(
    ctx: &mut Ctx<'_>,
    call: &UpgradeInstance,
    order: Option<&OrderRecord>,
) -> Result<Reply, service::Error> {
    instances::upgrade(ctx.conn, &call.instance_id, &call.order_id, order, ctx.now)?;
    Ok(Reply::success().with_instance(call.instance_id.clone()))
}

/// `queryInstance`: the known instances among the ids asked.
pub fn query_instance(ctx: &mut Ctx<'_>, call: &QueryInstance) -> Result<Reply, service::Error> {
    let known = instances::existing(ctx.conn, &call.instance_ids)?;
    let mut reply = Reply::success();
    reply.info = Some(
        known
            .into_iter()
            .map(|instance_id| InstanceInfo { instance_id })
            .collect(),
    );
    Ok(reply)
}
