//! Each status of `client.md` §3 reached through the path that produces it: activation
//! refusals, the marketplace's callbacks and the admin API seen through check-ins, renewal and
//! deactivation.

use koolicense::admin::auth::Role;
use koolicense_client::Status;
use serde_json::json;

use super::{Sdk, dead_server, status};
use crate::client_api::{compact_in, machine};
use crate::helpers::Backend;
use crate::with_sdk;

with_sdk!(
    activation_refusals_name_their_cause,
    |sdk: Sdk| async move {
        sdk.market.add_code("PLSDKONE000001", 1).await;
        sdk.market
            .sim_post(
                "/sim/codes",
                &json!({"code": "PLSDKUNCLAIMED", "claimed": false}),
            )
            .await;
        let past = compact_in(-3);
        sdk.market
            .sim_post(
                "/sim/codes",
                &json!({"code": "PLSDKEXPIRED01", "amount": 1, "expire_time": past}),
            )
            .await;
        let first = sdk.client("first", 1);
        let second = sdk.client("second", 2);

        assert_eq!(
            status(&call!(first, |c| c.activate("PLSDKNOSUCH001"))),
            Status::CodeNotFound
        );
        assert_eq!(
            status(&call!(first, |c| c.activate("PLSDKUNCLAIMED"))),
            Status::CodeNotClaimed
        );
        assert_eq!(
            status(&call!(first, |c| c.activate("PLSDKEXPIRED01"))),
            Status::Expired
        );
        assert_eq!(
            status(&call!(first, |c| c.activate("PLSDKONE000001"))),
            Status::Ok
        );
        assert_eq!(
            status(&call!(second, |c| c.activate("PLSDKONE000001"))),
            Status::SeatLimitReached
        );
        assert_eq!(
            status(&call!(second, |c| c.activate("bad code"))),
            Status::InvalidArgument
        );
        // A refusal changes nothing on the machine: the second one still has no license.
        assert_eq!(status(&call!(second, |c| c.check())), Status::NotActivated);

        let unreachable = sdk.client_of(Some(&dead_server()), "third", &machine(3));
        let down = call!(unreachable, |c| c.activate("PLSDKONE000001"));
        assert_eq!(status(&down), Status::Network, "{down:?}");
    }
);

// `RATE_LIMITED` needs a server of its own: one unknown code per hour.
crate::both_backends!(@backend a_rate_limited_activation_says_so, |backend: Backend| async move {
    let sdk = Sdk::start_with(backend, &[("KOOLICENSE_UNKNOWN_CODE_LIMIT_PER_HOUR", "1")]).await;
    let client = sdk.client("limited", 1);
    assert_eq!(status(&call!(client, |c| c.activate("PLSDKGUESS0001"))), Status::CodeNotFound);
    let limited = call!(client, |c| c.activate("PLSDKGUESS0002"));
    assert_eq!(status(&limited), Status::RateLimited, "{limited:?}");
});

with_sdk!(
    an_activated_license_verifies_online_and_offline,
    |sdk: Sdk| async move {
        sdk.market.add_code("PLSDKOK0000001", 2).await;
        let client = sdk.client("ok", 1);

        let activated = call!(client, |c| c.activate("PLSDKOK0000001")).unwrap();
        assert_eq!(activated.status(), Status::Ok);
        assert_eq!(status(&call!(client, |c| c.check())), Status::Ok);
        assert_eq!(status(&call!(client, |c| c.check_in())), Status::Ok);
        assert_eq!(status(&call!(client, |c| c.is_genuine())), Status::Ok);

        let payload = call!(client, |c| c.license()).unwrap().unwrap();
        assert_eq!(
            payload.code_sha256.as_deref(),
            Some(koolicense::license_file::code_sha256("PLSDKOK0000001").as_str())
        );
        assert_eq!(
            payload.fingerprint_sha256,
            koolicense::domain::fingerprint::sha256_hex_of_normalised(&machine(1))
        );
        assert_eq!(payload.seats, 2);
        // The stored file is the server's, byte for byte; a repeat activation gives it again.
        let stored = std::fs::read_to_string(sdk.dir("ok").join("license.lic")).unwrap();
        let repeat = sdk.market.activate("PLSDKOK0000001", &machine(1)).await;
        assert_eq!(repeat.license(), stored);
        assert_eq!(
            status(&call!(client, |c| c.activate("PLSDKOK0000001"))),
            Status::Ok
        );
        assert_eq!(
            std::fs::read_to_string(sdk.dir("ok").join("license.lic")).unwrap(),
            stored
        );
    }
);

with_sdk!(
    freeze_unfreeze_and_release_reach_the_software,
    |sdk: Sdk| async move {
        sdk.market.add_code("PLSDKSTATE0001", 1).await;
        let client = sdk.client("state", 1);
        assert_eq!(
            status(&call!(client, |c| c.activate("PLSDKSTATE0001"))),
            Status::Ok
        );

        sdk.freeze("PLSDKSTATE0001", "FREEZE").await;
        assert_eq!(status(&call!(client, |c| c.check_in())), Status::Frozen);
        // The verified verdict is what the offline check reports until the next answer.
        assert_eq!(status(&call!(client, |c| c.check())), Status::Frozen);
        assert_eq!(status(&call!(client, |c| c.is_genuine())), Status::Frozen);

        sdk.freeze("PLSDKSTATE0001", "UNFREEZE").await;
        assert_eq!(status(&call!(client, |c| c.check_in())), Status::Ok);
        assert_eq!(status(&call!(client, |c| c.check())), Status::Ok);

        sdk.callback(json!({"activity": "releaseLicenseCode", "license": "PLSDKSTATE0001"}))
            .await;
        assert_eq!(status(&call!(client, |c| c.check_in())), Status::Released);
        assert_eq!(status(&call!(client, |c| c.check())), Status::Released);
    }
);

