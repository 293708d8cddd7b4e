//! Licenses of online-License instances: `getLicenseAsync` (device-bound, queued for upload to
//! KooGallery) and the legacy `getLicense` (one license per order, answered in place). Both sign
//! through [`crate::licensing`], in the transaction that records the request.

use chrono::{NaiveDateTime, TimeDelta};
use serde_json::json;

use super::Error;
use super::instances::lock;
use super::seats::DeviceQuota;
use crate::db::DbConn;
use crate::db::ids::InstanceId;
use crate::db::models::events::{self, EventKind, NewEvent, Subject};
use crate::db::models::instances::{self, Instance, InstanceStatus};
use crate::db::models::licenses;
use crate::db::models::orders::{self, OrderRecord};
use crate::domain::fingerprint::Fingerprint;
use crate::keys::KeyStore;
use crate::koogallery::outbox;
use crate::licensing::{self, Holder, InstanceTerms, LicenseTerms};

/// Clock slack when comparing a requested expiry with the order's: both come from KooGallery,
/// but in different formats and from different systems.
const PERIOD_SLACK: TimeDelta = TimeDelta::minutes(1);

/// Legacy instances have no order line; this stands in for it in the (order, line) key.
const LEGACY_ORDER_LINE: &str = "";
/// A legacy license is not bound to a device; its fingerprint hash is that of the empty string.
const NO_DEVICE: &str = "";
/// The event a legacy order's one license is stored under.
const LEGACY_EVENT: &str = "getLicense";

/// A `getLicenseAsync`: a license for one device of an instance, for one KooGallery event.
#[derive(Debug, Clone, Copy)]
pub struct DeviceLicense<'a> {
    pub instance_id: &'a InstanceId,
    pub event_id: &'a str,
    pub effective: NaiveDateTime,
    pub expire: Option<NaiveDateTime>,
    pub fingerprint: Option<&'a Fingerprint>,
}

/// Issues the license a `getLicenseAsync` asks for and queues its upload; the same (instance,
/// event, fingerprint) always yields the same license, queued again. Every rule of the order
/// (status, period, device quota) is checked before anything is signed.
pub fn device_license(
    conn: &mut DbConn,
    keys: &KeyStore,
    req: &DeviceLicense<'_>,
    now: NaiveDateTime,
) -> Result<(), Error> {
    let instance = lock(conn, req.instance_id, now)?;
    if instance.status == InstanceStatus::Released {
        return Err(Error::InstanceReleased);
    }
    let fingerprint_sha256 = req
        .fingerprint
        .ok_or(Error::FingerprintRequired)?
        .sha256_hex();
    if let Some(existing) =
        licenses::find_for_event(conn, req.instance_id, req.event_id, &fingerprint_sha256)?
    {
        outbox::enqueue_upload(conn, &existing.id, req.event_id)?;
        return Ok(());
    }
    // A license that is over before it is issued is a malformed request: answering `000901`
    // or `000005` would make KooGallery retry what can never succeed.
    if req.expire.is_some_and(|expire| expire <= now) {
        return Err(Error::Invalid {
            field: "expireTime",
            reason: "must lie in the future",
        });
    }
    if instance.status == InstanceStatus::Frozen {
        return Err(Error::InstanceFrozen);
    }
    // Never guess a quota: without the order, KooGallery asks again.
    let quota = DeviceQuota::of_order(instance.quantity)
        .ok_or(Error::Pending("the order is being fetched"))?;
    if instance.charging_mode.as_deref() == Some("PERIOD") && req.expire.is_none() {
        return Err(Error::ExpiryRequired);
    }
    let beyond_order = |expire: NaiveDateTime| {
        instance
            .expires_at
            .is_some_and(|end| expire > end + PERIOD_SLACK)
    };
    if req.expire.is_some_and(beyond_order) {
        return Err(Error::OutsidePeriod);
    }
    let licensed = licenses::count_devices(conn, req.instance_id)?;
    let holds_one = licenses::device_holds_license(conn, req.instance_id, &fingerprint_sha256)?;
    if !quota.admits(licensed, holds_one) {
        return Err(Error::QuotaExhausted {
            devices: quota.devices(),
        });
    }
    issue_device_license(conn, keys, req, &instance, &fingerprint_sha256, quota, now)
}

