//! Grace, grace over, a clock turned back and edited state, with the SDK's command line run under
//! `faketime` (the clock of the process moved, not slept through).

use std::path::Path;
use std::process::Command;

use koolicense_client::Status;

use super::{Sdk, artifact, dead_server, status};
use crate::client_api::machine;
use crate::with_sdk;

/// `koolicense-client ... status` on data directory `dir` as machine 1, with the clock moved
/// by `offset` (libfaketime's `+2d`, `-1h`, ...); its exit code and line.
fn status_at(sdk: &Sdk, server: &str, dir: &Path, offset: &str) -> (i32, String) {
    let out = Command::new("faketime")
        .args(["-f", offset])
        .arg(artifact("koolicense-client"))
        .args([
            "--server",
            server,
            "--fingerprint",
            &machine(1),
            "--public-keys",
        ])
        .arg(sdk.keys_file())
        .arg("--data-dir")
        .arg(dir)
        .arg("status")
        .output()
        .expect("faketime is installed (.ci/run installs it)");
    let line = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (out.status.code().unwrap_or(-1), line)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for name in ["license.lic", "state.json"] {
        std::fs::copy(from.join(name), to.join(name)).unwrap();
    }
}

with_sdk!(
    grace_runs_out_when_check_ins_keep_failing,
    |sdk: Sdk| async move {
        sdk.market.add_code("PLSDKGRACE0001", 1).await;
        let client = sdk.client("grace", 1);
        assert_eq!(
            status(&call!(client, |c| c.activate("PLSDKGRACE0001"))),
            Status::Ok
        );
        let dead = dead_server();
        let dir = sdk.dir("grace");

        let (code, line) = status_at(&sdk, &dead, &dir, "+23h");
        assert_eq!((code, line.as_str()), (0, line.as_str()), "{line}");
        assert!(line.starts_with("KL_OK"), "{line}");
        let (code, line) = status_at(&sdk, &dead, &dir, "+2d");
        assert_eq!(code, Status::Grace.code(), "{line}");
        assert!(line.starts_with("KL_GRACE "), "{line}");
        let (code, line) = status_at(&sdk, &dead, &dir, "+7d");
        assert_eq!(code, Status::Grace.code(), "{line}");
        let (code, line) = status_at(&sdk, &dead, &dir, "+9d");
        assert_eq!(code, Status::GraceOver.code(), "{line}");
        // Past the license's own end, the license has expired whatever the grace says.
        let (code, line) = status_at(&sdk, &dead, &dir, "+400d");
        assert_eq!(code, Status::Expired.code(), "{line}");
    }
);

with_sdk!(a_check_in_ends_the_grace, |sdk: Sdk| async move {
    sdk.market.add_code("PLSDKBACK00001", 1).await;
    let client = sdk.client("back", 1);
    assert_eq!(
        status(&call!(client, |c| c.activate("PLSDKBACK00001"))),
        Status::Ok
    );
    let dir = sdk.dir("back");
    let (code, line) = status_at(&sdk, &dead_server(), &dir, "+2d");
    assert_eq!(code, Status::Grace.code(), "{line}");
    // Back at the real time, the clock is behind the reading just seen...
    let (code, line) = status_at(&sdk, &dead_server(), &dir, "+0");
    assert_eq!(code, Status::ClockTampered.code(), "{line}");
    // ...until the server's signed time shows it right; that check-in also ends the grace.
    let (code, line) = status_at(&sdk, &sdk.market.app.address, &dir, "+0");
    assert_eq!(code, 0, "{line}");
    assert_eq!(status(&call!(client, |c| c.check())), Status::Ok);
});

with_sdk!(
    a_clock_turned_back_is_noticed_until_it_is_right,
    |sdk: Sdk| async move {
        sdk.market.add_code("PLSDKCLOCK0001", 1).await;
        let client = sdk.client("clock", 1);
        assert_eq!(
            status(&call!(client, |c| c.activate("PLSDKCLOCK0001"))),
            Status::Ok
        );
        let dead = dead_server();
        let dir = sdk.dir("clock");

        // Behind the signed activation time by more than the tolerance (300 s).
        let (code, line) = status_at(&sdk, &dead, &dir, "-1h");
        assert_eq!(code, Status::ClockTampered.code(), "{line}");
        // Within the tolerance: a few minutes off is normal.
        let (code, line) = status_at(&sdk, &dead, &dir, "-4m");
        assert_eq!(code, 0, "{line}");
        // A later clock reading is remembered: going back to the real time after it is noticed.
        let (code, line) = status_at(&sdk, &dead, &dir, "+3h");
        assert_eq!(code, 0, "{line}");
        assert_eq!(status(&call!(client, |c| c.check())), Status::ClockTampered);
        // Right again.
        let (code, line) = status_at(&sdk, &dead, &dir, "+3h");
        assert_eq!(code, 0, "{line}");
    }
);

with_sdk!(
    editing_or_deleting_the_state_never_extends_the_grace,
    |sdk: Sdk| async move {
        sdk.market.add_code("PLSDKEDIT00001", 1).await;
        let client = sdk.client("edit", 1);
        assert_eq!(
            status(&call!(client, |c| c.activate("PLSDKEDIT00001"))),
            Status::Ok
        );
        assert_eq!(status(&call!(client, |c| c.check_in())), Status::Ok);
        let dead = dead_server();

        // The stored answer's server time moved two days ahead: its signature no longer holds, so
        // the license's own signed issue time counts, and grace is where it was.
        let edited = sdk.dir("edited");
        copy_dir(&sdk.dir("edit"), &edited);
        let state = std::fs::read_to_string(edited.join("state.json")).unwrap();
        let later = (chrono::Utc::now() + chrono::TimeDelta::days(2)).format("%Y-%m-%dT%H:%M:%SZ");
        let moved = regex_lite_replace_server_time(&state, &later.to_string());
        assert_ne!(moved, state, "the state holds a server_time to edit");
        std::fs::write(edited.join("state.json"), moved).unwrap();
        let (code, line) = status_at(&sdk, &dead, &edited, "+2d");
        assert_eq!(code, Status::Grace.code(), "{line}");
        let (code, line) = status_at(&sdk, &dead, &edited, "+9d");
        assert_eq!(code, Status::GraceOver.code(), "{line}");

        // The state deleted: the same.
        let deleted = sdk.dir("deleted");
        copy_dir(&sdk.dir("edit"), &deleted);
        std::fs::remove_file(deleted.join("state.json")).unwrap();
        let (code, line) = status_at(&sdk, &dead, &deleted, "+2d");
        assert_eq!(code, Status::Grace.code(), "{line}");
        let (code, line) = status_at(&sdk, &dead, &deleted, "+9d");
        assert_eq!(code, Status::GraceOver.code(), "{line}");
    }
);

/// `state` with the `server_time` inside its stored answer body replaced by `time`.
fn regex_lite_replace_server_time(state: &str, time: &str) -> String {
    let marker = r#"\"server_time\":\""#;
    let Some(start) = state.find(marker) else {
        return state.to_owned();
    };
    let from = start + marker.len();
    let end = from + state[from..].find('\\').unwrap();
    format!("{}{time}{}", &state[..from], &state[end..])
}
