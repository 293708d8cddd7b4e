//! Calls refused before authentication, counted in memory and written as one row per minute
//! and kind ([`crate::db::models::marketplace_rejections`]) instead of one journal row each:
//! anyone can send them, so they must not cost a durable row apiece, nor count in the error
//! rates KooGallery judges us by. Every key is from a closed set, never what the caller sent,
//! so the counts stay bounded whatever arrives.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use chrono::{DurationRound, NaiveDateTime, TimeDelta};
use prometheus::{IntCounterVec, Opts, Registry};

use crate::db::models::marketplace_rejections::{self, Tally};
use crate::db::{self, Pool};
use crate::koogallery::auth::AuthError;

/// Which production interface refused the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Interface {
    /// `POST /koogallery/license` (Scheme B signature).
    Post,
    /// `GET /koogallery/license` (legacy `authToken`).
    Legacy,
}

impl Interface {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Post => "post",
            Self::Legacy => "legacy",
        }
    }
}

/// Why a call was refused before it was authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// `signature`, `timestamp`, `nonce`, `authToken` or `timeStamp` is absent.
    MissingParameter,
    /// The timestamp is not a number or time.
    MalformedTimestamp,
    /// The nonce is too long or not printable ASCII.
    MalformedNonce,
    /// The timestamp is older than the window.
    StaleTimestamp,
    /// The timestamp is further ahead than the window.
    FutureTimestamp,
    /// The signature or `authToken` does not match.
    BadSignature,
    /// A valid signature with a nonce already seen: anyone who captured the request can send
    /// it again, so it proves nothing about the sender and counts as unauthenticated.
    ReplayedNonce,
    /// The key to verify the call with is not configured on this server.
    KeyNotConfigured,
    /// The body is over the limit (read before it could be authenticated).
    BodyTooLarge,
    /// The body could not be read (broken transfer or encoding).
    UnreadableBody,
}

impl Reason {
    /// Every reason, for documentation and tests.
    pub const ALL: [Self; 10] = [
        Self::MissingParameter,
        Self::MalformedTimestamp,
        Self::MalformedNonce,
        Self::StaleTimestamp,
        Self::FutureTimestamp,
        Self::BadSignature,
        Self::ReplayedNonce,
        Self::KeyNotConfigured,
        Self::BodyTooLarge,
        Self::UnreadableBody,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MissingParameter => "missing_parameter",
            Self::MalformedTimestamp => "malformed_timestamp",
            Self::MalformedNonce => "malformed_nonce",
            Self::StaleTimestamp => "stale_timestamp",
            Self::FutureTimestamp => "future_timestamp",
            Self::BadSignature => "bad_signature",
            Self::ReplayedNonce => "replayed_nonce",
            Self::KeyNotConfigured => "key_not_configured",
            Self::BodyTooLarge => "body_too_large",
            Self::UnreadableBody => "unreadable_body",
        }
    }

    /// The reason of an authentication failure.
    pub fn of(error: &AuthError) -> Self {
        match error {
            AuthError::Missing(_) => Self::MissingParameter,
            AuthError::BadTimestamp => Self::MalformedTimestamp,
            AuthError::BadNonce => Self::MalformedNonce,
            AuthError::Stale => Self::StaleTimestamp,
            AuthError::Future => Self::FutureTimestamp,
            AuthError::BadSignature => Self::BadSignature,
        }
    }
}

