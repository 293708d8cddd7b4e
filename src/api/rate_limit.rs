//! Abuse limits of the client API, per client address (api.md §4): every `/v1` request counts
//! toward `KOOLICENSE_RATE_LIMIT_PER_MINUTE`, and every lookup of a code toward the stricter
//! `KOOLICENSE_UNKNOWN_CODE_LIMIT_PER_HOUR`, unless the code turns out to exist. Both answer
//! `429 RATE_LIMITED` with `Retry-After`.
//!
//! The unknown-code budget is taken *before* a code is looked up, here or with KooGallery, and
//! handed back once the code is known to exist ([`budget`]). So an address whose budget is spent
//! gets the same `429` for a real code and for a guess, without anything being read, and
//! simultaneous requests cannot look up more codes than the budget allows, nor make more
//! marketplace calls for unknown codes.
//!
//! The address is the TCP peer's, or the one a trusted proxy forwarded
//! ([`super::client_address`]); `IPv6` clients are limited per /64. Limits are kept in memory per
//! process: behind a load balancer each node limits on its own.

mod budget;

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actix_web::ResponseError;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use self::budget::Budget;
use super::context::ClientApi;
use crate::config::Settings;
use crate::error::ApiError;

/// How many checks pass between sweeps of idle addresses out of the limiters' memory.
const SWEEP_EVERY: u64 = 4096;

/// Longest wait for units of the same address that are in flight. A burst of first activations
/// of real codes from one address gets its units back within a marketplace call or two.
const IN_FLIGHT_WAIT: Duration = Duration::from_secs(5);

/// The limiters of one server.
pub struct Limits {
    /// Every request; `None` when the limit is 0 (off).
    per_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    /// Lookups of codes that were not found; `None` when the limit is 0 (off).
    unknown: Option<Budget>,
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
        let per_ip = NonZeroU32::new(settings.client_api.rate_limit_per_minute)
            .map(|n| RateLimiter::keyed(Quota::per_minute(n)));
        let unknown =
            NonZeroU32::new(settings.client_api.unknown_code_limit_per_hour).map(Budget::per_hour);
        Self {
            per_ip,
            unknown,
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

    /// Takes a unit of `ip`'s unknown-code budget before a code is looked up; it stays spent
    /// unless [`Self::hand_back`] returns it. With the budget spent, every code gets the same
    /// `429`: its `Retry-After` depends on the address alone. While other units of the address
    /// are in flight, waits (up to [`IN_FLIGHT_WAIT`]) for them to come back or be spent.
    pub async fn take_lookup(&self, ip: IpAddr) -> Result<(), ApiError> {
        let Some(budget) = &self.unknown else {
            return Ok(());
        };
        let deadline = Instant::now() + IN_FLIGHT_WAIT;
        loop {
            let empty = match budget.take(ip, Instant::now()) {
                Ok(()) => return Ok(()),
                Err(empty) => empty,
            };
            let now = Instant::now();
            let waker = budget
                .waker(ip)
                .filter(|_| empty.in_flight && now < deadline);
            let Some(waker) = waker else {
                return Err(unknown_code_refusal(empty));
            };
            let mut woken = std::pin::pin!(waker.notified());
            woken.as_mut().enable();
            // Again, now that a unit coming back would wake us.
            match budget.take(ip, Instant::now()) {
                Ok(()) => return Ok(()),
                Err(empty) if !empty.in_flight => return Err(unknown_code_refusal(empty)),
                Err(_) => {}
            }
            // Past the deadline, the next round refuses.
            let _ = tokio::time::timeout(deadline - now, woken).await;
        }
    }

    /// Returns a unit of [`Self::take_lookup`]: the code exists.
    pub fn hand_back(&self, ip: IpAddr) {
        if let Some(budget) = &self.unknown {
            budget.hand_back(ip, Instant::now());
        }
    }

    /// Ends a unit of [`Self::take_lookup`] as spent on an unknown code.
    pub fn settle(&self, ip: IpAddr) {
        if let Some(budget) = &self.unknown {
            budget.settle(ip, Instant::now());
        }
    }

    /// Forgets addresses whose limits have fully refilled, so memory follows active clients.
    fn sweep_now_and_then(&self) {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY != SWEEP_EVERY - 1 {
            return;
        }
        if let Some(limiter) = &self.per_ip {
            limiter.retain_recent();
        }
        if let Some(budget) = &self.unknown {
            budget.sweep(Instant::now());
        }
    }
}

fn unknown_code_refusal(empty: budget::Empty) -> ApiError {
    tracing::info!(
        limit = "unknown_code",
        "attempts with unknown codes rate limited"
    );
    // Units still in flight may come back at any moment: retry shortly rather than when the
    // budget refills.
    retry_after(if empty.in_flight {
        Duration::from_secs(1)
    } else {
        empty.refill
    })
}

fn retry_after(wait: Duration) -> ApiError {
    // Rounded up, and at least 1: `Retry-After: 0` would invite an immediate retry.
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    ApiError::RateLimited {
        retry_after_secs: secs.max(1),
    }
}

/// Middleware of the `/v1` scope: counts every request against the per-address limit.
pub async fn per_ip(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let verdict = ClientApi::of(req.request())
        .and_then(|api| api.limits.request(api.limit_key(req.request())));
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

    #[actix_web::test]
    async fn a_spent_unknown_code_budget_refuses_every_lookup_until_it_refills() {
        let limits = limits("0", "2");
        let ip: IpAddr = "10.0.0.9".parse().unwrap();
        limits.request(ip).unwrap();
        // Lookups of codes that exist cost nothing.
        for _ in 0..10 {
            limits.take_lookup(ip).await.unwrap();
            limits.hand_back(ip);
        }
        for _ in 0..2 {
            limits.take_lookup(ip).await.unwrap();
            limits.settle(ip);
        }
        let wait = seconds(limits.take_lookup(ip).await.unwrap_err());
        assert!((1_000..=1_800).contains(&wait), "{wait}");
        limits
            .take_lookup("10.0.0.10".parse().unwrap())
            .await
            .unwrap();
    }

    #[actix_web::test]
    async fn a_lookup_waits_for_units_in_flight() {
        let limits = std::sync::Arc::new(limits("0", "1"));
        let ip: IpAddr = "10.0.0.9".parse().unwrap();
        limits.take_lookup(ip).await.unwrap();
        let waiting = {
            let limits = std::sync::Arc::clone(&limits);
            actix_web::rt::spawn(async move { limits.take_lookup(ip).await })
        };
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished());
        // The code existed: the waiting lookup gets the unit.
        limits.hand_back(ip);
        let second = actix_web::rt::time::timeout(Duration::from_secs(5), waiting).await;
        assert!(matches!(second, Ok(Ok(Ok(())))), "{second:?}");
        // This one was a guess: the next lookup is refused as soon as it is spent.
        let waiting = {
            let limits = std::sync::Arc::clone(&limits);
            actix_web::rt::spawn(async move { limits.take_lookup(ip).await })
        };
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        limits.settle(ip);
        let third = actix_web::rt::time::timeout(Duration::from_secs(5), waiting).await;
        let Ok(Ok(Err(refused))) = third else {
            panic!("{third:?}");
        };
        assert!(seconds(refused) > 60);
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(seconds(retry_after(Duration::from_millis(1))), 1);
        assert_eq!(seconds(retry_after(Duration::from_millis(2_001))), 3);
        assert_eq!(seconds(retry_after(Duration::ZERO)), 1);
    }
}
