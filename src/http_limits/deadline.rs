//! The body half of the request deadline: a middleware that hands the application a body which
//! fails once the deadline has passed (or the worker shed the connection while its body was
//! awaited), and answers such a request `408` with `Connection: close` (actix-http also closes
//! a connection whose request body was not read to its end).
//!
//! The deadline bounds receiving the request only: once the body is in, the handler takes the
//! time it needs (its database and marketplace calls have their own timeouts). Extractors read
//! the body inside the handler's future, so wrapping the payload covers them all.

use std::cell::Cell;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::web::{self, Bytes};
use actix_web::{HttpMessage, HttpResponse, ResponseError};
use futures_util::Stream;
use tokio::time::{Instant, Sleep, sleep_until};

use super::clock::RequestClock;
use crate::metrics::{Metrics, TimeoutPhase};
use crate::startup::AppState;

/// The answer to a request whose body did not arrive in time.
#[derive(Debug, thiserror::Error)]
pub enum RequestTimedOut {
    /// The deadline passed.
    #[error("the request did not arrive within {timeout_ms} ms")]
    Deadline {
        /// `KOOLICENSE_REQUEST_TIMEOUT_MS`.
        timeout_ms: u128,
    },
    /// The server was full and this request had waited longest on its client.
    #[error("the request was still arriving while the server was full")]
    Shed,
}

impl ResponseError for RequestTimedOut {
    fn status_code(&self) -> StatusCode {
        StatusCode::REQUEST_TIMEOUT
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::RequestTimeout()
            .force_close()
            .json(serde_json::json!({"code": "REQUEST_TIMEOUT", "message": self.to_string()}))
    }
}

/// Middleware: the request's body must arrive by its deadline.
pub async fn enforce(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let clock = req.conn_data::<Rc<RequestClock>>().cloned();
    let timeout = match &clock {
        Some(clock) => clock.limits().request_timeout,
        // Served without our connection wrapper (an in-memory test service).
        None => req
            .app_data::<web::Data<AppState>>()
            .map_or(std::time::Duration::from_secs(5), |s| {
                s.settings.server.request_timeout
            }),
    };
    let deadline = clock
        .as_ref()
        .map_or_else(|| Instant::now() + timeout, |clock| clock.head_received());
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let cut_off = Rc::new(Cell::new(None));
    let payload = req.take_payload();
    if !matches!(payload, Payload::None) {
        let watched = DeadlinePayload {
            inner: payload,
            timer: Box::pin(sleep_until(deadline)),
            clock: clock.clone(),
            cut_off: Rc::clone(&cut_off),
            finished: false,
        };
        req.set_payload(Payload::from(
            Box::pin(watched) as actix_http::BoxedPayloadStream
        ));
    }
    let outcome = next.call(req).await;
    if let Some(clock) = &clock {
        clock.answered();
    }
    let Some(cause) = cut_off.get() else {
        return outcome.map(ServiceResponse::map_into_left_body);
    };
    if let Some(metrics) = metrics {
        match cause {
            CutOff::Deadline => metrics.count_request_timeout(TimeoutPhase::Body),
            CutOff::Shed => metrics.count_shed_connection(),
        }
    }
    let timed_out = match cause {
        CutOff::Deadline => RequestTimedOut::Deadline {
            timeout_ms: timeout.as_millis(),
        },
        CutOff::Shed => RequestTimedOut::Shed,
    };
    // Whatever the handler made of the failed body (a 400 from an extractor) gives way.
    match outcome {
        Ok(response) => Ok(response
            .into_response(timed_out.error_response())
            .map_into_right_body()),
        Err(_) => Err(timed_out.into()),
    }
}

/// Why a body was cut off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CutOff {
    /// It had not arrived by the deadline.
    Deadline,
    /// The server was full and this connection had waited longest on its client.
    Shed,
}

/// A request body that fails once its deadline has passed or its connection was shed.
struct DeadlinePayload {
    inner: Payload,
    timer: Pin<Box<Sleep>>,
    clock: Option<Rc<RequestClock>>,
    cut_off: Rc<Cell<Option<CutOff>>>,
    finished: bool,
}

impl DeadlinePayload {
    fn waiting(&self, waiting: bool) {
        if let Some(clock) = &self.clock {
            clock.waiting_for_body(waiting);
        }
    }

    fn cut(&mut self, cause: CutOff) -> Poll<Option<Result<Bytes, PayloadError>>> {
        self.finished = true;
        self.waiting(false);
        self.cut_off.set(Some(cause));
        Poll::Ready(Some(Err(PayloadError::Io(io::Error::new(
            io::ErrorKind::TimedOut,
            "the request body did not arrive in time",
        )))))
    }
}

impl Stream for DeadlinePayload {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.finished {
            return Poll::Ready(None);
        }
        // What has already arrived is taken even at the deadline; only waiting for more fails.
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(None) => {
                this.finished = true;
                this.waiting(false);
                Poll::Ready(None)
            }
            Poll::Ready(Some(item)) => {
                this.waiting(false);
                Poll::Ready(Some(item))
            }
            Poll::Pending => {
                if this.clock.as_ref().is_some_and(|c| c.is_shed()) {
                    return this.cut(CutOff::Shed);
                }
                if this.timer.as_mut().poll(cx).is_ready() {
                    return this.cut(CutOff::Deadline);
                }
                this.waiting(true);
                Poll::Pending
            }
        }
    }
}
