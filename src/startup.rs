//! One constructor builds the application, for `serve` and for the tests alike.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, middleware, web};
use anyhow::Context;
use tracing_actix_web::TracingLogger;

use crate::config::Settings;
use crate::db::{self, Pool};
use crate::keys::KeyStore;
use crate::koogallery::client::MarketplaceClient;
use crate::metrics::Metrics;

/// What every handler shares.
pub struct AppState {
    /// The database.
    pub pool: Pool,
    /// The checked settings.
    pub settings: Arc<Settings>,
    /// Signing keys.
    pub keys: Arc<KeyStore>,
    /// KooGallery's open APIs.
    pub marketplace: Arc<MarketplaceClient>,
    /// The client API's limits and per-code gates, shared by all workers.
    pub client_api: Arc<crate::api::ClientApi>,
    /// Marketplace calls refused before authentication, counted until the next flush.
    pub rejections: Arc<crate::koogallery::callbacks::rejections::Rejections>,
}

/// A bound, ready-to-run server.
pub struct Application {
    port: u16,
    server: Server,
}

/// Opens the database (creating and migrating it as needed) and returns the pool.
pub fn open_database(settings: &Settings) -> anyhow::Result<Pool> {
    let pool = db::build_pool(
        &settings.database_url,
        settings.db_pool_size,
        Duration::from_secs(10),
    )
    .with_context(|| {
        format!(
            "cannot open the database {}",
            settings.database_url.redacted()
        )
    })?;
    let mut conn = pool.get().context("cannot get a database connection")?;
    let applied = db::run_migrations(&mut conn)?;
    for version in applied {
        tracing::info!(migration.version = %version, "applied migration");
    }
    Ok(pool)
}

/// Loads the signing keys; generates a development key when the directory has none.
pub fn load_keys(settings: &Settings) -> anyhow::Result<KeyStore> {
    let (keys, generated) =
        KeyStore::load_or_generate_dev(&settings.keys_dir).with_context(|| {
            format!(
                "cannot load signing keys from {}",
                settings.keys_dir.display()
            )
        })?;
    if generated {
        tracing::warn!(
            keys.dir = %settings.keys_dir.display(),
            key.id = %keys.active_kid(),
            "generated a development signing key; for production generate and back up keys with \
             `koolicense keys generate`"
        );
    }
    Ok(keys)
}

impl Application {
    /// Opens storage, loads keys, binds the listener. Port 0 picks a free port (tests).
    pub fn build(settings: Settings) -> anyhow::Result<Self> {
        let pool = open_database(&settings)?;
        let keys = load_keys(&settings)?;
        let listener = TcpListener::bind(settings.listen)
            .with_context(|| format!("cannot listen on {}", settings.listen))?;
        let port = listener.local_addr()?.port();
        let marketplace = Arc::new(MarketplaceClient::new(&settings, pool.clone())?);
        let client_api = Arc::new(crate::api::ClientApi::new(&settings));
        let state = web::Data::new(AppState {
            rejections: Arc::new(crate::koogallery::callbacks::rejections::Rejections::new()?),
            client_api,
            pool,
            settings: Arc::new(settings),
            keys: Arc::new(keys),
            marketplace,
        });
        let server = run(listener, state.clone())?;
        crate::koogallery::upkeep::spawn(crate::koogallery::upkeep::Upkeep {
            pool: state.pool.clone(),
            rejections: Arc::clone(&state.rejections),
            node_id: state.settings.node_id.clone(),
            retention: state.settings.journal_retention(),
        });
        if state.settings.worker_enabled {
            // Background work with KooGallery (uploads, order queries, usage reports).
            let (pool, client) = (state.pool.clone(), Arc::clone(&state.marketplace));
            crate::koogallery::outbox::spawn_worker(pool, client, state.settings.node_id.clone());
        }
        Ok(Self { port, server })
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until the process is told to stop.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

fn run(listener: TcpListener, state: web::Data<AppState>) -> anyhow::Result<Server> {
    let metrics = Metrics::new()?;
    state.rejections.register(metrics.registry())?;
    actix_web::rt::spawn(crate::memory::release_when_idle(
        state.pool.clone(),
        metrics.clone(),
    ));
    let metrics = web::Data::new(metrics);
    let workers = state.settings.http_workers;
    let server = HttpServer::new(move || {
        App::new()
            .wrap(middleware::from_fn(crate::metrics::record))
            .wrap(middleware::from_fn(crate::telemetry::request_id_header))
            .wrap(TracingLogger::<crate::telemetry::RedactedRootSpan>::new())
            .app_data(state.clone())
            .app_data(metrics.clone())
            .configure(configure)
    })
    .workers(workers)
    .listen(listener)?
    .run();
    Ok(server)
}

/// Registers every route of the service.
pub fn configure(cfg: &mut web::ServiceConfig) {
    crate::ops::configure(cfg);
    crate::koogallery::produce::configure(cfg);
    crate::api::configure(cfg);
    crate::admin::configure(cfg);
}
