//! The requests being handled, for the log of a stopping server, and the switch that makes every
//! answer close its connection once the server stops, so keep-alive clients reconnect elsewhere
//! while the accept loops ([`crate::http_limits::server`]) wait for the open connections.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::ConnectionType;
use actix_web::middleware::Next;
use actix_web::web;

/// How many requests are being handled, shared by every HTTP worker.
#[derive(Debug, Default)]
pub struct InFlight {
    count: AtomicUsize,
    stopping: AtomicBool,
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
}

/// One request being handled; dropped when its answer is ready or its future is dropped.
struct Handling(web::Data<InFlight>);

impl Drop for Handling {
    fn drop(&mut self) {
        self.0.count.fetch_sub(1, Ordering::SeqCst);
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