/// The `activity` to count a call under: `raw` if it is one of `known`, else `unknown`.
pub fn activity_key(raw: Option<&str>, known: &[&'static str]) -> &'static str {
    raw.and_then(|a| known.iter().copied().find(|k| *k == a))
        .unwrap_or("unknown")
}

type Key = (Interface, &'static str, Reason);

#[derive(Debug, Clone, Copy)]
struct Count {
    calls: i64,
    first: NaiveDateTime,
    last: NaiveDateTime,
}

/// This process's counts since the last flush, shared by every HTTP worker.
pub struct Rejections {
    pending: Mutex<HashMap<Key, Count>>,
    /// One flush at a time (the timer's and an admin read's), so two never race to create
    /// the same row.
    flushing: tokio::sync::Mutex<()>,
    total: IntCounterVec,
}

impl Rejections {
    /// Empty counts.
    pub fn new() -> anyhow::Result<Self> {
        let total = IntCounterVec::new(
            Opts::new(
                "marketplace_rejected_calls_total",
                "Production-interface calls refused before authentication",
            ),
            &["interface", "reason"],
        )?;
        Ok(Self {
            pending: Mutex::new(HashMap::new()),
            flushing: tokio::sync::Mutex::new(()),
            total,
        })
    }

    /// Adds the Prometheus counter to `registry`.
    pub fn register(&self, registry: &Registry) -> anyhow::Result<()> {
        registry.register(Box::new(self.total.clone()))?;
        Ok(())
    }

    /// Counts one refused call.
    pub fn record(&self, interface: Interface, activity: &'static str, reason: Reason) {
        let now = crate::db::models::now();
        self.total
            .with_label_values(&[interface.as_str(), reason.as_str()])
            .inc();
        tracing::debug!(
            marketplace.interface = interface.as_str(),
            marketplace.activity = activity,
            marketplace.reason = reason.as_str(),
            "marketplace call refused before authentication"
        );
        self.merge(
            (interface, activity, reason),
            Count {
                calls: 1,
                first: now,
                last: now,
            },
        );
    }

    fn merge(&self, key: Key, add: Count) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        pending
            .entry(key)
            .and_modify(|c| {
                c.calls = c.calls.saturating_add(add.calls);
                c.first = c.first.min(add.first);
                c.last = c.last.max(add.last);
            })
            .or_insert(add);
    }

    fn take(&self) -> Vec<(Key, Count)> {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        pending.drain().collect()
    }

    /// Writes the counts so far as rows of `node_id` and starts counting afresh; on a database
    /// error they are kept for the next flush. Returns how many calls were written.
    pub async fn flush(&self, pool: &Pool, node_id: &str) -> anyhow::Result<i64> {
        let _one_at_a_time = self.flushing.lock().await;
        let counts = self.take();
        if counts.is_empty() {
            return Ok(0);
        }
        let (rows, node) = (counts.clone(), node_id.to_owned());
        let written = db::write(pool, move |conn| -> anyhow::Result<()> {
            for ((interface, activity, reason), count) in &rows {
                let tally = Tally {
                    minute: minute_of(count.first),
                    node_id: &node,
                    interface: interface.as_str(),
                    activity,
                    reason: reason.as_str(),
                    calls: count.calls,
                    first_seen_at: count.first,
                    last_seen_at: count.last,
                };
                marketplace_rejections::add(conn, &tally)?;
            }
            Ok(())
        })
        .await;
        if let Err(e) = written {
            for (key, count) in counts {
                self.merge(key, count);
            }
            return Err(e);
        }
        log_summary(&counts);
        Ok(counts.iter().map(|(_, c)| c.calls).sum())
    }
}

/// One log line per flush, not one per refused call, so a flood cannot flood the logs either.
fn log_summary(counts: &[((Interface, &'static str, Reason), Count)]) {
    let mut by_reason: Vec<(&str, i64)> = Vec::new();
    for ((_, _, reason), count) in counts {
        match by_reason.iter_mut().find(|(r, _)| *r == reason.as_str()) {
            Some((_, n)) => *n += count.calls,
            None => by_reason.push((reason.as_str(), count.calls)),
        }
    }
    by_reason.sort_unstable();
    let summary = by_reason
        .iter()
        .map(|(reason, n)| format!("{reason}={n}"))
        .collect::<Vec<_>>()
        .join(", ");
    if counts
        .iter()
        .any(|((_, _, r), _)| *r == Reason::KeyNotConfigured)
    {
        tracing::error!(
            marketplace.rejections = %summary,
            "marketplace calls cannot be verified: set KOOLICENSE_ACCESS_KEY (POST) and \
             KOOLICENSE_LEGACY_KEY (legacy GET)"
        );
    } else {
        tracing::warn!(
            marketplace.rejections = %summary,
            "marketplace calls refused before authentication"
        );
    }
}

/// The start of `t`'s minute.
fn minute_of(t: NaiveDateTime) -> NaiveDateTime {
    t.duration_trunc(TimeDelta::minutes(1)).unwrap_or(t)
}

#[cfg(test)]
mod tests;
