//! Abuse limits of the client API, per client address (api.md §4): every `/v1` request counts
//! toward `KOOLICENSE_RATE_LIMIT_PER_MINUTE`, and an attempt with a code nobody knows counts
//! toward the stricter `KOOLICENSE_UNKNOWN_CODE_LIMIT_PER_HOUR`. Both answer
//! `429 RATE_LIMITED` with `Retry-After`.
//!
//! The address is the TCP peer's: `X-Forwarded-For` is not trusted, since any client can set it.
//! `IPv6` clients are limited per /64, the block one subscriber usually gets. Limits are kept in
//! memory per process: behind a load balancer each node limits on its own.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpRequest, ResponseError};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::context::ClientApi;
use crate::config::Settings;
use crate::error::ApiError;

/// How many checks pass between sweeps of idle addresses out of the limiters' memory.
const SWEEP_EVERY: u64 = 4096;

/// The limiters of one server.
pub struct Limits {
    /// Every request; `None` when the limit is 0 (off).
    per_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    /// Attempts with unknown codes; `None` when the limit is 0 (off).
    unknown: Option<DefaultKeyedRateLimiter<IpAddr>>,
    /// Addresses that used up their unknown-code budget, until when: they may not make the
    /// marketplace look up new codes meanwhile.
    blocked: Mutex<HashMap<IpAddr, Instant>>,
    checks: AtomicU64,
}

impl std::fmt::Debug for Limits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limits")
            .field("per_ip", &self.per_ip.is_some())
            .field("unknown", &self.unknown.is_some())
            .finish_non_exhaustive()
    }
}

impl Limits {
    /// The limits the settings ask for.
    pub fn new(settings: &Settings) -> Self {
        let per_ip = NonZeroU32::new(settings.rate_limit_per_minute)
            .map(|n| RateLimiter::keyed(Quota::per_minute(n)));
        let unknown = NonZeroU32::new(settings.unknown_code_limit_per_hour)
            .map(|n| RateLimiter::keyed(Quota::per_hour(n)));
        Self {
            per_ip,
            unknown,
            blocked: Mutex::new(HashMap::new()),
            checks: AtomicU64::new(0),
        }
    }

    /// Counts one request from `ip`.
    pub fn request(&self, ip: IpAddr) -> Result<(), ApiError> {
        self.sweep_now_and_then();
        let Some(limiter) = &self.per_ip else {
            return Ok(());
        };
        limiter.check_key(&ip).map_err(|not_until| {
            tracing::info!(limit = "per_ip", "client API request rate limited");
            retry_after(not_until.wait_time_from(DefaultClock::default().now()))
        })
    }

    /// Counts one attempt from `ip` with a code that turned out unknown. Over the limit, the
    /// address is refused until its budget refills, and this attempt answers `429` instead of
    /// the `404` it would have got.
    pub fn unknown_code(&self, ip: IpAddr) -> Result<(), ApiError> {
        let Some(limiter) = &self.unknown else {
            return Ok(());
        };
        limiter.check_key(&ip).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            if let Ok(mut blocked) = self.blocked.lock() {
                blocked.insert(ip, Instant::now() + wait);
            }
            tracing::info!(
                limit = "unknown_code",
                "attempts with unknown codes rate limited"
            );
            retry_after(wait)
        })
    }

    /// Refuses an address that used up its unknown-code budget, before a code we have never
    /// seen is looked up with the marketplace.
    pub fn unknown_code_allowed(&self, ip: IpAddr) -> Result<(), ApiError> {
        let Ok(mut blocked) = self.blocked.lock() else {
            return Ok(());
        };
        let now = Instant::now();
        match blocked.get(&ip) {
            Some(until) if *until > now => Err(retry_after(*until - now)),
            Some(_) => {
                blocked.remove(&ip);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Forgets addresses whose limits have fully refilled, so memory follows active clients.
    fn sweep_now_and_then(&self) {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY != SWEEP_EVERY - 1 {
            return;
        }
        for limiter in [&self.per_ip, &self.unknown].into_iter().flatten() {
            limiter.retain_recent();
        }
        if let Ok(mut blocked) = self.blocked.lock() {
            let now = Instant::now();
            blocked.retain(|_, until| *until > now);
        }
    }
}

fn retry_after(wait: Duration) -> ApiError {
    // Rounded up, and at least 1: `Retry-After: 0` would invite an immediate retry.
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    ApiError::RateLimited {
        retry_after_secs: secs.max(1),
    }
}

/// The client's address as the limits key it: the TCP peer, `IPv4`-mapped `IPv6` as `IPv4`, `IPv6` cut
/// to its /64.
pub fn client_ip(req: &HttpRequest) -> IpAddr {
    let ip = req
        .peer_addr()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |addr| {
            addr.ip().to_canonical()
        });
    match ip {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !u128::from(u64::MAX);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
        v4 @ IpAddr::V4(_) => v4,
    }
}

/// Middleware of the `/v1` scope: counts every request against the per-address limit.
pub async fn per_ip(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let verdict =
        ClientApi::of(req.request()).and_then(|api| api.limits.request(client_ip(req.request())));
    match verdict {
        Ok(()) => next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body),
        Err(refused) => {
            let response = refused.error_response();
            Ok(req.into_response(response).map_into_right_body())
        }
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn limits(per_minute: &str, unknown_per_hour: &str) -> Limits {
        let env = HashMap::from([
            (
                "KOOLICENSE_RATE_LIMIT_PER_MINUTE".to_owned(),
                per_minute.to_owned(),
            ),
            (
                "KOOLICENSE_UNKNOWN_CODE_LIMIT_PER_HOUR".to_owned(),
                unknown_per_hour.to_owned(),
            ),
        ]);
        Limits::new(&Settings::from_sources(env, None).unwrap())
    }

    fn seconds(err: ApiError) -> u64 {
        match err {
            ApiError::RateLimited { retry_after_secs } => retry_after_secs,
            other => panic!("expected RATE_LIMITED, got {other:?}"),
        }
    }

    #[test]
    fn each_address_has_its_own_budget() {
        let limits = limits("3", "0");
        let (a, b) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        for _ in 0..3 {
            limits.request(a).unwrap();
        }
        let wait = seconds(limits.request(a).unwrap_err());
        assert!((1..=20).contains(&wait), "{wait}");
        limits.request(b).unwrap();
    }

    #[test]
    fn unknown_codes_block_new_lookups_until_the_budget_refills() {
        let limits = limits("0", "2");
        let ip: IpAddr = "10.0.0.9".parse().unwrap();
        limits.request(ip).unwrap();
        limits.unknown_code(ip).unwrap();
        limits.unknown_code(ip).unwrap();
        limits.unknown_code_allowed(ip).unwrap();
        let wait = seconds(limits.unknown_code(ip).unwrap_err());
        assert!((1_000..=1_800).contains(&wait), "{wait}");
        assert!(seconds(limits.unknown_code_allowed(ip).unwrap_err()) >= 1_000);
        limits
            .unknown_code_allowed("10.0.0.10".parse().unwrap())
            .unwrap();
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(seconds(retry_after(Duration::from_millis(1))), 1);
        assert_eq!(seconds(retry_after(Duration::from_millis(2_001))), 3);
        assert_eq!(seconds(retry_after(Duration::ZERO)), 1);
    }
}
