//! One constructor builds the application, for `serve` and for the tests alike.

mod in_flight;

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix_http::HttpService;
use actix_service::{IntoServiceFactory, ServiceFactoryExt, map_config};
use actix_web::dev::AppConfig;
use actix_web::{App, middleware, web};
use anyhow::Context;
use tracing_actix_web::TracingLogger;

use self::in_flight::InFlight;
use crate::config::Settings;
use crate::db::{self, Pool};
use crate::http_limits::server::{HttpServer, ServerLimits};
use crate::http_limits::{self, ConnectionBudget, GuardedStream, TimeLimits};
use crate::keys::KeyStore;
use crate::koogallery::client::MarketplaceClient;
use crate::koogallery::outbox::{self, Stopped, Worker};
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
    /// The client API's limits, shared by all workers.
    pub client_api: Arc<crate::api::ClientApi>,
    /// The client API's rules (activate, check in, deactivate).
    pub bindings: Arc<crate::service::Bindings>,
    /// Marketplace calls refused before authentication, counted until the next flush.
    pub rejections: Arc<crate::koogallery::callbacks::rejections::Rejections>,
}

/// A bound, ready-to-run server, with this node's job worker when it has one.
pub struct Application {
    port: u16,
    server: HttpServer,
    in_flight: web::Data<InFlight>,
    worker: Option<Worker>,
}

