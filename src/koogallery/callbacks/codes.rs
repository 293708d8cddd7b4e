//! License 2.0 authorization-code callbacks: refreshLicenseCode, updateLicenseCodeStatus,
//! releaseLicenseCode. A code we have not seen yet is recorded and answered `000000`: KooGallery is
//! the source of truth, and a `000003` would only make it retry for two hours.

use diesel::QueryResult;
use serde_json::json;

use super::Ctx;
use super::activity::{RefreshLicenseCode, ReleaseLicenseCode, UpdateLicenseCodeStatus};
use super::reply::Reply;
use crate::db::models::auth_codes::{self, AuthCodeChangeset, status};
use crate::db::models::events::{self, EventKind, NewEvent, Subject};

/// `refreshLicenseCode`: the new expiry (and product, when the period type changed); licenses
/// bound to the code pick it up as a new revision at their next check-in.
pub fn refresh(ctx: &mut Ctx<'_>, call: &RefreshLicenseCode) -> QueryResult<Reply> {
    let RefreshLicenseCode {
        scene,
        order_id,
        order_line_id,
        code,
        product_id,
        expire_time,
    } = call;
    let (conn, now, expire_time) = (&mut *ctx.conn, ctx.now, *expire_time);
    let product_id = product_id.as_deref();
    let row = auth_codes::find_or_create(conn, code, now)?;
    let event = NewEvent::new(
        Subject::Code,
        &row.id,
        EventKind::Refreshed,
        &json!({
            "scene": scene, "order_id": order_id, "order_line_id": order_line_id,
            "product_id": product_id, "expires_at": crate::domain::times::rfc3339(expire_time),
        }),
    )
    .once(format!(
        "refreshLicenseCode:{}:{order_id}:{order_line_id}",
        row.id
    ));
    if events::insert(conn, &event)? {
        let expired = expire_time <= now;
        let changes = AuthCodeChangeset {
            expires_at: Some(Some(expire_time)),
            product_id: product_id.map(|p| Some(p.to_owned())),
            // A renewal revives an expired code; a released one stays released.
            status: (row.status != status::RELEASED).then(|| {
                if expired {
                    status::EXPIRED
                } else {
                    status::ALIVE
                }
                .to_owned()
            }),
            updated_at: Some(now),
            ..AuthCodeChangeset::default()
        };
        auth_codes::update(conn, &row.id, &changes)?;
    }
    Ok(Reply::success())
}

/// `updateLicenseCodeStatus`: FREEZE / UNFREEZE.
pub fn update_status(ctx: &mut Ctx<'_>, call: &UpdateLicenseCodeStatus) -> QueryResult<Reply> {
    let (conn, now, code, freeze) = (&mut *ctx.conn, ctx.now, &call.code, call.freeze);
    let row = auth_codes::find_or_create(conn, code, now)?;
    if row.frozen != freeze {
        let changes = AuthCodeChangeset {
            frozen: Some(freeze),
            updated_at: Some(now),
            ..AuthCodeChangeset::default()
        };
        auth_codes::update(conn, &row.id, &changes)?;
        let kind = if freeze {
            EventKind::Frozen
        } else {
            EventKind::Unfrozen
        };
        events::insert(
            conn,
            &NewEvent::new(Subject::Code, &row.id, kind, &json!({})),
        )?;
    }
    Ok(Reply::success())
}

/// `releaseLicenseCode`: the code is released for good; repeats succeed.
pub fn release(ctx: &mut Ctx<'_>, call: &ReleaseLicenseCode) -> QueryResult<Reply> {
    let (conn, now, code, order_id) = (&mut *ctx.conn, ctx.now, &call.code, &call.order_id);
    let row = auth_codes::find_or_create(conn, code, now)?;
    if row.status != status::RELEASED {
        let changes = AuthCodeChangeset {
            status: Some(status::RELEASED.to_owned()),
            updated_at: Some(now),
            ..AuthCodeChangeset::default()
        };
        auth_codes::update(conn, &row.id, &changes)?;
        events::insert(
            conn,
            &NewEvent::new(
                Subject::Code,
                &row.id,
                EventKind::Released,
                &json!({"order_id": order_id}),
            ),
        )?;
    }
    Ok(Reply::success())
}
