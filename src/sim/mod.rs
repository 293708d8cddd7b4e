//! `koolicense sim`: a local `KooGallery`.
//!
//! * `sim serve` plays the marketplace's open APIs (activate, query, usage statistics, order
//!   query, license upload) behind a gateway that checks AK/SK signatures exactly as APIG
//!   does, with state in memory, fault injection, and a control API under `/sim/`.
//! * `sim drive URL` plays the seller console: it runs every debug case against a
//!   production URL and prints pass/fail per case.
//!
//! Tests start the simulator in-process with [`spawn`] and the driver with [`drive()`].

mod cases;
mod control;
pub mod drive;
mod gateway;
mod multipart;
mod open_api;
pub mod orders;
pub mod records;
pub mod state;
mod upload;

use std::net::{SocketAddr, TcpListener};

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpServer, web};
use anyhow::Context;

pub use drive::{CaseResult, drive};

/// The AK the simulator accepts when none is configured.
pub const DEFAULT_AK: &str = "sim-ak";
/// The SK of [`DEFAULT_AK`].
pub const DEFAULT_SK: &str = "sim-sk";

/// What `koolicense sim` can do.
#[derive(Debug, clap::Subcommand)]
pub enum SimCommand {
    /// Serve KooGallery's open APIs locally (state in memory; control API under /sim/).
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:7070")]
        listen: SocketAddr,
        /// Access key to accept; repeat with --sk for several pairs (default sim-ak).
        #[arg(long = "ak", value_name = "AK")]
        ak: Vec<String>,
        /// Secret key of the --ak at the same position (default sim-sk).
        #[arg(long = "sk", value_name = "SK")]
        sk: Vec<String>,
    },
    /// Run every debug case against a production URL, as the seller console does.
    Drive {
        /// The production interface, e.g. `https://isv.example.com/koogallery/license`.
        url: String,
        /// The KooGallery access key the server verifies signatures with.
        #[arg(long, env = "KOOLICENSE_ACCESS_KEY", hide_env_values = true)]
        access_key: String,
        /// The Key值: when given, every answer's `Body-Sign` header must verify.
        #[arg(long, env = "KOOLICENSE_LEGACY_KEY", hide_env_values = true)]
        legacy_key: Option<String>,
        /// Print each request and answer.
        #[arg(long)]
        verbose: bool,
    },
}

/// A running simulator started by [`spawn`]. Dropping it stops the server too.
#[derive(Debug)]
pub struct SimHandle {
    addr: SocketAddr,
    handle: ServerHandle,
}

impl SimHandle {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://host:port`, the value for `KOOLICENSE_MARKETPLACE_URL`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The actix server handle.
    pub fn server_handle(&self) -> ServerHandle {
        self.handle.clone()
    }

    /// Stops the server and waits for it to finish.
    pub async fn stop(&self) {
        self.handle.stop(false).await;
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        // `stop` sends its command eagerly; the returned future only waits for completion.
        drop(self.handle.stop(false));
    }
}

/// The accepted AK/SK pairs, defaulting to `sim-ak`/`sim-sk`.
fn credentials_or_default(credentials: Vec<(String, String)>) -> Vec<(String, String)> {
    if credentials.is_empty() {
        vec![(DEFAULT_AK.to_owned(), DEFAULT_SK.to_owned())]
    } else {
        credentials
    }
}

/// Binds and builds the server; `signals` lets `sim serve` stop on Ctrl-C.
fn build(
    listen: SocketAddr,
    credentials: Vec<(String, String)>,
    signals: bool,
) -> anyhow::Result<(SocketAddr, actix_web::dev::Server)> {
    let listener =
        TcpListener::bind(listen).with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr()?;
    let sim = web::Data::new(state::Sim::new(credentials_or_default(credentials)));
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(sim.clone())
            .configure(control::configure)
            .default_service(web::to(gateway::handle))
    })
    .workers(1)
    .shutdown_timeout(1);
    if !signals {
        server = server.disable_signals();
    }
    Ok((addr, server.listen(listener)?.run()))
}

/// Starts a simulator on `listen` (port 0 picks a free port) accepting `credentials`
/// (AK, SK) pairs, or `sim-ak`/`sim-sk` when empty. Runs on the current Tokio runtime.
#[expect(
    clippy::unused_async,
    reason = "async so it can only be called inside a runtime, where `tokio::spawn` works"
)]
pub async fn spawn(
    listen: SocketAddr,
    credentials: Vec<(String, String)>,
) -> anyhow::Result<SimHandle> {
    let (addr, server) = build(listen, credentials, false)?;
    let handle = server.handle();
    tokio::spawn(server);
    Ok(SimHandle { addr, handle })
}

/// Runs a `sim` command; the `Ok` value is the exit code.
pub async fn run(cmd: &SimCommand) -> anyhow::Result<i32> {
    match cmd {
        SimCommand::Serve { listen, ak, sk } => {
            if ak.len() != sk.len() {
                anyhow::bail!(
                    "give one --sk for every --ak (got {} and {})",
                    ak.len(),
                    sk.len()
                );
            }
            let credentials: Vec<(String, String)> =
                ak.iter().cloned().zip(sk.iter().cloned()).collect();
            let aks: Vec<String> = credentials_or_default(credentials.clone())
                .into_iter()
                .map(|(a, _)| a)
                .collect();
            crate::telemetry::init_subscriber(crate::telemetry::get_subscriber(
                crate::config::LogFormat::Pretty,
                "info,actix_server=warn",
                std::io::stderr,
            ));
            let (addr, server) = build(*listen, credentials, true)?;
            println!(
                "koolicense sim: KooGallery open APIs on http://{addr} (AK {}), control API under /sim/",
                aks.join(", ")
            );
            server.await?;
            Ok(0)
        }
        SimCommand::Drive {
            url,
            access_key,
            legacy_key,
            verbose,
        } => {
            let results = drive(url, access_key, legacy_key.as_deref()).await;
            Ok(print_results(&results, *verbose))
        }
    }
}

/// Prints one line per case and a summary; returns the exit code (0 only if all passed).
fn print_results(results: &[CaseResult], verbose: bool) -> i32 {
    for result in results {
        if verbose {
            for line in &result.transcript {
                println!("    {line}");
            }
        }
        match &result.failure {
            None => println!("PASS {}", result.name),
            Some(reason) => println!("FAIL {}: {reason}", result.name),
        }
    }
    let passed = results.iter().filter(|r| r.passed()).count();
    let failed = results.len() - passed;
    println!("{passed} passed, {failed} failed");
    i32::from(failed != 0 || results.is_empty())
}