/// Opens the database (creating and migrating it as needed) and returns the pool.
pub fn open_database(settings: &Settings) -> anyhow::Result<Pool> {
    let pool = db::build_pool(
        &settings.database.url,
        settings.database.pool_size,
        Duration::from_secs(10),
    )
    .with_context(|| {
        format!(
            "cannot open the database {}",
            settings.database.url.redacted()
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
        KeyStore::load_or_generate_dev(&settings.keys.dir).with_context(|| {
            format!(
                "cannot load signing keys from {}",
                settings.keys.dir.display()
            )
        })?;
    if generated {
        tracing::warn!(
            keys.dir = %settings.keys.dir.display(),
            key.id = %keys.active_kid(),
            "generated a development signing key; for production generate and back up keys with \
             `koolicense keys generate`"
        );
    }
    for warning in keys.warnings() {
        tracing::warn!(keys.dir = %settings.keys.dir.display(), "{warning}");
    }
    Ok(keys)
}

impl Application {
    /// Opens storage, loads keys, binds the listener. Port 0 picks a free port (tests).
    pub fn build(settings: Settings) -> anyhow::Result<Self> {
        let pool = open_database(&settings)?;
        let keys = load_keys(&settings)?;
        let listener = listen(settings.server.listen)
            .with_context(|| format!("cannot listen on {}", settings.server.listen))?;
        let port = listener.local_addr()?.port();
        let marketplace = Arc::new(MarketplaceClient::new(&settings, pool.clone())?);
        let client_api = Arc::new(crate::api::ClientApi::new(&settings));
        let keys = Arc::new(keys);
        let bindings = Arc::new(crate::service::Bindings::new(
            pool.clone(),
            Arc::clone(&keys),
            Arc::clone(&marketplace),
            &settings,
        ));
        let state = web::Data::new(AppState {
            rejections: Arc::new(crate::koogallery::callbacks::rejections::Rejections::new()?),
            client_api,
            bindings,
            pool,
            settings: Arc::new(settings),
            keys,
            marketplace,
        });
        let in_flight = web::Data::new(InFlight::default());
        let server = run(listener, state.clone(), in_flight.clone())?;
        crate::koogallery::upkeep::spawn(crate::koogallery::upkeep::Upkeep {
            pool: state.pool.clone(),
            rejections: Arc::clone(&state.rejections),
            node_id: state.settings.server.node_id.clone(),
            retention: state.settings.jobs.journal_retention(),
        });
        // Background work with KooGallery (uploads, order queries, usage reports).
        let worker = state.settings.jobs.worker_enabled.then(|| {
            let (pool, client) = (state.pool.clone(), Arc::clone(&state.marketplace));
            outbox::spawn_worker(pool, client, state.settings.server.node_id.clone())
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

    /// Serves for as long as the process runs (in-process servers of the tests); the worker
    /// runs as long.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until(std::future::pending()).await
    }

    /// Serves until `stop` resolves with what asked for it (`"SIGTERM"`), then stops gracefully:
    /// no new connections, in-flight requests finish (for up to
    /// [`http_limits::server::SHUTDOWN_TIMEOUT`]) and close their connections, and at the same
    /// time the worker claims no more jobs while its running ones finish or give their leases
    /// back ([`outbox::SHUTDOWN_GRACE`]). Queued jobs stay queued for the next start of any node.
    pub async fn run_until(self, stop: impl Future<Output = &'static str>) -> std::io::Result<()> {
        let Self {
            server,
            in_flight,
            worker,
            ..
        } = self;
        let asked = stop.await;
        tracing::info!(
            signal = asked,
            http.requests = in_flight.count(),
            "stopping: in-flight requests and running jobs finish first"
        );
        // From now on every answer closes its connection; the accept loops take no new ones and
        // wait for the open ones.
        in_flight.stop();
        let jobs = async move {
            match worker {
                Some(worker) => worker.shutdown(outbox::SHUTDOWN_GRACE).await,
                None => Stopped::default(),
            }
        };
        let ((), stopped) = tokio::join!(server.stop(), jobs);
        tracing::info!(
            jobs.finished = stopped.finished,
            jobs.released = stopped.released,
            "koolicense stopped"
        );
        Ok(())
    }
}

/// Binds `addr` with a backlog deep enough for the connections that wait while every worker is
/// at its connection cap (`std` would queue 128).
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    // As `std` does: a restarted server can take its port while old connections linger.
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(http_limits::LISTEN_BACKLOG)?;
    Ok(socket.into())
}

/// The HTTP server: actix-web's application on actix-http's service, run by our accept loops
/// ([`crate::http_limits`]) so that every connection carries the request deadline and the
/// connection cap holds.
fn run(
    listener: TcpListener,
    state: web::Data<AppState>,
    in_flight: web::Data<InFlight>,
) -> anyhow::Result<HttpServer> {
    let metrics = Metrics::new()?;
    state.rejections.register(metrics.registry())?;
    state.pool.register(metrics.registry())?;
    actix_web::rt::spawn(crate::memory::release_when_idle(
        state.pool.clone(),
        metrics.clone(),
    ));
    let time = TimeLimits::from_settings(&state.settings);
    let budget = ConnectionBudget::decide(&state.settings, http_limits::budget::current_fd_limit());
    if let Some(warning) = &budget.warning {
        tracing::warn!(http.max_connections = budget.total, "{warning}");
    }
    tracing::info!(
        http.max_connections = budget.total,
        http.request_timeout_ms = time.request_timeout.as_millis(),
        http.keep_alive_secs = time.keep_alive.as_secs(),
        "HTTP limits"
    );
    let limits = ServerLimits {
        workers: state.settings.server.http_workers,
        max_connections: budget.total,
        shed_above: budget.shed_above(),
        time,
    };
    let local_addr = listener.local_addr()?;
    let app_metrics = metrics.clone();
    // One per process, shared by the workers: it caches the database gauges.
    let gauges = web::Data::new(crate::ops::gauges::Gauges::default());
    let server = HttpServer::start(listener, limits, &metrics, move || {
        let app = App::new()
            .wrap(middleware::from_fn(http_limits::deadline::enforce))
            .wrap(middleware::from_fn(crate::metrics::record))
            .wrap(middleware::from_fn(crate::telemetry::request_id_header))
            .wrap(TracingLogger::<crate::telemetry::RedactedRootSpan>::new())
            .wrap(middleware::from_fn(in_flight::track))
            .app_data(in_flight.clone())
            .app_data(state.clone())
            .app_data(web::Data::new(app_metrics.clone()))
            .app_data(gauges.clone())
            .configure(configure);
        HttpService::build()
            .keep_alive(time.actix_keep_alive())
            .client_request_timeout(time.first_head_fallback())
            .client_disconnect_timeout(Duration::from_secs(1))
            .local_addr(local_addr)
            .on_connect_ext(|io: &GuardedStream, data: &mut actix_http::Extensions| {
                data.insert(io.clock());
            })
            .finish(map_config(
                app.into_factory()
                    .map_err(|err: actix_web::Error| err.error_response()),
                // Without a Host header, actix-web falls back to this config's host.
                |()| AppConfig::default(),
            ))
    })?;
    Ok(server)
}

/// Registers every route of the service.
pub fn configure(cfg: &mut web::ServiceConfig) {
    crate::ops::configure(cfg);
    crate::koogallery::produce::configure(cfg);
    crate::api::configure(cfg);
    crate::admin::configure(cfg);
    crate::console::configure(cfg);
}
