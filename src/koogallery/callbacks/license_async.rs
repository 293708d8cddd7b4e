//! `getLicenseAsync`: a device-bound license for an instance, generated in the transaction that
//! records the request and queued for upload to KooGallery; the rules are
//! [`crate::service::instance_licenses::device_license`].

use super::Ctx;
use super::activity::GetLicenseAsync;
use super::reply::Reply;
use crate::service::{self, instance_licenses};

/// Answers one request; the same (instance, event, fingerprint) always yields the same license.
pub fn get_license_async(
    ctx: &mut Ctx<'_>,
    call: &GetLicenseAsync,
) -> Result<Reply, service::Error> {
    let req = instance_licenses::DeviceLicense {
        instance_id: &call.instance_id,
        event_id: &call.event_id,
        effective: call.effective,
        expire: call.expire,
        fingerprint: call.fingerprint.as_ref(),
    };
    instance_licenses::device_license(ctx.conn, ctx.keys, &req, ctx.now)?;
    Ok(Reply::success().with_instance(call.instance_id.clone()))
}
