//! License 2.0 authorization-code callbacks: refreshLicenseCode, updateLicenseCodeStatus,
//! releaseLicenseCode; the rules are [`crate::service::codes`]. A code we have not seen yet is
//! recorded and answered `000000`: KooGallery is the source of truth, and a `000003` would only
//! make it retry for two hours.

use super::Ctx;
use super::activity::{RefreshLicenseCode, ReleaseLicenseCode, UpdateLicenseCodeStatus};
use super::reply::Reply;
use crate::service;

/// `refreshLicenseCode`: the new expiry (and product, when the period type changed).
pub fn refresh(ctx: &mut Ctx<'_>, call: &RefreshLicenseCode) -> Result<Reply, service::Error> {
    service::codes::refresh(ctx.conn, &call.code, &call.renewal, ctx.now)?;
    Ok(Reply::success())
}

/// `updateLicenseCodeStatus`: FREEZE / UNFREEZE.
pub fn update_status(
    ctx: &mut Ctx<'_>,
    call: &UpdateLicenseCodeStatus,
) -> Result<Reply, service::Error> {
    service::codes::set_frozen(ctx.conn, &call.code, call.freeze, ctx.now)?;
    Ok(Reply::success())
}

/// `releaseLicenseCode`: the code is released for good; repeats succeed.
pub fn release(ctx: &mut Ctx<'_>, call: &ReleaseLicenseCode) -> Result<Reply, service::Error> {
    service::codes::release(ctx.conn, &call.code, call.order_id.as_deref(), ctx.now)?;
    Ok(Reply::success())
}
