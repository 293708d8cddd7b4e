//! Parsing a production-interface body into a typed callback: every field checked for presence,
//! type and length by [`crate::koogallery::fields`], so the handlers below never see malformed
//! input.

use chrono::NaiveDateTime;
use serde_json::Value;

use super::activity::{
    Activity, GetLicenseAsync, NewInstance, QueryInstance, RefreshInstance, RefreshLicenseCode,
    ReleaseInstance, ReleaseLicenseCode, UpdateInstanceStatus, UpdateLicenseCodeStatus,
    UpgradeInstance, wire_names,
};
use crate::db::ids::InstanceId;
use crate::domain::fingerprint::Fingerprint;
use crate::koogallery::fields::{BadField, Fields, bad};
use crate::service::codes::Renewal;

/// Most ids may hold this many characters (koogallery.md field tables).
const ID_LEN: usize = 64;
/// `deviceFingerprint`: the interface table says 1024, the client guide 5 KB; the larger bound
/// is the robust reading (open question 9), since `ISCDesk` forwards what the machine reports.
const FINGERPRINT_LEN: usize = 5120;
/// `queryInstance` takes at most this many ids.
pub const MAX_QUERY_IDS: usize = 100;

/// One callback, typed: the activity and its checked fields.
#[derive(Debug, Clone)]
pub enum Callback {
    NewInstance(NewInstance),
    RefreshInstance(RefreshInstance),
    UpdateInstanceStatus(UpdateInstanceStatus),
    ReleaseInstance(ReleaseInstance),
    UpgradeInstance(UpgradeInstance),
    QueryInstance(QueryInstance),
    GetLicenseAsync(GetLicenseAsync),
    RefreshLicenseCode(RefreshLicenseCode),
    UpdateLicenseCodeStatus(UpdateLicenseCodeStatus),
    ReleaseLicenseCode(ReleaseLicenseCode),
}

/// A parsed production-interface request.
#[derive(Debug, Clone)]
pub struct Request {
    /// The `activity` field.
    pub activity: Activity,
    /// `testFlag == "1"`: validate, answer success, touch nothing.
    pub test: bool,
    /// The callback itself.
    pub callback: Callback,
}

/// The activities of `POST /koogallery/license`, by wire name.
pub const ACTIVITIES: [&str; Activity::ALL.len()] = wire_names();

/// Parses a request body; the error names the offending field.
pub fn parse(body: &[u8]) -> Result<Request, BadField> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| bad("body", format!("not JSON: {e}")))?;
    let Value::Object(map) = value else {
        return Err(bad("body", "must be a JSON object"));
    };
    let f = Fields::Json(&map);
    let activity_raw = f.required("activity", 32)?;
    let activity = Activity::from_wire(&activity_raw)
        .ok_or_else(|| bad("activity", format!("unknown activity {activity_raw:?}")))?;
    let test = match f.optional("testFlag", 2)?.as_deref() {
        None | Some("0") => false,
        Some("1") => true,
        Some(_) => return Err(bad("testFlag", "must be \"0\" or \"1\"")),
    };
    let callback = match activity {
        Activity::NewInstance => Callback::NewInstance(NewInstance {
            order_id: f.required("orderId", ID_LEN)?,
            order_line_id: f.required("orderLineId", ID_LEN)?,
            business_id: instance_id(&f, "businessId")?,
        }),
        Activity::RefreshInstance => {
            let (instance_id, renewal) = renewal(&f, |f| instance_id(f, "instanceId"))?;
            Callback::RefreshInstance(RefreshInstance {
                instance_id,
                renewal,
            })
        }
        Activity::UpdateInstanceStatus => Callback::UpdateInstanceStatus(UpdateInstanceStatus {
            instance_id: instance_id(&f, "instanceId")?,
            freeze: f.freeze()?,
        }),
        Activity::ReleaseInstance => Callback::ReleaseInstance(ReleaseInstance {
            instance_id: instance_id(&f, "instanceId")?,
            order_id: f.optional("orderId", ID_LEN)?,
        }),
        Activity::UpgradeInstance => Callback::UpgradeInstance(UpgradeInstance {
            instance_id: instance_id(&f, "instanceId")?,
            order_id: f.required("orderId", ID_LEN)?,
            order_line_id: f.required("orderLineId", ID_LEN)?,
        }),
        Activity::QueryInstance => Callback::QueryInstance(QueryInstance {
            instance_ids: instance_ids(&f)?,
        }),
        Activity::GetLicenseAsync => Callback::GetLicenseAsync(GetLicenseAsync {
            instance_id: instance_id(&f, "instanceId")?,
            effective: f
                .license_time("effectiveTime")?
                .ok_or_else(|| bad("effectiveTime", "missing"))?,
            expire: license_end(&f)?,
            event_id: f.required("eventId", ID_LEN)?,
            fingerprint: f
                .optional("deviceFingerprint", FINGERPRINT_LEN)?
                .map(|raw| {
                    Fingerprint::parse(&raw).map_err(|e| bad("deviceFingerprint", e.to_string()))
                })
                .transpose()?,
        }),
        Activity::RefreshLicenseCode => {
            let (code, renewal) = renewal(&f, |f| f.required("license", ID_LEN))?;
            Callback::RefreshLicenseCode(RefreshLicenseCode { code, renewal })
        }
        Activity::UpdateLicenseCodeStatus => {
            Callback::UpdateLicenseCodeStatus(UpdateLicenseCodeStatus {
                code: f.required("license", ID_LEN)?,
                freeze: f.freeze()?,
            })
        }
        Activity::ReleaseLicenseCode => Callback::ReleaseLicenseCode(ReleaseLicenseCode {
            code: f.required("license", ID_LEN)?,
            order_id: f.optional("orderId", ID_LEN)?,
        }),
    };
    Ok(Request {
        activity,
        test,
        callback,
    })
}