/// Signs and stores a new license for a request that passed every rule, and queues its upload.
/// Generated and stored is success; delivery is the upload's business (koogallery.md open
/// question 7: 000000 = provisioned synchronously).
fn issue_device_license(
    conn: &mut DbConn,
    keys: &KeyStore,
    req: &DeviceLicense<'_>,
    instance: &Instance,
    fingerprint_sha256: &str,
    quota: DeviceQuota,
    now: NaiveDateTime,
) -> Result<(), Error> {
    let order = InstanceTerms {
        instance_id: &instance.instance_id,
        order_id: &instance.order_id,
        product_id: instance.product_id.as_deref(),
        quantity: quota.devices(),
    };
    let terms = LicenseTerms::instance(&order, fingerprint_sha256, req.effective, req.expire);
    let holder = Holder::Event {
        event_id: req.event_id,
    };
    let row = licensing::first(keys, &terms, holder, now)?;
    if licenses::insert(conn, &row, "getLicenseAsync")? {
        let detail = json!({"license_id": row.id, "event_id": req.event_id});
        let event = NewEvent::new(
            Subject::Instance,
            req.instance_id,
            EventKind::LicenseIssued,
            &detail,
        );
        events::insert(conn, &event)?;
        outbox::enqueue_upload(conn, &row.id, req.event_id)?;
    }
    Ok(())
}

/// A legacy `getLicense`: the order and its terms, carried by the call itself.
#[derive(Debug, Clone, Copy)]
pub struct OrderLicense<'a> {
    pub business_id: &'a InstanceId,
    pub order_id: &'a str,
    pub product_id: &'a str,
    pub expire: Option<NaiveDateTime>,
    /// How many licenses the order holds (the `amount` parameter, 1 when absent).
    pub amount: i64,
}

/// The instance and license of a legacy order.
#[derive(Debug, Clone)]
pub struct Issued {
    pub instance_id: InstanceId,
    /// The license file.
    pub license: String,
}

/// `getLicense`: the same order always gets the same instance and the same license string.
pub fn order_license(
    conn: &mut DbConn,
    keys: &KeyStore,
    call: &OrderLicense<'_>,
    now: NaiveDateTime,
) -> Result<Issued, Error> {
    let OrderLicense {
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
    if expire.is_some_and(|t| t <= now) && !order_has_license(conn, order_id, &fingerprint_sha256)?
    {
        return Err(Error::Invalid {
            field: "expireTime",
            reason: "must lie in the future",
        });
    }
    let Some((instance, created)) =
        instances::create_or_find(conn, business_id, order_id, LEGACY_ORDER_LINE, now)?
    else {
        return Err(Error::Invalid {
            field: "businessId",
            reason: "already used",
        });
    };
    let instance_id = instance.instance_id;
    if let Some(existing) =
        licenses::find_for_event(conn, &instance_id, LEGACY_EVENT, &fingerprint_sha256)?
    {
        return Ok(Issued {
            instance_id,
            license: existing.file,
        });
    }
    if created {
        // Legacy calls carry the order's terms themselves; there is no order query to wait for.
        let order = OrderRecord {
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
        orders::apply_to_instance(conn, &instance_id, &order)?;
    }
    let order = InstanceTerms {
        instance_id: &instance_id,
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
    licenses::insert(conn, &row, "getLicense")?;
    Ok(Issued {
        instance_id,
        license: row.file,
    })
}

/// Whether the legacy order already has its license.
fn order_has_license(
    conn: &mut DbConn,
    order_id: &str,
    fingerprint_sha256: &str,
) -> Result<bool, Error> {
    let Some(known) = instances::find_by_order(conn, order_id, LEGACY_ORDER_LINE)? else {
        return Ok(false);
    };
    let issued =
        licenses::find_for_event(conn, &known.instance_id, LEGACY_EVENT, fingerprint_sha256)?;
    Ok(issued.is_some())
}
