//! The seat rules, table style.

use super::*;

#[test]
fn a_reported_amount_allows_at_least_one_seat() {
    for (amount, seats) in [
        (-5, 1),
        (0, 1),
        (1, 1),
        (2, 2),
        (50, 50),
        (i64::MAX, i64::MAX),
    ] {
        assert_eq!(
            SeatLimit::from_reported(amount).get(),
            seats,
            "amount {amount}"
        );
    }
}

#[test]
fn an_unreported_amount_allows_the_default_seats() {
    for (reported, seats) in [
        (None, DEFAULT_SEATS),
        (Some(SeatLimit::from_reported(0)), 1),
        (Some(SeatLimit::from_reported(7)), 7),
    ] {
        assert_eq!(SeatLimit::or_default(reported), seats, "{reported:?}");
    }
}

#[test]
fn a_code_takes_another_binding_only_while_a_seat_is_free() {
    for (used, total, after) in [
        (0, 1, Ok(Seats { used: 1, total: 1 })),
        (1, 1, Err(AllSeatsTaken { total: 1 })),
        (2, 5, Ok(Seats { used: 3, total: 5 })),
        (4, 5, Ok(Seats { used: 5, total: 5 })),
        (5, 5, Err(AllSeatsTaken { total: 5 })),
        // A limit lowered under the bindings it had: no new one until enough are freed.
        (3, 2, Err(AllSeatsTaken { total: 2 })),
    ] {
        assert_eq!(Seats { used, total }.take_one(), after, "{used}/{total}");
    }
}

#[test]
fn seats_serialise_as_used_and_total() {
    let json = serde_json::to_value(Seats { used: 1, total: 3 }).unwrap_or_default();
    assert_eq!(json, serde_json::json!({"used": 1, "total": 3}));
}

#[test]
fn an_instance_quota_is_never_guessed() {
    assert_eq!(DeviceQuota::of_order(None), None);
    assert_eq!(
        DeviceQuota::of_order(Some(3)).map(DeviceQuota::devices),
        Some(3)
    );
}

#[test]
fn an_instance_licenses_a_new_device_only_while_its_quota_lasts() {
    for (quantity, licensed, holds_one, admitted) in [
        (1, 0, false, true),
        (1, 1, false, false),
        (1, 1, true, true),
        (3, 2, false, true),
        (3, 3, false, false),
        (3, 3, true, true),
        // A quota lowered under the devices it had: those keep getting licenses, no new one.
        (2, 4, true, true),
        (2, 4, false, false),
        (0, 0, false, false),
    ] {
        let quota = DeviceQuota::of_order(Some(quantity));
        assert_eq!(
            quota.map(|q| q.admits(licensed, holds_one)),
            Some(admitted),
            "quantity {quantity}, licensed {licensed}, holds one {holds_one}"
        );
    }
}

#[test]
fn an_activation_without_an_amount_allows_one_seat() {
    for (amount, seats) in [(None, 1), (Some(0), 1), (Some(3), 3)] {
        assert_eq!(
            SeatLimit::from_activation(amount).get(),
            seats,
            "{amount:?}"
        );
    }
}
