//! What the legacy calls do once authenticated and validated: `getLicense` creates the order's
//! instance and license once, the others change the instance.

use chrono::NaiveDateTime;
use serde_json::json;

use super::activity::Change;
use crate::db::models::events::{self, EventKind, NewEvent, Subject};
use crate::db::models::instances::{self, InstanceStatus};
use crate::db::models::licenses;
use crate::koogallery::callbacks::reply::{Reply, ResultCode};
use crate::koogallery::callbacks::{CallbackError, Ctx};
use crate::licensing::{self, Holder, InstanceTerms, LicenseTerms};

/// Legacy instances have no order line; this stands in for it in the (order, line) key.
const LEGACY_ORDER_LINE: &str = "";
/// A legacy license is not bound to a device; its fingerprint hash is that of the empty string.
const NO_DEVICE: &str = "";
/// The event a legacy order's one license is stored under.
const LEGACY_EVENT: &str = "getLicense";

/// A validated `getLicense`.
pub(super) struct GetLicense<'a> {
    pub business_id: &'a str,
    pub order_id: &'a str,
    pub product_id: &'a str,
    pub expire: Option<NaiveDateTime>,
    /// How many licenses the order holds (the `amount` parameter, 1 when absent).
    pub amount: i64,
}

/// A validated `refreshLicense`, `expireLicense` or `releaseLicense`.
pub(super) struct ChangeInstance<'a> {
    pub instance_id: &'a str,
    pub change: Change,
}

/// `getLicense`: the same order always gets the same instance and the same license string.
pub(super) fn get_license(
    ctx: &mut Ctx<'_>,
    call: &GetLicense<'_>,
) -> Result<Reply, CallbackError> {
    let (conn, keys, now) = (&mut *ctx.conn, ctx.keys, ctx.now);
    let GetLicense {
        business_id,
        order_id,
        product_id,
        expire,
        amount,
    } = *call;
    let fingerprint_sha256 = crate::domain::fingerprint::sha256_hex_of_normalised(NO_DEVICE);
    // A license that is over before it is issued cannot be signed, and KooGallery would retry
    // the `000005` for hours: the field is refused, before anything is created, unless the
    // order already has its license (a repeat gets it, as always).
    if expire.is_some_and(|t| t <= now) {
        let issued = match instances::find_by_order(conn, order_id, LEGACY_ORDER_LINE)? {
            Some(known) => licenses::find_for_event(
                conn,
                &known.instance_id,
                LEGACY_EVENT,
                &fingerprint_sha256,
            )?
            .is_some(),
            None => false,
        };
        if !issued {
            return Ok(Reply::new(
                ResultCode::InvalidParam,
                "invalid parameter expireTime: must lie in the future",
            ));
        }
    }
    let Some((instance, created)) =
        instances::create_or_find(conn, business_id, order_id, LEGACY_ORDER_LINE, now)?
    else {
        return Ok(Reply::new(
            ResultCode::InvalidParam,
            "invalid parameter businessId: already used",
        ));
    };
    if let Some(existing) = licenses::find_for_event(
        conn,
        &instance.instance_id,
        LEGACY_EVENT,
        &fingerprint_sha256,
    )? {
        let mut reply = Reply::success().with_instance(instance.instance_id);
        reply.license = Some(existing.file);
        return Ok(reply);
    }
    if created {
        // Legacy calls carry the order's terms themselves; there is no order query to wait for.
        let order = crate::db::models::orders::OrderRecord {
            order_id: order_id.to_owned(),
            order_line_id: LEGACY_ORDER_LINE.to_owned(),
            order_type: "NEW".to_owned(),
            product_id: Some(product_id.to_owned()),
            quantity: Some(amount),
            charging_mode: None,
            expires_at: expire,
            raw: "{}".to_owned(),
            fetched_at: now,
        };
        crate::db::models::orders::apply_to_instance(conn, &instance.instance_id, &order)?;
    }
    let order = InstanceTerms {
        instance_id: &instance.instance_id,
        order_id,
        product_id: Some(product_id),
        quantity: amount,
    };
    // No start time comes with the call: the license starts a little before it is issued,
    // as a client-API license does, so a client clock minutes behind accepts it.
    let not_before = licensing::first_not_before(now);
    let terms = LicenseTerms::instance(&order, &fingerprint_sha256, not_before, expire);
    let holder = Holder::Event {
        event_id: LEGACY_EVENT,
    };
    let row = licensing::first(keys, &terms, holder, now)?;
    let file = row.file.clone();
    licenses::insert(conn, &row, "getLicense")?;
    let mut reply = Reply::success().with_instance(instance.instance_id);
    reply.license = Some(file);
    Ok(reply)
}

/// Applies a change once; a repeat, or an expiry of an instance not active, changes nothing.
pub(super) fn change_instance(
    ctx: &mut Ctx<'_>,
    call: &ChangeInstance<'_>,
) -> Result<Reply, CallbackError> {
    let (conn, now, instance_id) = (&mut *ctx.conn, ctx.now, call.instance_id);
    let Some(instance) = instances::lock(conn, instance_id, now)? else {
        return Ok(Reply::new(
            ResultCode::NotFound,
            format!("instance {instance_id} does not exist."),
        ));
    };
    let changed = match call.change {
        Change::Refresh(expire) => instances::set_expiry(conn, instance_id, expire, None, now)? > 0,
        Change::Expire => {
            instance.status == InstanceStatus::Active
                && instances::set_status(conn, &instance, InstanceStatus::Frozen, now)?
        }
        Change::Release => instances::set_status(conn, &instance, InstanceStatus::Released, now)?,
    };
    // The same kinds as the Scheme B callbacks; `via` keeps the legacy activity.
    let kind = match call.change {
        Change::Refresh(_) => EventKind::Refreshed,
        Change::Expire => EventKind::Frozen,
        Change::Release => EventKind::Released,
    };
    if changed {
        let detail = json!({"via": call.change.activity().as_str()});
        events::insert(
            conn,
            &NewEvent::new(Subject::Instance, instance_id, kind, &detail),
        )?;
    }
    Ok(Reply::success().with_instance(instance_id))
}
