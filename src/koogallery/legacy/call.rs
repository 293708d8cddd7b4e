//! One legacy call: its parameters checked by [`crate::koogallery::fields`], then applied by the
//! service (`getLicense` creates the order's instance and license once, the others change the
//! instance) and answered.

use chrono::NaiveDateTime;

use super::activity::LegacyActivity;
use crate::db::DbConn;
use crate::db::ids::InstanceId;
use crate::keys::KeyStore;
use crate::koogallery::callbacks::reply::Reply;
use crate::koogallery::fields::{BadField, Fields, bad};
use crate::licensing;
use crate::service;
use crate::service::instance_licenses::{self, OrderLicense};
use crate::service::instances::{self, LegacyChange};

/// Ids hold at most this many characters (koogallery.md §5).
const ID_LEN: usize = 64;

/// A legacy call whose parameters are all well-formed.
pub(super) struct LegacyCall {
    activity: LegacyActivity,
    /// `testFlag=1`: validated, answered success, nothing touched.
    test: bool,
    what: What,
}

enum What {
    Get {
        business_id: InstanceId,
        order_id: String,
        product_id: String,
        expire: Option<NaiveDateTime>,
        amount: i64,
    },
    Change {
        instance_id: InstanceId,
        change: LegacyChange,
    },
}

/// Checks every parameter of the call, in the order KooGallery lists them; `now` is the
/// transaction's time, which a `getLicense` expiry must not lie before.
pub(super) fn parse(f: &Fields<'_>, now: NaiveDateTime) -> Result<LegacyCall, BadField> {
    let raw = f.required("activity", 20)?;
    let activity = LegacyActivity::from_wire(&raw)
        .ok_or_else(|| bad("activity", format!("unknown activity {raw:?}")))?;
    // Any other value is an ordinary call, as the legacy guide only ever sends "1" for a test.
    let test = f.peek("testFlag") == Some("1");
    let what = match activity {
        LegacyActivity::Get => {
            f.required("customerId", 100)?;
            let business_id = InstanceId::from(f.required("businessId", ID_LEN)?);
            let order_id = f.required("orderId", ID_LEN)?;
            let product_id = f.required("productId", ID_LEN)?;
            let expire = f.optional_compact_time("expireTime")?;
            // A license cannot end before it starts (now): a bad parameter, not our error.
            if expire.is_some_and(|t| licensing::whole_seconds(t) < now) {
                return Err(bad("expireTime", "already past"));
            }
            What::Get {
                business_id,
                order_id,
                product_id,
                expire,
                amount: f.optional_positive("amount", 20)?.unwrap_or(1),
            }
        }
        LegacyActivity::Refresh => {
            let instance_id = instance_of(f)?;
            let expire = f.compact_time("expireTime")?;
            What::Change {
                instance_id,
                change: LegacyChange::Refresh(expire),
            }
        }
        LegacyActivity::Expire => What::Change {
            instance_id: instance_of(f)?,
            change: LegacyChange::Expire,
        },
        LegacyActivity::Release => What::Change {
            instance_id: instance_of(f)?,
            change: LegacyChange::Release,
        },
    };
    Ok(LegacyCall {
        activity,
        test,
        what,
    })
}

/// The instance a refresh, expiry or release names, once its order id is checked too.
fn instance_of(f: &Fields<'_>) -> Result<InstanceId, BadField> {
    let instance_id = InstanceId::from(f.required("instanceId", ID_LEN)?);
    f.required("orderId", ID_LEN)?;
    Ok(instance_id)
}

/// Applies the call (unless it is a test) and answers it.
pub(super) fn answer(
    conn: &mut DbConn,
    keys: &KeyStore,
    call: &LegacyCall,
    now: NaiveDateTime,
) -> Result<Reply, service::Error> {
    match &call.what {
        What::Get { business_id, .. } if call.test => {
            Ok(Reply::success().with_instance(business_id.clone()))
        }
        What::Change { instance_id, .. } if call.test => {
            Ok(Reply::success().with_instance(instance_id.clone()))
        }
        What::Get {
            business_id,
            order_id,
            product_id,
            expire,
            amount,
        } => {
            let order = OrderLicense {
                business_id,
                order_id,
                product_id,
                expire: *expire,
                amount: *amount,
            };
            let issued = instance_licenses::order_license(conn, keys, &order, now)?;
            let mut reply = Reply::success().with_instance(issued.instance_id);
            reply.license = Some(issued.license);
            Ok(reply)
        }
        What::Change {
            instance_id,
            change,
        } => {
            let via = call.activity.as_str();
            instances::change_legacy(conn, instance_id, *change, via, now)?;
            Ok(Reply::success().with_instance(instance_id.clone()))
        }
    }
}
