//! The accept loops: `workers` threads, each a single-threaded actix runtime taking connections
//! from the one listen socket, under one cap for the whole process.
//!
//! Not actix-server's: its per-worker cap is kept by the accept thread from a counter it reads
//! with `!=`, and a stale "worker available" wake-up pushes the counter past the limit, after
//! which nothing stops accepting. Under 300 slow clients and a cap of 48 it held 229 connections
//! and ran out of descriptors. Here each worker takes a permit of a semaphore sized to the cap
//! *before* it accepts, so no descriptor is ever taken beyond the cap. Past `shed_above` open
//! connections, each new one sheds the connection of its worker that has waited longest on its
//! client, and so does a worker that finds the cap reached, so slow clients cannot keep others
//! out: a fresh request is accepted soon and, being the youngest, served.

use std::future::poll_fn;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::rc::Rc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use actix_http::Protocol;
use actix_service::{Service, ServiceFactory};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use super::TimeLimits;
use super::clock::Registry;
use super::connection::GuardedStream;
use crate::metrics::Metrics;

/// How long a stopping server waits for its open requests to be answered: callbacks answer
/// within KooGallery's 5 s and client calls sooner, and supervisors (Kubernetes, most systemd
/// units) send SIGKILL 30 s after SIGTERM.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(20);
/// While the cap is reached, how often a worker looks again for connections to shed.
const FULL_RETRY: Duration = Duration::from_millis(50);
/// Pause after an accept error that is not the peer's (descriptors, memory), so the loop does
/// not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// How the accept loops run.
#[derive(Debug, Clone, Copy)]
pub struct ServerLimits {
    /// Worker threads.
    pub workers: usize,
    /// Connections open at once, all workers together.
    pub max_connections: usize,
    /// Above this many open connections, a new one sheds the longest-waiting one.
    pub shed_above: usize,
    /// Per-connection time limits.
    pub time: TimeLimits,
}

/// The running server.
pub struct HttpServer {
    stop: watch::Sender<bool>,
    workers: Vec<JoinHandle<()>>,
}

/// The HTTP service of one worker (actix-http's `HttpService` over [`GuardedStream`]).
pub trait ConnectionService:
    ServiceFactory<
        (GuardedStream, Protocol, Option<SocketAddr>),
        Config = (),
        Response = (),
        InitError = (),
    > + 'static
{
}

impl<T> ConnectionService for T where
    T: ServiceFactory<
            (GuardedStream, Protocol, Option<SocketAddr>),
            Config = (),
            Response = (),
            InitError = (),
        > + 'static
{
}

impl HttpServer {
    /// Starts the workers on `listener`, each with its own HTTP service made by `service`;
    /// returns once every worker listens.
    pub fn start<F, S>(
        listener: TcpListener,
        limits: ServerLimits,
        metrics: &Metrics,
        service: F,
    ) -> io::Result<Self>
    where
        F: Fn() -> S + Send + Clone + 'static,
        S: ConnectionService,
    {
        listener.set_nonblocking(true)?;
        let slots = Arc::new(Semaphore::new(limits.max_connections));
        let (stop, stopped) = watch::channel(false);
        let (ready_tx, ready) = std::sync::mpsc::channel();
        let mut workers = Vec::with_capacity(limits.workers);
        for index in 0..limits.workers {
            let listener = listener.try_clone()?;
            let worker = Worker {
                slots: Arc::clone(&slots),
                stopped: stopped.clone(),
                metrics: metrics.clone(),
                limits,
            };
            let (service, ready_tx) = (service.clone(), ready_tx.clone());
            // As actix-server does: the blocking threads of all workers together stay at
            // tokio's default for one runtime.
            let blocking_threads = (512 / limits.workers).max(1);
            let handle = std::thread::Builder::new()
                .name(format!("koolicense-http-{index}"))
                .spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .max_blocking_threads(blocking_threads)
                        .build();
                    let runtime = match runtime {
                        Ok(runtime) => runtime,
                        Err(e) => {
                            let _ = ready_tx.send(Err(format!("cannot start its runtime: {e}")));
                            return;
                        }
                    };
                    // A system of its own, as each actix-server worker has an arbiter: handlers
                    // spawn local tasks.
                    let system = actix_web::rt::System::with_tokio_rt(|| runtime);
                    system.block_on(worker.run(listener, service, ready_tx));
                })?;
            workers.push(handle);
        }
        drop(ready_tx);
        for _ in 0..limits.workers {
            match ready.recv() {
                Ok(Ok(())) => {}
                Ok(Err(reason)) => return Err(io::Error::other(format!("HTTP worker {reason}"))),
                Err(_) => return Err(io::Error::other("an HTTP worker stopped while starting")),
            }
        }
        Ok(Self { stop, workers })
    }

    /// Stops accepting and waits (at most [`SHUTDOWN_TIMEOUT`]) for the open requests to be
    /// answered and their connections closed.
    pub async fn stop(self) {
        tracing::info!("stopping: no new connections; answering the open requests");
        let _ = self.stop.send(true);
        for worker in self.workers {
            let _ = actix_web::rt::task::spawn_blocking(move || worker.join()).await;
        }
    }
}

