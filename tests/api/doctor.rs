//! `koolicense doctor` as an ISV runs it before going live: against the simulator as KooGallery,
//! first with everything right, then with each thing wrong in turn.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;

use crate::both_backends;
use crate::callers::ACCESS_KEY;
use crate::helpers::{Backend, TestDatabase};
use crate::marketplace::{Marketplace, SIM_AK, SIM_SK};
use crate::process::{clean_command, free_port, koolicense_command};

/// What one run printed: each check's verdict (`ok`, `FAIL`, `skip`) and detail, by check.
struct Report {
    exit: i32,
    text: String,
    lines: HashMap<String, (String, String)>,
}

impl Report {
    fn verdict(&self, check: &str) -> &str {
        self.lines.get(check).map_or_else(
            || panic!("no check {check:?} in:\n{}", self.text),
            |l| l.0.as_str(),
        )
    }

    fn detail(&self, check: &str) -> &str {
        self.lines.get(check).map_or("", |l| l.1.as_str())
    }

    /// The checks that failed, by name.
    fn failed(&self) -> Vec<&str> {
        let mut failed: Vec<&str> = self
            .lines
            .iter()
            .filter(|(_, (verdict, _))| verdict == "FAIL")
            .map(|(check, _)| check.as_str())
            .collect();
        failed.sort_unstable();
        failed
    }
}

/// A deployment to check: a migrated database, a key, the simulator as both hosts.
struct Setup {
    db: TestDatabase,
    keys: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl Setup {
    fn new(backend: Backend, sim: &Marketplace) -> Self {
        let db = TestDatabase::create(backend);
        koolicense::db::run_migrations(&mut db.connect()).unwrap();
        let keys = tempfile::tempdir().unwrap();
        koolicense::keys::KeyStore::generate(keys.path()).unwrap();
        let env = [
            ("KOOLICENSE_DATABASE_URL", db.url.as_str()),
            ("KOOLICENSE_KEYS_DIR", keys.path().to_str().unwrap()),
            ("KOOLICENSE_ACCESS_KEY", ACCESS_KEY),
            ("KOOLICENSE_APIG_AK", SIM_AK),
            ("KOOLICENSE_APIG_SK", SIM_SK),
            ("KOOLICENSE_MARKETPLACE_URL", sim.url.as_str()),
            ("KOOLICENSE_MARKETPLACE_FALLBACK_URL", sim.url.as_str()),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .to_vec();
        Self { db, keys, env }
    }

    fn set(&mut self, name: &str, value: &str) {
        self.env.retain(|(k, _)| k != name);
        self.env.push((name.to_owned(), value.to_owned()));
    }

    /// Runs `doctor` with `args`, under `faketime OFFSET` when given. On a blocking thread: the
    /// simulator answers on this test's runtime meanwhile.
    async fn doctor(&self, args: &[&str], faketime: Option<&str>) -> Report {
        let mut command = match faketime {
            Some(offset) => {
                let mut c = clean_command("faketime");
                c.args(["-f", offset, env!("CARGO_BIN_EXE_koolicense")]);
                c
            }
            None => koolicense_command(),
        };
        command.arg("doctor").args(args);
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        let output = tokio::task::spawn_blocking(move || command.output())
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("cannot run doctor (faketime installed?): {e}"));
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        let lines = text
            .lines()
            .filter_map(|line| {
                // `{verdict:<4}  {check}: {detail}`
                let (verdict, rest) = (line.get(..4)?, line.get(6..)?);
                let (check, detail) = rest.split_once(": ")?;
                Some((
                    check.to_owned(),
                    (verdict.trim().to_owned(), detail.to_owned()),
                ))
            })
            .collect();
        Report {
            exit: output.status.code().unwrap_or(-1),
            text,
            lines,
        }
    }
}

fn host(sim: &Marketplace) -> String {
    format!("marketplace {}", sim.url.trim_end_matches('/'))
}

/// No secret of the configuration appears in what doctor printed.
fn assert_no_secret(report: &Report) {
    for secret in [ACCESS_KEY, SIM_SK] {
        assert!(
            !report.text.contains(secret),
            "a secret was printed:\n{}",
            report.text
        );
    }
}

both_backends!(@backend everything_right_passes_and_prints_no_secret, |backend| async move {
    let sim = Marketplace::start().await;
    let setup = Setup::new(backend, &sim);
    let report = setup.doctor(&[], None).await;
    assert_eq!(report.exit, 0, "{}", report.text);
    assert!(report.failed().is_empty(), "{}", report.text);
    for check in ["configuration", "access key", "AK/SK", "database", "keys", "clock"] {
        assert_eq!(report.verdict(check), "ok", "{check}: {}", report.text);
    }
    assert_eq!(report.verdict(&host(&sim)), "ok");
    assert_eq!(report.verdict(&format!("AK/SK at {}", host(&sim))), "ok");
    assert_eq!(report.verdict("Key值"), "skip");
    assert!(report.detail("database").contains("none pending"), "{}", report.text);
    assert!(report.text.ends_with("none failed\n"), "{}", report.text);
    assert_no_secret(&report);
});

both_backends!(@backend a_database_not_migrated_fails, |backend| async move {
    let sim = Marketplace::start().await;
    let setup = Setup::new(backend, &sim);
    koolicense::db::revert_last_migration(&mut setup.db.connect()).unwrap();
    let report = setup.doctor(&[], None).await;
    assert_eq!(report.exit, 1);
    assert_eq!(report.failed(), vec!["database"], "{}", report.text);
    assert!(report.detail("database").contains("koolicense migrate"), "{}", report.text);
});

#[actix_web::test]
async fn a_wrong_sk_fails_and_is_not_printed() {
    let sim = Marketplace::start().await;
    let mut setup = Setup::new(Backend::Sqlite, &sim);
    setup.set("KOOLICENSE_APIG_SK", "not-the-sim-sk-6f1c");
    let report = setup.doctor(&[], None).await;
    assert_eq!(report.exit, 1);
    let aksk = format!("AK/SK at {}", host(&sim));
    assert_eq!(report.failed(), vec![aksk.as_str()], "{}", report.text);
    assert!(report.detail(&aksk).contains("refused"), "{}", report.text);
    assert!(
        !report.text.contains("not-the-sim-sk-6f1c"),
        "{}",
        report.text
    );
}

#[actix_web::test]
async fn an_unreachable_host_fails() {
    let sim = Marketplace::start().await;
    let mut setup = Setup::new(Backend::Sqlite, &sim);
    // Nothing listens there: bound, then released.
    let closed = format!("http://127.0.0.1:{}", free_port());
    setup.set("KOOLICENSE_MARKETPLACE_FALLBACK_URL", &closed);
    let report = setup.doctor(&[], None).await;
    assert_eq!(report.exit, 1);
    let fallback = format!("marketplace {closed}");
    assert_eq!(report.failed(), vec![fallback.as_str()], "{}", report.text);
    assert!(
        report.detail(&fallback).starts_with("unreachable"),
        "{}",
        report.text
    );
    // The primary answered: its clock was compared.
    assert_eq!(report.verdict("clock"), "ok", "{}", report.text);
}

#[actix_web::test]
async fn a_clock_minutes_off_fails() {
    let sim = Marketplace::start().await;
    let setup = Setup::new(Backend::Sqlite, &sim);
    let report = setup.doctor(&[], Some("+5m")).await;
    assert_eq!(report.exit, 1);
    assert_eq!(report.failed(), vec!["clock"], "{}", report.text);
    assert!(
        report.detail("clock").contains("ahead of"),
        "{}",
        report.text
    );
}

#[actix_web::test]
async fn a_private_key_others_can_read_fails() {
    let sim = Marketplace::start().await;
    let setup = Setup::new(Backend::Sqlite, &sim);
    let key = std::fs::read_dir(setup.keys.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "key"))
        .unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let report = setup.doctor(&[], None).await;
    assert_eq!(report.exit, 1);
    assert_eq!(report.failed(), vec!["key permissions"], "{}", report.text);
}

