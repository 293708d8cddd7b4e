//! What KooGallery changes about an online-License instance: creation under the instance limit,
//! a new period, freezing, release, upgrade, and the legacy interface's changes. An unknown
//! instance is [`Error::InstanceNotFound`]; a released one stays released.

use chrono::NaiveDateTime;
use serde_json::json;

use super::Error;
use super::codes::Renewal;
use crate::db::DbConn;
use crate::db::ids::InstanceId;
use crate::db::models::events::{self, EventKind, NewEvent, Subject};
use crate::db::models::instances::{self, InstanceStatus};
use crate::db::models::orders::{self, OrderRecord};
use crate::koogallery::outbox;

/// Advisory-lock key serialising instance creation when an instance limit is configured.
const INSTANCE_LIMIT_LOCK: i64 = 0x6b6c_696e_7374; // "klinst"

/// A `newInstance`: the order line and the id KooGallery proposes for its instance.
#[derive(Debug, Clone, Copy)]
pub struct NewInstance<'a> {
    pub order_id: &'a str,
    pub order_line_id: &'a str,
    pub business_id: &'a InstanceId,
}

/// Creates the instance of an order line, or finds it: the same order line always gets the same
/// instance, the first call's `businessId`; the order itself is fetched in the background.
/// Beyond `limit` live instances a new order line is refused. Returns the instance id.
pub fn create(
    conn: &mut DbConn,
    call: &NewInstance<'_>,
    limit: Option<i64>,
    now: NaiveDateTime,
) -> Result<InstanceId, Error> {
    let NewInstance {
        order_id,
        order_line_id,
        business_id,
    } = *call;
    if let Some(limit) = limit {
        conn.lock_key(INSTANCE_LIMIT_LOCK)?;
        let known = instances::find_by_order(conn, order_id, order_line_id)?.is_some();
        if !known && instances::count_live(conn)? >= limit {
            return Err(Error::NoInstanceResource { limit });
        }
    }
    let Some((instance, created)) =
        instances::create_or_find(conn, business_id, order_id, order_line_id, now)?
    else {
        return Err(Error::Invalid {
            field: "businessId",
            reason: "already the instance of another order line",
        });
    };
    if created {
        let detail = json!({"order_id": order_id, "order_line_id": order_line_id});
        let event = NewEvent::new(
            Subject::Instance,
            &instance.instance_id,
            EventKind::Created,
            &detail,
        );
        events::insert(conn, &event)?;
        outbox::enqueue_order_query(conn, &instance.instance_id, order_id, order_line_id)?;
    }
    Ok(instance.instance_id)
}

/// `refreshInstance`: the instance's new expiry (and product).
pub fn refresh(
    conn: &mut DbConn,
    instance_id: &InstanceId,
    renewal: &Renewal,
    now: NaiveDateTime,
) -> Result<(), Error> {
    let instance = lock(conn, instance_id, now)?;
    let event = NewEvent::new(
        Subject::Instance,
        &instance.instance_id,
        EventKind::Refreshed,
        &renewal.detail(),
    )
    .once(format!(
        "refreshInstance:{instance_id}:{}:{}",
        renewal.order_id, renewal.order_line_id
    ));
    if events::insert(conn, &event)? {
        let product_id = renewal.product_id.as_deref();
        instances::set_expiry(conn, instance_id, renewal.expires_at, product_id, now)?;
    }
    Ok(())
}

/// `updateInstanceStatus`: FREEZE (`freeze`) or UNFREEZE; a released instance stays released.
pub fn set_frozen(
    conn: &mut DbConn,
    instance_id: &InstanceId,
    freeze: bool,
    now: NaiveDateTime,
) -> Result<(), Error> {
    let instance = lock(conn, instance_id, now)?;
    if instance.status == InstanceStatus::Released {
        return Ok(());
    }
    let target = if freeze {
        InstanceStatus::Frozen
    } else {
        InstanceStatus::Active
    };
    if instances::set_status(conn, &instance, target, now)? {
        let kind = EventKind::freeze(freeze);
        events::insert(
            conn,
            &NewEvent::new(Subject::Instance, instance_id, kind, &json!({})),
        )?;
    }
    Ok(())
}

