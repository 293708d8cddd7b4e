//! Offline verification: the server gone, a tampered license, another machine's license, and the
//! air-gapped flow (request file, `offline-activate` on a connected machine, install).

use std::process::Command;

use koolicense_client::Status;
use serde_json::Value;

use super::{Sdk, artifact, dead_server, status};
use crate::client_api::machine;
use crate::with_sdk;

with_sdk!(
    a_license_verifies_with_the_server_gone,
    |sdk: Sdk| async move {
        sdk.market.add_code("PLSDKGONE00001", 1).await;
        let online = sdk.client("gone", 1);
        assert_eq!(
            status(&call!(online, |c| c.activate("PLSDKGONE00001"))),
            Status::Ok
        );

        // The same data directory, the server unreachable: nothing is due yet, all is well.
        let offline = sdk.client_of(Some(&dead_server()), "gone", &machine(1));
        assert_eq!(status(&call!(offline, |c| c.check())), Status::Ok);
        assert_eq!(status(&call!(offline, |c| c.is_genuine())), Status::Ok);
        assert_eq!(status(&call!(offline, |c| c.check_in())), Status::Network);
        // A failed check-in changed nothing.
        assert_eq!(status(&call!(offline, |c| c.check())), Status::Ok);
    }
);

with_sdk!(
    a_tampered_or_foreign_license_is_refused,
    |sdk: Sdk| async move {
        sdk.market.add_code("PLSDKTAMPER001", 1).await;
        let client = sdk.client("tamper", 1);
        assert_eq!(
            status(&call!(client, |c| c.activate("PLSDKTAMPER001"))),
            Status::Ok
        );
        let path = sdk.dir("tamper").join("license.lic");
        let original = std::fs::read_to_string(&path).unwrap();

        // One character of the signed body changed.
        let mut lines: Vec<String> = original.lines().map(str::to_owned).collect();
        let body = &mut lines[1];
        let flipped = if body.starts_with('e') { "f" } else { "e" };
        body.replace_range(0..1, flipped);
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        assert_eq!(
            status(&call!(client, |c| c.check())),
            Status::InvalidLicense
        );

        // Signed, but by a key the application does not trust.
        std::fs::write(&path, forged_license(&original)).unwrap();
        let forged = call!(client, |c| c.check());
        assert_eq!(status(&forged), Status::InvalidLicense, "{forged:?}");

        std::fs::write(&path, &original).unwrap();
        assert_eq!(status(&call!(client, |c| c.check())), Status::Ok);
    }
);

/// `original`'s payload signed again with a key of the attacker's, under the same key id.
fn forged_license(original: &str) -> String {
    struct Rogue(ed25519_dalek::SigningKey, String);
    impl koolicense_core::keys::Signer for Rogue {
        fn sign(&self, message: &[u8]) -> (&str, [u8; 64]) {
            use ed25519_dalek::Signer as _;
            (&self.1, self.0.sign(message).to_bytes())
        }
    }
    let (envelope, payload) = koolicense_core::license::decode_unverified(original).unwrap();
    let rogue = Rogue(
        ed25519_dalek::SigningKey::from_bytes(&[42; 32]),
        envelope.kid,
    );
    koolicense_core::license::sign(&payload, &rogue).unwrap()
}

with_sdk!(another_machines_license_is_refused, |sdk: Sdk| async move {
    sdk.market.add_code("PLSDKCOPY00001", 2).await;
    let here = sdk.client("here", 1);
    assert_eq!(
        status(&call!(here, |c| c.activate("PLSDKCOPY00001"))),
        Status::Ok
    );

    // The whole data directory copied to another machine.
    std::fs::create_dir_all(sdk.dir("there")).unwrap();
    for name in ["license.lic", "state.json"] {
        std::fs::copy(sdk.dir("here").join(name), sdk.dir("there").join(name)).unwrap();
    }
    let there = sdk.client("there", 2);
    assert_eq!(
        status(&call!(there, |c| c.check())),
        Status::FingerprintMismatch
    );
    assert_eq!(
        status(&call!(there, |c| c.is_genuine())),
        Status::FingerprintMismatch
    );

    // Installing the file there is refused too.
    let elsewhere = sdk.client("elsewhere", 3);
    let file = sdk.dir("here").join("license.lic");
    let installed = call!(elsewhere, |c| c.offline_install(&file));
    assert_eq!(status(&installed), Status::FingerprintMismatch);
    assert_eq!(
        status(&call!(elsewhere, |c| c.check())),
        Status::NotActivated
    );
});

with_sdk!(
    an_air_gapped_machine_is_activated_through_files,
    |sdk: Sdk| async move {
        sdk.market.add_code("PLSDKAIRGAP001", 1).await;
        let gapped = sdk.client_of(None, "gapped", &machine(7));
        let request = sdk.dir("request.json");
        let license = sdk.dir("license-for-gapped.lic");

        // The air-gapped machine writes its request; it makes no network call, ever.
        let written = request.clone();
        call!(gapped, |c| c.offline_request("PLSDKAIRGAP001", &written)).unwrap();
        let sent: Value =
            serde_json::from_str(&std::fs::read_to_string(&request).unwrap()).unwrap();
        assert_eq!(sent["v"], 1);
        assert_eq!(sent["code"], "PLSDKAIRGAP001");
        assert_eq!(sent["fingerprint"], machine(7).to_uppercase());
        assert_eq!(
            status(&call!(gapped, |c| c.activate("PLSDKAIRGAP001"))),
            Status::InvalidArgument
        );

        // A connected machine turns it into the license file.
        let out = Command::new(artifact("koolicense-client"))
            .args(["--server", &sdk.market.app.address, "--public-keys"])
            .arg(sdk.keys_file())
            .args(["offline-activate", "--request"])
            .arg(&request)
            .arg("--out")
            .arg(&license)
            .output()
            .unwrap();
        let printed = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{printed} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(printed.starts_with("KL_OK "), "{printed}");
        assert_eq!(sdk.market.live("PLSDKAIRGAP001"), 1);

        // Back on the air-gapped machine.
        let file = license.clone();
        assert_eq!(
            status(&call!(gapped, |c| c.offline_install(&file))),
            Status::Ok
        );
        assert_eq!(status(&call!(gapped, |c| c.check())), Status::Ok);
        assert_eq!(status(&call!(gapped, |c| c.is_genuine())), Status::Ok);
        assert_eq!(
            status(&call!(gapped, |c| c.check_in())),
            Status::InvalidArgument
        );

        // A machine with a server that installs the file counts its issued_at as last verified,
        // and checks in with the code of its own request.
        let connected = sdk.client("connected", 7);
        let written = sdk.dir("request-2.json");
        call!(connected, |c| c.offline_request("PLSDKAIRGAP001", &written)).unwrap();
        let file = license.clone();
        assert_eq!(
            status(&call!(connected, |c| c.offline_install(&file))),
            Status::Ok
        );
        assert_eq!(status(&call!(connected, |c| c.check_in())), Status::Ok);
    }
);

#[test]
fn the_server_and_the_sdk_print_the_same_fingerprint() {
    let server = Command::new(env!("CARGO_BIN_EXE_koolicense"))
        .arg("fingerprint")
        .output()
        .unwrap();
    let client = Command::new(artifact("koolicense-client"))
        .arg("fingerprint")
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&server.stdout).into_owned();
    assert!(
        server.status.success() && client.status.success(),
        "{printed}"
    );
    assert_eq!(printed, String::from_utf8_lossy(&client.stdout));
    assert_eq!(printed.trim().split('|').count(), 4, "{printed}");
}