#[actix_web::test]
async fn a_missing_setting_and_a_bad_one_fail() {
    let sim = Marketplace::start().await;
    let mut setup = Setup::new(Backend::Sqlite, &sim);
    setup.env.retain(|(k, _)| k != "KOOLICENSE_ACCESS_KEY");
    let report = setup.doctor(&[], None).await;
    assert_eq!(report.failed(), vec!["access key"], "{}", report.text);

    setup.set("KOOLICENSE_TIMESTAMP_WINDOW_SECS", "soon");
    let report = setup.doctor(&[], None).await;
    assert_eq!(report.exit, 1);
    assert_eq!(report.failed(), vec!["configuration"], "{}", report.text);
    assert!(
        report
            .detail("configuration")
            .contains("KOOLICENSE_TIMESTAMP_WINDOW_SECS")
    );
}

both_backends!(@backend the_debug_cases_run_against_the_production_url, |backend| async move {
    // The server under test has KooGallery (the simulator) to fetch orders from.
    let (app, sim) = crate::marketplace::spawn_with_marketplace(backend).await;
    let setup = Setup::new(Backend::Sqlite, &sim);
    let url = app.url("/koogallery/license");
    let report = setup.doctor(&["--production-url", &url], None).await;
    let cases: Vec<&String> = report.lines.keys().filter(|c| c.starts_with("debug case ")).collect();
    assert!(cases.len() >= 10, "{}", report.text);
    // Every case passes; only the URL's form fails: KooGallery registers no http:// on a port.
    assert_eq!(report.failed(), vec!["production URL"], "{}", report.text);
    assert_eq!(report.exit, 1);

    // A server that holds another access key fails the signed cases.
    let mut wrong = Setup::new(Backend::Sqlite, &sim);
    wrong.set("KOOLICENSE_ACCESS_KEY", "some-other-access-key");
    let report = wrong.doctor(&["--production-url", &url], None).await;
    assert!(report.failed().len() > 2, "{}", report.text);
    assert!(!report.text.contains("some-other-access-key"), "{}", report.text);
});
