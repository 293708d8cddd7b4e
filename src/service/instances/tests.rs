#![expect(clippy::unwrap_used, reason = "tests")]

use chrono::TimeDelta;

use super::{LegacyChange, NewInstance, change_legacy, create, set_frozen, upgrade};
use crate::db::ids::InstanceId;
use crate::db::models::instances::{self, InstanceStatus};
use crate::service::Error;
use crate::service::codes::tests::scratch;

fn new<'a>(line: &'static str, business_id: &'a InstanceId) -> NewInstance<'a> {
    NewInstance {
        order_id: "CS-1",
        order_line_id: line,
        business_id,
    }
}

#[test]
fn the_instance_limit_refuses_only_new_order_lines() {
    let mut conn = scratch();
    let now = crate::licensing::now_seconds();
    assert_eq!(
        create(&mut conn, &new("l1", &"b1".into()), Some(1), now).unwrap(),
        "b1"
    );
    // A repeat of the same order line is its instance, whatever businessId it carries.
    assert_eq!(
        create(&mut conn, &new("l1", &"b9".into()), Some(1), now).unwrap(),
        "b1"
    );
    let refused = create(&mut conn, &new("l2", &"b2".into()), Some(1), now).unwrap_err();
    assert!(
        matches!(refused, Error::NoInstanceResource { limit: 1 }),
        "{refused:?}"
    );
    let taken = create(&mut conn, &new("l3", &"b1".into()), None, now).unwrap_err();
    assert!(
        matches!(
            taken,
            Error::Invalid {
                field: "businessId",
                ..
            }
        ),
        "{taken:?}"
    );
}

#[test]
fn a_released_instance_stays_released_and_expiry_freezes_only_an_active_one() {
    let mut conn = scratch();
    let now = crate::licensing::now_seconds();
    let b1 = InstanceId::from("b1");
    create(&mut conn, &new("l1", &b1), None, now).unwrap();
    let status = |conn: &mut _| instances::find(conn, &b1).unwrap().unwrap().status;

    change_legacy(&mut conn, &b1, LegacyChange::Expire, "expireLicense", now).unwrap();
    assert_eq!(status(&mut conn), InstanceStatus::Frozen);
    change_legacy(&mut conn, &b1, LegacyChange::Release, "releaseLicense", now).unwrap();
    // Neither an unfreeze nor a legacy expiry brings it back.
    set_frozen(&mut conn, &b1, false, now).unwrap();
    change_legacy(&mut conn, &b1, LegacyChange::Expire, "expireLicense", now).unwrap();
    assert_eq!(status(&mut conn), InstanceStatus::Released);

    let later = LegacyChange::Refresh(now + TimeDelta::days(1));
    let unknown =
        change_legacy(&mut conn, &"ghost".into(), later, "refreshLicense", now).unwrap_err();
    assert!(matches!(unknown, Error::InstanceNotFound(ref id) if *id == "ghost"));
}

#[test]
fn an_upgrade_without_its_order_is_pending_unless_already_applied() {
    let mut conn = scratch();
    let now = crate::licensing::now_seconds();
    let unknown = upgrade(&mut conn, &"b1".into(), "CS-UP", None, now).unwrap_err();
    assert!(matches!(unknown, Error::InstanceNotFound(_)), "{unknown:?}");
    create(&mut conn, &new("l1", &"b1".into()), None, now).unwrap();
    let pending = upgrade(&mut conn, &"b1".into(), "CS-UP", None, now).unwrap_err();
    assert!(matches!(pending, Error::Pending(_)), "{pending:?}");
}