/// `getLicenseAsync`'s `expireTime`, which must come after its `effectiveTime`: a license that
/// ends before it starts is malformed input, not a matter of the order's period.
fn license_end(f: &Fields<'_>) -> Result<Option<NaiveDateTime>, BadField> {
    let expire = f.license_time("expireTime")?;
    let effective = f.license_time("effectiveTime")?;
    if let (Some(expire), Some(effective)) = (expire, effective) {
        if expire <= effective {
            return Err(bad("expireTime", "must be later than effectiveTime"));
        }
    }
    Ok(expire)
}

/// An instance id KooGallery sends (`instanceId`, or `newInstance`'s proposed `businessId`).
/// A renewal's fields and its subject (`subject`, read where the field tables list it, so the
/// first bad field named is the same as before they shared this).
fn renewal<T>(
    f: &Fields<'_>,
    subject: impl FnOnce(&Fields<'_>) -> Result<T, BadField>,
) -> Result<(T, Renewal), BadField> {
    let scene = f.required("scene", ID_LEN)?;
    let order_id = f.required("orderId", ID_LEN)?;
    let order_line_id = f.required("orderLineId", ID_LEN)?;
    let subject = subject(f)?;
    let renewal = Renewal {
        scene,
        order_id,
        order_line_id,
        product_id: f.optional("productId", ID_LEN)?,
        expires_at: f.compact_time("expireTime")?,
    };
    Ok((subject, renewal))
}

fn instance_id(f: &Fields<'_>, name: &'static str) -> Result<InstanceId, BadField> {
    f.required(name, ID_LEN).map(InstanceId::from)
}

fn instance_ids(f: &Fields<'_>) -> Result<Vec<InstanceId>, BadField> {
    // The field's documented length (100) cannot hold 100 ids; the id count is the real limit.
    let raw = f.required("instanceId", MAX_QUERY_IDS * (ID_LEN + 1))?;
    let ids: Vec<InstanceId> = raw
        .split(',')
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(InstanceId::from)
        .collect();
    if ids.is_empty() {
        return Err(bad("instanceId", "missing"));
    }
    if ids.len() > MAX_QUERY_IDS {
        return Err(bad("instanceId", format!("more than {MAX_QUERY_IDS} ids")));
    }
    if ids.iter().any(|id| id.as_str().chars().count() > ID_LEN) {
        return Err(bad(
            "instanceId",
            format!("an id is longer than {ID_LEN} characters"),
        ));
    }
    Ok(ids)
}

impl Request {
    /// The keys worth journalling: (order id, instance id, code, event id). The code is the full
    /// code; the journal shortens it.
    pub fn journal_keys(&self) -> (Option<&str>, Option<&str>, Option<&str>, Option<&str>) {
        match &self.callback {
            Callback::NewInstance(c) => (Some(&c.order_id), None, None, None),
            Callback::RefreshInstance(c) => (
                Some(&c.renewal.order_id),
                Some(c.instance_id.as_str()),
                None,
                None,
            ),
            Callback::UpgradeInstance(c) => {
                (Some(&c.order_id), Some(c.instance_id.as_str()), None, None)
            }
            Callback::UpdateInstanceStatus(c) => (None, Some(c.instance_id.as_str()), None, None),
            Callback::ReleaseInstance(c) => (
                c.order_id.as_deref(),
                Some(c.instance_id.as_str()),
                None,
                None,
            ),
            Callback::QueryInstance(c) => (
                None,
                c.instance_ids.first().map(InstanceId::as_str),
                None,
                None,
            ),
            Callback::GetLicenseAsync(c) => {
                (None, Some(c.instance_id.as_str()), None, Some(&c.event_id))
            }
            Callback::RefreshLicenseCode(c) => {
                (Some(&c.renewal.order_id), None, Some(&c.code), None)
            }
            Callback::UpdateLicenseCodeStatus(c) => (None, None, Some(&c.code), None),
            Callback::ReleaseLicenseCode(c) => (c.order_id.as_deref(), None, Some(&c.code), None),
        }
    }
}

#[cfg(test)]
mod tests;
