//! The command line: `serve`, `migrate`, `doctor`, `backup`, `restore`, `keys`, `verify`,
//! `fingerprint`, `admin`, `sim`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::config::Settings;
use crate::keys::KeyStore;
use crate::license_file::DEFAULT_CLOCK_TOLERANCE;
use crate::startup::{self, Application};
use crate::telemetry;

/// koolicense: a license server for Huawei Cloud KooGallery.
#[derive(Debug, Parser)]
#[command(name = "koolicense", version, about)]
pub struct Cli {
    /// A TOML file with settings (the environment wins over it).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply pending migrations, then serve HTTP.
    Serve,
    /// Apply pending migrations and exit.
    Migrate,
    /// Check what going live needs: settings, database, keys, KooGallery's hosts, the clock,
    /// the AK/SK; one line per check, exit 1 when any fails. Prints no secret.
    Doctor {
        /// Also run the seller console's debug cases against this production URL (the public
        /// `https://.../koogallery/license` KooGallery will call).
        #[arg(long, value_name = "URL")]
        production_url: Option<String>,
    },
    /// Copy the SQLite database to FILE, consistently, while the server serves. The keys
    /// directory is not in it: back it up separately, it cannot be regenerated.
    Backup {
        /// The file to write (must not exist).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Put a backup in place of the SQLite database (the server must be stopped).
    Restore {
        /// The backup file.
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
        /// Replace an existing database (it is kept as `PATH.before-restore`).
        #[arg(long)]
        force: bool,
    },
    /// Manage Ed25519 signing keys in the keys directory.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Verify a license file offline.
    Verify {
        /// The license file.
        #[arg(long, value_name = "FILE")]
        license: PathBuf,
        /// A public key file (`KID.pub`).
        #[arg(
            long,
            value_name = "FILE",
            conflicts_with = "keys_url",
            required_unless_present = "keys_url"
        )]
        public_key: Option<PathBuf>,
        /// A koolicense `/v1/keys` URL.
        #[arg(long, value_name = "URL")]
        keys_url: Option<String>,
        /// The fingerprint the license must be bound to.
        #[arg(long, value_name = "FP")]
        fingerprint: Option<String>,
        /// How many seconds this clock may be behind the license's `not_before`.
        #[arg(long, value_name = "N", default_value_t = DEFAULT_CLOCK_TOLERANCE.as_secs())]
        clock_tolerance_secs: u64,
    },
    /// Print this machine's fingerprint in KooGallery's `MAC|disk|board|cpu` form.
    Fingerprint,
    /// Admin API tokens.
    Admin {
        #[command(subcommand)]
        command: crate::admin::cli::AdminCommand,
    },
    /// A local KooGallery: serve its open APIs, or drive a production URL through every debug case.
    Sim {
        #[command(subcommand)]
        command: crate::sim::SimCommand,
    },
}

/// Key management actions.
#[derive(Debug, Subcommand)]
pub enum KeysAction {
    /// Create a key; it becomes active only if no key is active yet.
    Generate,
    /// List keys with their status.
    List,
    /// Create a key and make it active; old keys stay for verification.
    Rotate,
}

fn settings(cli: &Cli) -> anyhow::Result<Settings> {
    Ok(Settings::load(cli.config.as_deref())?)
}

fn init_logs(settings: &Settings) {
    telemetry::init_subscriber(telemetry::get_subscriber(
        settings.server.log_format,
        "info,actix_server=warn",
        std::io::stderr,
    ));
}

/// Resolves on the first SIGTERM or SIGINT with its name: both stop `serve` gracefully.
#[cfg(unix)]
fn stop_signal() -> anyhow::Result<impl Future<Output = &'static str>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = interrupt.recv() => "SIGINT",
        }
    })
}

/// Resolves on the first Ctrl-C.
#[cfg(not(unix))]
fn stop_signal() -> anyhow::Result<impl Future<Output = &'static str>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    })
}

