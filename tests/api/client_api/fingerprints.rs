//! Fingerprints at the edge of the contract: the 5,120-byte bound on what the client sent, and
//! `most` matching against fingerprints built to make it slow.

use serde_json::json;

use super::{Client, machine, start_with};
use crate::both_backends;
use crate::with_marketplace;

with_marketplace!(
    the_fingerprint_bound_is_on_the_bytes_sent,
    |client: Client| async move {
        client.add_code("PLGREEK0000001", 2).await;
        // "ΐ" is 2 bytes and upper-cases to 6: 5,120 bytes sent, 15,360 once normalised.
        let greek = "ΐ".repeat(2560);
        let too_long = format!("{greek}A");

        let bound = client.activate("PLGREEK0000001", &greek).await;
        let refused = client.activate("PLGREEK0000001", &too_long).await;

        assert_eq!(bound.status, 201, "{:?}", bound.body);
        client.app.verify_license(bound.license(), Some(&greek));
        assert_eq!(
            client.check_in("PLGREEK0000001", &greek).await.body["status"],
            "VALID"
        );
        assert_eq!((refused.status, refused.code()), (400, "INVALID_REQUEST"));
        let message = refused.body["message"].as_str().unwrap();
        assert!(message.starts_with("fingerprint: "), "{message}");
        assert!(message.contains("5121 bytes"), "{message}");
        let checked = client.check_in("PLGREEK0000001", &too_long).await;
        assert_eq!((checked.status, checked.code()), (400, "INVALID_REQUEST"));
        assert_eq!(client.live("PLGREEK0000001"), 1);
    }
);

/// A 5 KB fingerprint of 1,700 two-character "MACs", as the review's attack sent: machine `n`'s
/// list starts at its own offset, so that the first 16 of two machines differ.
fn heavy(n: usize, disk: &str) -> String {
    const DIGITS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mac = |i: usize| {
        let i = (i + 16 * n) % (36 * 36);
        String::from_utf8(vec![DIGITS[i / 36], DIGITS[i % 36]]).unwrap()
    };
    let macs: Vec<String> = (0..1700).map(mac).collect();
    let fingerprint = format!("{}|{disk}|B{n}|C{n}", macs.join(","));
    assert!(fingerprint.len() <= 5120, "{}", fingerprint.len());
    fingerprint
}

/// The MAC that comes `index`-th in machine `n`'s list.
fn mac_of(n: usize, index: usize) -> String {
    heavy(n, "").split(',').nth(index).unwrap().to_owned()
}

both_backends!(@backend most_matching_answers_heavy_fingerprints_correctly, |backend| async move {
    // Arrange: five seats held by machines with 5 KB fingerprints.
    let client = start_with(backend, &[("KOOLICENSE_FINGERPRINT_MATCH", "most")]).await;
    client.add_code("PLHEAVY0000001", 5).await;
    for n in 1..=5 {
        let bound = client.activate("PLHEAVY0000001", &heavy(n, &format!("D{n}"))).await;
        assert_eq!(bound.status, 201, "{:?}", bound.body);
    }

    // Machine 3 got a new disk: the same machine, it keeps its seat.
    let moved = client.activate("PLHEAVY0000001", &heavy(3, "NEW-DISK")).await;
    assert_eq!(moved.status, 200, "{:?}", moved.body);
    assert_eq!(moved.body["seats"], json!({"used": 5, "total": 5}));
    client.app.verify_license(moved.license(), Some(&heavy(3, "NEW-DISK")));

    // Only the first 16 MACs count: sharing machine 1's 17th MAC, board and CPU is not enough.
    let past_the_cap = format!("{}|D9|B1|C1", mac_of(1, 16));
    let refused = client.activate("PLHEAVY0000001", &past_the_cap).await;
    assert_eq!((refused.status, refused.code()), (409, "SEAT_LIMIT_REACHED"));
    // Sharing its 16th is.
    let within = format!("{}|D9|B1|C1", mac_of(1, 15));
    assert_eq!(client.check_in("PLHEAVY0000001", &within).await.body["status"], "VALID");

    // An unrelated machine, heavy or not, is refused.
    let stranger = heavy(40, "D40");
    let refused = client.activate("PLHEAVY0000001", &stranger).await;
    assert_eq!((refused.status, refused.code()), (409, "SEAT_LIMIT_REACHED"));
    let stranger_check = client.check_in("PLHEAVY0000001", &stranger).await;
    assert_eq!(stranger_check.body["status"], "FINGERPRINT_MISMATCH");
    assert_eq!(client.check_in("PLHEAVY0000001", &machine(9)).await.body["status"], "FINGERPRINT_MISMATCH");

    // Machine 4 checks in with a new disk: its license follows it.
    let checked = client.check_in("PLHEAVY0000001", &heavy(4, "NEW-DISK")).await;
    assert_eq!(checked.body["status"], "VALID", "{:?}", checked.body);
    let payload = client.app.verify_license(
        checked.body["license"].as_str().unwrap(),
        Some(&heavy(4, "NEW-DISK")),
    );
    assert_eq!(payload["revision"], 2);

    // Machine 5 frees its seat under a new disk.
    let freed = client.deactivate("PLHEAVY0000001", &heavy(5, "NEW-DISK")).await;
    assert_eq!(freed.status, 200, "{:?}", freed.body);
    assert_eq!(freed.body["seats"], json!({"used": 4, "total": 5}));
    assert_eq!(client.live("PLHEAVY0000001"), 4);
});