/// What one worker thread owns.
struct Worker {
    slots: Arc<Semaphore>,
    stopped: watch::Receiver<bool>,
    metrics: Metrics,
    limits: ServerLimits,
}

impl Worker {
    /// Builds the worker's service (inside its runtime, which actix-http needs) and serves.
    async fn run<F, S>(
        mut self,
        listener: TcpListener,
        factory: F,
        ready: std::sync::mpsc::Sender<Result<(), String>>,
    ) where
        F: Fn() -> S,
        S: ConnectionService,
    {
        let (listener, service) = match (
            tokio::net::TcpListener::from_std(listener),
            factory().new_service(()).await,
        ) {
            (Ok(listener), Ok(service)) => (listener, Rc::new(service)),
            (Err(e), _) => {
                let _ = ready.send(Err(format!("cannot listen: {e}")));
                return;
            }
            (_, Err(())) => {
                let _ = ready.send(Err("cannot build its service".to_owned()));
                return;
            }
        };
        let _ = ready.send(Ok(()));
        drop(ready);
        let registry = Registry::default();
        loop {
            let Some(permit) = self.next_slot(&registry).await else {
                break;
            };
            let (tcp, peer) = tokio::select! {
                biased;
                _ = self.stopped.wait_for(|stop| *stop) => break,
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        pause_after(&e).await;
                        continue;
                    }
                },
            };
            let open = self.limits.max_connections - self.slots.available_permits();
            if open > self.limits.shed_above {
                registry.shed_longest_waiting(self.limits.time.shedding_grace(), 1);
            }
            let io = GuardedStream::new(tcp, self.limits.time, &self.metrics, &registry);
            let service = Rc::clone(&service);
            actix_web::rt::spawn(async move {
                let _permit = permit;
                if poll_fn(|cx| service.poll_ready(cx)).await.is_ok() {
                    let _ = service.call((io, Protocol::Http1, Some(peer))).await;
                }
            });
        }
        drain(&registry).await;
    }

    /// A permit for one more connection; `None` once the server stops. While the cap is
    /// reached, sheds connections that only wait on their clients, a few at a time, so that
    /// whoever waits in the backlog gets in.
    async fn next_slot(&mut self, registry: &Registry) -> Option<OwnedSemaphorePermit> {
        let batch =
            ((self.limits.max_connections - self.limits.shed_above) / self.limits.workers).max(1);
        loop {
            if let Ok(permit) = Arc::clone(&self.slots).try_acquire_owned() {
                return Some(permit);
            }
            registry.shed_longest_waiting(self.limits.time.shedding_grace(), batch);
            tokio::select! {
                biased;
                _ = self.stopped.wait_for(|stop| *stop) => return None,
                permit = Arc::clone(&self.slots).acquire_owned() => return permit.ok(),
                () = tokio::time::sleep(FULL_RETRY) => {}
            }
        }
    }
}

/// Waits until the worker's connections are closed (idle ones are closed at once), or the
/// shutdown timeout.
async fn drain(registry: &Registry) {
    let deadline = tokio::time::Instant::now() + SHUTDOWN_TIMEOUT;
    while registry.open() > 0 && tokio::time::Instant::now() < deadline {
        registry.shed_idle();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// After a failed accept: nothing for a connection the peer already gave up, a pause otherwise.
async fn pause_after(error: &io::Error) {
    if matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %error, "cannot accept a connection");
    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
}
