//! `POST /v1/deactivate` and hardware drift: freeing seats, the limit on seat-hopping, and the
//! same machine keeping its seat after a hardware change.

use serde_json::json;

use super::{Client, machine, start_with};
use crate::both_backends;
use crate::with_marketplace;

with_marketplace!(deactivating_frees_a_seat, |client: Client| async move {
    client.add_code("PLFREE00000001", 1).await;
    assert_eq!(
        client.activate("PLFREE00000001", &machine(1)).await.status,
        201
    );
    let full = client.activate("PLFREE00000001", &machine(2)).await;
    assert_eq!((full.status, full.code()), (409, "SEAT_LIMIT_REACHED"));

    let freed = client.deactivate("PLFREE00000001", &machine(1)).await;

    assert_eq!(freed.status, 200, "{:?}", freed.body);
    assert_eq!(
        freed.body,
        json!({"deactivated": true, "seats": {"used": 0, "total": 1}})
    );
    let moved = client.activate("PLFREE00000001", &machine(2)).await;
    assert_eq!(moved.status, 201);
    assert_eq!(moved.body["seats"], json!({"used": 1, "total": 1}));
    for (code, fp) in [
        ("PLFREE00000001", machine(1)),
        ("PLFREE00000001", machine(3)),
        ("PLNOSUCHCODE02", machine(1)),
    ] {
        let missing = client.deactivate(code, &fp).await;
        assert_eq!(
            (missing.status, missing.code()),
            (404, "ACTIVATION_NOT_FOUND")
        );
    }
    assert_eq!(client.live("PLFREE00000001"), 1);
});

both_backends!(@backend deactivations_are_limited_per_code, |backend| async move {
    let client = start_with(backend, &[("KOOLICENSE_DEACTIVATION_LIMIT", "2")]).await;
    client.add_code("PLHOPPER000001", 1).await;

    for n in 0..2 {
        assert_eq!(client.activate("PLHOPPER000001", &machine(n)).await.status, 201);
        assert_eq!(client.deactivate("PLHOPPER000001", &machine(n)).await.status, 200);
    }
    assert_eq!(client.activate("PLHOPPER000001", &machine(5)).await.status, 201);
    let refused = client.deactivate("PLHOPPER000001", &machine(5)).await;

    assert_eq!((refused.status, refused.code()), (429, "DEACTIVATION_LIMIT_REACHED"));
    let message = refused.body["message"].as_str().unwrap();
    assert!(message.contains("2 times in the last 30 days"), "{message}");
    assert_eq!(client.live("PLHOPPER000001"), 1, "the seat stays taken");
    assert_eq!(client.check_in("PLHOPPER000001", &machine(5)).await.body["status"], "VALID");
});

both_backends!(@backend most_matching_keeps_the_seat_of_a_changed_machine, |backend| async move {
    let client = start_with(backend, &[("KOOLICENSE_FINGERPRINT_MATCH", "most")]).await;
    client.add_code("PLDRIFT0000001", 1).await;
    let before = "AA:01,AA:02|DISK-A|BOARD-A|CPU-A";
    // One NIC replaced and a new CPU: MAC (shared AA:02), disk and board still match.
    let after = "AA:02,AA:09|DISK-A|BOARD-A|CPU-B";
    let first = client.activate("PLDRIFT0000001", before).await;
    assert_eq!(first.status, 201);

    let drifted = client.activate("PLDRIFT0000001", after).await;

    assert_eq!(drifted.status, 200, "{:?}", drifted.body);
    assert_eq!(drifted.body["license_id"], first.body["license_id"]);
    assert_eq!(drifted.body["seats"], json!({"used": 1, "total": 1}));
    let payload = client.app.verify_license(drifted.license(), Some(after));
    assert_eq!(payload["revision"], 2);
    assert_eq!(client.live("PLDRIFT0000001"), 1);
    assert_eq!(client.activate("PLDRIFT0000001", after).await.license(), drifted.license());
    assert_eq!(client.check_in("PLDRIFT0000001", after).await.body["status"], "VALID");
    // A different machine is still refused.
    let other = client.activate("PLDRIFT0000001", "BB:01|DISK-B|BOARD-B|CPU-B").await;
    assert_eq!((other.status, other.code()), (409, "SEAT_LIMIT_REACHED"));
    // The drifted machine frees its seat under its new fingerprint.
    assert_eq!(client.deactivate("PLDRIFT0000001", after).await.status, 200);
    assert_eq!(client.live("PLDRIFT0000001"), 0);
});

with_marketplace!(
    exact_matching_treats_a_changed_machine_as_new,
    |client: Client| async move {
        client.add_code("PLEXACT0000001", 1).await;
        assert_eq!(
            client
                .activate("PLEXACT0000001", "AA:01,AA:02|DISK-A|BOARD-A|CPU-A")
                .await
                .status,
            201
        );

        let changed = client
            .activate("PLEXACT0000001", "AA:02,AA:09|DISK-A|BOARD-A|CPU-B")
            .await;

        assert_eq!(
            (changed.status, changed.code()),
            (409, "SEAT_LIMIT_REACHED")
        );
    }
);
