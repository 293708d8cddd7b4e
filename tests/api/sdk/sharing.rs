//! One handle shared by threads, one data directory shared by processes, and a server that
//! never answers: every call is bounded by its timeout.

use std::process::Command;
use std::time::{Duration, Instant};

use koolicense_client::{Client, Status};

use super::{Sdk, artifact, status};
use crate::client_api::machine;
use crate::with_sdk;

with_sdk!(
    threads_and_processes_share_a_client_and_a_directory,
    |sdk: Sdk| async move {
        sdk.market.add_code("PLSDKSHARE0001", 1).await;
        let client = sdk.client("shared", 1);
        assert_eq!(
            status(&call!(client, |c| c.activate("PLSDKSHARE0001"))),
            Status::Ok
        );
        let license = std::fs::read_to_string(sdk.dir("shared").join("license.lic")).unwrap();

        // Eight threads on one handle, checking and checking in.
        let outcomes = call!(client, |c| {
            std::thread::scope(|scope| {
                let workers: Vec<_> = (0..8)
                    .map(|i| {
                        scope.spawn(move || {
                            (0..5)
                                .map(|_| status(&if i % 2 == 0 { c.check() } else { c.check_in() }))
                                .collect::<Vec<_>>()
                        })
                    })
                    .collect();
                workers
                    .into_iter()
                    .flat_map(|w| w.join().unwrap())
                    .collect::<Vec<_>>()
            })
        });
        assert!(outcomes.iter().all(|s| *s == Status::Ok), "{outcomes:?}");

        // Eight processes on the directory at once.
        let children: Vec<_> = (0..8)
            .map(|i| {
                Command::new(artifact("koolicense-client"))
                    .args([
                        "--server",
                        &sdk.market.app.address,
                        "--fingerprint",
                        &machine(1),
                    ])
                    .arg("--public-keys")
                    .arg(sdk.keys_file())
                    .arg("--data-dir")
                    .arg(sdk.dir("shared"))
                    .arg(if i % 2 == 0 { "status" } else { "check-in" })
                    .output()
                    .unwrap()
            })
            .collect();
        for out in children {
            assert_eq!(
                out.status.code(),
                Some(0),
                "{}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
        assert_eq!(
            std::fs::read_to_string(sdk.dir("shared").join("license.lic")).unwrap(),
            license
        );
        let state = std::fs::read_to_string(sdk.dir("shared").join("state.json")).unwrap();
        serde_json::from_str::<serde_json::Value>(&state).expect("the state is whole");
        assert_eq!(status(&call!(client, |c| c.check())), Status::Ok);
        assert_eq!(sdk.market.live("PLSDKSHARE0001"), 1);
    }
);

with_sdk!(
    a_silent_server_cannot_hold_a_call_past_its_timeout,
    |sdk: Sdk| async move {
        // Accepts connections and never answers.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", silent.local_addr().unwrap());
        let client = std::sync::Arc::new(
            Client::builder(sdk.dir("silent"))
                .server(url)
                .public_keys(&sdk.keys_json)
                .fingerprint(machine(1))
                .timeout_ms(500)
                .open()
                .unwrap(),
        );
        let started = Instant::now();
        let outcome = call!(client, |c| c.activate("PLSDKSILENT001"));
        assert_eq!(status(&outcome), Status::Network, "{outcome:?}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        drop(silent);
    }
);
