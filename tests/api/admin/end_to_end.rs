//! Admin actions seen by the shipped software through the client API (`koolicense sim` as
//! KooGallery): a revoked license answers `REVOKED`, a reset binding frees its seat.

use koolicense::admin::auth::Role;
use serde_json::json;

use crate::client_api::{Client, machine};
use crate::with_marketplace;

with_marketplace!(
    a_revoked_license_answers_revoked_until_it_is_reinstated,
    |client: Client| async move {
        let app = &client.app;
        let admin = app.token("root", Role::Admin);
        client.add_code("PLE2EREVOKE001", 1).await;
        let first = client.activate("PLE2EREVOKE001", &machine(1)).await;
        assert_eq!(first.status, 201, "{:?}", first.body);
        let license = first.body["license_id"].as_str().unwrap().to_owned();

        let revoked = app
            .admin_post(
                &admin,
                &format!("/admin/v1/licenses/{license}/revoke"),
                &json!({"reason": "fraud"}),
            )
            .await;
        assert_eq!(revoked.status, 200, "{}", revoked.body);
        let check_in = client.check_in("PLE2EREVOKE001", &machine(1)).await;
        assert_eq!(
            (
                check_in.body["valid"].clone(),
                check_in.body["status"].clone()
            ),
            (json!(false), json!("REVOKED"))
        );
        let again = client.activate("PLE2EREVOKE001", &machine(1)).await;
        assert_eq!(
            (again.status, again.code()),
            (403, "LICENSE_REVOKED"),
            "{:?}",
            again.body
        );

        let reinstated = app
            .admin_post(
                &admin,
                &format!("/admin/v1/licenses/{license}/reinstate"),
                &json!({"reason": "cleared"}),
            )
            .await;
        assert_eq!(reinstated.status, 200, "{}", reinstated.body);
        let check_in = client.check_in("PLE2EREVOKE001", &machine(1)).await;
        assert_eq!(check_in.body["status"], "VALID", "{:?}", check_in.body);
    }
);

with_marketplace!(
    a_reset_binding_lets_the_customer_activate_new_hardware,
    |client: Client| async move {
        let app = &client.app;
        let support = app.token("helpdesk", Role::Support);
        client.add_code("PLE2ESEAT00001", 1).await;
        assert_eq!(
            client.activate("PLE2ESEAT00001", &machine(1)).await.status,
            201
        );
        let full = client.activate("PLE2ESEAT00001", &machine(2)).await;
        assert_eq!((full.status, full.code()), (409, "SEAT_LIMIT_REACHED"));

        let detail = app
            .admin_get(&support, "/admin/v1/codes/PLE2ESEAT00001")
            .await;
        let activation = detail.body["activations"][0]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let reset = app
            .admin_delete(
                &support,
                &format!("/admin/v1/activations/{activation}?reason=new%20hardware"),
            )
            .await;
        assert_eq!(reset.status, 200, "{}", reset.body);
        assert_eq!(reset.body["seats"], json!({"used": 0, "total": 1}));

        let moved = client.activate("PLE2ESEAT00001", &machine(2)).await;
        assert_eq!(moved.status, 201, "{:?}", moved.body);
        assert_eq!(
            client.check_in("PLE2ESEAT00001", &machine(1)).await.body["valid"],
            false
        );
    }
);
