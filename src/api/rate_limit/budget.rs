//! A per-address budget whose units can be handed back, for the unknown-code limit: a unit is
//! taken before a code is looked up and handed back once the code turns out to exist, so the
//! units gone are the lookups of codes nobody knows plus the lookups still in flight. Nothing
//! can be looked up without a unit, however many requests arrive at once.
//!
//! GCRA, as governor's limiters: each address has a theoretical arrival time `tat`; a unit
//! moves it `interval` ahead, and the budget is empty while `tat` is more than
//! `capacity × interval` ahead of now. An address with a full budget and nothing in flight has
//! no entry, so memory follows the addresses that spent something.
//!
//! A request that finds the budget taken by units still in flight may wait for them
//! ([`Budget::waker`]): each address has its own notification, so the waiters of one address
//! are never woken by another's traffic.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

#[derive(Debug)]
struct Entry {
    tat: Instant,
    /// Units taken and neither handed back nor settled as spent yet.
    in_flight: u32,
    /// Wakes the requests waiting for a unit in flight; made by the first of them.
    waiters: Option<Arc<Notify>>,
}

/// Why a unit was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Empty {
    /// Until a unit refills.
    pub refill: Duration,
    /// Units of this address are in flight: some may come back in a moment.
    pub in_flight: bool,
}

/// Budgets of every address.
#[derive(Debug)]
pub struct Budget {
    interval: Duration,
    /// `capacity × interval`: how far ahead `tat` may run.
    span: Duration,
    entries: Mutex<HashMap<IpAddr, Entry>>,
}

impl Budget {
    /// `capacity` units per hour, all available at once.
    pub fn per_hour(capacity: NonZeroU32) -> Self {
        let interval = Duration::from_secs(3600) / capacity.get();
        Self {
            interval,
            span: interval * capacity.get(),
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn entries(&self) -> MutexGuard<'_, HashMap<IpAddr, Entry>> {
        // The map stays consistent whatever a panicking holder did: no update spans a panic.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes a unit of `ip`'s budget; it is in flight until [`Self::hand_back`] or
    /// [`Self::settle`].
    pub fn take(&self, ip: IpAddr, now: Instant) -> Result<(), Empty> {
        let mut entries = self.entries();
        // A new entry always has room: capacity is at least 1.
        let entry = entries.entry(ip).or_insert(Entry {
            tat: now,
            in_flight: 0,
            waiters: None,
        });
        let next = entry.tat.max(now) + self.interval;
        let limit = now + self.span;
        if next > limit {
            return Err(Empty {
                refill: next - limit,
                in_flight: entry.in_flight > 0,
            });
        }
        entry.tat = next;
        entry.in_flight += 1;
        Ok(())
    }

    /// What wakes a request waiting for `ip`'s units in flight; `None` when none is in flight.
    /// Subscribe (`Notified::enable`) before taking again, so that no wake-up is missed.
    pub fn waker(&self, ip: IpAddr) -> Option<Arc<Notify>> {
        let mut entries = self.entries();
        let entry = entries.get_mut(&ip).filter(|entry| entry.in_flight > 0)?;
        Some(Arc::clone(entry.waiters.get_or_insert_default()))
    }

    /// Gives a unit taken by [`Self::take`] back: the code existed.
    pub fn hand_back(&self, ip: IpAddr, now: Instant) {
        self.finish(ip, now, true);
    }

    /// Ends a unit taken by [`Self::take`] as spent.
    pub fn settle(&self, ip: IpAddr, now: Instant) {
        self.finish(ip, now, false);
    }

    fn finish(&self, ip: IpAddr, now: Instant, refund: bool) {
        let mut entries = self.entries();
        let Some(entry) = entries.get_mut(&ip) else {
            return;
        };
        entry.in_flight = entry.in_flight.saturating_sub(1);
        if refund {
            entry.tat = entry.tat.checked_sub(self.interval).unwrap_or(now);
        }
        if let Some(waiters) = &entry.waiters {
            waiters.notify_waiters();
        }
        if entry.in_flight == 0 {
            // Nothing left to wait for: whoever waited was just woken.
            entry.waiters = None;
            if entry.tat <= now {
                entries.remove(&ip);
            }
        }
    }

    /// Forgets addresses whose budget is full again.
    pub fn sweep(&self, now: Instant) {
        self.entries()
            .retain(|_, entry| entry.in_flight > 0 || entry.tat > now);
    }

    /// Addresses remembered (for tests of the memory bound).
    #[cfg(test)]
    fn remembered(&self) -> usize {
        self.entries().len()
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;

    fn budget(per_hour: u32) -> Budget {
        Budget::per_hour(NonZeroU32::new(per_hour).unwrap())
    }

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, n])
    }

    #[test]
    fn units_handed_back_do_not_count() {
        let (budget, now) = (budget(2), Instant::now());
        for _ in 0..100 {
            budget.take(ip(1), now).unwrap();
            budget.hand_back(ip(1), now);
        }
        assert_eq!(budget.remembered(), 0);
        budget.take(ip(1), now).unwrap();
        budget.settle(ip(1), now);
        budget.take(ip(1), now).unwrap();
        budget.settle(ip(1), now);
        let empty = budget.take(ip(1), now).unwrap_err();
        assert_eq!(empty.refill, Duration::from_secs(1800));
        assert!(!empty.in_flight);
        // Another address has its own budget.
        budget.take(ip(2), now).unwrap();
    }

    #[test]
    fn units_in_flight_count_until_they_come_back() {
        let (budget, now) = (budget(3), Instant::now());
        assert!(budget.waker(ip(1)).is_none());
        for _ in 0..3 {
            budget.take(ip(1), now).unwrap();
        }
        let empty = budget.take(ip(1), now).unwrap_err();
        assert!(empty.in_flight);
        let waker = budget.waker(ip(1)).unwrap();
        let mut woken = std::pin::pin!(waker.notified());
        woken.as_mut().enable();
        budget.hand_back(ip(1), now);
        // Woken by the hand-back: ready at the first poll.
        assert!(futures_util::FutureExt::now_or_never(woken).is_some());
        budget.take(ip(1), now).unwrap();
        // Refused with nothing in flight, there is nothing to wait for.
        for _ in 0..3 {
            budget.settle(ip(1), now);
        }
        assert!(!budget.take(ip(1), now).unwrap_err().in_flight);
        assert!(budget.waker(ip(1)).is_none());
    }

    #[test]
    fn the_budget_refills_with_time_and_is_then_forgotten() {
        let (budget, start) = (budget(2), Instant::now());
        for _ in 0..2 {
            budget.take(ip(1), start).unwrap();
            budget.settle(ip(1), start);
        }
        let later = start + Duration::from_secs(1800);
        budget.take(ip(1), later).unwrap();
        budget.settle(ip(1), later);
        assert!(budget.take(ip(1), later).is_err());
        budget.sweep(later);
        assert_eq!(budget.remembered(), 1);
        budget.sweep(start + Duration::from_secs(3 * 3600));
        assert_eq!(budget.remembered(), 0);
    }

    #[test]
    fn a_hand_back_never_overfills() {
        let (budget, start) = (budget(2), Instant::now());
        budget.take(ip(1), start).unwrap();
        // Long after the budget refilled by itself, the unit comes back.
        let later = start + Duration::from_secs(7200);
        budget.hand_back(ip(1), later);
        assert_eq!(budget.remembered(), 0);
        budget.take(ip(1), later).unwrap();
        budget.take(ip(1), later).unwrap();
        assert!(budget.take(ip(1), later).is_err());
    }
}