/// `releaseInstance`: released for good; repeats change nothing.
pub fn release(
    conn: &mut DbConn,
    instance_id: &InstanceId,
    order_id: Option<&str>,
    now: NaiveDateTime,
) -> Result<(), Error> {
    let instance = lock(conn, instance_id, now)?;
    if instances::set_status(conn, &instance, InstanceStatus::Released, now)? {
        let detail = json!({"order_id": order_id});
        events::insert(
            conn,
            &NewEvent::new(Subject::Instance, instance_id, EventKind::Released, &detail),
        )?;
    }
    Ok(())
}

/// The dedupe key of an upgrade: one order upgrades an instance once.
pub fn upgrade_key(instance_id: &InstanceId, order_id: &str) -> String {
    format!("upgradeInstance:{instance_id}:{order_id}")
}

/// `upgradeInstance` of `instance_id` by `order_id`, with the upgrade order if it was fetched:
/// the instance takes the order's product and quantity, once (the dedupe event makes
/// simultaneous repeats apply it once). Without the order, success only if this upgrade is on
/// record; an instance that exists without it (it appeared after the order was looked for) is
/// [`Error::Pending`], so KooGallery repeats the call and the next one fetches the order.
pub fn upgrade(
    conn: &mut DbConn,
    instance_id: &InstanceId,
    order_id: &str,
    order: Option<&OrderRecord>,
    now: NaiveDateTime,
) -> Result<(), Error> {
    let Some(order) = order else {
        if instances::find(conn, instance_id)?.is_none() {
            return Err(Error::InstanceNotFound(instance_id.clone()));
        }
        if events::seen(conn, &upgrade_key(instance_id, order_id))? {
            return Ok(());
        }
        return Err(Error::Pending("the upgrade order is being fetched"));
    };
    let instance = lock(conn, instance_id, now)?;
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
    Ok(())
}

/// `queryInstance`: the known instances among `asked`; unknown ids are left out.
pub fn existing(conn: &mut DbConn, asked: &[InstanceId]) -> Result<Vec<InstanceId>, Error> {
    Ok(instances::existing_ids(conn, asked)?)
}

/// What a legacy `refreshLicense`, `expireLicense` or `releaseLicense` does to an instance.
#[derive(Debug, Clone, Copy)]
pub enum LegacyChange {
    /// A new expiry.
    Refresh(NaiveDateTime),
    /// An active instance is frozen.
    Expire,
    /// The instance is released for good.
    Release,
}

/// Applies a legacy change once, recording its event when something changed (the Scheme B
/// callbacks' kind, the legacy activity `via` in the detail); a repeat, or an expiry of an
/// instance not active, changes nothing.
pub fn change_legacy(
    conn: &mut DbConn,
    instance_id: &InstanceId,
    change: LegacyChange,
    via: &str,
    now: NaiveDateTime,
) -> Result<(), Error> {
    let instance = lock(conn, instance_id, now)?;
    let changed = match change {
        LegacyChange::Refresh(expire) => {
            instances::set_expiry(conn, instance_id, expire, None, now)? > 0
        }
        LegacyChange::Expire => {
            instance.status == InstanceStatus::Active
                && instances::set_status(conn, &instance, InstanceStatus::Frozen, now)?
        }
        LegacyChange::Release => {
            instances::set_status(conn, &instance, InstanceStatus::Released, now)?
        }
    };
    let kind = match change {
        LegacyChange::Refresh(_) => EventKind::Refreshed,
        LegacyChange::Expire => EventKind::Frozen,
        LegacyChange::Release => EventKind::Released,
    };
    if changed {
        events::insert(
            conn,
            &NewEvent::new(Subject::Instance, instance_id, kind, &json!({"via": via})),
        )?;
    }
    Ok(())
}

/// The instance, locked for the transaction, or [`Error::InstanceNotFound`].
pub(super) fn lock(
    conn: &mut DbConn,
    instance_id: &InstanceId,
    now: NaiveDateTime,
) -> Result<instances::Instance, Error> {
    instances::lock(conn, instance_id, now)?
        .ok_or_else(|| Error::InstanceNotFound(instance_id.clone()))
}

// On an in-memory SQLite: the api tests run the same rules on both backends.
#[cfg(all(test, feature = "sqlite"))]
mod tests;