with_sdk!(
    revoke_and_reinstate_by_support_reach_the_software,
    |sdk: Sdk| async move {
        sdk.market.add_code("PLSDKREVOKE001", 1).await;
        let client = sdk.client("revoke", 1);
        assert_eq!(
            status(&call!(client, |c| c.activate("PLSDKREVOKE001"))),
            Status::Ok
        );
        let license_id = call!(client, |c| c.license()).unwrap().unwrap().license_id;
        let admin = sdk.market.app.token("root", Role::Admin);
        let path = |action: &str| format!("/admin/v1/licenses/{license_id}/{action}");

        let revoked = sdk
            .market
            .app
            .admin_post(&admin, &path("revoke"), &json!({"reason": "chargeback"}))
            .await;
        assert_eq!(revoked.status, 200, "{}", revoked.body);
        assert_eq!(status(&call!(client, |c| c.check_in())), Status::Revoked);
        assert_eq!(status(&call!(client, |c| c.check())), Status::Revoked);

        let back = sdk
            .market
            .app
            .admin_post(&admin, &path("reinstate"), &json!({"reason": "withdrawn"}))
            .await;
        assert_eq!(back.status, 200, "{}", back.body);
        assert_eq!(status(&call!(client, |c| c.check_in())), Status::Ok);
    }
);

with_sdk!(
    a_renewal_replaces_the_license_without_activating_again,
    |sdk: Sdk| async move {
        sdk.market.add_code("PLSDKRENEW0001", 1).await;
        let client = sdk.client("renew", 1);
        assert_eq!(
            status(&call!(client, |c| c.activate("PLSDKRENEW0001"))),
            Status::Ok
        );
        let before = call!(client, |c| c.license()).unwrap().unwrap();

        let renewed = compact_in(730);
        sdk.callback(
            json!({"activity": "refreshLicenseCode", "scene": "RENEWAL", "orderId": "CS-RENEW",
        "orderLineId": "CS-RENEW-1", "license": "PLSDKRENEW0001", "expireTime": renewed}),
        )
        .await;
        sdk.market
            .sim_post(
                "/sim/codes/PLSDKRENEW0001",
                &json!({"expire_time": renewed}),
            )
            .await;

        assert_eq!(status(&call!(client, |c| c.check_in())), Status::Ok);
        let after = call!(client, |c| c.license()).unwrap().unwrap();
        assert_eq!(after.license_id, before.license_id);
        assert_eq!(after.revision, before.revision + 1);
        assert!(
            after.expires_at > before.expires_at,
            "{:?} -> {:?}",
            before.expires_at,
            after.expires_at
        );
        assert_eq!(
            after
                .expires_at
                .map(|t| t.format("%Y%m%d%H%M%S").to_string()),
            Some(renewed)
        );
    }
);

with_sdk!(
    deactivation_frees_the_seat_and_a_reset_is_seen,
    |sdk: Sdk| async move {
        sdk.market.add_code("PLSDKSEAT00001", 1).await;
        let first = sdk.client("first", 1);
        let second = sdk.client("second", 2);
        assert_eq!(
            status(&call!(first, |c| c.activate("PLSDKSEAT00001"))),
            Status::Ok
        );
        assert_eq!(
            status(&call!(second, |c| c.activate("PLSDKSEAT00001"))),
            Status::SeatLimitReached
        );

        assert_eq!(status(&call!(first, |c| c.deactivate())), Status::Ok);
        assert_eq!(status(&call!(first, |c| c.check())), Status::NotActivated);
        assert!(!sdk.dir("first").join("license.lic").exists());
        assert_eq!(sdk.market.live("PLSDKSEAT00001"), 0);

        assert_eq!(
            status(&call!(second, |c| c.activate("PLSDKSEAT00001"))),
            Status::Ok
        );
        // Support resets the second machine's binding (its hardware changed): the software learns
        // it at its next check-in.
        let support = sdk.market.app.token("helpdesk", Role::Support);
        let detail = sdk
            .market
            .app
            .admin_get(&support, "/admin/v1/codes/PLSDKSEAT00001")
            .await;
        let live = detail.body["activations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["live"] == true)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let reset = sdk
            .market
            .app
            .admin_delete(
                &support,
                &format!("/admin/v1/activations/{live}?reason=new%20disk"),
            )
            .await;
        assert_eq!(reset.status, 200, "{}", reset.body);
        assert_eq!(
            status(&call!(second, |c| c.check_in())),
            Status::NotActivated
        );
        assert_eq!(status(&call!(second, |c| c.check())), Status::NotActivated);
    }
);
