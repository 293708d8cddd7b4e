//! Fingerprints at the edge of the contract: the 5,120-byte bound on what the client sent.

use super::Client;
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
