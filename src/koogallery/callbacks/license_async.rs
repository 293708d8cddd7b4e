//! `getLicenseAsync`: a device-bound license for an instance, generated in the transaction that
//! records the request, and queued for upload to KooGallery.

use chrono::{NaiveDateTime, TimeDelta};
use serde_json::json;

use super::activity::GetLicenseAsync;
use super::reply::{Reply, ResultCode};
use super::{CallbackError, Ctx};
use crate::db::DbConn;
use crate::db::models::events::{self, EventKind, NewEvent, Subject};
use crate::db::models::instances::{self, Instance, InstanceStatus};
use crate::db::models::licenses;
use crate::domain::fingerprint::Fingerprint;
use crate::keys::KeyStore;
use crate::koogallery::outbox;
use crate::licensing::{self, Holder, InstanceTerms, LicenseTerms};
use crate::service::seats::DeviceQuota;

/// Clock slack when comparing a requested expiry with the order's: both come from KooGallery,
/// but in different formats and from different systems.
const PERIOD_SLACK: TimeDelta = TimeDelta::minutes(1);

/// The fields of one request, borrowed as the rules below read them.
struct AsyncRequest<'a> {
    pub instance_id: &'a str,
    pub event_id: &'a str,
    pub effective: NaiveDateTime,
    pub expire: Option<NaiveDateTime>,
    pub fingerprint: Option<&'a Fingerprint>,
}

/// Answers one request; the same (instance, event, fingerprint) always yields the same license.
pub fn get_license_async(
    ctx: &mut Ctx<'_>,
    call: &GetLicenseAsync,
) -> Result<Reply, CallbackError> {
    let (conn, keys, now) = (&mut *ctx.conn, ctx.keys, ctx.now);
    let req = &AsyncRequest {
        instance_id: &call.instance_id,
        event_id: &call.event_id,
        effective: call.effective,
        expire: call.expire,
        fingerprint: call.fingerprint.as_ref(),
    };
    let Some(instance) = instances::lock(conn, req.instance_id, now)? else {
        return Ok(Reply::new(
            ResultCode::NotFound,
            format!("instance {} does not exist.", req.instance_id),
        ));
    };
    if instance.status == InstanceStatus::Released {
        return Ok(Reply::new(
            ResultCode::NotFound,
            "the instance has been released.",
        ));
    }
    let Some(fingerprint) = req.fingerprint else {
        return Ok(Reply::new(
            ResultCode::FingerprintRequired,
            "a device fingerprint is required.",
        ));
    };
    let fingerprint_sha256 = fingerprint.sha256_hex();
    if let Some(existing) =
        licenses::find_for_event(conn, req.instance_id, req.event_id, &fingerprint_sha256)?
    {
        outbox::enqueue_upload(conn, &existing.id, req.event_id)?;
        return Ok(Reply::success().with_instance(req.instance_id));
    }
    // A license that is over before it is issued is a malformed request: answering `000901`
    // or `000005` would make KooGallery retry what can never succeed.
    if req.expire.is_some_and(|expire| expire <= now) {
        return Ok(Reply::new(
            ResultCode::InvalidParam,
            "invalid parameter expireTime: must lie in the future",
        ));
    }
    if instance.status == InstanceStatus::Frozen {
        return Ok(Reply::new(
            ResultCode::OutsidePeriod,
            "the instance is frozen.",
        ));
    }
    // Never guess a quota: without the order, KooGallery asks again.
    let Some(quota) = DeviceQuota::of_order(instance.quantity) else {
        return Ok(Reply::new(
            ResultCode::Processing,
            "the order is being fetched; ask again.",
        ));
    };
    if instance.charging_mode.as_deref() == Some("PERIOD") && req.expire.is_none() {
        return Ok(Reply::new(
            ResultCode::ExpiryRequired,
            "a yearly/monthly License needs expireTime.",
        ));
    }
    if let Some(expire) = req.expire {
        let beyond_order = instance
            .expires_at
            .is_some_and(|end| expire > end + PERIOD_SLACK);
        if beyond_order {
            return Ok(Reply::new(
                ResultCode::OutsidePeriod,
                "the requested validity must lie within the order's period.",
            ));
        }
    }
    let licensed = licenses::count_devices(conn, req.instance_id)?;
    let holds_one = licenses::device_holds_license(conn, req.instance_id, &fingerprint_sha256)?;
    if !quota.admits(licensed, holds_one) {
        return Ok(Reply::new(
            ResultCode::QuotaExhausted,
            format!("all {} licenses of the order are in use.", quota.devices()),
        ));
    }
    issue(
        conn,
        keys,
        req,
        &instance,
        fingerprint_sha256,
        quota.devices(),
        now,
    )
}

/// Signs and stores a new license for a request that passed every rule, and queues its upload.
fn issue(
    conn: &mut DbConn,
    keys: &KeyStore,
    req: &AsyncRequest<'_>,
    instance: &Instance,
    fingerprint_sha256: String,
    quantity: i64,
    now: NaiveDateTime,
) -> Result<Reply, CallbackError> {
    let order = InstanceTerms {
        instance_id: &instance.instance_id,
        order_id: &instance.order_id,
        product_id: instance.product_id.as_deref(),
        quantity,
    };
    let terms = LicenseTerms::instance(&order, &fingerprint_sha256, req.effective, req.expire);
    let holder = Holder::Event {
        event_id: req.event_id,
    };
    let row = licensing::first(keys, &terms, holder, now)?;
    let license_id = row.id.clone();
    if licenses::insert(conn, &row, "getLicenseAsync")? {
        events::insert(
            conn,
            &NewEvent::new(
                Subject::Instance,
                req.instance_id,
                EventKind::LicenseIssued,
                &json!({
                    "license_id": license_id, "event_id": req.event_id,
                }),
            ),
        )?;
        outbox::enqueue_upload(conn, &license_id, req.event_id)?;
    }
    // Generated and stored: the license exists, so the answer is success; delivery is the
    // upload's business (koogallery.md open question 7: 000000 = provisioned synchronously).
    Ok(Reply::success().with_instance(req.instance_id))
}
