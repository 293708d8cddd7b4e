//! What one client may hold of the server: time and connections.
//!
//! actix-http bounds in time only the head of a connection's *first* request and the idle
//! time between requests; a body sent one byte at a time, or a later request's head sent the
//! same way, holds its connection (and file descriptor) for as long as the client likes. So:
//!
//! * every request must arrive whole, head and body, within `KOOLICENSE_REQUEST_TIMEOUT_MS`
//!   of its first byte (of the connection's opening, for its first request): the
//!   [`connection`] wrapper watches the head, the [`deadline`] middleware the body, and the
//!   connection is closed when the time is up, after a `408` wherever one can still be sent;
//! * an idle keep-alive connection closes after `KOOLICENSE_KEEP_ALIVE_SECS`, and a response
//!   the client does not read within that time plus the request timeout is abandoned;
//! * connections are capped ([`budget`]) below what the file-descriptor limit allows once the
//!   database, key files and outbound KooGallery calls have theirs, so the process never hits
//!   `Too many open files`: a connection over the cap waits in the listen backlog until one
//!   closes, which the deadline makes soon.

pub mod budget;
mod clock;
mod connection;
pub mod deadline;
pub mod server;

use std::time::Duration;

pub use self::budget::ConnectionBudget;
pub use self::clock::RequestClock;
pub use self::connection::GuardedStream;

use crate::config::Settings;

/// Connections the listen socket queues while every worker is at its cap; they cost the process
/// no file descriptor until accepted.
pub const LISTEN_BACKLOG: i32 = 1024;

/// The time limits of every connection, from the settings.
#[derive(Debug, Clone, Copy)]
pub struct TimeLimits {
    /// A request, head and body, from its first byte.
    pub request_timeout: Duration,
    /// Idle time between requests on one connection; zero: no keep-alive.
    pub keep_alive: Duration,
}

impl TimeLimits {
    /// The limits the settings ask for.
    pub fn from_settings(settings: &Settings) -> Self {
        Self {
            request_timeout: settings.server.request_timeout,
            keep_alive: settings.server.keep_alive,
        }
    }

    /// actix-http's own timer for a connection's first head: a fallback only, set a little
    /// later than ours so that ours (which also counts it in the metrics) fires first.
    pub fn first_head_fallback(&self) -> Duration {
        self.request_timeout + Duration::from_secs(1)
    }

    /// How long a connection may wait on its client before it can be shed to make room: a
    /// request on its way is not mistaken for a slow one, and slow clients still cannot hold
    /// the server for long.
    pub fn shedding_grace(&self) -> Duration {
        (self.request_timeout / 4).min(Duration::from_millis(250))
    }

    /// actix-http's keep-alive setting.
    pub fn actix_keep_alive(&self) -> actix_http::KeepAlive {
        if self.keep_alive.is_zero() {
            actix_http::KeepAlive::Disabled
        } else {
            actix_http::KeepAlive::Timeout(self.keep_alive)
        }
    }
}