/// Runs the command; the `Ok` value is the process exit code.
pub async fn run(cli: Cli) -> anyhow::Result<i32> {
    match &cli.command {
        Command::Serve => {
            let settings = settings(&cli)?;
            init_logs(&settings);
            tracing::info!(
                listen = %settings.server.listen,
                database = %settings.database.url.redacted(),
                "starting koolicense"
            );
            let app = Application::build(settings)?;
            app.run_until(stop_signal()?).await?;
            Ok(0)
        }
        Command::Migrate => {
            let settings = settings(&cli)?;
            init_logs(&settings);
            startup::open_database(&settings)?;
            println!("migrations applied to {}", settings.database.url.redacted());
            Ok(0)
        }
        Command::Doctor { production_url } => {
            let findings =
                crate::doctor::run(cli.config.as_deref(), production_url.as_deref()).await;
            Ok(crate::doctor::print(&findings))
        }
        Command::Backup { out } => crate::db_commands::backup(&settings(&cli)?, out),
        Command::Restore { from, force } => {
            crate::db_commands::restore(&settings(&cli)?, from, *force)
        }
        Command::Keys { action } => keys(&settings(&cli)?, action),
        Command::Verify {
            license,
            public_key,
            keys_url,
            fingerprint,
            clock_tolerance_secs,
        } => {
            verify(
                license,
                public_key.as_deref(),
                keys_url.as_deref(),
                fingerprint.as_deref(),
                Duration::from_secs(*clock_tolerance_secs),
            )
            .await
        }
        Command::Fingerprint => {
            println!("{}", crate::domain::fingerprint::this_machine());
            Ok(0)
        }
        Command::Sim { command } => crate::sim::run(command).await,
        Command::Admin { command } => {
            let settings = settings(&cli)?;
            init_logs(&settings);
            crate::admin::cli::run(&settings, command)
        }
    }
}

fn keys(settings: &Settings, action: &KeysAction) -> anyhow::Result<i32> {
    let dir = &settings.keys.dir;
    match action {
        KeysAction::Generate => println!("{}", KeyStore::generate(dir)?),
        KeysAction::Rotate => println!("{}", KeyStore::rotate(dir)?),
        KeysAction::List => {
            let (keys, warnings) = KeyStore::list_with_warnings(dir)?;
            for key in keys {
                println!("{}\t{}\t{}", key.kid, key.status, key.public_key_b64);
            }
            // On stderr, so the listing on stdout stays machine-readable.
            for warning in warnings {
                eprintln!("warning: {warning}");
            }
        }
    }
    Ok(0)
}

async fn verify(
    license: &std::path::Path,
    public_key: Option<&std::path::Path>,
    keys_url: Option<&str>,
    fingerprint: Option<&str>,
    clock_tolerance: Duration,
) -> anyhow::Result<i32> {
    let text = std::fs::read_to_string(license)
        .with_context(|| format!("cannot read {}", license.display()))?;
    let verifier = match (public_key, keys_url) {
        (Some(path), _) => crate::keys::verifier_from_public_key_file(path)?,
        (None, Some(url)) => {
            let body = reqwest::get(url)
                .await
                .and_then(reqwest::Response::error_for_status)
                .with_context(|| format!("cannot fetch keys from {url}"))?
                .text()
                .await?;
            crate::keys::verifier_from_keys_json(&body)?
        }
        (None, None) => anyhow::bail!("give --public-key FILE or --keys-url URL"),
    };
    match crate::license_file::verify(
        &text,
        &verifier,
        fingerprint,
        chrono::Utc::now(),
        clock_tolerance,
    ) {
        Ok(payload) => {
            println!(
                "valid: license {} revision {}",
                payload.license_id, payload.revision
            );
            Ok(0)
        }
        Err(reason) => {
            println!("invalid: {reason}");
            Ok(1)
        }
    }
}
