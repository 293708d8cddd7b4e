//! The client SDK (`client.md`) against a real koolicense server and `koolicense sim`, on both
//! backends: every status through the path that produces it, offline verification, tampering,
//! the clock, a man in the middle, air-gapped machines, the C and Python examples, and several
//! processes on one data directory.

/// Runs a blocking SDK call off the async runtime: `call!(client, |c| c.check())`.
macro_rules! call {
    ($client:expr, |$c:ident| $call:expr) => {
        $crate::sdk::run(&$client, move |$c| $call).await
    };
}

mod clock;
mod examples;
mod mitm;
mod offline;
mod sharing;
mod statuses;

use std::path::PathBuf;
use std::sync::Arc;

use koolicense_client::{Client, Error, Status, Verdict};
use serde_json::json;

use crate::client_api::{self, machine};
use crate::helpers::Backend;

/// A server, its simulator, and data directories for SDK clients.
pub struct Sdk {
    pub market: client_api::Client,
    /// The server's `GET /v1/keys` document, as an application embeds it.
    pub keys_json: String,
    pub dirs: tempfile::TempDir,
}

impl Sdk {
    pub async fn start(backend: Backend) -> Self {
        Self::start_with(backend, &[]).await
    }

    pub async fn start_with(backend: Backend, extra: &[(&str, &str)]) -> Self {
        let market = client_api::start_with(backend, extra).await;
        let keys_json = market.app.get("/v1/keys").await.text().await.unwrap();
        Self {
            market,
            keys_json,
            dirs: tempfile::tempdir().unwrap(),
        }
    }

    /// The data directory named `name`.
    pub fn dir(&self, name: &str) -> PathBuf {
        self.dirs.path().join(name)
    }

    /// The keys document as a file, for the command line and the examples.
    pub fn keys_file(&self) -> PathBuf {
        let path = self.dirs.path().join("keys.json");
        std::fs::write(&path, &self.keys_json).unwrap();
        path
    }

    /// A client of this server on data directory `name`, as machine `n`.
    pub fn client(&self, name: &str, n: usize) -> Arc<Client> {
        self.client_of(Some(&self.market.app.address), name, &machine(n))
    }

    /// A client of `server` (`None`: air-gapped) on data directory `name` with `fingerprint`.
    pub fn client_of(&self, server: Option<&str>, name: &str, fingerprint: &str) -> Arc<Client> {
        let mut builder = Client::builder(self.dir(name))
            .public_keys(&self.keys_json)
            .fingerprint(fingerprint)
            .timeout_ms(3000);
        if let Some(server) = server {
            builder = builder.server(server);
        }
        Arc::new(builder.open().unwrap())
    }

    /// A License 2.0 callback that must succeed.
    pub async fn callback(&self, body: serde_json::Value) {
        let answer = self.market.app.callback(&body).await;
        assert_eq!(answer.code(), "000000", "{body}: {}", answer.body);
    }

    pub async fn freeze(&self, code: &str, status: &str) {
        self.callback(
            json!({"activity": "updateLicenseCodeStatus", "license": code, "status": status}),
        )
        .await;
    }
}

/// Runs a blocking SDK call off the async runtime.
pub async fn run<T: Send + 'static>(
    client: &Arc<Client>,
    call: impl FnOnce(&Client) -> T + Send + 'static,
) -> T {
    let client = Arc::clone(client);
    actix_web::rt::task::spawn_blocking(move || call(&client))
        .await
        .unwrap()
}

/// The status of an SDK outcome, verdict or error.
pub fn status(outcome: &Result<Verdict, Error>) -> Status {
    match outcome {
        Ok(verdict) => verdict.status(),
        Err(error) => error.status(),
    }
}

/// The directory of the test binary's build artifacts (`target/debug`).
fn artifacts_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .and_then(|deps| deps.parent())
        .unwrap()
        .to_path_buf()
}

/// A build artifact next to the test binary (`target/debug/NAME`): the SDK's command line,
/// built by the README's test command along with the tests.
pub fn artifact(name: &str) -> PathBuf {
    let path = artifacts_dir().join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo test --all-targets` (it builds the koolicense-client package too)",
        path.display()
    );
    path
}

/// The SDK's shared library (`target/debug/libkoolicense_client.so`), built from the current
/// sources once per test run. `cargo test` builds a dependency's library as an rlib only, never
/// its `cdylib`, so the examples' tests ask cargo for it themselves (a no-op when it is fresh;
/// cargo holds no build lock while tests run).
pub fn shared_library() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let debug = artifacts_dir();
            let target = debug.parent().unwrap();
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let out = std::process::Command::new(cargo)
                .args(["build", "--quiet", "-p", "koolicense-client", "--lib"])
                .arg("--manifest-path")
                .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
                .arg("--target-dir")
                .arg(target)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "cargo build -p koolicense-client failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            artifact("libkoolicense_client.so")
        })
        .clone()
}

/// A URL where no server listens.
pub fn dead_server() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

/// Runs a test body against both backends with a fresh server, simulator and directories.
#[macro_export]
macro_rules! with_sdk {
    ($name:ident, $body:expr) => {
        $crate::both_backends!(@backend $name, |backend| async move {
            let sdk = $crate::sdk::Sdk::start(backend).await;
            ($body)(sdk).await;
        });
    };
}
