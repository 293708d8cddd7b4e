//! Read-only SQLite connections for [`super::read`], kept per database and used in place.
//!
//! A read of a few indexed rows takes microseconds; handing it to the blocking pool and back
//! costs more than that (two thread wake-ups and a pool checkout). So the calling thread reads
//! in place, with a reader from a few slots: each thread has a home slot, so an async worker
//! keeps using the same connection (its page cache stays in that core's CPU cache) and its lock
//! is uncontended; when the home slot is busy another free one serves. Readers open on first
//! need with the server's pragmas plus `query_only`. In WAL mode a reader never waits for the
//! writer.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, TryLockError};

use diesel::connection::SimpleConnection;

use super::{DbConn, Unavailable};

/// Reader slots per database: more than the async workers of a usual server.
const SLOTS: usize = 8;

thread_local! {
    /// This thread's home slot, dealt round-robin on first use.
    static HOME: Cell<Option<usize>> = const { Cell::new(None) };
}
static NEXT_HOME: AtomicUsize = AtomicUsize::new(0);

fn home_slot() -> usize {
    HOME.try_with(|home| {
        home.get().unwrap_or_else(|| {
            let slot = NEXT_HOME.fetch_add(1, Ordering::Relaxed) % SLOTS;
            home.set(Some(slot));
            slot
        })
    })
    .unwrap_or(0)
}

/// The readers of one database.
pub(super) struct Readers {
    path: String,
    slots: [Mutex<Option<DbConn>>; SLOTS],
}

impl std::fmt::Debug for Readers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readers")
            .field("path", &self.path)
            .field("slots", &SLOTS)
            .finish()
    }
}

impl Readers {
    pub(super) fn new(path: &str) -> Self {
        Self {
            path: path.to_owned(),
            slots: std::array::from_fn(|_| Mutex::new(None)),
        }
    }

    /// Runs `f` with a free reader: this thread's own if free, else another; a connection of its
    /// own when all are busy.
    pub(super) fn with<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConn) -> Result<T, E>,
        E: From<Unavailable>,
    {
        let home = home_slot();
        let free = (0..SLOTS).find_map(|i| lock_if_free(&self.slots[(home + i) % SLOTS]));
        let Some(mut slot) = free else {
            return f(&mut self.open()?);
        };
        if slot.is_none() {
            *slot = Some(self.open()?);
        }
        match slot.as_mut() {
            Some(conn) => f(conn),
            None => Err(E::from(Unavailable("no reader connection".into()))),
        }
    }

    /// Frees the page caches of the readers not in use (`PRAGMA shrink_memory`); they refill on
    /// use.
    pub(super) fn release_memory(&self) {
        for mut slot in self.slots.iter().filter_map(lock_if_free) {
            let Some(conn) = slot.as_mut() else { continue };
            if let Err(e) = conn.batch_execute("PRAGMA shrink_memory;") {
                tracing::debug!(error = %e, "a reader could not release its cache");
            }
        }
    }

    fn open(&self) -> Result<DbConn, Unavailable> {
        let mut conn = super::connect_sqlite(&self.path).map_err(|e| Unavailable(e.to_string()))?;
        conn.batch_execute("PRAGMA query_only = ON;")
            .map_err(|e| Unavailable(e.to_string()))?;
        Ok(conn)
    }
}

/// The slot's lock, unless another thread holds it. A slot whose holder panicked loses its
/// connection (a fresh one opens), so nothing of the failed read lingers.
fn lock_if_free(slot: &Mutex<Option<DbConn>>) -> Option<MutexGuard<'_, Option<DbConn>>> {
    match slot.try_lock() {
        Ok(guard) => Some(guard),
        Err(TryLockError::Poisoned(poisoned)) => {
            slot.clear_poison();
            let mut guard = poisoned.into_inner();
            *guard = None;
            Some(guard)
        }
        Err(TryLockError::WouldBlock) => None,
    }
}
