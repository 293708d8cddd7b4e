//! What KooGallery changes about an authorization code (License 2.0 callbacks): a new period,
//! freezing and release. A code we have not seen yet is recorded first: KooGallery is the source
//! of truth, so none of these refuses an unknown code.

use chrono::NaiveDateTime;
use serde_json::json;

use super::Error;
use crate::db::DbConn;
use crate::db::models::auth_codes::{self, AuthCodeChangeset, CodeStatus};
use crate::db::models::events::{self, EventKind, NewEvent, Subject};

/// A new period KooGallery reports for a code or an instance (renewal, trial conversion,
/// renewal-period unsubscription); one (order, order line) applies once.
#[derive(Debug, Clone)]
pub struct Renewal {
    pub scene: String,
    pub order_id: String,
    pub order_line_id: String,
    /// The new product, when the period type changed.
    pub product_id: Option<String>,
    pub expires_at: NaiveDateTime,
}

impl Renewal {
    /// The event's detail.
    pub(super) fn detail(&self) -> serde_json::Value {
        json!({
            "scene": self.scene, "order_id": self.order_id, "order_line_id": self.order_line_id,
            "product_id": self.product_id,
            "expires_at": crate::domain::times::rfc3339(self.expires_at),
        })
    }
}

/// `refreshLicenseCode`: the new expiry (and product); licenses bound to the code pick it up as a
/// new revision at their next check-in. A renewal revives an expired code; a released one stays
/// released.
pub fn refresh(
    conn: &mut DbConn,
    code: &str,
    renewal: &Renewal,
    now: NaiveDateTime,
) -> Result<(), Error> {
    let row = auth_codes::find_or_create(conn, code, now)?;
    let event = NewEvent::new(
        Subject::Code,
        &row.id,
        EventKind::Refreshed,
        &renewal.detail(),
    )
    .once(format!(
        "refreshLicenseCode:{}:{}:{}",
        row.id, renewal.order_id, renewal.order_line_id
    ));
    if events::insert(conn, &event)? {
        let alive = if renewal.expires_at <= now {
            CodeStatus::Expired
        } else {
            CodeStatus::Alive
        };
        let changes = AuthCodeChangeset {
            expires_at: Some(Some(renewal.expires_at)),
            product_id: renewal.product_id.clone().map(Some),
            status: (row.status != CodeStatus::Released).then_some(alive),
            updated_at: Some(now),
            ..AuthCodeChangeset::default()
        };
        auth_codes::update(conn, &row.id, &changes)?;
    }
    Ok(())
}

/// `updateLicenseCodeStatus`: FREEZE (`freeze`) or UNFREEZE; a repeat changes nothing.
pub fn set_frozen(
    conn: &mut DbConn,
    code: &str,
    freeze: bool,
    now: NaiveDateTime,
) -> Result<(), Error> {
    let row = auth_codes::find_or_create(conn, code, now)?;
    if row.frozen != freeze {
        let changes = AuthCodeChangeset {
            frozen: Some(freeze),
            updated_at: Some(now),
            ..AuthCodeChangeset::default()
        };
        auth_codes::update(conn, &row.id, &changes)?;
        let kind = EventKind::freeze(freeze);
        events::insert(
            conn,
            &NewEvent::new(Subject::Code, &row.id, kind, &json!({})),
        )?;
    }
    Ok(())
}

/// `releaseLicenseCode`: the code is released for good; repeats change nothing.
pub fn release(
    conn: &mut DbConn,
    code: &str,
    order_id: Option<&str>,
    now: NaiveDateTime,
) -> Result<(), Error> {
    let row = auth_codes::find_or_create(conn, code, now)?;
    if row.status != CodeStatus::Released {
        let changes = AuthCodeChangeset {
            status: Some(CodeStatus::Released),
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
    Ok(())
}

// On an in-memory SQLite: the api tests run the same rules on both backends.
#[cfg(all(test, feature = "sqlite"))]
pub(crate) mod tests;
