//! One constructor builds the application, for `serve` and for the tests alike.

mod in_flight;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, middleware, web};
use anyhow::Context;
use tracing_actix_web::TracingLogger;

use self::in_flight::InFlight;
use crate::config::Settings;
use crate::db::{self, Pool};
use crate::keys::KeyStore;
use crate::koogallery::client::MarketplaceClient;
use crate::koogallery::outbox::{self, Stopped, Worker};
use crate::metrics::Metrics;

/// How long in-flight requests get to finish once a stop is asked for: callbacks answer within
/// KooGallery's 5 s and client calls sooner, and supervisors (Kubernetes, most systemd units)
/// send SIGKILL 30 s after SIGTERM.
const HTTP_GRACE: Duration = Duration::from_secs(20);

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

/// A bound, ready-to-run server, with this node's job worker when it has one.
pub struct Application {
    port: u16,
    server: Server,
    in_flight: web::Data<InFlight>,
    worker: Option<Worker>,
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
    for warning in keys.warnings() {
        tracing::warn!(keys.dir = %settings.keys_dir.display(), "{warning}");
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
        let in_flight = web::Data::new(InFlight::default());
        let server = run(listener, state.clone(), in_flight.clone())?;
        crate::koogallery::upkeep::spawn(crate::koogallery::upkeep::Upkeep {
            pool: state.pool.clone(),
            rejections: Arc::clone(&state.rejections),
            node_id: state.settings.node_id.clone(),
            retention: state.settings.journal_retention(),
        });
        // Background work with KooGallery (uploads, order queries, usage reports).
        let worker = state.settings.worker_enabled.then(|| {
            let (pool, client) = (state.pool.clone(), Arc::clone(&state.marketplace));
            outbox::spawn_worker(pool, client, state.settings.node_id.clone())
        });
        Ok(Self {
            port,
            server,
            in_flight,
            worker,
        })
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until the server is stopped from outside (tests); the worker runs as long.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let Self { server, worker, .. } = self;
        let served = server.await;
        drop(worker);
        served
    }

    /// Serves until `stop` resolves with what asked for it (`"SIGTERM"`), then stops gracefully:
    /// no new connections, in-flight requests finish (for up to 20 s) and close their
    /// connections, and at the same time the worker claims no more jobs while its running ones
    /// finish or give their leases back ([`outbox::SHUTDOWN_GRACE`]). Queued jobs stay queued
    /// for the next start of any node.
    pub async fn run_until(self, stop: impl Future<Output = &'static str>) -> std::io::Result<()> {
        let Self {
            mut server,
            in_flight,
            worker,
            ..
        } = self;
        let asked = tokio::select! {
            served = &mut server => return served,
            asked = stop => asked,
        };
        tracing::info!(
            signal = asked,
            http.requests = in_flight.count(),
            "stopping: in-flight requests and running jobs finish first"
        );
        let handle = server.handle();
        let requests = async move {
            in_flight.stop();
            handle.pause().await;
            if tokio::time::timeout(HTTP_GRACE, in_flight.idle())
                .await
                .is_err()
            {
                tracing::warn!(
                    http.requests = in_flight.count(),
                    "cutting off requests still in flight after 20 s"
                );
            }
            // Answered now, though maybe not yet written out: the graceful stop returns once
            // the workers have closed their connections, each after writing its last answer.
            handle.stop(true).await;
        };
        let jobs = async move {
            match worker {
                Some(worker) => worker.shutdown(outbox::SHUTDOWN_GRACE).await,
                None => Stopped::default(),
            }
        };
        let (served, (), stopped) = tokio::join!(server, requests, jobs);
        tracing::info!(
            jobs.finished = stopped.finished,
            jobs.released = stopped.released,
            "koolicense stopped"
        );
        served
    }
}

fn run(
    listener: TcpListener,
    state: web::Data<AppState>,
    in_flight: web::Data<InFlight>,
) -> anyhow::Result<Server> {
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
            .wrap(middleware::from_fn(in_flight::track))
            .app_data(in_flight.clone())
            .app_data(state.clone())
            .app_data(metrics.clone())
            .configure(configure)
    })
    .workers(workers)
    // `Application::run_until` handles the signals, so the worker stops along with the server.
    .disable_signals()
    // Only idle keep-alive connections are left when the workers are stopped (requests in
    // flight are waited for first), so they need no long grace.
    .shutdown_timeout(1)
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
