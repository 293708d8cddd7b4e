//! The requests being handled, so that a stopping server waits for them itself: asked to stop
//! gracefully, actix-server 2.6 can still drop a request in flight, when a worker sees its
//! connection channel close before its stop message (actix/actix-net#945; the releases with the
//! fix need a newer Rust than this crate's `rust-version`).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::ConnectionType;
use actix_web::middleware::Next;
use actix_web::web;
use tokio::sync::Notify;

/// How many requests are being handled, shared by every HTTP worker.
#[derive(Debug, Default)]
pub struct InFlight {
    count: AtomicUsize,
    stopping: AtomicBool,
    idle: Notify,
}

impl InFlight {
    /// From now on every answer closes its connection, so keep-alive clients reconnect elsewhere.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }

    /// Requests being handled now.
    pub fn count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    /// Resolves once no request is being handled.
    pub async fn idle(&self) {
        loop {
            // Created before the check, so a wake-up between the two is not missed.
            let idle = self.idle.notified();
            if self.count() == 0 {
                return;
            }
            idle.await;
        }
    }
}

/// One request being handled; dropped when its answer is ready or its future is dropped.
struct Handling(web::Data<InFlight>);

impl Drop for Handling {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// Middleware: counts each request while it is handled; once stopping, closes its connection.
pub async fn track(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let Some(in_flight) = req.app_data::<web::Data<InFlight>>().cloned() else {
        return next.call(req).await;
    };
    in_flight.count.fetch_add(1, Ordering::SeqCst);
    let handling = Handling(in_flight);
    let mut response = next.call(req).await?;
    if handling.0.stopping.load(Ordering::SeqCst) {
        let head = response.response_mut().head_mut();
        head.set_connection_type(ConnectionType::Close);
    }
    Ok(response)
}
